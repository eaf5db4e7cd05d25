#include "app/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "adapters/sql_test_support.hpp"
#include "app/infra_modules.hpp"
#include "http/server.hpp"

namespace taskhub {
namespace {

TEST(Config, DefaultsAreUsableInDevelopment) {
  Config c = config_from_map({});
  EXPECT_EQ(c.env, Environment::development);
  EXPECT_EQ(c.port, 5000);
  EXPECT_EQ(c.database_url, "sqlite://./data/taskhub.db");
  EXPECT_GE(c.jwt_secret.size(), 32u);
}

TEST(Config, TaskPurgeDays) {
  EXPECT_EQ(config_from_map({}).task_purge_days, 30);
  EXPECT_EQ(config_from_map({{"TASK_PURGE_DAYS", "7"}}).task_purge_days, 7);
  EXPECT_THROW(config_from_map({{"TASK_PURGE_DAYS", "0"}}), std::runtime_error);
  EXPECT_THROW(config_from_map({{"TASK_PURGE_DAYS", "x"}}), std::runtime_error);
  EXPECT_EQ(config_from_map({}).event_retention_hours, 48);
  EXPECT_EQ(config_from_map({{"EVENT_RETENTION_HOURS", "24"}}).event_retention_hours, 24);
  EXPECT_THROW(config_from_map({{"EVENT_RETENTION_HOURS", "23"}}), std::runtime_error);  // replay needs 24 h
}

TEST(Config, WritePoolSizeByDatabase) {
  // SQLite groups waiting writes into one commit: a larger write pool; PostgreSQL runs writes
  // side by side, each waiting on the network and its WAL flush.
  const int sqlite = write_pool_size(config_from_map({{"DATABASE_URL", "sqlite:///tmp/x.db"}}));
  const int postgres = write_pool_size(config_from_map({{"DATABASE_URL", "postgres://u@h/db"}}));
  EXPECT_GE(sqlite, 8);
  EXPECT_EQ(sqlite, http::default_write_threads(true));
  EXPECT_EQ(postgres, http::default_write_threads(false));
  EXPECT_LT(postgres, sqlite);
  EXPECT_EQ(write_pool_size(config_from_map({{"DATABASE_URL", "postgres://u@h/db"}, {"WRITE_THREADS", "12"}})), 12);
  EXPECT_THROW(config_from_map({{"WRITE_THREADS", "-1"}}), std::runtime_error);
}

TEST(Config, SqliteSynchronous) {
  EXPECT_TRUE(config_from_map({}).sqlite_sync_every_commit);
  EXPECT_TRUE(config_from_map({{"SQLITE_SYNCHRONOUS", "full"}}).sqlite_sync_every_commit);
  EXPECT_FALSE(config_from_map({{"SQLITE_SYNCHRONOUS", "normal"}}).sqlite_sync_every_commit);
  try {
    config_from_map({{"SQLITE_SYNCHRONOUS", "off"}});
    FAIL() << "OFF can lose committed data on an OS crash and is not offered";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("SQLITE_SYNCHRONOUS"), std::string::npos);
  }
}

TEST(Config, EveryCommandOpensTheDatabaseWithTheConfiguredDurability) {
  const std::string dir = sql::testing::make_temp_dir();
  auto syncs_of_one_write = [&](const char* setting) {
    auto db = open_configured_database(config_from_map(
        {{"DATABASE_URL", "sqlite://" + dir + "/" + setting + ".db"}, {"SQLITE_SYNCHRONOUS", setting}}));
    const auto before = db->write_stats().wal_syncs;
    db->write([](sql::Connection& c) { c.exec("CREATE TABLE t (x)"); });
    return db->write_stats().wal_syncs - before;
  };
  EXPECT_EQ(syncs_of_one_write("full"), 1u);
  EXPECT_EQ(syncs_of_one_write("normal"), 0u);
  std::filesystem::remove_all(dir);
}

TEST(Config, S3Settings) {
  Config local = config_from_map({});
  EXPECT_TRUE(local.s3_bucket.empty());  // local disk
  Config aws = config_from_map({{"S3_BUCKET", "b"}, {"S3_REGION", "eu-west-3"}, {"AWS_ACCESS_KEY_ID", "AK"},
                                {"AWS_SECRET_ACCESS_KEY", "SK"}});
  EXPECT_EQ(aws.s3_bucket, "b");
  EXPECT_EQ(aws.s3_region, "eu-west-3");
  EXPECT_FALSE(aws.s3_path_style);  // AWS itself: virtual-host style
  Config compatible = config_from_map({{"S3_BUCKET", "b"}, {"S3_ENDPOINT", "http://127.0.0.1:9000"},
                                       {"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"}});
  EXPECT_TRUE(compatible.s3_path_style);
  EXPECT_EQ(compatible.s3_region, "us-east-1");
  EXPECT_FALSE(config_from_map({{"S3_BUCKET", "b"}, {"S3_ENDPOINT", "http://h"}, {"S3_PATH_STYLE", "false"},
                                {"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"}})
                   .s3_path_style);
  try {
    config_from_map({{"S3_BUCKET", "b"}, {"AWS_ACCESS_KEY_ID", "AK"}});
    FAIL() << "a bucket without a secret was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  }
}

TEST(Config, ProductionRefusesMissingSecret) {
  try {
    config_from_map({{"TASKHUB_ENV", "production"}});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("JWT_SECRET_KEY"), std::string::npos);
  }
}

TEST(Config, ProductionRefusesShortSecret) {
  EXPECT_THROW(config_from_map({{"TASKHUB_ENV", "production"}, {"JWT_SECRET_KEY", std::string(31, 'x')}}),
               std::runtime_error);
}

TEST(Config, ProductionRefusesTheDevelopmentDefault) {
  Config dev = config_from_map({});
  EXPECT_THROW(config_from_map({{"TASKHUB_ENV", "production"}, {"JWT_SECRET_KEY", dev.jwt_secret}}),
               std::runtime_error);
}

TEST(Config, ProductionAcceptsLongRandomSecret) {
  Config c = config_from_map({{"TASKHUB_ENV", "production"}, {"JWT_SECRET_KEY", std::string(48, 'k') + "Zq9"}});
  EXPECT_TRUE(c.is_production());
}

TEST(Config, InvalidValuesNameTheVariable) {
  try {
    config_from_map({{"PORT", "eighty"}});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("PORT"), std::string::npos);
  }
  EXPECT_THROW(config_from_map({{"TASKHUB_ENV", "prod"}}), std::runtime_error);
  EXPECT_THROW(config_from_map({{"PORT", "70000"}}), std::runtime_error);
}

TEST(Config, ListsAndTrailingSlash) {
  Config c = config_from_map({{"CORS_ORIGINS", " https://a.example, https://b.example ,"},
                              {"PUBLIC_URL", "https://tasks.example.com/"}});
  EXPECT_EQ(c.cors_origins, (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(c.public_url, "https://tasks.example.com");
}

TEST(Config, DotenvParsing) {
  std::string path = ::testing::TempDir() + "/taskhub_test.env";
  {
    std::ofstream out(path);
    out << "# comment\n\nexport PORT=6000\nMAIL_FROM=\"taskhub <a@b.c>\"\nLOG_LEVEL='debug'\n";
  }
  auto m = read_dotenv(path);
  EXPECT_EQ(m["PORT"], "6000");
  EXPECT_EQ(m["MAIL_FROM"], "taskhub <a@b.c>");
  EXPECT_EQ(m["LOG_LEVEL"], "debug");
  std::remove(path.c_str());
  EXPECT_TRUE(read_dotenv("/nonexistent/.env").empty());
}

}  // namespace
}  // namespace taskhub
