#include "services/auth/jwt.hpp"

#include <gtest/gtest.h>

#include <string>

namespace taskhub::auth {
namespace {

// RFC 7515, Appendix A.1: an HS256 JWS.
const std::string kRfcHeader = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
const std::string kRfcPayload = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
const std::string kRfcHeader64 = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
const std::string kRfcPayload64 =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const std::string kRfcSignature64 = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const std::string kRfcJwkK =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

std::string rfc_key() {
  auto k = base64url_decode(kRfcJwkK);
  EXPECT_TRUE(k.has_value());
  return k.value_or("");
}

TEST(JwtRfc7515, Base64urlOfTheExampleSegments) {
  EXPECT_EQ(base64url_encode(kRfcHeader), kRfcHeader64);
  EXPECT_EQ(base64url_encode(kRfcPayload), kRfcPayload64);
  EXPECT_EQ(base64url_decode(kRfcHeader64).value_or(""), kRfcHeader);
  EXPECT_EQ(base64url_decode(kRfcPayload64).value_or(""), kRfcPayload);
}

TEST(JwtRfc7515, SignerReproducesTheExampleSignature) {
  JwtCodec codec(rfc_key(), "joe", "anyone");
  EXPECT_EQ(codec.signature_for(kRfcHeader64 + "." + kRfcPayload64), kRfcSignature64);
}

TEST(JwtRfc7515, VerifiesTheExampleByteForByte) {
  JwtCodec codec(rfc_key(), "joe", "anyone");
  std::string token = kRfcHeader64 + "." + kRfcPayload64 + "." + kRfcSignature64;
  JwtError why = JwtError::none;
  auto payload = codec.verified_payload(token, &why);
  ASSERT_TRUE(payload.has_value()) << jwt_error_name(why);
  EXPECT_EQ(*payload, kRfcPayload);
  // It is not an access token (no aud, sub, typ...), so full verification refuses it.
  EXPECT_FALSE(codec.verify(token, 1300819000).has_value());
  // Another key does not verify it.
  JwtCodec other("another key entirely", "joe", "anyone");
  EXPECT_FALSE(other.verified_payload(token, &why).has_value());
  EXPECT_EQ(why, JwtError::bad_signature);
}

// ---------------------------------------------------------------- access tokens

const std::string kKey = "unit-test-secret-0123456789abcdef0123456789";
constexpr int64_t kNow = 1'700'000'000;

AccessClaims sample_claims() {
  AccessClaims c;
  c.sub = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
  c.sid = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";
  c.jti = "jti-1";
  c.ver = 3;
  c.iat = kNow;
  c.nbf = kNow;
  c.exp = kNow + 900;
  return c;
}

// header.payload signed with HS256 under key, whatever the header says.
std::string craft(const std::string& header, const std::string& payload, const std::string& key = kKey) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(hmac_sha256(key, input));
}

// A valid access-token payload for kNow (iss taskhub, aud taskhub-api).
std::string payload_json() {
  return R"({"iss":"taskhub","aud":"taskhub-api","sub":"u1","sid":"s1","ver":0,"jti":"j1","typ":"access",)"
         R"("iat":1700000000,"nbf":1700000000,"exp":1700000900})";
}

const std::string kGoodHeader = R"({"alg":"HS256","typ":"JWT"})";

class JwtTest : public ::testing::Test {
 protected:
  JwtCodec codec{kKey, "taskhub", "taskhub-api"};

  JwtError reject(const std::string& token, int64_t now = kNow) {
    JwtError why = JwtError::none;
    auto c = codec.verify(token, now, &why);
    EXPECT_FALSE(c.has_value()) << "accepted: " << token;
    EXPECT_NE(why, JwtError::none);
    return why;
  }
};

TEST_F(JwtTest, RoundTrip) {
  std::string token = codec.sign(sample_claims());
  JwtError why = JwtError::none;
  auto c = codec.verify(token, kNow + 10, &why);
  ASSERT_TRUE(c.has_value()) << jwt_error_name(why);
  EXPECT_EQ(c->sub, sample_claims().sub);
  EXPECT_EQ(c->sid, sample_claims().sid);
  EXPECT_EQ(c->jti, "jti-1");
  EXPECT_EQ(c->ver, 3);
  EXPECT_EQ(c->exp, kNow + 900);
  // Header is exactly the one the contract names.
  EXPECT_EQ(base64url_decode(token.substr(0, token.find('.'))).value_or(""), kGoodHeader);
}

TEST_F(JwtTest, CraftedGoodTokenIsAccepted) {
  EXPECT_TRUE(codec.verify(craft(kGoodHeader, payload_json()), kNow).has_value());
  // typ is optional in the header; the audience may be an array containing ours.
  EXPECT_TRUE(codec.verify(craft(R"({"alg":"HS256"})", payload_json()), kNow).has_value());
  std::string arr = R"({"iss":"taskhub","aud":["other","taskhub-api"],"sub":"u1","sid":"s1","ver":0,"jti":"j1",)"
                    R"("typ":"access","iat":1700000000,"nbf":1700000000,"exp":1700000900})";
  EXPECT_TRUE(codec.verify(craft(kGoodHeader, arr), kNow).has_value());
}

TEST_F(JwtTest, AlgNoneIsRejected) {
  std::string unsigned_token =
      base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(payload_json()) + ".";
  reject(unsigned_token);
  EXPECT_EQ(reject(craft(R"({"alg":"none","typ":"JWT"})", payload_json())), JwtError::bad_header);
  EXPECT_EQ(reject(craft(R"({"alg":"None"})", payload_json())), JwtError::bad_header);
}

TEST_F(JwtTest, OtherAlgorithmsAreRejected) {
  EXPECT_EQ(reject(craft(R"({"alg":"HS512","typ":"JWT"})", payload_json())), JwtError::bad_header);
  EXPECT_EQ(reject(craft(R"({"alg":"RS256","typ":"JWT"})", payload_json())), JwtError::bad_header);
  EXPECT_EQ(reject(craft(R"({"alg":"hs256"})", payload_json())), JwtError::bad_header);
  EXPECT_EQ(reject(craft(R"({"typ":"JWT"})", payload_json())), JwtError::bad_header);
  EXPECT_EQ(reject(craft(R"({"alg":["HS256"]})", payload_json())), JwtError::bad_header);
  // Extra header members (kid, crit, jku...) and a wrong typ are refused too.
  EXPECT_EQ(reject(craft(R"({"alg":"HS256","kid":"1"})", payload_json())), JwtError::bad_header);
  EXPECT_EQ(reject(craft(R"({"alg":"HS256","crit":["exp"]})", payload_json())), JwtError::bad_header);
  EXPECT_EQ(reject(craft(R"({"alg":"HS256","typ":"at+jwt"})", payload_json())), JwtError::bad_header);
}

TEST_F(JwtTest, ChangedPayloadIsRejected) {
  std::string token = codec.sign(sample_claims());
  AccessClaims admin = sample_claims();
  admin.sub = "someone-else";
  std::string other = codec.sign(admin);
  auto d1 = token.find('.'), d2 = token.rfind('.');
  auto o1 = other.find('.'), o2 = other.rfind('.');
  std::string spliced = token.substr(0, d1 + 1) + other.substr(o1 + 1, o2 - o1 - 1) + token.substr(d2);
  EXPECT_EQ(reject(spliced), JwtError::bad_signature);
  // One flipped character in the payload.
  std::string flipped = token;
  flipped[d1 + 5] = flipped[d1 + 5] == 'A' ? 'B' : 'A';
  reject(flipped);
}

TEST_F(JwtTest, ChangedHeaderIsRejected) {
  std::string token = codec.sign(sample_claims());
  auto d1 = token.find('.');
  // Same meaning, other bytes: the signature covers the bytes.
  std::string header = base64url_encode(R"({"typ":"JWT","alg":"HS256"})");
  EXPECT_EQ(reject(header + token.substr(d1)), JwtError::bad_signature);
}

TEST_F(JwtTest, WrongKeyIsRejected) {
  JwtCodec other("a-different-secret-0123456789abcdef01234", "taskhub", "taskhub-api");
  EXPECT_EQ(reject(other.sign(sample_claims())), JwtError::bad_signature);
}

TEST_F(JwtTest, DamagedSignaturesAreRejected) {
  std::string token = codec.sign(sample_claims());
  reject(token.substr(0, token.size() - 1));  // truncated
  reject(token.substr(0, token.size() - 4));
  reject(token.substr(0, token.rfind('.') + 1));  // empty
  reject(token + "A");                              // longer
  reject(token + "=");                              // padding
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  reject(flipped);
  // A signature of the right length but all zero.
  reject(token.substr(0, token.rfind('.') + 1) + base64url_encode(std::string(32, '\0')));
}

TEST_F(JwtTest, TimeClaimsAreEnforced) {
  std::string token = codec.sign(sample_claims());
  EXPECT_EQ(reject(token, kNow + 900), JwtError::expired);
  EXPECT_EQ(reject(token, kNow + 100000), JwtError::expired);
  EXPECT_TRUE(codec.verify(token, kNow + 899).has_value());

  AccessClaims future = sample_claims();
  future.nbf = kNow + 120;
  future.exp = kNow + 1000;
  EXPECT_EQ(reject(codec.sign(future)), JwtError::not_yet_valid);
  future.nbf = kNow + 30;  // within the leeway
  EXPECT_TRUE(codec.verify(codec.sign(future), kNow).has_value());

  AccessClaims issued_later = sample_claims();
  issued_later.iat = kNow + 3600;
  issued_later.nbf = kNow;
  issued_later.exp = kNow + 7200;
  EXPECT_EQ(reject(codec.sign(issued_later)), JwtError::not_yet_valid);
}

TEST_F(JwtTest, IssuerAndAudienceAreEnforced) {
  JwtCodec other_iss(kKey, "someone-else", "taskhub-api");
  EXPECT_EQ(reject(other_iss.sign(sample_claims())), JwtError::wrong_issuer);
  JwtCodec other_aud(kKey, "taskhub", "another-api");
  EXPECT_EQ(reject(other_aud.sign(sample_claims())), JwtError::wrong_audience);
  std::string arr = R"({"iss":"taskhub","aud":["a","b"],"sub":"u1","sid":"s1","ver":0,"jti":"j1",)"
                    R"("typ":"access","iat":1700000000,"nbf":1700000000,"exp":1700000900})";
  EXPECT_EQ(reject(craft(kGoodHeader, arr)), JwtError::wrong_audience);
}

TEST_F(JwtTest, MissingOrMistypedClaimsAreRejected) {
  const char* names[] = {"iss", "aud", "sub", "sid", "ver", "jti", "typ", "iat", "exp"};
  for (const char* name : names) {
    boost::json::value v = boost::json::parse(payload_json());
    v.as_object().erase(name);
    reject(craft(kGoodHeader, boost::json::serialize(v)));
  }
  auto with = [](const char* name, boost::json::value val) {
    boost::json::value v = boost::json::parse(payload_json());
    v.as_object()[name] = val;
    return craft(kGoodHeader, boost::json::serialize(v));
  };
  reject(with("ver", "3"));
  reject(with("exp", 1700000900.5));
  reject(with("exp", "1700000900"));
  reject(with("nbf", "now"));
  reject(with("sub", 42));
  reject(with("sub", ""));
  reject(with("sid", nullptr));
  reject(with("aud", 7));
}

TEST_F(JwtTest, RefreshTypeIsRejected) {
  boost::json::value v = boost::json::parse(payload_json());
  v.as_object()["typ"] = "refresh";
  EXPECT_EQ(reject(craft(kGoodHeader, boost::json::serialize(v))), JwtError::wrong_type);
}

TEST_F(JwtTest, GarbageIsRejected) {
  for (std::string t : {"", ".", "..", "...", "abc", "a.b", "a.b.c", "!!!.###.$$$", "e30.e30.e30",
                        "eyJhbGciOiJIUzI1NiJ9..sig", "Bearer x.y.z"})
    reject(t);
  // Header that is not JSON / not an object.
  reject(craft("not json", payload_json()));
  reject(craft("[1,2]", payload_json()));
  reject(craft(kGoodHeader, "not json"));
  reject(craft(kGoodHeader, "[]"));
  // Standard base64 characters are not base64url.
  std::string token = codec.sign(sample_claims());
  std::string plus = token;
  plus[3] = '+';
  reject(plus);
}

TEST_F(JwtTest, ExtraSegmentsAreRejected) {
  std::string token = codec.sign(sample_claims());
  EXPECT_EQ(reject(token + ".x"), JwtError::malformed);
  EXPECT_EQ(reject(token + "."), JwtError::malformed);
  EXPECT_EQ(reject("a.b.c.d.e"), JwtError::malformed);
}

TEST_F(JwtTest, OverlongTokensAreRejectedUnread) {
  std::string token = codec.sign(sample_claims());
  EXPECT_EQ(reject(token + std::string(kMaxTokenBytes, 'A')), JwtError::too_long);
}

}  // namespace
}  // namespace taskhub::auth

namespace taskhub::auth {
namespace {

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

// RFC 4231 test cases 2 (short key) and 6 (key longer than the block: hashed first).
TEST(HmacSha256, Rfc4231Vectors) {
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  HmacSha256 fixed("Jefe");  // the precomputed-key path gives the same answer, repeatedly
  EXPECT_EQ(fixed.mac("what do ya want for nothing?"), hmac_sha256("Jefe", "what do ya want for nothing?"));
  EXPECT_EQ(fixed.mac("what do ya want for nothing?"), fixed.mac("what do ya want for nothing?"));
}

TEST(Base64url, StrictDecoding) {
  for (std::size_t n = 0; n < 40; ++n) {
    std::string bytes;
    for (std::size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>((i * 37 + n) & 0xff));
    EXPECT_EQ(base64url_decode(base64url_encode(bytes)).value_or("<fail>"), bytes) << n;
  }
  EXPECT_FALSE(base64url_decode("QQ=="));  // padding is not base64url-without-padding
  EXPECT_FALSE(base64url_decode("QR"));    // non-canonical trailing bits ("QQ" is 'A')
  EXPECT_FALSE(base64url_decode("Q"));     // impossible length
  EXPECT_FALSE(base64url_decode("a+b/"));  // the standard alphabet's characters
  EXPECT_FALSE(base64url_decode("ab cd"));
  EXPECT_EQ(base64url_decode("QQ").value_or(""), "A");
}

}  // namespace
}  // namespace taskhub::auth
