#include "app/seed.hpp"

#include <gtest/gtest.h>

#include "ports/migrations.hpp"
#include "services/auth/password.hpp"
#include "services/auth/repository.hpp"

using namespace taskhub;

TEST(Seed, ParsesOptionsAndRejectsBadOnes) {
  auto o = seed::parse_seed_args({"--users", "25", "--password", "long-enough-1", "--email-prefix", "Bench"});
  EXPECT_EQ(o.users, 25);
  EXPECT_EQ(o.password, "long-enough-1");
  EXPECT_EQ(o.email_prefix, "bench");
  EXPECT_THROW(seed::parse_seed_args({"--users", "-1"}), std::invalid_argument);
  EXPECT_THROW(seed::parse_seed_args({"--users", "3x"}), std::invalid_argument);
  EXPECT_THROW(seed::parse_seed_args({"--users"}), std::invalid_argument);
  EXPECT_THROW(seed::parse_seed_args({"--password", "short"}), std::invalid_argument);
  EXPECT_THROW(seed::parse_seed_args({"--domain", "a@b"}), std::invalid_argument);
  EXPECT_THROW(seed::parse_seed_args({"--what"}), std::invalid_argument);

  auto w = seed::parse_seed_args({"--tasks", "100000", "--projects", "10", "--comments-per-task", "3", "--seed", "9"});
  EXPECT_EQ(w.workspace.value_or(""), "Seed workspace");
  EXPECT_EQ(w.tasks, 100000);
  EXPECT_EQ(w.projects, 10);
  EXPECT_EQ(w.comments_per_task, 3);
  EXPECT_EQ(w.seed, 9u);
  EXPECT_EQ(seed::parse_seed_args({"--workspace", "Acme"}).workspace.value_or(""), "Acme");
  EXPECT_FALSE(seed::parse_seed_args({}).workspace.has_value());
  EXPECT_THROW(seed::parse_seed_args({"--projects", "0"}), std::invalid_argument);
  EXPECT_THROW(seed::parse_seed_args({"--workspace", ""}), std::invalid_argument);
}

TEST(Seed, UsersShareOneHashAndRerunsReuseThem) {
  auto db = sql::open_database("sqlite::memory:");
  sql::migrate(*db);
  ManualClock clock;
  seed::SeedOptions o;
  o.users = 5;
  o.batch = 2;
  o.password = "seed-pass-123";
  seed::SeedReport r1;
  auto users = seed::seed_users(*db, clock, o, r1);
  ASSERT_EQ(users.size(), 5u);
  EXPECT_EQ(r1.users_created, 5);
  EXPECT_EQ(users[0].email, "seed-user-000001@example.test");
  auto u = db->read_value([&](sql::Connection& c) { return auth::repo::find_user_by_email(c, users[4].email); });
  ASSERT_TRUE(u);
  EXPECT_TRUE(auth::PasswordHasher{}.verify(u->password_hash, "seed-pass-123"));

  o.users = 6;
  seed::SeedReport r2;
  auto again = seed::seed_users(*db, clock, o, r2);
  EXPECT_EQ(r2.users_created, 1);
  EXPECT_EQ(r2.users_existing, 5);
  EXPECT_EQ(again[2].id, users[2].id);
}
