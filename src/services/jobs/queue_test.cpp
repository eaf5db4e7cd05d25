// The SQL job queue and the worker on a real database with every migration applied (SQLite
// file and in memory, and PostgreSQL when TASKHUB_TEST_POSTGRES_URL is set), with a
// ManualClock so leases, backoff and schedules move without sleeping.
#include "services/jobs/queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "adapters/sql_test_support.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "ports/migrations.hpp"
#include "services/jobs/worker.hpp"

namespace taskhub::jobs {
namespace {

constexpr int64_t kLease = 60'000;
constexpr int64_t kBase = 1000, kCap = 16'000;

class JobQueueTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(db());
    q_ = make_queue(db());
  }
  void TearDown() override {
    q_.reset();
    SqlBackendTest::TearDown();
  }

  std::unique_ptr<SqlJobQueue> make_queue(sql::Database& d) {
    QueueOptions o;
    o.default_max_attempts = 3;
    o.lease_ms = kLease;
    o.backoff_base_ms = kBase;
    o.backoff_max_ms = kCap;
    o.retention_ms = 24 * 3600 * 1000;
    return std::make_unique<SqlJobQueue>(d, clock_, o);
  }

  std::string add(const NewJob& j) {
    auto id = db().write_value([&](sql::Connection& c) { return q_->add(c, j); });
    EXPECT_TRUE(id);
    return id.value_or("");
  }
  JobRecord rec(const std::string& id) { return q_->get(id).value(); }
  int64_t count(const std::string& where = "1 = 1") {
    return db().read_value([&](sql::Connection& c) { return c.query("SELECT COUNT(*) FROM jobs WHERE " + where)[0].i64(0); });
  }

  ManualClock clock_;
  std::unique_ptr<SqlJobQueue> q_;
};

TEST_P(JobQueueTest, EnqueueClaimComplete) {
  std::vector<std::string> seen;
  q_->register_handler("mail", [&](const Job& j) { seen.push_back(j.payload); });
  std::string id = add({"mail", R"({"to":"a@example.com"})"});
  auto r = rec(id);
  EXPECT_EQ(r.state, "queued");
  EXPECT_EQ(r.attempt, 0);
  EXPECT_EQ(r.max_attempts, 3);

  auto job = q_->claim("w1");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->id, id);
  EXPECT_EQ(job->attempt, 1);
  r = rec(id);
  EXPECT_EQ(r.state, "running");
  EXPECT_EQ(r.locked_by.value_or(""), "w1");
  EXPECT_EQ(r.lease_until.value_or(0), clock_.now_ms() + kLease);
  EXPECT_FALSE(q_->claim("w2")) << "a leased job must not be handed out twice";

  EXPECT_TRUE(q_->run(*job, "w1"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], R"({"to":"a@example.com"})");
  r = rec(id);
  EXPECT_EQ(r.state, "succeeded");
  EXPECT_TRUE(r.finished_at);
  EXPECT_FALSE(r.lease_until);
  EXPECT_FALSE(q_->claim("w1"));
}

TEST_P(JobQueueTest, ClaimsOnlyKindsWithAHandlerHere) {
  add({"elsewhere"});
  EXPECT_FALSE(q_->claim("w1")) << "no handlers at all";
  q_->register_handler("mine", [](const Job&) {});
  EXPECT_FALSE(q_->claim("w1")) << "a process must not take jobs it cannot run";
  add({"mine"});
  auto j = q_->claim("w1");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->kind, "mine");
}

TEST_P(JobQueueTest, RejectsBadJobs) {
  auto bad = [&](NewJob j) {
    EXPECT_THROW(db().write([&](sql::Connection& c) { q_->add(c, j); }), std::invalid_argument);
  };
  bad({""});
  bad({std::string(101, 'k')});
  bad({"k", "[1]"});
  bad({"k", "{not json"});
  bad({"k", "{\"a\":\"" + std::string(kMaxPayloadBytes, 'x') + "\"}"});
  bad({"k", "{}", std::string(201, 'x')});
  NewJob too_many{"k"};
  too_many.max_attempts = 101;
  bad(too_many);
  EXPECT_EQ(count(), 0);
}

TEST_P(JobQueueTest, ScheduledJobWaitsForRunAt) {
  q_->register_handler("later", [](const Job&) {});
  NewJob j{"later"};
  j.run_at_ms = clock_.now_ms() + 10 * 60'000;
  std::string id = add(j);
  EXPECT_FALSE(q_->claim("w"));
  clock_.advance_ms(10 * 60'000 - 1);
  EXPECT_FALSE(q_->claim("w"));
  clock_.advance_ms(1);
  auto c = q_->claim("w");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, id);
}

TEST_P(JobQueueTest, ClaimsInRunAtOrder) {
  q_->register_handler("k", [](const Job&) {});
  NewJob late{"k"}, early{"k"};
  late.run_at_ms = clock_.now_ms() - 1000;
  early.run_at_ms = clock_.now_ms() - 5000;
  std::string a = add(late), b = add(early), c = add({"k"});
  EXPECT_EQ(q_->claim("w")->id, b);
  EXPECT_EQ(q_->claim("w")->id, a);
  EXPECT_EQ(q_->claim("w")->id, c);
}

TEST_P(JobQueueTest, EnqueueByKeyIsIdempotent) {
  NewJob j{"mail", "{}", "mail:user-1:digest:2026-11-26"};
  std::string id = add(j);
  auto again = db().write_value([&](sql::Connection& c) { return q_->add(c, j); });
  EXPECT_FALSE(again);
  q_->enqueue(j);  // the interface form: silently ignored as well
  EXPECT_EQ(count(), 1);
  EXPECT_EQ(rec(id).key.value_or(""), j.key);
  // Jobs without a key never collide.
  q_->enqueue(NewJob{"mail"});
  q_->enqueue(NewJob{"mail"});
  EXPECT_EQ(count(), 3);
}

TEST_P(JobQueueTest, EnqueueJoinsTheCallersTransaction) {
  struct Boom {};
  EXPECT_THROW(db().write([&](sql::Connection& c) {
    q_->enqueue(c, NewJob{"mail"});
    throw Boom{};
  }),
               Boom);
  EXPECT_EQ(count(), 0) << "a job must exist only if the change that asked for it commits";
}

TEST_P(JobQueueTest, ExpiredLeaseIsClaimedAgainAndTheOldWorkerIsFenced) {
  q_->register_handler("k", [](const Job&) {});
  std::string id = add({"k"});
  auto first = q_->claim("dead-worker");
  ASSERT_TRUE(first);
  clock_.advance_ms(kLease - 1);
  EXPECT_FALSE(q_->claim("w2")) << "the lease still holds";
  clock_.advance_ms(1);
  auto second = q_->claim("w2");
  ASSERT_TRUE(second) << "a job whose worker died must be claimed again once its lease expires";
  EXPECT_EQ(second->id, id);
  EXPECT_EQ(second->attempt, 2);
  // The first worker comes back late: its outcome must not overwrite the new owner's.
  EXPECT_FALSE(q_->complete(*first, "dead-worker"));
  EXPECT_FALSE(q_->fail(*first, "dead-worker", "late"));
  EXPECT_EQ(rec(id).state, "running");
  EXPECT_TRUE(q_->complete(*second, "w2"));
  EXPECT_EQ(rec(id).state, "succeeded");
}

TEST_P(JobQueueTest, RetriesWithBackoffThenDeadLetters) {
  int runs = 0;
  q_->register_handler("flaky", [&](const Job&) {
    ++runs;
    throw std::runtime_error("smtp said no " + std::string(5000, 'x'));
  });
  std::string id = add({"flaky"});
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto j = q_->claim("w");
    ASSERT_TRUE(j) << attempt;
    EXPECT_EQ(j->attempt, attempt);
    int64_t before = clock_.now_ms();
    EXPECT_FALSE(q_->run(*j, "w"));
    auto r = rec(id);
    ASSERT_TRUE(r.last_error);
    EXPECT_LE(r.last_error->size(), kMaxErrorBytes) << "last_error must be bounded";
    EXPECT_EQ(r.last_error->rfind("smtp said no", 0), 0u);
    if (attempt < 3) {
      EXPECT_EQ(r.state, "queued");
      int64_t full = std::min<int64_t>(kBase << (attempt - 1), kCap);
      EXPECT_GE(r.run_at - before, full / 2) << attempt;
      EXPECT_LE(r.run_at - before, full) << attempt;
      EXPECT_FALSE(q_->claim("w")) << "not before the backoff";
      clock_.set_ms(r.run_at);
    } else {
      EXPECT_EQ(r.state, "failed") << "dead letter after max_attempts";
      EXPECT_TRUE(r.finished_at);
    }
  }
  EXPECT_EQ(runs, 3);
  clock_.advance_ms(24 * 3600 * 1000);
  EXPECT_FALSE(q_->claim("w")) << "a dead-lettered job is never claimed again";
}

TEST_P(JobQueueTest, LeaseLostOnTheLastAttemptDeadLetters) {
  q_->register_handler("k", [](const Job&) {});
  NewJob one{"k"};
  one.max_attempts = 1;
  std::string id = add(one);
  ASSERT_TRUE(q_->claim("dead-worker"));
  clock_.advance_ms(kLease);
  EXPECT_FALSE(q_->claim("w2"));
  auto r = rec(id);
  EXPECT_EQ(r.state, "failed");
  EXPECT_NE(r.last_error.value_or("").find("lease expired"), std::string::npos);
}

TEST_P(JobQueueTest, MissingHandlerFailsTheAttempt) {
  q_->register_handler("k", [](const Job&) {});
  std::string id = add({"k"});
  auto j = q_->claim("w");
  ASSERT_TRUE(j);
  Job other = *j;
  other.kind = "unknown";
  EXPECT_FALSE(q_->run(other, "w"));
  EXPECT_NE(rec(id).last_error.value_or("").find("no handler"), std::string::npos);
}

TEST_P(JobQueueTest, AdminRetryAndCancel) {
  q_->register_handler("k", [](const Job&) { throw std::runtime_error("no"); });
  NewJob one{"k"};
  one.max_attempts = 1;
  std::string dead = add(one);
  q_->run(*q_->claim("w"), "w");
  EXPECT_EQ(rec(dead).state, "failed");

  auto r = q_->retry(dead);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->state, "queued");
  EXPECT_EQ(r->attempt, 0);
  EXPECT_FALSE(r->finished_at);
  EXPECT_EQ(r->last_error.value_or(""), "no") << "the last error stays visible";
  auto again = q_->claim("w");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempt, 1);

  // Running: neither retry nor cancel.
  try {
    q_->retry(dead);
    ADD_FAILURE();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
  }
  try {
    q_->cancel(dead);
    ADD_FAILURE();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
  }

  NewJob later{"k"};
  later.run_at_ms = clock_.now_ms() + 3600'000;
  std::string queued = add(later);
  auto c = q_->cancel(queued);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state, "cancelled");
  EXPECT_EQ(q_->cancel(queued)->state, "cancelled") << "cancel is idempotent";
  clock_.advance_ms(7200'000);
  // The expired lease of `dead` (max 1 attempt) dead-letters it; the cancelled job is not run.
  EXPECT_FALSE(q_->claim("w"));

  EXPECT_FALSE(q_->retry(new_uuid_v7()));
  EXPECT_FALSE(q_->cancel("not-a-uuid"));
  EXPECT_FALSE(q_->get("not-a-uuid"));
}

TEST_P(JobQueueTest, ListFiltersAndPages) {
  for (int i = 0; i < 5; ++i) add({"a"});
  for (int i = 0; i < 3; ++i) add({"b"});
  q_->register_handler("b", [](const Job&) {});
  q_->run(*q_->claim("w"), "w");

  auto all = q_->list(std::nullopt, std::nullopt, std::nullopt, 200);
  EXPECT_EQ(all.items.size(), 8u);
  EXPECT_FALSE(all.next_cursor);
  EXPECT_GT(all.items.front().id, all.items.back().id) << "newest first";

  EXPECT_EQ(q_->list(std::string("succeeded"), std::nullopt, std::nullopt, 50).items.size(), 1u);
  EXPECT_EQ(q_->list(std::nullopt, std::string("a"), std::nullopt, 50).items.size(), 5u);
  EXPECT_EQ(q_->list(std::string("queued"), std::string("b"), std::nullopt, 50).items.size(), 2u);

  std::set<std::string> ids;
  std::optional<std::string> cursor;
  int pages = 0;
  do {
    auto p = q_->list(std::nullopt, std::nullopt, cursor, 3);
    for (auto& j : p.items) EXPECT_TRUE(ids.insert(j.id).second);
    cursor = p.next_cursor;
    ++pages;
  } while (cursor && pages < 10);
  EXPECT_EQ(ids.size(), 8u);
  EXPECT_EQ(pages, 3);
}

TEST_P(JobQueueTest, PeriodicTickRunsOnceWithTwoWorkersRacing) {
  // Two queue instances (two worker processes) on the same database, each with its own pool
  // where the backend allows it.
  std::unique_ptr<sql::Database> other_db;
  sql::Database* second = &db();
  if (file_backed()) {
    other_db = open_again();
    second = other_db.get();
  }
  auto q2 = make_queue(*second);
  // 2023-11-14T22:13:20Z: the next */5 tick is 22:15.
  for (auto* q : {q_.get(), q2.get()}) {
    q->register_handler("report", [](const Job&) {});
    q->register_periodic("report", "*/5 * * * *", "report", R"({"n":1})");
    EXPECT_EQ(q->tick_periodic(), 0) << "the first look only learns the next tick";
  }
  clock_.advance_ms(100'000);  // 22:14:60 = 22:15:00
  std::atomic<int> enqueued{0};
  std::thread t1([&] {
    for (int i = 0; i < 20; ++i) enqueued += q_->tick_periodic();
  });
  std::thread t2([&] {
    for (int i = 0; i < 20; ++i) enqueued += q2->tick_periodic();
  });
  t1.join();
  t2.join();
  EXPECT_EQ(enqueued.load(), 1);
  EXPECT_EQ(count("kind = 'report'"), 1);
  auto j = q_->list(std::nullopt, std::string("report"), std::nullopt, 10).items.at(0);
  EXPECT_EQ(j.payload, R"({"n":1})");
  EXPECT_EQ(j.run_at, 1'700'000'100'000);

  // The next tick: once again, and nothing in between.
  clock_.advance_ms(299'999);
  EXPECT_EQ(q_->tick_periodic() + q2->tick_periodic(), 0);
  clock_.advance_ms(1);
  EXPECT_EQ(q2->tick_periodic() + q_->tick_periodic(), 1);
  EXPECT_EQ(count("kind = 'report'"), 2);

  // A process started after a tick was taken does not take it again.
  auto q3 = make_queue(db());
  q3->register_periodic("report", "*/5 * * * *", "report");
  EXPECT_EQ(q3->tick_periodic(), 0);
  EXPECT_EQ(count("kind = 'report'"), 2);
  EXPECT_THROW(q3->register_periodic("bad", "*/5 * *", "report"), std::invalid_argument);
  EXPECT_THROW(q3->register_periodic("report", "* * * * *", "report"), std::invalid_argument) << "duplicate name";
}

TEST_P(JobQueueTest, ConcurrentClaimersNeverShareAJob) {
  // PostgreSQL: FOR UPDATE SKIP LOCKED with many connections at once. SQLite: the single
  // writer. Either way each job is claimed exactly once.
  constexpr int kJobs = 120, kThreads = 6;
  q_->register_handler("k", [](const Job&) {});
  db().write([&](sql::Connection& c) {
    for (int i = 0; i < kJobs; ++i) q_->add(c, NewJob{"k"});
  });
  std::mutex mu;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::string w = "w" + std::to_string(t);
      for (;;) {
        std::optional<Job> j;
        try {
          j = q_->claim(w);
        } catch (const std::exception& e) {
          ++errors;
          continue;
        }
        if (!j) break;
        std::lock_guard lk(mu);
        claimed.push_back(j->id);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), static_cast<std::size_t>(kJobs)) << "a job was claimed twice or lost";
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kJobs));
  EXPECT_EQ(count("state = 'running'"), kJobs);
}

TEST_P(JobQueueTest, PurgeKeepsRecentAndUnfinishedJobs) {
  q_->register_handler("k", [](const Job&) {});
  std::string done = add({"k"});
  q_->run(*q_->claim("w"), "w");
  std::string cancelled = add({"k"});
  q_->cancel(cancelled);
  std::string queued = add({"k", "{}", "", clock_.now_ms() + 48 * 3600'000});
  EXPECT_EQ(q_->purge(), 0) << "within retention";
  clock_.advance_ms(24 * 3600 * 1000 + 1);
  EXPECT_EQ(q_->purge(), 2);
  EXPECT_FALSE(q_->get(done));
  EXPECT_FALSE(q_->get(cancelled));
  EXPECT_TRUE(q_->get(queued));
}

TEST_P(JobQueueTest, WorkerRunsJobsAndWakesOnEnqueue) {
  std::atomic<int> ran{0};
  q_->register_handler("k", [&](const Job&) { ++ran; });
  WorkerOptions o;
  o.threads = 2;
  o.poll_ms = 60'000;  // only the in-process wake-up can make this test pass quickly
  o.stop_grace_ms = 5000;
  Worker w(*q_, o);
  w.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // both threads idle
  for (int i = 0; i < 5; ++i) q_->enqueue(NewJob{"k"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ran.load() < 5 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(ran.load(), 5);
  w.stop();
  EXPECT_EQ(count("state = 'succeeded'"), 5);
}

TEST_P(JobQueueTest, WorkerStopWaitsForTheRunningJob) {
  std::atomic<bool> started{false}, finished{false};
  q_->register_handler("slow", [&](const Job&) {
    started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    finished = true;
  });
  WorkerOptions o;
  o.threads = 1;
  o.poll_ms = 50;
  o.stop_grace_ms = 5000;
  Worker w(*q_, o);
  w.start();
  q_->enqueue(NewJob{"slow"});
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  w.stop();
  EXPECT_TRUE(finished.load());
  EXPECT_EQ(count("state = 'succeeded'"), 1);
}

TEST_P(JobQueueTest, WorkerHeartbeatKeepsALongJobsLease) {
  std::atomic<bool> done{false};
  std::optional<bool> stolen;
  q_->register_handler("long", [&](const Job&) {
    clock_.advance_ms(kLease * 2);  // past the lease it was claimed with
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // several heartbeats
    stolen = q_->claim("thief").has_value();
    done = true;
  });
  WorkerOptions o;
  o.threads = 1;
  o.poll_ms = 50;
  o.heartbeat_ms = 50;
  Worker w(*q_, o);
  w.start();
  q_->enqueue(NewJob{"long"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  w.stop();
  ASSERT_TRUE(stolen.has_value());
  EXPECT_FALSE(*stolen) << "a running job's lease must be renewed while its worker lives";
  EXPECT_EQ(count("state = 'succeeded'"), 1);
}

TASKHUB_SQL_BACKENDS(JobQueueTest);

}  // namespace
}  // namespace taskhub::jobs
