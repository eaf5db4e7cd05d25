// Baseline for "create task vs raw SQLite commit rate" (issue 3): single-row INSERT
// transactions straight through sqlite3, with the PRAGMAs of src/adapters/sqlite (WAL,
// synchronous, foreign_keys, temp_store=MEMORY, cache_size, mmap_size), one connection,
// prepared statements reused, BEGIN IMMEDIATE ... COMMIT per row.
//
// Usage: sqlite_commit_rate DB_PATH [SECONDS=5] [THREADS=1] [SYNCHRONOUS=full|normal]
// SYNCHRONOUS is the server's SQLITE_SYNCHRONOUS (default full, as the server's): a baseline
// that does not fsync its commits is not the same job as a server that does.
// Prints one line: "commits/s=<rate> rows=<n> seconds=<s> threads=<t> synchronous=<s>".
// With THREADS > 1 each thread has its own connection and they contend for the one writer
// lock (busy_timeout 5000 ms), like concurrent HTTP handlers would without the adapter's
// single writer connection.
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "commit_rate_row.hpp"

namespace {

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw std::runtime_error(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(std::string(sql) + ": " + m);
  }
}

std::string g_synchronous = "full";

sqlite3* open_db(const std::string& path) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  check(sqlite3_open_v2(path.c_str(), &db, flags, nullptr), db, "open");
  sqlite3_busy_timeout(db, 5000);
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, ("PRAGMA synchronous=" + g_synchronous + ";").c_str());
  exec(db, "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;");
  exec(db, "PRAGMA cache_size=-16000;");
  exec(db, "PRAGMA mmap_size=268435456;");
  return db;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DB_PATH [SECONDS=5] [THREADS=1] [SYNCHRONOUS=full|normal]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const double seconds = argc > 2 ? std::atof(argv[2]) : 5.0;
  const int threads = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  if (argc > 4) g_synchronous = argv[4];
  if (g_synchronous != "full" && g_synchronous != "normal") {
    std::fprintf(stderr, "SYNCHRONOUS must be full or normal\n");
    return 2;
  }
  try {
    {
      sqlite3* db = open_db(path);
      exec(db,
           "CREATE TABLE IF NOT EXISTS bench_rows (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, "
           "number INTEGER NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL, priority INTEGER NOT NULL, "
           "created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
           "CREATE INDEX IF NOT EXISTS bench_rows_project_idx ON bench_rows (project_id, created_at);");
      sqlite3_close_v2(db);
    }
    std::atomic<long long> total{0};
    std::atomic<bool> stop{false};
    auto worker = [&](int tid) {
      sqlite3* db = open_db(path);
      sqlite3_stmt *begin = nullptr, *ins = nullptr, *commit = nullptr;
      check(sqlite3_prepare_v3(db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &begin, nullptr), db, "prepare");
      check(sqlite3_prepare_v3(db,
                               "INSERT INTO bench_rows (id, project_id, number, title, description, priority, "
                               "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               -1, SQLITE_PREPARE_PERSISTENT, &ins, nullptr),
            db, "prepare");
      check(sqlite3_prepare_v3(db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &commit, nullptr), db, "prepare");
      std::mt19937_64 rng(static_cast<unsigned long long>(tid) * 7919 + 1);
      const std::string project = bench::fake_id(rng);
      const std::string& title = bench::kTitle;
      const std::string& desc = bench::kDescription;
      long long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        std::string id = bench::fake_id(rng);
        auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        check(sqlite3_step(begin), db, "begin");
        sqlite3_reset(begin);
        sqlite3_bind_text(ins, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, project.data(), static_cast<int>(project.size()), SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, n + 1);
        sqlite3_bind_text(ins, 4, title.data(), static_cast<int>(title.size()), SQLITE_STATIC);
        sqlite3_bind_text(ins, 5, desc.data(), static_cast<int>(desc.size()), SQLITE_STATIC);
        sqlite3_bind_int(ins, 6, static_cast<int>(n % 5));
        sqlite3_bind_int64(ins, 7, now);
        sqlite3_bind_int64(ins, 8, now);
        check(sqlite3_step(ins), db, "insert");
        sqlite3_reset(ins);
        check(sqlite3_step(commit), db, "commit");
        sqlite3_reset(commit);
        ++n;
      }
      total += n;
      sqlite3_finalize(begin);
      sqlite3_finalize(ins);
      sqlite3_finalize(commit);
      sqlite3_close_v2(db);
    };
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    std::atomic<bool> failed{false};
    for (int i = 0; i < threads; ++i)
      ts.emplace_back([&, i] {
        try {
          worker(i);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "sqlite_commit_rate: thread %d: %s\n", i, e.what());
          failed = true;
          stop = true;
        }
      });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : ts) t.join();
    if (failed) return 1;
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("commits/s=%.0f rows=%lld seconds=%.2f threads=%d synchronous=%s\n",
                static_cast<double>(total.load()) / el, total.load(), el, threads, g_synchronous.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sqlite_commit_rate: %s\n", e.what());
    return 1;
  }
  return 0;
}
