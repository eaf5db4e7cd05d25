// SQLite adapter: see sqlite_database.hpp.
//
// Concurrency model: every connection is opened with SQLITE_OPEN_NOMUTEX and is used by one
// thread at a time, guaranteed here: the writer by a timed mutex, the readers by a pool.
// Transactions behave like PostgreSQL's: once a statement fails inside write()/read(), the
// transaction is aborted and further statements and the commit fail. This keeps code that is
// tested on SQLite correct on PostgreSQL (catch sql errors outside write(), not inside).
#include "adapters/sqlite/sqlite_database.hpp"
#include "adapters/unit_of_work.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <list>
#include <mutex>
#include <random>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "core/thread_name.hpp"

namespace taskhub::sql::sqlite {

namespace {

constexpr std::size_t kStatementCacheSize = 256;

std::string snippet(std::string_view sql) {
  std::string s(sql.substr(0, 160));
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (sql.size() > 160) s += "...";
  return s;
}

[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view sql) {
  int ext = db ? sqlite3_extended_errcode(db) : rc;
  if ((ext & 0xff) != (rc & 0xff)) ext = rc;  // the connection's last error is not this one
  std::string msg = "sqlite: ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (!sql.empty()) msg += " [" + snippet(sql) + "]";
  int primary = ext & 0xff;
  if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) throw UniqueViolation(msg);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) throw TransientError(msg);
  throw Error(msg);
}

struct TransparentHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Process-wide settings, applied before SQLite initialises (sqlite3_config refuses them later;
// then they are simply not applied). Memory statistics off: with them on, every sqlite3_malloc
// and sqlite3_free takes one global mutex, which request threads reading at once queued on (a
// `GET /tasks/{id}` profile showed futex waits inside sqlite3_step).
void configure_sqlite_once() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

// string_agg(value, separator), PostgreSQL's name, so that one SQL text aggregates on both
// databases (SQLite 3.40 knows only group_concat; string_agg came in 3.44). NULL values are
// skipped and no row gives NULL, as on PostgreSQL; the order is unspecified, as on both.
struct StringAgg {
  std::string* text;  // in SQLite's aggregate context; freed by final
};
void string_agg_step(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  auto* agg = static_cast<StringAgg*>(sqlite3_aggregate_context(ctx, sizeof(StringAgg)));
  if (!agg) return sqlite3_result_error_nomem(ctx);
  const auto* v = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  const int n = sqlite3_value_bytes(argv[0]);
  if (!agg->text) {
    agg->text = new std::string(v ? v : "", static_cast<std::size_t>(n));
    return;
  }
  if (const auto* sep = reinterpret_cast<const char*>(sqlite3_value_text(argv[1])))
    agg->text->append(sep, static_cast<std::size_t>(sqlite3_value_bytes(argv[1])));
  agg->text->append(v ? v : "", static_cast<std::size_t>(n));
}
void string_agg_final(sqlite3_context* ctx) {
  auto* agg = static_cast<StringAgg*>(sqlite3_aggregate_context(ctx, 0));
  if (!agg || !agg->text) return sqlite3_result_null(ctx);
  sqlite3_result_text64(ctx, agg->text->data(), agg->text->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  delete agg->text;
}

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(const std::string& filename, bool reader, bool in_memory, const PoolOptions& opt) {
    configure_sqlite_once();
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    int rc = sqlite3_open_v2(filename.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = std::string("sqlite: cannot open database: ") + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw Error(msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_create_function_v2(db_, "string_agg", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, nullptr,
                               string_agg_step, string_agg_final, nullptr);
    sqlite3_busy_timeout(db_, opt.busy_timeout_ms);
    try {
      if (!reader && !in_memory) {
        std::string mode = pragma_text("PRAGMA journal_mode=WAL");
        if (mode != "wal") spdlog::warn("sqlite: journal_mode is '{}', not WAL; readers will block the writer", mode);
      }
      // NORMAL: COMMIT itself does not fsync. With PoolOptions::sync_every_commit the database
      // fsyncs the WAL after COMMIT, outside the write lock (SqliteDatabase::make_durable).
      exec_script("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;");
      exec_script(reader ? "PRAGMA cache_size=-8000;" : "PRAGMA cache_size=-16000;");
      if (!in_memory) exec_script("PRAGMA mmap_size=268435456;");
      if (reader) exec_script("PRAGMA query_only=1;");
      if (!reader && !in_memory) {
        // Grow the file in 8 MiB steps: growing it page by page remaps the mmap region on
        // every extension (munmap showed up at 5% of a create-heavy profile).
        int chunk = 8 << 20;
        sqlite3_file_control(db_, "main", SQLITE_FCNTL_CHUNK_SIZE, &chunk);
      }
    } catch (...) {
      close();
      throw;
    }
  }
  ~SqliteConnection() override { close(); }
  sqlite3* handle() const { return db_; }
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  using Connection::query;
  Result query(std::string_view sql, std::span<const Param> params) override {
    check_usable();
    try {
      return run(sql, params);
    } catch (const Error&) {
      if (in_tx_) tx_failed_ = true;
      throw;
    }
  }

  void exec_script(std::string_view sql) override {
    check_usable();
    std::string text(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    if (err) sqlite3_free(err);
    if (rc != SQLITE_OK) {
      if (in_tx_) tx_failed_ = true;
      throw_error(db_, rc, sql);
    }
    if (in_tx_ && sqlite3_get_autocommit(db_)) {
      tx_failed_ = true;
      throw Error("sqlite: the script ended the surrounding transaction (COMMIT/ROLLBACK/END inside exec_script)");
    }
  }

  void begin(const char* stmt) {
    forget_before_commit();
    if (!sqlite3_get_autocommit(db_)) raw_exec("ROLLBACK");  // leftover from a failure
    raw_exec(stmt);
    in_tx_ = true;
    tx_failed_ = false;
  }

  void commit() {
    if (tx_failed_) {
      rollback();
      throw Error("sqlite: transaction aborted by an earlier failed statement; rolled back");
    }
    if (sqlite3_get_autocommit(db_)) {
      in_tx_ = false;
      throw Error("sqlite: the transaction was ended early by a statement inside it");
    }
    try {
      run_before_commit();
      if (tx_failed_) throw Error("sqlite: a statement before COMMIT failed; rolled back");
      raw_exec("COMMIT");
    } catch (...) {
      rollback();
      throw;
    }
    in_tx_ = false;
  }

  void rollback() noexcept {
    in_tx_ = false;
    tx_failed_ = false;
    if (db_ && !sqlite3_get_autocommit(db_)) {
      int rc = sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      if (rc != SQLITE_OK) spdlog::warn("sqlite: ROLLBACK failed: {}", sqlite3_errmsg(db_));
    }
  }

  // Group commit (SqliteDatabase::write): each unit of a group runs inside a savepoint, so a
  // failing unit is undone alone and the transaction stays usable for the others.
  void savepoint() { raw_exec("SAVEPOINT unit"); }
  // True when the unit's work stands (no statement of it failed, or it was undone cleanly).
  bool release_savepoint() {
    if (tx_failed_) return false;
    raw_exec("RELEASE unit");
    return true;
  }
  // Undoes the unit; false when the whole transaction is gone (SQLite rolled it back itself,
  // e.g. after SQLITE_FULL or an I/O error), which fails every unit of the group.
  bool rollback_to_savepoint() noexcept {
    if (sqlite3_get_autocommit(db_)) return false;
    int rc = sqlite3_exec(db_, "ROLLBACK TO unit; RELEASE unit", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      spdlog::warn("sqlite: ROLLBACK TO savepoint failed: {}", sqlite3_errmsg(db_));
      return false;
    }
    tx_failed_ = false;
    return true;
  }

  StatementStats stats() const { return {prepared_, hits_, cache_.size()}; }

 private:
  void check_usable() const {
    if (tx_failed_)
      throw Error("sqlite: current transaction is aborted (an earlier statement failed); commands ignored until the "
                  "end of the transaction block");
  }

  // Transaction control (BEGIN, COMMIT, ...): prepared once and reused like any statement;
  // sqlite3_exec would parse the text again on every transaction of every request.
  void raw_exec(const char* sql) {
    sqlite3_stmt* stmt = prepare(sql);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) throw_error(db_, rc, sql);
  }

  std::string pragma_text(const char* sql) {
    Result r = run(sql, {});
    if (r.rows.empty() || r.rows[0].empty()) return {};
    if (auto s = std::get_if<std::string>(&r.rows[0][0])) return *s;
    return {};
  }

  sqlite3_stmt* prepare(std::string_view sql) {
    if (auto it = cache_.find(sql); it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      ++hits_;
      return it->second.stmt;
    }
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) throw_error(db_, rc, sql);
    if (!stmt) throw Error("sqlite: empty statement");
    if (tail) {
      std::string_view rest(tail, sql.data() + sql.size() - tail);
      for (char c : rest)
        if (!(c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ';')) {
          sqlite3_finalize(stmt);
          throw Error("sqlite: query() runs one statement; use exec_script() for several [" + snippet(sql) + "]");
        }
    }
    ++prepared_;
    if (cache_.size() >= kStatementCacheSize) {
      auto victim = cache_.find(std::string_view(lru_.back()));
      sqlite3_finalize(victim->second.stmt);
      cache_.erase(victim);
      lru_.pop_back();
    }
    lru_.emplace_front(sql);
    cache_.emplace(lru_.front(), Cached{stmt, lru_.begin()});
    return stmt;
  }

  void bind(sqlite3_stmt* stmt, std::span<const Param> params, std::string_view sql) {
    int expected = sqlite3_bind_parameter_count(stmt);
    if (expected != static_cast<int>(params.size()))
      throw Error("sqlite: statement has " + std::to_string(expected) + " parameters, " +
                  std::to_string(params.size()) + " given [" + snippet(sql) + "]");
    for (std::size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i) + 1;
      const Value& v = params[i].v;
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::monostate>(v)) {
        rc = sqlite3_bind_null(stmt, idx);
      } else if (auto p = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, idx, *p);
      } else if (auto p = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, idx, *p);
      } else if (auto p = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text64(stmt, idx, p->data(), p->size(), SQLITE_STATIC, SQLITE_UTF8);
      } else if (auto p = std::get_if<bool>(&v)) {
        rc = sqlite3_bind_int64(stmt, idx, *p ? 1 : 0);
      } else if (auto p = std::get_if<Blob>(&v)) {
        if (p->bytes.empty())
          rc = sqlite3_bind_zeroblob(stmt, idx, 0);  // a null pointer would bind NULL
        else
          rc = sqlite3_bind_blob64(stmt, idx, p->bytes.data(), p->bytes.size(), SQLITE_STATIC);
      }
      if (rc != SQLITE_OK) throw_error(db_, rc, sql);
    }
  }

  Result run(std::string_view sql, std::span<const Param> params) {
    sqlite3_stmt* stmt = prepare(sql);
    struct Reset {
      sqlite3_stmt* s;
      ~Reset() {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
      }
    } reset{stmt};
    bind(stmt, params, sql);

    Result result;
    int ncol = sqlite3_column_count(stmt);
    result.columns.reserve(ncol);
    for (int c = 0; c < ncol; ++c) {
      const char* name = sqlite3_column_name(stmt, c);
      result.columns.emplace_back(name ? name : "");
    }
    sqlite3_int64 before = sqlite3_total_changes64(db_);
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) throw_error(db_, rc, sql);
      std::vector<Value>& row = result.rows.emplace_back();
      row.reserve(ncol);
      for (int c = 0; c < ncol; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_INTEGER:
            row.emplace_back(int64_t{sqlite3_column_int64(stmt, c)});
            break;
          case SQLITE_FLOAT:
            row.emplace_back(sqlite3_column_double(stmt, c));
            break;
          case SQLITE_TEXT: {
            auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
            row.emplace_back(std::string(p ? p : "", sqlite3_column_bytes(stmt, c)));
            break;
          }
          case SQLITE_BLOB: {
            auto p = static_cast<const char*>(sqlite3_column_blob(stmt, c));
            int n = sqlite3_column_bytes(stmt, c);
            row.emplace_back(Blob{std::string(p ? p : "", p ? n : 0)});
            break;
          }
          default:
            row.emplace_back(std::monostate{});
        }
      }
    }
    if (sqlite3_total_changes64(db_) != before) result.affected = sqlite3_changes64(db_);
    return result;
  }

  void close() noexcept {
    if (!db_) return;
    for (auto& [sql, c] : cache_) sqlite3_finalize(c.stmt);
    cache_.clear();
    lru_.clear();
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  struct Cached {
    sqlite3_stmt* stmt;
    std::list<std::string>::iterator lru;
  };
  sqlite3* db_ = nullptr;
  // Keys view the strings owned by lru_ (list nodes never move).
  std::unordered_map<std::string_view, Cached, TransparentHash, std::equal_to<>> cache_;
  std::list<std::string> lru_;
  uint64_t prepared_ = 0;
  uint64_t hits_ = 0;
  bool in_tx_ = false;
  bool tx_failed_ = false;
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(const std::string& filename, bool in_memory, const PoolOptions& opt) : opt_(opt) {
    writer_ = std::make_unique<SqliteConnection>(filename, false, in_memory, opt);
    int n = std::max(1, opt.readers);
    for (int i = 0; i < n; ++i) {
      readers_.push_back(std::make_unique<SqliteConnection>(filename, true, in_memory, opt));
      free_.push_back(readers_.back().get());
    }
    if (!in_memory) start_checkpointer(filename);
  }

  ~SqliteDatabase() override {
    stop_checkpointer();
    if (wal_fd_ >= 0) ::close(wal_fd_);
    readers_.clear();
    if (writer_) {
      try {
        writer_->exec_script("PRAGMA optimize;");
      } catch (const std::exception& e) {
        spdlog::debug("sqlite: PRAGMA optimize failed: {}", e.what());
      }
    }
  }

  Dialect dialect() const override { return Dialect::sqlite; }

  // Group commit, as LevelDB's DBImpl::Write: callers queue their units; the caller at the head
  // of the queue becomes the leader, runs up to kMaxGroup queued units in ONE transaction (each
  // in a savepoint) and commits once, then hands every unit its own outcome. Concurrent writes
  // touch the same pages (the right edge of UUIDv7-keyed tables and their indexes), so a group
  // appends each page to the WAL once instead of once per unit. A unit is acknowledged only
  // after the group's COMMIT; if that COMMIT fails, every unit of the group fails.
  void write(const std::function<void(Connection&)>& fn) override {
    if (writer_thread_.load() == std::this_thread::get_id())
      throw Error("sqlite: nested Database::write() on the same thread");
    PendingWrite me{&fn};
    std::unique_lock lk(queue_mu_);
    queue_.push_back(&me);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.acquire_timeout_ms);
    // A unit taken into a group waits for its outcome (the group may already have left the
    // queue while its leader syncs the WAL); one not yet taken waits to head the queue.
    while (!me.done && (me.taken || queue_.front() != &me)) {
      if (me.cv.wait_until(lk, deadline) == std::cv_status::timeout && !me.done && !me.taken &&
          queue_.front() != &me) {
        queue_.erase(std::find(queue_.begin(), queue_.end(), &me));
        throw TransientError("sqlite: timed out waiting for the writer connection");
      }
    }
    if (!me.done) lead(lk);
    if (me.error) std::rethrow_exception(me.error);
  }

  void read(const std::function<void(Connection&)>& fn) override {
    if (auto* unit = detail::open_unit(this)) return fn(*unit->conn);
    SqliteConnection* c = acquire_reader(std::chrono::milliseconds(opt_.acquire_timeout_ms));
    struct Release {
      SqliteDatabase* self;
      SqliteConnection* c;
      ~Release() { self->release_reader(c); }
    } release{this, c};
    c->begin("BEGIN");
    try {
      detail::UnitScope scope(this, c, false);
      fn(*c);
    } catch (...) {
      c->rollback();
      throw;
    }
    c->commit();
  }

  bool ping() noexcept override {
    try {
      SqliteConnection* c = acquire_reader(std::chrono::milliseconds(std::min(opt_.acquire_timeout_ms, 2000)));
      struct Release {
        SqliteDatabase* self;
        SqliteConnection* c;
        ~Release() { self->release_reader(c); }
      } release{this, c};
      return c->query("SELECT 1").size() == 1;
    } catch (const std::exception& e) {
      spdlog::warn("sqlite: ping failed: {}", e.what());
      return false;
    }
  }

  CheckpointStats checkpoint_stats() const { return {ckpt_background_.load(), ckpt_writer_.load()}; }
  WriteStats write_stats() const override {
    return {wal_commits_.load(std::memory_order_relaxed), wal_frames_.load(std::memory_order_relaxed),
            ckpt_background_.load(std::memory_order_relaxed) + ckpt_writer_.load(std::memory_order_relaxed),
            units_.load(std::memory_order_relaxed), writer_busy_ns_.load(std::memory_order_relaxed),
            wal_syncs_.load(std::memory_order_relaxed)};
  }

 private:
  SqliteConnection* acquire_reader(std::chrono::milliseconds timeout) {
    std::unique_lock lk(pool_mu_);
    if (!pool_cv_.wait_for(lk, timeout, [&] { return !free_.empty(); }))
      throw TransientError("sqlite: timed out waiting for a reader connection");
    SqliteConnection* c = free_.back();
    free_.pop_back();
    return c;
  }
  void release_reader(SqliteConnection* c) {
    {
      std::lock_guard lk(pool_mu_);
      free_.push_back(c);
    }
    pool_cv_.notify_one();
  }

  // WAL checkpoints off the writer's path. SQLite's automatic checkpoint runs inside the
  // COMMIT that crosses the threshold, with the write lock held: copying pages into the
  // database file and two fsyncs, while every other writer waits (pwrite + fdatasync were a
  // quarter of a create-heavy profile). Here the writer's WAL hook only wakes a thread that
  // checkpoints PASSIVE on its own connection, concurrently with the next writes. If that thread
  // falls far behind, the committing writer checkpoints itself (bounded WAL).
  // The thread is woken each time the WAL has grown kCheckpointPages since the last request, not
  // on every commit past the threshold: under a steady write load the WAL is never restarted (a
  // PASSIVE checkpoint can only catch up with frames committed before it began), so "WAL size
  // >= 1000" held for every commit and each commit paid a checkpoint with two fdatasyncs (three
  // per create on a single-client create run; 13% of its CPU).
  static constexpr int kCheckpointPages = 1000;   // SQLite's default auto-checkpoint threshold
  static constexpr int kWriterCheckpointPages = 16000;  // ~64 MiB of WAL: back-pressure

  static int on_wal_commit(void* self, sqlite3* db, const char* name, int pages) {
    auto* me = static_cast<SqliteDatabase*>(self);
    if (pages < me->ckpt_mark_) me->ckpt_mark_ = 0;  // the WAL was restarted from its beginning
    // After a restart the WAL holds only this commit's pages.
    me->wal_frames_.fetch_add(static_cast<uint64_t>(pages >= me->wal_last_ ? pages - me->wal_last_ : pages),
                              std::memory_order_relaxed);
    me->wal_last_ = pages;
    me->wal_commits_.fetch_add(1, std::memory_order_release);  // also the commit's sequence number
    if (pages >= kWriterCheckpointPages) {
      me->ckpt_mark_ = pages;
      ++me->ckpt_writer_;
      sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (pages - me->ckpt_mark_ >= kCheckpointPages) {
      me->ckpt_mark_ = pages;
      {
        std::lock_guard lk(me->ckpt_mu_);
        me->ckpt_wanted_ = true;
      }
      me->ckpt_cv_.notify_one();
    }
    return SQLITE_OK;
  }

  void start_checkpointer(const std::string& filename) {
    ckpt_conn_ = std::make_unique<SqliteConnection>(filename, false, false, opt_);
    sqlite3_wal_hook(writer_->handle(), &SqliteDatabase::on_wal_commit, this);  // replaces auto-checkpoint
    ckpt_thread_ = std::thread([this] {
      set_thread_name("sqlite-ckpt");
      std::unique_lock lk(ckpt_mu_);
      while (!ckpt_stop_) {
        ckpt_cv_.wait_for(lk, std::chrono::seconds(5), [&] { return ckpt_wanted_ || ckpt_stop_; });
        if (ckpt_stop_) break;
        ckpt_wanted_ = false;
        lk.unlock();
        ++ckpt_background_;
        int rc = sqlite3_wal_checkpoint_v2(ckpt_conn_->handle(), "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
          spdlog::warn("sqlite: background checkpoint failed: {}", sqlite3_errstr(rc));
        lk.lock();
      }
    });
  }

  void stop_checkpointer() {
    if (!ckpt_thread_.joinable()) return;
    {
      std::lock_guard lk(ckpt_mu_);
      ckpt_stop_ = true;
    }
    ckpt_cv_.notify_one();
    ckpt_thread_.join();
    sqlite3_wal_hook(writer_->handle(), nullptr, nullptr);
    ckpt_conn_.reset();
  }

  struct PendingWrite {
    const std::function<void(Connection&)>* fn;
    std::exception_ptr error;
    bool taken = false;  // picked by a leader: its outcome is coming
    bool done = false;
    std::condition_variable cv;
  };
  static constexpr std::size_t kMaxGroup = 32;

  // Called with queue_mu_ held by the thread whose unit heads the queue.
  // The group leaves the queue as soon as its COMMIT returns, so the next group can write
  // while this one's WAL frames go to disk; its units are acknowledged only after that.
  void lead(std::unique_lock<std::mutex>& lk) {
    std::vector<PendingWrite*> group;
    for (PendingWrite* w : queue_) {
      if (group.size() == kMaxGroup) break;
      w->taken = true;
      group.push_back(w);
    }
    lk.unlock();
    const uint64_t seq = run_group(group);
    lk.lock();
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(group.size()));
    if (!queue_.empty()) queue_.front()->cv.notify_one();  // the next leader
    if (opt_.sync_every_commit && seq != 0) {
      lk.unlock();
      make_durable(seq);
      lk.lock();
    }
    for (PendingWrite* w : group) {
      w->done = true;
      w->cv.notify_one();
    }
  }

  // Durability without holding the writer. SQLite's synchronous=FULL fsyncs the WAL inside
  // COMMIT, with the write lock held: every other write waits for the disk (with eight create
  // clients the writer was busy 0.91 s per second, 96 µs more per create than without the
  // fsync). Here COMMIT only writes the frames (synchronous=NORMAL) and the group's leader
  // fsyncs the WAL after handing the writer on; one fdatasync covers every commit that returned
  // before it started, so concurrent leaders mostly find their commit already synced. Other
  // connections can read a committed group's rows during that fsync; its own callers are
  // answered after it (the guarantee: nothing acknowledged to a writer is lost).
  // The WAL file is opened once by name: SQLite unlinks it only when the last connection closes,
  // and the writer connection stays open for this object's lifetime.
  // An fsync that fails leaves unknown bytes on disk while the rows are already visible: as
  // PostgreSQL does since 2018, the process stops rather than answer either way; on restart
  // SQLite recovers the WAL from what reached the disk.
  void make_durable(uint64_t seq) {
    std::lock_guard lk(sync_mu_);
    if (synced_seq_ >= seq) return;
    const uint64_t upto = wal_commits_.load(std::memory_order_acquire);  // all returned from COMMIT
    if (wal_fd_ < 0) {
      const char* wal = sqlite3_filename_wal(sqlite3_db_filename(writer_->handle(), "main"));
      wal_fd_ = wal ? ::open(wal, O_RDONLY | O_CLOEXEC) : -1;
      if (wal_fd_ < 0) {
        spdlog::critical("sqlite: cannot open the WAL file {} to sync it: {}", wal ? wal : "?", std::strerror(errno));
        std::abort();
      }
    }
    if (::fdatasync(wal_fd_) != 0) {
      spdlog::critical("sqlite: fdatasync of the WAL failed ({}): stopping, committed writes may not be on disk",
                       std::strerror(errno));
      std::abort();
    }
    wal_syncs_.fetch_add(1, std::memory_order_relaxed);
    synced_seq_ = upto;
  }

  // Returns the sequence number of the group's commit when it wrote WAL frames (0: nothing to
  // make durable: it wrote nothing, failed, or the database has no WAL).
  uint64_t run_group(const std::vector<PendingWrite*>& group) {
    writer_thread_ = std::this_thread::get_id();
    struct Owner {
      std::atomic<std::thread::id>& t;
      std::atomic<uint64_t>& busy;
      std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
      ~Owner() {
        busy.fetch_add(static_cast<uint64_t>((std::chrono::steady_clock::now() - t0).count()),
                       std::memory_order_relaxed);
        t = std::thread::id();
      }
    } owner{writer_thread_, writer_busy_ns_};
    static_assert(std::is_same_v<std::chrono::steady_clock::duration, std::chrono::nanoseconds>);
    try {
      writer_->begin("BEGIN IMMEDIATE");
    } catch (...) {
      for (PendingWrite* w : group) w->error = std::current_exception();
      return 0;
    }
    const uint64_t seq_before = wal_commits_.load(std::memory_order_relaxed);
    const bool grouped = group.size() > 1;
    std::vector<PendingWrite*> ok;
    for (PendingWrite* w : group) {
      bool undone = true;
      try {
        if (grouped) writer_->savepoint();
        {
          detail::UnitScope scope(this, writer_.get(), true);
          (*w->fn)(*writer_);
        }
        if (!grouped || writer_->release_savepoint()) {
          ok.push_back(w);
          continue;
        }
        w->error = std::make_exception_ptr(Error("sqlite: transaction aborted by an earlier failed statement; rolled back"));
      } catch (...) {
        w->error = std::current_exception();
      }
      if (grouped) undone = writer_->rollback_to_savepoint();
      if (!grouped || !undone) {
        // Alone, or SQLite ended the transaction itself: nothing of the group stands.
        writer_->rollback();
        for (PendingWrite* o : ok)
          o->error = std::make_exception_ptr(TransientError("sqlite: a grouped write failed the transaction; retry"));
        return 0;
      }
    }
    try {
      writer_->commit();
      units_.fetch_add(ok.size(), std::memory_order_relaxed);
    } catch (...) {
      for (PendingWrite* w : ok) w->error = std::current_exception();
      return 0;
    }
    const uint64_t seq = wal_commits_.load(std::memory_order_relaxed);  // the WAL hook counted it
    return seq != seq_before ? seq : 0;
  }

  PoolOptions opt_;
  std::unique_ptr<SqliteConnection> writer_;
  std::mutex queue_mu_;
  std::deque<PendingWrite*> queue_;
  std::unique_ptr<SqliteConnection> ckpt_conn_;
  std::thread ckpt_thread_;
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_wanted_ = false;
  int ckpt_mark_ = 0;  // WAL size (pages) at the last checkpoint request (writer's WAL hook only)
  std::atomic<uint64_t> ckpt_background_{0}, ckpt_writer_{0};  // checkpoints run (checkpoint_stats)
  int wal_last_ = 0;  // WAL size (pages) after the previous commit (writer's WAL hook only)
  std::atomic<uint64_t> wal_commits_{0}, wal_frames_{0};  // commits and the pages they appended
  std::atomic<uint64_t> units_{0}, writer_busy_ns_{0}, wal_syncs_{0};  // write_stats()
  std::mutex sync_mu_;       // make_durable: one fdatasync at a time
  uint64_t synced_seq_ = 0;  // commits up to this sequence number are on disk (sync_mu_)
  int wal_fd_ = -1;          // the WAL file, opened at the first sync (sync_mu_)
  bool ckpt_stop_ = false;
  std::atomic<std::thread::id> writer_thread_{};
  std::vector<std::unique_ptr<SqliteConnection>> readers_;
  std::vector<SqliteConnection*> free_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
};

std::string memory_name() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  uint64_t r = (uint64_t{rd()} << 32) ^ rd();
  char buf[80];
  std::snprintf(buf, sizeof buf, "file:/taskhub-%016llx-%llu?vfs=memdb", static_cast<unsigned long long>(r),
                static_cast<unsigned long long>(counter.fetch_add(1)));
  return buf;
}

}  // namespace

std::unique_ptr<Database> open(const std::string& url, const PoolOptions& options) {
  std::string_view u = url;
  if (u == "sqlite::memory:" || u == "sqlite://:memory:") {
    // A named memdb database: every connection of this Database sees the same data, with
    // ordinary (rollback-journal) locking, and it disappears when the last connection closes.
    return std::make_unique<SqliteDatabase>(memory_name(), true, options);
  }
  constexpr std::string_view prefix = "sqlite://";
  if (u.rfind(prefix, 0) != 0 || u.size() == prefix.size())
    throw Error("sqlite: expected sqlite:///absolute/path.db, sqlite://relative/path.db or sqlite::memory:");
  std::string path(u.substr(prefix.size()));  // "/abs/path.db" or "relative/path.db"
  if (path.rfind("file:", 0) == 0) path = "./" + path;  // never let a path be read as a URI
  std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) throw Error("sqlite: cannot create directory " + p.parent_path().string() + ": " + ec.message());
  }
  return std::make_unique<SqliteDatabase>(path, false, options);
}

CheckpointStats checkpoint_stats(Database& db) {
  auto* d = dynamic_cast<SqliteDatabase*>(&db);
  if (!d) throw Error("checkpoint_stats: not a SQLite database");
  return d->checkpoint_stats();
}

StatementStats statement_stats(Connection& conn) {
  auto* c = dynamic_cast<SqliteConnection*>(&conn);
  if (!c) throw Error("statement_stats: not a SQLite connection");
  return c->stats();
}

}  // namespace taskhub::sql::sqlite
