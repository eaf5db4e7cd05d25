// PostgreSQL-specific behaviour (the shared behaviour is in adapters/sql_conformance_test.cpp,
// which runs on PostgreSQL when TASKHUB_TEST_POSTGRES_URL is set).
#include "adapters/postgres/postgres_database.hpp"

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "adapters/sql_test_support.hpp"

namespace taskhub::sql {
namespace {

using postgres::rewrite_placeholders;

TEST(PostgresPlaceholders, RewritesQuestionMarks) {
  int n = -1;
  EXPECT_EQ(rewrite_placeholders("SELECT * FROM t WHERE a = ? AND b IN (?, ?)", &n),
            "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)");
  EXPECT_EQ(n, 3);
  EXPECT_EQ(rewrite_placeholders("SELECT 1", &n), "SELECT 1");
  EXPECT_EQ(n, 0);
}

TEST(PostgresPlaceholders, SkipsLiteralsIdentifiersAndComments) {
  int n = -1;
  EXPECT_EQ(rewrite_placeholders("SELECT '?', 'it''s ?', \"col?\", \"a\"\"?\" FROM t WHERE x = ?", &n),
            "SELECT '?', 'it''s ?', \"col?\", \"a\"\"?\" FROM t WHERE x = $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(rewrite_placeholders("SELECT ? -- what?\n, ? /* why? /* nested? */ still? */ , ?", &n),
            "SELECT $1 -- what?\n, $2 /* why? /* nested? */ still? */ , $3");
  EXPECT_EQ(n, 3);
  EXPECT_EQ(rewrite_placeholders("SELECT E'\\'?', ?", &n), "SELECT E'\\'?', $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(rewrite_placeholders("SELECT $$ ? $$, $tag$ '? $tag$, ?", &n), "SELECT $$ ? $$, $tag$ '? $tag$, $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(rewrite_placeholders("SELECT a::text, ?::int", &n), "SELECT a::text, $1::int");
  EXPECT_EQ(n, 1);
  // Unterminated literal: copied as is.
  EXPECT_EQ(rewrite_placeholders("SELECT '?", &n), "SELECT '?");
  EXPECT_EQ(n, 0);
}

class PostgresTest : public testing::SqlBackendTest {};

TEST_P(PostgresTest, ReconnectsAfterTheServerDropsAConnection) {
  // Pool of two: the outer write holds one connection, the inner read gets the other.
  options_.readers = 2;
  db_ = open_again();
  // (A read nested in the write would join it: take the other connection from another thread.)
  auto other_thread_read = [&](auto fn) { return std::async(std::launch::async, [&] { return db().read_value(fn); }).get(); };
  db().write([&](Connection& a) {
    int64_t pid = other_thread_read([](Connection& b) { return b.query("SELECT pg_backend_pid()").first()->i64(0); });
    EXPECT_TRUE(a.query("SELECT pg_terminate_backend(?::int, 5000)", {pid}).first()->boolean(0));
  });
  // The killed connection is noticed with the unit's first statement (pipelined behind its
  // BEGIN) and re-established at once.
  db().write([&](Connection&) { other_thread_read([](Connection& r) { return r.query("SELECT 1").size(); }); });
  db().write([&](Connection&) {
    EXPECT_EQ(other_thread_read([](Connection& r) { return r.query("SELECT 7").first()->i64(0); }), 7);
  });
  EXPECT_TRUE(db().ping());
}

TEST_P(PostgresTest, DeferredReadCommitSettlesOnANewLeaseEvenAfterTheServerDroppedIt) {
  // A read unit's COMMIT answer is read on the connection's next lease. If the server killed
  // the connection meanwhile, that lease notices, re-opens it, and the next unit runs.
  options_.readers = 2;
  db_ = open_again();
  std::vector<int64_t> pids;
  auto other_thread = [&](auto fn) { return std::async(std::launch::async, fn).get(); };
  // Both pooled connections end a read unit (COMMIT in flight) and are then killed.
  db().read([&](Connection& a) {
    pids.push_back(a.query("SELECT pg_backend_pid()").first()->i64(0));
    other_thread([&] {
      db().read([&](Connection& b) { pids.push_back(b.query("SELECT pg_backend_pid()").first()->i64(0)); });
    });
  });
  ASSERT_EQ(pids.size(), 2u);
  ASSERT_NE(pids[0], pids[1]);
  std::unique_ptr<sql::Database> killer = open_again();
  for (int64_t pid : pids)
    killer->write([&](Connection& c) { c.query("SELECT pg_terminate_backend(?::int, 5000)", {pid}); });
  std::set<int64_t> used;  // the backends of this pool's read units (other tests share the database)
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(db().read_value([&](Connection& c) {
      used.insert(c.query("SELECT pg_backend_pid()").first()->i64(0));
      return c.query("SELECT 11").first()->i64(0);
    }),
              11);
    EXPECT_EQ(db().read_one_value([](Connection& c) { return c.query("SELECT 12").first()->i64(0); }), 12);
  }
  ASSERT_FALSE(used.empty());
  // The deferred COMMITs did run: none of these connections sits idle in a transaction (which
  // would hold back vacuum and keep an old snapshot).
  std::string in;
  for (int64_t pid : used) in += (in.empty() ? "" : ", ") + std::to_string(pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(killer->read_one_value([&](Connection& c) {
    return c.query("SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + in +
                   ") AND state LIKE 'idle in transaction%'")
        .first()
        ->i64(0);
  }),
            0);
}

TEST_P(PostgresTest, FirstStatementTravelsWithItsBegin) {
  // The first statement of a unit is pipelined behind BEGIN: it must still run inside the
  // transaction (a rollback undoes it), a failing first statement must leave the connection
  // usable, and the snapshot must hold across the unit's statements.
  db().write([](Connection& c) { c.exec("CREATE TABLE IF NOT EXISTS pipe_t (x INT)"); });
  EXPECT_THROW(db().write([](Connection& c) {
    c.exec("INSERT INTO pipe_t VALUES (1)");
    throw std::runtime_error("abort");
  }),
               std::runtime_error);
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT count(*) FROM pipe_t").first()->i64(0); }), 0);
  for (int i = 0; i < 3; ++i)  // every pooled connection sees a failed first statement
    EXPECT_THROW(db().read([](Connection& c) { c.query("SELECT * FROM no_such_table"); }), Error);
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT 5").first()->i64(0); }), 5);
  db().read([&](Connection& c) {
    int64_t before = c.query("SELECT count(*) FROM pipe_t").first()->i64(0);
    std::async(std::launch::async, [&] { db().write([](Connection& w) { w.exec("INSERT INTO pipe_t VALUES (2)"); }); })
        .get();
    EXPECT_EQ(c.query("SELECT count(*) FROM pipe_t").first()->i64(0), before);  // repeatable read
    EXPECT_EQ(c.query("SELECT current_setting('transaction_read_only')").first()->str(0), "on");
  });
  db().read([](Connection&) {});  // a unit with no statement sends nothing and ends cleanly
  db().write([](Connection& c) { c.exec("DROP TABLE pipe_t"); });
}

TEST_P(PostgresTest, NativeTypesComeBackReadable) {
  db().read([](Connection& c) {
    auto r = c.query("SELECT true, 1::smallint, 2::bigint, 1.5::float8, 'x'::text, NULL::int, '\\x0001'::bytea, "
                     "now() IS NOT NULL");
    auto row = *r.first();
    EXPECT_TRUE(row.boolean(0));
    EXPECT_EQ(row.i64(1), 1);
    EXPECT_EQ(row.i64(2), 2);
    EXPECT_EQ(row.f64(3), 1.5);
    EXPECT_EQ(row.str(4), "x");
    EXPECT_TRUE(row.is_null(5));
    EXPECT_EQ(row.str(6), std::string("\x00\x01", 2));
    EXPECT_TRUE(row.boolean(7));
    // An untyped parameter is inferred by the server.
    EXPECT_EQ(c.query("SELECT ? + 1", {41}).first()->i64(0), 42);
    EXPECT_EQ(c.query("SELECT ?::float8 * 2", {0.1}).first()->f64(0), 0.2);
  });
}

TEST_P(PostgresTest, LockTimeoutIsTransient) {
  db().write([](Connection& c) {
    c.exec_script("CREATE TABLE acct (id INT PRIMARY KEY, n INT); INSERT INTO acct VALUES (1, 0);");
  });
  // A lock wait longer than lock_timeout (busy_timeout_ms) is reported as retryable.
  options_.busy_timeout_ms = 100;
  auto impatient = open_again();
  db().write([&](Connection& c) {
    c.exec("UPDATE acct SET n = n + 1 WHERE id = 1");
    EXPECT_THROW(impatient->write([](Connection& w) { w.exec("UPDATE acct SET n = n + 1 WHERE id = 1"); }),
                 TransientError);
  });
}

TEST_P(PostgresTest, BadUrlFails) {
  EXPECT_THROW(open_database("postgres://nobody@127.0.0.1:1/none?connect_timeout=2"), Error);
}

INSTANTIATE_TEST_SUITE_P(Backends, PostgresTest, ::testing::Values("postgres"), testing::backend_name);

}  // namespace
}  // namespace taskhub::sql
