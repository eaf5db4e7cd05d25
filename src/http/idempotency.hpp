#pragma once
// Idempotency-Key for POST (DESIGN.md, "API conventions"): the interface the HTTP server
// calls around a handler. No SQL here: the implementation lives in services/idempotency/
// (module "idempotency"); tests use an in-memory fake.
//
// The server, for a POST that carries `Idempotency-Key` on a route that ran with an
// authenticated principal, on the blocking pool after authentication:
//   begin() -> proceed:     run the handler; complete() for a status < 500, abandon() for
//                           a 5xx (unhandled exceptions answer 500 too)
//              replay:      answer the stored response + `Idempotent-Replayed: true`
//              mismatch:    422 "idempotency-key-reused" (same key, another request)
//              in_progress: 409 "idempotency-key-in-progress" + Retry-After: 1
// Keys are scoped per user (user_id) and expire after 24 hours.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace taskhub::http {

// What is replayed: status, the headers below, and the body.
struct StoredResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // only kIdempotencyStoredHeaders
  std::string body;
};

inline constexpr const char* kIdempotencyStoredHeaders[] = {"Content-Type", "Location", "ETag"};

struct IdempotencyBegin {
  enum class Kind { proceed, replay, mismatch, in_progress };
  Kind kind = Kind::proceed;
  StoredResponse response;  // for replay

  static IdempotencyBegin proceed() { return {}; }
  static IdempotencyBegin replay(StoredResponse r) { return {Kind::replay, std::move(r)}; }
  static IdempotencyBegin mismatch() { return {Kind::mismatch, {}}; }
  static IdempotencyBegin in_progress() { return {Kind::in_progress, {}}; }
};

class IdempotencyStore {
 public:
  virtual ~IdempotencyStore() = default;
  // Reserves (user_id, key) for this request. `target` is the request target (path and
  // query), `body_sha256` the hex SHA-256 of the body: together with the method they form
  // the request fingerprint; the same key with another fingerprint is a mismatch.
  // Called on the blocking pool; may throw (the server answers 500, nothing reserved).
  virtual IdempotencyBegin begin(std::string_view user_id, std::string_view key, std::string_view method,
                                 std::string_view target, std::string_view body_sha256) = 0;
  // Stores the answer of a request begin() let proceed.
  virtual void complete(std::string_view user_id, std::string_view key, const StoredResponse& response) = 0;
  // Releases a reservation (the handler failed with a 5xx): the key may be retried.
  virtual void abandon(std::string_view user_id, std::string_view key) = 0;
};

// 1..255 visible ASCII characters (0x21..0x7E).
inline bool valid_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (char c : key)
    if (c < 0x21 || c > 0x7E) return false;
  return true;
}

}  // namespace taskhub::http
