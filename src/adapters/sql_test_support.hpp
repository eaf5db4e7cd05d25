#pragma once
// Test-only: a fixture that runs the same SQL behaviour tests on every backend.
//   "sqlite-file"    a temporary file database (WAL)
//   "sqlite-memory"  sqlite::memory:
//   "postgres"       TASKHUB_TEST_POSTGRES_URL (skipped when unset); each test gets its own
//                    schema (search_path), dropped afterwards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "ports/sql.hpp"

namespace taskhub::sql::testing {

inline std::string postgres_test_url() {
  const char* u = std::getenv("TASKHUB_TEST_POSTGRES_URL");
  return u ? u : "";
}

inline std::string unique_suffix() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(rd() % 100000);
}

inline std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "taskhub-sqltest-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

class SqlBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    options_.readers = 4;
    options_.busy_timeout_ms = 10000;
    options_.acquire_timeout_ms = 10000;
    const std::string& backend = GetParam();
    if (backend == "postgres") {
      std::string base = postgres_test_url();
      if (base.empty()) GTEST_SKIP() << "set TASKHUB_TEST_POSTGRES_URL to run the PostgreSQL tests";
      schema_ = "taskhub_test_" + unique_suffix();
      admin_ = open_database(base, options_);
      admin_->write([&](Connection& c) { c.exec_script("CREATE SCHEMA " + schema_); });
      url_ = base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema_;
    } else if (backend == "sqlite-file") {
      dir_ = make_temp_dir();
      url_ = "sqlite://" + dir_ + "/test.db";
    } else {
      url_ = "sqlite::memory:";
    }
    db_ = open_database(url_, options_);
  }

  void TearDown() override {
    db_.reset();
    if (admin_) {
      try {
        admin_->write([&](Connection& c) { c.exec_script("DROP SCHEMA " + schema_ + " CASCADE"); });
      } catch (const std::exception& e) {
        ADD_FAILURE() << "dropping test schema: " << e.what();
      }
      admin_.reset();
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  bool pg() const { return GetParam() == "postgres"; }
  bool file_backed() const { return GetParam() != "sqlite-memory"; }
  const char* blob_type() const { return pg() ? "BYTEA" : "BLOB"; }
  // Another Database on the same data (file and PostgreSQL backends only).
  std::unique_ptr<Database> open_again() { return open_database(url_, options_); }

  Database& db() { return *db_; }

  PoolOptions options_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Database> admin_;
  std::string url_, dir_, schema_;
};

inline std::string backend_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

}  // namespace taskhub::sql::testing

#define TASKHUB_SQL_BACKENDS(Suite)                                                                      \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::Values("sqlite-file", "sqlite-memory", "postgres"), \
                           ::taskhub::sql::testing::backend_name)
