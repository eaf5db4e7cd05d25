#pragma once
// HS256 JSON Web Tokens for access tokens (RFC 7519 / RFC 7515), on libsodium's HMAC-SHA-256.
//
// The algorithm is pinned: the header must be exactly {"alg":"HS256"} plus an optional
// "typ":"JWT" (any other member, including "crit" and "kid", is refused). Verification never
// reads "alg" to choose anything; it only checks that it says HS256. Signatures are compared
// in constant time. Tokens longer than kMaxTokenBytes are refused before any decoding.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// OpenSSL handle types (<openssl/evp.h> stays out of this header).
struct evp_md_st;
struct evp_md_ctx_st;

namespace taskhub::auth {

inline constexpr std::size_t kMaxTokenBytes = 4096;
inline constexpr int64_t kJwtLeewaySeconds = 60;

// The claims taskhub puts in an access token.
struct AccessClaims {
  std::string sub;  // user id
  std::string sid;  // session (refresh-token family) id
  std::string jti;  // token id
  int64_t ver = 0;  // user's token version at issue time
  int64_t iat = 0;  // seconds since the epoch
  int64_t nbf = 0;
  int64_t exp = 0;
};

enum class JwtError {
  none,
  too_long,
  malformed,      // not three base64url segments, bad JSON, wrong member types
  bad_header,     // anything but alg HS256 (+ typ JWT)
  bad_signature,
  expired,
  not_yet_valid,  // nbf or iat in the future beyond the leeway
  wrong_issuer,
  wrong_audience,
  wrong_type,     // typ claim is not "access"
  missing_claim,
};
const char* jwt_error_name(JwtError e) noexcept;

// Base64url without padding (RFC 7515 section 2). decode is strict: no padding, no
// whitespace, no non-canonical trailing bits.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// Raw 32-byte HMAC-SHA-256 of data under key (any key length).
std::string hmac_sha256(std::string_view key, std::string_view data);

// HMAC-SHA-256 with a fixed key (RFC 2104), on OpenSSL's SHA-256 (SHA-NI/AVX2 code paths;
// libsodium's portable SHA-256 made token checks the largest cost of an authenticated
// request). The keyed inner and outer states are computed once; mac() is thread-safe.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;
  std::string mac(std::string_view data) const;

 private:
  ::evp_md_st* md_ = nullptr;
  ::evp_md_ctx_st* inner_ = nullptr;
  ::evp_md_ctx_st* outer_ = nullptr;
};

class JwtCodec {
 public:
  JwtCodec(std::string key, std::string issuer, std::string audience);

  // Signs header {"alg":"HS256","typ":"JWT"} and the claims (iss, aud, typ "access" added).
  std::string sign(const AccessClaims& claims) const;
  // base64url(HMAC-SHA-256(key, signing_input)): the third segment for a given first two.
  std::string signature_for(std::string_view signing_input) const;

  // Checks length, shape, header and signature; returns the decoded payload bytes.
  std::optional<std::string> verified_payload(std::string_view token, JwtError* why = nullptr) const;
  // Full verification of an access token at time now_s (seconds).
  std::optional<AccessClaims> verify(std::string_view token, int64_t now_s, JwtError* why = nullptr) const;

 private:
  HmacSha256 hmac_;
  std::string issuer_;
  std::string audience_;
  std::string header64_;  // base64url of our fixed header
};

}  // namespace taskhub::auth
