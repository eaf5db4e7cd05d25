// SqlIdempotencyStore on real databases with the embedded migrations: SQLite in memory and on
// file, and PostgreSQL when TASKHUB_TEST_POSTGRES_URL is set.
#include "services/idempotency/store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "adapters/sql_test_support.hpp"
#include "ports/migrations.hpp"

using namespace taskhub;
using namespace taskhub::idempotency;
using Kind = http::IdempotencyBegin::Kind;

namespace {

class IdempotencyStoreTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(*db_);
    store_ = std::make_unique<SqlIdempotencyStore>(*db_, clock_);
  }
  int64_t rows() {
    return db_->read_value([](sql::Connection& c) { return c.query("SELECT COUNT(*) FROM idempotency_keys")[0].i64(0); });
  }
  http::StoredResponse created(std::string body = R"({"id":"t1"})") {
    return {201, {{"Content-Type", "application/json"}, {"Location", "/api/v1/x/t1"}}, std::move(body)};
  }

  void TearDown() override {
    store_.reset();
    SqlBackendTest::TearDown();
  }

  ManualClock clock_;
  std::unique_ptr<SqlIdempotencyStore> store_;
};

TEST_P(IdempotencyStoreTest, FirstUseProceedsThenReplaysTheRecordedAnswer) {
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::proceed);
  store_->complete("u1", "k1", created());
  auto b = store_->begin("u1", "k1", "POST", "/a", "h1");
  ASSERT_EQ(b.kind, Kind::replay);
  EXPECT_EQ(b.response.status, 201);
  EXPECT_EQ(b.response.body, R"({"id":"t1"})");
  ASSERT_EQ(b.response.headers.size(), 2u);
  bool has_location = false;
  for (auto& [k, v] : b.response.headers)
    if (k == "Location") has_location = v == "/api/v1/x/t1";
  EXPECT_TRUE(has_location);
  EXPECT_EQ(rows(), 1);
}

TEST_P(IdempotencyStoreTest, SameKeyWithAnotherBodyPathOrMethodIsAMismatch) {
  ASSERT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::proceed);
  store_->complete("u1", "k1", created());
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h2").kind, Kind::mismatch);
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/b", "h1").kind, Kind::mismatch);
  EXPECT_EQ(store_->begin("u1", "k1", "PUT", "/a", "h1").kind, Kind::mismatch);
  // Still replayable with the original request.
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::replay);
}

TEST_P(IdempotencyStoreTest, KeysAreScopedPerUser) {
  ASSERT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::proceed);
  EXPECT_EQ(store_->begin("u2", "k1", "POST", "/a", "h2").kind, Kind::proceed);
  EXPECT_EQ(rows(), 2);
}

TEST_P(IdempotencyStoreTest, PendingIsInProgressUntilTheLeaseExpires) {
  ASSERT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::proceed);
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::in_progress);
  clock_.advance_ms(59'000);
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::in_progress);
  clock_.advance_ms(2'000);
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::proceed);  // takeover
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::in_progress);  // new lease
  // A pending key used with another body is still a mismatch.
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h9").kind, Kind::mismatch);
}

TEST_P(IdempotencyStoreTest, AbandonReleasesTheKey) {
  ASSERT_EQ(store_->begin("u1", "k1", "POST", "/a", "h1").kind, Kind::proceed);
  store_->abandon("u1", "k1");
  EXPECT_EQ(rows(), 0);
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h2").kind, Kind::proceed);
  // abandon() never deletes a completed answer.
  store_->complete("u1", "k1", created());
  store_->abandon("u1", "k1");
  EXPECT_EQ(store_->begin("u1", "k1", "POST", "/a", "h2").kind, Kind::replay);
}

TEST_P(IdempotencyStoreTest, OversizedAnswersReleaseTheKey) {
  StoreOptions opt;
  opt.max_body_bytes = 8;
  SqlIdempotencyStore small(*db_, clock_, opt);
  ASSERT_EQ(small.begin("u1", "k1", "POST", "/a", "h1").kind, Kind::proceed);
  small.complete("u1", "k1", created());
  EXPECT_EQ(rows(), 0);
}

TEST_P(IdempotencyStoreTest, NeitherTheKeyNorTheBodyIsStoredInClear) {
  const std::string secret = "thp_secret_token_value";
  ASSERT_EQ(store_->begin("u1", "client-key-123", "POST", "/a", "h1").kind, Kind::proceed);
  store_->complete("u1", "client-key-123", created(R"({"token":")" + secret + R"("})"));
  auto [stored_key, stored_body] = db_->read_value([](sql::Connection& c) {
    auto r = c.query("SELECT idem_key, response_body FROM idempotency_keys");
    return std::make_pair(r[0].str(0), r[0].str(1));
  });
  EXPECT_EQ(stored_key.find("client-key-123"), std::string::npos);
  EXPECT_EQ(stored_body.find(secret), std::string::npos);
  // Binary bodies survive the round trip too.
  ASSERT_EQ(store_->begin("u1", "bin", "POST", "/a", "h1").kind, Kind::proceed);
  store_->complete("u1", "bin", created(std::string("a\0b", 3)));
  auto b = store_->begin("u1", "bin", "POST", "/a", "h1");
  ASSERT_EQ(b.kind, Kind::replay);
  EXPECT_EQ(b.response.body, std::string("a\0b", 3));
  auto t = store_->begin("u1", "client-key-123", "POST", "/a", "h1");
  ASSERT_EQ(t.kind, Kind::replay);
  EXPECT_NE(t.response.body.find(secret), std::string::npos);
}

TEST_P(IdempotencyStoreTest, KeysExpireAfter24HoursAndAreCleanedUp) {
  ASSERT_EQ(store_->begin("u1", "old", "POST", "/a", "h1").kind, Kind::proceed);
  store_->complete("u1", "old", created());
  ASSERT_EQ(store_->begin("u1", "old2", "POST", "/a", "h1").kind, Kind::proceed);
  clock_.advance_ms(23LL * 3600 * 1000);
  ASSERT_EQ(store_->begin("u1", "new", "POST", "/a", "h1").kind, Kind::proceed);
  EXPECT_EQ(store_->cleanup(), 0);
  clock_.advance_ms(1LL * 3600 * 1000 + 1);
  // An expired key not yet cleaned up counts as unused, even with another body.
  EXPECT_EQ(store_->begin("u1", "old", "POST", "/a", "h2").kind, Kind::proceed);
  EXPECT_EQ(store_->cleanup(), 1);  // old2; "old" was renewed
  EXPECT_EQ(rows(), 2);
}

TEST_P(IdempotencyStoreTest, CleanupDeletesInBoundedBatches) {
  StoreOptions opt;
  opt.cleanup_batch = 3;
  opt.cleanup_max_batches = 2;
  SqlIdempotencyStore small(*db_, clock_, opt);
  for (int i = 0; i < 10; ++i) small.begin("u1", "k" + std::to_string(i), "POST", "/a", "h");
  clock_.advance_ms(25LL * 3600 * 1000);
  EXPECT_EQ(small.cleanup(), 6);
  EXPECT_EQ(small.cleanup(), 4);
  EXPECT_EQ(rows(), 0);
}

TEST_P(IdempotencyStoreTest, ConcurrentFirstUsesLetExactlyOneProceed) {
  if (!file_backed()) GTEST_SKIP() << "needs a database shared by several connections";
  std::atomic<int> proceeded{0}, busy{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&] {
      auto k = store_->begin("u1", "race", "POST", "/a", "h").kind;
      if (k == Kind::proceed) ++proceeded;
      if (k == Kind::in_progress) ++busy;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(proceeded, 1);
  EXPECT_EQ(busy, 7);
}

}  // namespace

TASKHUB_SQL_BACKENDS(IdempotencyStoreTest);
