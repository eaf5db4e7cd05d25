#include "services/tasks/seed_support.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <tuple>
#include <cstdio>

#include "app/seed_batch.hpp"
#include "core/ids.hpp"
#include "services/tasks/repository.hpp"

namespace taskhub::tasks::seed {

using taskhub::seed::BatchInsert;

std::string date_plus_days(int64_t epoch_ms, int delta) {
  namespace ch = std::chrono;
  ch::sys_days d = ch::floor<ch::days>(ch::sys_time<ch::milliseconds>(ch::milliseconds(epoch_ms))) + ch::days(delta);
  ch::year_month_day ymd(d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

namespace {

const char* const kVerbs[] = {"Fix",    "Add",    "Improve", "Refactor", "Document", "Investigate", "Remove",
                              "Update", "Migrate", "Speed up", "Test",    "Design",   "Review",      "Support"};
const char* const kThings[] = {"login form",      "password reset",  "task list",     "search results",
                               "export to CSV",   "dark mode",       "notification e-mails", "API rate limits",
                               "billing page",    "invoice PDF",     "webhook retries", "file uploads",
                               "calendar view",   "mobile layout",   "onboarding flow", "audit log",
                               "database backups", "cache invalidation", "label picker",  "keyboard shortcuts",
                               "timezone handling", "SSO settings",  "project archive", "comment editor"};
const char* const kWords[] = {"the",     "user",    "reports", "that",   "when",    "clicking", "page",  "error",
                              "server",  "returns", "slow",    "after",  "deploy",  "should",   "we",    "could",
                              "browser", "cache",   "request", "timeout", "expected", "instead", "steps", "reproduce",
                              "Chrome",  "Firefox", "latency", "query",  "index",   "release", "customer", "ticket",
                              "screen",  "button",  "works",   "again",  "broken",  "review",  "merged", "branch"};

template <class T, std::size_t N>
const T& pick(const T (&a)[N], std::mt19937_64& rng) {
  return a[rng() % N];
}

std::string sentence(std::mt19937_64& rng, int words) {
  std::string s;
  for (int i = 0; i < words; ++i) {
    if (i) s += ' ';
    s += pick(kWords, rng);
  }
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s + ".";
}

}  // namespace

void seed_tasks(sql::Database& db, const SeedProjectRef& project, int64_t tasks, int comments_per_task,
                int batch_rows, std::mt19937_64& rng, int64_t now, SeedTaskCounts& counts) {
  if (tasks <= 0 || project.states.empty() || project.member_ids.empty()) return;
  const bool pg = db.dialect() == sql::Dialect::postgres;
  constexpr int64_t kDay = 86'400'000;
  const int64_t span = 365 * kDay;  // created_at spread over the last year, increasing with the number
  const auto& members = project.member_ids;
  std::vector<std::string> ids;  // every task id so far (parents of subtasks)
  ids.reserve(static_cast<std::size_t>(tasks));

  BatchInsert tk("tasks", {"id", "project_id", "number", "title", "description", "state_id", "state_group",
                           "priority", "start_date", "due_date", "estimate", "parent_id", "position", "completed_at",
                           "archived_at", "created_by", "version", "created_at", "updated_at"});
  BatchInsert as("task_assignees", {"task_id", "user_id"});
  BatchInsert lb("task_labels", {"task_id", "label_id"});
  BatchInsert wt("task_watchers", {"task_id", "user_id", "created_at"});
  BatchInsert cm("task_comments", {"id", "task_id", "author_id", "body", "version", "created_at", "updated_at"});
  BatchInsert ac("task_activity",
                 {"id", "task_id", "actor_id", "kind", "field", "old_value", "new_value", "created_at"});
  BatchInsert rl("task_relations", {"id", "kind", "source_id", "target_id", "created_by", "created_at"});
  BatchInsert rc("task_reactions", {"target_kind", "target_id", "user_id", "emoji", "created_at"});
  static const char* const kEmoji[] = {"thumbs_up", "heart", "tada", "eyes", "rocket"};
  std::vector<std::tuple<std::string, std::string, std::string>> search;  // (id, title, body)

  int64_t number = 0;
  while (number < tasks) {
    const int64_t first = number + 1;
    std::size_t rows = 0;
    search.clear();
    while (number < tasks && rows < static_cast<std::size_t>(batch_rows)) {
      ++number;
      std::string id = new_uuid_v7();
      int64_t created = now - span + span * number / (tasks + 1);
      int64_t updated = std::min(now, created + static_cast<int64_t>(rng() % (30 * kDay)));
      // States: weighted towards backlog / todo / in progress; about a quarter done.
      static const int weights[] = {20, 30, 22, 23, 5};
      int roll = static_cast<int>(rng() % 100), si = 0;
      for (int acc = 0; si < 4; ++si) {
        acc += weights[si];
        if (roll < acc) break;
      }
      si = std::min<int>(si, static_cast<int>(project.states.size()) - 1);
      const auto& [state_id, group] = project.states[si];
      bool closed = group == "completed" || group == "cancelled";
      int priority = static_cast<int>(rng() % 5);
      sql::Param start_date, due_date, estimate, parent, completed_at, archived_at;
      if (rng() % 10 < 7) {  // 70% have a due date within -30..+60 days of today
        int d = static_cast<int>(rng() % 91) - 30;
        due_date = date_plus_days(now, d);
        if (d < 0 && !closed) counts.overdue++;
        if (rng() % 2) start_date = date_plus_days(now, d - 1 - static_cast<int>(rng() % 14));
      }
      if (rng() % 3) estimate = static_cast<int64_t>(1 + rng() % 8);
      if (!ids.empty() && rng() % 10 == 0) {  // 10% subtasks of an earlier task
        parent = ids[ids.size() - 1 - rng() % std::min<std::size_t>(ids.size(), 200)];
        counts.subtasks++;
      }
      if (group == "completed") completed_at = updated;
      if (closed && rng() % 10 == 0) archived_at = updated;
      const std::string& creator = members[rng() % members.size()];
      std::string title = std::string(pick(kVerbs, rng)) + " " + pick(kThings, rng);
      std::string desc = sentence(rng, 8 + static_cast<int>(rng() % 20)) + "\n\n" + sentence(rng, 6);
      tk.add({id, project.id, number, title, desc, state_id, group, priority, start_date, due_date, estimate, parent,
              static_cast<double>(number) * 1024.0, completed_at, archived_at, creator, 1, created, updated});
      rows++;
      // Assignees 0-3, distinct; watchers = creator + assignees.
      std::vector<std::string> watchers{creator}, assigned;
      int na = static_cast<int>(rng() % 4);
      for (int k = 0; k < na; ++k) {
        const std::string& u = members[(rng() % members.size())];
        if (std::find(assigned.begin(), assigned.end(), u) != assigned.end()) continue;
        assigned.push_back(u);
        as.add({id, u});
        rows++;
        if (u != creator) watchers.push_back(u);
      }
      for (const auto& w : watchers) wt.add({id, w, created});
      rows += watchers.size();
      int nl = static_cast<int>(rng() % 4);
      std::vector<std::size_t> used;
      for (int k = 0; k < nl && !project.label_ids.empty(); ++k) {
        std::size_t li = rng() % project.label_ids.size();
        if (std::find(used.begin(), used.end(), li) != used.end()) continue;
        used.push_back(li);
        lb.add({id, project.label_ids[li]});
        rows++;
      }
      // Activity: created, and a state change for tasks that moved on.
      ac.add({new_uuid_v7(), id, creator, "created", sql::Param(), sql::Param(), sql::Param(), created});
      rows++;
      if (si >= 2) {
        ac.add({new_uuid_v7(), id, members[rng() % members.size()], "updated", "state_id", project.states[1].first,
                state_id, updated});
        rows++;
      }
      if (priority >= 3 && rng() % 2) {
        ac.add({new_uuid_v7(), id, creator, "updated", "priority", "2", std::to_string(priority), created + 60'000});
        rows++;
      }
      // Relations: 5% of tasks relate to a recent earlier task (one row per pair; both sides
      // see it); reactions: 0-2 distinct emoji on 20% of tasks, from distinct members.
      if (!ids.empty() && rng() % 20 == 0) {
        static const char* const kKinds[] = {"blocks", "relates_to", "duplicate_of"};
        const std::string& other = ids[ids.size() - 1 - rng() % std::min<std::size_t>(ids.size(), 500)];
        rl.add({new_uuid_v7(), kKinds[rng() % 3], id, other, creator, updated});
        counts.relations++;
        rows++;
      }
      if (rng() % 5 == 0) {
        const std::size_t ne = 1 + rng() % 2, first_emoji = rng() % 5;
        for (std::size_t k = 0; k < ne; ++k) {
          rc.add({"task", id, members[(k + rng()) % members.size()], kEmoji[(first_emoji + k) % 5], updated});
          counts.reactions++;
          rows++;
        }
      }
      // Comments: 0..2C.
      std::string body = desc;
      int nc = comments_per_task > 0 ? static_cast<int>(rng() % (2 * comments_per_task + 1)) : 0;
      for (int k = 0; k < nc; ++k) {
        std::string cid = new_uuid_v7();
        const std::string& author = members[rng() % members.size()];
        std::string text = sentence(rng, 5 + static_cast<int>(rng() % 25));
        int64_t at = std::min(now, created + (k + 1) * static_cast<int64_t>(rng() % (2 * kDay) + 60'000));
        cm.add({cid, id, author, text, 1, at, at});
        ac.add({new_uuid_v7(), id, author, "comment_added", "comment", sql::Param(), cid, at});
        rows += 2;
        body += "\n" + text;
      }
      search.emplace_back(id, title, std::move(body));
      ids.push_back(std::move(id));
    }
    const int64_t last = number;
    db.write([&](sql::Connection& c) {
      tk.flush(c);
      as.flush(c);
      lb.flush(c);
      wt.flush(c);
      cm.flush(c);
      ac.flush(c);
      rl.flush(c);
      rc.flush(c);
      if (pg) {
        // doc is computed from (title, body): insert through a SELECT over VALUES.
        std::string s = "INSERT INTO task_search (task_id, project_id, doc) SELECT v.id, tk.project_id, "
                        "setweight(to_tsvector('simple', v.t), 'A') || setweight(to_tsvector('simple', v.b), 'B') "
                        "FROM (VALUES ";
        std::vector<sql::Param> params;
        std::size_t n = 0;
        auto run = [&] {
          if (!n) return;
          c.query(s + ") AS v (id, t, b) JOIN tasks tk ON tk.id = v.id", params);
          s.resize(s.find("(VALUES ") + 8);
          params.clear();
          n = 0;
        };
        for (auto& [id, title, body] : search) {
          s += n ? ", (?, ?, ?)" : "(?, ?, ?)";
          params.insert(params.end(), {id, title, body});
          if (++n == 500) run();
        }
        run();
      } else {
        // SQLite FTS5: rowid = the task's rowid; body = description and comments.
        std::string s;
        std::vector<sql::Param> params;
        std::size_t n = 0;
        auto run = [&] {
          if (!n) return;
          c.query(s + ") AS v JOIN tasks t ON t.id = v.column1", params);
          s.resize(s.find("(VALUES ") + 8);
          params.clear();
          n = 0;
        };
        // SQLite names VALUES columns column1, column2, column3.
        s = std::string("INSERT INTO task_search (rowid, title, body, scope) SELECT t.rowid, v.column2, v.column3, ") +
            repo::kFts5ScopeSql + " FROM (VALUES ";
        for (auto& [id, title, body] : search) {
          s += n ? ", (?, ?, ?)" : "(?, ?, ?)";
          params.insert(params.end(), {id, title, body});
          if (++n == 500) run();
        }
        run();
      }
      c.exec("INSERT INTO task_counters (project_id, last_number) VALUES (?, ?) ON CONFLICT (project_id) DO UPDATE "
             "SET last_number = excluded.last_number",
             {project.id, last});
    });
    (void)first;
  }
  counts.tasks += tasks;
  counts.assignees += as.total();
  counts.labels += lb.total();
  counts.watchers += wt.total();
  counts.comments += cm.total();
  counts.activity += ac.total();
}

}  // namespace taskhub::tasks::seed
