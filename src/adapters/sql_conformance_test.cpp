// The SQL port's behaviour, run on SQLite (file and memory) and PostgreSQL.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <thread>

#include "adapters/sql_test_support.hpp"

namespace taskhub::sql {
namespace {

using testing::SqlBackendTest;

class SqlConformance : public SqlBackendTest {};

TEST_P(SqlConformance, RoundTripsEveryValueType) {
  db().write([&](Connection& c) {
    c.exec_script(std::string("CREATE TABLE vals (id INTEGER PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, t TEXT, "
                              "b BOOLEAN, bl ") +
                  blob_type() + ", n TEXT)");
  });
  const std::string binary("\x00\x01\xff\xfe\\x'\"\n", 9);
  const std::string text = "h\xc3\xa9llo 'w\"orld' ? \xe2\x9c\x93";
  db().write([&](Connection& c) {
    EXPECT_EQ(c.exec("INSERT INTO vals (id, i, d, t, b, bl, n) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     {1, std::numeric_limits<int64_t>::max(), 0.1, text, true, Blob{binary}, nullptr}),
              1);
    c.exec("INSERT INTO vals (id, i, d, t, b, bl, n) VALUES (?, ?, ?, ?, ?, ?, ?)",
           {2, std::numeric_limits<int64_t>::min(), -1.5e300, "", false, Blob{}, std::optional<std::string>{}});
    c.exec("INSERT INTO vals (id, i, d, t, b, bl, n) VALUES (?, ?, ?, ?, ?, ?, ?)",
           {3, -1, 1.0 / 3.0, std::string_view("sv"), true, Blob{"x"}, std::optional<std::string>{"set"}});
  });
  db().read([&](Connection& c) {
    auto r = c.query("SELECT id, i, d, t, b, bl, n FROM vals ORDER BY id");
    ASSERT_EQ(r.size(), 3u);
    ASSERT_EQ(r.columns.size(), 7u);
    EXPECT_EQ(r.columns[3], "t");
    auto a = r[0];
    EXPECT_EQ(a.i64(0), 1);
    EXPECT_EQ(a.i64(1), std::numeric_limits<int64_t>::max());
    EXPECT_EQ(a.f64(2), 0.1);
    EXPECT_EQ(a.str(3), text);
    EXPECT_TRUE(a.boolean(4));
    EXPECT_EQ(a.str(5), binary);
    EXPECT_TRUE(std::holds_alternative<Blob>(r.rows[0][5]));
    EXPECT_TRUE(a.is_null(6));
    EXPECT_EQ(a.opt_str(6), std::nullopt);
    EXPECT_EQ(a.opt_i64(6), std::nullopt);
    EXPECT_THROW(a.i64(6), Error);

    auto b = r[1];
    EXPECT_EQ(b.i64(1), std::numeric_limits<int64_t>::min());
    EXPECT_EQ(b.f64(2), -1.5e300);
    EXPECT_EQ(b.str(3), "");
    EXPECT_FALSE(b.is_null(3));
    EXPECT_FALSE(b.boolean(4));
    EXPECT_FALSE(b.is_null(5));
    EXPECT_EQ(b.str(5), "");
    EXPECT_TRUE(b.is_null(6));

    auto x = r[2];
    EXPECT_EQ(x.opt_i64(1), -1);
    EXPECT_EQ(x.f64(2), 1.0 / 3.0);
    EXPECT_EQ(x.opt_str(6), "set");
    EXPECT_EQ(x.str(5), "x");
    EXPECT_EQ(x.str(0), "3");
  });
}

TEST_P(SqlConformance, BlobParameterSelectsRow) {
  db().write([&](Connection& c) {
    c.exec_script(std::string("CREATE TABLE blobs (k ") + blob_type() + " PRIMARY KEY, v TEXT)");
    c.exec("INSERT INTO blobs (k, v) VALUES (?, ?)", {Blob{std::string("\x00\x10", 2)}, "zero"});
  });
  auto v = db().read_value([&](Connection& c) {
    return c.query("SELECT v FROM blobs WHERE k = ?", {Blob{std::string("\x00\x10", 2)}}).first()->str(0);
  });
  EXPECT_EQ(v, "zero");
}

TEST_P(SqlConformance, UniqueViolationIsTyped) {
  db().write([&](Connection& c) {
    c.exec_script("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)");
    c.exec("INSERT INTO users (id, email) VALUES (1, ?)", {"a@example.com"});
  });
  EXPECT_THROW(db().write([&](Connection& c) { c.exec("INSERT INTO users (id, email) VALUES (2, ?)", {"a@example.com"}); }),
               UniqueViolation);
  EXPECT_THROW(db().write([&](Connection& c) { c.exec("INSERT INTO users (id, email) VALUES (1, ?)", {"b@example.com"}); }),
               UniqueViolation);
  // Other constraint failures are plain errors.
  try {
    db().write([&](Connection& c) { c.exec("INSERT INTO users (id, email) VALUES (3, NULL)"); });
    FAIL() << "NOT NULL violation not reported";
  } catch (const UniqueViolation&) {
    FAIL() << "NOT NULL reported as a unique violation";
  } catch (const Error&) {
  }
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM users").first()->i64(0); }), 1);
}

TEST_P(SqlConformance, RollbackOnExceptionLeavesNothing) {
  db().write([&](Connection& c) { c.exec_script("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"); });
  EXPECT_THROW(db().write([&](Connection& c) {
    c.exec("INSERT INTO items (id, name) VALUES (1, 'a')");
    c.exec("INSERT INTO items (id, name) VALUES (2, 'b')");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM items").first()->i64(0); }), 0);
  // The connection is usable afterwards.
  db().write([&](Connection& c) { c.exec("INSERT INTO items (id, name) VALUES (1, 'a')"); });
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM items").first()->i64(0); }), 1);
}

TEST_P(SqlConformance, FailedStatementAbortsTheTransaction) {
  // Same semantics on both engines: code that swallows a SQL error inside write() cannot
  // commit (PostgreSQL behaves so; SQLite is made to match).
  db().write([&](Connection& c) { c.exec_script("CREATE TABLE k (id INTEGER PRIMARY KEY)"); });
  db().write([&](Connection& c) { c.exec("INSERT INTO k (id) VALUES (1)"); });
  EXPECT_THROW(db().write([&](Connection& c) {
    c.exec("INSERT INTO k (id) VALUES (2)");
    try {
      c.exec("INSERT INTO k (id) VALUES (1)");
    } catch (const UniqueViolation&) {
    }
    c.exec("INSERT INTO k (id) VALUES (3)");
  }),
               Error);
  EXPECT_THROW(db().write([&](Connection& c) {
    c.exec("INSERT INTO k (id) VALUES (2)");
    try {
      c.exec("INSERT INTO k (id) VALUES (1)");
    } catch (const UniqueViolation&) {
    }
  }),
               Error);
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM k").first()->i64(0); }), 1);
}

TEST_P(SqlConformance, ReadersSeeCommittedWrites) {
  db().write([&](Connection& c) { c.exec_script("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"); });
  for (int i = 1; i <= 20; ++i) {
    db().write([&](Connection& c) { c.exec("INSERT INTO notes (id, body) VALUES (?, ?)", {i, "n" + std::to_string(i)}); });
    // Every reader connection of the pool must see it at once.
    for (int r = 0; r < 6; ++r)
      EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM notes").first()->i64(0); }), i);
  }
  EXPECT_EQ(db().read_value([](Connection& c) {
    return c.query("SELECT body FROM notes WHERE id = ?", {7}).first()->str(0);
  }),
            "n7");
}

TEST_P(SqlConformance, ReadIsASnapshotAndReadOnly) {
  db().write([&](Connection& c) {
    c.exec_script("CREATE TABLE snap (id INTEGER PRIMARY KEY)");
    c.exec("INSERT INTO snap (id) VALUES (1)");
  });
  if (file_backed()) {
    // While a read transaction is open, a concurrent commit is not visible to it.
    db().read([&](Connection& c) {
      EXPECT_EQ(c.query("SELECT COUNT(*) FROM snap").first()->i64(0), 1);
      std::thread t([&] { db().write([](Connection& w) { w.exec("INSERT INTO snap (id) VALUES (2)"); }); });
      t.join();
      EXPECT_EQ(c.query("SELECT COUNT(*) FROM snap").first()->i64(0), 1);
    });
    EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM snap").first()->i64(0); }), 2);
  }
  EXPECT_THROW(db().read([](Connection& c) { c.exec("INSERT INTO snap (id) VALUES (3)"); }), Error);
}

TEST_P(SqlConformance, ConcurrentWritersSerialize) {
  db().write([&](Connection& c) {
    c.exec_script("CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)");
    c.exec("INSERT INTO counter (id, n) VALUES (1, 0)");
    c.exec_script("CREATE TABLE log (id INTEGER PRIMARY KEY, who TEXT)");
  });
  constexpr int kThreads = 4, kPerThread = 50;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        try {
          db().write([&](Connection& c) {
            c.exec("UPDATE counter SET n = n + 1 WHERE id = 1");
            c.exec("INSERT INTO log (id, who) VALUES (?, ?)", {t * 1000 + i, "t" + std::to_string(t)});
          });
          // Readers run alongside the writers.
          db().read([](Connection& c) { c.query("SELECT n FROM counter WHERE id = 1"); });
        } catch (const std::exception& e) {
          ++errors;
          ADD_FAILURE() << e.what();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT n FROM counter").first()->i64(0); }),
            kThreads * kPerThread);
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM log").first()->i64(0); }),
            kThreads * kPerThread);
}

TEST_P(SqlConformance, AffectedRowsAndPlaceholders) {
  db().write([&](Connection& c) {
    c.exec_script("CREATE TABLE a (id INTEGER PRIMARY KEY, g INTEGER, s TEXT); "
                  "INSERT INTO a (id, g, s) VALUES (1, 1, 'x'); INSERT INTO a (id, g, s) VALUES (2, 1, 'y');"
                  "INSERT INTO a (id, g, s) VALUES (3, 2, 'z');");
  });
  db().write([&](Connection& c) {
    EXPECT_EQ(c.exec("UPDATE a SET s = ? WHERE g = ?", {"w", 1}), 2);
    EXPECT_EQ(c.exec("UPDATE a SET s = ? WHERE g = ?", {"w", 99}), 0);
    EXPECT_EQ(c.query("SELECT * FROM a").affected, 0);
    EXPECT_EQ(c.exec("DELETE FROM a WHERE id = ?", {3}), 1);
    // '?' inside literals, quoted identifiers and comments is not a placeholder.
    auto r = c.query("SELECT '?' AS \"q?\", s /* ? */ FROM a WHERE id = ? -- ?\n ORDER BY id", {1});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].str(0), "?");
    EXPECT_EQ(r.columns[0], "q?");
    EXPECT_EQ(r[0].str(1), "w");
    // RETURNING works on both (SQLite >= 3.35).
    auto ins = c.query("INSERT INTO a (id, g, s) VALUES (?, ?, ?) RETURNING id", {10, 3, "r"});
    EXPECT_EQ(ins.first()->i64(0), 10);
    EXPECT_EQ(ins.affected, 1);
  });
  EXPECT_THROW(db().read([](Connection& c) { c.query("SELECT * FROM a WHERE id = ? AND g = ?", {1}); }), Error);
  EXPECT_THROW(db().read([](Connection& c) { c.query("SELECT * FROM no_such_table"); }), Error);
}

TEST_P(SqlConformance, StatementsAreReused) {
  db().write([&](Connection& c) { c.exec_script("CREATE TABLE r (id INTEGER PRIMARY KEY)"); });
  db().write([&](Connection& c) {
    for (int i = 0; i < 300; ++i) c.exec("INSERT INTO r (id) VALUES (?)", {i});
  });
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM r").first()->i64(0); }), 300);
  // More distinct statements than the cache holds still work (eviction).
  db().read([](Connection& c) {
    for (int i = 0; i < 600; ++i)
      EXPECT_EQ(c.query("SELECT " + std::to_string(i) + " + ?", {1}).first()->i64(0), i + 1);
  });
}

TEST_P(SqlConformance, PingAndValueHelpers) {
  EXPECT_TRUE(db().ping());
  EXPECT_EQ(db().write_value([](Connection& c) { return c.query("SELECT 41 + 1").first()->i64(0); }), 42);
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT 'x'").first()->str(0); }), "x");
  auto r = db().read_value([](Connection& c) { return c.query("SELECT 1 WHERE 1 = 0"); });
  EXPECT_TRUE(r.empty());
  EXPECT_FALSE(r.first().has_value());
}

TEST_P(SqlConformance, ReadOneRunsExactlyOneStatement) {
  db().write([](Connection& c) { c.exec("CREATE TABLE IF NOT EXISTS one_t (x INT)"); });
  db().write([](Connection& c) { c.exec("INSERT INTO one_t VALUES (1)"); });
  EXPECT_EQ(db().read_one_value([](Connection& c) { return c.query("SELECT count(*) FROM one_t").first()->i64(0); }), 1);
  // The contract: a second statement is a programming error, on every backend.
  EXPECT_THROW(db().read_one([](Connection& c) {
    c.query("SELECT 1");
    c.query("SELECT 2");
  }),
               std::logic_error);
  // Inside a write it joins the writer's unit (sees its uncommitted row), like read().
  db().write([&](Connection& c) {
    c.exec("INSERT INTO one_t VALUES (2)");
    EXPECT_EQ(db().read_one_value([](Connection& r) { return r.query("SELECT count(*) FROM one_t").first()->i64(0); }),
              2);
  });
  // Pooled connections stay usable after every kind of unit (reads end with a deferred COMMIT
  // on PostgreSQL).
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT count(*) FROM one_t").first()->i64(0); }), 2);
    EXPECT_EQ(db().read_one_value([](Connection& c) { return c.query("SELECT 3").first()->i64(0); }), 3);
    db().write([&](Connection& c) { c.exec("UPDATE one_t SET x = x WHERE x = 1"); });
  }
  db().write([](Connection& c) { c.exec("DROP TABLE one_t"); });
}

TEST_P(SqlConformance, BooleanParametersCompare) {
  db().write([&](Connection& c) {
    c.exec_script("CREATE TABLE flags (id INTEGER PRIMARY KEY, done BOOLEAN NOT NULL)");
    c.exec("INSERT INTO flags (id, done) VALUES (1, ?), (2, ?), (3, ?)", {true, false, true});
  });
  EXPECT_EQ(db().read_value([](Connection& c) {
    return c.query("SELECT COUNT(*) FROM flags WHERE done = ?", {true}).first()->i64(0);
  }),
            2);
}

TEST_P(SqlConformance, ScriptMayNotEndTheTransaction) {
  EXPECT_THROW(db().write([](Connection& c) { c.exec_script("CREATE TABLE early (id INTEGER); COMMIT;"); }), Error);
  // The next transaction works normally.
  db().write([](Connection& c) { c.exec_script("CREATE TABLE later (id INTEGER)"); });
  EXPECT_EQ(db().read_value([](Connection& c) { return c.query("SELECT COUNT(*) FROM later").first()->i64(0); }), 0);
}

TEST_P(SqlConformance, StringAggJoinsValuesAndSkipsNulls) {
  db().write([](Connection& c) {
    c.exec_script("CREATE TABLE agg (g INTEGER, v TEXT)");
    c.exec("INSERT INTO agg (g, v) VALUES (1, 'b'), (1, NULL), (1, 'a'), (1, 'c'), (2, NULL), (3, 'x')");
  });
  auto rows = db().read_value([](Connection& c) {
    return c.query("SELECT g, string_agg(v, ',') FROM agg GROUP BY g ORDER BY g");
  });
  ASSERT_EQ(rows.size(), 3u);
  // The order inside a group is unspecified on both engines: compare as a set.
  std::string joined = rows[0].str(1);
  std::vector<std::string> parts;
  for (std::size_t at = 0;;) {
    auto comma = joined.find(',', at);
    parts.push_back(joined.substr(at, comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  std::sort(parts.begin(), parts.end());
  EXPECT_EQ(parts, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(rows[1].is_null(1));  // only NULLs: NULL, as on PostgreSQL
  EXPECT_EQ(rows[2].str(1), "x");
  // No rows at all (a scalar subquery over nothing) is NULL too.
  EXPECT_TRUE(db().read_value([](Connection& c) {
    return c.query("SELECT (SELECT string_agg(v, ',') FROM agg WHERE g = 99)").first()->is_null(0);
  }));
}

TASKHUB_SQL_BACKENDS(SqlConformance);

}  // namespace
}  // namespace taskhub::sql
