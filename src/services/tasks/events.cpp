#include "services/tasks/events.hpp"

#include <boost/json.hpp>

namespace taskhub::tasks {

namespace json = boost::json;

namespace {

template <class T>
json::value opt(const std::optional<T>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.push_back(json::value(s));
  return a;
}

json::object task_object(const Task& t) {
  json::object cf;
  for (const auto& v : t.custom_values) {
    json::value val = v.number ? json::value(*v.number) : json::value(v.text);
    auto it = cf.find(v.field_id);
    if (v.type == "multi_select") {
      if (it == cf.end()) it = cf.emplace(v.field_id, json::array()).first;
      it->value().as_array().push_back(val);
    } else {
      cf[v.field_id] = val;
    }
  }
  return json::object{{"id", t.id},
                      {"project_id", t.project_id},
                      {"number", t.number},
                      {"title", t.title},
                      {"state_id", t.state_id},
                      {"state_group", t.state_group},
                      {"priority", priority_name(t.priority)},
                      {"start_date", opt(t.start_date)},
                      {"due_date", opt(t.due_date)},
                      {"estimate", opt(t.estimate)},
                      {"parent_id", opt(t.parent_id)},
                      {"position", t.position},
                      {"completed_at", opt(t.completed_at)},
                      {"archived_at", opt(t.archived_at)},
                      {"deleted_at", opt(t.deleted_at)},
                      {"created_by", t.created_by},
                      {"assignee_ids", strings(t.assignee_ids)},
                      {"label_ids", strings(t.label_ids)},
                      {"custom_fields", std::move(cf)},
                      {"version", t.version},
                      {"created_at", t.created_at},
                      {"updated_at", t.updated_at}};
}

}  // namespace

std::string task_event_json(const Task& t) { return json::serialize(task_object(t)); }

std::optional<events::Event> task_change_event(const std::string& actor, const std::string& workspace_id,
                                               const Task& before, const Task& after) {
  json::object changes;
  auto change = [&](const char* field, json::value o, json::value n) {
    if (o != n) changes[field] = json::object{{"old", std::move(o)}, {"new", std::move(n)}};
  };
  json::object b = task_object(before), a = task_object(after);
  for (const char* f : {"title", "state_id", "priority", "start_date", "due_date", "estimate", "parent_id", "position",
                        "assignee_ids", "label_ids", "custom_fields", "archived_at", "deleted_at"})
    change(f, b[f], a[f]);
  if (before.description != after.description) changes["description"] = json::object{{"changed", true}};
  if (changes.empty()) return std::nullopt;
  std::string type = "task.updated";
  if (changes.contains("state_id"))
    type = "task.moved";
  else if (changes.size() == 1 && changes.contains("archived_at"))
    type = after.archived_at ? "task.archived" : "task.unarchived";
  return task_event(std::move(type), actor, workspace_id, after, "task", after.id,
                    json::serialize(json::object{{"task", std::move(a)}, {"changes", std::move(changes)}}));
}

events::Event task_event(std::string type, const std::string& actor, const std::string& workspace_id, const Task& t,
                         std::string entity_type, std::string entity_id, std::string payload) {
  events::Event e;
  e.type = std::move(type);
  e.actor_id = actor;
  e.workspace_id = workspace_id;
  e.project_id = t.project_id;
  e.task_id = t.id;
  e.entity_type = std::move(entity_type);
  e.entity_id = std::move(entity_id);
  e.payload = std::move(payload);
  return e;
}

events::Event project_event(std::string type, const std::string& actor, const std::string& workspace_id,
                            const std::string& project_id, std::string entity_type, std::string entity_id,
                            std::string payload) {
  events::Event e;
  e.type = std::move(type);
  e.actor_id = actor;
  e.workspace_id = workspace_id;
  e.project_id = project_id;
  e.entity_type = std::move(entity_type);
  e.entity_id = std::move(entity_id);
  e.payload = std::move(payload);
  return e;
}

std::string custom_field_event_json(const CustomField& f) {
  json::array options;
  for (const auto& o : f.options)
    options.push_back(json::object{{"id", o.id}, {"name", o.name}, {"color", opt(o.color)}});
  return json::serialize(json::object{{"id", f.id},
                                      {"project_id", f.project_id},
                                      {"name", f.name},
                                      {"type", f.type},
                                      {"options", std::move(options)},
                                      {"version", f.version}});
}

std::string comment_event_json(const Comment& c) {
  return json::serialize(json::object{{"id", c.id},
                                      {"task_id", c.task_id},
                                      {"author_id", c.author_id},
                                      {"body", c.body},
                                      {"mention_ids", strings(c.mention_ids)},
                                      {"version", c.version}});
}

std::string relation_event_json(const Relation& r) {
  return json::serialize(
      json::object{{"id", r.id}, {"kind", r.kind}, {"source_id", r.source_id}, {"target_id", r.target_id}});
}

}  // namespace taskhub::tasks
