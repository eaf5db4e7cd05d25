#pragma once
// The projects service's SQL (workspaces, workspace_members, workspace_invitations, projects,
// project_members, workflow_states, labels), written once for SQLite and PostgreSQL through
// the SQL port. Every function runs on a connection the caller got from Database::read/write,
// so the service decides the transaction boundaries.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ports/sql.hpp"

namespace taskhub::projects {

struct WorkspaceRecord {
  std::string id;
  std::string name;
  std::string created_by;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::string role;  // the caller's role when read through a membership query
};

struct MemberRecord {
  std::string user_id;
  std::string role;
  int64_t created_at = 0;
};

struct InvitationRecord {
  std::string id;
  std::string workspace_id;
  std::string email;
  std::string role;
  std::string token_hash;
  std::string invited_by;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::optional<int64_t> accepted_at;
  std::optional<int64_t> revoked_at;
};

struct ProjectRecord {
  std::string id;
  std::string workspace_id;
  std::string name;
  std::string key;
  std::string description;
  bool is_private = false;
  std::optional<int64_t> archived_at;
  int64_t version = 1;
  std::string created_by;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct StateRecord {
  std::string id;
  std::string project_id;
  std::string name;
  std::string group;
  std::string color;
  int64_t position = 0;
  int64_t created_at = 0;
};

struct LabelRecord {
  std::string id;
  std::string project_id;
  std::string name;
  std::string color;
  int64_t created_at = 0;
};

namespace repo {

// workspaces
void insert_workspace(sql::Connection& c, const WorkspaceRecord& w);
std::optional<WorkspaceRecord> find_workspace(sql::Connection& c, std::string_view id);
// The workspaces the user is a member of, ordered by id, after `after_id`; role filled in.
std::vector<WorkspaceRecord> list_user_workspaces(sql::Connection& c, std::string_view user_id,
                                                  const std::optional<std::string>& after_id, int64_t limit);
void rename_workspace(sql::Connection& c, std::string_view id, std::string_view name, int64_t now);
void delete_workspace(sql::Connection& c, std::string_view id);
// PostgreSQL: locks the workspace row until the end of the transaction, so concurrent member
// changes (two owners leaving at once) are checked one after the other. SQLite: a no-op (one
// writer at a time already).
void lock_workspace(sql::Connection& c, sql::Dialect dialect, std::string_view id);

// workspace members
std::optional<std::string> workspace_role(sql::Connection& c, std::string_view workspace_id, std::string_view user_id);
void insert_workspace_member(sql::Connection& c, std::string_view workspace_id, std::string_view user_id,
                             std::string_view role, int64_t now);
bool set_workspace_role(sql::Connection& c, std::string_view workspace_id, std::string_view user_id,
                        std::string_view role);
bool delete_workspace_member(sql::Connection& c, std::string_view workspace_id, std::string_view user_id);
std::optional<MemberRecord> find_workspace_member(sql::Connection& c, std::string_view workspace_id,
                                                  std::string_view user_id);
std::optional<MemberRecord> find_project_member(sql::Connection& c, std::string_view project_id,
                                                std::string_view user_id);
int64_t count_owners(sql::Connection& c, std::string_view workspace_id);
std::vector<MemberRecord> list_workspace_members(sql::Connection& c, std::string_view workspace_id,
                                                 const std::optional<std::string>& after_user, int64_t limit);
// Removes the user from every project of the workspace (when they leave or are removed).
void delete_user_project_memberships(sql::Connection& c, std::string_view workspace_id, std::string_view user_id);

// invitations
void insert_invitation(sql::Connection& c, const InvitationRecord& i);
std::optional<InvitationRecord> find_invitation(sql::Connection& c, std::string_view workspace_id, std::string_view id);
std::optional<InvitationRecord> find_invitation_by_token(sql::Connection& c, std::string_view token_hash);
std::vector<InvitationRecord> list_pending_invitations(sql::Connection& c, std::string_view workspace_id, int64_t now,
                                                       int64_t limit);
void set_invitation_token(sql::Connection& c, std::string_view id, std::string_view token_hash, int64_t now,
                          int64_t expires_at);
bool revoke_invitation(sql::Connection& c, std::string_view id, int64_t now);
bool mark_invitation_accepted(sql::Connection& c, std::string_view id, int64_t now);

// projects
void insert_project(sql::Connection& c, const ProjectRecord& p);
std::optional<ProjectRecord> find_project(sql::Connection& c, std::string_view id);
std::vector<std::string> workspace_project_ids(sql::Connection& c, std::string_view workspace_id);
bool key_exists(sql::Connection& c, std::string_view workspace_id, std::string_view key);
// Every project in any workspace of the user, with the user's workspace role and project role
// ("" when not a project member).
struct ProjectWithRoles {
  ProjectRecord project;
  std::string workspace_role;
  std::string project_role;
};
std::vector<ProjectWithRoles> list_user_projects(sql::Connection& c, std::string_view user_id);
// One project with the user's workspace and project roles ("" when none): one indexed query,
// the hot path of every project and task request.
std::optional<ProjectWithRoles> find_project_for_user(sql::Connection& c, std::string_view project_id,
                                                      std::string_view user_id);
// Projects of a workspace, ordered by id, after `after_id`, with the user's project role
// (workspace_role left empty). all = every project; otherwise those the user is a member of,
// plus non-private ones when include_public.
std::vector<ProjectWithRoles> list_projects(sql::Connection& c, std::string_view workspace_id, std::string_view user_id,
                                            bool all, bool include_public, const std::optional<std::string>& after_id,
                                            int64_t limit);
// Writes the editable fields and archived_at, bumps version; false when the version moved.
bool update_project(sql::Connection& c, const ProjectRecord& p, int64_t expected_version);
bool delete_project(sql::Connection& c, std::string_view id, int64_t expected_version);

// project members
std::optional<std::string> project_role(sql::Connection& c, std::string_view project_id, std::string_view user_id);
void insert_project_member(sql::Connection& c, std::string_view project_id, std::string_view user_id,
                           std::string_view role, int64_t now);
bool set_project_role(sql::Connection& c, std::string_view project_id, std::string_view user_id, std::string_view role);
bool delete_project_member(sql::Connection& c, std::string_view project_id, std::string_view user_id);
std::vector<MemberRecord> list_project_members(sql::Connection& c, std::string_view project_id);

// workflow states
void insert_state(sql::Connection& c, const StateRecord& s);
std::vector<StateRecord> list_states(sql::Connection& c, std::string_view project_id);
std::optional<StateRecord> find_state(sql::Connection& c, std::string_view project_id, std::string_view id);
void update_state(sql::Connection& c, const StateRecord& s);
void set_state_position(sql::Connection& c, std::string_view id, int64_t position);
bool delete_state(sql::Connection& c, std::string_view project_id, std::string_view id);

// labels
void insert_label(sql::Connection& c, const LabelRecord& l);
std::vector<LabelRecord> list_labels(sql::Connection& c, std::string_view project_id);
std::optional<LabelRecord> find_label(sql::Connection& c, std::string_view project_id, std::string_view id);
bool label_name_taken(sql::Connection& c, std::string_view project_id, std::string_view name_lower,
                      std::string_view except_id);
void update_label(sql::Connection& c, const LabelRecord& l);
bool delete_label(sql::Connection& c, std::string_view project_id, std::string_view id);

}  // namespace repo
}  // namespace taskhub::projects
