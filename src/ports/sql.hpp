#pragma once
// The SQL port. Repositories write portable SQL with '?' placeholders and run it through
// these interfaces; the SQLite adapter (adapters/sqlite) and the PostgreSQL adapter
// (adapters/postgres) implement them. Where the dialects differ, a repository asks
// Database::dialect() and picks the text (rare: upserts, full-text search, SKIP LOCKED).
// `string_agg(value, separator)` works on both (the SQLite adapter defines it).
//
// Contract:
//  - Statements are prepared once per connection and reused (keyed by SQL text).
//  - Every call blocks: call only from the blocking pool, never from an HTTP I/O thread.
//  - Errors throw sql::Error; a unique-constraint violation throws sql::UniqueViolation so
//    services can answer 409 without parsing messages. Their text is for logs, never clients.
//  - A statement that fails inside write()/read() aborts the transaction on both engines (as
//    PostgreSQL does): catch sql errors outside write(), or use INSERT ... ON CONFLICT.
//    TransientError (busy, deadlock, serialization failure, lost connection) is safe to retry.
//  - Values: integers, doubles, text, blobs and NULL. Booleans are bound as 0/1 on SQLite and
//    as booleans on PostgreSQL; Row::boolean() reads either. Timestamps are int64 epoch ms.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace taskhub::sql {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class UniqueViolation : public Error {
 public:
  using Error::Error;
};
// Serialization failure / deadlock / SQLITE_BUSY after the busy timeout: safe to retry.
class TransientError : public Error {
 public:
  using Error::Error;
};

struct Blob {
  std::string bytes;
};

using Value = std::variant<std::monostate, int64_t, double, std::string, bool, Blob>;

// Anything a call site naturally has converts to a bound parameter.
struct Param {
  Value v;
  Param() = default;
  Param(std::nullptr_t) {}
  Param(std::nullopt_t) {}
  Param(int x) : v(int64_t{x}) {}
  Param(long x) : v(int64_t{x}) {}
  Param(long long x) : v(int64_t{x}) {}
  Param(unsigned x) : v(int64_t{x}) {}
  Param(double x) : v(x) {}
  Param(bool x) : v(x) {}
  Param(const char* s) : v(std::string(s)) {}
  Param(std::string s) : v(std::move(s)) {}
  Param(std::string_view s) : v(std::string(s)) {}
  Param(Blob b) : v(std::move(b)) {}
  template <class T>
  Param(const std::optional<T>& o) {
    if (o) *this = Param(*o);
  }
};

// One result row. Column access by index; values are converted on read so the same
// repository code works whether the driver hands back typed values (SQLite) or text (libpq).
class Row {
 public:
  explicit Row(const std::vector<Value>* cells) : cells_(cells) {}
  std::size_t size() const { return cells_->size(); }
  bool is_null(std::size_t i) const;
  int64_t i64(std::size_t i) const;   // NULL -> throws
  double f64(std::size_t i) const;
  bool boolean(std::size_t i) const;  // 0/1, "t"/"f", "true"/"false"
  std::string str(std::size_t i) const;  // text or blob bytes
  std::optional<std::string> opt_str(std::size_t i) const;
  std::optional<int64_t> opt_i64(std::size_t i) const;

 private:
  const Value& at(std::size_t i) const;
  const std::vector<Value>* cells_;
};

struct Result {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
  int64_t affected = 0;  // rows changed by INSERT/UPDATE/DELETE

  bool empty() const { return rows.empty(); }
  std::size_t size() const { return rows.size(); }
  Row operator[](std::size_t i) const { return Row(&rows.at(i)); }
  std::optional<Row> first() const {
    if (rows.empty()) return std::nullopt;
    return Row(&rows.front());
  }
};

enum class Dialect { sqlite, postgres };
const char* dialect_name(Dialect d);

// A connection checked out of the pool. Not thread-safe; used by one thread at a time.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Result query(std::string_view sql, std::span<const Param> params) = 0;
  // Runs one or more statements without parameters (DDL, migrations).
  virtual void exec_script(std::string_view sql) = 0;

  Result query(std::string_view sql, std::initializer_list<Param> params = {}) {
    return query(sql, std::span<const Param>(params.begin(), params.size()));
  }
  // Convenience: rows affected by a write.
  int64_t exec(std::string_view sql, std::initializer_list<Param> params = {}) {
    return query(sql, params).affected;
  }

  // Inside a write unit: runs fn once at the end of the current transaction, after every unit
  // in it (SQLite's group commit runs many) and outside their savepoints, just before COMMIT. A
  // second call with the same key in the same transaction does nothing, so fn must handle what
  // every unit left for it (typically rows in a staging table). If fn throws, the whole
  // transaction rolls back and every unit in it fails. A unit rolled back alone leaves its
  // registration, so fn must also cope with finding nothing to do. What it is for: work that
  // is much cheaper once per transaction than once per unit (FTS5 writes a new segment at the
  // end of every statement and savepoint that touched it: tasks' search rows).
  void before_commit(std::string key, std::function<void(Connection&)> fn);

 protected:
  // For adapters: begin() forgets what an earlier transaction left; commit() runs them first.
  void forget_before_commit() noexcept { before_commit_.clear(); }
  void run_before_commit();

 private:
  std::vector<std::pair<std::string, std::function<void(Connection&)>>> before_commit_;
};

struct PoolOptions {
  int readers = 4;                 // SQLite reader connections / PostgreSQL pool size
  int busy_timeout_ms = 5000;      // SQLite busy_timeout; PostgreSQL lock_timeout
  int acquire_timeout_ms = 10000;  // waiting for a free connection -> TransientError
  // SQLite: a write() returns only after its commit's WAL frames are fsynced, so an
  // acknowledged write survives a power loss or an OS crash, not only a crash of the process
  // (the fsync runs after COMMIT, outside the write lock, shared by concurrent commits). false:
  // no fsync per commit (synchronous=NORMAL), faster, but the last commits before a power loss
  // can roll back. PostgreSQL: its own synchronous_commit setting decides.
  bool sync_every_commit = true;
};

class Database {
 public:
  virtual ~Database() = default;
  virtual Dialect dialect() const = 0;

  // Runs fn inside a transaction on a writing connection: commit when fn returns, rollback
  // when it throws (the exception propagates). On SQLite writes are serialised on one
  // connection (BEGIN IMMEDIATE); on PostgreSQL they run concurrently.
  virtual void write(const std::function<void(Connection&)>& fn) = 0;
  // Runs fn on a reading connection (a consistent snapshot for its duration).
  virtual void read(const std::function<void(Connection&)>& fn) = 0;
  // read() for a unit of exactly one statement (a statement is consistent with itself): it
  // runs in the statement's own implicit transaction, which on PostgreSQL saves the BEGIN and
  // COMMIT round trips (the per-request credential check). A second statement in fn throws
  // std::logic_error. Inside an open unit on this thread it joins that unit, like read().
  virtual void read_one(const std::function<void(Connection&)>& fn);

  // True when a trivial query succeeds (readiness probe).
  virtual bool ping() noexcept = 0;

  // What writes have cost the engine since the database was opened (/metrics, benchmarks):
  // on SQLite the pages appended to the WAL are the main cost of a write. Engines that do not
  // count answer zeros.
  struct WriteStats {
    uint64_t commits = 0;      // write transactions committed (a group commit counts once)
    uint64_t wal_pages = 0;    // pages those commits appended to the write-ahead log
    uint64_t checkpoints = 0;  // WAL checkpoints run, in the background and by the writer
    uint64_t units = 0;        // write() units committed (units / commits: the group size)
    uint64_t writer_busy_ns = 0;  // time the single writer spent in transactions (BEGIN to
                                  // COMMIT): near one second per second, writes are queueing
    uint64_t wal_syncs = 0;       // fdatasyncs that made commits durable (one covers many)
  };
  virtual WriteStats write_stats() const { return {}; }

  // Value-returning helpers.
  template <class F>
  auto write_value(F&& f) {
    using R = decltype(f(std::declval<Connection&>()));
    std::optional<R> out;
    write([&](Connection& c) { out.emplace(f(c)); });
    return std::move(*out);
  }
  template <class F>
  auto read_value(F&& f) {
    using R = decltype(f(std::declval<Connection&>()));
    std::optional<R> out;
    read([&](Connection& c) { out.emplace(f(c)); });
    return std::move(*out);
  }
  template <class F>
  auto read_one_value(F&& f) {
    using R = decltype(f(std::declval<Connection&>()));
    std::optional<R> out;
    read_one([&](Connection& c) { out.emplace(f(c)); });
    return std::move(*out);
  }
};

// Opens "sqlite:///abs/path.db", "sqlite://relative/path.db", "sqlite::memory:" or
// "postgres://user:pass@host:port/db" (also "postgresql://"). Throws sql::Error.
std::unique_ptr<Database> open_database(const std::string& url, const PoolOptions& options = {});

}  // namespace taskhub::sql
