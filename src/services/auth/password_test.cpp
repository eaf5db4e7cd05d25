#include "services/auth/password.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "core/error.hpp"

namespace taskhub::auth {
namespace {

TEST(Password, HashIsArgon2idWithTheConfiguredCost) {
  PasswordHasher h;  // production parameters: t=2, m=19 MiB
  std::string hash = h.hash("correct horse battery staple");
  EXPECT_EQ(hash.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << hash;
  EXPECT_TRUE(h.verify(hash, "correct horse battery staple"));
  EXPECT_FALSE(h.verify(hash, "correct horse battery stapl"));
  EXPECT_FALSE(h.verify(hash, ""));
  EXPECT_FALSE(h.needs_rehash(hash));
  // Two hashes of one password differ (random salt).
  EXPECT_NE(hash, h.hash("correct horse battery staple"));
}

TEST(Password, NeedsRehashWhenParametersChange) {
  PasswordHasher cheap(HashParams{1, 8 * 1024});
  PasswordHasher normal;
  std::string old_hash = cheap.hash("password-1234");
  EXPECT_TRUE(cheap.verify(old_hash, "password-1234"));
  EXPECT_TRUE(normal.verify(old_hash, "password-1234"));  // still verifies...
  EXPECT_TRUE(normal.needs_rehash(old_hash));             // ...but should be upgraded
  EXPECT_FALSE(cheap.needs_rehash(old_hash));
}

TEST(Password, MalformedHashesNeverVerify) {
  PasswordHasher h(HashParams{1, 8 * 1024});
  EXPECT_FALSE(h.verify("", "x"));
  EXPECT_FALSE(h.verify("plain-text", "plain-text"));
  EXPECT_FALSE(h.verify("$argon2id$v=19$m=8,t=1,p=1$broken", "x"));
  EXPECT_FALSE(h.verify(std::string(500, 'a'), "x"));
  EXPECT_TRUE(h.needs_rehash("plain-text"));
  EXPECT_TRUE(h.needs_rehash(""));
}

TEST(Password, DummyHashHasCurrentParametersAndMatchesNothing) {
  PasswordHasher h;
  EXPECT_EQ(h.dummy_hash().rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u);
  EXPECT_FALSE(h.needs_rehash(h.dummy_hash()));
  EXPECT_FALSE(h.verify(h.dummy_hash(), "password"));
}

TEST(Password, LengthPolicyCountsCodePoints) {
  EXPECT_FALSE(password_problem("1234567").empty());
  EXPECT_TRUE(password_problem("12345678").empty());
  EXPECT_TRUE(password_problem(std::string(256, 'x')).empty());
  EXPECT_FALSE(password_problem(std::string(257, 'x')).empty());
  // 8 two-byte characters are 8 characters (16 bytes).
  std::string eight_umlauts;
  for (int i = 0; i < 8; ++i) eight_umlauts += "\xC3\xBC";
  EXPECT_TRUE(password_problem(eight_umlauts).empty());
  std::string seven_umlauts;
  for (int i = 0; i < 7; ++i) seven_umlauts += "\xC3\xBC";
  EXPECT_FALSE(password_problem(seven_umlauts).empty());
  // 256 three-byte characters are allowed (768 bytes).
  std::string long_cjk;
  for (int i = 0; i < 256; ++i) long_cjk += "\xE6\xBC\xA2";
  EXPECT_TRUE(password_problem(long_cjk).empty());
}

TEST(HashPool, RunsInlineBeforeStart) {
  HashPool pool(2, 4);
  auto id = pool.run([] { return std::this_thread::get_id(); });
  EXPECT_EQ(id, std::this_thread::get_id());
}

TEST(HashPool, RunsOnPoolThreadsAndPropagatesResultsAndErrors) {
  HashPool pool(2, 4);
  pool.start();
  auto id = pool.run([] { return std::this_thread::get_id(); });
  EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_EQ(pool.run([] { return 41 + 1; }), 42);
  EXPECT_THROW(pool.run([]() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
  pool.stop();
  pool.stop();  // idempotent
}

TEST(HashPool, FullQueueAnswers503) {
  HashPool pool(1, 1);
  pool.start();
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<bool> running{false};
  // Occupies the only thread...
  auto busy = std::async(std::launch::async, [&] {
    return pool.run([&] {
      running = true;
      gate.wait();
      return 1;
    });
  });
  while (!running) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // ...fills the one queue slot...
  auto queued = std::async(std::launch::async, [&] { return pool.run([] { return 2; }); });
  while (pool.queued() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // ...so the next job is refused at once instead of waiting without bound.
  try {
    pool.run([] { return 3; });
    ADD_FAILURE() << "expected 503";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 503);
    bool has_retry = false;
    for (auto& [k, v] : e.headers()) has_retry = has_retry || k == "Retry-After";
    EXPECT_TRUE(has_retry);
  }
  release.set_value();
  EXPECT_EQ(busy.get(), 1);
  EXPECT_EQ(queued.get(), 2);
  pool.stop();
}

}  // namespace
}  // namespace taskhub::auth

namespace taskhub::auth {
namespace {

// Every finished job returns its admission slot: a long run of jobs through a pool with room
// for two never sees a 503.
TEST(HashPool, SlotsAreReturnedWhenCallersHaveTheirResult) {
  HashPool pool(1, 1);
  pool.start();
  for (int i = 0; i < 200; ++i) EXPECT_EQ(pool.run([i] { return i; }), i);
  auto a = std::async(std::launch::async, [&] {
    int sum = 0;
    for (int i = 0; i < 100; ++i) sum += pool.run([] { return 1; });
    return sum;
  });
  int sum = 0;
  for (int i = 0; i < 100; ++i) sum += pool.run([] { return 1; });
  EXPECT_EQ(sum + a.get(), 200);
  pool.stop();
}

}  // namespace
}  // namespace taskhub::auth
