#include "services/tasks/repository.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <tuple>

namespace taskhub::tasks::repo {

namespace {

constexpr const char* kTaskCols =
    "id, project_id, number, title, description, state_id, state_group, priority, start_date, due_date, estimate, "
    "parent_id, position, completed_at, archived_at, deleted_at, created_by, version, created_at, updated_at, "
    "recurrence, next_occurrence_id";

Task task_from(const sql::Row& r) {
  Task t;
  t.id = r.str(0);
  t.project_id = r.str(1);
  t.number = r.i64(2);
  t.title = r.str(3);
  t.description = r.str(4);
  t.state_id = r.str(5);
  t.state_group = r.str(6);
  t.priority = static_cast<int>(r.i64(7));
  t.start_date = r.opt_str(8);
  t.due_date = r.opt_str(9);
  t.estimate = r.opt_i64(10);
  t.parent_id = r.opt_str(11);
  t.position = r.f64(12);
  t.completed_at = r.opt_i64(13);
  t.archived_at = r.opt_i64(14);
  t.deleted_at = r.opt_i64(15);
  t.created_by = r.str(16);
  t.version = r.i64(17);
  t.created_at = r.i64(18);
  t.updated_at = r.i64(19);
  t.recurrence = r.opt_str(20);
  t.next_occurrence_id = r.opt_str(21);
  return t;
}
constexpr std::size_t kTaskColCount = 22;

// One task with its assignees and labels in the same statement: a single task is the hottest
// read (GET /tasks/{id}, and every write reads the task first), and on PostgreSQL each
// statement is a round trip. Custom values, which few tasks have, follow in a second statement
// only when the count says there are some.
constexpr const char* kOneTaskLinks =
    ", (SELECT string_agg(user_id, ',') FROM task_assignees a WHERE a.task_id = t.id)"
    ", (SELECT string_agg(label_id, ',') FROM task_labels l WHERE l.task_id = t.id)"
    ", (SELECT COUNT(*) FROM task_custom_values v WHERE v.task_id = t.id) FROM tasks t ";

std::vector<std::string> split_ids(const sql::Row& r, std::size_t col) {
  std::vector<std::string> out;
  if (r.is_null(col)) return out;
  const std::string all = r.str(col);
  for (std::size_t at = 0;;) {  // ids are UUIDs: no commas inside
    auto comma = all.find(',', at);
    out.push_back(all.substr(at, comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  std::sort(out.begin(), out.end());  // the order load_links gives (string_agg's is unspecified)
  return out;
}

std::string one_task_sql(std::string_view where) {
  return std::string("SELECT ") + kTaskCols + kOneTaskLinks + std::string(where);
}

// sql: one_task_sql(...), built once by the caller (the text is about 700 bytes).
std::optional<Task> one_task(sql::Connection& c, const std::string& sql, std::initializer_list<sql::Param> params) {
  auto res = c.query(sql, params);
  auto r = res.first();
  if (!r) return std::nullopt;
  std::vector<Task> v{task_from(*r)};
  v.front().assignee_ids = split_ids(*r, kTaskColCount);
  v.front().label_ids = split_ids(*r, kTaskColCount + 1);
  if (r->i64(kTaskColCount + 2) > 0) load_links(c, v);
  return std::move(v.front());
}

std::string placeholders(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
  return s;
}

const char* sort_expr(SortField f) {
  switch (f) {
    case SortField::created_at: return "created_at";
    case SortField::updated_at: return "updated_at";
    case SortField::priority: return "priority";
    case SortField::due_date: return "COALESCE(due_date, '9999-12-31')";
    case SortField::position: return "position";
    case SortField::number: return "number";
    case SortField::relevance: return "s.rank";
  }
  return "created_at";
}

constexpr const char* kCommentCols = "id, task_id, author_id, body, version, created_at, updated_at";

Comment comment_from(const sql::Row& r) {
  Comment cm;
  cm.id = r.str(0);
  cm.task_id = r.str(1);
  cm.author_id = r.str(2);
  cm.body = r.str(3);
  cm.version = r.i64(4);
  cm.created_at = r.i64(5);
  cm.updated_at = r.i64(6);
  return cm;
}

void load_mentions(sql::Connection& c, std::vector<Comment>& cms) {
  if (cms.empty()) return;
  std::vector<sql::Param> params;
  std::map<std::string, Comment*> by_id;
  for (auto& cm : cms) {
    params.emplace_back(cm.id);
    by_id[cm.id] = &cm;
  }
  auto res = c.query("SELECT comment_id, user_id FROM comment_mentions WHERE comment_id IN (" +
                         placeholders(params.size()) + ") ORDER BY comment_id, created_at, user_id",
                     params);
  for (std::size_t i = 0; i < res.size(); ++i) by_id[res[i].str(0)]->mention_ids.push_back(res[i].str(1));
}

}  // namespace

int64_t next_number(sql::Connection& c, const std::string& project_id) {
  auto res = c.query(
      "INSERT INTO task_counters (project_id, last_number) VALUES (?, 1) "
      "ON CONFLICT (project_id) DO UPDATE SET last_number = task_counters.last_number + 1 RETURNING last_number",
      {project_id});
  return res[0].i64(0);
}

void insert_task(sql::Connection& c, const Task& t) {
  c.exec(std::string("INSERT INTO tasks (") + kTaskCols +
             ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         {t.id, t.project_id, t.number, t.title, t.description, t.state_id, t.state_group, t.priority, t.start_date,
          t.due_date, t.estimate, t.parent_id, t.position, t.completed_at, t.archived_at, t.deleted_at, t.created_by,
          t.version, t.created_at, t.updated_at, t.recurrence, t.next_occurrence_id});
}

int64_t update_task(sql::Connection& c, const Task& t) {
  return c.exec(
      "UPDATE tasks SET title = ?, description = ?, state_id = ?, state_group = ?, priority = ?, start_date = ?, "
      "due_date = ?, estimate = ?, parent_id = ?, position = ?, completed_at = ?, archived_at = ?, deleted_at = ?, "
      "version = ?, updated_at = ?, recurrence = ?, next_occurrence_id = ? WHERE id = ?",
      {t.title, t.description, t.state_id, t.state_group, t.priority, t.start_date, t.due_date, t.estimate,
       t.parent_id, t.position, t.completed_at, t.archived_at, t.deleted_at, t.version, t.updated_at, t.recurrence,
       t.next_occurrence_id, t.id});
}

std::optional<Task> find_task(sql::Connection& c, std::string_view id) {
  static const std::string sql = one_task_sql("WHERE t.id = ?");
  return one_task(c, sql, {id});
}

std::optional<Task> find_task_for_update(sql::Connection& c, std::string_view id, sql::Dialect dialect) {
  if (dialect == sql::Dialect::sqlite) return find_task(c, id);
  static const std::string sql = one_task_sql("WHERE t.id = ? FOR UPDATE");
  return one_task(c, sql, {id});
}

std::optional<Task> find_task_by_number(sql::Connection& c, std::string_view project_id, int64_t number) {
  static const std::string sql = one_task_sql("WHERE t.project_id = ? AND t.number = ?");
  return one_task(c, sql, {project_id, number});
}

void load_links(sql::Connection& c, std::vector<Task>& tasks) {
  if (tasks.empty()) return;
  std::vector<sql::Param> params;
  std::map<std::string, Task*> by_id;
  for (auto& t : tasks) {
    params.emplace_back(t.id);
    by_id[t.id] = &t;
    t.assignee_ids.clear();
    t.label_ids.clear();
  }
  const std::string in = "(" + placeholders(params.size()) + ")";
  // One statement for the three link tables (one round trip on PostgreSQL instead of three).
  // Unordered: an ORDER BY here cost SQLite a temporary b-tree per branch, and those sorters
  // were the largest part of GET /tasks/{id}; the few rows per task are sorted below instead.
  std::vector<sql::Param> all;
  all.reserve(params.size() * 3);
  for (int k = 0; k < 3; ++k) all.insert(all.end(), params.begin(), params.end());
  auto rows = c.query(
      "SELECT 'a', task_id, user_id, NULL, NULL, CAST(NULL AS DOUBLE PRECISION) FROM task_assignees WHERE task_id IN " + in +
          " UNION ALL SELECT 'l', task_id, label_id, NULL, NULL, CAST(NULL AS DOUBLE PRECISION) FROM task_labels WHERE task_id IN " + in +
          " UNION ALL SELECT 'c', v.task_id, v.field_id, f.type, v.value_text, v.value_number "
          "FROM task_custom_values v JOIN custom_fields f ON f.id = v.field_id WHERE v.task_id IN " + in,
      all);
  for (auto& t : tasks) t.custom_values.clear();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    Task& t = *by_id[r.str(1)];
    const std::string kind = r.str(0);
    if (kind == "a") {
      t.assignee_ids.push_back(r.str(2));
    } else if (kind == "l") {
      t.label_ids.push_back(r.str(2));
    } else {
      std::optional<double> number;
      if (!r.is_null(5)) number = r.f64(5);
      t.custom_values.push_back(CustomValue{r.str(2), r.str(3), r.str(4), number});
    }
  }
  for (auto& t : tasks) {  // a stable order for clients and ETags: by id, a field's values by value
    std::sort(t.assignee_ids.begin(), t.assignee_ids.end());
    std::sort(t.label_ids.begin(), t.label_ids.end());
    std::sort(t.custom_values.begin(), t.custom_values.end(), [](const CustomValue& a, const CustomValue& b) {
      return std::tie(a.field_id, a.text) < std::tie(b.field_id, b.text);
    });
  }
}

void set_assignees(sql::Connection& c, const std::string& task_id, const std::vector<std::string>& ids) {
  c.exec("DELETE FROM task_assignees WHERE task_id = ?", {task_id});
  for (const auto& u : ids) c.exec("INSERT INTO task_assignees (task_id, user_id) VALUES (?, ?)", {task_id, u});
}

void set_labels(sql::Connection& c, const std::string& task_id, const std::vector<std::string>& ids) {
  c.exec("DELETE FROM task_labels WHERE task_id = ?", {task_id});
  for (const auto& l : ids) c.exec("INSERT INTO task_labels (task_id, label_id) VALUES (?, ?)", {task_id, l});
}

std::optional<double> last_position(sql::Connection& c, const std::string& project_id, const std::string& state_id) {
  auto r = c.query(
      "SELECT position FROM tasks WHERE project_id = ? AND state_id = ? ORDER BY position DESC, id DESC LIMIT 1",
      {project_id, state_id});
  if (auto row = r.first()) return row->f64(0);
  return std::nullopt;
}

std::optional<double> neighbour_position(sql::Connection& c, const std::string& project_id,
                                         const std::string& state_id, double pos, const std::string& id, bool after,
                                         const std::string& exclude_id) {
  std::string q = std::string("SELECT position FROM tasks WHERE project_id = ? AND state_id = ? AND id <> ? AND ") +
                  (after ? "(position, id) > (?, ?) ORDER BY position, id" :
                           "(position, id) < (?, ?) ORDER BY position DESC, id DESC") +
                  " LIMIT 1";
  auto r = c.query(q, {project_id, state_id, exclude_id, pos, id});
  if (auto row = r.first()) return row->f64(0);
  return std::nullopt;
}

std::optional<std::string> parent_of(sql::Connection& c, std::string_view task_id) {
  auto r = c.query("SELECT parent_id FROM tasks WHERE id = ?", {task_id});
  if (auto row = r.first()) return row->opt_str(0);
  return std::nullopt;
}

std::vector<std::string> children_of(sql::Connection& c, const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  if (ids.empty()) return out;
  std::vector<sql::Param> params(ids.begin(), ids.end());
  auto r = c.query("SELECT id FROM tasks WHERE parent_id IN (" + placeholders(ids.size()) + ")", params);
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(r[i].str(0));
  return out;
}

sql::Param sort_value(const Task& t, SortField f) {
  switch (f) {
    case SortField::created_at: return t.created_at;
    case SortField::updated_at: return t.updated_at;
    case SortField::priority: return t.priority;
    case SortField::due_date: return t.due_date.value_or("9999-12-31");
    case SortField::position: return t.position;
    case SortField::number: return t.number;
    case SortField::relevance: return t.rank;
  }
  return t.created_at;
}

namespace {

// PostgreSQL's counterpart of the FTS5 scope token (migration postgres/013) for ranked searches:
// the full-text rows of up to kMaxScopedProjects projects, so ts_rank is computed for those
// projects' matches only.
std::string pg_search_scope(const std::vector<std::string>& project_ids, std::vector<sql::Param>& p) {
  if (project_ids.empty() || project_ids.size() > kMaxScopedProjects) return "";
  for (const auto& id : project_ids) p.emplace_back(id);
  return " AND project_id IN (" + placeholders(project_ids.size()) + ")";
}

}  // namespace

std::pair<std::string, std::vector<sql::Param>> build_task_query(
    const std::vector<std::string>& project_ids, const TaskQuery& q, const std::optional<std::string>& assigned_to,
    const std::string& today, const std::optional<std::pair<sql::Param, std::string>>& after, int limit,
    sql::Dialect dialect) {
  std::vector<sql::Param> p;
  const bool ranked = q.sort == SortField::relevance && q.text;
  std::string s = std::string("SELECT ") + kTaskCols + (ranked ? ", s.rank" : "") + " FROM ";
  // "My tasks" starts from the caller's assignments (index on task_assignees (user_id, task_id))
  // and looks each task up by key: over every project the caller sees, filtering tasks by
  // project first would read most of the table.
  // On PostgreSQL the lookup is a LATERAL subquery fenced with OFFSET 0: on small tables the
  // planner would otherwise prefer a hash join over a sequential scan of tasks, which is cheap
  // at 20k rows and ruinous at millions.
  if (!assigned_to)
    s += "tasks ";
  else if (dialect == sql::Dialect::postgres)
    s += "task_assignees ma CROSS JOIN LATERAL (SELECT * FROM tasks WHERE tasks.id = ma.task_id OFFSET 0) tasks ";
  else
    s += "task_assignees ma JOIN tasks ON tasks.id = ma.task_id ";
  if (ranked) {
    if (dialect == sql::Dialect::sqlite) {
      s += "JOIN (SELECT rowid AS r, bm25(task_search, 4.0, 1.0, 0.0) AS rank FROM task_search WHERE task_search "
           "MATCH ?) s ON s.r = tasks.rowid ";
      p.emplace_back(fts5_query(*q.text, project_ids));
    } else {
      p.emplace_back(*q.text);
      p.emplace_back(*q.text);
      s += "JOIN (SELECT task_id, -CAST(ts_rank(doc, plainto_tsquery('simple', ?)) AS DOUBLE PRECISION) AS rank "
           "FROM task_search WHERE doc @@ plainto_tsquery('simple', ?)" + pg_search_scope(project_ids, p) +
           ") s ON s.task_id = tasks.id ";
    }
  }
  s += "WHERE ";
  if (assigned_to) {
    s += "ma.user_id = ? AND ";
    p.emplace_back(*assigned_to);
  }
  if (project_ids.size() == 1) {
    s += "project_id = ?";
  } else {
    s += "project_id IN (" + placeholders(project_ids.size()) + ")";
  }
  for (const auto& id : project_ids) p.emplace_back(id);
  s += " AND deleted_at IS NULL";
  s += q.archived ? " AND archived_at IS NOT NULL" : " AND archived_at IS NULL";
  if (!q.state_ids.empty()) {
    s += " AND state_id IN (" + placeholders(q.state_ids.size()) + ")";
    for (const auto& v : q.state_ids) p.emplace_back(v);
  }
  if (!q.state_groups.empty()) {
    s += " AND state_group IN (" + placeholders(q.state_groups.size()) + ")";
    for (const auto& v : q.state_groups) p.emplace_back(v);
  }
  if (!q.priorities.empty()) {
    s += " AND priority IN (" + placeholders(q.priorities.size()) + ")";
    for (int v : q.priorities) p.emplace_back(v);
  }
  if (q.assignee) {
    if (*q.assignee == "none") {
      s += " AND NOT EXISTS (SELECT 1 FROM task_assignees a WHERE a.task_id = tasks.id)";
    } else {
      s += " AND EXISTS (SELECT 1 FROM task_assignees a WHERE a.task_id = tasks.id AND a.user_id = ?)";
      p.emplace_back(*q.assignee);
    }
  }
  if (q.label_id) {
    s += " AND EXISTS (SELECT 1 FROM task_labels l WHERE l.task_id = tasks.id AND l.label_id = ?)";
    p.emplace_back(*q.label_id);
  }
  for (const auto& f : q.custom_filters) {
    s += " AND EXISTS (SELECT 1 FROM task_custom_values v WHERE v.task_id = tasks.id AND v.field_id = ? AND "
         "v.value_text = ?)";
    p.emplace_back(f.first);
    p.emplace_back(f.second);
  }
  if (q.due_before) {
    s += " AND due_date < ?";
    p.emplace_back(*q.due_before);
  }
  if (q.due_after) {
    s += " AND due_date > ?";
    p.emplace_back(*q.due_after);
  }
  if (q.overdue) {
    s += " AND due_date < ? AND state_group NOT IN ('completed', 'cancelled')";
    p.emplace_back(today);
  }
  if (q.parent_id) {
    if (*q.parent_id == "none") {
      s += " AND parent_id IS NULL";
    } else {
      s += " AND parent_id = ?";
      p.emplace_back(*q.parent_id);
    }
  }
  if (q.created_by) {
    s += " AND created_by = ?";
    p.emplace_back(*q.created_by);
  }
  if (q.updated_since) {
    s += " AND updated_at >= ?";
    p.emplace_back(*q.updated_since);
  }
  if (q.text && !ranked) {
    if (dialect == sql::Dialect::sqlite) {
      s += " AND tasks.rowid IN (SELECT rowid FROM task_search WHERE task_search MATCH ?)";
      p.emplace_back(fts5_query(*q.text, project_ids));
    } else {
      // Not scoped by project here: unranked, the planner semi-joins the matches with the
      // project's tasks (2.4 ms at 100k for two common words); with the scope it picked a
      // bitmap AND that took 26 ms.
      s += " AND id IN (SELECT task_id FROM task_search WHERE doc @@ plainto_tsquery('simple', ?))";
      p.emplace_back(*q.text);
    }
  }
  const std::string expr = sort_expr(q.sort);
  if (after) {
    s += " AND (" + expr + ", id) " + (q.descending ? "<" : ">") + " (?, ?)";
    p.push_back(after->first);
    p.emplace_back(after->second);
  }
  const char* dir = q.descending ? " DESC" : "";
  s += " ORDER BY " + expr + dir + ", id" + dir + " LIMIT ?";
  p.emplace_back(limit);
  return {std::move(s), std::move(p)};
}

std::vector<Task> query_tasks(sql::Connection& c, const std::vector<std::string>& project_ids, const TaskQuery& q,
                              const std::optional<std::string>& assigned_to, const std::string& today,
                              const std::optional<std::pair<sql::Param, std::string>>& after, int limit,
                              sql::Dialect dialect) {
  std::vector<Task> out;
  if (project_ids.empty()) return out;
  auto [s, p] = build_task_query(project_ids, q, assigned_to, today, after, limit, dialect);
  auto res = c.query(s, p);
  const bool ranked = res.columns.size() > kTaskColCount;  // ", s.rank" (build_task_query)
  for (std::size_t i = 0; i < res.size(); ++i) {
    out.push_back(task_from(res[i]));
    if (ranked) out.back().rank = res[i].f64(kTaskColCount);
  }
  load_links(c, out);
  return out;
}

void add_activity(sql::Connection& c, const Activity& a) {
  c.exec(
      "INSERT INTO task_activity (id, task_id, actor_id, kind, field, old_value, new_value, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {a.id, a.task_id, a.actor_id, a.kind, a.field, a.old_value, a.new_value, a.created_at});
}

std::vector<Activity> list_activity(sql::Connection& c, const std::string& task_id,
                                    const std::optional<std::string>& before_id, int limit) {
  std::string s =
      "SELECT id, task_id, actor_id, kind, field, old_value, new_value, created_at FROM task_activity "
      "WHERE task_id = ?";
  std::vector<sql::Param> p{task_id};
  if (before_id) {
    s += " AND id < ?";
    p.emplace_back(*before_id);
  }
  s += " ORDER BY id DESC LIMIT ?";
  p.emplace_back(limit);
  auto r = c.query(s, p);
  std::vector<Activity> out;
  for (std::size_t i = 0; i < r.size(); ++i) {
    Activity a;
    a.id = r[i].str(0);
    a.task_id = r[i].str(1);
    a.actor_id = r[i].str(2);
    a.kind = r[i].str(3);
    a.field = r[i].opt_str(4);
    a.old_value = r[i].opt_str(5);
    a.new_value = r[i].opt_str(6);
    a.created_at = r[i].i64(7);
    out.push_back(std::move(a));
  }
  return out;
}

void add_watcher(sql::Connection& c, const std::string& task_id, const std::string& user_id, int64_t now) {
  c.exec("INSERT INTO task_watchers (task_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
         {task_id, user_id, now});
}

void remove_watcher(sql::Connection& c, const std::string& task_id, const std::string& user_id) {
  c.exec("DELETE FROM task_watchers WHERE task_id = ? AND user_id = ?", {task_id, user_id});
}

std::vector<Watcher> list_watchers(sql::Connection& c, const std::string& task_id) {
  auto r = c.query("SELECT user_id, created_at FROM task_watchers WHERE task_id = ? ORDER BY created_at, user_id",
                   {task_id});
  std::vector<Watcher> out;
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(Watcher{r[i].str(0), r[i].i64(1)});
  return out;
}

void insert_comment(sql::Connection& c, const Comment& cm) {
  c.exec(std::string("INSERT INTO task_comments (") + kCommentCols + ") VALUES (?, ?, ?, ?, ?, ?, ?)",
         {cm.id, cm.task_id, cm.author_id, cm.body, cm.version, cm.created_at, cm.updated_at});
}

std::optional<Comment> find_comment(sql::Connection& c, std::string_view id) {
  auto r = c.query(std::string("SELECT ") + kCommentCols + " FROM task_comments WHERE id = ?", {id});
  auto row = r.first();
  if (!row) return std::nullopt;
  std::vector<Comment> v{comment_from(*row)};
  load_mentions(c, v);
  return std::move(v.front());
}

int64_t update_comment(sql::Connection& c, const Comment& cm) {
  return c.exec("UPDATE task_comments SET body = ?, version = ?, updated_at = ? WHERE id = ?",
                {cm.body, cm.version, cm.updated_at, cm.id});
}

void delete_comment(sql::Connection& c, const std::string& id) {
  c.exec("DELETE FROM task_reactions WHERE target_id = ?", {id});
  c.exec("DELETE FROM task_comments WHERE id = ?", {id});
}

std::vector<Comment> list_comments(sql::Connection& c, const std::string& task_id,
                                   const std::optional<std::string>& after_id, int limit) {
  std::string s = std::string("SELECT ") + kCommentCols + " FROM task_comments WHERE task_id = ?";
  std::vector<sql::Param> p{task_id};
  if (after_id) {
    s += " AND id > ?";
    p.emplace_back(*after_id);
  }
  s += " ORDER BY id LIMIT ?";
  p.emplace_back(limit);
  auto r = c.query(s, p);
  std::vector<Comment> out;
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(comment_from(r[i]));
  load_mentions(c, out);
  return out;
}

void set_mentions(sql::Connection& c, const std::string& comment_id, const std::vector<std::string>& user_ids,
                  int64_t now) {
  c.exec("DELETE FROM comment_mentions WHERE comment_id = ?", {comment_id});
  for (const auto& u : user_ids)
    c.exec("INSERT INTO comment_mentions (comment_id, user_id, created_at) VALUES (?, ?, ?)", {comment_id, u, now});
}

namespace {
constexpr const char* kRelationCols = "id, kind, source_id, target_id, created_by, created_at";
Relation relation_from(const sql::Row& r) {
  return Relation{r.str(0), r.str(1), r.str(2), r.str(3), r.str(4), r.i64(5)};
}
}  // namespace

void insert_relation(sql::Connection& c, const Relation& r) {
  c.exec(std::string("INSERT INTO task_relations (") + kRelationCols + ") VALUES (?, ?, ?, ?, ?, ?)",
         {r.id, r.kind, r.source_id, r.target_id, r.created_by, r.created_at});
}

std::optional<Relation> find_relation(sql::Connection& c, std::string_view id) {
  auto r = c.query(std::string("SELECT ") + kRelationCols + " FROM task_relations WHERE id = ?", {id});
  if (auto row = r.first()) return relation_from(*row);
  return std::nullopt;
}

bool relation_exists(sql::Connection& c, const std::string& kind, const std::string& source,
                     const std::string& target) {
  auto r = c.query(
      "SELECT 1 FROM task_relations WHERE kind = ? AND ((source_id = ? AND target_id = ?) OR "
      "(source_id = ? AND target_id = ?)) LIMIT 1",
      {kind, source, target, target, source});
  return !r.empty();
}

void delete_relation(sql::Connection& c, const std::string& id) {
  c.exec("DELETE FROM task_relations WHERE id = ?", {id});
}

std::vector<Relation> list_relations(sql::Connection& c, const std::string& task_id) {
  auto r = c.query(std::string("SELECT ") + kRelationCols + " FROM task_relations WHERE source_id = ? UNION ALL " +
                       "SELECT " + kRelationCols + " FROM task_relations WHERE target_id = ? ORDER BY id",
                   {task_id, task_id});
  std::vector<Relation> out;
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(relation_from(r[i]));
  return out;
}

void add_reaction(sql::Connection& c, const std::string& kind, const std::string& target_id,
                  const std::string& user_id, const std::string& emoji, int64_t now) {
  c.exec(
      "INSERT INTO task_reactions (target_kind, target_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT DO NOTHING",
      {kind, target_id, user_id, emoji, now});
}

void remove_reaction(sql::Connection& c, const std::string& target_id, const std::string& user_id,
                     const std::string& emoji) {
  c.exec("DELETE FROM task_reactions WHERE target_id = ? AND emoji = ? AND user_id = ?", {target_id, emoji, user_id});
}

void remove_reactions(sql::Connection& c, const std::string& target_id) {
  c.exec("DELETE FROM task_reactions WHERE target_id = ?", {target_id});
}

std::vector<ReactionCount> list_reactions(sql::Connection& c, const std::string& target_id) {
  auto r = c.query("SELECT emoji, user_id FROM task_reactions WHERE target_id = ? ORDER BY emoji, created_at, user_id",
                   {target_id});
  std::vector<ReactionCount> out;
  for (std::size_t i = 0; i < r.size(); ++i) {
    std::string emoji = r[i].str(0);
    if (out.empty() || out.back().emoji != emoji) out.push_back(ReactionCount{emoji, {}});
    out.back().user_ids.push_back(r[i].str(1));
  }
  return out;
}

namespace {
constexpr const char* kViewCols = "id, project_id, owner_id, name, query, shared, version, created_at, updated_at";
SavedView view_from(const sql::Row& r) {
  return SavedView{r.str(0), r.str(1), r.str(2), r.str(3), r.str(4), r.boolean(5), r.i64(6), r.i64(7), r.i64(8)};
}
}  // namespace

void insert_view(sql::Connection& c, const SavedView& v) {
  c.exec(std::string("INSERT INTO saved_views (") + kViewCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
         {v.id, v.project_id, v.owner_id, v.name, v.query, v.shared, v.version, v.created_at, v.updated_at});
}

std::optional<SavedView> find_view(sql::Connection& c, std::string_view id) {
  auto r = c.query(std::string("SELECT ") + kViewCols + " FROM saved_views WHERE id = ?", {id});
  if (auto row = r.first()) return view_from(*row);
  return std::nullopt;
}

void update_view(sql::Connection& c, const SavedView& v) {
  c.exec("UPDATE saved_views SET name = ?, query = ?, shared = ?, version = ?, updated_at = ? WHERE id = ?",
         {v.name, v.query, v.shared, v.version, v.updated_at, v.id});
}

void delete_view(sql::Connection& c, const std::string& id) { c.exec("DELETE FROM saved_views WHERE id = ?", {id}); }

std::vector<SavedView> list_views(sql::Connection& c, const std::string& project_id, const std::string& user_id) {
  auto r = c.query(std::string("SELECT ") + kViewCols +
                       " FROM saved_views WHERE project_id = ? AND (shared = ? OR owner_id = ?) ORDER BY id",
                   {project_id, true, user_id});
  std::vector<SavedView> out;
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(view_from(r[i]));
  return out;
}

int64_t move_state(sql::Connection& c, const std::string& project_id, const std::string& from_state,
                   const std::string& to_state, const std::string& to_group, int64_t now) {
  return c.exec(
      "UPDATE tasks SET state_id = ?, state_group = ?, "
      "completed_at = CASE WHEN ? = 'completed' THEN COALESCE(completed_at, ?) ELSE NULL END, "
      "version = version + 1, updated_at = ? WHERE project_id = ? AND state_id = ?",
      {to_state, to_group, to_group, now, now, project_id, from_state});
}

std::string fts5_scope_token(std::string_view project_id) {
  std::string out = "p";
  for (char ch : project_id)
    if (ch != '-') out += ch;
  return out;
}

std::string fts5_query(std::string_view text, const std::vector<std::string>& project_ids) {
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!out.empty()) out += " ";
    out += "\"" + word + "\"";
    word.clear();
  };
  for (char ch : text) {
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
      flush();
    } else if (ch == '"') {
      word += "\"\"";
    } else {
      word += ch;
    }
  }
  flush();
  if (out.empty()) out = "\"\"";
  out = "{title body} : (" + out + ")";  // the words never match a scope token
  // A handful of projects narrows the search to their tokens; for many (the "my tasks" of a
  // user in dozens of projects) the OR of tokens would cost more than it saves.
  if (!project_ids.empty() && project_ids.size() <= kMaxScopedProjects) {
    std::string scopes;
    for (const auto& id : project_ids) scopes += (scopes.empty() ? "\"" : " OR \"") + fts5_scope_token(id) + "\"";
    out = "scope : (" + scopes + ") AND " + out;
  }
  return out;
}

namespace {

// SQLite: moves the transaction's staged search rows into FTS5 in one statement, so FTS5
// writes one segment per transaction (per group commit) instead of one per unit
// (migrations/sqlite/014_task_search_staging.sql). Staged rows of tasks deleted since are dropped.
void flush_search_staging(sql::Connection& c) {
  c.exec(
      "INSERT INTO task_search (rowid, title, body, scope) SELECT s.task_rowid, s.title, s.body, s.scope "
      "FROM task_search_staging s WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.rowid = s.task_rowid)");
  c.exec("DELETE FROM task_search_staging");
}

// Writes the task's search row (the task row must exist; on SQLite any earlier row must be gone).
// The scope token (SQLite) and project_id (PostgreSQL) come from the task row itself. On SQLite
// the row reaches task_search just before COMMIT (flush_search_staging).
void write_search_row(sql::Connection& c, sql::Dialect dialect, const std::string& task_id, const std::string& title,
                      const std::string& body) {
  if (dialect == sql::Dialect::sqlite) {
    c.exec(std::string("INSERT OR REPLACE INTO task_search_staging (task_rowid, title, body, scope) SELECT rowid, ?, "
                       "?, ") +
               kFts5ScopeSql + " FROM tasks WHERE id = ?",
           {title, body, task_id});
    c.before_commit("tasks.search_staging", flush_search_staging);
  } else {
    c.exec(
        "INSERT INTO task_search (task_id, project_id, doc) SELECT id, project_id, "
        "setweight(to_tsvector('simple', ?), 'A') || setweight(to_tsvector('simple', ?), 'B') FROM tasks WHERE id = ? "
        "ON CONFLICT (task_id) DO UPDATE SET doc = EXCLUDED.doc",
        {title, body, task_id});
  }
}

}  // namespace

void reindex_search(sql::Connection& c, sql::Dialect dialect, const std::string& task_id) {
  auto t = c.query("SELECT title, description FROM tasks WHERE id = ?", {task_id});
  auto row = t.first();
  if (!row) return;
  std::string title = row->str(0);
  std::string body = row->str(1);
  auto cms = c.query("SELECT body FROM task_comments WHERE task_id = ? ORDER BY id", {task_id});
  for (std::size_t i = 0; i < cms.size() && body.size() < (1u << 20); ++i) body += "\n" + cms[i].str(0);
  if (dialect == sql::Dialect::sqlite)
    c.exec("DELETE FROM task_search WHERE rowid = (SELECT rowid FROM tasks WHERE id = ?)", {task_id});
  write_search_row(c, dialect, task_id, title, body);
}

void index_new_task(sql::Connection& c, sql::Dialect dialect, const Task& t) {
  write_search_row(c, dialect, t.id, t.title, t.description);
}

void purge_project(sql::Connection& c, const std::string& project_id, sql::Dialect dialect) {
  if (dialect == sql::Dialect::sqlite)
    c.exec("DELETE FROM task_search WHERE rowid IN (SELECT rowid FROM tasks WHERE project_id = ?)", {project_id});
  c.exec("DELETE FROM task_reactions WHERE target_id IN (SELECT id FROM tasks WHERE project_id = ?) OR target_id IN "
         "(SELECT cm.id FROM task_comments cm JOIN tasks t ON t.id = cm.task_id WHERE t.project_id = ?)",
         {project_id, project_id});
  c.exec("UPDATE tasks SET parent_id = NULL WHERE project_id = ? AND parent_id IS NOT NULL", {project_id});
  c.exec("DELETE FROM tasks WHERE project_id = ?", {project_id});
  c.exec("DELETE FROM task_counters WHERE project_id = ?", {project_id});
  c.exec("DELETE FROM saved_views WHERE project_id = ?", {project_id});
  c.exec("DELETE FROM task_custom_values WHERE field_id IN (SELECT id FROM custom_fields WHERE project_id = ?)",
         {project_id});
  c.exec("DELETE FROM custom_fields WHERE project_id = ?", {project_id});
}

// ---- custom fields

namespace {

constexpr const char* kFieldCols = "id, project_id, name, type, options, created_by, version, created_at, updated_at";

std::string options_text(const std::vector<FieldOption>& options) {
  boost::json::array a;
  for (const auto& o : options) {
    boost::json::object j{{"id", o.id}, {"name", o.name}};
    if (o.color) j["color"] = *o.color;
    a.push_back(std::move(j));
  }
  return boost::json::serialize(a);
}

std::vector<FieldOption> options_from(const std::string& text) {
  std::vector<FieldOption> out;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& e : v.as_array()) {
    if (!e.is_object()) continue;
    const auto& o = e.as_object();
    FieldOption f;
    if (auto* id = o.if_contains("id"); id && id->is_string()) f.id = std::string(id->as_string());
    if (auto* n = o.if_contains("name"); n && n->is_string()) f.name = std::string(n->as_string());
    if (auto* c = o.if_contains("color"); c && c->is_string()) f.color = std::string(c->as_string());
    out.push_back(std::move(f));
  }
  return out;
}

CustomField field_from(const sql::Row& r) {
  CustomField f;
  f.id = r.str(0);
  f.project_id = r.str(1);
  f.name = r.str(2);
  f.type = r.str(3);
  f.options = options_from(r.str(4));
  f.created_by = r.str(5);
  f.version = r.i64(6);
  f.created_at = r.i64(7);
  f.updated_at = r.i64(8);
  return f;
}

std::string lower(std::string s) {
  for (auto& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

}  // namespace

void insert_field(sql::Connection& c, const CustomField& f) {
  c.exec(std::string("INSERT INTO custom_fields (") + kFieldCols + ", name_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         {f.id, f.project_id, f.name, f.type, options_text(f.options), f.created_by, f.version, f.created_at,
          f.updated_at, lower(f.name)});
}

void update_field(sql::Connection& c, const CustomField& f) {
  c.exec("UPDATE custom_fields SET name = ?, name_key = ?, options = ?, version = ?, updated_at = ? WHERE id = ?",
         {f.name, lower(f.name), options_text(f.options), f.version, f.updated_at, f.id});
}

std::optional<CustomField> find_field(sql::Connection& c, std::string_view id) {
  auto res = c.query(std::string("SELECT ") + kFieldCols + " FROM custom_fields WHERE id = ?", {id});
  auto r = res.first();
  if (!r) return std::nullopt;
  return field_from(*r);
}

std::optional<CustomField> find_field_for_update(sql::Connection& c, std::string_view id, sql::Dialect dialect) {
  if (dialect == sql::Dialect::sqlite) return find_field(c, id);
  auto res = c.query(std::string("SELECT ") + kFieldCols + " FROM custom_fields WHERE id = ? FOR UPDATE", {id});
  auto r = res.first();
  if (!r) return std::nullopt;
  return field_from(*r);
}

std::vector<CustomField> list_fields(sql::Connection& c, const std::string& project_id) {
  auto res = c.query(std::string("SELECT ") + kFieldCols + " FROM custom_fields WHERE project_id = ? ORDER BY id",
                     {project_id});
  std::vector<CustomField> out;
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(field_from(res[i]));
  return out;
}

std::vector<CustomField> find_fields(sql::Connection& c, const std::vector<std::string>& ids) {
  std::vector<CustomField> out;
  if (ids.empty()) return out;
  std::vector<sql::Param> params(ids.begin(), ids.end());
  auto res = c.query(std::string("SELECT ") + kFieldCols + " FROM custom_fields WHERE id IN (" +
                         placeholders(params.size()) + ") ORDER BY id",
                     params);
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(field_from(res[i]));
  return out;
}

int64_t count_fields(sql::Connection& c, const std::string& project_id) {
  return c.query("SELECT COUNT(*) FROM custom_fields WHERE project_id = ?", {project_id})[0].i64(0);
}

void delete_field(sql::Connection& c, const std::string& id) {
  c.exec("DELETE FROM task_custom_values WHERE field_id = ?", {id});
  c.exec("DELETE FROM custom_fields WHERE id = ?", {id});
}

int64_t remove_values_except(sql::Connection& c, const std::string& field_id, const std::vector<std::string>& keep) {
  if (keep.empty()) return c.exec("DELETE FROM task_custom_values WHERE field_id = ?", {field_id});
  std::vector<sql::Param> params{field_id};
  for (const auto& k : keep) params.emplace_back(k);
  return c
      .query("DELETE FROM task_custom_values WHERE field_id = ? AND value_text NOT IN (" + placeholders(keep.size()) +
                 ")",
             params)
      .affected;
}

void set_custom_values(sql::Connection& c, const std::string& task_id, const std::string& field_id,
                       const std::vector<CustomValue>& values) {
  c.exec("DELETE FROM task_custom_values WHERE task_id = ? AND field_id = ?", {task_id, field_id});
  for (const auto& v : values)
    c.exec("INSERT INTO task_custom_values (task_id, field_id, value_text, value_number) VALUES (?, ?, ?, ?)",
           {task_id, field_id, v.text, v.number});
}

int64_t remove_label(sql::Connection& c, const std::string& project_id, const std::string& label_id, int64_t now) {
  int64_t n = c.exec(
      "UPDATE tasks SET version = version + 1, updated_at = ? WHERE project_id = ? AND id IN "
      "(SELECT task_id FROM task_labels WHERE label_id = ?)",
      {now, project_id, label_id});
  if (n > 0)
    c.exec(
        "DELETE FROM task_labels WHERE label_id = ? AND task_id IN (SELECT id FROM tasks WHERE project_id = ?)",
        {label_id, project_id});
  return n;
}

int64_t purge_deleted(sql::Connection& c, int64_t deleted_before, int64_t limit, sql::Dialect dialect) {
  auto rows = c.query(
      "SELECT id FROM tasks WHERE deleted_at IS NOT NULL AND deleted_at < ? ORDER BY deleted_at, id LIMIT ?",
      {deleted_before, limit});
  if (rows.size() == 0) return 0;
  std::vector<sql::Param> params;
  for (std::size_t i = 0; i < rows.size(); ++i) params.emplace_back(rows[i].str(0));
  const std::string in = "(" + placeholders(params.size()) + ")";
  if (dialect == sql::Dialect::sqlite)
    c.query("DELETE FROM task_search WHERE rowid IN (SELECT rowid FROM tasks WHERE id IN " + in + ")", params);
  c.query("DELETE FROM task_reactions WHERE target_id IN " + in, params);
  c.query("DELETE FROM task_reactions WHERE target_id IN (SELECT id FROM task_comments WHERE task_id IN " + in + ")",
          params);
  c.query("UPDATE tasks SET parent_id = NULL WHERE parent_id IN " + in, params);
  return c.query("DELETE FROM tasks WHERE id IN " + in, params).affected;
}

}  // namespace taskhub::tasks::repo
