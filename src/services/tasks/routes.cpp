#include "services/tasks/routes.hpp"
#include "services/tasks/recurrence.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/json_output.hpp"
#include "core/error.hpp"
#include "core/etag.hpp"
#include "core/ids.hpp"
#include "core/json_input.hpp"
#include "core/pagination.hpp"
#include "core/time.hpp"

namespace taskhub::tasks {

namespace json = boost::json;

namespace {

constexpr std::size_t kTaskBody = 512 * 1024;  // a 64 KiB description, JSON-escaped
constexpr std::size_t kCommentBody = 128 * 1024;
constexpr std::size_t kSmallBody = 16 * 1024;

json::array str_array(const std::vector<std::string>& v, json::storage_ptr sp = {}) {
  json::array a(std::move(sp));
  a.reserve(v.size());
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

http::Response with_etag(http::Response resp, int64_t version) {
  resp.headers.set("ETag", make_etag(version));
  return resp;
}

IfMatch if_match_of(const http::Request& req) { return parse_if_match(req.header("If-Match")); }

void expect_empty_object(const http::Request& req) {
  bool blank = true;
  for (char c : req.body)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') blank = false;
  if (blank) return;
  auto body = parse_json_object(req.body);
  ObjectReader r(body, {});
  r.finish();
}

std::optional<std::string> read_date(ObjectReader& r, std::string_view name) {
  auto v = r.optional_string(name, 10, 10);
  if (r.has(name) && !r.is_null(name) && (!v || !valid_date(*v))) {
    if (v) r.add_error(std::string(name), "must be a date YYYY-MM-DD");
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> read_description(ObjectReader& r) {
  auto d = r.optional_string("description", 0, kMaxDescriptionBytes);
  if (d && d->size() > kMaxDescriptionBytes) r.add_error("description", "must be at most 65536 bytes");
  return d;
}

// "recurrence": a rule object (recurrence.hpp) or null; absent -> no change.
Nullable<std::string> read_recurrence(const json::object& body) {
  const json::value* v = body.if_contains("recurrence");
  if (!v) return std::nullopt;
  if (v->is_null()) return std::optional<std::string>();
  return std::optional<std::string>(recurrence_json(parse_recurrence(json::serialize(*v), "recurrence")));
}

std::optional<int> read_priority(ObjectReader& r) {
  auto p = r.optional_enum("priority", {"none", "low", "medium", "high", "urgent"});
  if (!p) return std::nullopt;
  return priority_from_name(*p);
}

std::optional<std::string> read_id(ObjectReader& r, std::string_view name) {
  return r.optional_string(name, 1, 64);
}

int64_t parse_number(std::string_view s) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || ptr != s.data() + s.size() || n < 1) throw not_found("The task does not exist.");
  return n;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string id_or(const std::string& v, const std::string& me, const char* field, bool allow_none) {
  if (v == "me") return me;
  if (allow_none && v == "none") return v;
  if (!is_uuid(v)) throw bad_field(field, allow_none ? "must be a user id, me or none" : "must be a user id or me");
  return v;
}

bool parse_bool(const std::string& v, const char* field) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw bad_field(field, "must be true or false");
}

TaskQuery parse_query(const http::Request& req) {
  TaskQuery q;
  const std::string& me = req.user().user_id;
  q.limit = parse_limit(req.query_param("limit"));
  q.cursor = req.query_param("cursor");
  for (const auto& [k, v] : req.query_params()) {
    if (k == "state_id") {
      for (auto& s : split_list(v)) {
        if (!is_uuid(s)) throw bad_field("state_id", "must be state ids");
        q.state_ids.push_back(s);
      }
    } else if (k == "state_group") {
      for (auto& s : split_list(v)) {
        if (s != "backlog" && s != "unstarted" && s != "started" && s != "completed" && s != "cancelled")
          throw bad_field("state_group", "must be backlog, unstarted, started, completed or cancelled");
        q.state_groups.push_back(s);
      }
    } else if (k == "priority") {
      for (auto& s : split_list(v)) {
        auto p = priority_from_name(s);
        if (!p) throw bad_field("priority", "must be none, low, medium, high or urgent");
        q.priorities.push_back(*p);
      }
    } else if (k == "assignee") {
      q.assignee = id_or(v, me, "assignee", true);
    } else if (k == "label_id") {
      if (!is_uuid(v)) throw bad_field("label_id", "must be a label id");
      q.label_id = v;
    } else if (k.size() > 3 && k.compare(0, 3, "cf.") == 0) {
      const std::string id(k.substr(3));
      if (!is_uuid(id)) throw bad_field(k, "must name a custom field id (cf.<field id>)");
      if (v.empty() || utf8_length(v) > kMaxCustomTextChars) throw bad_field(k, "must be 1 to 2000 characters");
      if (q.custom_filters.size() >= 10) throw bad_field(k, "at most 10 custom field filters");
      q.custom_filters.emplace_back(id, v);
    } else if (k == "due_before" || k == "due_after") {
      if (!valid_date(v)) throw bad_field(k, "must be a date YYYY-MM-DD");
      (k == "due_before" ? q.due_before : q.due_after) = v;
    } else if (k == "overdue") {
      q.overdue = parse_bool(v, "overdue");
    } else if (k == "parent_id") {
      if (v != "none" && !is_uuid(v)) throw bad_field("parent_id", "must be a task id or none");
      q.parent_id = v;
    } else if (k == "archived") {
      q.archived = parse_bool(v, "archived");
    } else if (k == "created_by") {
      q.created_by = id_or(v, me, "created_by", false);
    } else if (k == "updated_since") {
      auto t = parse_rfc3339_ms(v);
      if (!t) throw bad_field("updated_since", "must be an RFC 3339 timestamp");
      q.updated_since = *t;
    } else if (k == "q") {
      if (v.empty() || utf8_length(v) > 200) throw bad_field("q", "must be 1 to 200 characters");
      q.text = v;
    } else if (k == "sort") {
      auto s = parse_sort(v);
      if (!s) throw bad_field("sort", "must be one of created_at, updated_at, priority, due_date, position, number, relevance, "
                                      "optionally prefixed with -");
      q.sort = s->first;
      q.descending = s->second;
    } else if (k != "limit" && k != "cursor") {
      throw bad_field(k, "unknown query parameter");
    }
  }
  if (q.sort == SortField::relevance && !q.text) throw bad_field("sort", "relevance needs a search text (q)");
  return q;
}

template <class T, class F>
json::object page_to_json(const Page<T>& p, F&& to_json) {
  json::array items;
  for (const auto& x : p.items) items.push_back(to_json(x));
  return json::object{{"items", std::move(items)}, {"next_cursor", str_or_null(p.next_cursor)}};
}

json::object activity_to_json(const Activity& a) {
  return json::object{{"id", a.id},
                      {"task_id", a.task_id},
                      {"actor_id", a.actor_id},
                      {"kind", a.kind},
                      {"field", str_or_null(a.field)},
                      {"old_value", str_or_null(a.old_value)},
                      {"new_value", str_or_null(a.new_value)},
                      {"created_at", format_rfc3339_ms(a.created_at)}};
}

json::object view_to_json(const SavedView& v) {
  return json::object{{"id", v.id},
                      {"project_id", v.project_id},
                      {"owner_id", v.owner_id},
                      {"name", v.name},
                      {"query", v.query},
                      {"shared", v.shared},
                      {"version", v.version},
                      {"created_at", format_rfc3339_ms(v.created_at)},
                      {"updated_at", format_rfc3339_ms(v.updated_at)}};
}

// A view's query must be a valid task-list query string (no cursor, no limit).
void check_view_query(const http::Request& req, const std::string& query) {
  http::Request probe;
  probe.query = query;
  probe.principal = req.principal;
  try {
    parse_query(probe);
  } catch (const ApiError& e) {
    std::string why = e.errors().empty() ? e.detail() : e.errors().front().field + ": " + e.errors().front().message;
    throw bad_field("query", "is not a valid task list query (" + why + ")");
  }
  if (probe.query_param("cursor") || probe.query_param("limit"))
    throw bad_field("query", "must not contain cursor or limit");
}

json::object relation_to_json(const Relation& r) {
  return json::object{{"id", r.id},
                      {"kind", r.kind},
                      {"task_id", r.target_id},
                      {"created_by", r.created_by},
                      {"created_at", format_rfc3339_ms(r.created_at)}};
}

bool valid_color(std::string_view c) {
  if (c.size() != 7 || c[0] != '#') return false;
  for (std::size_t i = 1; i < 7; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(c[i]))) return false;
  return true;
}

// "custom_fields": {"<field id>": value | null} of PATCH /tasks/{id}; the service checks each
// value against its field's type.
std::vector<CustomValueInput> read_custom_values(const json::object& body, ObjectReader& r) {
  std::vector<CustomValueInput> out;
  const auto* cf = body.if_contains("custom_fields");
  if (!cf) return out;
  if (!cf->is_object()) {
    r.add_error("custom_fields", "must be an object of custom field id to value");
    return out;
  }
  if (cf->as_object().size() > kMaxCustomValuesPerPatch) {
    r.add_error("custom_fields", "must set at most 50 fields at once");
    return out;
  }
  using Kind = CustomValueInput::Kind;
  for (const auto& [k, v] : cf->as_object()) {
    if (k.size() > 64) {
      r.add_error("custom_fields", "keys must be custom field ids");
      continue;
    }
    CustomValueInput in;
    in.field_id = std::string(k);
    if (v.is_null()) {
      in.kind = Kind::null;
    } else if (v.is_string()) {
      // Control characters other than \n and \t are refused, as in every other string field.
      const auto& s = v.as_string();
      const bool control = std::any_of(s.begin(), s.end(), [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20 && ch != '\n' && ch != '\t';
      });
      in.kind = control ? Kind::other : Kind::string;
      in.text = std::string(s);
    } else if (v.is_number()) {
      in.kind = Kind::number;
      in.number = v.to_number<double>();
    } else if (v.is_array() && v.as_array().size() <= kMaxFieldOptions &&
               std::all_of(v.as_array().begin(), v.as_array().end(),
                           [](const json::value& x) { return x.is_string() && x.as_string().size() <= 64; })) {
      in.kind = Kind::strings;
      for (const auto& x : v.as_array()) in.items.emplace_back(x.as_string());
    } else {
      in.kind = Kind::other;
    }
    out.push_back(std::move(in));
  }
  return out;
}

// "options": [{"id"?, "name", "color"?}] of a select field.
std::optional<std::vector<FieldOptionInput>> read_options(const json::object& body, ObjectReader& r) {
  const auto* v = body.if_contains("options");
  if (!v) return std::nullopt;
  if (!v->is_array()) {
    r.add_error("options", "must be an array of options");
    return std::nullopt;
  }
  if (v->as_array().size() > kMaxFieldOptions) {
    r.add_error("options", "must have at most 100 options");
    return std::nullopt;
  }
  std::vector<FieldOptionInput> out;
  std::size_t i = 0;
  for (const auto& e : v->as_array()) {
    const std::string prefix = "options[" + std::to_string(i++) + "]";
    if (!e.is_object()) {
      r.add_error(prefix, "must be an object {id?, name, color?}");
      continue;
    }
    ObjectReader o(e.as_object(), {"id", "name", "color"}, prefix);
    FieldOptionInput in;
    in.id = o.optional_string("id", 1, 64);
    in.name = o.required_string("name", 1, 100);
    in.color = o.optional_string("color", 7, 7);
    if (in.color && !valid_color(*in.color)) o.add_error("color", "must be a colour like #3b82f6");
    try {
      o.finish();
    } catch (const ApiError& err) {
      for (const auto& fe : err.errors()) r.add_error(fe.field, fe.message);
    }
    out.push_back(std::move(in));
  }
  return out;
}

json::object field_to_json(const CustomField& f) {
  json::array options;
  for (const auto& o : f.options)
    options.push_back(json::object{{"id", o.id}, {"name", o.name}, {"color", str_or_null(o.color)}});
  return json::object{{"id", f.id},
                      {"project_id", f.project_id},
                      {"name", f.name},
                      {"type", f.type},
                      {"options", std::move(options)},
                      {"version", f.version},
                      {"created_at", format_rfc3339_ms(f.created_at)},
                      {"updated_at", format_rfc3339_ms(f.updated_at)}};
}

json::object custom_values_json(const std::vector<CustomValue>& values, json::storage_ptr sp = {}) {
  json::object o(std::move(sp));
  for (const auto& v : values) {
    if (v.type == "multi_select") {
      auto& slot = o[v.field_id];
      if (!slot.is_array()) slot = json::array();
      slot.as_array().emplace_back(v.text);
    } else if (v.type == "number" && v.number) {
      o[v.field_id] = *v.number;
    } else {
      o[v.field_id] = v.text;
    }
  }
  return o;
}

std::string comment_body(const http::Request& req) {
  auto body = parse_json_object(req.body);
  ObjectReader r(body, {"body"});
  std::string text = r.required_string("body", 1, kMaxCommentBytes);
  if (text.size() > kMaxCommentBytes) r.add_error("body", "must be at most 16384 bytes");
  r.finish();
  return text;
}

// A task as JSON, its keys and strings allocated from sp (task_response passes a stack arena).
json::object task_json_in(const Task& t, json::storage_ptr sp) {
  json::object o(27, sp);
  o.emplace("id", t.id);
  o.emplace("project_id", t.project_id);
  o.emplace("number", t.number_text());
  o.emplace("sequence", t.number);
  o.emplace("title", t.title);
  o.emplace("description", t.description);
  o.emplace("state_id", t.state_id);
  o.emplace("state_group", t.state_group);
  o.emplace("priority", priority_name(t.priority));
  o.emplace("assignee_ids", str_array(t.assignee_ids, sp));
  o.emplace("label_ids", str_array(t.label_ids, sp));
  o.emplace("custom_fields", custom_values_json(t.custom_values, sp));
  o.emplace("start_date", str_or_null(t.start_date));
  o.emplace("due_date", str_or_null(t.due_date));
  o.emplace("estimate", t.estimate ? json::value(*t.estimate) : json::value(nullptr));
  o.emplace("parent_id", str_or_null(t.parent_id));
  o.emplace("position", t.position);
  o.emplace("completed_at", time_or_null(t.completed_at));
  o.emplace("archived_at", time_or_null(t.archived_at));
  o.emplace("deleted_at", time_or_null(t.deleted_at));
  o.emplace("recurrence", t.recurrence ? json::parse(*t.recurrence, sp) : json::value(nullptr));
  o.emplace("next_occurrence_id", str_or_null(t.next_occurrence_id));
  o.emplace("created_by", t.created_by);
  o.emplace("version", t.version);
  o.emplace("created_at", format_rfc3339_ms(t.created_at));
  o.emplace("updated_at", format_rfc3339_ms(t.updated_at));
  return o;
}

// One task as the answer, with its ETag. The JSON is built in a buffer on the stack: boost::json
// otherwise allocates every key and most strings, a fifth of all allocations of a
// GET /tasks/{id}. A description longer than the buffer spills to the heap as usual.
http::Response task_response(int status, const Task& t) {
  unsigned char buf[8192];
  json::monotonic_resource mr(buf, sizeof buf);
  return with_etag(http::Response::json(status, task_json_in(t, &mr)), t.version);
}

}  // namespace

json::object task_to_json(const Task& t) { return task_json_in(t, {}); }


json::object comment_to_json(const Comment& c) {
  return json::object{{"id", c.id},
                      {"task_id", c.task_id},
                      {"author_id", c.author_id},
                      {"body", c.body},
                      {"mention_ids", str_array(c.mention_ids)},
                      {"version", c.version},
                      {"created_at", format_rfc3339_ms(c.created_at)},
                      {"updated_at", format_rfc3339_ms(c.updated_at)}};
}

void register_routes(http::Router& router, TasksService& svc) {
  const http::RouteOptions task_opts{.auth = http::Auth::required, .max_body = kTaskBody};
  const http::RouteOptions comment_opts{.auth = http::Auth::required, .max_body = kCommentBody};
  const http::RouteOptions small{.auth = http::Auth::required, .max_body = kSmallBody};

  // ---- tasks of a project

  router.add(
      "POST", "/api/v1/projects/{id}/tasks",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"title", "description", "state_id", "priority", "assignee_ids", "label_ids",
                              "start_date", "due_date", "estimate", "parent_id", "recurrence"});
        CreateTaskInput in;
        if (auto rec = read_recurrence(body)) in.recurrence = *rec;
        in.title = r.required_string("title", 1, 500);
        in.description = read_description(r);
        in.state_id = read_id(r, "state_id");
        in.priority = read_priority(r);
        in.assignee_ids = r.optional_string_array("assignee_ids", kMaxAssignees, 64);
        in.label_ids = r.optional_string_array("label_ids", kMaxLabels, 64);
        in.start_date = read_date(r, "start_date");
        in.due_date = read_date(r, "due_date");
        in.estimate = r.optional_int("estimate", 0, kMaxEstimate);
        in.parent_id = read_id(r, "parent_id");
        r.finish();
        Task t = svc.create_task(req.user().user_id, std::string(req.param("id")), in);
        auto resp = task_response(201, t);
        resp.headers.set("Location", "/api/v1/tasks/" + t.id);
        return resp;
      },
      task_opts);

  router.add(
      "GET", "/api/v1/projects/{id}/tasks",
      [&svc](http::Request& req) {
        auto q = parse_query(req);
        auto page = svc.list_tasks(req.user().user_id, std::string(req.param("id")), q);
        return http::Response::json(200, page_to_json(page, task_to_json));
      },
      small);

  router.add(
      "POST", "/api/v1/projects/{id}/tasks/bulk",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"task_ids", "changes"});
        BulkUpdateInput in;
        auto ids = r.optional_string_array("task_ids", kMaxBulk, 64);
        if (!ids) r.add_error("task_ids", "is required");
        in.task_ids = ids.value_or(std::vector<std::string>{});
        const auto* changes = body.if_contains("changes");
        if (!changes || !changes->is_object()) {
          r.add_error("changes", "must be an object");
          r.finish();
        }
        r.finish();
        ObjectReader ch(changes->as_object(), {"state_id", "priority", "assignee_ids", "label_ids", "archived"},
                        "changes");
        in.state_id = read_id(ch, "state_id");
        in.priority = read_priority(ch);
        in.assignee_ids = ch.optional_string_array("assignee_ids", kMaxAssignees, 64);
        in.label_ids = ch.optional_string_array("label_ids", kMaxLabels, 64);
        in.archived = ch.optional_bool("archived");
        ch.finish();
        auto tasks = svc.bulk_update(req.user().user_id, std::string(req.param("id")), in);
        json::array items;
        for (const auto& t : tasks) items.push_back(task_to_json(t));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      task_opts);

  router.add(
      "GET", "/api/v1/projects/{id}/tasks/by-number/{number}",
      [&svc](http::Request& req) {
        Task t = svc.get_task_by_number(req.user().user_id, std::string(req.param("id")),
                                        parse_number(req.param("number")));
        return task_response(200, t);
      },
      small);

  router.add(
      "GET", "/api/v1/users/me/tasks",
      [&svc](http::Request& req) {
        auto q = parse_query(req);
        auto page = svc.my_tasks(req.user().user_id, q);
        return http::Response::json(200, page_to_json(page, task_to_json));
      },
      small);

  // ---- custom fields of a project

  router.add(
      "POST", "/api/v1/projects/{id}/custom-fields",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "type", "options"});
        CustomFieldInput in;
        in.name = r.required_string("name", 1, 100);
        auto type = r.optional_enum("type", {"text", "number", "date", "single_select", "multi_select", "user"});
        if (!r.has("type") || r.is_null("type")) r.add_error("type", "is required");
        in.type = type.value_or("");
        in.options = read_options(body, r).value_or(std::vector<FieldOptionInput>{});
        r.finish();
        const std::string pid(req.param("id"));
        CustomField f = svc.create_field(req.user().user_id, pid, in);
        auto resp = with_etag(http::Response::json(201, field_to_json(f)), f.version);
        resp.headers.set("Location", "/api/v1/projects/" + pid + "/custom-fields/" + f.id);
        return resp;
      },
      small);

  router.add(
      "GET", "/api/v1/projects/{id}/custom-fields",
      [&svc](http::Request& req) {
        json::array items;
        for (const auto& f : svc.list_fields(req.user().user_id, std::string(req.param("id"))))
          items.push_back(field_to_json(f));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      small);

  router.add(
      "GET", "/api/v1/projects/{id}/custom-fields/{field_id}",
      [&svc](http::Request& req) {
        CustomField f = svc.get_field(req.user().user_id, std::string(req.param("id")),
                                      std::string(req.param("field_id")));
        return with_etag(http::Response::json(200, field_to_json(f)), f.version);
      },
      small);

  router.add(
      "PATCH", "/api/v1/projects/{id}/custom-fields/{field_id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "options"});
        CustomFieldPatch p;
        if (r.is_null("name")) r.add_error("name", "must not be null");
        p.name = r.optional_string("name", 1, 100);
        p.options = read_options(body, r);
        r.finish();
        CustomField f = svc.update_field(req.user().user_id, std::string(req.param("id")),
                                         std::string(req.param("field_id")), p, if_match_of(req));
        return with_etag(http::Response::json(200, field_to_json(f)), f.version);
      },
      small);

  router.add(
      "DELETE", "/api/v1/projects/{id}/custom-fields/{field_id}",
      [&svc](http::Request& req) {
        svc.delete_field(req.user().user_id, std::string(req.param("id")), std::string(req.param("field_id")),
                         if_match_of(req));
        return http::Response::no_content();
      },
      small);

  // ---- one task

  router.add(
      "GET", "/api/v1/tasks/{id}",
      [&svc](http::Request& req) {
        Task t = svc.get_task(req.user().user_id, std::string(req.param("id")));
        return task_response(200, t);
      },
      small);

  router.add(
      "PATCH", "/api/v1/tasks/{id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"title", "description", "state_id", "priority", "assignee_ids", "label_ids",
                              "start_date", "due_date", "estimate", "parent_id", "after_id", "before_id",
                              "custom_fields", "recurrence"});
        UpdateTaskInput in;
        in.recurrence = read_recurrence(body);
        if (r.is_null("title")) r.add_error("title", "must not be null");
        in.title = r.optional_string("title", 1, 500);
        if (r.is_null("description"))
          in.description = std::string();
        else
          in.description = read_description(r);
        if (r.is_null("state_id")) r.add_error("state_id", "must not be null");
        in.state_id = read_id(r, "state_id");
        in.priority = r.is_null("priority") ? std::optional<int>(0) : read_priority(r);
        in.assignee_ids = r.is_null("assignee_ids") ? std::optional<std::vector<std::string>>(std::vector<std::string>{})
                                                    : r.optional_string_array("assignee_ids", kMaxAssignees, 64);
        in.label_ids = r.is_null("label_ids") ? std::optional<std::vector<std::string>>(std::vector<std::string>{})
                                              : r.optional_string_array("label_ids", kMaxLabels, 64);
        if (r.has("start_date")) in.start_date = read_date(r, "start_date");
        if (r.has("due_date")) in.due_date = read_date(r, "due_date");
        if (r.has("estimate")) in.estimate = r.optional_int("estimate", 0, kMaxEstimate);
        if (r.has("parent_id")) in.parent_id = read_id(r, "parent_id");
        in.after_id = read_id(r, "after_id");
        in.before_id = read_id(r, "before_id");
        in.custom_fields = read_custom_values(body, r);
        r.finish();
        Task t = svc.update_task(req.user().user_id, std::string(req.param("id")), in, if_match_of(req));
        return task_response(200, t);
      },
      task_opts);

  router.add(
      "DELETE", "/api/v1/tasks/{id}",
      [&svc](http::Request& req) {
        svc.delete_task(req.user().user_id, std::string(req.param("id")), if_match_of(req));
        return http::Response::no_content();
      },
      small);

  router.add(
      "POST", "/api/v1/tasks/{id}/restore",
      [&svc](http::Request& req) {
        expect_empty_object(req);
        Task t = svc.restore_task(req.user().user_id, std::string(req.param("id")));
        return task_response(200, t);
      },
      small);

  for (bool archive : {true, false}) {
    router.add(
        "POST", archive ? "/api/v1/tasks/{id}/archive" : "/api/v1/tasks/{id}/unarchive",
        [&svc, archive](http::Request& req) {
          expect_empty_object(req);
          Task t = svc.set_archived(req.user().user_id, std::string(req.param("id")), archive, if_match_of(req));
          return task_response(200, t);
        },
        small);
  }

  // ---- activity and watchers

  router.add(
      "GET", "/api/v1/tasks/{id}/activity",
      [&svc](http::Request& req) {
        int limit = parse_limit(req.query_param("limit"));
        auto page = svc.list_activity(req.user().user_id, std::string(req.param("id")), limit,
                                      req.query_param("cursor"));
        return http::Response::json(200, page_to_json(page, activity_to_json));
      },
      small);

  router.add(
      "GET", "/api/v1/tasks/{id}/watchers",
      [&svc](http::Request& req) {
        auto ws = svc.list_watchers(req.user().user_id, std::string(req.param("id")));
        json::array items;
        for (const auto& w : ws)
          items.push_back(json::object{{"user_id", w.user_id}, {"created_at", format_rfc3339_ms(w.created_at)}});
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      small);

  router.add(
      "PUT", "/api/v1/tasks/{id}/watchers/me",
      [&svc](http::Request& req) {
        expect_empty_object(req);
        svc.watch(req.user().user_id, std::string(req.param("id")), true);
        return http::Response::no_content();
      },
      small);

  router.add(
      "DELETE", "/api/v1/tasks/{id}/watchers/me",
      [&svc](http::Request& req) {
        svc.watch(req.user().user_id, std::string(req.param("id")), false);
        return http::Response::no_content();
      },
      small);

  // ---- reactions (tasks and comments)

  for (bool on_comment : {false, true}) {
    const std::string base = on_comment ? "/api/v1/comments/{id}/reactions" : "/api/v1/tasks/{id}/reactions";
    router.add(
        "GET", base,
        [&svc, on_comment](http::Request& req) {
          json::array items;
          for (const auto& rc : svc.list_reactions(req.user().user_id, on_comment, std::string(req.param("id"))))
            items.push_back(json::object{{"emoji", rc.emoji},
                                         {"count", static_cast<int64_t>(rc.user_ids.size())},
                                         {"user_ids", str_array(rc.user_ids)}});
          return http::Response::json(200, json::object{{"items", std::move(items)}});
        },
        small);
    for (bool on : {true, false}) {
      router.add(
          on ? "PUT" : "DELETE", base + "/{emoji}",
          [&svc, on_comment, on](http::Request& req) {
            if (on) expect_empty_object(req);
            svc.react(req.user().user_id, on_comment, std::string(req.param("id")), std::string(req.param("emoji")),
                      on);
            return http::Response::no_content();
          },
          small);
    }
  }

  // ---- saved views

  router.add(
      "POST", "/api/v1/projects/{id}/views",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "query", "shared"});
        std::string name = r.required_string("name", 1, 100);
        std::string query = r.required_string("query", 0, 2000);
        bool shared = r.optional_bool("shared").value_or(false);
        r.finish();
        check_view_query(req, query);
        SavedView v = svc.create_view(req.user().user_id, std::string(req.param("id")), name, query, shared);
        auto resp = with_etag(http::Response::json(201, view_to_json(v)), v.version);
        resp.headers.set("Location", "/api/v1/views/" + v.id);
        return resp;
      },
      small);

  router.add(
      "GET", "/api/v1/projects/{id}/views",
      [&svc](http::Request& req) {
        json::array items;
        for (const auto& v : svc.list_views(req.user().user_id, std::string(req.param("id"))))
          items.push_back(view_to_json(v));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      small);

  router.add(
      "GET", "/api/v1/views/{id}",
      [&svc](http::Request& req) {
        SavedView v = svc.get_view(req.user().user_id, std::string(req.param("id")));
        return with_etag(http::Response::json(200, view_to_json(v)), v.version);
      },
      small);

  router.add(
      "PATCH", "/api/v1/views/{id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "query", "shared"});
        auto name = r.optional_string("name", 1, 100);
        auto query = r.optional_string("query", 0, 2000);
        auto shared = r.optional_bool("shared");
        r.finish();
        if (query) check_view_query(req, *query);
        SavedView v = svc.update_view(req.user().user_id, std::string(req.param("id")), name, query, shared,
                                      if_match_of(req));
        return with_etag(http::Response::json(200, view_to_json(v)), v.version);
      },
      small);

  router.add(
      "DELETE", "/api/v1/views/{id}",
      [&svc](http::Request& req) {
        svc.delete_view(req.user().user_id, std::string(req.param("id")), if_match_of(req));
        return http::Response::no_content();
      },
      small);

  // ---- relations

  router.add(
      "POST", "/api/v1/tasks/{id}/relations",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"kind", "task_id"});
        auto kind = r.optional_enum("kind", {"blocks", "blocked_by", "relates_to", "duplicate_of"});
        if (!kind && !r.has("kind")) r.add_error("kind", "is required");
        std::string other = r.required_string("task_id", 1, 64);
        r.finish();
        const std::string tid(req.param("id"));
        Relation rel = svc.add_relation(req.user().user_id, tid, *kind, other);
        auto resp = http::Response::json(201, relation_to_json(rel));
        resp.headers.set("Location", "/api/v1/tasks/" + tid + "/relations/" + rel.id);
        return resp;
      },
      small);

  router.add(
      "GET", "/api/v1/tasks/{id}/relations",
      [&svc](http::Request& req) {
        json::array items;
        for (const auto& rel : svc.list_relations(req.user().user_id, std::string(req.param("id"))))
          items.push_back(relation_to_json(rel));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      small);

  router.add(
      "DELETE", "/api/v1/tasks/{id}/relations/{relation_id}",
      [&svc](http::Request& req) {
        svc.remove_relation(req.user().user_id, std::string(req.param("id")), std::string(req.param("relation_id")));
        return http::Response::no_content();
      },
      small);

  // ---- comments

  router.add(
      "POST", "/api/v1/tasks/{id}/comments",
      [&svc](http::Request& req) {
        std::string text = comment_body(req);
        Comment c = svc.add_comment(req.user().user_id, std::string(req.param("id")), text);
        auto resp = with_etag(http::Response::json(201, comment_to_json(c)), c.version);
        resp.headers.set("Location", "/api/v1/comments/" + c.id);
        return resp;
      },
      comment_opts);

  router.add(
      "GET", "/api/v1/tasks/{id}/comments",
      [&svc](http::Request& req) {
        int limit = parse_limit(req.query_param("limit"));
        auto page = svc.list_comments(req.user().user_id, std::string(req.param("id")), limit,
                                      req.query_param("cursor"));
        return http::Response::json(200, page_to_json(page, comment_to_json));
      },
      small);

  router.add(
      "GET", "/api/v1/comments/{id}",
      [&svc](http::Request& req) {
        Comment c = svc.get_comment(req.user().user_id, std::string(req.param("id")));
        return with_etag(http::Response::json(200, comment_to_json(c)), c.version);
      },
      small);

  router.add(
      "PATCH", "/api/v1/comments/{id}",
      [&svc](http::Request& req) {
        std::string text = comment_body(req);
        Comment c = svc.update_comment(req.user().user_id, std::string(req.param("id")), text, if_match_of(req));
        return with_etag(http::Response::json(200, comment_to_json(c)), c.version);
      },
      comment_opts);

  router.add(
      "DELETE", "/api/v1/comments/{id}",
      [&svc](http::Request& req) {
        svc.delete_comment(req.user().user_id, std::string(req.param("id")), if_match_of(req));
        return http::Response::no_content();
      },
      small);
}

}  // namespace taskhub::tasks
