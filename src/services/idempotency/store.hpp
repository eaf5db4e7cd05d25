#pragma once
// The SQL implementation of http::IdempotencyStore (table idempotency_keys, migrations
// 002_idempotency.sql), for SQLite and PostgreSQL through the SQL port.
//
// begin(): INSERT a pending row (ON CONFLICT DO NOTHING); when the row exists, in the same
// transaction: expired (older than 24 h) -> reset and proceed; another request hash ->
// mismatch; complete -> replay; pending -> in_progress, unless its lease is older than 60 s
// (the first request crashed or its answer could not be recorded) -> take over and proceed.
//
// At rest: idem_key holds a hash of the key, and the body is encrypted with a key derived from
// the user id and the raw Idempotency-Key, so a copy of the table does not reveal answers that
// carry secrets (the API token returned by POST /users/me/api-tokens).
#include <cstdint>
#include <string>
#include <string_view>

#include "http/idempotency.hpp"
#include "ports/clock.hpp"
#include "ports/sql.hpp"

namespace taskhub::idempotency {

struct StoreOptions {
  int64_t ttl_ms = 24LL * 3600 * 1000;     // keys expire this long after their first use
  int64_t lease_ms = 60LL * 1000;          // a pending reservation older than this is taken over
  std::size_t max_body_bytes = 1 << 20;    // larger answers are not recorded (key released)
  int cleanup_batch = 1000;                // rows per DELETE
  int cleanup_max_batches = 100;           // per clean-up run
};

class SqlIdempotencyStore final : public http::IdempotencyStore {
 public:
  SqlIdempotencyStore(sql::Database& db, Clock& clock, StoreOptions options = {});

  http::IdempotencyBegin begin(std::string_view user_id, std::string_view key, std::string_view method,
                               std::string_view target, std::string_view body_sha256) override;
  void complete(std::string_view user_id, std::string_view key, const http::StoredResponse& response) override;
  void abandon(std::string_view user_id, std::string_view key) override;

  // Deletes rows older than the TTL, in bounded batches. Returns the number deleted.
  int64_t cleanup();

  // The fingerprint stored in request_hash (exposed for tests).
  static std::string request_hash(std::string_view method, std::string_view target, std::string_view body_sha256);

 private:
  sql::Database& db_;
  Clock& clock_;
  StoreOptions opt_;
};

}  // namespace taskhub::idempotency
