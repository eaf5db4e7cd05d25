#include "adapters/s3/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>

namespace taskhub::s3 {

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr))
    throw std::runtime_error("OpenSSL: SHA-256 failed");
  return to_hex(std::string_view(reinterpret_cast<char*>(md), n));
}

std::string hmac_sha256_raw(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), md, &n))
    throw std::runtime_error("OpenSSL: HMAC-SHA-256 failed");
  return std::string(reinterpret_cast<char*>(md), n);
}

std::string uri_encode(std::string_view s, bool encode_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved || (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::string amz_date(int64_t epoch_s) {
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  if (!::gmtime_r(&t, &tm)) throw std::runtime_error("amz_date: time out of range");
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string canonical_query(const Params& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(uri_encode(k), uri_encode(v));
  // By name, then by value: sorting whole "k=v" strings would put "a-b=..." before "a=...".
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Trim, and collapse inner runs of spaces to one (the SigV4 "Trimall").
std::string trimall(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string canonical_request(const Request& r, std::string* signed_headers_out) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : r.headers) headers.emplace_back(lower(k), trimall(v));
  std::stable_sort(headers.begin(), headers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    // A repeated header is one line with the values joined by commas.
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.back() = ',';
      canonical_headers += headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += headers[i].first;
  }
  if (signed_headers_out) *signed_headers_out = signed_headers;
  return r.method + "\n" + r.canonical_path + "\n" + canonical_query(r.query) + "\n" + canonical_headers + "\n" +
         signed_headers + "\n" + r.payload_hash;
}

std::string credential_scope(const Credentials& c, int64_t epoch_s) {
  return amz_date(epoch_s).substr(0, 8) + "/" + c.region + "/" + c.service + "/aws4_request";
}

std::string string_to_sign(const Credentials& c, int64_t epoch_s, std::string_view canonical) {
  return "AWS4-HMAC-SHA256\n" + amz_date(epoch_s) + "\n" + credential_scope(c, epoch_s) + "\n" + sha256_hex(canonical);
}

std::string signing_key(const Credentials& c, int64_t epoch_s) {
  std::string k = hmac_sha256_raw("AWS4" + c.secret_access_key, amz_date(epoch_s).substr(0, 8));
  k = hmac_sha256_raw(k, c.region);
  k = hmac_sha256_raw(k, c.service);
  return hmac_sha256_raw(k, "aws4_request");
}

std::string signature(const Credentials& c, int64_t epoch_s, const Request& r) {
  return to_hex(hmac_sha256_raw(signing_key(c, epoch_s), string_to_sign(c, epoch_s, canonical_request(r))));
}

std::string authorization_header(const Credentials& c, int64_t epoch_s, const Request& r) {
  std::string signed_headers;
  std::string canonical = canonical_request(r, &signed_headers);
  std::string sig = to_hex(hmac_sha256_raw(signing_key(c, epoch_s), string_to_sign(c, epoch_s, canonical)));
  return "AWS4-HMAC-SHA256 Credential=" + c.access_key_id + "/" + credential_scope(c, epoch_s) +
         ", SignedHeaders=" + signed_headers + ", Signature=" + sig;
}

std::string presign_query(const Credentials& c, int64_t epoch_s, int expires_s, std::string_view method,
                          std::string_view host, std::string_view canonical_path, const Params& extra) {
  // S3 refuses anything above seven days; zero or less would be a URL that never works.
  if (expires_s < 1 || expires_s > 604800) throw std::invalid_argument("presign: expires_s must be in [1, 604800]");
  Request r;
  r.method = std::string(method);
  r.canonical_path = std::string(canonical_path);
  r.query = extra;
  r.query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  r.query.emplace_back("X-Amz-Credential", c.access_key_id + "/" + credential_scope(c, epoch_s));
  r.query.emplace_back("X-Amz-Date", amz_date(epoch_s));
  r.query.emplace_back("X-Amz-Expires", std::to_string(expires_s));
  r.query.emplace_back("X-Amz-SignedHeaders", "host");
  r.headers = {{"host", std::string(host)}};
  r.payload_hash = "UNSIGNED-PAYLOAD";
  std::string sig = signature(c, epoch_s, r);
  return canonical_query(r.query) + "&X-Amz-Signature=" + sig;
}

std::string attachment_disposition(std::string_view download_name) {
  std::string fallback;
  for (unsigned char c : download_name)
    fallback += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != ';' && c != '%') ? static_cast<char>(c) : '_';
  if (fallback.empty()) fallback = "download";
  // SigV4's unreserved set is a subset of RFC 8187's attr-char: uri_encode gives a valid ext-value.
  return "attachment; filename=\"" + fallback + "\"; filename*=UTF-8''" + uri_encode(download_name);
}

}  // namespace taskhub::s3
