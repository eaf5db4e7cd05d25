#include "services/webhooks/address.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace taskhub::webhooks {

namespace {

constexpr std::size_t kMaxUrlBytes = 2048;
constexpr int kMaxResolved = 16;

IpAddress from_v4(const uint8_t b[4]) {
  IpAddress a;
  a.bytes[10] = 0xff;
  a.bytes[11] = 0xff;
  std::memcpy(a.bytes.data() + 12, b, 4);
  a.v4 = true;
  return a;
}

bool has_prefix(const IpAddress& a, std::initializer_list<uint8_t> prefix, int bits) {
  IpAddress p;
  std::size_t i = 0;
  for (uint8_t b : prefix) p.bytes[i++] = b;
  return Cidr{p, bits}.contains(a);
}

const char* v4_reason(uint32_t ip) {
  auto in = [ip](uint32_t net, int bits) { return bits == 0 || (ip >> (32 - bits)) == (net >> (32 - bits)); };
  if (in(0x00000000, 8)) return "unspecified";          // 0.0.0.0/8 ("this network")
  if (in(0x7f000000, 8)) return "loopback";             // 127/8
  if (in(0x0a000000, 8)) return "private";              // 10/8
  if (in(0xac100000, 12)) return "private";             // 172.16/12
  if (in(0xc0a80000, 16)) return "private";             // 192.168/16
  if (in(0xa9fe0000, 16)) return "link-local";          // 169.254/16, includes cloud metadata
  if (in(0x64400000, 10)) return "shared (CGNAT)";      // 100.64/10
  if (in(0xe0000000, 4)) return "multicast";            // 224/4
  if (in(0xf0000000, 4)) return "reserved";             // 240/4 and the broadcast address
  if (in(0xc0000000, 24)) return "reserved";            // 192.0.0/24 protocol assignments
  if (in(0xc0000200, 24) || in(0xc6336400, 24) || in(0xcb007100, 24)) return "reserved";  // documentation
  if (in(0xc6120000, 15)) return "reserved";            // 198.18/15 benchmarking
  return nullptr;
}

uint32_t v4_at(const IpAddress& a, std::size_t off) {
  return (uint32_t{a.bytes[off]} << 24) | (uint32_t{a.bytes[off + 1]} << 16) | (uint32_t{a.bytes[off + 2]} << 8) |
         uint32_t{a.bytes[off + 3]};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::optional<std::string> url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* out = nullptr;
  if (curl_url_get(u, part, &out, flags) != CURLUE_OK || !out) return std::nullopt;
  std::string s(out);
  curl_free(out);
  return s;
}

}  // namespace

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (v4) {
    ::inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf);
  } else {
    ::inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 100) return std::nullopt;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string host(text);
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return std::nullopt;
  std::optional<IpAddress> out;
  if (res->ai_family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(res->ai_addr);
    out = from_v4(reinterpret_cast<const uint8_t*>(&sin->sin_addr));
  } else if (res->ai_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(res->ai_addr);
    IpAddress a;
    std::memcpy(a.bytes.data(), &sin6->sin6_addr, 16);
    out = a;
  }
  ::freeaddrinfo(res);
  return out;
}

bool Cidr::contains(const IpAddress& a) const {
  int bits = prefix;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a.bytes[i] & mask) != (base.bytes[i] & mask)) return false;
  }
  return true;
}

const char* blocked_reason(const IpAddress& a) {
  // IPv4, IPv4-mapped (::ffff:0:0/96) and the NAT64 well-known prefix (64:ff9b::/96) carry an
  // IPv4 address that is what the connection reaches in the end.
  if (has_prefix(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96) || has_prefix(a, {0, 0x64, 0xff, 0x9b}, 96))
    return v4_reason(v4_at(a, 12));
  // 6to4 (2002::/16) embeds the IPv4 address of the relay target.
  if (has_prefix(a, {0x20, 0x02}, 16)) {
    if (const char* r = v4_reason(v4_at(a, 2))) return r;
    return nullptr;
  }
  IpAddress zero;
  if (a.bytes == zero.bytes) return "unspecified";
  IpAddress one;
  one.bytes[15] = 1;
  if (a.bytes == one.bytes) return "loopback";
  if (has_prefix(a, {}, 96)) return "reserved";  // IPv4-compatible (::a.b.c.d), deprecated
  if (has_prefix(a, {0xfc}, 7)) return "private";  // unique local fc00::/7
  if (has_prefix(a, {0xfe, 0x80}, 10)) return "link-local";
  if (has_prefix(a, {0xfe, 0xc0}, 10)) return "private";  // site-local (deprecated)
  if (has_prefix(a, {0xff}, 8)) return "multicast";
  if (has_prefix(a, {0x20, 0x01, 0x0d, 0xb8}, 32)) return "reserved";  // documentation
  if (has_prefix(a, {0x20, 0x01, 0x00, 0x00}, 32)) return "reserved";  // Teredo
  if (has_prefix(a, {0x01, 0x00, 0, 0, 0, 0, 0, 0}, 64)) return "reserved";  // discard-only
  return nullptr;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto addr = parse_ip(text.substr(0, slash));
  if (!addr) return std::nullopt;
  int max = addr->v4 ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    prefix = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > max) return std::nullopt;
  }
  return Cidr{*addr, addr->v4 ? prefix + 96 : prefix};
}

AllowList AllowList::from_config(const std::vector<std::string>& hosts, const std::vector<std::string>& cidrs) {
  AllowList out;
  for (const auto& h : hosts) {
    std::string host = lower(h);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    out.hosts.push_back(host);
  }
  for (const auto& c : cidrs) {
    auto cidr = parse_cidr(c);
    if (!cidr) throw std::runtime_error("WEBHOOK_ALLOW_PRIVATE_CIDRS: '" + c + "' is not an address or CIDR");
    out.cidrs.push_back(*cidr);
  }
  return out;
}

std::optional<ParsedUrl> parse_webhook_url(const std::string& url, std::string& error) {
  if (url.size() > kMaxUrlBytes) {
    error = "must be at most " + std::to_string(kMaxUrlBytes) + " bytes";
    return std::nullopt;
  }
  for (unsigned char c : url)
    if (c <= 0x20 || c >= 0x7f) {
      error = "must not contain spaces, control or non-ASCII characters (percent-encode them)";
      return std::nullopt;
    }
  std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
  if (!u) throw std::bad_alloc();
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    error = "must be an absolute http or https URL";
    return std::nullopt;
  }
  ParsedUrl p;
  p.scheme = lower(url_part(u.get(), CURLUPART_SCHEME).value_or(""));
  if (p.scheme != "http" && p.scheme != "https") {
    error = "must use http or https";
    return std::nullopt;
  }
  if (url_part(u.get(), CURLUPART_USER) || url_part(u.get(), CURLUPART_PASSWORD)) {
    error = "must not contain credentials (use the secret to authenticate deliveries)";
    return std::nullopt;
  }
  if (url_part(u.get(), CURLUPART_ZONEID)) {
    error = "must not carry an IPv6 zone id";
    return std::nullopt;
  }
  auto host = url_part(u.get(), CURLUPART_HOST);
  if (!host || host->empty()) {
    error = "must name a host";
    return std::nullopt;
  }
  std::string h = lower(*host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
    p.ip_literal = true;
  }
  p.host = h;
  if (!p.ip_literal && parse_ip(h)) p.ip_literal = true;
  auto port = url_part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  p.port = port ? std::atoi(port->c_str()) : 0;
  if (p.port <= 0 || p.port > 65535) {
    error = "has an invalid port";
    return std::nullopt;
  }
  return p;
}

std::optional<Target> resolve_and_check(const std::string& url, const AllowList& allow, std::string& error) {
  auto parsed = parse_webhook_url(url, error);
  if (!parsed) return std::nullopt;
  const bool host_allowed = std::find(allow.hosts.begin(), allow.hosts.end(), parsed->host) != allow.hosts.end();

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(parsed->host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) {
    error = "host does not resolve (" + std::string(::gai_strerror(rc)) + ")";
    return std::nullopt;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, ::freeaddrinfo);
  std::vector<IpAddress> checked;
  int n = 0;
  for (addrinfo* ai = res; ai && n < kMaxResolved; ai = ai->ai_next) {
    IpAddress a;
    if (ai->ai_family == AF_INET) {
      a = from_v4(reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr));
    } else if (ai->ai_family == AF_INET6) {
      std::memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    ++n;
    if (!host_allowed) {
      bool cidr_allowed = std::any_of(allow.cidrs.begin(), allow.cidrs.end(), [&](const Cidr& c) { return c.contains(a); });
      if (const char* why = blocked_reason(a); why && !cidr_allowed) {
        error = std::string("resolves to a ") + why + " address (" + a.to_string() + "), which webhooks may not reach";
        return std::nullopt;
      }
    }
    checked.push_back(a);
  }
  if (checked.empty()) {
    error = "host has no IPv4 or IPv6 address";
    return std::nullopt;
  }
  return Target{*parsed, checked.front(), checked};
}

}  // namespace taskhub::webhooks
