#include "services/auth/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <boost/json.hpp>

#include <array>
#include <stdexcept>

namespace taskhub::auth {

namespace json = boost::json;

namespace {

constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";

std::nullopt_t fail(JwtError* why, JwtError e) {
  if (why) *why = e;
  return std::nullopt;
}

// Integer claim that fits in int64 (JSON numbers like 1.0 or 1e3 are refused).
std::optional<int64_t> int_claim(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(v->as_uint64());
  return std::nullopt;
}

std::optional<std::string> string_claim(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (!v || !v->is_string() || v->as_string().empty()) return std::nullopt;
  return std::string(v->as_string());
}

std::optional<json::object> parse_object(std::string_view text) {
  json::parse_options opt;
  opt.max_depth = 4;
  opt.allow_invalid_utf8 = false;
  json::error_code ec;
  json::value v = json::parse(text, ec, {}, opt);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

}  // namespace

const char* jwt_error_name(JwtError e) noexcept {
  switch (e) {
    case JwtError::none: return "none";
    case JwtError::too_long: return "too_long";
    case JwtError::malformed: return "malformed";
    case JwtError::bad_header: return "bad_header";
    case JwtError::bad_signature: return "bad_signature";
    case JwtError::expired: return "expired";
    case JwtError::not_yet_valid: return "not_yet_valid";
    case JwtError::wrong_issuer: return "wrong_issuer";
    case JwtError::wrong_audience: return "wrong_audience";
    case JwtError::wrong_type: return "wrong_type";
    case JwtError::missing_claim: return "missing_claim";
  }
  return "unknown";
}

std::string base64url_encode(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  // Table-driven and strict. Decoding need not be constant-time: every input here (a token the
  // client holds) is known to the client; only the signature comparison must be.
  static constexpr auto kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    int8_t v = kTable[static_cast<unsigned char>(ch)];
    if (v < 0) return std::nullopt;
    acc = ((acc << 6) | static_cast<uint32_t>(v)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

HmacSha256::HmacSha256(std::string_view key) {
  md_ = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  inner_ = EVP_MD_CTX_new();
  outer_ = EVP_MD_CTX_new();
  if (!md_ || !inner_ || !outer_) throw std::runtime_error("OpenSSL: SHA-256 is not available");
  // RFC 2104: keys longer than the block are hashed first; then (key ^ ipad) and (key ^ opad)
  // are absorbed once, here, so each MAC costs only the message blocks.
  std::array<unsigned char, 64> block{};
  if (key.size() > block.size()) {
    unsigned int n = 0;
    EVP_Digest(key.data(), key.size(), block.data(), &n, md_, nullptr);
  } else {
    std::copy(key.begin(), key.end(), block.begin());
  }
  std::array<unsigned char, 64> pad{};
  for (std::size_t i = 0; i < pad.size(); ++i) pad[i] = block[i] ^ 0x36;
  EVP_DigestInit_ex(inner_, md_, nullptr);
  EVP_DigestUpdate(inner_, pad.data(), pad.size());
  for (std::size_t i = 0; i < pad.size(); ++i) pad[i] = block[i] ^ 0x5c;
  EVP_DigestInit_ex(outer_, md_, nullptr);
  EVP_DigestUpdate(outer_, pad.data(), pad.size());
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(pad.data(), pad.size());
}

HmacSha256::~HmacSha256() {
  EVP_MD_CTX_free(inner_);
  EVP_MD_CTX_free(outer_);
  EVP_MD_free(md_);
}

std::string HmacSha256::mac(std::string_view data) const {
  // One scratch context per thread, reused: no allocation per token.
  struct Scratch {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Scratch() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Scratch scratch;
  EVP_MD_CTX* ctx = scratch.ctx;
  std::array<unsigned char, 32> inner_hash{};
  std::string out(32, '\0');
  unsigned int n = 0;
  if (!ctx || !EVP_MD_CTX_copy_ex(ctx, inner_) || !EVP_DigestUpdate(ctx, data.data(), data.size()) ||
      !EVP_DigestFinal_ex(ctx, inner_hash.data(), &n) || !EVP_MD_CTX_copy_ex(ctx, outer_) ||
      !EVP_DigestUpdate(ctx, inner_hash.data(), inner_hash.size()) ||
      !EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()), &n))
    throw std::runtime_error("OpenSSL: HMAC-SHA-256 failed");
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) { return HmacSha256(key).mac(data); }

JwtCodec::JwtCodec(std::string key, std::string issuer, std::string audience)
    : hmac_(key.empty() ? throw std::invalid_argument("JWT key must not be empty") : key),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      header64_(base64url_encode(kHeaderJson)) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

std::string JwtCodec::signature_for(std::string_view signing_input) const {
  return base64url_encode(hmac_.mac(signing_input));
}

std::string JwtCodec::sign(const AccessClaims& c) const {
  json::object payload;
  payload["iss"] = issuer_;
  payload["aud"] = audience_;
  payload["sub"] = c.sub;
  payload["sid"] = c.sid;
  payload["ver"] = c.ver;
  payload["jti"] = c.jti;
  payload["typ"] = "access";
  payload["iat"] = c.iat;
  payload["nbf"] = c.nbf;
  payload["exp"] = c.exp;
  std::string input = base64url_encode(kHeaderJson);
  input += '.';
  input += base64url_encode(json::serialize(payload));
  std::string sig = signature_for(input);
  input += '.';
  input += sig;
  return input;
}

std::optional<std::string> JwtCodec::verified_payload(std::string_view token, JwtError* why) const {
  if (why) *why = JwtError::none;
  if (token.size() > kMaxTokenBytes) return fail(why, JwtError::too_long);
  auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return fail(why, JwtError::malformed);
  auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail(why, JwtError::malformed);
  std::string_view h64 = token.substr(0, dot1);
  std::string_view p64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view s64 = token.substr(dot2 + 1);
  if (h64.empty() || p64.empty() || s64.empty()) return fail(why, JwtError::malformed);

  // Header: exactly alg HS256, optionally typ JWT. Nothing here selects an algorithm. Our own
  // tokens carry one fixed header, so the common case is a string comparison.
  if (h64 != header64_) {
    auto header_bytes = base64url_decode(h64);
    if (!header_bytes) return fail(why, JwtError::malformed);
    auto header = parse_object(*header_bytes);
    if (!header) return fail(why, JwtError::malformed);
    const json::value* alg = header->if_contains("alg");
    if (!alg || !alg->is_string() || alg->as_string() != "HS256") return fail(why, JwtError::bad_header);
    for (const auto& kv : *header) {
      if (kv.key() == "alg") continue;
      if (kv.key() == "typ" && kv.value().is_string() && kv.value().as_string() == "JWT") continue;
      return fail(why, JwtError::bad_header);
    }
  }

  // Signature: exactly 32 bytes, compared in constant time.
  auto sig = base64url_decode(s64);
  if (!sig || sig->size() != crypto_auth_hmacsha256_BYTES) return fail(why, JwtError::bad_signature);
  std::string expected = hmac_.mac(token.substr(0, dot2));
  if (crypto_verify_32(reinterpret_cast<const unsigned char*>(sig->data()),
                       reinterpret_cast<const unsigned char*>(expected.data())) != 0)
    return fail(why, JwtError::bad_signature);

  auto payload = base64url_decode(p64);
  if (!payload) return fail(why, JwtError::malformed);
  return payload;
}

std::optional<AccessClaims> JwtCodec::verify(std::string_view token, int64_t now_s, JwtError* why) const {
  auto payload_bytes = verified_payload(token, why);
  if (!payload_bytes) return std::nullopt;
  auto payload = parse_object(*payload_bytes);
  if (!payload) return fail(why, JwtError::malformed);
  const json::object& p = *payload;

  auto iss = string_claim(p, "iss");
  if (!iss) return fail(why, JwtError::missing_claim);
  if (*iss != issuer_) return fail(why, JwtError::wrong_issuer);

  const json::value* aud = p.if_contains("aud");
  if (!aud) return fail(why, JwtError::missing_claim);
  bool aud_ok = false;
  if (aud->is_string()) {
    aud_ok = aud->as_string() == audience_;
  } else if (aud->is_array()) {
    for (const auto& a : aud->as_array())
      if (a.is_string() && a.as_string() == audience_) aud_ok = true;
  } else {
    return fail(why, JwtError::malformed);
  }
  if (!aud_ok) return fail(why, JwtError::wrong_audience);

  const json::value* typ = p.if_contains("typ");
  if (!typ) return fail(why, JwtError::missing_claim);
  if (!typ->is_string() || typ->as_string() != "access") return fail(why, JwtError::wrong_type);

  AccessClaims c;
  auto sub = string_claim(p, "sub");
  auto sid = string_claim(p, "sid");
  auto jti = string_claim(p, "jti");
  auto ver = int_claim(p, "ver");
  auto iat = int_claim(p, "iat");
  auto nbf = int_claim(p, "nbf");
  auto exp = int_claim(p, "exp");
  if (!sub || !sid || !jti || !ver || !iat || !exp) return fail(why, JwtError::missing_claim);
  if (p.contains("nbf") && !nbf) return fail(why, JwtError::malformed);

  if (now_s >= *exp) return fail(why, JwtError::expired);
  if (nbf && *nbf > now_s + kJwtLeewaySeconds) return fail(why, JwtError::not_yet_valid);
  if (*iat > now_s + kJwtLeewaySeconds) return fail(why, JwtError::not_yet_valid);

  c.sub = std::move(*sub);
  c.sid = std::move(*sid);
  c.jti = std::move(*jti);
  c.ver = *ver;
  c.iat = *iat;
  c.nbf = nbf.value_or(*iat);
  c.exp = *exp;
  if (why) *why = JwtError::none;
  return c;
}

}  // namespace taskhub::auth
