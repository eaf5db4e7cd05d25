#include "services/analytics/read_model.hpp"

#include <boost/json.hpp>

#include <tuple>

#include "services/analytics/range.hpp"
#include "services/tasks/model.hpp"

namespace taskhub::analytics {

namespace json = boost::json;

namespace {

std::optional<std::string> opt_string(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}
std::optional<int64_t> opt_int(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  if (!v || !v->is_number()) return std::nullopt;
  return v->to_number<int64_t>();
}
std::vector<std::string> strings(const json::value* v) {
  std::vector<std::string> out;
  if (v && v->is_array())
    for (const auto& s : v->as_array())
      if (s.is_string()) out.emplace_back(s.as_string());
  return out;
}
std::string json_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return json::serialize(a);
}

constexpr const char* kFactColumns =
    "task_id, project_id, number, title, state_id, state_group, priority, start_date, due_date, estimate, "
    "parent_id, assignee_ids, label_ids, custom_fields, created_by, created_at, updated_at, started_at, "
    "completed_at, archived_at, deleted, version, last_seq";

Fact fact_of(const sql::Row& r) {
  Fact f;
  f.task_id = r.str(0);
  f.project_id = r.str(1);
  f.number = r.i64(2);
  f.title = r.str(3);
  f.state_id = r.str(4);
  f.state_group = r.str(5);
  f.priority = static_cast<int>(r.i64(6));
  f.start_date = r.opt_str(7);
  f.due_date = r.opt_str(8);
  f.estimate = r.opt_i64(9);
  f.parent_id = r.opt_str(10);
  boost::system::error_code ec;
  auto a = json::parse(r.str(11), ec);
  if (!ec) f.assignee_ids = strings(&a);
  auto l = json::parse(r.str(12), ec);
  if (!ec) f.label_ids = strings(&l);
  f.custom_fields = r.str(13);
  f.created_by = r.str(14);
  f.created_at = r.i64(15);
  f.updated_at = r.i64(16);
  f.started_at = r.opt_i64(17);
  f.completed_at = r.opt_i64(18);
  f.archived_at = r.opt_i64(19);
  f.deleted = r.boolean(20);
  f.version = r.i64(21);
  f.last_seq = r.i64(22);
  return f;
}

// What one fact adds to analytics_counts: (dim, key) -> (total, open, open points).
using Counts = std::map<std::pair<std::string, std::string>, std::tuple<int64_t, int64_t, int64_t>>;

void add_counts(Counts& out, const Fact& f, int sign) {
  if (!f.live()) return;
  const int64_t open = f.open() ? 1 : 0, pts = f.open() ? f.points() : 0;
  auto add = [&](const char* dim, const std::string& key) {
    auto& [t, o, p] = out[{dim, key}];
    t += sign;
    o += sign * open;
    p += sign * pts;
  };
  add("all", "");
  add("state", f.state_id);
  add("group", f.state_group);
  add("priority", tasks::priority_name(f.priority));
  if (f.assignee_ids.empty()) add("assignee", "");
  for (const auto& u : f.assignee_ids) add("assignee", u);
  for (const auto& l : f.label_ids) add("label", l);
}

// Levels of the time series a fact contributes to: metric -> (count, points).
using Levels = std::map<std::string, std::pair<int64_t, int64_t>>;

void add_levels(Levels& out, const Fact& f, int sign) {
  if (!f.live()) return;
  auto add = [&](const std::string& m) {
    out[m].first += sign;
    out[m].second += sign * f.points();
  };
  if (f.state_group != "cancelled") add("scope");
  if (f.state_group == "completed") add("done");
  add("g:" + f.state_group);
}

int64_t bucket_of(int64_t ms) { return (ms >= 0 ? ms / kBucketMs : (ms - kBucketMs + 1) / kBucketMs) * kBucketMs; }

int64_t day_of(int64_t ms) { return (ms >= 0 ? ms / kDayMs : (ms - kDayMs + 1) / kDayMs) * kDayMs; }

// Runs "head VALUES (...), ... tail" for `flat` (rows of `width` parameters), 100 rows per
// statement: a batch of changes costs a few statements, not several per task (PostgreSQL
// round trips dominated the backfill).
void insert_rows(sql::Connection& c, const std::string& head, const std::string& tail, std::size_t width,
                 const std::vector<sql::Param>& flat) {
  constexpr std::size_t kRows = 100;
  std::string one = "(";
  for (std::size_t i = 0; i < width; ++i) one += i ? ", ?" : "?";
  one += ")";
  const std::size_t rows = flat.size() / width;
  for (std::size_t first = 0; first < rows; first += kRows) {
    const std::size_t n = std::min(kRows, rows - first);
    std::string sql = head + " VALUES ";
    for (std::size_t i = 0; i < n; ++i) sql += (i ? ", " : "") + one;
    sql += tail;
    c.query(sql, std::span<const sql::Param>(flat.data() + first * width, n * width));
  }
}

}  // namespace

std::optional<Fact> fact_from_event(const std::string& task_json) {
  boost::system::error_code ec;
  auto v = json::parse(task_json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto* t = v.as_object().if_contains("task");
  if (!t || !t->is_object()) return std::nullopt;
  const auto& o = t->as_object();
  Fact f;
  auto id = opt_string(o, "id"), project = opt_string(o, "project_id"), state = opt_string(o, "state_id"),
       group = opt_string(o, "state_group");
  auto number = opt_int(o, "number"), created = opt_int(o, "created_at");
  if (!id || !project || !state || !group || !number || !created) return std::nullopt;
  f.task_id = *id;
  f.project_id = *project;
  f.number = *number;
  f.title = opt_string(o, "title").value_or("");
  f.state_id = *state;
  f.state_group = *group;
  f.priority = tasks::priority_from_name(opt_string(o, "priority").value_or("none")).value_or(0);
  f.start_date = opt_string(o, "start_date");
  f.due_date = opt_string(o, "due_date");
  f.estimate = opt_int(o, "estimate");
  f.parent_id = opt_string(o, "parent_id");
  f.assignee_ids = strings(o.if_contains("assignee_ids"));
  f.label_ids = strings(o.if_contains("label_ids"));
  if (auto* cf = o.if_contains("custom_fields"); cf && cf->is_object()) f.custom_fields = json::serialize(*cf);
  f.created_by = opt_string(o, "created_by").value_or("");
  f.created_at = *created;
  f.updated_at = opt_int(o, "updated_at").value_or(*created);
  f.completed_at = opt_int(o, "completed_at");
  f.archived_at = opt_int(o, "archived_at");
  f.deleted_at = opt_int(o, "deleted_at");
  f.deleted = f.deleted_at.has_value();
  f.version = opt_int(o, "version").value_or(1);
  return f;
}

int64_t change_time(const std::optional<Fact>& before, const Fact& after, int64_t event_ms) {
  if (after.deleted_at && !(before && before->deleted)) return *after.deleted_at;
  if (!before) return after.created_at;
  if (after.updated_at > before->updated_at) return after.updated_at;
  return event_ms;
}

namespace repo {

std::optional<Fact> load_fact(sql::Connection& c, const std::string& task_id) {
  auto r = c.query(std::string("SELECT ") + kFactColumns + " FROM analytics_tasks WHERE task_id = ?", {task_id});
  if (r.empty()) return std::nullopt;
  return fact_of(r[0]);
}

std::optional<Fact> Batch::load(const std::string& task_id) {
  if (auto it = facts_.find(task_id); it != facts_.end()) return it->second;
  return load_fact(c_, task_id);
}

void Batch::series(const std::string& project, const std::string& metric, int64_t at_ms, int64_t n, int64_t points) {
  auto& q = series_[{project, metric, bucket_of(at_ms)}];
  q.first += n;
  q.second += points;
  auto& d = daily_[{project, metric, day_of(at_ms)}];
  d.first += n;
  d.second += points;
}

void Batch::apply(const std::optional<Fact>& before, Fact after, int64_t at_ms, int64_t seq) {
  // The first entry into a started state is the start of the cycle time; it is never moved.
  after.started_at = before ? before->started_at : std::nullopt;
  if (!after.started_at && after.state_group == "started" && (!before || before->state_group != "started"))
    after.started_at = at_ms;
  after.last_seq = seq;

  Counts counts;
  if (before) add_counts(counts, *before, -1);
  add_counts(counts, after, +1);
  for (const auto& [k, v] : counts) {
    auto& acc = counts_[{after.project_id, k.first, k.second}];
    acc[0] += std::get<0>(v);
    acc[1] += std::get<1>(v);
    acc[2] += std::get<2>(v);
  }
  Levels levels;
  if (before) add_levels(levels, *before, -1);
  add_levels(levels, after, +1);
  for (const auto& [m, v] : levels) series(after.project_id, m, at_ms, v.first, v.second);
  if (!before) series(after.project_id, "created", after.created_at, 1, after.points());
  const bool was_done = before && before->live() && before->state_group == "completed";
  if (after.live() && after.state_group == "completed" && !was_done)
    series(after.project_id, "completed", after.completed_at.value_or(at_ms), 1, after.points());

  if (!before || before->state_id != after.state_id)
    transitions_.insert(transitions_.end(),
                        {after.task_id, after.project_id, at_ms, before ? before->state_id : "", after.state_id,
                         before ? before->state_group : "", after.state_group, seq});
  facts_[after.task_id] = std::move(after);
}

void Batch::flush() {
  std::vector<sql::Param> rows;
  for (const auto& [k, v] : counts_)
    if (v[0] || v[1] || v[2])
      rows.insert(rows.end(), {std::get<0>(k), std::get<1>(k), std::get<2>(k), v[0], v[1], v[2]});
  insert_rows(c_, "INSERT INTO analytics_counts (project_id, dim, dim_key, total, open_n, open_points)",
              " ON CONFLICT (project_id, dim, dim_key) DO UPDATE SET total = analytics_counts.total + excluded.total, "
              "open_n = analytics_counts.open_n + excluded.open_n, "
              "open_points = analytics_counts.open_points + excluded.open_points",
              6, rows);
  for (const auto* table : {&series_, &daily_}) {
    rows.clear();
    for (const auto& [k, v] : *table)
      if (v.first || v.second) rows.insert(rows.end(), {std::get<0>(k), std::get<1>(k), std::get<2>(k), v.first, v.second});
    if (table == &series_)
      insert_rows(c_, "INSERT INTO analytics_series (project_id, metric, bucket, n, points)",
                  " ON CONFLICT (project_id, metric, bucket) DO UPDATE SET n = analytics_series.n + excluded.n, "
                  "points = analytics_series.points + excluded.points",
                  5, rows);
    else
      insert_rows(c_, "INSERT INTO analytics_series_daily (project_id, metric, day_ms, n, points)",
                  " ON CONFLICT (project_id, metric, day_ms) DO UPDATE SET n = analytics_series_daily.n + excluded.n, "
                  "points = analytics_series_daily.points + excluded.points",
                  5, rows);
  }
  insert_rows(c_,
              "INSERT INTO analytics_transitions (task_id, project_id, at_ms, from_state, to_state, from_group, "
              "to_group, seq)",
              "", 8, transitions_);
  rows.clear();
  for (const auto& [id, f] : facts_)
    rows.insert(rows.end(), {f.task_id, f.project_id, f.number, f.title, f.state_id, f.state_group, f.priority,
                             f.start_date, f.due_date, f.estimate, f.parent_id, json_array(f.assignee_ids),
                             json_array(f.label_ids), f.custom_fields, f.created_by, f.created_at, f.updated_at,
                             f.started_at, f.completed_at, f.archived_at, f.deleted ? 1 : 0, f.open() ? 1 : 0,
                             f.version, f.last_seq});
  insert_rows(c_,
              "INSERT INTO analytics_tasks (task_id, project_id, number, title, state_id, state_group, priority, "
              "start_date, due_date, estimate, parent_id, assignee_ids, label_ids, custom_fields, created_by, "
              "created_at, updated_at, started_at, completed_at, archived_at, deleted, live_open, version, last_seq)",
              " ON CONFLICT (task_id) DO UPDATE SET number = excluded.number, title = excluded.title, "
              "state_id = excluded.state_id, state_group = excluded.state_group, priority = excluded.priority, "
              "start_date = excluded.start_date, due_date = excluded.due_date, estimate = excluded.estimate, "
              "parent_id = excluded.parent_id, assignee_ids = excluded.assignee_ids, label_ids = excluded.label_ids, "
              "custom_fields = excluded.custom_fields, updated_at = excluded.updated_at, "
              "started_at = excluded.started_at, completed_at = excluded.completed_at, "
              "archived_at = excluded.archived_at, deleted = excluded.deleted, live_open = excluded.live_open, "
              "version = excluded.version, last_seq = excluded.last_seq",
              24, rows);
  counts_.clear();
  series_.clear();
  daily_.clear();
  transitions_.clear();
  facts_.clear();
}

std::vector<Fact> facts_in_state(sql::Connection& c, const std::string& project_id, const std::string& state_id) {
  auto r = c.query(std::string("SELECT ") + kFactColumns +
                       " FROM analytics_tasks WHERE project_id = ? AND state_id = ? AND deleted = 0",
                   {project_id, state_id});
  std::vector<Fact> out;
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(fact_of(r[i]));
  return out;
}

std::vector<Fact> facts_with_label(sql::Connection& c, const std::string& project_id, const std::string& label_id) {
  auto r = c.query(std::string("SELECT ") + kFactColumns +
                       " FROM analytics_tasks WHERE project_id = ? AND label_ids LIKE ?",
                   {project_id, "%\"" + label_id + "\"%"});
  std::vector<Fact> out;
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(fact_of(r[i]));
  return out;
}

std::vector<Fact> project_facts(sql::Connection& c, const std::string& project_id, int64_t after, int limit) {
  auto r = c.query(std::string("SELECT ") + kFactColumns +
                       " FROM analytics_tasks WHERE project_id = ? AND deleted = 0 AND number > ? ORDER BY number LIMIT ?",
                   {project_id, after, limit});
  std::vector<Fact> out;
  out.reserve(r.size());
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(fact_of(r[i]));
  return out;
}

void delete_project(sql::Connection& c, const std::string& project_id) {
  for (const char* table :
       {"analytics_tasks", "analytics_counts", "analytics_series", "analytics_series_daily", "analytics_transitions"})
    c.exec(std::string("DELETE FROM ") + table + " WHERE project_id = ?", {project_id});
}

std::optional<Cursor> take_lease(sql::Connection& c, const std::string& holder, int64_t now, int64_t lease_ms) {
  // On PostgreSQL a second consumer blocks on the row lock, then fails the re-checked WHERE.
  if (c.exec("UPDATE analytics_consumer SET holder = ?, lease_until = ? WHERE id = 1 AND (holder = ? OR lease_until < ?)",
             {holder, now + lease_ms, holder, now}) == 0)
    return std::nullopt;
  return cursor(c);
}

Cursor cursor(sql::Connection& c) {
  auto r = c.query("SELECT last_seq, last_event_ms, backfilled, backfill_after FROM analytics_consumer WHERE id = 1");
  Cursor cur;
  cur.last_seq = r[0].i64(0);
  cur.last_event_ms = r[0].i64(1);
  cur.backfilled = r[0].boolean(2);
  cur.backfill_after = r[0].str(3);
  return cur;
}

void move_cursor(sql::Connection& c, int64_t to, int64_t last_event_ms) {
  c.exec("UPDATE analytics_consumer SET last_seq = ?, last_event_ms = ? WHERE id = 1", {to, last_event_ms});
}

void release(sql::Connection& c, const std::string& holder) {
  c.exec("UPDATE analytics_consumer SET holder = '', lease_until = 0 WHERE id = 1 AND holder = ?", {holder});
}

std::vector<Fact> tasks_after(sql::Connection& c, const std::string& after, int limit) {
  auto rows = c.query(
      "SELECT id, project_id, number, title, state_id, state_group, priority, start_date, due_date, estimate, "
      "parent_id, created_by, created_at, updated_at, completed_at, archived_at, deleted_at, version "
      "FROM tasks WHERE id > ? ORDER BY id LIMIT ?",
      {after, limit});
  std::vector<Fact> out;
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const sql::Row r = rows[i];
    Fact f;
    f.task_id = r.str(0);
    f.project_id = r.str(1);
    f.number = r.i64(2);
    f.title = r.str(3);
    f.state_id = r.str(4);
    f.state_group = r.str(5);
    f.priority = static_cast<int>(r.i64(6));
    f.start_date = r.opt_str(7);
    f.due_date = r.opt_str(8);
    f.estimate = r.opt_i64(9);
    f.parent_id = r.opt_str(10);
    f.created_by = r.str(11);
    f.created_at = r.i64(12);
    f.updated_at = r.i64(13);
    f.completed_at = r.opt_i64(14);
    f.archived_at = r.opt_i64(15);
    f.deleted = r.opt_i64(16).has_value();
    f.version = r.i64(17);
    index[f.task_id] = out.size();
    out.push_back(std::move(f));
  }
  if (out.empty()) return out;
  const std::string& first = out.front().task_id;
  const std::string& last = out.back().task_id;
  auto attach = [&](const char* sql, std::vector<std::string> Fact::*field) {
    auto r = c.query(sql, {first, last});
    for (std::size_t i = 0; i < r.size(); ++i)
      if (auto it = index.find(r[i].str(0)); it != index.end()) (out[it->second].*field).push_back(r[i].str(1));
  };
  attach("SELECT task_id, user_id FROM task_assignees WHERE task_id >= ? AND task_id <= ? ORDER BY task_id, user_id",
         &Fact::assignee_ids);
  attach("SELECT task_id, label_id FROM task_labels WHERE task_id >= ? AND task_id <= ? ORDER BY task_id, label_id",
         &Fact::label_ids);
  return out;
}

bool advance_backfill(sql::Connection& c, const std::string& holder, const std::string& from, const std::string& to,
                      bool done) {
  return c.exec(
             "UPDATE analytics_consumer SET backfill_after = ?, backfilled = ? WHERE id = 1 AND holder = ? AND "
             "backfill_after = ?",
             {to, done ? 1 : 0, holder, from}) > 0;
}

}  // namespace repo
}  // namespace taskhub::analytics
