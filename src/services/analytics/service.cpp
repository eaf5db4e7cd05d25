#include "services/analytics/service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/json_output.hpp"
#include "core/metrics_text.hpp"
#include "core/pagination.hpp"
#include "core/time.hpp"
#include "services/analytics/format.hpp"
#include "core/tz.hpp"

namespace taskhub::analytics {

namespace json = boost::json;

namespace {

constexpr const char* kGroups[] = {"backlog", "unstarted", "started", "completed", "cancelled"};
constexpr const char* kPriorities[] = {"none", "low", "medium", "high", "urgent"};

std::string placeholders(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
  return s;
}

sql::Result query(sql::Connection& c, const std::string& sql, const std::vector<sql::Param>& params) {
  return c.query(sql, std::span<const sql::Param>(params.data(), params.size()));
}

json::object range_json(const Range& r) {
  return json::object{{"from", date_from_days(r.from_day)},
                      {"to", date_from_days(r.to_day)},
                      {"interval", r.interval},
                      {"tz", r.tz}};
}

}  // namespace

AnalyticsService::AnalyticsService(sql::Database& db, projects::Client& projects, events::Outbox& outbox, Clock& clock,
                                   Options options)
    : db_(db), projects_(projects), outbox_(outbox), clock_(clock), opt_(options), holder_("analytics-" + new_uuid_v7()),
      pacing_("analytics", std::chrono::milliseconds(opt_.consumer_poll_ms)),
      consumer_("analytics: consumer", std::chrono::milliseconds(opt_.consumer_poll_ms), [this] { return consume_tick(); }) {}

AnalyticsService::~AnalyticsService() { stop(); }

// ---------------------------------------------------------------------------------------------
// Consumer

std::optional<std::size_t> AnalyticsService::backfill_once(const std::string& holder, const repo::Cursor& cur) {
  auto batch = db_.read_value([&](sql::Connection& c) { return repo::tasks_after(c, cur.backfill_after, kBackfillBatch); });
  const bool done = static_cast<int>(batch.size()) < kBackfillBatch;
  const std::string to = batch.empty() ? cur.backfill_after : batch.back().task_id;
  bool ok = false;
  db_.write([&](sql::Connection& c) {
    if (!repo::advance_backfill(c, holder, cur.backfill_after, to, done)) return;  // lost the lease
    ok = true;
    repo::Batch b(c);
    for (auto& f : batch) {
      if (b.load(f.task_id)) continue;  // an event already brought it in (newer)
      if (f.state_group == "completed" && f.completed_at) {
        // The history before the backfill is not known; a completed task is taken as open
        // (unstarted) from its creation to its completion, so burn-up and flow see both steps.
        Fact open = f;
        open.state_id = "";
        open.state_group = "unstarted";
        open.completed_at.reset();
        b.apply(std::nullopt, open, f.created_at, 0);
        b.apply(b.load(f.task_id), f, std::max(*f.completed_at, f.created_at), 0);
      } else {
        b.apply(std::nullopt, f, f.created_at, 0);
      }
    }
    b.flush();
  });
  if (!ok) return std::nullopt;
  backfilled_ += static_cast<int64_t>(batch.size());
  if (done) spdlog::info("analytics: backfill done ({} tasks in this process)", backfilled_.load());
  return batch.size();
}

std::optional<std::size_t> AnalyticsService::consume_once(const std::string& holder) {
  const int64_t now = clock_.now_ms();
  events::LeaseState lease;
  std::optional<repo::Cursor> cur;
  db_.read([&](sql::Connection& c) {
    lease = events::read_lease(c, "analytics_consumer", holder, now, opt_.consumer_lease_ms);
    cur = repo::cursor(c);
  });
  if (!lease.free) return std::nullopt;
  if (!cur->backfilled) {
    // The backfill's passes are fenced on the holder alone: it takes the lease first (a phase
    // that runs once per database).
    cur = db_.write_value([&](sql::Connection& c) { return repo::take_lease(c, holder, now, opt_.consumer_lease_ms); });
    if (!cur) return std::nullopt;
    if (!cur->backfilled) return backfill_once(holder, *cur);
  }
  auto batch = outbox_.since(cur->last_seq, kConsumerBatch);
  if (batch.empty() && lease.fresh) return std::size_t{0};  // idle: no write to renew a lease still half valid

  // What the events do not carry, asked outside the transaction: the group of the state that
  // a deleted state's tasks moved to.
  std::map<std::string, std::string> moved_group;
  for (const auto& e : batch) {
    if (e.type != "state.deleted") continue;
    boost::system::error_code ec;
    auto v = json::parse(e.payload, ec);
    if (ec || !v.is_object()) continue;
    auto* to = v.as_object().if_contains("moved_to");
    if (!to || !to->is_string()) continue;
    if (auto s = projects_.state(e.project_id, std::string(to->as_string())))
      moved_group[s->id] = projects::state_group_name(s->group);
  }

  bool claimed = false;
  std::size_t applied = 0;
  db_.write([&](sql::Connection& c) {
    // Fenced on the cursor read: a consumer that lost its lease meanwhile writes nothing.
    if (!events::claim_lease(c, "analytics_consumer", holder, now, opt_.consumer_lease_ms, cur->last_seq)) return;
    claimed = true;
    if (batch.empty()) return;  // the lease renewed, nothing else
    repo::move_cursor(c, batch.back().seq, batch.back().time_ms);
    repo::Batch b(c);
    for (const auto& e : batch) {
      if (e.type.rfind("task.", 0) == 0) {
        auto after = fact_from_event(e.payload);
        if (!after) continue;
        auto before = b.load(after->task_id);
        if (before && before->last_seq >= e.seq) continue;  // already applied
        b.apply(before, *after, change_time(before, *after, e.time_ms), e.seq);
        ++applied;
      } else if (e.type == "state.deleted" || e.type == "label.deleted") {
        b.flush();  // the queries below read the facts
        boost::system::error_code ec;
        auto v = json::parse(e.payload, ec);
        if (ec || !v.is_object()) continue;
        const auto& o = v.as_object();
        auto str = [&](const char* k) {
          auto* p = o.if_contains(k);
          return p && p->is_string() ? std::string(p->as_string()) : std::string();
        };
        if (e.type == "state.deleted") {
          auto group = moved_group.find(str("moved_to"));
          if (group == moved_group.end()) continue;
          for (const auto& f : repo::facts_in_state(c, e.project_id, str("id"))) {
            Fact after = f;
            after.state_id = group->first;
            after.state_group = group->second;
            // The tasks service completes them without an event (docs: "state-deleted moves").
            if (after.state_group == "completed" && !after.completed_at) after.completed_at = e.time_ms;
            if (after.state_group != "completed") after.completed_at.reset();
            b.apply(f, after, e.time_ms, e.seq);
          }
        } else {
          const std::string label = str("id");
          for (const auto& f : repo::facts_with_label(c, e.project_id, label)) {
            Fact after = f;
            std::erase(after.label_ids, label);
            b.apply(f, after, e.time_ms, e.seq);
          }
        }
      } else if (e.type == "project.deleted") {
        b.flush();
        repo::delete_project(c, e.project_id);
      }
    }
    b.flush();
  });
  if (!claimed) return std::nullopt;
  if (batch.empty()) return std::size_t{0};
  cursor_ = batch.back().seq;
  applied_ += static_cast<int64_t>(applied);
  return batch.size();
}

void AnalyticsService::wake() { consumer_.wake(); }

void AnalyticsService::start() {
  if (consumer_.running()) return;
  consumer_.start();
}

void AnalyticsService::stop() {
  if (!consumer_.stop()) return;
  try {
    db_.write([&](sql::Connection& c) { repo::release(c, holder_); });
  } catch (const std::exception& e) {
    spdlog::warn("analytics: releasing the consumer lease: {}", e.what());
  }
}

BackgroundLoop::Next AnalyticsService::consume_tick() {
  return pacing_.run([&] {
    auto n = consume_once(holder_);
    return n && *n > 0;  // more may be waiting
  });
}

std::string AnalyticsService::metrics() const {
  std::string out;
  auto line = [&](const char* name, const char* type, const char* help, int64_t v) {
    append_metric(out, name, type, help, v);
  };
  line("taskhub_analytics_events_applied_total", "counter", "Task events applied to the analytics read model (this process).",
       applied_.load());
  line("taskhub_analytics_backfilled_total", "counter", "Tasks backfilled into the analytics read model (this process).",
       backfilled_.load());
  line("taskhub_analytics_consumer_seq", "gauge", "Outbox seq up to which this process's analytics consumer applied events.",
       cursor_.load());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reports

projects::ProjectAccess AnalyticsService::require_project(const std::string& user_id, const std::string& project_id) {
  if (!is_uuid(project_id)) throw not_found("The project does not exist.");
  auto access = projects_.project_access(user_id, project_id);
  if (!access) throw not_found("The project does not exist.");
  return *access;
}

std::vector<std::string> AnalyticsService::workspace_projects(const std::string& user_id,
                                                              const std::string& workspace_id) {
  if (!is_uuid(workspace_id) || !projects_.workspace_role(user_id, workspace_id))
    throw not_found("The workspace does not exist.");
  std::vector<std::string> ids;
  for (const auto& p : projects_.visible_projects(user_id))
    if (p.workspace_id == workspace_id) ids.push_back(p.project_id);
  return ids;
}

json::object AnalyticsService::as_of() {
  auto cur = db_.read_value([](sql::Connection& c) { return repo::cursor(c); });
  const int64_t top = outbox_.last_seq();
  return json::object{{"seq", cur.last_seq},
                      {"time", time_or_null(cur.last_event_ms ? std::optional<int64_t>(cur.last_event_ms) : std::nullopt)},
                      {"lag_events", std::max<int64_t>(0, top - cur.last_seq)},
                      {"backfilled", cur.backfilled}};
}

json::object AnalyticsService::counts(const std::vector<std::string>& project_ids, const std::string& tz,
                                      bool with_project) {
  const int64_t today = local_day(clock_.now_ms(), tz);
  const int64_t monday = monday_of(today);
  std::map<std::string, std::map<std::string, std::array<int64_t, 3>>> dims;  // dim -> key -> (total, open, pts)
  std::map<std::string, std::string> state_project;
  int64_t overdue = 0, due_week = 0;
  if (!project_ids.empty()) {
    db_.read([&](sql::Connection& c) {
      std::vector<sql::Param> p(project_ids.begin(), project_ids.end());
      auto rows = query(c,
                        "SELECT dim, dim_key, total, open_n, open_points, project_id FROM analytics_counts "
                        "WHERE project_id IN (" + placeholders(p.size()) + ") AND total <> 0",
                        p);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        auto r = rows[i];
        auto& v = dims[r.str(0)][r.str(1)];
        v[0] += r.i64(2);
        v[1] += r.i64(3);
        v[2] += r.i64(4);
        if (r.str(0) == "state") state_project[r.str(1)] = r.str(5);
      }
      auto count = [&](const std::string& cond, std::vector<sql::Param> extra) {
        std::vector<sql::Param> q = p;
        q.insert(q.end(), extra.begin(), extra.end());
        return query(c,
                     "SELECT COUNT(*) FROM analytics_tasks WHERE project_id IN (" + placeholders(p.size()) +
                         ") AND live_open = 1 AND " + cond,
                     q)[0]
            .i64(0);
      };
      overdue = count("due_date < ?", {date_from_days(today)});
      due_week = count("due_date >= ? AND due_date <= ?",
                       {date_from_days(monday), date_from_days(monday + 6)});
    });
  }
  auto entry = [&](const std::string& dim, const std::string& key) {
    auto d = dims.find(dim);
    std::array<int64_t, 3> v{0, 0, 0};
    if (d != dims.end())
      if (auto k = d->second.find(key); k != d->second.end()) v = k->second;
    return v;
  };
  auto fields = [](json::object o, const std::array<int64_t, 3>& v) {
    o["total"] = v[0];
    o["open"] = v[1];
    o["open_points"] = v[2];
    return o;
  };
  json::object out;
  const auto all = entry("all", "");
  out["total"] = all[0];
  out["open"] = all[1];
  out["open_points"] = all[2];
  out["overdue"] = overdue;
  out["unassigned"] = entry("assignee", "")[1];
  out["due_this_week"] = due_week;
  out["today"] = date_from_days(today);
  out["tz"] = tz;

  // States with their names (asked of the projects service), in workflow order per project.
  json::array by_state;
  for (const auto& pid : project_ids) {
    for (const auto& s : projects_.states(pid)) {
      auto v = entry("state", s.id);
      json::object o{{"state_id", s.id}, {"name", s.name}, {"group", projects::state_group_name(s.group)}};
      if (with_project) o["project_id"] = pid;
      by_state.push_back(fields(std::move(o), v));
    }
  }
  out["by_state"] = std::move(by_state);
  json::array groups, prios, assignees, labels;
  for (const char* g : kGroups) groups.push_back(fields(json::object{{"group", g}}, entry("group", g)));
  for (const char* p : kPriorities) prios.push_back(fields(json::object{{"priority", p}}, entry("priority", p)));
  for (const auto& [k, v] : dims["assignee"])
    if (!k.empty()) assignees.push_back(fields(json::object{{"user_id", k}}, v));
  for (const auto& [k, v] : dims["label"]) labels.push_back(fields(json::object{{"label_id", k}}, v));
  out["by_state_group"] = std::move(groups);
  out["by_priority"] = std::move(prios);
  out["by_assignee"] = std::move(assignees);
  out["by_label"] = std::move(labels);
  out["as_of"] = as_of();
  return out;
}

json::object AnalyticsService::summary(const std::string& user_id, const std::string& project_id, const std::string& tz) {
  require_project(user_id, project_id);
  auto out = counts({project_id}, tz, false);
  out["project_id"] = project_id;
  return out;
}

json::object AnalyticsService::workspace_summary(const std::string& user_id, const std::string& workspace_id,
                                                 const std::string& tz) {
  auto ids = workspace_projects(user_id, workspace_id);
  auto out = counts(ids, tz, true);
  out["workspace_id"] = workspace_id;
  out["projects"] = static_cast<int64_t>(ids.size());
  return out;
}

json::object AnalyticsService::workload(const std::string& user_id, const std::string& workspace_id) {
  auto ids = workspace_projects(user_id, workspace_id);
  struct Load {
    int64_t open = 0, points = 0;
    json::array projects;
  };
  std::map<std::string, Load> users;
  if (!ids.empty()) {
    db_.read([&](sql::Connection& c) {
      std::vector<sql::Param> p(ids.begin(), ids.end());
      auto rows = query(c,
                        "SELECT dim_key, project_id, open_n, open_points FROM analytics_counts WHERE project_id IN (" +
                            placeholders(p.size()) + ") AND dim = 'assignee' AND dim_key <> '' AND open_n <> 0 "
                            "ORDER BY dim_key, project_id",
                        p);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        auto r = rows[i];
        auto& u = users[r.str(0)];
        u.open += r.i64(2);
        u.points += r.i64(3);
        u.projects.push_back(json::object{{"project_id", r.str(1)}, {"open", r.i64(2)}, {"open_points", r.i64(3)}});
      }
    });
  }
  std::vector<std::pair<std::string, Load*>> order;
  for (auto& [k, v] : users) order.emplace_back(k, &v);
  // Most loaded first: open tasks, then open points (ties keep the user id order).
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::pair(a.second->open, a.second->points) > std::pair(b.second->open, b.second->points);
  });
  json::array items;
  for (auto& [k, v] : order)
    items.push_back(json::object{{"user_id", k}, {"open", v->open}, {"open_points", v->points}, {"projects", std::move(v->projects)}});
  return json::object{{"workspace_id", workspace_id},
                      {"projects", static_cast<int64_t>(ids.size())},
                      {"items", std::move(items)},
                      {"as_of", as_of()}};
}

json::object AnalyticsService::throughput(const std::string& user_id, const std::string& project_id, const Range& r) {
  require_project(user_id, project_id);
  auto sums = prefix_sums(project_id, {"created", "completed"}, r);
  const auto& cr = sums["created"];
  const auto& co = sums["completed"];
  json::array series;
  for (std::size_t i = 0; i < r.buckets.size(); ++i)
    series.push_back(json::object{{"date", r.buckets[i].label},
                                  {"created", cr[i + 1].first - cr[i].first},
                                  {"completed", co[i + 1].first - co[i].first},
                                  {"created_points", cr[i + 1].second - cr[i].second},
                                  {"completed_points", co[i + 1].second - co[i].second}});
  auto out = range_json(r);
  out["project_id"] = project_id;
  out["created"] = cr.back().first - cr.front().first;
  out["completed"] = co.back().first - co.front().first;
  out["series"] = std::move(series);
  out["as_of"] = as_of();
  return out;
}

std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> AnalyticsService::prefix_sums(
    const std::string& project_id, const std::vector<std::string>& metrics, const Range& r) {
  std::vector<int64_t> bounds;
  for (const auto& b : r.buckets) bounds.push_back(b.start_ms);
  bounds.push_back(r.buckets.back().end_ms);
  auto day_of = [](int64_t t) { return (t >= 0 ? t / kDayMs : (t - kDayMs + 1) / kDayMs) * kDayMs; };
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> out;
  for (const auto& m : metrics) out[m].assign(bounds.size(), {0, 0});
  db_.read([&](sql::Connection& c) {
    std::vector<sql::Param> p{project_id};
    for (const auto& m : metrics) p.emplace_back(m);
    const std::string in = " AND metric IN (" + placeholders(metrics.size()) + ")";
    // Whole UTC days before each boundary's day: the sum before the range, then the days in it.
    const int64_t first_day = day_of(bounds.front()), last_day = day_of(bounds.back());
    auto bp = p;
    bp.emplace_back(first_day);
    auto base = query(c,
                      "SELECT metric, CAST(SUM(n) AS BIGINT), CAST(SUM(points) AS BIGINT) FROM analytics_series_daily "
                      "WHERE project_id = ?" + in + " AND day_ms < ? GROUP BY metric",
                      bp);
    std::map<std::string, std::pair<int64_t, int64_t>> level;
    for (std::size_t i = 0; i < base.size(); ++i) level[base[i].str(0)] = {base[i].i64(1), base[i].i64(2)};
    auto dp = p;
    dp.emplace_back(first_day);
    dp.emplace_back(last_day);
    auto days = query(c,
                      "SELECT metric, day_ms, n, points FROM analytics_series_daily WHERE project_id = ?" + in +
                          " AND day_ms >= ? AND day_ms < ? ORDER BY metric, day_ms",
                      dp);
    std::map<std::string, std::vector<std::tuple<int64_t, int64_t, int64_t>>> by_metric;
    for (std::size_t i = 0; i < days.size(); ++i)
      by_metric[days[i].str(0)].emplace_back(days[i].i64(1), days[i].i64(2), days[i].i64(3));
    for (const auto& m : metrics) {
      auto lv = level[m];
      const auto& rows = by_metric[m];
      std::size_t k = 0;
      for (std::size_t i = 0; i < bounds.size(); ++i) {
        const int64_t d = day_of(bounds[i]);
        for (; k < rows.size() && std::get<0>(rows[k]) < d; ++k) {
          lv.first += std::get<1>(rows[k]);
          lv.second += std::get<2>(rows[k]);
        }
        out[m][i] = lv;
      }
    }
    // A boundary that is not a UTC midnight (a zone other than UTC) adds the 15-minute buckets
    // of its own day before it: at most a day's worth of rows per boundary.
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      const int64_t d = day_of(bounds[i]);
      if (d == bounds[i]) continue;
      auto pp = p;
      pp.emplace_back(d);
      pp.emplace_back(bounds[i]);
      auto part = query(c,
                        "SELECT metric, CAST(SUM(n) AS BIGINT), CAST(SUM(points) AS BIGINT) FROM analytics_series "
                        "WHERE project_id = ?" + in + " AND bucket >= ? AND bucket < ? GROUP BY metric",
                        pp);
      for (std::size_t j = 0; j < part.size(); ++j) {
        auto& v = out[part[j].str(0)][i];
        v.first += part[j].i64(1);
        v.second += part[j].i64(2);
      }
    }
  });
  return out;
}

json::object AnalyticsService::burndown(const std::string& user_id, const std::string& project_id, const Range& r) {
  require_project(user_id, project_id);
  auto l = prefix_sums(project_id, {"scope", "done"}, r);
  json::array series;
  for (std::size_t i = 0; i < r.buckets.size(); ++i) {
    const auto [s, sp] = l["scope"][i + 1];  // the level at the end of the bucket
    const auto [d, dp] = l["done"][i + 1];
    series.push_back(json::object{{"date", r.buckets[i].label},
                                  {"scope", s},
                                  {"completed", d},
                                  {"remaining", s - d},
                                  {"scope_points", sp},
                                  {"completed_points", dp},
                                  {"remaining_points", sp - dp}});
  }
  auto out = range_json(r);
  out["project_id"] = project_id;
  out["series"] = std::move(series);
  out["as_of"] = as_of();
  return out;
}

json::object AnalyticsService::cumulative_flow(const std::string& user_id, const std::string& project_id,
                                               const Range& r) {
  require_project(user_id, project_id);
  std::vector<std::string> metrics;
  for (const char* g : kGroups) metrics.push_back(std::string("g:") + g);
  auto l = prefix_sums(project_id, metrics, r);
  json::array series;
  for (std::size_t i = 0; i < r.buckets.size(); ++i) {
    json::object o{{"date", r.buckets[i].label}};
    for (const char* g : kGroups) o[g] = l[std::string("g:") + g][i + 1].first;
    series.push_back(std::move(o));
  }
  auto out = range_json(r);
  out["project_id"] = project_id;
  out["series"] = std::move(series);
  out["as_of"] = as_of();
  return out;
}

json::object AnalyticsService::cycle_time(const std::string& user_id, const std::string& project_id, const Range& r,
                                          const std::optional<std::string>& cursor, int limit) {
  require_project(user_id, project_id);
  std::optional<std::pair<int64_t, std::string>> after;
  if (cursor) {
    auto k = decode_cursor(*cursor, 2);
    if (!k[0].is_int64() || !k[1].is_string()) throw bad_field("cursor", "is not a cursor of this list");
    after = std::make_pair(k[0].as_int64(), std::string(k[1].as_string()));
  }
  const int64_t from = r.buckets.front().start_ms, to = r.buckets.back().end_ms;
  std::vector<int64_t> cycle, lead;
  json::array items;
  std::optional<std::string> next;
  db_.read([&](sql::Connection& c) {
    const char* live = " FROM analytics_tasks WHERE project_id = ? AND deleted = 0 AND archived_at IS NULL AND "
                       "state_group = 'completed' AND completed_at >= ? AND completed_at < ?";
    auto all = c.query(std::string("SELECT completed_at, started_at, created_at") + live, {project_id, from, to});
    cycle.reserve(all.size());
    lead.reserve(all.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      auto row = all[i];
      lead.push_back(row.i64(0) - row.i64(2));
      if (auto s = row.opt_i64(1)) cycle.push_back(row.i64(0) - *s);
    }
    std::string sql = std::string("SELECT task_id, number, title, created_at, started_at, completed_at") + live;
    std::vector<sql::Param> p{project_id, from, to};
    if (after) {
      sql += " AND (completed_at > ? OR (completed_at = ? AND task_id > ?))";
      p.insert(p.end(), {after->first, after->first, after->second});
    }
    sql += " ORDER BY completed_at, task_id LIMIT ?";
    p.emplace_back(limit);
    auto rows = query(c, sql, p);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto row = rows[i];
      auto started = row.opt_i64(4);
      const int64_t done = row.i64(5);
      items.push_back(json::object{{"task_id", row.str(0)},
                                   {"number", row.i64(1)},
                                   {"title", row.str(2)},
                                   {"created_at", format_rfc3339_ms(row.i64(3))},
                                   {"started_at", time_or_null(started)},
                                   {"completed_at", format_rfc3339_ms(done)},
                                   {"cycle_time_ms", started ? json::value(done - *started) : json::value(nullptr)},
                                   {"lead_time_ms", done - row.i64(3)}});
      if (i + 1 == static_cast<std::size_t>(limit)) next = encode_cursor(json::array{done, row.str(0)});
    }
  });
  auto stats = [](std::vector<int64_t>& v) {
    auto med = percentile(v, 50), p85 = percentile(v, 85);
    return json::object{{"count", static_cast<int64_t>(v.size())},
                        {"median_ms", med ? json::value(*med) : json::value(nullptr)},
                        {"p85_ms", p85 ? json::value(*p85) : json::value(nullptr)}};
  };
  auto out = range_json(r);
  out.erase("interval");
  out["project_id"] = project_id;
  out["cycle_time"] = stats(cycle);
  out["lead_time"] = stats(lead);
  out["items"] = std::move(items);
  out["next_cursor"] = str_or_null(next);
  out["as_of"] = as_of();
  return out;
}

AnalyticsService::Export AnalyticsService::export_tasks(const std::string& user_id, const std::string& project_id,
                                                        int64_t after, int limit) {
  Export e{require_project(user_id, project_id), {}, projects_.states(project_id)};
  e.tasks = db_.read_value([&](sql::Connection& c) { return repo::project_facts(c, project_id, after, limit); });
  return e;
}

}  // namespace taskhub::analytics
