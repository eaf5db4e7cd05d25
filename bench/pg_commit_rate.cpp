// Baseline for "create task" on PostgreSQL (issue 3: "report the same on PostgreSQL"): the raw
// single-row commit rate of the same server, straight through libpq. The counterpart of
// bench/sqlite_commit_rate.cpp: a row shaped like a task, one prepared INSERT per transaction,
// one connection per thread. Each INSERT runs in autocommit, the cheapest way to commit one row
// (one round trip; BEGIN/INSERT/COMMIT would be three).
//
// Usage: pg_commit_rate CONNINFO_OR_URL [SECONDS=5] [THREADS=1]
// Prints one line: "commits/s=<rate> rows=<n> seconds=<s> threads=<t> synchronous_commit=<v>".
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "commit_rate_row.hpp"

namespace {

using Conn = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using Res = std::unique_ptr<PGresult, decltype(&PQclear)>;

Conn connect(const std::string& url) {
  Conn c(PQconnectdb(url.c_str()), &PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(std::string("connect: ") + PQerrorMessage(c.get()));
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);  // "already exists, skipping"
  return c;
}

Res check(PGconn* c, PGresult* r, const char* what) {
  Res res(r, &PQclear);
  const auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    throw std::runtime_error(std::string(what) + ": " + PQerrorMessage(c));
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CONNINFO_OR_URL [SECONDS=5] [THREADS=1]\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  const double seconds = argc > 2 ? std::atof(argv[2]) : 5.0;
  const int threads = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  try {
    std::string sync;
    {
      Conn c = connect(url);
      check(c.get(),
            PQexec(c.get(),
                   "CREATE TABLE IF NOT EXISTS bench_rows (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, "
                   "number BIGINT NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL, priority INTEGER NOT NULL, "
                   "created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
                   "CREATE INDEX IF NOT EXISTS bench_rows_project_idx ON bench_rows (project_id, created_at);"),
            "create table");
      Res r = check(c.get(), PQexec(c.get(), "SHOW synchronous_commit"), "show");
      sync = PQgetvalue(r.get(), 0, 0);
    }
    std::atomic<long long> total{0};
    std::atomic<bool> stop{false}, failed{false};
    auto worker = [&](int tid) {
      Conn c = connect(url);
      check(c.get(),
            PQprepare(c.get(), "ins",
                      "INSERT INTO bench_rows (id, project_id, number, title, description, priority, created_at, "
                      "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      8, nullptr),
            "prepare");
      // Seeded apart per run too: a second run on the same table must not repeat ids.
      std::mt19937_64 rng(std::random_device{}() ^ (static_cast<unsigned long long>(tid) * 7919 + 1));
      const std::string project = bench::fake_id(rng);
      const std::string& title = bench::kTitle;
      const std::string& desc = bench::kDescription;
      long long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string id = bench::fake_id(rng);
        const std::string number = std::to_string(n + 1);
        const std::string priority = std::to_string(n % 5);
        const std::string now = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::system_clock::now().time_since_epoch())
                                                   .count());
        const char* values[8] = {id.c_str(), project.c_str(), number.c_str(), title.c_str(),
                                 desc.c_str(), priority.c_str(), now.c_str(), now.c_str()};
        check(c.get(), PQexecPrepared(c.get(), "ins", 8, values, nullptr, nullptr, 0), "insert");
        ++n;
      }
      total += n;
    };
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i)
      ts.emplace_back([&, i] {
        try {
          worker(i);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "pg_commit_rate: thread %d: %s\n", i, e.what());
          failed = true;
        }
      });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : ts) t.join();
    if (failed) return 1;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("commits/s=%.0f rows=%lld seconds=%.2f threads=%d synchronous_commit=%s\n",
                static_cast<double>(total.load()) / el, total.load(), el, threads, sync.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pg_commit_rate: %s\n", e.what());
    return 1;
  }
  return 0;
}
