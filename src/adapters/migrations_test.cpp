#include "ports/migrations.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "adapters/sql_test_support.hpp"
#include "app/embedded_resources.hpp"

namespace taskhub::sql {
namespace {

using embedded::MigrationFile;
using testing::SqlBackendTest;

class Migrations : public SqlBackendTest {
 protected:
  std::vector<MigrationFile> files() const {
    return {
        {"sqlite", "001_first.sql", "CREATE TABLE m1 (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"},
        {"postgres", "001_first.sql", "CREATE TABLE m1 (id BIGINT PRIMARY KEY, name TEXT NOT NULL);"},
        {"sqlite", "002_second.sql",
         "CREATE TABLE m2 (id INTEGER PRIMARY KEY);\nCREATE INDEX m1_name ON m1 (name);\n"
         "INSERT INTO m1 (id, name) VALUES (1, 'seed');"},
        {"postgres", "002_second.sql",
         "CREATE TABLE m2 (id BIGINT PRIMARY KEY);\nCREATE INDEX m1_name ON m1 (name);\n"
         "INSERT INTO m1 (id, name) VALUES (1, 'seed');"},
    };
  }
  int64_t count(const std::string& sql) {
    return db().read_value([&](Connection& c) { return c.query(sql).first()->i64(0); });
  }
};

TEST_P(Migrations, AppliesOnceAndIsIdempotent) {
  auto before = migration_status(db(), files());
  EXPECT_EQ(before.latest_known, 2);
  EXPECT_EQ(before.latest_applied, 0);
  EXPECT_FALSE(before.up_to_date());

  auto applied = migrate(db(), files());
  EXPECT_EQ(applied, (std::vector<std::string>{"001_first.sql", "002_second.sql"}));
  EXPECT_TRUE(migrate(db(), files()).empty());
  EXPECT_TRUE(migrate(db(), files()).empty());

  auto st = migration_status(db(), files());
  EXPECT_EQ(st.latest_applied, 2);
  EXPECT_TRUE(st.up_to_date());
  EXPECT_EQ(count("SELECT COUNT(*) FROM m1"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), 2);
  EXPECT_GT(count("SELECT MIN(applied_at) FROM schema_migrations"), 1600000000000);
}

TEST_P(Migrations, AddsNewFilesLater) {
  auto f = files();
  std::vector<MigrationFile> first(f.begin(), f.begin() + 2);
  EXPECT_EQ(migrate(db(), first).size(), 1u);
  EXPECT_FALSE(migration_status(db(), f).up_to_date());
  EXPECT_EQ(migrate(db(), f), (std::vector<std::string>{"002_second.sql"}));
}

TEST_P(Migrations, FailedMigrationLeavesNothing) {
  auto f = files();
  f.push_back({"sqlite", "003_bad.sql", "CREATE TABLE m3 (id INTEGER PRIMARY KEY); INSERT INTO nowhere VALUES (1);"});
  f.push_back({"postgres", "003_bad.sql", "CREATE TABLE m3 (id INTEGER PRIMARY KEY); INSERT INTO nowhere VALUES (1);"});
  EXPECT_THROW(migrate(db(), f), Error);
  auto st = migration_status(db(), f);
  EXPECT_EQ(st.latest_applied, 2);
  EXPECT_EQ(st.latest_known, 3);
  // m3 was rolled back with the failed migration (DDL is transactional on both engines).
  auto tables = db().read_value([&](Connection& c) {
    return pg() ? c.query("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'm3' AND "
                          "table_schema = current_schema()")
                      .first()
                      ->i64(0)
                : c.query("SELECT COUNT(*) FROM sqlite_master WHERE name = 'm3'").first()->i64(0);
  });
  EXPECT_EQ(tables, 0);
}

TEST_P(Migrations, NewerDatabaseIsLeftAlone) {
  migrate(db(), files());
  db().write([](Connection& c) {
    c.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '099_future.sql', 0)");
  });
  EXPECT_TRUE(migrate(db(), files()).empty());
  auto st = migration_status(db(), files());
  EXPECT_EQ(st.latest_applied, 99);
  EXPECT_EQ(st.latest_known, 2);
  EXPECT_TRUE(st.up_to_date());
}

TEST_P(Migrations, RejectsDuplicateAndUnnumberedFiles) {
  auto f = files();
  f.push_back({dialect_name(db().dialect()), "002_again.sql", "SELECT 1;"});
  EXPECT_THROW(migrate(db(), f), Error);
  std::vector<MigrationFile> bad = {{dialect_name(db().dialect()), "init.sql", "SELECT 1;"}};
  EXPECT_THROW(migrate(db(), bad), Error);
  std::vector<MigrationFile> tx = {{dialect_name(db().dialect()), "001_tx.sql", "BEGIN;\nCREATE TABLE z (id INT);\ncommit;\n"}};
  EXPECT_THROW(migrate(db(), tx), Error);
  // Other dialects' files are ignored, even when broken.
  std::vector<MigrationFile> other = {{"oracle", "x.sql", "nonsense"}};
  EXPECT_TRUE(migrate(db(), other).empty());
}

TEST_P(Migrations, ConcurrentProcessesApplyEachFileOnce) {
  if (!file_backed()) GTEST_SKIP() << "needs a database shared by several Database objects";
  constexpr int kProcs = 4;
  std::vector<std::unique_ptr<Database>> dbs;
  for (int i = 0; i < kProcs; ++i) dbs.push_back(open_again());
  std::vector<std::vector<std::string>> results(kProcs);
  std::vector<std::string> errors(kProcs);
  std::vector<std::thread> threads;
  auto f = files();
  for (int i = 0; i < kProcs; ++i)
    threads.emplace_back([&, i] {
      try {
        results[i] = migrate(*dbs[i], f);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  std::size_t total = 0;
  for (int i = 0; i < kProcs; ++i) {
    EXPECT_EQ(errors[i], "") << "process " << i;
    total += results[i].size();
  }
  EXPECT_EQ(total, 2u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM m1"), 1);
}

TASKHUB_SQL_BACKENDS(Migrations);

}  // namespace
}  // namespace taskhub::sql
