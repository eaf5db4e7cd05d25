#pragma once
// Tasks service: the rules for tasks, comments, activity and watchers. No HTTP, no SQL:
// the repository holds the SQL, the projects client answers every question about projects
// (visibility, roles, states, labels, members). Every method takes the caller's user id and
// answers 404 for anything the caller may not see (exactly like a missing object), 403 for
// a write the caller may not make (viewer, archived project).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/etag.hpp"
#include "ports/clock.hpp"
#include "ports/event_bus.hpp"
#include "ports/sql.hpp"
#include "services/projects/client.hpp"
#include "services/tasks/model.hpp"

namespace taskhub::tasks {

inline constexpr std::size_t kMaxDescriptionBytes = 64 * 1024;
inline constexpr std::size_t kMaxCommentBytes = 16 * 1024;
inline constexpr int kMaxDepth = 5;        // a top-level task has depth 1
inline constexpr int64_t kMaxEstimate = 1000;
inline constexpr std::size_t kMaxAssignees = 50;
inline constexpr std::size_t kMaxLabels = 50;

inline constexpr std::size_t kMaxCustomFields = 50;        // per project
inline constexpr std::size_t kMaxFieldOptions = 100;       // per select field
inline constexpr std::size_t kMaxCustomTextChars = 2000;   // a text value, in code points
inline constexpr std::size_t kMaxCustomValuesPerPatch = 50;

// A value for a custom field in PATCH /tasks/{id} ("custom_fields": {"<field id>": value}),
// as the JSON gave it; the service checks it against the field's type.
struct CustomValueInput {
  enum class Kind { null, string, number, strings, other };
  std::string field_id;
  Kind kind = Kind::null;
  std::string text;                // string
  double number = 0;               // number
  std::vector<std::string> items;  // strings (an array of strings)
};

struct FieldOptionInput {
  std::optional<std::string> id;  // kept when given (renaming an option keeps its values), else generated
  std::string name;
  std::optional<std::string> color;
};

struct CustomFieldInput {
  std::string name;
  std::string type;  // one of kCustomFieldTypes
  std::vector<FieldOptionInput> options;
};

struct CustomFieldPatch {
  std::optional<std::string> name;
  std::optional<std::vector<FieldOptionInput>> options;  // replaces the list; values of dropped options are removed
};

// absent / explicit null / value (PATCH merge semantics).
template <class T>
using Nullable = std::optional<std::optional<T>>;

struct CreateTaskInput {
  std::string title;
  std::optional<std::string> description;
  std::optional<std::string> state_id;
  std::optional<int> priority;
  std::optional<std::vector<std::string>> assignee_ids;
  std::optional<std::vector<std::string>> label_ids;
  std::optional<std::string> start_date;
  std::optional<std::string> due_date;
  std::optional<int64_t> estimate;
  std::optional<std::string> parent_id;
  std::optional<std::string> recurrence;  // canonical JSON (parse_recurrence)
};

struct UpdateTaskInput {
  std::optional<std::string> title;
  std::optional<std::string> description;  // null clears to ""
  std::optional<std::string> state_id;
  std::optional<int> priority;             // null -> none
  std::optional<std::vector<std::string>> assignee_ids;  // null -> []
  std::optional<std::vector<std::string>> label_ids;     // null -> []
  Nullable<std::string> start_date;
  Nullable<std::string> due_date;
  Nullable<int64_t> estimate;
  Nullable<std::string> parent_id;
  Nullable<std::string> recurrence;  // canonical JSON; null stops the repetition
  std::vector<CustomValueInput> custom_fields;  // null clears a field's value
  // Manual ordering within the (new) state: place right after / right before that task.
  std::optional<std::string> after_id;
  std::optional<std::string> before_id;
};

inline constexpr std::size_t kMaxBulk = 100;

// Bulk update: the same changes applied to up to kMaxBulk tasks of one project, in one
// transaction (all or nothing).
struct BulkUpdateInput {
  std::vector<std::string> task_ids;
  std::optional<std::string> state_id;
  std::optional<int> priority;
  std::optional<std::vector<std::string>> assignee_ids;
  std::optional<std::vector<std::string>> label_ids;
  std::optional<bool> archived;
};

// relevance: only with a full-text query (best match first; bm25 on SQLite, ts_rank on PostgreSQL).
enum class SortField { created_at, updated_at, priority, due_date, position, number, relevance };

struct TaskQuery {
  std::vector<std::string> state_ids;
  std::vector<std::string> state_groups;
  std::optional<std::string> assignee;  // a user id or "none" ("me" resolved by the handler)
  std::optional<std::string> label_id;
  // cf.<field id>=<value>: equality (multi_select: contains). The service checks the field and
  // turns the value into its stored text (a number's canonical text).
  std::vector<std::pair<std::string, std::string>> custom_filters;
  std::vector<int> priorities;
  std::optional<std::string> due_before;  // due_date < value
  std::optional<std::string> due_after;   // due_date > value
  bool overdue = false;                    // due_date < today and not completed/cancelled
  std::optional<std::string> parent_id;   // a task id or "none"
  bool archived = false;                   // false: only not archived; true: only archived
  std::optional<std::string> created_by;
  std::optional<int64_t> updated_since;
  std::optional<std::string> text;  // full-text search over title, description and comments
  SortField sort = SortField::created_at;
  bool descending = false;
  int limit = 50;
  std::optional<std::string> cursor;
};

template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next_cursor;
};

// Valid calendar date "YYYY-MM-DD".
bool valid_date(std::string_view s);
// Sort parameter "created_at", "-priority", ... ; nullopt when unknown.
std::optional<std::pair<SortField, bool>> parse_sort(std::string_view s);
// Ids named as "@<uuid>" in a comment body, in order of first appearance, without duplicates.
std::vector<std::string> parse_mentions(std::string_view body);
// A stored relation seen from task_id's side: kind from that side, the other task in target_id.
Relation relation_seen_from(const Relation& r, const std::string& task_id);

class TasksService {
 public:
  // Every change appends a domain event to `outbox` in its own transaction (none when null).
  TasksService(sql::Database& db, projects::Client& projects, Clock& clock, events::Outbox* outbox = nullptr)
      : db_(db), projects_(projects), clock_(clock), outbox_(outbox) {}

  Task create_task(const std::string& user, const std::string& project_id, const CreateTaskInput& in);
  Task get_task(const std::string& user, const std::string& task_id);
  Task get_task_by_number(const std::string& user, const std::string& project_id, int64_t number);
  Task update_task(const std::string& user, const std::string& task_id, const UpdateTaskInput& in,
                   const IfMatch& if_match);
  void delete_task(const std::string& user, const std::string& task_id, const IfMatch& if_match);
  Task restore_task(const std::string& user, const std::string& task_id);
  Task set_archived(const std::string& user, const std::string& task_id, bool archived, const IfMatch& if_match);

  std::vector<Task> bulk_update(const std::string& user, const std::string& project_id, const BulkUpdateInput& in);

  Page<Task> list_tasks(const std::string& user, const std::string& project_id, const TaskQuery& q);
  Page<Task> my_tasks(const std::string& user, const TaskQuery& q);

  Comment add_comment(const std::string& user, const std::string& task_id, const std::string& body);
  Page<Comment> list_comments(const std::string& user, const std::string& task_id, int limit,
                              const std::optional<std::string>& cursor);
  Comment get_comment(const std::string& user, const std::string& comment_id);
  Comment update_comment(const std::string& user, const std::string& comment_id, const std::string& body,
                         const IfMatch& if_match);
  void delete_comment(const std::string& user, const std::string& comment_id, const IfMatch& if_match);
  // Hooks run after a comment's deletion committed (the files service drops its attachments).
  // Registered while the modules are built, before any request; a hook that throws is logged
  // and does not undo the deletion.
  using CommentDeletedHook = std::function<void(const std::string& task_id, const std::string& comment_id)>;
  void add_comment_deleted_hook(CommentDeletedHook hook) { comment_deleted_hooks_.push_back(std::move(hook)); }

  Page<Activity> list_activity(const std::string& user, const std::string& task_id, int limit,
                               const std::optional<std::string>& cursor);

  // Relations (same project only). kind: blocks, blocked_by, relates_to, duplicate_of.
  // Answers are seen from task_id's side: kind (blocks, blocked_by, relates_to, duplicate_of,
  // duplicated_by) and the other task's id in target_id.
  Relation add_relation(const std::string& user, const std::string& task_id, const std::string& kind,
                        const std::string& other_id);
  std::vector<Relation> list_relations(const std::string& user, const std::string& task_id);
  void remove_relation(const std::string& user, const std::string& task_id, const std::string& relation_id);

  // Reactions on a task (on_comment false) or a comment; emoji one of kReactionNames (400 otherwise).
  std::vector<ReactionCount> list_reactions(const std::string& user, bool on_comment, const std::string& target_id);
  void react(const std::string& user, bool on_comment, const std::string& target_id, const std::string& emoji,
             bool on);

  // Saved views. Anyone who can see the project may keep private views; shared views need
  // write access. Owners edit and delete their views; project admins any shared view. The
  // query is validated by the caller (routes parse it like a list request).
  SavedView create_view(const std::string& user, const std::string& project_id, const std::string& name,
                        const std::string& query, bool shared);
  std::vector<SavedView> list_views(const std::string& user, const std::string& project_id);
  SavedView get_view(const std::string& user, const std::string& view_id);
  SavedView update_view(const std::string& user, const std::string& view_id, const std::optional<std::string>& name,
                        const std::optional<std::string>& query, std::optional<bool> shared, const IfMatch& if_match);
  void delete_view(const std::string& user, const std::string& view_id, const IfMatch& if_match);

  // Custom fields of a project. Anyone who sees the project lists them; project admins define,
  // change and delete them (a deleted field's values go with it).
  CustomField create_field(const std::string& user, const std::string& project_id, const CustomFieldInput& in);
  std::vector<CustomField> list_fields(const std::string& user, const std::string& project_id);
  CustomField get_field(const std::string& user, const std::string& project_id, const std::string& field_id);
  CustomField update_field(const std::string& user, const std::string& project_id, const std::string& field_id,
                           const CustomFieldPatch& p, const IfMatch& if_match);
  void delete_field(const std::string& user, const std::string& project_id, const std::string& field_id,
                    const IfMatch& if_match);

  std::vector<Watcher> list_watchers(const std::string& user, const std::string& task_id);
  void watch(const std::string& user, const std::string& task_id, bool on);

  // Hooks of the projects service: a deleted state's tasks move to another; a deleted
  // project's tasks are removed.
  void move_state_tasks(const std::string& project_id, const std::string& from_state, const std::string& to_state);
  void purge_project(const std::string& project_id);
  // Hook of the projects service: a deleted label is removed from the project's tasks.
  void remove_label(const std::string& project_id, const std::string& label_id);

  // Hard-deletes tasks deleted more than `older_than_ms` ago, in transactions of at most
  // `batch` tasks, until none is left; returns how many were removed.
  int64_t purge_deleted(int64_t older_than_ms, int64_t batch = 500);

 private:
  projects::ProjectAccess access_or_404(const std::string& user, const std::string& project_id);
  projects::ProjectAccess writable(const std::string& user, const std::string& project_id);
  // The task (not deleted unless allow_deleted) and the caller's access to its project.
  std::pair<Task, projects::ProjectAccess> visible_task(const std::string& user, const std::string& task_id,
                                                        bool allow_deleted = false);
  void check_assignees(const std::string& project_id, const std::vector<std::string>& ids, const char* field);
  void check_labels(const std::string& project_id, const std::vector<std::string>& ids, const char* field);
  // Checks values against the project's fields; returns the rows to store per field id.
  std::vector<std::pair<std::string, std::vector<CustomValue>>> check_custom_values(
      const std::string& project_id, const std::vector<CustomValueInput>& in);
  // Checks cf.<id> filters against the fields of the listed projects; returns q with stored texts.
  TaskQuery resolve_custom_filters(const std::vector<std::string>& project_ids, const TaskQuery& q);
  std::pair<CustomField, projects::ProjectAccess> admin_field(const std::string& user, const std::string& project_id,
                                                              const std::string& field_id);
  Page<Task> run_query(const std::vector<std::string>& project_ids,
                       const std::vector<projects::ProjectAccess>& access, const TaskQuery& q,
                       const std::optional<std::string>& assigned_to);

  // Inserts a new task t (id, dates, state, links filled; position assigned here) with its
  // watchers, activity, search row and task.created event, in the caller's write. Takes the
  // project's next number unless t.number is already set (reserve_number).
  void insert_new_task(sql::Connection& c, const std::string& actor, const std::string& workspace_id, Task& t);
  // The project's next task number in a transaction of its own (PostgreSQL; see service.cpp).
  int64_t reserve_number(const std::string& project_id);
  // Completing a recurring task: creates its next occurrence (once: next_occurrence_id) in the
  // same transaction and records it on t (already stored by the caller; stored again here).
  void spawn_next_occurrence(sql::Connection& c, const std::string& actor, const std::string& workspace_id,
                             const Task& before, Task& t, int64_t now);

  void emit(sql::Connection& c, events::Event e) {
    if (outbox_) outbox_->append(c, std::move(e));
  }

  sql::Database& db_;
  projects::Client& projects_;
  Clock& clock_;
  events::Outbox* outbox_;
  std::vector<CommentDeletedHook> comment_deleted_hooks_;
};

}  // namespace taskhub::tasks
