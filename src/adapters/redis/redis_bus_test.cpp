// The Redis event bus against a real redis-server started by the test (skipped only when the
// binary is missing): two buses stand for two processes; de-dup; Redis killed and restarted
// while events are written (the outbox keeps them, they flow afterwards, in order).
#include "adapters/redis/redis_bus.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "adapters/redis/redis_test_support.hpp"
#include "adapters/sql_test_support.hpp"
#include "ports/migrations.hpp"
#include "services/events/outbox.hpp"
#include "services/events/relay.hpp"

namespace taskhub::redis {
namespace {

using events::Event;

struct Collector {
  std::mutex mu;
  std::vector<Event> got;
  void operator()(const Event& e) {
    std::lock_guard lk(mu);
    got.push_back(e);
  }
  std::size_t size() {
    std::lock_guard lk(mu);
    return got.size();
  }
  bool wait_for(std::size_t n, int ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return size() >= n;
  }
  std::vector<int64_t> seqs() {
    std::lock_guard lk(mu);
    std::vector<int64_t> out;
    for (const auto& e : got) out.push_back(e.seq);
    return out;
  }
};

Event ev(int64_t seq) {
  Event e;
  e.id = "event-" + std::to_string(seq);
  e.seq = seq;
  e.type = "task.updated";
  e.time_ms = 1700000000000 + seq;
  e.project_id = "p";
  e.payload = R"({"n":)" + std::to_string(seq) + "}";
  return e;
}

class RedisBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
    server_ = std::make_unique<testing::RedisServer>();
    server_->start();
  }
  RedisOptions options() {
    auto o = parse_redis_uri(server_->uri());
    o.stream = "taskhub:events:test";
    o.block_ms = 100;
    o.timeout_ms = 500;
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 200;
    return o;
  }
  std::unique_ptr<testing::RedisServer> server_;
};

TEST(RedisUri, Parses) {
  auto o = parse_redis_uri("redis://cache.internal:6380/2");
  EXPECT_EQ(o.host, "cache.internal");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 2);
  auto p = parse_redis_uri("redis://:s3cret@localhost");
  EXPECT_EQ(p.host, "localhost");
  EXPECT_EQ(p.port, 6379);
  EXPECT_EQ(p.password, "s3cret");
  EXPECT_THROW(parse_redis_uri("http://x"), std::runtime_error);
  EXPECT_THROW(parse_redis_uri("redis://x:99999"), std::runtime_error);
  EXPECT_THROW(parse_redis_uri("redis://x:1/abc"), std::runtime_error);
  EXPECT_THROW(parse_redis_uri("redis://:1"), std::runtime_error);
}

TEST_F(RedisBusTest, PublishedInOneProcessReceivedByEveryOneOnceInOrder) {
  RedisBus a(options(), 0), b(options(), 0);
  Collector in_a, in_b;
  a.subscribe(std::ref(in_a));
  b.subscribe(std::ref(in_b));
  a.start();
  b.start();
  for (int i = 1; i <= 20; ++i) a.publish(ev(i));
  a.publish(ev(7));   // a retried publish: refused by the stream as a duplicate, not an error
  b.publish(ev(20));  // the same event published again from the other side
  ASSERT_TRUE(in_b.wait_for(20));
  ASSERT_TRUE(in_a.wait_for(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<int64_t> want;
  for (int i = 1; i <= 20; ++i) want.push_back(i);
  EXPECT_EQ(in_b.seqs(), want);
  EXPECT_EQ(in_a.seqs(), want);
  EXPECT_EQ(in_b.got[3].id, "event-4");
  EXPECT_EQ(in_b.got[3].payload, R"({"n":4})");
  EXPECT_TRUE(b.connected());
}

TEST_F(RedisBusTest, DeDuplicatesByIdAcrossDeliveries) {
  // A stream with the same event under two entries (e.g. copied by an operator): delivered once.
  RedisBus pub(options(), 0), sub(options(), 0);
  Collector got;
  sub.subscribe(std::ref(got));
  sub.start();
  pub.publish(ev(1));
  Event again = ev(1);
  again.seq = 2;  // same id, later entry
  pub.publish(again);
  pub.publish(ev(3));
  ASSERT_TRUE(got.wait_for(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got.got[0].id, "event-1");
  EXPECT_EQ(got.got[1].id, "event-3");
}

// The whole path: outbox -> relay -> Redis -> subscriber of another "process", with Redis
// killed (losing its data) while events are written, then started again.
TEST_F(RedisBusTest, EventsWrittenWhileRedisIsDownFlowWhenItIsBack) {
  std::string dir = sql::testing::make_temp_dir();
  auto db = sql::open_database("sqlite://" + dir + "/events.db");
  sql::migrate(*db);
  SystemClock clock;
  events::SqlOutbox outbox(*db, clock);
  events::Dispatcher::GapFill fill = [&](int64_t after, std::size_t limit) { return outbox.since(after, limit); };
  RedisBus process_a(options(), outbox.delivery_start(), fill);
  RedisBus process_b(options(), outbox.delivery_start(), fill);
  Collector in_b;
  process_b.subscribe(std::ref(in_b));
  process_a.start();
  process_b.start();
  events::RelayOptions ro;
  ro.poll_ms = 20;
  ro.max_backoff_ms = 100;
  events::Relay relay(outbox, process_a, clock, ro);
  relay.start();
  auto write_unique = [&](int n) {
    for (int i = 0; i < n; ++i)
      db->write([&](sql::Connection& c) {
        Event e = ev(0);
        e.id.clear();
        e.seq = 0;
        outbox.append(c, e);
      });
  };
  write_unique(5);
  ASSERT_TRUE(in_b.wait_for(5));

  server_->stop();
  write_unique(7);  // writes succeed; the relay fails and keeps them
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!relay.failing() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(relay.failing());
  EXPECT_EQ(outbox.backlog(), 7);
  EXPECT_EQ(in_b.size(), 5u);

  server_->start();
  ASSERT_TRUE(in_b.wait_for(12, 15000)) << "got " << in_b.size();
  write_unique(3);
  ASSERT_TRUE(in_b.wait_for(15, 10000));
  // The subscriber can see the last events before the relay's published mark (a durable write,
  // so an fdatasync away) has committed: wait for the mark rather than for a fixed time.
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (outbox.backlog() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(outbox.backlog(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // room for a wrong extra delivery
  std::vector<int64_t> want;
  for (int i = 1; i <= 15; ++i) want.push_back(i);
  EXPECT_EQ(in_b.seqs(), want);
  EXPECT_TRUE(process_b.connected());
  relay.stop();
  process_a.stop();
  process_b.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace taskhub::redis
