// The analytics consumer on a real database with every migration applied (SQLite file and
// memory, and PostgreSQL when TASKHUB_TEST_POSTGRES_URL is set): one consumer at a time by the
// lease, events applied once even when the cursor is replayed, a deleted state's tasks moved,
// and the backfill of tasks that existed before the module.
#include <gtest/gtest.h>

#include "adapters/sql_test_support.hpp"
#include "core/ids.hpp"
#include "ports/migrations.hpp"
#include "services/analytics/service.hpp"
#include "services/events/outbox.hpp"
#include "services/tasks/fake_projects_client.hpp"

namespace taskhub::analytics {
namespace {

using G = projects::StateGroup;

class AnalyticsConsumerTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(db());
    outbox_ = std::make_unique<events::SqlOutbox>(db(), clock_);
    svc_ = std::make_unique<AnalyticsService>(db(), projects_, *outbox_, clock_);
    project_ = projects_.add_project("ANA", "owner");
  }
  void TearDown() override {
    svc_.reset();
    outbox_.reset();
    SqlBackendTest::TearDown();
  }

  // A task.* event carrying the task as the tasks service writes it.
  void emit(const std::string& type, const std::string& task, G group, int64_t version, int64_t estimate,
            std::optional<int64_t> completed_at = std::nullopt, bool deleted = false) {
    const auto& st = projects_.state_of(project_, group);
    events::Event e;
    e.type = type;
    e.project_id = project_;
    e.task_id = task;
    e.entity_type = "task";
    e.entity_id = task;
    e.payload = std::string(R"({"task":{"id":")") + task + R"(","project_id":")" + project_ + R"(","number":1,)" +
                R"("title":"t","state_id":")" + st.id + R"(","state_group":")" + projects::state_group_name(group) +
                R"(","priority":"high","estimate":)" + std::to_string(estimate) +
                R"(,"assignee_ids":["u1"],"label_ids":[],"created_at":1000,"updated_at":)" +
                std::to_string(1000 + version) + R"(,"completed_at":)" +
                (completed_at ? std::to_string(*completed_at) : "null") + R"(,"deleted_at":)" +
                (deleted ? "5000" : "null") + R"(,"version":)" + std::to_string(version) + "}}";
    db().write([&](sql::Connection& c) { outbox_->append(c, e); });
  }
  void relay() { ASSERT_TRUE(outbox_->sequence("relay", 10'000, 1000)); }
  int64_t value(const std::string& sql) {
    return db().read_value([&](sql::Connection& c) { return c.query(sql)[0].i64(0); });
  }
  int64_t count(const std::string& dim, const std::string& key, const char* col = "total") {
    return value(std::string("SELECT COALESCE(SUM(") + col + "), 0) FROM analytics_counts WHERE dim = '" + dim +
                 "' AND dim_key = '" + key + "'");
  }
  void drain(const std::string& holder) {
    for (int i = 0; i < 10; ++i) {
      auto n = svc_->consume_once(holder);
      ASSERT_TRUE(n);
      if (*n == 0) return;
    }
  }

  ManualClock clock_;
  tasks::testing::FakeProjectsClient projects_;
  std::unique_ptr<events::SqlOutbox> outbox_;
  std::unique_ptr<AnalyticsService> svc_;
  std::string project_;
};

TEST_P(AnalyticsConsumerTest, OneConsumerAtATimeAndEventsAppliedOnce) {
  drain("h1");  // the (empty) backfill, then nothing
  EXPECT_FALSE(svc_->consume_once("h2"));  // h1 holds the lease
  const std::string t = new_uuid_v7();
  emit("task.created", t, G::unstarted, 1, 3);
  emit("task.moved", t, G::completed, 2, 3, 1002);
  relay();
  drain("h1");
  EXPECT_EQ(count("all", ""), 1);
  EXPECT_EQ(count("all", "", "open_n"), 0);
  EXPECT_EQ(count("group", "completed"), 1);
  EXPECT_EQ(count("assignee", "u1"), 1);
  EXPECT_EQ(value("SELECT SUM(n) FROM analytics_series WHERE metric = 'created'"), 1);
  EXPECT_EQ(value("SELECT SUM(n) FROM analytics_series WHERE metric = 'completed'"), 1);
  EXPECT_EQ(value("SELECT SUM(points) FROM analytics_series_daily WHERE metric = 'done'"), 3);
  EXPECT_EQ(value("SELECT COUNT(*) FROM analytics_transitions"), 2);

  // The cursor replayed (a crash between the outbox read and a later pass): nothing doubles.
  db().write([](sql::Connection& c) { c.exec("UPDATE analytics_consumer SET last_seq = 0"); });
  drain("h1");
  EXPECT_EQ(count("all", ""), 1);
  EXPECT_EQ(value("SELECT SUM(n) FROM analytics_series WHERE metric = 'created'"), 1);
  EXPECT_EQ(value("SELECT SUM(n) FROM analytics_series WHERE metric = 'completed'"), 1);
  EXPECT_EQ(value("SELECT COUNT(*) FROM analytics_transitions"), 2);

  // Deleted: out of every count and level; the throughput of the past stays.
  emit("task.deleted", t, G::completed, 2, 3, 1002, /*deleted=*/true);
  relay();
  drain("h1");
  EXPECT_EQ(count("all", ""), 0);
  EXPECT_EQ(value("SELECT SUM(n) FROM analytics_series_daily WHERE metric = 'done'"), 0);
  EXPECT_EQ(value("SELECT SUM(n) FROM analytics_series WHERE metric = 'created'"), 1);

  // After its lease ran out, another consumer takes over from the stored cursor.
  clock_.advance_ms(11'000);
  EXPECT_TRUE(svc_->consume_once("h2"));
}

TEST_P(AnalyticsConsumerTest, StateDeletedMovesItsTasks) {
  drain("h1");
  const std::string t = new_uuid_v7();
  emit("task.created", t, G::started, 1, 2);
  relay();
  drain("h1");
  const auto& started = projects_.state_of(project_, G::started);
  const auto& done = projects_.state_of(project_, G::completed);
  events::Event e;
  e.type = "state.deleted";
  e.project_id = project_;
  e.payload = R"({"id":")" + started.id + R"(","name":"In Progress","moved_to":")" + done.id + R"("})";
  db().write([&](sql::Connection& c) { outbox_->append(c, e); });
  relay();
  drain("h1");
  EXPECT_EQ(count("state", started.id), 0);
  EXPECT_EQ(count("state", done.id), 1);
  EXPECT_EQ(count("group", "completed"), 1);
  EXPECT_EQ(value("SELECT COUNT(*) FROM analytics_tasks WHERE completed_at IS NOT NULL AND started_at IS NOT NULL"), 1);
}

TEST_P(AnalyticsConsumerTest, BackfillReadsExistingTasksOnceThenEvents) {
  // Tasks written before the module existed (as `taskhub seed` does): no events for them.
  const auto& todo = projects_.state_of(project_, G::unstarted);
  const auto& done = projects_.state_of(project_, G::completed);
  std::vector<std::string> ids;
  db().write([&](sql::Connection& c) {
    for (int i = 0; i < 1500; ++i) {  // more than one backfill batch
      ids.push_back(new_uuid_v7());
      const bool completed = i % 3 == 0;
      c.exec(
          "INSERT INTO tasks (id, project_id, number, title, state_id, state_group, priority, estimate, position, "
          "completed_at, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 2, 1, ?, ?, 'owner', ?, ?)",
          {sql::Param(ids.back()), sql::Param(project_), sql::Param(i + 1), sql::Param("seeded"),
           sql::Param(completed ? done.id : todo.id), sql::Param(completed ? "completed" : "unstarted"),
           sql::Param(static_cast<double>(i)),
           completed ? sql::Param(int64_t{900'000'000}) : sql::Param(nullptr), sql::Param(int64_t{100'000'000}),
           sql::Param(int64_t{900'000'000})});
    }
  });
  db().write([](sql::Connection& c) { c.exec("UPDATE analytics_consumer SET backfilled = 0, backfill_after = ''"); });
  drain("h1");
  EXPECT_EQ(value("SELECT backfilled FROM analytics_consumer"), 1);
  EXPECT_EQ(count("all", ""), 1500);
  EXPECT_EQ(count("group", "completed"), 500);
  EXPECT_EQ(count("priority", "medium", "open_points"), 1000);
  // completed ones: unstarted at creation, completed at completed_at
  EXPECT_EQ(value("SELECT SUM(n) FROM analytics_series_daily WHERE metric = 'done' AND day_ms = 864000000"), 500);
  EXPECT_EQ(value("SELECT SUM(n) FROM analytics_series_daily WHERE metric = 'scope' AND day_ms = 86400000"), 1500);
  // A later event of a backfilled task is applied on top of its fact.
  emit("task.moved", ids[1], G::completed, 2, 1, 950'000'000);
  relay();
  drain("h1");
  EXPECT_EQ(count("group", "completed"), 501);
  EXPECT_EQ(count("all", ""), 1500);
}

TASKHUB_SQL_BACKENDS(AnalyticsConsumerTest);

}  // namespace
}  // namespace taskhub::analytics
