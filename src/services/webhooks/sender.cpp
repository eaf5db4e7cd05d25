#include "services/webhooks/sender.hpp"

#include <curl/curl.h>
#include <sodium.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace taskhub::webhooks {

namespace {

constexpr std::size_t kExcerptBytes = 1024;

struct Sink {
  std::string data;
  std::size_t cap = 0;
  bool truncated = false;
};

size_t on_data(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t n = size * nmemb;
  size_t room = sink->cap > sink->data.size() ? sink->cap - sink->data.size() : 0;
  sink->data.append(ptr, std::min(n, room));
  if (n > room) {
    // Stop the transfer: the status line is already known, and a receiver that streams an
    // endless answer must not hold a worker until the timeout.
    sink->truncated = true;
    return 0;
  }
  return n;
}

// Last line of defence against a connection to an unchecked address (a resolver path that
// bypassed the pinned entries, a trailing-dot host spelled differently): curl asks for every
// socket it opens, with the address it will connect to; anything but a checked address is refused.
struct Guard {
  std::vector<IpAddress> allowed;
  bool refused = false;
};

curl_socket_t open_socket(void* user, curlsocktype purpose, struct curl_sockaddr* addr) {
  auto* guard = static_cast<Guard*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  IpAddress a;
  if (addr->family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&addr->addr);
    a.bytes[10] = a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + 12, &sin->sin_addr, 4);
  } else if (addr->family == AF_INET6) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&addr->addr);
    std::memcpy(a.bytes.data(), &sin6->sin6_addr, 16);
  } else {
    guard->refused = true;
    return CURL_SOCKET_BAD;
  }
  bool ok = false;
  for (const auto& b : guard->allowed) ok = ok || b.bytes == a.bytes;
  if (!ok) {
    guard->refused = true;
    return CURL_SOCKET_BAD;
  }
  return ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string hmac_sha256_hex(const std::string& key, const std::string& message) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium initialisation failed");
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, mac);
  char hex[crypto_auth_hmacsha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return hex;
}

std::string signature_header(const std::string& secret, const std::string& timestamp, const std::string& body) {
  return "sha256=" + hmac_sha256_hex(secret, timestamp + "." + body);
}

SendResult post_json(const Target& target, const std::string& url,
                     const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                     const SendOptions& options) {
  SendResult out;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  CURL* c = curl.get();

  std::unique_ptr<curl_slist, SlistDeleter> list;
  auto add = [&](const std::string& h) {
    curl_slist* next = curl_slist_append(list.get(), h.c_str());
    if (!next) throw std::bad_alloc();
    list.release();
    list.reset(next);
  };
  add("Content-Type: application/json");
  add("Expect:");  // no 100-continue round trip
  for (const auto& [k, v] : headers) add(k + ": " + v);

  // Pin: a host name resolves, for this handle, only to the addresses that passed the check
  // (curl still falls back from one to the next, e.g. ::1 then 127.0.0.1). A literal address
  // needs no DNS; it is pinned to itself all the same, so no code path resolves anything.
  auto bracketed = [](const IpAddress& a) { return a.v4 ? a.to_string() : "[" + a.to_string() + "]"; };
  std::string pin;
  if (target.url.ip_literal) {
    pin = "::" + bracketed(target.address) + ":" + std::to_string(target.url.port);
  } else {
    pin = target.url.host + ":" + std::to_string(target.url.port) + ":";
    const auto& list = target.addresses.empty() ? std::vector<IpAddress>{target.address} : target.addresses;
    for (std::size_t i = 0; i < list.size(); ++i) pin += (i ? "," : "") + bracketed(list[i]);
  }
  std::unique_ptr<curl_slist, SlistDeleter> pins(curl_slist_append(nullptr, pin.c_str()));
  if (!pins) throw std::bad_alloc();

  Sink sink;
  sink.cap = options.max_response_bytes;
  char errbuf[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // ignore http_proxy & co: a proxy would bypass the pin
  curl_easy_setopt(c, target.url.ip_literal ? CURLOPT_CONNECT_TO : CURLOPT_RESOLVE, pins.get());
  Guard guard;
  guard.allowed = target.addresses.empty() ? std::vector<IpAddress>{target.address} : target.addresses;
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.timeout_ms));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_ms));
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "taskhub-webhooks/1");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  auto t0 = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(c);
  out.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  out.status = static_cast<int>(code);
  out.excerpt = sink.data.substr(0, kExcerptBytes);

  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && sink.truncated)) {
    // No answer, or a transport failure after the status line (a timeout mid-body): failed.
    out.transport_failed = true;
    if (guard.refused) {
      out.error = "refused: the connection went to an address that was not checked";
      return out;
    }
    out.error = rc == CURLE_OPERATION_TIMEDOUT ? "timed out after " + std::to_string(options.timeout_ms) + " ms"
                                               : std::string(errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return out;
  }
  if (!out.ok()) {
    if (out.status >= 300 && out.status < 400)
      out.error = "answered " + std::to_string(out.status) + " (redirects are not followed)";
    else
      out.error = "answered " + std::to_string(out.status);
  }
  return out;
}

}  // namespace taskhub::webhooks
