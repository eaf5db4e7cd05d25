#pragma once
// The tasks service's domain events: payload builders (docs/architecture.md "Domain events").
#include <optional>
#include <string>

#include "ports/event_bus.hpp"
#include "services/tasks/model.hpp"

namespace taskhub::tasks {

// The task as events carry it: every field but the description (up to 64 KiB; events say
// whether it changed instead).
std::string task_event_json(const Task& t);

// The event of one change made to `before`, giving `after`: "task.moved" when the state
// changed, "task.archived"/"task.unarchived" when only the archived flag did, else
// "task.updated"; payload {"task": ..., "changes": {field: {"old": .., "new": ..}}}.
// nullopt when nothing changed.
std::optional<events::Event> task_change_event(const std::string& actor, const std::string& workspace_id,
                                               const Task& before, const Task& after);

// An event about task t (or something on it: comment, relation, reaction, watcher).
events::Event task_event(std::string type, const std::string& actor, const std::string& workspace_id, const Task& t,
                         std::string entity_type, std::string entity_id, std::string payload);

// An event about something of a project that is not a task (custom field definitions).
events::Event project_event(std::string type, const std::string& actor, const std::string& workspace_id,
                            const std::string& project_id, std::string entity_type, std::string entity_id,
                            std::string payload);

std::string comment_event_json(const Comment& c);
std::string custom_field_event_json(const CustomField& f);
std::string relation_event_json(const Relation& r);

}  // namespace taskhub::tasks
