// PostgreSQL adapter: see postgres_database.hpp.
//
// Every connection of the pool is used by one thread at a time. Parameters go as text with
// type OID 0 (the server infers the type from the statement), except blobs: binary bytea.
// Results come back as text (the Row accessors convert); bytea columns are decoded to Blob.
#include "adapters/postgres/postgres_database.hpp"
#include "adapters/unit_of_work.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace taskhub::sql::postgres {

namespace {

constexpr Oid kByteaOid = 17;
constexpr std::size_t kStatementCacheSize = 512;

bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

std::string snippet(std::string_view sql) {
  std::string s(sql.substr(0, 160));
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (sql.size() > 160) s += "...";
  return s;
}

// libpq messages span lines; logs want one line with single spaces.
std::string trim_message(const char* m) {
  std::string s;
  for (const char* p = m ? m : ""; *p; ++p) {
    bool space = *p == '\n' || *p == '\t' || *p == '\r' || *p == ' ';
    if (space) {
      if (!s.empty() && s.back() != ' ') s.push_back(' ');
    } else {
      s.push_back(*p);
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea text output ("hex" format, the default since PostgreSQL 9.0).
std::string decode_bytea(const char* p, int len) {
  if (len >= 2 && p[0] == '\\' && p[1] == 'x') {
    std::string out;
    out.reserve((len - 2) / 2);
    for (int i = 2; i + 1 < len; i += 2) {
      int hi = hex_value(p[i]), lo = hex_value(p[i + 1]);
      if (hi < 0 || lo < 0) throw Error("postgres: malformed bytea value");
      out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
  }
  // "escape" format (bytea_output = escape)
  size_t n = 0;
  unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(p), &n);
  if (!raw) throw Error("postgres: malformed bytea value");
  std::string out(reinterpret_cast<char*>(raw), n);
  PQfreemem(raw);
  return out;
}

void notice_processor(void*, const char* message) { spdlog::info("postgres: {}", trim_message(message)); }

struct ResultPtr {
  PGresult* r = nullptr;
  explicit ResultPtr(PGresult* res) : r(res) {}
  ~ResultPtr() {
    if (r) PQclear(r);
  }
  ResultPtr(const ResultPtr&) = delete;
  ResultPtr& operator=(const ResultPtr&) = delete;
};

class PgConnection final : public Connection {
 public:
  PgConnection(const std::string& url, const PoolOptions& opt) : opt_(opt) {
    // Keywords before dbname are defaults the URL may override.
    const char* keys[] = {"connect_timeout", "dbname", "fallback_application_name", nullptr};
    const char* vals[] = {"10", url.c_str(), "taskhub", nullptr};
    conn_ = PQconnectdbParams(keys, vals, 1);
    if (!conn_) throw Error("postgres: out of memory");
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = "postgres: cannot connect: " + trim_message(PQerrorMessage(conn_));
      PQfinish(conn_);
      conn_ = nullptr;
      throw TransientError(msg);
    }
    setup_session();
  }
  ~PgConnection() override {
    if (conn_) PQfinish(conn_);
  }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  bool usable() const { return !broken_ && PQstatus(conn_) == CONNECTION_OK; }

  // Re-establishes a broken connection; throws TransientError when the server is unreachable.
  void reconnect() {
    prepared_.clear();
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK)
      throw TransientError("postgres: reconnect failed: " + trim_message(PQerrorMessage(conn_)));
    broken_ = false;
    setup_session();
    spdlog::info("postgres: connection re-established");
  }

  using Connection::query;
  Result query(std::string_view sql, std::span<const Param> params) override {
    if (!pending_begin_) return query_once(sql, params, nullptr);
    const char* begin_stmt = pending_begin_;
    pending_begin_ = nullptr;
    try {
      return query_once(sql, params, begin_stmt);
    } catch (const TransientError&) {
      if (usable()) throw;
      reconnect();
      return query_once(sql, params, begin_stmt);
    }
  }

  // Runs one statement; with begin_stmt, pipelined behind that BEGIN (see pipelined()).
  Result query_once(std::string_view sql, std::span<const Param> params, const char* begin_stmt) {
    // Blobs are bound as binary bytea, which is part of the prepared statement's signature.
    std::string key(sql);
    bool any_blob = false;
    for (const Param& p : params) any_blob = any_blob || std::holds_alternative<Blob>(p.v);
    if (any_blob) {
      key.push_back('\0');
      for (const Param& p : params) key.push_back(std::holds_alternative<Blob>(p.v) ? 'b' : '-');
    }
    const Prepared& stmt = prepare(key, sql, params);

    std::size_t n = params.size();
    std::vector<std::string> storage(n);
    std::vector<const char*> values(n, nullptr);
    std::vector<int> lengths(n, 0), formats(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const Value& v = params[i].v;
      if (std::holds_alternative<std::monostate>(v)) continue;  // NULL
      if (auto p = std::get_if<int64_t>(&v)) {
        storage[i] = std::to_string(*p);
      } else if (auto p = std::get_if<double>(&v)) {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", *p);
        storage[i] = buf;
      } else if (auto p = std::get_if<std::string>(&v)) {
        if (std::memchr(p->data(), '\0', p->size()))
          throw Error("postgres: text parameter " + std::to_string(i + 1) + " contains a NUL byte");
        values[i] = p->c_str();
        lengths[i] = static_cast<int>(p->size());
        continue;
      } else if (auto p = std::get_if<bool>(&v)) {
        storage[i] = *p ? "true" : "false";
      } else if (auto p = std::get_if<Blob>(&v)) {
        values[i] = p->bytes.data();
        lengths[i] = static_cast<int>(p->bytes.size());
        formats[i] = 1;
        continue;
      }
      values[i] = storage[i].c_str();
      lengths[i] = static_cast<int>(storage[i].size());
    }
    if (begin_stmt) return pipelined(begin_stmt, stmt, sql, values, lengths, formats);
    ResultPtr res(PQexecPrepared(conn_, stmt.name.c_str(), static_cast<int>(n), values.data(), lengths.data(),
                                 formats.data(), 0));
    check(res.r, sql);
    return convert(res.r);
  }

  void exec_script(std::string_view sql) override {
    flush_begin();
    std::string text(sql);
    ResultPtr res(PQexec(conn_, text.c_str()));
    check(res.r, sql);
    if (in_tx_ && PQtransactionStatus(conn_) == PQTRANS_IDLE)
      throw Error("postgres: the script ended the surrounding transaction (COMMIT/ROLLBACK inside exec_script)");
  }

  // BEGIN is not sent on its own: it travels with the unit's first statement in one pipeline
  // (first_query), saving a round trip per transaction. A unit that runs no statement sends
  // nothing at all.
  void begin(const char* stmt) {
    forget_before_commit();
    in_tx_ = false;
    pending_begin_ = nullptr;
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) raw_exec("ROLLBACK");
    pending_begin_ = stmt;
    in_tx_ = true;
  }

  // read_only: the COMMIT is sent and its answer left to settle() (the next lease of this
  // connection reads it, long after it arrived): a read-only transaction's reads are already
  // returned and its COMMIT cannot change them, so waiting for it would only add a round trip.
  void commit(bool read_only = false) {
    if (!read_only) {
      try {
        run_before_commit();
      } catch (...) {
        rollback();
        throw;
      }
    }
    in_tx_ = false;
    if (pending_begin_) {  // nothing ran: there is no transaction to end
      pending_begin_ = nullptr;
      return;
    }
    if (PQtransactionStatus(conn_) == PQTRANS_IDLE)
      throw Error("postgres: the transaction was ended early by a statement inside it");
    if (PQtransactionStatus(conn_) == PQTRANS_INERROR) {
      rollback();
      throw Error("postgres: transaction aborted by an earlier failed statement; rolled back");
    }
    if (read_only) {
      if (PQsendQuery(conn_, "COMMIT") == 1) {
        commit_in_flight_ = true;
        return;
      }
      broken_ = true;  // could not even send it: start afresh on the next lease
      return;
    }
    ResultPtr res(PQexec(conn_, "COMMIT"));
    check(res.r, "COMMIT");
    if (std::strcmp(PQcmdStatus(res.r), "ROLLBACK") == 0)
      throw Error("postgres: transaction aborted by an earlier failed statement; rolled back");
  }

  // Reads the answer of a COMMIT sent by commit(read_only = true). Called when the connection
  // is leased, before anything else uses it.
  void settle() noexcept {
    if (!commit_in_flight_) return;
    commit_in_flight_ = false;
    bool ok = false;
    while (PGresult* r = PQgetResult(conn_)) {
      ok = ok || PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    if (!ok || PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      spdlog::warn("postgres: a read-only COMMIT failed: {}", trim_message(PQerrorMessage(conn_)));
      broken_ = true;  // re-opened by acquire(): no doubt about the session's state
    }
  }

  void rollback() noexcept {
    in_tx_ = false;
    pending_begin_ = nullptr;
    if (!usable()) return;
    if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return;
    ResultPtr res(PQexec(conn_, "ROLLBACK"));
    if (!res.r || PQresultStatus(res.r) != PGRES_COMMAND_OK) {
      spdlog::warn("postgres: ROLLBACK failed: {}", trim_message(PQerrorMessage(conn_)));
      if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
    }
  }

 private:
  struct Prepared {
    std::string name;
    int nparams = 0;
  };

  void setup_session() {
    PQsetNoticeProcessor(conn_, notice_processor, nullptr);
    std::string s = "SET statement_timeout = 30000; SET lock_timeout = " + std::to_string(opt_.busy_timeout_ms) +
                    "; SET client_min_messages = warning; SET TIME ZONE 'UTC'";
    raw_exec(s.c_str());
  }

  void flush_begin() {
    if (!pending_begin_) return;
    const char* stmt = pending_begin_;
    pending_begin_ = nullptr;
    raw_exec(stmt);
  }

  // The unit's first statement goes out pipelined behind its BEGIN: [BEGIN, statement, Sync]
  // in one write, the three answers in one read. A connection the server closed while it sat
  // in the pool (restart, idle timeout) is re-opened and the pair sent again: nothing of the
  // unit has run yet, so that is safe.
  Result pipelined(const char* begin_stmt, const Prepared& stmt, std::string_view sql,
                   const std::vector<const char*>& values, const std::vector<int>& lengths,
                   const std::vector<int>& formats) {
    if (PQenterPipelineMode(conn_) != 1) {
      raw_exec(begin_stmt);
      ResultPtr res(PQexecPrepared(conn_, stmt.name.c_str(), static_cast<int>(values.size()), values.data(),
                                   lengths.data(), formats.data(), 0));
      check(res.r, sql);
      return convert(res.r);
    }
    struct Exit {
      PGconn* c;
      ~Exit() { PQexitPipelineMode(c); }
    } exit_pipeline{conn_};
    bool sent = PQsendQueryParams(conn_, begin_stmt, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
                PQsendQueryPrepared(conn_, stmt.name.c_str(), static_cast<int>(values.size()), values.data(),
                                    lengths.data(), formats.data(), 0) == 1 &&
                PQpipelineSync(conn_) == 1;
    if (!sent) {
      broken_ = PQstatus(conn_) != CONNECTION_OK;
      std::string msg = "postgres: " + trim_message(PQerrorMessage(conn_)) + " [" + snippet(sql) + "]";
      if (broken_) throw TransientError(msg);
      throw Error(msg);
    }
    // Each command's answer is one result followed by NULL; then the Sync's PGRES_PIPELINE_SYNC.
    auto next = [&]() -> PGresult* {
      PGresult* r = PQgetResult(conn_);
      if (r && PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
        while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
      }
      return r;
    };
    ResultPtr begin_res(next());
    ResultPtr res(next());
    ResultPtr sync(PQgetResult(conn_));
    if (!sync.r || PQresultStatus(sync.r) != PGRES_PIPELINE_SYNC) broken_ = true;
    check(begin_res.r, begin_stmt);
    check(res.r, sql);
    if (broken_) throw TransientError("postgres: pipeline out of step [" + snippet(sql) + "]");
    return convert(res.r);
  }

  void raw_exec(const char* sql) {
    ResultPtr res(PQexec(conn_, sql));
    check(res.r, sql);
  }

  const Prepared& prepare(const std::string& key, std::string_view sql, std::span<const Param> params) {
    if (auto it = prepared_.find(key); it != prepared_.end()) {
      if (it->second.nparams != static_cast<int>(params.size()))
        throw Error("postgres: statement has " + std::to_string(it->second.nparams) + " parameters, " +
                    std::to_string(params.size()) + " given [" + snippet(sql) + "]");
      return it->second;
    }
    int count = 0;
    std::string text = rewrite_placeholders(sql, &count);
    if (count != static_cast<int>(params.size()))
      throw Error("postgres: statement has " + std::to_string(count) + " parameters, " +
                  std::to_string(params.size()) + " given [" + snippet(sql) + "]");
    if (prepared_.size() >= kStatementCacheSize) {
      ResultPtr res(PQexec(conn_, "DEALLOCATE ALL"));
      check(res.r, "DEALLOCATE ALL");
      prepared_.clear();
    }
    std::vector<Oid> types(params.size(), 0);
    for (std::size_t i = 0; i < params.size(); ++i)
      if (std::holds_alternative<Blob>(params[i].v)) types[i] = kByteaOid;
    Prepared p{"s" + std::to_string(++next_id_), count};
    ResultPtr res(PQprepare(conn_, p.name.c_str(), text.c_str(), count, types.data()));
    check(res.r, sql);
    return prepared_.emplace(key, std::move(p)).first->second;
  }

  void check(PGresult* res, std::string_view sql) {
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return;
    std::string message = trim_message(res ? PQresultErrorMessage(res) : PQerrorMessage(conn_));
    if (message.empty()) message = trim_message(PQerrorMessage(conn_));
    std::string msg = "postgres: " + message + " [" + snippet(sql) + "]";
    if (PQstatus(conn_) != CONNECTION_OK) {
      broken_ = true;
      throw TransientError(msg);
    }
    const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    std::string_view code = state ? state : "";
    if (code == "23505") throw UniqueViolation(msg);
    if (code == "0A000" && message.find("cached plan") != std::string::npos) {
      // The schema changed under a prepared statement: prepare it afresh next time.
      prepared_.clear();
      throw TransientError(msg);
    }
    if (code == "40001" || code == "40P01" || code == "55P03") throw TransientError(msg);
    if (code.substr(0, 2) == "08" || code == "57P01" || code == "57P02" || code == "57P03") {
      broken_ = true;
      throw TransientError(msg);
    }
    throw Error(msg);
  }

  static Result convert(PGresult* res) {
    Result out;
    int ncol = PQnfields(res), nrow = PQntuples(res);
    out.columns.reserve(ncol);
    std::vector<bool> bytea(ncol);
    for (int c = 0; c < ncol; ++c) {
      out.columns.emplace_back(PQfname(res, c));
      bytea[c] = PQftype(res, c) == kByteaOid;
    }
    out.rows.reserve(nrow);
    for (int r = 0; r < nrow; ++r) {
      std::vector<Value>& row = out.rows.emplace_back();
      row.reserve(ncol);
      for (int c = 0; c < ncol; ++c) {
        if (PQgetisnull(res, r, c)) {
          row.emplace_back(std::monostate{});
          continue;
        }
        const char* p = PQgetvalue(res, r, c);
        int len = PQgetlength(res, r, c);
        if (bytea[c])
          row.emplace_back(Blob{decode_bytea(p, len)});
        else
          row.emplace_back(std::string(p, len));
      }
    }
    // Rows changed by INSERT/UPDATE/DELETE/MERGE (PQcmdTuples also counts SELECT rows: ignore those).
    std::string_view cmd = PQcmdStatus(res);
    if (cmd.starts_with("INSERT") || cmd.starts_with("UPDATE") || cmd.starts_with("DELETE") ||
        cmd.starts_with("MERGE")) {
      const char* tuples = PQcmdTuples(res);
      out.affected = (tuples && *tuples) ? std::strtoll(tuples, nullptr, 10) : 0;
    }
    return out;
  }

  PoolOptions opt_;
  PGconn* conn_ = nullptr;
  bool broken_ = false;
  bool in_tx_ = false;
  bool commit_in_flight_ = false;        // a read-only COMMIT's answer not read yet (see settle())
  const char* pending_begin_ = nullptr;  // BEGIN statement not yet sent (see begin())
  std::unordered_map<std::string, Prepared> prepared_;
  uint64_t next_id_ = 0;
};

class PgDatabase final : public Database {
 public:
  PgDatabase(const std::string& url, const PoolOptions& opt) : opt_(opt) {
    int n = std::max(2, opt.readers);
    for (int i = 0; i < n; ++i) {
      all_.push_back(std::make_unique<PgConnection>(url, opt));
      free_.push_back(all_.back().get());
    }
  }

  Dialect dialect() const override { return Dialect::postgres; }

  void write(const std::function<void(Connection&)>& fn) override {
    run("BEGIN", fn, std::chrono::milliseconds(opt_.acquire_timeout_ms), false);
  }

  void read(const std::function<void(Connection&)>& fn) override {
    if (auto* unit = detail::open_unit(this)) return fn(*unit->conn);
    run("BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ", fn, std::chrono::milliseconds(opt_.acquire_timeout_ms),
        true);
  }

  // Autocommit: the statement alone, one round trip.
  void read_one(const std::function<void(Connection&)>& fn) override {
    if (auto* unit = detail::open_unit(this)) return fn(*unit->conn);
    Lease lease(*this, std::chrono::milliseconds(opt_.acquire_timeout_ms));
    detail::OneStatement one(*lease.c);
    try {
      fn(one);
    } catch (const TransientError&) {
      // A connection the server closed while it sat in the pool: nothing ran, try once more.
      if (lease.c->usable()) throw;
      lease.c->reconnect();
      one.reset();
      fn(one);
    }
  }

  bool ping() noexcept override {
    try {
      Lease lease(*this, std::chrono::milliseconds(std::min(opt_.acquire_timeout_ms, 2000)));
      try {
        return lease.c->query("SELECT 1").size() == 1;
      } catch (const TransientError&) {
        if (lease.c->usable()) throw;
        lease.c->reconnect();
        return lease.c->query("SELECT 1").size() == 1;
      }
    } catch (const std::exception& e) {
      spdlog::warn("postgres: ping failed: {}", e.what());
      return false;
    }
  }

 private:
  struct Lease {
    PgDatabase& db;
    PgConnection* c;
    Lease(PgDatabase& d, std::chrono::milliseconds timeout) : db(d), c(d.acquire(timeout)) {}
    ~Lease() { db.release(c); }
  };

  void run(const char* begin, const std::function<void(Connection&)>& fn, std::chrono::milliseconds timeout,
           bool read_only) {
    Lease lease(*this, timeout);
    PgConnection& c = *lease.c;
    try {
      c.begin(begin);
    } catch (const TransientError&) {
      // The server closed an idle connection (restart, failover, idle timeout): nothing has
      // run yet, so reconnecting and starting again is safe.
      if (c.usable()) throw;
      c.reconnect();
      c.begin(begin);
    }
    try {
      detail::UnitScope scope(this, &c, std::strcmp(begin, "BEGIN") == 0);
      fn(c);
    } catch (...) {
      c.rollback();
      throw;
    }
    c.commit(read_only);
  }

  PgConnection* acquire(std::chrono::milliseconds timeout) {
    PgConnection* c = nullptr;
    {
      std::unique_lock lk(mu_);
      if (!cv_.wait_for(lk, timeout, [&] { return !free_.empty(); }))
        throw TransientError("postgres: timed out waiting for a pooled connection");
      c = free_.back();
      free_.pop_back();
    }
    c->settle();
    if (!c->usable()) {
      try {
        c->reconnect();
      } catch (...) {
        release(c);
        throw;
      }
    }
    return c;
  }

  void release(PgConnection* c) {
    {
      std::lock_guard lk(mu_);
      // Healthy connections go to the back (reused first); broken ones to the front.
      if (c->usable())
        free_.push_back(c);
      else
        free_.insert(free_.begin(), c);
    }
    cv_.notify_one();
  }

  PoolOptions opt_;
  std::vector<std::unique_ptr<PgConnection>> all_;
  std::vector<PgConnection*> free_;
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace

std::string rewrite_placeholders(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  std::size_t i = 0, len = sql.size();
  auto copy_to = [&](std::size_t end) {
    out.append(sql.substr(i, end - i));
    i = end;
  };
  while (i < len) {
    char c = sql[i];
    if (c == '\'') {
      bool backslash = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !ident_char(sql[i - 2]));
      std::size_t j = i + 1;
      while (j < len) {
        if (backslash && sql[j] == '\\') {
          j += 2;
          continue;
        }
        if (sql[j] == '\'') {
          if (j + 1 < len && sql[j + 1] == '\'') {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      copy_to(std::min(len, j + 1));
    } else if (c == '"') {
      std::size_t j = i + 1;
      while (j < len) {
        if (sql[j] == '"') {
          if (j + 1 < len && sql[j + 1] == '"') {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      copy_to(std::min(len, j + 1));
    } else if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
      std::size_t j = sql.find('\n', i);
      copy_to(j == std::string_view::npos ? len : j + 1);
    } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
      int depth = 0;
      std::size_t j = i;
      while (j < len) {
        if (sql[j] == '/' && j + 1 < len && sql[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (sql[j] == '*' && j + 1 < len && sql[j + 1] == '/') {
          j += 2;
          if (--depth == 0) break;
        } else {
          ++j;
        }
      }
      copy_to(std::min(len, j));
    } else if (c == '$' && (i == 0 || !ident_char(sql[i - 1]))) {
      // Dollar quoting: $$...$$ or $tag$...$tag$ ($1 is a positional parameter: copy it).
      std::size_t j = i + 1;
      if (j < len && !(sql[j] >= '0' && sql[j] <= '9')) {
        while (j < len && ident_char(sql[j])) ++j;
        if (j < len && sql[j] == '$') {
          std::string_view tag = sql.substr(i, j - i + 1);
          std::size_t close = sql.find(tag, j + 1);
          copy_to(close == std::string_view::npos ? len : close + tag.size());
          continue;
        }
      }
      out.push_back(c);
      ++i;
    } else if (c == '?') {
      out.push_back('$');
      out += std::to_string(++n);
      ++i;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  if (count) *count = n;
  return out;
}

std::unique_ptr<Database> open(const std::string& url, const PoolOptions& options) {
  return std::make_unique<PgDatabase>(url, options);
}

}  // namespace taskhub::sql::postgres
