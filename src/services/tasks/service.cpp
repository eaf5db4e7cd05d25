#include "services/tasks/service.hpp"
#include "services/tasks/recurrence.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/json_input.hpp"
#include "core/pagination.hpp"
#include "core/time.hpp"
#include "services/tasks/events.hpp"
#include "services/tasks/repository.hpp"

namespace taskhub::tasks {

namespace json = boost::json;

namespace {

constexpr double kPositionStep = 1024.0;

// A position after every task of a state whose last position is `last`: the next multiple of the
// step, plus an offset given by the task's number. Writes that run side by side (PostgreSQL) can
// read the same last position, or each other's; two of them tie only with the same multiple and
// numbers 1024 apart, which would take 1024 writes in flight in one state. (Without the offset 40
// concurrent creates made 14 positions, and a move between tied tasks finds no room.)
double bottom_position(std::optional<double> last, int64_t number) {
  return (std::floor(last.value_or(0.0) / kPositionStep) + 1) * kPositionStep +
         static_cast<double>(number % 1024) * (kPositionStep / 1024);
}

// Notifications ("comment on / state change of a task I watch") need the watchers at the time
// of the change; not every watcher comes from a watcher.added event (creators and assignees
// are added implicitly), so the event carries them: payload.watcher_ids.
events::Event with_watchers(sql::Connection& c, events::Event e) {
  boost::system::error_code ec;
  json::value p = json::parse(e.payload, ec);
  if (ec || !p.is_object()) return e;
  json::array ids;
  for (const auto& w : repo::list_watchers(c, e.task_id)) ids.push_back(json::value(w.user_id));
  p.as_object()["watcher_ids"] = std::move(ids);
  e.payload = json::serialize(p);
  return e;
}

const char* group_name(projects::StateGroup g) {
  switch (g) {
    case projects::StateGroup::backlog: return "backlog";
    case projects::StateGroup::unstarted: return "unstarted";
    case projects::StateGroup::started: return "started";
    case projects::StateGroup::completed: return "completed";
    case projects::StateGroup::cancelled: return "cancelled";
  }
  return "backlog";
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += ",";
    s += x;
  }
  return s;
}

std::optional<std::string> opt_text(const std::optional<int64_t>& v) {
  if (!v) return std::nullopt;
  return std::to_string(*v);
}

std::vector<std::string> dedup(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& x : v)
    if (seen.insert(x).second) out.push_back(x);
  std::sort(out.begin(), out.end());
  return out;
}

struct Changes {
  std::vector<Activity> items;
  void add(const Task& t, const std::string& actor, int64_t now, std::string field, std::optional<std::string> old_v,
           std::optional<std::string> new_v, bool always = false) {
    if (old_v == new_v && !always) return;
    Activity a;
    a.task_id = t.id;
    a.actor_id = actor;
    a.kind = "updated";
    a.field = std::move(field);
    a.old_value = std::move(old_v);
    a.new_value = std::move(new_v);
    a.created_at = now;
    items.push_back(std::move(a));
  }
};

void record(sql::Connection& c, const std::string& task_id, const std::string& actor, int64_t now, std::string kind,
            std::optional<std::string> field = std::nullopt, std::optional<std::string> old_v = std::nullopt,
            std::optional<std::string> new_v = std::nullopt) {
  Activity a;
  a.id = new_uuid_v7();
  a.task_id = task_id;
  a.actor_id = actor;
  a.kind = std::move(kind);
  a.field = std::move(field);
  a.old_value = std::move(old_v);
  a.new_value = std::move(new_v);
  a.created_at = now;
  repo::add_activity(c, a);
}

// Number of tasks from `id` up to the root (the task itself counts 1). Stops early past kMaxDepth + 1.
int depth_of(sql::Connection& c, const std::string& id, const std::string& moving_id, bool& cycle) {
  int d = 0;
  std::optional<std::string> cur = id;
  while (cur && d <= kMaxDepth + 1) {
    if (*cur == moving_id) {
      cycle = true;
      return d;
    }
    ++d;
    cur = repo::parent_of(c, *cur);
  }
  return d;
}

// Levels in the subtree under id (a leaf: 1).
int height_of(sql::Connection& c, const std::string& id) {
  int h = 1;
  std::vector<std::string> level{id};
  while (h <= kMaxDepth + 1) {
    level = repo::children_of(c, level);
    if (level.empty()) break;
    ++h;
  }
  return h;
}

void check_parent(sql::Connection& c, const std::string& project_id, const std::string& parent_id,
                  const std::string& task_id) {
  if (!is_uuid(parent_id)) throw bad_field("parent_id", "must be a task of the same project");
  auto parent = repo::find_task(c, parent_id);
  if (!parent || parent->deleted_at || parent->project_id != project_id)
    throw bad_field("parent_id", "must be a task of the same project");
  bool cycle = false;
  int d = depth_of(c, parent_id, task_id, cycle);
  if (cycle || parent_id == task_id)
    throw ApiError(409, "parent-cycle", "A task cannot be its own ancestor.", {{"parent_id", "would create a cycle"}});
  int h = task_id.empty() ? 1 : height_of(c, task_id);
  if (d + h > kMaxDepth)
    throw ApiError(409, "too-deep", "Subtasks are limited to " + std::to_string(kMaxDepth) + " levels.",
                   {{"parent_id", "too deep"}});
}

sql::Param cursor_value(const json::value& v, SortField f) {
  switch (f) {
    case SortField::created_at:
    case SortField::updated_at:
    case SortField::priority:
    case SortField::number:
      if (v.is_int64()) return v.as_int64();
      break;
    case SortField::position:
    case SortField::relevance:
      // Doubles travel as exact hexadecimal text: Boost.JSON 1.81 may parse decimal text 1 ulp off,
      // which would skip or repeat rows at a page boundary.
      if (v.is_string()) {
        double d = 0;
        const auto& s = v.as_string();
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d, std::chars_format::hex);
        if (ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(d)) return d;
      }
      break;
    case SortField::due_date:
      if (v.is_string()) return std::string(v.as_string());
      break;
  }
  throw bad_field("cursor", "is not a cursor of this list");
}

json::value param_json(const sql::Param& p) {
  if (auto i = std::get_if<int64_t>(&p.v)) return *i;
  if (auto d = std::get_if<double>(&p.v)) {
    char buf[64];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, *d, std::chars_format::hex);
    return json::value(std::string(buf, ptr));
  }
  if (auto s = std::get_if<std::string>(&p.v)) return json::value(*s);
  return nullptr;
}

// Canonical text of a number value (shortest round-trip form; stored and compared by filters).
std::string number_text(double d) {
  if (d == 0) d = 0;  // -0 -> 0
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, ptr);
}

// A custom field's value as activity text: the values joined by commas; nullopt when unset.
std::optional<std::string> value_text(const std::vector<CustomValue>& rows) {
  if (rows.empty()) return std::nullopt;
  std::string s;
  for (const auto& v : rows) {
    if (!s.empty()) s += ",";
    s += v.text;
  }
  return s;
}

bool valid_field_type(const std::string& t) {
  for (const char* n : kCustomFieldTypes)
    if (t == n) return true;
  return false;
}

// Options of a select field from the input: given ids kept, others generated; ids and names unique.
std::vector<FieldOption> make_options(const std::vector<FieldOptionInput>& in) {
  if (in.size() > kMaxFieldOptions) throw bad_field("options", "must have at most 100 options");
  std::vector<FieldOption> out;
  std::set<std::string> ids, names;
  for (const auto& o : in) {
    FieldOption f{o.id.value_or(new_uuid_v7()), o.name, o.color};
    std::string key = f.name;
    for (auto& ch : key)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    if (!ids.insert(f.id).second) throw bad_field("options", "option ids must be unique");
    if (!names.insert(key).second) throw bad_field("options", "option names must be unique");
    out.push_back(std::move(f));
  }
  return out;
}

// Applies a merge patch to cur (loaded in this transaction): row, links, watchers, activity.
Task apply_update(sql::Connection& c, const std::string& user, int64_t now, const Task* cur,
                  const UpdateTaskInput& in, const std::optional<projects::StateInfo>& state,
                  const std::optional<std::vector<std::string>>& assignees,
                  const std::optional<std::vector<std::string>>& labels,
                  const std::vector<std::pair<std::string, std::vector<CustomValue>>>* custom = nullptr) {
  const std::string& pid = cur->project_id;
  Task t = *cur;
  Changes ch;
  if (in.title && *in.title != t.title) {
    ch.add(t, user, now, "title", t.title, *in.title);
    t.title = *in.title;
  }
  if (in.description && *in.description != t.description) {
    ch.add(t, user, now, "description", std::nullopt, std::nullopt, true);  // long text: not copied
    t.description = *in.description;
  }
  if (in.priority && *in.priority != t.priority) {
    ch.add(t, user, now, "priority", priority_name(t.priority), priority_name(*in.priority));
    t.priority = *in.priority;
  }
  if (in.start_date && *in.start_date != t.start_date) {
    ch.add(t, user, now, "start_date", t.start_date, *in.start_date);
    t.start_date = *in.start_date;
  }
  if (in.due_date && *in.due_date != t.due_date) {
    ch.add(t, user, now, "due_date", t.due_date, *in.due_date);
    t.due_date = *in.due_date;
  }
  if (t.start_date && t.due_date && *t.start_date > *t.due_date)
    throw bad_field("due_date", "must not be before start_date");
  if (in.recurrence && *in.recurrence != t.recurrence) {
    ch.add(t, user, now, "recurrence", t.recurrence, *in.recurrence);
    t.recurrence = *in.recurrence;
  }
  if (in.estimate && *in.estimate != t.estimate) {
    ch.add(t, user, now, "estimate", opt_text(t.estimate), opt_text(*in.estimate));
    t.estimate = *in.estimate;
  }
  if (in.parent_id && *in.parent_id != t.parent_id) {
    if (*in.parent_id) check_parent(c, pid, **in.parent_id, t.id);
    ch.add(t, user, now, "parent_id", t.parent_id, *in.parent_id);
    t.parent_id = *in.parent_id;
  }
  bool state_changed = false;
  if (state && state->id != t.state_id) {
    ch.add(t, user, now, "state_id", t.state_id, state->id);
    state_changed = true;
    t.state_id = state->id;
    t.state_group = group_name(state->group);
    if (state->group == projects::StateGroup::completed) {
      if (!t.completed_at) t.completed_at = now;
    } else {
      t.completed_at.reset();
    }
  }
  if (in.after_id || in.before_id) {
    const bool after = in.after_id.has_value();
    const std::string& anchor_id = after ? *in.after_id : *in.before_id;
    const char* field = after ? "after_id" : "before_id";
    auto anchor = anchor_id == t.id ? std::nullopt : repo::find_task(c, anchor_id);
    if (!anchor || anchor->deleted_at || anchor->project_id != pid || anchor->state_id != t.state_id)
      throw bad_field(field, "must be another task of the same project and state");
    auto next = repo::neighbour_position(c, pid, t.state_id, anchor->position, anchor->id, after, t.id);
    double pos = next ? (anchor->position + *next) / 2 : anchor->position + (after ? kPositionStep : -kPositionStep);
    if (pos == anchor->position || (next && pos == *next))
      throw conflict("position-exhausted", "No room left between those tasks; move a neighbour first.");
    if (pos != t.position) {
      ch.add(t, user, now, "position", std::to_string(t.position), std::to_string(pos));
      t.position = pos;
    }
  } else if (state_changed) {
    t.position = bottom_position(repo::last_position(c, pid, t.state_id), t.number);
  }
  if (assignees && *assignees != t.assignee_ids) {
    ch.add(t, user, now, "assignee_ids", join(t.assignee_ids), join(*assignees));
    repo::set_assignees(c, t.id, *assignees);
    for (const auto& a : *assignees)
      if (std::find(t.assignee_ids.begin(), t.assignee_ids.end(), a) == t.assignee_ids.end())
        repo::add_watcher(c, t.id, a, now);
    t.assignee_ids = *assignees;
  }
  if (labels && *labels != t.label_ids) {
    ch.add(t, user, now, "label_ids", join(t.label_ids), join(*labels));
    repo::set_labels(c, t.id, *labels);
    t.label_ids = *labels;
  }
  if (custom && !custom->empty()) {
    bool changed = false;
    for (const auto& [field_id, rows] : *custom) {
      std::vector<CustomValue> old;
      for (const auto& v : t.custom_values)
        if (v.field_id == field_id) old.push_back(v);
      if (old == rows) continue;
      ch.add(t, user, now, "custom_fields." + field_id, value_text(old), value_text(rows));
      repo::set_custom_values(c, t.id, field_id, rows);
      changed = true;
    }
    if (changed) {
      std::vector<Task> one{t};
      repo::load_links(c, one);
      t.custom_values = std::move(one.front().custom_values);
    }
  }
  if (!ch.items.empty()) {
    t.version = cur->version + 1;
    t.updated_at = now;
    repo::update_task(c, t);
    for (auto& a : ch.items) {
      a.id = new_uuid_v7();
      repo::add_activity(c, a);
    }
  }
  return t;
}

}  // namespace

std::optional<int> priority_from_name(std::string_view name) {
  for (int i = 0; i < 5; ++i)
    if (name == kPriorityNames[i]) return i;
  return std::nullopt;
}

const char* priority_name(int p) { return (p >= 0 && p < 5) ? kPriorityNames[p] : "none"; }

bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (int i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (s[i] < '0' || s[i] > '9') return false;
  int y = std::stoi(std::string(s.substr(0, 4))), m = std::stoi(std::string(s.substr(5, 2))),
      d = std::stoi(std::string(s.substr(8, 2)));
  if (y < 1900 || m < 1 || m > 12 || d < 1) return false;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int max = days[m - 1] + ((m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) ? 1 : 0);
  return d <= max;
}

std::optional<std::pair<SortField, bool>> parse_sort(std::string_view s) {
  bool desc = false;
  if (!s.empty() && s[0] == '-') {
    desc = true;
    s.remove_prefix(1);
  }
  static const std::pair<std::string_view, SortField> names[] = {
      {"created_at", SortField::created_at}, {"updated_at", SortField::updated_at},
      {"priority", SortField::priority},     {"due_date", SortField::due_date},
      {"position", SortField::position},     {"number", SortField::number},
      {"relevance", SortField::relevance}};
  for (const auto& [n, f] : names)
    if (s == n) return std::make_pair(f, desc);
  return std::nullopt;
}

std::vector<std::string> parse_mentions(std::string_view body) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i + 37 <= body.size(); ++i) {
    if (body[i] != '@') continue;
    if (i > 0) {
      char p = body[i - 1];
      if ((p >= 'a' && p <= 'z') || (p >= 'A' && p <= 'Z') || (p >= '0' && p <= '9')) continue;  // e-mail text
    }
    std::string cand(body.substr(i + 1, 36));
    if (!is_uuid(cand)) continue;
    if (std::find(out.begin(), out.end(), cand) == out.end()) out.push_back(cand);
  }
  return out;
}

// ---------------------------------------------------------------- authorization

projects::ProjectAccess TasksService::access_or_404(const std::string& user, const std::string& project_id) {
  if (!is_uuid(project_id)) throw not_found("The project does not exist.");
  auto acc = projects_.project_access(user, project_id);
  if (!acc) throw not_found("The project does not exist.");
  return *acc;
}

namespace {
void require_write(const projects::ProjectAccess& acc) {
  if (acc.archived) throw ApiError(409, "project-archived", "The project is archived (read-only); unarchive it first.");
  if (!acc.can_write()) throw forbidden("Viewers cannot change tasks of this project.");
}
}  // namespace

projects::ProjectAccess TasksService::writable(const std::string& user, const std::string& project_id) {
  auto acc = access_or_404(user, project_id);
  require_write(acc);
  return acc;
}

std::pair<Task, projects::ProjectAccess> TasksService::visible_task(const std::string& user,
                                                                    const std::string& task_id, bool allow_deleted) {
  if (!is_uuid(task_id)) throw not_found("The task does not exist.");
  std::optional<Task> t;
  std::optional<projects::ProjectAccess> acc;
  // One read unit: the in-process projects client joins it (same connection and snapshot).
  db_.read([&](sql::Connection& c) {
    t = repo::find_task(c, task_id);
    if (t) acc = projects_.project_access(user, t->project_id);
  });
  if (!t || !acc) throw not_found("The task does not exist.");
  if (t->deleted_at && !allow_deleted) throw not_found("The task does not exist.");
  t->key = acc->key;
  return {std::move(*t), std::move(*acc)};
}

void TasksService::check_assignees(const std::string& project_id, const std::vector<std::string>& ids,
                                   const char* field) {
  if (ids.empty()) return;
  for (const auto& id : ids)
    if (!is_uuid(id)) throw bad_field(field, "must be ids of project members");
  auto members = projects_.project_members(project_id, ids);
  std::set<std::string> ok(members.begin(), members.end());
  for (const auto& id : ids)
    if (!ok.count(id)) throw bad_field(field, "must be ids of project members");
}

void TasksService::check_labels(const std::string& project_id, const std::vector<std::string>& ids,
                                const char* field) {
  if (ids.empty()) return;
  for (const auto& id : ids)
    if (!is_uuid(id)) throw bad_field(field, "must be labels of this project");
  auto found = projects_.existing_labels(project_id, ids);
  std::set<std::string> ok(found.begin(), found.end());
  for (const auto& id : ids)
    if (!ok.count(id)) throw bad_field(field, "must be labels of this project");
}

std::vector<std::pair<std::string, std::vector<CustomValue>>> TasksService::check_custom_values(
    const std::string& project_id, const std::vector<CustomValueInput>& in) {
  std::vector<std::pair<std::string, std::vector<CustomValue>>> out;
  if (in.empty()) return out;
  if (in.size() > kMaxCustomValuesPerPatch) throw bad_field("custom_fields", "must set at most 50 fields at once");
  std::vector<std::string> ids;
  for (const auto& v : in) {
    if (!is_uuid(v.field_id)) throw bad_field("custom_fields." + v.field_id, "is not a custom field of this project");
    ids.push_back(v.field_id);
  }
  auto fields = db_.read_value([&](sql::Connection& c) { return repo::find_fields(c, ids); });
  std::map<std::string, const CustomField*> by_id;
  for (const auto& f : fields) by_id[f.id] = &f;
  std::vector<std::pair<std::string, std::string>> users;  // field id, user id
  std::set<std::string> seen_fields;
  using Kind = CustomValueInput::Kind;
  for (const auto& v : in) {
    const std::string name = "custom_fields." + v.field_id;
    auto it = by_id.find(v.field_id);
    if (it == by_id.end() || it->second->project_id != project_id)
      throw bad_field(name, "is not a custom field of this project");
    if (!seen_fields.insert(v.field_id).second) throw bad_field(name, "is given twice");
    const CustomField& f = *it->second;
    std::vector<CustomValue> rows;
    auto add = [&](std::string text, std::optional<double> n = std::nullopt) {
      rows.push_back(CustomValue{f.id, f.type, std::move(text), n});
    };
    auto is_option = [&](const std::string& id) {
      return std::any_of(f.options.begin(), f.options.end(), [&](const FieldOption& o) { return o.id == id; });
    };
    if (v.kind == Kind::null) {
      // cleared
    } else if (f.type == "text") {
      if (v.kind != Kind::string || v.text.empty() || utf8_length(v.text) > kMaxCustomTextChars)
        throw bad_field(name, "must be a text of 1 to 2000 characters or null");
      add(v.text);
    } else if (f.type == "number") {
      if (v.kind != Kind::number || !std::isfinite(v.number)) throw bad_field(name, "must be a finite number or null");
      add(number_text(v.number), v.number == 0 ? 0.0 : v.number);
    } else if (f.type == "date") {
      if (v.kind != Kind::string || !valid_date(v.text)) throw bad_field(name, "must be a date YYYY-MM-DD or null");
      add(v.text);
    } else if (f.type == "single_select") {
      if (v.kind != Kind::string || !is_option(v.text))
        throw bad_field(name, "must be an option id of this field or null");
      add(v.text);
    } else if (f.type == "multi_select") {
      if (v.kind != Kind::strings) throw bad_field(name, "must be an array of option ids of this field or null");
      for (const auto& id : dedup(v.items)) {
        if (!is_option(id)) throw bad_field(name, "must be an array of option ids of this field or null");
        add(id);
      }
    } else if (f.type == "user") {
      if (v.kind != Kind::string || !is_uuid(v.text))
        throw bad_field(name, "must be the id of a project member or null");
      users.emplace_back(f.id, v.text);
      add(v.text);
    }
    out.emplace_back(f.id, std::move(rows));
  }
  if (!users.empty()) {
    std::vector<std::string> uids;
    for (const auto& u : users) uids.push_back(u.second);
    auto members = projects_.project_members(project_id, uids);
    std::set<std::string> ok(members.begin(), members.end());
    for (const auto& [fid, uid] : users)
      if (!ok.count(uid)) throw bad_field("custom_fields." + fid, "must be the id of a project member or null");
  }
  return out;
}

TaskQuery TasksService::resolve_custom_filters(const std::vector<std::string>& project_ids, const TaskQuery& q) {
  TaskQuery out = q;
  if (q.custom_filters.empty()) return out;
  std::vector<std::string> ids;
  for (const auto& [id, v] : q.custom_filters) ids.push_back(id);
  auto fields = db_.read_value([&](sql::Connection& c) { return repo::find_fields(c, ids); });
  std::set<std::string> projects(project_ids.begin(), project_ids.end());
  out.custom_filters.clear();
  for (const auto& [id, value] : q.custom_filters) {
    const std::string name = "cf." + id;
    auto f = std::find_if(fields.begin(), fields.end(), [&](const CustomField& x) { return x.id == id; });
    if (f == fields.end() || !projects.count(f->project_id))
      throw bad_field(name, "is not a custom field of this project");
    std::string text = value;
    if (f->type == "number") {
      double d = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), d);
      if (ec != std::errc() || ptr != value.data() + value.size() || !std::isfinite(d))
        throw bad_field(name, "must be a number");
      text = number_text(d);
    } else if (f->type == "date" && !valid_date(value)) {
      throw bad_field(name, "must be a date YYYY-MM-DD");
    }
    out.custom_filters.emplace_back(id, std::move(text));
  }
  return out;
}

// ---------------------------------------------------------------- custom fields

std::pair<CustomField, projects::ProjectAccess> TasksService::admin_field(const std::string& user,
                                                                          const std::string& project_id,
                                                                          const std::string& field_id) {
  auto acc = access_or_404(user, project_id);
  std::optional<CustomField> f;
  if (is_uuid(field_id)) f = db_.read_value([&](sql::Connection& c) { return repo::find_field(c, field_id); });
  if (!f || f->project_id != project_id) throw not_found("The custom field does not exist.");
  if (acc.archived) throw ApiError(409, "project-archived", "The project is archived (read-only); unarchive it first.");
  if (!acc.is_admin()) throw forbidden("Only project admins can change custom fields.");
  return {std::move(*f), std::move(acc)};
}

CustomField TasksService::create_field(const std::string& user, const std::string& project_id,
                                       const CustomFieldInput& in) {
  auto acc = access_or_404(user, project_id);
  if (acc.archived) throw ApiError(409, "project-archived", "The project is archived (read-only); unarchive it first.");
  if (!acc.is_admin()) throw forbidden("Only project admins can define custom fields.");
  if (!valid_field_type(in.type))
    throw bad_field("type", "must be text, number, date, single_select, multi_select or user");
  CustomField f;
  f.id = new_uuid_v7();
  f.project_id = project_id;
  f.name = in.name;
  f.type = in.type;
  if (f.is_select()) {
    f.options = make_options(in.options);
  } else if (!in.options.empty()) {
    throw bad_field("options", "only single_select and multi_select fields have options");
  }
  f.created_by = user;
  f.created_at = f.updated_at = clock_.now_ms();
  try {
    db_.write([&](sql::Connection& c) {
      if (repo::count_fields(c, project_id) >= static_cast<int64_t>(kMaxCustomFields))
        throw conflict("too-many-custom-fields", "A project has at most 50 custom fields.");
      repo::insert_field(c, f);
      emit(c, project_event("custom_field.created", user, acc.workspace_id, project_id, "custom_field", f.id,
                            custom_field_event_json(f)));
    });
  } catch (const sql::UniqueViolation&) {
    throw conflict("custom-field-name-taken", "The project already has a custom field with this name.",
                   {FieldError{"name", "is already used in this project"}});
  }
  return f;
}

std::vector<CustomField> TasksService::list_fields(const std::string& user, const std::string& project_id) {
  access_or_404(user, project_id);
  return db_.read_value([&](sql::Connection& c) { return repo::list_fields(c, project_id); });
}

CustomField TasksService::get_field(const std::string& user, const std::string& project_id,
                                    const std::string& field_id) {
  access_or_404(user, project_id);
  std::optional<CustomField> f;
  if (is_uuid(field_id)) f = db_.read_value([&](sql::Connection& c) { return repo::find_field(c, field_id); });
  if (!f || f->project_id != project_id) throw not_found("The custom field does not exist.");
  return *f;
}

CustomField TasksService::update_field(const std::string& user, const std::string& project_id,
                                       const std::string& field_id, const CustomFieldPatch& p,
                                       const IfMatch& if_match) {
  auto [f0, acc] = admin_field(user, project_id, field_id);
  if (p.options && !f0.is_select())
    throw bad_field("options", "only single_select and multi_select fields have options");
  std::optional<std::vector<FieldOption>> options;
  if (p.options) options = make_options(*p.options);
  const int64_t now = clock_.now_ms();
  CustomField out;
  try {
    db_.write([&](sql::Connection& c) {
      auto f = repo::find_field_for_update(c, field_id, db_.dialect());
      if (!f || f->project_id != project_id) throw not_found("The custom field does not exist.");
      require_match(if_match, f->version);
      bool changed = false;
      if (p.name && *p.name != f->name) {
        f->name = *p.name;
        changed = true;
      }
      if (options) {
        std::vector<std::string> keep;
        for (const auto& o : *options) keep.push_back(o.id);
        repo::remove_values_except(c, f->id, keep);
        changed = true;
        f->options = *options;
      }
      if (changed) {
        f->version += 1;
        f->updated_at = now;
        repo::update_field(c, *f);
        emit(c, project_event("custom_field.updated", user, acc.workspace_id, project_id, "custom_field", f->id,
                              custom_field_event_json(*f)));
      }
      out = std::move(*f);
    });
  } catch (const sql::UniqueViolation&) {
    throw conflict("custom-field-name-taken", "The project already has a custom field with this name.",
                   {FieldError{"name", "is already used in this project"}});
  }
  return out;
}

void TasksService::delete_field(const std::string& user, const std::string& project_id, const std::string& field_id,
                                const IfMatch& if_match) {
  auto [f0, acc] = admin_field(user, project_id, field_id);
  db_.write([&](sql::Connection& c) {
    auto f = repo::find_field_for_update(c, field_id, db_.dialect());
    if (!f || f->project_id != project_id) throw not_found("The custom field does not exist.");
    require_match(if_match, f->version);
    repo::delete_field(c, f->id);
    emit(c, project_event("custom_field.deleted", user, acc.workspace_id, project_id, "custom_field", f->id,
                          custom_field_event_json(*f)));
  });
}

// ---------------------------------------------------------------- tasks

Task TasksService::create_task(const std::string& user, const std::string& project_id, const CreateTaskInput& in) {
  std::optional<projects::ProjectAccess> acc_found;
  std::optional<projects::StateInfo> state;
  auto assignees = dedup(in.assignee_ids.value_or(std::vector<std::string>{}));
  auto labels = dedup(in.label_ids.value_or(std::vector<std::string>{}));
  // On PostgreSQL the number is taken before the create's transaction (reserve_number).
  const bool number_first = db_.dialect() == sql::Dialect::postgres;
  // The checks share one read unit (the in-process projects client joins it).
  db_.read([&](sql::Connection& c) {
    acc_found = writable(user, project_id);
    // When the number comes first, a bad parent is refused before it is taken (no gap); the
    // write unit's check stays the authoritative one.
    if (number_first && in.parent_id) check_parent(c, project_id, *in.parent_id, "");
    if (in.state_id) {
      if (is_uuid(*in.state_id)) state = projects_.state(project_id, *in.state_id);
      if (!state || state->project_id != project_id) throw bad_field("state_id", "must be a state of this project");
    } else {
      state = projects_.default_state(project_id);
      if (!state) throw conflict("no-state", "The project has no workflow state.");
    }
    check_assignees(project_id, assignees, "assignee_ids");
    check_labels(project_id, labels, "label_ids");
  });
  const projects::ProjectAccess& acc = *acc_found;
  if (in.start_date && in.due_date && *in.start_date > *in.due_date)
    throw bad_field("due_date", "must not be before start_date");

  Task t;
  t.id = new_uuid_v7();
  t.project_id = project_id;
  t.key = acc.key;
  t.title = in.title;
  t.description = in.description.value_or("");
  t.state_id = state->id;
  t.state_group = group_name(state->group);
  t.priority = in.priority.value_or(0);
  t.start_date = in.start_date;
  t.due_date = in.due_date;
  t.estimate = in.estimate;
  t.parent_id = in.parent_id;
  t.created_by = user;
  t.created_at = t.updated_at = clock_.now_ms();
  if (state->group == projects::StateGroup::completed) t.completed_at = t.created_at;
  t.assignee_ids = assignees;
  t.label_ids = labels;
  t.recurrence = in.recurrence;

  if (number_first) t.number = reserve_number(project_id);
  db_.write([&](sql::Connection& c) {
    if (t.parent_id) check_parent(c, project_id, *t.parent_id, "");
    insert_new_task(c, user, acc.workspace_id, t);
  });
  return t;
}

// PostgreSQL runs writes side by side, and the project's counter row is the one row every create
// in a project updates: taken inside the create's transaction, its lock was held through the
// whole transaction and its fsync, so a project's creates ran one at a time whatever the number
// of clients (64 clients: 600-700 creates/s against 4k raw commits/s). Here the number is taken in
// a transaction of its own that holds the lock for one statement and commits without waiting for
// its WAL flush. That is safe: WAL is flushed in order, so the durable commit of the task that uses
// the number also makes the counter's update durable; a crash before it loses both, and the number
// was never seen. A create that fails after this leaves a gap in the numbers; numbers still never
// repeat. (SQLite has one writer at a time anyway: the number is taken inside the create there.)
int64_t TasksService::reserve_number(const std::string& project_id) {
  return db_.write_value([&](sql::Connection& c) {
    c.exec("SET LOCAL synchronous_commit = off");
    return repo::next_number(c, project_id);
  });
}

void TasksService::insert_new_task(sql::Connection& c, const std::string& actor, const std::string& workspace_id,
                                   Task& t) {
  if (t.number == 0) t.number = repo::next_number(c, t.project_id);
  t.position = bottom_position(repo::last_position(c, t.project_id, t.state_id), t.number);
  repo::insert_task(c, t);
  if (!t.assignee_ids.empty()) repo::set_assignees(c, t.id, t.assignee_ids);
  if (!t.label_ids.empty()) repo::set_labels(c, t.id, t.label_ids);
  repo::add_watcher(c, t.id, t.created_by, t.created_at);
  for (const auto& a : t.assignee_ids) repo::add_watcher(c, t.id, a, t.created_at);
  record(c, t.id, actor, t.created_at, "created");
  repo::index_new_task(c, db_.dialect(), t);
  emit(c, task_event("task.created", actor, workspace_id, t, "task", t.id,
                     json::serialize(json::object{{"task", json::parse(task_event_json(t))}})));
}

void TasksService::spawn_next_occurrence(sql::Connection& c, const std::string& actor,
                                         const std::string& workspace_id, const Task& before, Task& t, int64_t now) {
  if (!t.recurrence || t.next_occurrence_id || !t.completed_at || before.completed_at) return;
  const Recurrence rule = parse_recurrence(*t.recurrence, "recurrence");
  auto state = projects_.default_state(t.project_id);
  if (!state) return;  // a project without open states: nothing to repeat into
  Task n;
  n.id = new_uuid_v7();
  n.project_id = t.project_id;
  n.key = t.key;
  n.title = t.title;
  n.description = t.description;
  n.state_id = state->id;
  n.state_group = group_name(state->group);
  n.priority = t.priority;
  n.estimate = t.estimate;
  n.parent_id = t.parent_id;
  n.recurrence = t.recurrence;
  n.created_by = t.created_by;
  n.created_at = n.updated_at = now;
  n.assignee_ids = t.assignee_ids;
  n.label_ids = t.label_ids;
  // The due date (else the start date, else today) moves to the rule's next date; the other
  // date keeps its distance to it.
  const std::string today = format_rfc3339_ms(now).substr(0, 10);
  const std::string anchor = t.due_date.value_or(t.start_date.value_or(today));
  const std::string next = next_occurrence(rule, anchor);
  const int shift = days_between(anchor, next);
  if (t.due_date) n.due_date = add_days(*t.due_date, shift);
  if (t.start_date) n.start_date = add_days(*t.start_date, shift);
  if (!t.due_date && !t.start_date) n.due_date = next;
  insert_new_task(c, actor, workspace_id, n);
  t.next_occurrence_id = n.id;
  repo::update_task(c, t);
  record(c, t.id, actor, now, "recurred", "next_occurrence_id", std::nullopt, n.id);
}

Task TasksService::get_task(const std::string& user, const std::string& task_id) {
  return visible_task(user, task_id).first;
}

Task TasksService::get_task_by_number(const std::string& user, const std::string& project_id, int64_t number) {
  auto acc = access_or_404(user, project_id);
  auto t = db_.read_value([&](sql::Connection& c) { return repo::find_task_by_number(c, project_id, number); });
  if (!t || t->deleted_at) throw not_found("The task does not exist.");
  t->key = acc.key;
  return *t;
}

Task TasksService::update_task(const std::string& user, const std::string& task_id, const UpdateTaskInput& in,
                               const IfMatch& if_match) {
  auto [before, acc] = visible_task(user, task_id);
  require_write(acc);
  const std::string pid = before.project_id;
  std::optional<projects::StateInfo> state;
  if (in.state_id) {
    if (is_uuid(*in.state_id)) state = projects_.state(pid, *in.state_id);
    if (!state || state->project_id != pid) throw bad_field("state_id", "must be a state of this project");
  }
  std::optional<std::vector<std::string>> assignees, labels;
  if (in.assignee_ids) {
    assignees = dedup(*in.assignee_ids);
    check_assignees(pid, *assignees, "assignee_ids");
  }
  if (in.label_ids) {
    labels = dedup(*in.label_ids);
    check_labels(pid, *labels, "label_ids");
  }
  if (in.after_id && in.before_id) throw bad_field("after_id", "give after_id or before_id, not both");
  for (const auto* anchor : {&in.after_id, &in.before_id})
    if (*anchor && !is_uuid(**anchor)) throw bad_field(anchor == &in.after_id ? "after_id" : "before_id",
                                                       "must be a task of the same project and state");
  auto custom = check_custom_values(pid, in.custom_fields);

  const int64_t now = clock_.now_ms();
  Task out;
  db_.write([&](sql::Connection& c) {
    auto cur = repo::find_task_for_update(c, task_id, db_.dialect());
    if (!cur || cur->deleted_at) throw not_found("The task does not exist.");
    require_match(if_match, cur->version);
    if (!custom.empty()) {
      // A field deleted (or an option dropped) since the check: refuse rather than store a stale value.
      std::vector<std::string> ids;
      for (const auto& [id, rows] : custom) ids.push_back(id);
      auto fields = repo::find_fields(c, ids);
      for (const auto& [id, rows] : custom) {
        auto f = std::find_if(fields.begin(), fields.end(), [&](const CustomField& x) { return x.id == id; });
        if (f == fields.end() || f->project_id != pid)
          throw bad_field("custom_fields." + id, "is not a custom field of this project");
        if (f->is_select())
          for (const auto& v : rows)
            if (std::none_of(f->options.begin(), f->options.end(), [&](const FieldOption& o) { return o.id == v.text; }))
              throw bad_field("custom_fields." + id, "must be option ids of this field");
      }
    }
    out = apply_update(c, user, now, &*cur, in, state, assignees, labels, &custom);
    out.key = acc.key;
    spawn_next_occurrence(c, user, acc.workspace_id, *cur, out, now);
    if (out.title != cur->title || out.description != cur->description) repo::reindex_search(c, db_.dialect(), out.id);
    if (auto e = task_change_event(user, acc.workspace_id, *cur, out)) emit(c, with_watchers(c, std::move(*e)));
  });
  out.key = acc.key;
  return out;
}

void TasksService::delete_task(const std::string& user, const std::string& task_id, const IfMatch& if_match) {
  auto [t0, acc] = visible_task(user, task_id);
  require_write(acc);
  const int64_t now = clock_.now_ms();
  db_.write([&](sql::Connection& c) {
    auto t = repo::find_task_for_update(c, task_id, db_.dialect());
    if (!t || t->deleted_at) throw not_found("The task does not exist.");
    require_match(if_match, t->version);
    t->deleted_at = now;
    t->version += 1;
    t->updated_at = now;
    repo::update_task(c, *t);
    record(c, t->id, user, now, "deleted");
    emit(c, task_event("task.deleted", user, acc.workspace_id, *t, "task", t->id,
                       json::serialize(json::object{{"task", json::parse(task_event_json(*t))}})));
  });
}

Task TasksService::restore_task(const std::string& user, const std::string& task_id) {
  auto [t0, acc] = visible_task(user, task_id, true);
  require_write(acc);
  const int64_t now = clock_.now_ms();
  Task out;
  db_.write([&](sql::Connection& c) {
    auto t = repo::find_task_for_update(c, task_id, db_.dialect());
    if (!t) throw not_found("The task does not exist.");
    if (t->deleted_at) {
      t->deleted_at.reset();
      t->version += 1;
      t->updated_at = now;
      repo::update_task(c, *t);
      record(c, t->id, user, now, "restored");
      emit(c, task_event("task.restored", user, acc.workspace_id, *t, "task", t->id,
                         json::serialize(json::object{{"task", json::parse(task_event_json(*t))}})));
    }
    out = std::move(*t);
  });
  out.key = acc.key;
  return out;
}

Task TasksService::set_archived(const std::string& user, const std::string& task_id, bool archived,
                                const IfMatch& if_match) {
  auto [t0, acc] = visible_task(user, task_id);
  require_write(acc);
  const int64_t now = clock_.now_ms();
  Task out;
  db_.write([&](sql::Connection& c) {
    auto t = repo::find_task_for_update(c, task_id, db_.dialect());
    if (!t || t->deleted_at) throw not_found("The task does not exist.");
    require_match(if_match, t->version);
    if (t->archived_at.has_value() != archived) {
      if (archived)
        t->archived_at = now;
      else
        t->archived_at.reset();
      t->version += 1;
      t->updated_at = now;
      repo::update_task(c, *t);
      record(c, t->id, user, now, archived ? "archived" : "unarchived");
      emit(c, task_event(archived ? "task.archived" : "task.unarchived", user, acc.workspace_id, *t, "task", t->id,
                         json::serialize(json::object{{"task", json::parse(task_event_json(*t))}})));
    }
    out = std::move(*t);
  });
  out.key = acc.key;
  return out;
}

Page<Task> TasksService::run_query(const std::vector<std::string>& project_ids,
                                   const std::vector<projects::ProjectAccess>& access, const TaskQuery& q,
                                   const std::optional<std::string>& assigned_to) {
  std::optional<std::pair<sql::Param, std::string>> after;
  if (q.cursor) {
    auto arr = decode_cursor(*q.cursor, 2);
    if (!arr[1].is_string() || !is_uuid(arr[1].as_string())) throw bad_field("cursor", "is not a cursor of this list");
    after.emplace(cursor_value(arr[0], q.sort), std::string(arr[1].as_string()));
  }
  const std::string today = format_rfc3339_ms(clock_.now_ms()).substr(0, 10);
  const TaskQuery rq = resolve_custom_filters(project_ids, q);
  auto rows = db_.read_value([&](sql::Connection& c) {
    return repo::query_tasks(c, project_ids, rq, assigned_to, today, after, q.limit + 1, db_.dialect());
  });
  Page<Task> page;
  std::map<std::string, std::string> keys;
  for (const auto& a : access) keys[a.project_id] = a.key;
  if (static_cast<int>(rows.size()) > q.limit) {
    rows.resize(q.limit);
    const Task& last = rows.back();
    page.next_cursor = encode_cursor(json::array{param_json(repo::sort_value(last, q.sort)), json::value(last.id)});
  }
  for (auto& t : rows) t.key = keys[t.project_id];
  page.items = std::move(rows);
  return page;
}

Page<Task> TasksService::list_tasks(const std::string& user, const std::string& project_id, const TaskQuery& q) {
  auto acc = access_or_404(user, project_id);
  return run_query({project_id}, {acc}, q, std::nullopt);
}

Page<Task> TasksService::my_tasks(const std::string& user, const TaskQuery& q) {
  auto access = projects_.visible_projects(user);
  std::vector<std::string> ids;
  for (const auto& a : access) ids.push_back(a.project_id);
  return run_query(ids, access, q, user);
}

// ---------------------------------------------------------------- comments

Comment TasksService::add_comment(const std::string& user, const std::string& task_id, const std::string& body) {
  auto [t, acc] = visible_task(user, task_id);
  require_write(acc);
  auto candidates = parse_mentions(body);
  std::vector<std::string> mentions;
  if (!candidates.empty()) {
    auto members = projects_.project_members(t.project_id, candidates);
    std::set<std::string> ok(members.begin(), members.end());
    for (const auto& m : candidates)
      if (ok.count(m)) mentions.push_back(m);
  }
  Comment cm;
  cm.id = new_uuid_v7();
  cm.task_id = task_id;
  cm.author_id = user;
  cm.body = body;
  cm.created_at = cm.updated_at = clock_.now_ms();
  cm.mention_ids = mentions;
  db_.write([&](sql::Connection& c) {
    auto cur = repo::find_task(c, task_id);
    if (!cur || cur->deleted_at) throw not_found("The task does not exist.");
    repo::insert_comment(c, cm);
    repo::set_mentions(c, cm.id, mentions, cm.created_at);
    record(c, task_id, user, cm.created_at, "comment_added", "comment", std::nullopt, cm.id);
    repo::reindex_search(c, db_.dialect(), task_id);
    emit(c, with_watchers(c, task_event("comment.created", user, acc.workspace_id, *cur, "comment", cm.id,
                                        comment_event_json(cm))));
  });
  return cm;
}

Page<Comment> TasksService::list_comments(const std::string& user, const std::string& task_id, int limit,
                                          const std::optional<std::string>& cursor) {
  visible_task(user, task_id);
  std::optional<std::string> after = decode_id_cursor(cursor);
  auto rows = db_.read_value([&](sql::Connection& c) { return repo::list_comments(c, task_id, after, limit + 1); });
  Page<Comment> page;
  if (static_cast<int>(rows.size()) > limit) {
    rows.resize(limit);
    page.next_cursor = encode_id_cursor(rows.back().id);
  }
  page.items = std::move(rows);
  return page;
}

Comment TasksService::get_comment(const std::string& user, const std::string& comment_id) {
  if (!is_uuid(comment_id)) throw not_found("The comment does not exist.");
  auto cm = db_.read_value([&](sql::Connection& c) { return repo::find_comment(c, comment_id); });
  if (!cm) throw not_found("The comment does not exist.");
  try {
    visible_task(user, cm->task_id);
  } catch (const ApiError& e) {
    if (e.status() == 404) throw not_found("The comment does not exist.");
    throw;
  }
  return *cm;
}

Comment TasksService::update_comment(const std::string& user, const std::string& comment_id,
                                     const std::string& body, const IfMatch& if_match) {
  auto cm0 = get_comment(user, comment_id);
  auto [t, acc] = visible_task(user, cm0.task_id);
  require_write(acc);
  if (cm0.author_id != user && !acc.is_admin()) throw forbidden("Only the author or a project admin can edit a comment.");
  auto candidates = parse_mentions(body);
  std::vector<std::string> mentions;
  if (!candidates.empty()) {
    auto members = projects_.project_members(t.project_id, candidates);
    std::set<std::string> ok(members.begin(), members.end());
    for (const auto& m : candidates)
      if (ok.count(m)) mentions.push_back(m);
  }
  const int64_t now = clock_.now_ms();
  Comment out;
  db_.write([&](sql::Connection& c) {
    auto cm = repo::find_comment(c, comment_id);
    if (!cm) throw not_found("The comment does not exist.");
    require_match(if_match, cm->version);
    if (cm->body != body) {
      cm->body = body;
      cm->version += 1;
      cm->updated_at = now;
      repo::update_comment(c, *cm);
      repo::set_mentions(c, cm->id, mentions, now);
      cm->mention_ids = mentions;
      record(c, cm->task_id, user, now, "comment_edited", "comment", std::nullopt, cm->id);
      repo::reindex_search(c, db_.dialect(), cm->task_id);
      emit(c, task_event("comment.updated", user, acc.workspace_id, t, "comment", cm->id, comment_event_json(*cm)));
    }
    out = std::move(*cm);
  });
  return out;
}

void TasksService::delete_comment(const std::string& user, const std::string& comment_id, const IfMatch& if_match) {
  auto cm0 = get_comment(user, comment_id);
  auto [t, acc] = visible_task(user, cm0.task_id);
  require_write(acc);
  if (cm0.author_id != user && !acc.is_admin())
    throw forbidden("Only the author or a project admin can delete a comment.");
  const int64_t now = clock_.now_ms();
  db_.write([&](sql::Connection& c) {
    auto cm = repo::find_comment(c, comment_id);
    if (!cm) throw not_found("The comment does not exist.");
    require_match(if_match, cm->version);
    repo::delete_comment(c, cm->id);
    record(c, cm->task_id, user, now, "comment_deleted", "comment", cm->id, std::nullopt);
    repo::reindex_search(c, db_.dialect(), cm->task_id);
    emit(c, task_event("comment.deleted", user, acc.workspace_id, t, "comment", cm->id,
                       json::serialize(json::object{{"id", cm->id}, {"task_id", cm->task_id}})));
  });
  for (const auto& hook : comment_deleted_hooks_) {
    try {
      hook(cm0.task_id, cm0.id);
    } catch (const std::exception& e) {
      spdlog::warn("tasks: a comment-deleted hook failed for comment {}: {}", cm0.id, e.what());
    }
  }
}

// ---------------------------------------------------------------- activity, watchers

Page<Activity> TasksService::list_activity(const std::string& user, const std::string& task_id, int limit,
                                           const std::optional<std::string>& cursor) {
  visible_task(user, task_id);
  std::optional<std::string> before = decode_id_cursor(cursor);
  auto rows = db_.read_value([&](sql::Connection& c) { return repo::list_activity(c, task_id, before, limit + 1); });
  Page<Activity> page;
  if (static_cast<int>(rows.size()) > limit) {
    rows.resize(limit);
    page.next_cursor = encode_id_cursor(rows.back().id);
  }
  page.items = std::move(rows);
  return page;
}

Relation relation_seen_from(const Relation& r, const std::string& task_id) {
  Relation v = r;
  if (r.source_id == task_id) return v;
  v.source_id = r.target_id;
  v.target_id = r.source_id;
  if (r.kind == "blocks") v.kind = "blocked_by";
  if (r.kind == "duplicate_of") v.kind = "duplicated_by";
  return v;
}

Relation TasksService::add_relation(const std::string& user, const std::string& task_id, const std::string& kind,
                                    const std::string& other_id) {
  auto [t, acc] = visible_task(user, task_id);
  require_write(acc);
  if (!is_uuid(other_id) || other_id == task_id) throw bad_field("task_id", "must be another task of this project");
  Relation r;
  r.id = new_uuid_v7();
  r.kind = kind == "blocked_by" ? "blocks" : kind;
  r.source_id = kind == "blocked_by" ? other_id : task_id;
  r.target_id = kind == "blocked_by" ? task_id : other_id;
  r.created_by = user;
  r.created_at = clock_.now_ms();
  db_.write([&](sql::Connection& c) {
    auto other = repo::find_task(c, other_id);
    if (!other || other->deleted_at || other->project_id != t.project_id)
      throw bad_field("task_id", "must be another task of this project");
    if (repo::relation_exists(c, r.kind, r.source_id, r.target_id))
      throw conflict("relation-exists", "These tasks are already related this way.");
    repo::insert_relation(c, r);
    record(c, task_id, user, r.created_at, "relation_added", kind, std::nullopt, other_id);
    record(c, other_id, user, r.created_at, "relation_added", relation_seen_from(r, other_id).kind, std::nullopt,
           task_id);
    emit(c, task_event("relation.added", user, acc.workspace_id, t, "relation", r.id, relation_event_json(r)));
  });
  return relation_seen_from(r, task_id);
}

std::vector<Relation> TasksService::list_relations(const std::string& user, const std::string& task_id) {
  visible_task(user, task_id);
  auto rows = db_.read_value([&](sql::Connection& c) { return repo::list_relations(c, task_id); });
  for (auto& r : rows) r = relation_seen_from(r, task_id);
  return rows;
}

void TasksService::remove_relation(const std::string& user, const std::string& task_id,
                                   const std::string& relation_id) {
  auto [t, acc] = visible_task(user, task_id);
  if (!is_uuid(relation_id)) throw not_found("The relation does not exist.");
  require_write(acc);
  const int64_t now = clock_.now_ms();
  db_.write([&](sql::Connection& c) {
    auto r = repo::find_relation(c, relation_id);
    if (!r || (r->source_id != task_id && r->target_id != task_id)) throw not_found("The relation does not exist.");
    repo::delete_relation(c, r->id);
    auto mine = relation_seen_from(*r, task_id);
    auto theirs = relation_seen_from(*r, mine.target_id);
    record(c, task_id, user, now, "relation_removed", mine.kind, mine.target_id, std::nullopt);
    record(c, mine.target_id, user, now, "relation_removed", theirs.kind, task_id, std::nullopt);
    emit(c, task_event("relation.removed", user, acc.workspace_id, t, "relation", r->id, relation_event_json(*r)));
  });
}

std::vector<ReactionCount> TasksService::list_reactions(const std::string& user, bool on_comment,
                                                        const std::string& target_id) {
  if (on_comment)
    get_comment(user, target_id);
  else
    visible_task(user, target_id);
  return db_.read_value([&](sql::Connection& c) { return repo::list_reactions(c, target_id); });
}

void TasksService::react(const std::string& user, bool on_comment, const std::string& target_id,
                         const std::string& emoji, bool on) {
  std::string task_id = on_comment ? get_comment(user, target_id).task_id : target_id;
  auto [t, acc] = visible_task(user, task_id);
  if (std::find_if(std::begin(kReactionNames), std::end(kReactionNames),
                   [&](const char* n) { return emoji == n; }) == std::end(kReactionNames))
    throw bad_field("emoji", "must be one of thumbs_up, thumbs_down, laugh, hooray, confused, heart, rocket, eyes");
  require_write(acc);
  const int64_t now = clock_.now_ms();
  db_.write([&](sql::Connection& c) {
    // Reacting twice (or removing a missing reaction) changes nothing and emits nothing.
    bool had = false;
    for (const auto& r : repo::list_reactions(c, target_id))
      if (r.emoji == emoji) had = std::find(r.user_ids.begin(), r.user_ids.end(), user) != r.user_ids.end();
    if (on)
      repo::add_reaction(c, on_comment ? "comment" : "task", target_id, user, emoji, now);
    else
      repo::remove_reaction(c, target_id, user, emoji);
    if (had != on)
      emit(c, task_event(on ? "reaction.added" : "reaction.removed", user, acc.workspace_id, t, "reaction",
                         target_id + ":" + user + ":" + emoji,
                         json::serialize(json::object{{"target_type", on_comment ? "comment" : "task"},
                                                      {"target_id", target_id},
                                                      {"emoji", emoji},
                                                      {"user_id", user}})));
  });
}

SavedView TasksService::create_view(const std::string& user, const std::string& project_id,
                                    const std::string& name, const std::string& query, bool shared) {
  auto acc = access_or_404(user, project_id);
  if (shared) require_write(acc);
  SavedView v;
  v.id = new_uuid_v7();
  v.project_id = project_id;
  v.owner_id = user;
  v.name = name;
  v.query = query;
  v.shared = shared;
  v.created_at = v.updated_at = clock_.now_ms();
  db_.write([&](sql::Connection& c) { repo::insert_view(c, v); });
  return v;
}

std::vector<SavedView> TasksService::list_views(const std::string& user, const std::string& project_id) {
  access_or_404(user, project_id);
  return db_.read_value([&](sql::Connection& c) { return repo::list_views(c, project_id, user); });
}

SavedView TasksService::get_view(const std::string& user, const std::string& view_id) {
  if (!is_uuid(view_id)) throw not_found("The view does not exist.");
  auto v = db_.read_value([&](sql::Connection& c) { return repo::find_view(c, view_id); });
  if (!v || (!v->shared && v->owner_id != user) || !projects_.project_access(user, v->project_id))
    throw not_found("The view does not exist.");
  return *v;
}

namespace {
void require_view_owner(const SavedView& v, const projects::ProjectAccess& acc, const std::string& user) {
  if (v.owner_id == user) {
    if (v.shared) require_write(acc);
    return;
  }
  require_write(acc);
  if (!acc.is_admin()) throw forbidden("Only the owner or a project admin can change this view.");
}
}  // namespace

SavedView TasksService::update_view(const std::string& user, const std::string& view_id,
                                    const std::optional<std::string>& name, const std::optional<std::string>& query,
                                    std::optional<bool> shared, const IfMatch& if_match) {
  auto v0 = get_view(user, view_id);
  auto acc = access_or_404(user, v0.project_id);
  require_view_owner(v0, acc, user);
  if (shared && *shared) require_write(acc);
  const int64_t now = clock_.now_ms();
  SavedView out;
  db_.write([&](sql::Connection& c) {
    auto v = repo::find_view(c, view_id);
    if (!v) throw not_found("The view does not exist.");
    require_match(if_match, v->version);
    if (name) v->name = *name;
    if (query) v->query = *query;
    if (shared) v->shared = *shared;
    v->version += 1;
    v->updated_at = now;
    repo::update_view(c, *v);
    out = *v;
  });
  return out;
}

void TasksService::delete_view(const std::string& user, const std::string& view_id, const IfMatch& if_match) {
  auto v0 = get_view(user, view_id);
  auto acc = access_or_404(user, v0.project_id);
  require_view_owner(v0, acc, user);
  db_.write([&](sql::Connection& c) {
    auto v = repo::find_view(c, view_id);
    if (!v) throw not_found("The view does not exist.");
    require_match(if_match, v->version);
    repo::delete_view(c, view_id);
  });
}

std::vector<Watcher> TasksService::list_watchers(const std::string& user, const std::string& task_id) {
  visible_task(user, task_id);
  return db_.read_value([&](sql::Connection& c) { return repo::list_watchers(c, task_id); });
}

void TasksService::watch(const std::string& user, const std::string& task_id, bool on) {
  auto [t, acc] = visible_task(user, task_id);
  const int64_t now = clock_.now_ms();
  db_.write([&](sql::Connection& c) {
    bool had = false;
    for (const auto& w : repo::list_watchers(c, task_id)) had = had || w.user_id == user;
    if (on)
      repo::add_watcher(c, task_id, user, now);
    else
      repo::remove_watcher(c, task_id, user);
    if (had != on) {
      auto e = task_event(on ? "watcher.added" : "watcher.removed", user, acc.workspace_id, t, "watcher", user,
                          json::serialize(json::object{{"user_id", user}}));
      e.user_id = user;
      emit(c, std::move(e));
    }
  });
}

std::vector<Task> TasksService::bulk_update(const std::string& user, const std::string& project_id,
                                           const BulkUpdateInput& in) {
  auto acc = writable(user, project_id);
  std::optional<projects::StateInfo> state;
  if (in.state_id) {
    if (is_uuid(*in.state_id)) state = projects_.state(project_id, *in.state_id);
    if (!state || state->project_id != project_id) throw bad_field("state_id", "must be a state of this project");
  }
  std::optional<std::vector<std::string>> assignees, labels;
  if (in.assignee_ids) {
    assignees = dedup(*in.assignee_ids);
    check_assignees(project_id, *assignees, "assignee_ids");
  }
  if (in.label_ids) {
    labels = dedup(*in.label_ids);
    check_labels(project_id, *labels, "label_ids");
  }
  if (in.task_ids.empty() || in.task_ids.size() > kMaxBulk)
    throw bad_field("task_ids", "must name 1 to " + std::to_string(kMaxBulk) + " tasks");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < in.task_ids.size(); ++i)
    if (!is_uuid(in.task_ids[i]) || !seen.insert(in.task_ids[i]).second)
      throw bad_field("task_ids[" + std::to_string(i) + "]", "must be distinct tasks of this project");
  UpdateTaskInput patch;
  patch.state_id = in.state_id;
  patch.priority = in.priority;
  const int64_t now = clock_.now_ms();
  std::vector<Task> out;
  db_.write([&](sql::Connection& c) {
    for (std::size_t i = 0; i < in.task_ids.size(); ++i) {
      auto cur = repo::find_task(c, in.task_ids[i]);
      if (!cur || cur->deleted_at || cur->project_id != project_id)
        throw bad_field("task_ids[" + std::to_string(i) + "]", "must be distinct tasks of this project");
      Task t = apply_update(c, user, now, &*cur, patch, state, assignees, labels);
      t.key = acc.key;
      spawn_next_occurrence(c, user, acc.workspace_id, *cur, t, now);
      if (in.archived && t.archived_at.has_value() != *in.archived) {
        if (*in.archived)
          t.archived_at = now;
        else
          t.archived_at.reset();
        t.version = t.version == cur->version ? t.version + 1 : t.version;
        t.updated_at = now;
        repo::update_task(c, t);
        record(c, t.id, user, now, *in.archived ? "archived" : "unarchived");
      }
      if (auto e = task_change_event(user, acc.workspace_id, *cur, t)) emit(c, with_watchers(c, std::move(*e)));
      t.key = acc.key;
      out.push_back(std::move(t));
    }
  });
  return out;
}

void TasksService::move_state_tasks(const std::string& project_id, const std::string& from_state,
                                    const std::string& to_state) {
  auto st = projects_.state(project_id, to_state);
  if (!st) throw bad_field("state_id", "must be a state of this project");
  const std::string group = group_name(st->group);
  const int64_t now = clock_.now_ms();
  db_.write([&](sql::Connection& c) { repo::move_state(c, project_id, from_state, to_state, group, now); });
}

void TasksService::purge_project(const std::string& project_id) {
  db_.write([&](sql::Connection& c) { repo::purge_project(c, project_id, db_.dialect()); });
}

void TasksService::remove_label(const std::string& project_id, const std::string& label_id) {
  const int64_t now = clock_.now_ms();
  db_.write([&](sql::Connection& c) { repo::remove_label(c, project_id, label_id, now); });
}

int64_t TasksService::purge_deleted(int64_t older_than_ms, int64_t batch) {
  const int64_t before = clock_.now_ms() - older_than_ms;
  int64_t total = 0;
  for (;;) {
    int64_t n = 0;
    db_.write([&](sql::Connection& c) { n = repo::purge_deleted(c, before, batch, db_.dialect()); });
    total += n;
    if (n < batch) return total;
  }
}

}  // namespace taskhub::tasks
