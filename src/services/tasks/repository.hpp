#pragma once
// SQL of the tasks service, through the SQL port. Only the tasks service's own tables.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ports/sql.hpp"
#include "services/tasks/model.hpp"
#include "services/tasks/service.hpp"

namespace taskhub::tasks::repo {

// The next human number of the project (the counter row is created on first use). Call inside
// the transaction that inserts the task: numbers never repeat, even after deletes.
int64_t next_number(sql::Connection& c, const std::string& project_id);

void insert_task(sql::Connection& c, const Task& t);
// Writes every column of t (by id); returns rows changed.
int64_t update_task(sql::Connection& c, const Task& t);
std::optional<Task> find_task(sql::Connection& c, std::string_view id);
// The same inside a write transaction that checks the version before writing: on PostgreSQL the
// row is locked (FOR UPDATE), so of two concurrent writers the second reads the first's result
// (SQLite serialises writers already).
std::optional<Task> find_task_for_update(sql::Connection& c, std::string_view id, sql::Dialect dialect);
std::optional<Task> find_task_by_number(sql::Connection& c, std::string_view project_id, int64_t number);
// Fills assignee_ids, label_ids and custom_values of each task (one query each).
void load_links(sql::Connection& c, std::vector<Task>& tasks);
void set_assignees(sql::Connection& c, const std::string& task_id, const std::vector<std::string>& ids);
void set_labels(sql::Connection& c, const std::string& task_id, const std::vector<std::string>& ids);

// Manual ordering within a state.
std::optional<double> last_position(sql::Connection& c, const std::string& project_id, const std::string& state_id);
// Position of the task right after / before (pos, id) in that state (excluding exclude_id).
std::optional<double> neighbour_position(sql::Connection& c, const std::string& project_id,
                                         const std::string& state_id, double pos, const std::string& id,
                                         bool after, const std::string& exclude_id);

std::optional<std::string> parent_of(sql::Connection& c, std::string_view task_id);
std::vector<std::string> children_of(sql::Connection& c, const std::vector<std::string>& ids);

// Listing: every filter of q, restricted to project_ids (and to tasks assigned to
// assigned_to when set), keyset after `after` (sort value, id) in q's order. Returns up to limit rows.
std::vector<Task> query_tasks(sql::Connection& c, const std::vector<std::string>& project_ids, const TaskQuery& q,
                              const std::optional<std::string>& assigned_to, const std::string& today,
                              const std::optional<std::pair<sql::Param, std::string>>& after, int limit,
                              sql::Dialect dialect = sql::Dialect::sqlite);
// Rewrites the task's full-text row (title; description and comments) after any of them changed.
void reindex_search(sql::Connection& c, sql::Dialect dialect, const std::string& task_id);
// The search row of a task inserted in this unit: no comments yet and no earlier row, so none of
// reindex_search's reads (three fewer statements on every create).
void index_new_task(sql::Connection& c, sql::Dialect dialect, const Task& t);
// FTS5 query text for user input: every word as a quoted prefix-free phrase, ANDed, matched in
// the title and body columns only; with 1..kMaxScopedProjects project ids, also one of their
// scope tokens (the search reads only those projects' matches; see migration sqlite/013).
inline constexpr std::size_t kMaxScopedProjects = 8;
std::string fts5_query(std::string_view text, const std::vector<std::string>& project_ids = {});
// The scope column's token for a project: "p" + its id without hyphens. Rows are written with
// kFts5ScopeSql (the same token computed from tasks.project_id in SQL).
std::string fts5_scope_token(std::string_view project_id);
inline constexpr const char* kFts5ScopeSql = "'p' || replace(project_id, '-', '')";
// The SQL and parameters query_tasks runs (project_ids not empty); tests EXPLAIN it.
std::pair<std::string, std::vector<sql::Param>> build_task_query(
    const std::vector<std::string>& project_ids, const TaskQuery& q, const std::optional<std::string>& assigned_to,
    const std::string& today, const std::optional<std::pair<sql::Param, std::string>>& after, int limit,
    sql::Dialect dialect = sql::Dialect::sqlite);
// The sort value of a task as a cursor component.
sql::Param sort_value(const Task& t, SortField f);

void add_activity(sql::Connection& c, const Activity& a);
std::vector<Activity> list_activity(sql::Connection& c, const std::string& task_id,
                                    const std::optional<std::string>& before_id, int limit);

void add_watcher(sql::Connection& c, const std::string& task_id, const std::string& user_id, int64_t now);
void remove_watcher(sql::Connection& c, const std::string& task_id, const std::string& user_id);
std::vector<Watcher> list_watchers(sql::Connection& c, const std::string& task_id);

void insert_comment(sql::Connection& c, const Comment& cm);
std::optional<Comment> find_comment(sql::Connection& c, std::string_view id);
int64_t update_comment(sql::Connection& c, const Comment& cm);
void delete_comment(sql::Connection& c, const std::string& id);
std::vector<Comment> list_comments(sql::Connection& c, const std::string& task_id,
                                   const std::optional<std::string>& after_id, int limit);
void set_mentions(sql::Connection& c, const std::string& comment_id, const std::vector<std::string>& user_ids,
                  int64_t now);

void insert_relation(sql::Connection& c, const Relation& r);
std::optional<Relation> find_relation(sql::Connection& c, std::string_view id);
// Any relation of that kind between a and b (relates_to: either direction).
bool relation_exists(sql::Connection& c, const std::string& kind, const std::string& source,
                     const std::string& target);
void delete_relation(sql::Connection& c, const std::string& id);
std::vector<Relation> list_relations(sql::Connection& c, const std::string& task_id);

void add_reaction(sql::Connection& c, const std::string& kind, const std::string& target_id,
                  const std::string& user_id, const std::string& emoji, int64_t now);
void remove_reaction(sql::Connection& c, const std::string& target_id, const std::string& user_id,
                     const std::string& emoji);
void remove_reactions(sql::Connection& c, const std::string& target_id);
std::vector<ReactionCount> list_reactions(sql::Connection& c, const std::string& target_id);

void insert_view(sql::Connection& c, const SavedView& v);
std::optional<SavedView> find_view(sql::Connection& c, std::string_view id);
void update_view(sql::Connection& c, const SavedView& v);
void delete_view(sql::Connection& c, const std::string& id);
// Shared views of the project and the user's own, oldest first.
std::vector<SavedView> list_views(sql::Connection& c, const std::string& project_id, const std::string& user_id);

// Moves every task of a state to another (a deleted state); returns rows changed.
int64_t move_state(sql::Connection& c, const std::string& project_id, const std::string& from_state,
                   const std::string& to_state, const std::string& to_group, int64_t now);
// Removes every task of a deleted project (children rows cascade) and its number counter.
void purge_project(sql::Connection& c, const std::string& project_id, sql::Dialect dialect = sql::Dialect::sqlite);
// Custom fields (options stored as JSON text) and their values on tasks.
void insert_field(sql::Connection& c, const CustomField& f);  // throws sql::UniqueViolation on a taken name
void update_field(sql::Connection& c, const CustomField& f);  // name, options, version, updated_at
std::optional<CustomField> find_field(sql::Connection& c, std::string_view id);
// Locks the row on PostgreSQL (see find_task_for_update).
std::optional<CustomField> find_field_for_update(sql::Connection& c, std::string_view id, sql::Dialect dialect);
std::vector<CustomField> list_fields(sql::Connection& c, const std::string& project_id);  // oldest first
std::vector<CustomField> find_fields(sql::Connection& c, const std::vector<std::string>& ids);
int64_t count_fields(sql::Connection& c, const std::string& project_id);
// Removes the field and every value of it.
void delete_field(sql::Connection& c, const std::string& id);
// Removes the field's values whose text is not one of keep (options dropped from a select field).
int64_t remove_values_except(sql::Connection& c, const std::string& field_id, const std::vector<std::string>& keep);
// Replaces the task's values of the field (empty: cleared).
void set_custom_values(sql::Connection& c, const std::string& task_id, const std::string& field_id,
                       const std::vector<CustomValue>& values);

// Removes a deleted label from every task of the project (bumping their version); returns
// the number of tasks changed.
int64_t remove_label(sql::Connection& c, const std::string& project_id, const std::string& label_id, int64_t now);
// Hard-deletes up to `limit` tasks soft-deleted before `deleted_before` (epoch ms), with their
// comments, activity, relations, reactions and search rows; children of a purged task lose
// their parent. Returns the number of tasks removed (less than limit: nothing more to do).
int64_t purge_deleted(sql::Connection& c, int64_t deleted_before, int64_t limit,
                      sql::Dialect dialect = sql::Dialect::sqlite);

}  // namespace taskhub::tasks::repo
