// SQLite-specific behaviour (the shared behaviour is in adapters/sql_conformance_test.cpp).
#include "adapters/sqlite/sqlite_database.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <future>
#include <thread>
#include <unistd.h>

#include <filesystem>

#include "adapters/sql_test_support.hpp"

namespace taskhub::sql {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::make_temp_dir(); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(SqliteTest, AbsolutePathUsesWal) {
  auto db = open_database("sqlite://" + dir_ + "/sub/dir/a.db");
  EXPECT_EQ(db->dialect(), Dialect::sqlite);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/sub/dir/a.db"));
  db->read([](Connection& c) {
    EXPECT_EQ(c.query("PRAGMA journal_mode").first()->str(0), "wal");
    EXPECT_EQ(c.query("PRAGMA foreign_keys").first()->i64(0), 1);
  });
}

// An acknowledged write must survive a power loss: by default write() returns only after an
// fdatasync of the WAL that covers its commit; with sync_every_commit=false none is made.
TEST_F(SqliteTest, CommitsAreSyncedBeforeTheyAreAcknowledgedUnlessToldOtherwise) {
  auto run = [&](const char* name, bool sync) {
    PoolOptions opt;
    opt.sync_every_commit = sync;
    auto db = open_database("sqlite://" + dir_ + "/" + name, opt);
    db->write([](Connection& c) { c.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"); });
    const auto before = db->write_stats();
    for (int i = 0; i < 20; ++i) db->write([&](Connection& c) { c.exec("INSERT INTO t (v) VALUES ('x')"); });
    db->write([](Connection&) {});  // wrote nothing: nothing to sync
    const auto after = db->write_stats();
    EXPECT_EQ(after.commits - before.commits, 20u);
    // The COMMIT itself does not fsync (the sync happens after it, outside the write lock).
    db->write([](Connection& c) { EXPECT_EQ(c.query("PRAGMA synchronous").first()->i64(0), 1); });
    return after.wal_syncs - before.wal_syncs;
  };
  // One after another, each write's commit needs its own sync before it returns.
  EXPECT_EQ(run("full.db", true), 20u);
  EXPECT_EQ(run("normal.db", false), 0u);
}

// Connection::before_commit: a staging table filled by many units is flushed once per
// transaction, after every unit of a group commit, before COMMIT.
TEST_F(SqliteTest, BeforeCommitRunsOncePerTransactionAfterItsUnits) {
  auto db = open_database("sqlite://" + dir_ + "/staging.db");
  db->write([](Connection& c) {
    c.exec_script("CREATE TABLE staged (k INTEGER PRIMARY KEY); CREATE TABLE flushed (k INTEGER PRIMARY KEY); "
                  "CREATE TABLE flushes (n INTEGER NOT NULL, rows INTEGER NOT NULL)");
  });
  auto flush = [](Connection& c) {
    const int64_t n = c.query("SELECT count(*) FROM staged").first()->i64(0);
    c.exec("INSERT INTO flushes (n, rows) VALUES (1, ?)", {n});
    c.exec("INSERT INTO flushed (k) SELECT k FROM staged");
    c.exec("DELETE FROM staged");
  };
  const auto before = db->write_stats();
  constexpr int kThreads = 8, kWrites = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i)
        db->write([&](Connection& c) {
          c.exec("INSERT INTO staged (k) VALUES (?)", {int64_t{t * 1000 + i}});
          c.before_commit("flush", flush);
          c.before_commit("flush", flush);  // the same key twice: still one flush
        });
    });
  for (auto& th : threads) th.join();
  const auto after = db->write_stats();
  db->read([&](Connection& c) {
    EXPECT_EQ(c.query("SELECT count(*) FROM staged").first()->i64(0), 0);
    EXPECT_EQ(c.query("SELECT count(*) FROM flushed").first()->i64(0), kThreads * kWrites);
    const int64_t flushes = c.query("SELECT count(*) FROM flushes").first()->i64(0);
    EXPECT_EQ(static_cast<uint64_t>(flushes), after.commits - before.commits);  // one per transaction
    EXPECT_EQ(c.query("SELECT count(*) FROM flushes WHERE rows = 0").first()->i64(0), 0);
  });
}

TEST_F(SqliteTest, AFailingBeforeCommitRollsTheTransactionBack) {
  auto db = open_database("sqlite://" + dir_ + "/staging_fail.db");
  db->write([](Connection& c) { c.exec("CREATE TABLE t (k INTEGER PRIMARY KEY)"); });
  EXPECT_THROW(db->write([](Connection& c) {
    c.exec("INSERT INTO t (k) VALUES (1)");
    c.before_commit("bad", [](Connection& cc) { cc.exec("INSERT INTO t (k) VALUES (1)"); });  // duplicate key
  }),
               Error);
  // Nothing of it stands, and the next transaction does not inherit the registration.
  db->write([](Connection& c) { c.exec("INSERT INTO t (k) VALUES (2)"); });
  EXPECT_EQ(db->read_value([](Connection& c) { return c.query("SELECT group_concat(k) FROM t").first()->str(0); }),
            "2");
}

TEST_F(SqliteTest, ConcurrentCommitsShareTheirSyncs) {
  auto db = open_database("sqlite://" + dir_ + "/shared.db");
  db->write([](Connection& c) { c.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"); });
  const auto before = db->write_stats();
  constexpr int kThreads = 8, kWrites = 40;
  std::vector<std::thread> threads;
  std::atomic<int> acknowledged{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kWrites; ++i) {
        db->write([](Connection& c) { c.exec("INSERT INTO t (v) VALUES ('x')"); });
        ++acknowledged;
      }
    });
  for (auto& t : threads) t.join();
  const auto after = db->write_stats();
  EXPECT_EQ(acknowledged.load(), kThreads * kWrites);
  EXPECT_EQ(after.units - before.units, static_cast<uint64_t>(kThreads * kWrites));
  const uint64_t syncs = after.wal_syncs - before.wal_syncs;
  EXPECT_GE(syncs, 1u);
  EXPECT_LE(syncs, after.commits - before.commits);  // never more than one per commit
  EXPECT_EQ(db->read_value([](Connection& c) { return c.query("SELECT count(*) FROM t").first()->i64(0); }),
            kThreads * kWrites);
}

TEST_F(SqliteTest, RelativePathIsRelativeToCwd) {
  auto old = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  {
    auto db = open_database("sqlite://rel/x.db");
    db->write([](Connection& c) { c.exec_script("CREATE TABLE t (x)"); });
    auto db2 = open_database("sqlite://./rel/x.db");
    EXPECT_TRUE(db2->read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM t").first()->i64(0); }) == 0);
  }
  std::filesystem::current_path(old);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/rel/x.db"));
}

TEST_F(SqliteTest, MemoryDatabasesArePrivate) {
  auto a = open_database("sqlite::memory:");
  auto b = open_database("sqlite::memory:");
  a->write([](Connection& c) { c.exec_script("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);"); });
  EXPECT_EQ(a->read_value([](Connection& c) { return c.query("SELECT x FROM t").first()->i64(0); }), 1);
  EXPECT_THROW(b->read([](Connection& c) { c.query("SELECT x FROM t"); }), Error);
}

TEST_F(SqliteTest, ForeignKeysAreEnforced) {
  auto db = open_database("sqlite://" + dir_ + "/fk.db");
  db->write([](Connection& c) {
    c.exec_script("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE ch (id INTEGER PRIMARY KEY, "
                  "p INTEGER REFERENCES p(id));");
  });
  EXPECT_THROW(db->write([](Connection& c) { c.exec("INSERT INTO ch (id, p) VALUES (1, 42)"); }), Error);
}

TEST_F(SqliteTest, StatementCacheReusesPreparedStatements) {
  auto db = open_database("sqlite://" + dir_ + "/cache.db");
  db->write([](Connection& c) {
    c.exec_script("CREATE TABLE t (id INTEGER PRIMARY KEY)");
    auto before = sqlite::statement_stats(c);
    for (int i = 0; i < 100; ++i) c.exec("INSERT INTO t (id) VALUES (?)", {i});
    auto after = sqlite::statement_stats(c);
    EXPECT_EQ(after.prepared - before.prepared, 1u);
    EXPECT_EQ(after.cache_hits - before.cache_hits, 99u);
    for (int i = 0; i < 400; ++i) c.query("SELECT " + std::to_string(i));
    EXPECT_LE(sqlite::statement_stats(c).cached, 256u);
  });
}

TEST_F(SqliteTest, BusyWriterFromAnotherProcessIsTransient) {
  sql::PoolOptions opt;
  opt.busy_timeout_ms = 100;
  auto a = open_database("sqlite://" + dir_ + "/busy.db", opt);
  auto b = open_database("sqlite://" + dir_ + "/busy.db", opt);
  a->write([](Connection& c) { c.exec_script("CREATE TABLE t (x)"); });
  a->write([&](Connection&) {
    // a holds the write lock; b (another "process") times out with a retryable error.
    EXPECT_THROW(b->write([](Connection& c) { c.exec("INSERT INTO t VALUES (1)"); }), TransientError);
  });
}

TEST_F(SqliteTest, ReaderPoolTimeoutIsTransient) {
  sql::PoolOptions opt;
  opt.readers = 1;
  opt.acquire_timeout_ms = 50;
  auto db = open_database("sqlite://" + dir_ + "/pool.db", opt);
  // The only reader is held by another thread (a nested read on the same thread would join it).
  std::promise<void> holding, done;
  std::thread holder([&] {
    db->read([&](Connection&) {
      holding.set_value();
      done.get_future().wait();
    });
  });
  holding.get_future().wait();
  EXPECT_THROW(db->read([](Connection&) {}), TransientError);
  done.set_value();
  holder.join();
}

TEST_F(SqliteTest, NestedReadJoinsTheOpenUnit) {
  sql::PoolOptions opt;
  opt.readers = 1;
  opt.acquire_timeout_ms = 50;
  auto db = open_database("sqlite://" + dir_ + "/nested.db", opt);
  db->write([](Connection& c) { c.exec("CREATE TABLE t (x INTEGER)"); });
  // Inside a write, a read sees the write's own uncommitted rows (same connection)...
  db->write([&](Connection& w) {
    w.exec("INSERT INTO t VALUES (1)");
    EXPECT_EQ(db->read_value([](Connection& r) { return r.query("SELECT count(*) FROM t").first()->i64(0); }), 1);
  });
  // ...and inside a read, a read needs no second pooled connection (the pool has one).
  db->read([&](Connection& outer) {
    db->read([&](Connection& inner) { EXPECT_EQ(&inner, &outer); });
  });
  // A failed write rolls back what the joined read saw.
  EXPECT_THROW(db->write([&](Connection& w) {
    w.exec("INSERT INTO t VALUES (2)");
    db->read([](Connection&) { throw std::runtime_error("x"); });
  }),
               std::runtime_error);
  EXPECT_EQ(db->read_value([](Connection& r) { return r.query("SELECT count(*) FROM t").first()->i64(0); }), 1);
}

TEST_F(SqliteTest, GroupCommitKeepsEachWriteAllOrNothing) {
  // Many threads write at once, so the writer groups units into shared transactions; every
  // third unit fails after inserting. Each failed unit must leave nothing, each successful one
  // everything, whatever group it shared.
  auto db = open_database("sqlite://" + dir_ + "/group.db");
  db->write([](Connection& c) { c.exec("CREATE TABLE g (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"); });
  constexpr int kThreads = 8, kPerThread = 60;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int k = t * 1000 + i;
        try {
          db->write([&](Connection& c) {
            c.exec("INSERT INTO g (k, v) VALUES (?, 'a')", {k});
            c.exec("INSERT INTO g (k, v) VALUES (?, 'b')", {k + 100000});
            if (k % 3 == 0) throw std::runtime_error("unit fails");
            if (k % 3 == 1) {
              // A failed statement the unit swallows still fails the unit (as on PostgreSQL).
              try {
                c.exec("INSERT INTO g (k, v) VALUES (?, NULL)", {k + 200000});
              } catch (const Error&) {
              }
            }
          });
          ++ok;
        } catch (const std::runtime_error& e) {
          ++failed;
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 0 + (kThreads * kPerThread) / 3);
  const auto rows = db->read_value([](Connection& c) { return c.query("SELECT k FROM g WHERE k < 100000 ORDER BY k"); });
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].i64(0) % 3, 2) << rows[i].i64(0);
  EXPECT_EQ(static_cast<int>(rows.size()), ok.load());
  EXPECT_EQ(db->read_value([](Connection& c) { return c.query("SELECT count(*) FROM g").first()->i64(0); }),
            2 * ok.load());
}

TEST_F(SqliteTest, BackgroundCheckpointsFollowWalGrowthNotCommits) {
  // A reader that keeps its snapshot open stops the WAL from being restarted, as a steady load
  // does, so the WAL stays past the 1000-page threshold. The background checkpointer must still
  // run about once per 1000 new pages (here ~2 pages per commit, ~4000 in all), not on every
  // commit (it ran 1170 times here before: two fdatasyncs each).
  const std::string path = dir_ + "/ckpt.db";
  auto db = open_database("sqlite://" + path);
  db->write([](Connection& c) { c.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)"); });
  sqlite3* pin = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &pin, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(pin, "BEGIN; SELECT count(*) FROM t;", nullptr, nullptr, nullptr), SQLITE_OK);
  const std::string blob(3000, 'x');  // a page of its own per row
  constexpr int kCommits = 2000;
  for (int i = 0; i < kCommits; ++i) db->write([&](Connection& c) { c.exec("INSERT INTO t (v) VALUES (?)", {blob}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the checkpointer handles its last wake-up
  const auto stats = sqlite::checkpoint_stats(*db);
  EXPECT_GE(stats.background, 2u);  // it did run: the WAL passed 1000 pages several times
  EXPECT_LE(stats.background, 8u);
  EXPECT_EQ(stats.by_writer, 0u);  // far from the 16000-page back-pressure
  sqlite3_exec(pin, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(pin);
  EXPECT_EQ(db->read_value([](Connection& c) { return c.query("SELECT count(*) FROM t").first()->i64(0); }), kCommits);
}

TEST_F(SqliteTest, WriteStatsCountCommitsAndTheirWalPages) {
  const std::string path = dir_ + "/stats.db";
  auto db = open_database("sqlite://" + path);
  db->write([](Connection& c) { c.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)"); });
  const auto before = db->write_stats();
  EXPECT_GE(before.commits, 1u);  // the migrations and the CREATE TABLE
  const std::string blob(3000, 'x');  // a page of its own per row, plus the table's leaf
  constexpr uint64_t kCommits = 50;
  for (uint64_t i = 0; i < kCommits; ++i)
    db->write([&](Connection& c) { c.exec("INSERT INTO t (v) VALUES (?)", {blob}); });
  db->read([](Connection& c) { c.query("SELECT count(*) FROM t"); });  // reads append nothing
  db->write([](Connection&) {});                                       // nor does an empty unit
  const auto after = db->write_stats();
  EXPECT_EQ(after.commits - before.commits, kCommits);
  // Each insert writes its row's page and the rowid b-tree's page(s) it hangs from.
  EXPECT_GE(after.wal_pages - before.wal_pages, 2 * kCommits);
  EXPECT_LE(after.wal_pages - before.wal_pages, 4 * kCommits);
  const auto ck = sqlite::checkpoint_stats(*db);
  EXPECT_EQ(after.checkpoints, ck.background + ck.by_writer);
  EXPECT_EQ(after.units - before.units, kCommits + 1);  // units count the empty one too
  EXPECT_GT(after.writer_busy_ns, before.writer_busy_ns);
  // A failed unit is not a committed one, and the writer's time still counts.
  EXPECT_THROW(db->write([](Connection& c) { c.exec("INSERT INTO t (k, v) VALUES (1, 'dup')"); }), Error);
  const auto failed = db->write_stats();
  EXPECT_EQ(failed.units, after.units);
  EXPECT_GT(failed.writer_busy_ns, after.writer_busy_ns);
  EXPECT_EQ(open_database("sqlite::memory:")->write_stats().commits, 0u);  // no WAL, nothing counted
}

TEST_F(SqliteTest, NestedWriteIsAnError) {
  auto db = open_database("sqlite::memory:");
  EXPECT_THROW(db->write([&](Connection&) { db->write([](Connection&) {}); }), Error);
  db->write([](Connection& c) { c.query("SELECT 1"); });  // still usable
}

TEST_F(SqliteTest, MultipleStatementsNeedExecScript) {
  auto db = open_database("sqlite::memory:");
  EXPECT_THROW(db->write([](Connection& c) { c.query("SELECT 1; SELECT 2"); }), Error);
}

TEST(SqlUrl, UnknownSchemeDoesNotLeakCredentials) {
  try {
    open_database("mysql://user:hunter2@db/x");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
    EXPECT_NE(m.find("mysql"), std::string::npos) << m;
  }
  EXPECT_THROW(open_database(""), Error);
  EXPECT_THROW(open_database("sqlite://"), Error);
}

TEST(SqlRow, Conversions) {
  std::vector<Value> cells = {int64_t{5}, std::string("12"), std::string("t"), std::string("false"), 2.5,
                              std::monostate{}, Blob{"ab"}, std::string("1.25"), int64_t{0}, true};
  Row r(&cells);
  EXPECT_EQ(r.i64(0), 5);
  EXPECT_EQ(r.i64(1), 12);
  EXPECT_TRUE(r.boolean(2));
  EXPECT_FALSE(r.boolean(3));
  EXPECT_EQ(r.f64(4), 2.5);
  EXPECT_EQ(r.f64(0), 5.0);
  EXPECT_EQ(r.f64(7), 1.25);
  EXPECT_EQ(r.str(0), "5");
  EXPECT_EQ(r.str(4), "2.5");
  EXPECT_EQ(r.str(6), "ab");
  EXPECT_FALSE(r.boolean(8));
  EXPECT_TRUE(r.boolean(9));
  EXPECT_TRUE(r.is_null(5));
  EXPECT_THROW(r.i64(5), Error);
  EXPECT_THROW(r.str(5), Error);
  EXPECT_THROW(r.i64(2), Error);
  EXPECT_THROW(r.i64(99), Error);
  EXPECT_EQ(r.opt_i64(5), std::nullopt);
  EXPECT_EQ(r.opt_i64(1), 12);
  EXPECT_EQ(r.opt_str(5), std::nullopt);
  EXPECT_STREQ(dialect_name(Dialect::postgres), "postgres");
  EXPECT_STREQ(dialect_name(Dialect::sqlite), "sqlite");
}

}  // namespace
}  // namespace taskhub::sql
