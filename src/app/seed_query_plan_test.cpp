// "Every list query uses an index": seeds a realistic data set (30k tasks over 30 projects,
// through the same code as `taskhub seed`), ANALYZEs it, then EXPLAINs every list query the
// tasks repository builds (repo::build_task_query: each filter, each sort in both directions,
// project list and "my tasks", first page and a keyset page) and fails on a full scan of tasks:
// SQLite "SCAN tasks" without an index, PostgreSQL "Seq Scan on tasks". Runs on SQLite (file)
// and PostgreSQL (TASKHUB_TEST_POSTGRES_URL).
#include <gtest/gtest.h>

#include <random>

#include "adapters/sql_test_support.hpp"
#include "core/ids.hpp"
#include "ports/migrations.hpp"
#include "services/projects/seed_support.hpp"
#include "services/tasks/repository.hpp"
#include "services/tasks/seed_support.hpp"

namespace taskhub {
namespace {

class SeededQueryPlans : public sql::testing::SqlBackendTest {};

std::vector<std::string> full_scans(sql::Database& db, const std::string& text, const std::vector<sql::Param>& params,
                                    std::string& plan_text) {
  std::vector<std::string> bad;
  const bool pg = db.dialect() == sql::Dialect::postgres;
  auto plan = db.read_value([&](sql::Connection& c) {
    return c.query(std::string(pg ? "EXPLAIN " : "EXPLAIN QUERY PLAN ") + text, params);
  });
  for (std::size_t i = 0; i < plan.size(); ++i) {
    std::string detail = plan[i].str(plan[i].size() - 1);
    plan_text += detail + "\n";
    bool full = pg ? detail.find("Seq Scan on tasks") != std::string::npos
                   : (detail.rfind("SCAN tasks", 0) == 0 && detail.find("INDEX") == std::string::npos);
    if (full) bad.push_back(detail);
  }
  return bad;
}

TEST_P(SeededQueryPlans, EveryTaskListQueryUsesAnIndex) {
  sql::migrate(db());
  std::mt19937_64 rng(7);
  const int64_t now = 1'790'000'000'000;  // fixed: deterministic data set
  std::vector<std::string> users;
  for (int i = 0; i < 60; ++i) users.push_back(new_uuid_v7());
  projects::seed::SeedWorkspace ws;
  db().write([&](sql::Connection& c) { ws = projects::seed::seed_workspace(c, "Plans", 30, users, rng, now); });
  ASSERT_EQ(ws.projects.size(), 30u);
  tasks::seed::SeedTaskCounts counts;
  for (const auto& p : ws.projects) {
    tasks::seed::SeedProjectRef ref;
    ref.id = p.id;
    for (const auto& s : p.states) ref.states.emplace_back(s.id, s.group);
    ref.label_ids = p.label_ids;
    ref.member_ids = p.member_ids;
    tasks::seed::seed_tasks(db(), ref, 1000, 1, 5000, rng, now, counts);
  }
  ASSERT_EQ(counts.tasks, 30000);
  db().write([&](sql::Connection& c) { c.exec_script("ANALYZE"); });  // planner statistics, as in production

  const auto& p0 = ws.projects[0];
  const std::string uid = p0.member_ids.at(1);
  const std::string today = tasks::seed::date_plus_days(now, 0);
  const std::string some_task = db().read_value([&](sql::Connection& c) {
    return c.query("SELECT id FROM tasks WHERE project_id = ? AND parent_id IS NULL ORDER BY number LIMIT 1", {p0.id})[0]
        .str(0);
  });

  std::vector<std::pair<std::string, tasks::TaskQuery>> filters;
  auto add = [&](std::string name, auto&& set) {
    tasks::TaskQuery q;
    set(q);
    filters.emplace_back(std::move(name), std::move(q));
  };
  add("none", [](tasks::TaskQuery&) {});
  add("state", [&](tasks::TaskQuery& q) { q.state_ids = {p0.states[2].id}; });
  add("two states", [&](tasks::TaskQuery& q) { q.state_ids = {p0.states[1].id, p0.states[2].id}; });
  add("state group", [&](tasks::TaskQuery& q) { q.state_groups = {"started"}; });
  add("assignee", [&](tasks::TaskQuery& q) { q.assignee = uid; });
  add("assignee none", [&](tasks::TaskQuery& q) { q.assignee = "none"; });
  add("label", [&](tasks::TaskQuery& q) { q.label_id = p0.label_ids[0]; });
  add("priority", [&](tasks::TaskQuery& q) { q.priorities = {3, 4}; });
  add("due before", [&](tasks::TaskQuery& q) { q.due_before = today; });
  add("due after", [&](tasks::TaskQuery& q) { q.due_after = today; });
  add("overdue", [&](tasks::TaskQuery& q) { q.overdue = true; });
  add("parent", [&](tasks::TaskQuery& q) { q.parent_id = some_task; });
  add("parent none", [&](tasks::TaskQuery& q) { q.parent_id = "none"; });
  add("archived", [&](tasks::TaskQuery& q) { q.archived = true; });
  add("created by", [&](tasks::TaskQuery& q) { q.created_by = uid; });
  add("updated since", [&](tasks::TaskQuery& q) { q.updated_since = now - 86'400'000; });
  add("text", [&](tasks::TaskQuery& q) { q.text = "login"; });
  add("combined", [&](tasks::TaskQuery& q) {
    q.state_groups = {"started", "unstarted"};
    q.priorities = {2, 3, 4};
    q.assignee = uid;
  });

  const tasks::SortField sorts[] = {tasks::SortField::created_at, tasks::SortField::updated_at,
                                    tasks::SortField::priority,   tasks::SortField::due_date,
                                    tasks::SortField::position,   tasks::SortField::number};
  int checked = 0;
  for (const auto& [fname, base] : filters) {
    std::vector<std::pair<tasks::SortField, bool>> orders;
    for (auto s : sorts)
      for (bool desc : {false, true}) orders.emplace_back(s, desc);
    if (base.text) orders.emplace_back(tasks::SortField::relevance, false);
    for (const auto& [sort, desc] : orders) {
      for (bool mine : {false, true}) {
        for (bool with_after : {false, true}) {
          tasks::TaskQuery q = base;
          q.sort = sort;
          q.descending = desc;
          std::optional<std::pair<sql::Param, std::string>> after;
          if (with_after)
            after.emplace(sort == tasks::SortField::due_date    ? sql::Param(today)
                          : sort == tasks::SortField::relevance ? sql::Param(-1.5)
                          : sort == tasks::SortField::position  ? sql::Param(5000.0)
                          : sort == tasks::SortField::number    ? sql::Param(500)
                          : sort == tasks::SortField::priority  ? sql::Param(2)
                                                                : sql::Param(now - 100LL * 86'400'000),
                          new_uuid_v7());
          std::vector<std::string> pids;
          if (mine)  // "my tasks": over every project of the workspace (the caller sees them all)
            for (const auto& pr : ws.projects) pids.push_back(pr.id);
          else
            pids = {p0.id};
          auto [text, params] = tasks::repo::build_task_query(
              pids, q, mine ? std::optional<std::string>(uid) : std::nullopt, today, after, 51, db().dialect());
          std::string plan;
          auto bad = full_scans(db(), text, params, plan);
          EXPECT_TRUE(bad.empty()) << "full scan of tasks: filter '" << fname << "', sort " << static_cast<int>(sort)
                                   << (desc ? " desc" : " asc") << (mine ? ", my tasks" : ", project")
                                   << (with_after ? ", keyset page" : ", first page") << "\n"
                                   << text << "\n"
                                   << plan;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 400);
}

INSTANTIATE_TEST_SUITE_P(Backends, SeededQueryPlans, ::testing::Values("sqlite-file", "postgres"),
                         ::taskhub::sql::testing::backend_name);

}  // namespace
}  // namespace taskhub
