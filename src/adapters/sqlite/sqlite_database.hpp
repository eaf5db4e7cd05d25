#pragma once
// SQLite adapter for the SQL port: one writer connection (writes serialised by a mutex,
// BEGIN IMMEDIATE) and a pool of read-only reader connections (WAL lets them read a
// consistent snapshot while the writer works). Prepared statements are cached per
// connection by SQL text.
#include <cstdint>
#include <memory>
#include <string>

#include "ports/sql.hpp"

namespace taskhub::sql::sqlite {

// url: "sqlite:///abs/path.db", "sqlite://relative/path.db" (parent directories are created),
// "sqlite::memory:" (a private in-memory database shared by this Database's connections).
std::unique_ptr<Database> open(const std::string& url, const PoolOptions& options);

// Statement-cache counters of one connection (tests, diagnostics). Throws sql::Error when
// conn is not a SQLite connection.
struct StatementStats {
  uint64_t prepared = 0;    // sqlite3_prepare calls (cache misses)
  uint64_t cache_hits = 0;  // statements reused from the cache
  std::size_t cached = 0;   // statements currently cached
};
StatementStats statement_stats(Connection& conn);

// WAL checkpoints a file database has run since it was opened (tests, diagnostics): by the
// background checkpointer (one per 1000 pages of WAL growth), and by a committing writer when
// the WAL passed 16000 pages (back-pressure); none for a memory database. Throws sql::Error when
// db is not SQLite.
struct CheckpointStats {
  uint64_t background = 0;
  uint64_t by_writer = 0;
};
CheckpointStats checkpoint_stats(Database& db);

}  // namespace taskhub::sql::sqlite
