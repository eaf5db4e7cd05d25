#pragma once
// The tasks service's records (what the repository reads and writes).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taskhub::tasks {

// none, low, medium, high, urgent <-> 0..4 (stored as integers so sorting by priority is an index scan).
inline constexpr const char* kPriorityNames[] = {"none", "low", "medium", "high", "urgent"};
std::optional<int> priority_from_name(std::string_view name);
const char* priority_name(int p);

// A custom field's value on a task, one row per value (a multi_select value has one row per
// chosen option). text: the text, date, option id, user id, or a number's canonical text.
struct CustomValue {
  std::string field_id;
  std::string type;  // the field's type (read with the value)
  std::string text;
  std::optional<double> number;
  bool operator==(const CustomValue& o) const {
    return field_id == o.field_id && text == o.text && number == o.number;
  }
};

struct FieldOption {
  std::string id;
  std::string name;
  std::optional<std::string> color;
};

// Custom fields per project: text, number, date, single_select, multi_select, user.
inline constexpr const char* kCustomFieldTypes[] = {"text", "number", "date", "single_select", "multi_select", "user"};

struct CustomField {
  std::string id;
  std::string project_id;
  std::string name;
  std::string type;
  std::vector<FieldOption> options;  // select types only
  std::string created_by;
  int64_t version = 1;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  bool is_select() const { return type == "single_select" || type == "multi_select"; }
};

struct Task {
  std::string id;
  std::string project_id;
  int64_t number = 0;
  std::string key;  // project key (filled by the service, not stored): number text is key-number
  std::string title;
  std::string description;
  std::string state_id;
  std::string state_group;
  int priority = 0;
  std::optional<std::string> start_date;
  std::optional<std::string> due_date;
  std::optional<int64_t> estimate;
  std::optional<std::string> parent_id;
  double position = 0;
  std::optional<int64_t> completed_at;
  std::optional<int64_t> archived_at;
  std::optional<int64_t> deleted_at;
  std::string created_by;
  int64_t version = 1;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::optional<std::string> recurrence;          // canonical JSON rule (recurrence.hpp), or none
  std::optional<std::string> next_occurrence_id;  // set when completing it created the next occurrence
  std::vector<std::string> assignee_ids;
  std::vector<std::string> label_ids;
  std::vector<CustomValue> custom_values;  // ordered by field id, then value
  double rank = 0;  // full-text rank when listed by relevance (lower is better); not stored

  std::string number_text() const { return key + "-" + std::to_string(number); }
};

struct Comment {
  std::string id;
  std::string task_id;
  std::string author_id;
  std::string body;
  int64_t version = 1;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::vector<std::string> mention_ids;
};

struct Activity {
  std::string id;
  std::string task_id;
  std::string actor_id;
  std::string kind;
  std::optional<std::string> field;
  std::optional<std::string> old_value;
  std::optional<std::string> new_value;
  int64_t created_at = 0;
};

// A relation as stored: source <kind> target.
struct Relation {
  std::string id;
  std::string kind;  // blocks, relates_to, duplicate_of
  std::string source_id;
  std::string target_id;
  std::string created_by;
  int64_t created_at = 0;
};

// Reactions: a bounded set of emoji names.
inline constexpr const char* kReactionNames[] = {"thumbs_up", "thumbs_down", "laugh", "hooray",
                                                 "confused",  "heart",       "rocket", "eyes"};

struct ReactionCount {
  std::string emoji;
  std::vector<std::string> user_ids;
};

struct SavedView {
  std::string id;
  std::string project_id;
  std::string owner_id;
  std::string name;
  std::string query;  // query string of the task list: "state_group=started&sort=-priority"
  bool shared = false;
  int64_t version = 1;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct Watcher {
  std::string user_id;
  int64_t created_at = 0;
};

}  // namespace taskhub::tasks
