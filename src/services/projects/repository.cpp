#include "services/projects/repository.hpp"

#include <algorithm>

namespace taskhub::projects::repo {

namespace {

constexpr const char* kProjectCols =
    "p.id, p.workspace_id, p.name, p.key, p.description, p.is_private, p.archived_at, p.version, p.created_by, "
    "p.created_at, p.updated_at";

ProjectRecord project_from(const sql::Row& r) {
  ProjectRecord p;
  p.id = r.str(0);
  p.workspace_id = r.str(1);
  p.name = r.str(2);
  p.key = r.str(3);
  p.description = r.str(4);
  p.is_private = r.boolean(5);
  p.archived_at = r.opt_i64(6);
  p.version = r.i64(7);
  p.created_by = r.str(8);
  p.created_at = r.i64(9);
  p.updated_at = r.i64(10);
  return p;
}

constexpr const char* kInvitationCols =
    "id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at, revoked_at";

InvitationRecord invitation_from(const sql::Row& r) {
  InvitationRecord i;
  i.id = r.str(0);
  i.workspace_id = r.str(1);
  i.email = r.str(2);
  i.role = r.str(3);
  i.token_hash = r.str(4);
  i.invited_by = r.str(5);
  i.created_at = r.i64(6);
  i.expires_at = r.i64(7);
  i.accepted_at = r.opt_i64(8);
  i.revoked_at = r.opt_i64(9);
  return i;
}

constexpr const char* kStateCols = "id, project_id, name, grp, color, position, created_at";

StateRecord state_from(const sql::Row& r) {
  return StateRecord{r.str(0), r.str(1), r.str(2), r.str(3), r.str(4), r.i64(5), r.i64(6)};
}

constexpr const char* kLabelCols = "id, project_id, name, color, created_at";

LabelRecord label_from(const sql::Row& r) { return LabelRecord{r.str(0), r.str(1), r.str(2), r.str(3), r.i64(4)}; }

std::vector<MemberRecord> members_from(const sql::Result& res) {
  std::vector<MemberRecord> out;
  out.reserve(res.size());
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back({res[i].str(0), res[i].str(1), res[i].i64(2)});
  return out;
}

}  // namespace

// ---- workspaces

void insert_workspace(sql::Connection& c, const WorkspaceRecord& w) {
  c.exec("INSERT INTO workspaces (id, name, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
         {w.id, w.name, w.created_by, w.created_at, w.updated_at});
}

std::optional<WorkspaceRecord> find_workspace(sql::Connection& c, std::string_view id) {
  sql::Result r_res = c.query("SELECT id, name, created_by, created_at, updated_at FROM workspaces WHERE id = ?", {id});
  auto r = r_res.first();
  if (!r) return std::nullopt;
  return WorkspaceRecord{r->str(0), r->str(1), r->str(2), r->i64(3), r->i64(4), ""};
}

std::vector<WorkspaceRecord> list_user_workspaces(sql::Connection& c, std::string_view user_id,
                                                  const std::optional<std::string>& after_id, int64_t limit) {
  auto res = c.query(
      "SELECT w.id, w.name, w.created_by, w.created_at, w.updated_at, m.role FROM workspace_members m "
      "JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ? AND m.workspace_id > ? "
      "ORDER BY m.workspace_id LIMIT ?",
      {user_id, after_id.value_or(""), limit});
  std::vector<WorkspaceRecord> out;
  for (std::size_t i = 0; i < res.size(); ++i) {
    auto r = res[i];
    out.push_back({r.str(0), r.str(1), r.str(2), r.i64(3), r.i64(4), r.str(5)});
  }
  return out;
}

void rename_workspace(sql::Connection& c, std::string_view id, std::string_view name, int64_t now) {
  c.exec("UPDATE workspaces SET name = ?, updated_at = ? WHERE id = ?", {name, now, id});
}

void delete_workspace(sql::Connection& c, std::string_view id) {
  // Explicit children first: the same on both engines whatever the foreign-key settings.
  c.exec("DELETE FROM labels WHERE project_id IN (SELECT id FROM projects WHERE workspace_id = ?)", {id});
  c.exec("DELETE FROM workflow_states WHERE project_id IN (SELECT id FROM projects WHERE workspace_id = ?)", {id});
  c.exec("DELETE FROM project_members WHERE project_id IN (SELECT id FROM projects WHERE workspace_id = ?)", {id});
  c.exec("DELETE FROM projects WHERE workspace_id = ?", {id});
  c.exec("DELETE FROM workspace_invitations WHERE workspace_id = ?", {id});
  c.exec("DELETE FROM workspace_members WHERE workspace_id = ?", {id});
  c.exec("DELETE FROM workspaces WHERE id = ?", {id});
}

void lock_workspace(sql::Connection& c, sql::Dialect dialect, std::string_view id) {
  if (dialect == sql::Dialect::postgres) c.query("SELECT id FROM workspaces WHERE id = ? FOR UPDATE", {id});
}

// ---- workspace members

std::optional<std::string> workspace_role(sql::Connection& c, std::string_view workspace_id, std::string_view user_id) {
  sql::Result r_res =
      c.query("SELECT role FROM workspace_members WHERE workspace_id = ? AND user_id = ?", {workspace_id, user_id});
  auto r = r_res.first();
  if (!r) return std::nullopt;
  return r->str(0);
}

void insert_workspace_member(sql::Connection& c, std::string_view workspace_id, std::string_view user_id,
                             std::string_view role, int64_t now) {
  c.exec("INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
         {workspace_id, user_id, role, now});
}

bool set_workspace_role(sql::Connection& c, std::string_view workspace_id, std::string_view user_id,
                        std::string_view role) {
  return c.exec("UPDATE workspace_members SET role = ? WHERE workspace_id = ? AND user_id = ?",
                {role, workspace_id, user_id}) > 0;
}

bool delete_workspace_member(sql::Connection& c, std::string_view workspace_id, std::string_view user_id) {
  return c.exec("DELETE FROM workspace_members WHERE workspace_id = ? AND user_id = ?", {workspace_id, user_id}) > 0;
}

std::optional<MemberRecord> find_workspace_member(sql::Connection& c, std::string_view workspace_id,
                                                  std::string_view user_id) {
  auto rows = members_from(
      c.query("SELECT user_id, role, created_at FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
              {workspace_id, user_id}));
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

std::optional<MemberRecord> find_project_member(sql::Connection& c, std::string_view project_id,
                                                std::string_view user_id) {
  auto rows =
      members_from(c.query("SELECT user_id, role, created_at FROM project_members WHERE project_id = ? AND user_id = ?",
                           {project_id, user_id}));
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

int64_t count_owners(sql::Connection& c, std::string_view workspace_id) {
  return c.query("SELECT COUNT(*) FROM workspace_members WHERE workspace_id = ? AND role = 'owner'", {workspace_id})[0]
      .i64(0);
}

std::vector<MemberRecord> list_workspace_members(sql::Connection& c, std::string_view workspace_id,
                                                 const std::optional<std::string>& after_user, int64_t limit) {
  return members_from(
      c.query("SELECT user_id, role, created_at FROM workspace_members WHERE workspace_id = ? AND user_id > ? "
              "ORDER BY user_id LIMIT ?",
              {workspace_id, after_user.value_or(""), limit}));
}

void delete_user_project_memberships(sql::Connection& c, std::string_view workspace_id, std::string_view user_id) {
  c.exec(
      "DELETE FROM project_members WHERE user_id = ? AND project_id IN (SELECT id FROM projects WHERE "
      "workspace_id = ?)",
      {user_id, workspace_id});
}

// ---- invitations

void insert_invitation(sql::Connection& c, const InvitationRecord& i) {
  c.exec(
      "INSERT INTO workspace_invitations (id, workspace_id, email, role, token_hash, invited_by, created_at, "
      "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {i.id, i.workspace_id, i.email, i.role, i.token_hash, i.invited_by, i.created_at, i.expires_at});
}

std::optional<InvitationRecord> find_invitation(sql::Connection& c, std::string_view workspace_id,
                                                std::string_view id) {
  sql::Result r_res = c.query(
      std::string("SELECT ") + kInvitationCols + " FROM workspace_invitations WHERE id = ? AND workspace_id = ?",
      {id, workspace_id});
  auto r = r_res.first();
  if (!r) return std::nullopt;
  return invitation_from(*r);
}

std::optional<InvitationRecord> find_invitation_by_token(sql::Connection& c, std::string_view token_hash) {
  sql::Result r_res = c.query(
      std::string("SELECT ") + kInvitationCols + " FROM workspace_invitations WHERE token_hash = ?", {token_hash});
  auto r = r_res.first();
  if (!r) return std::nullopt;
  return invitation_from(*r);
}

std::vector<InvitationRecord> list_pending_invitations(sql::Connection& c, std::string_view workspace_id, int64_t now,
                                                       int64_t limit) {
  auto res = c.query(std::string("SELECT ") + kInvitationCols +
                         " FROM workspace_invitations WHERE workspace_id = ? AND accepted_at IS NULL AND "
                         "revoked_at IS NULL AND expires_at > ? ORDER BY id LIMIT ?",
                     {workspace_id, now, limit});
  std::vector<InvitationRecord> out;
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(invitation_from(res[i]));
  return out;
}

void set_invitation_token(sql::Connection& c, std::string_view id, std::string_view token_hash, int64_t now,
                          int64_t expires_at) {
  c.exec("UPDATE workspace_invitations SET token_hash = ?, created_at = ?, expires_at = ? WHERE id = ?",
         {token_hash, now, expires_at, id});
}

bool revoke_invitation(sql::Connection& c, std::string_view id, int64_t now) {
  return c.exec(
             "UPDATE workspace_invitations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND "
             "accepted_at IS NULL",
             {now, id}) > 0;
}

bool mark_invitation_accepted(sql::Connection& c, std::string_view id, int64_t now) {
  return c.exec(
             "UPDATE workspace_invitations SET accepted_at = ? WHERE id = ? AND accepted_at IS NULL AND "
             "revoked_at IS NULL",
             {now, id}) > 0;
}

// ---- projects

void insert_project(sql::Connection& c, const ProjectRecord& p) {
  c.exec(
      "INSERT INTO projects (id, workspace_id, name, key, description, is_private, archived_at, version, "
      "created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {p.id, p.workspace_id, p.name, p.key, p.description, p.is_private, p.archived_at, p.version, p.created_by,
       p.created_at, p.updated_at});
}

std::optional<ProjectRecord> find_project(sql::Connection& c, std::string_view id) {
  sql::Result r_res = c.query(std::string("SELECT ") + kProjectCols + " FROM projects p WHERE p.id = ?", {id});
  auto r = r_res.first();
  if (!r) return std::nullopt;
  return project_from(*r);
}

std::vector<std::string> workspace_project_ids(sql::Connection& c, std::string_view workspace_id) {
  auto res = c.query("SELECT id FROM projects WHERE workspace_id = ?", {workspace_id});
  std::vector<std::string> out;
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(res[i].str(0));
  return out;
}

bool key_exists(sql::Connection& c, std::string_view workspace_id, std::string_view key) {
  return !c.query("SELECT 1 FROM projects WHERE workspace_id = ? AND key = ?", {workspace_id, key}).empty();
}

std::optional<ProjectWithRoles> find_project_for_user(sql::Connection& c, std::string_view project_id,
                                                      std::string_view user_id) {
  sql::Result res = c.query(std::string("SELECT ") + kProjectCols +
                                ", m.role, pm.role FROM projects p LEFT JOIN workspace_members m ON m.workspace_id = "
                                "p.workspace_id AND m.user_id = ? LEFT JOIN project_members pm ON pm.project_id = p.id "
                                "AND pm.user_id = ? WHERE p.id = ?",
                            {user_id, user_id, project_id});
  auto r = res.first();
  if (!r) return std::nullopt;
  return ProjectWithRoles{project_from(*r), r->opt_str(11).value_or(""), r->opt_str(12).value_or("")};
}

std::vector<ProjectWithRoles> list_projects(sql::Connection& c, std::string_view workspace_id, std::string_view user_id,
                                            bool all, bool include_public, const std::optional<std::string>& after_id,
                                            int64_t limit) {
  auto res = c.query(std::string("SELECT ") + kProjectCols +
                         ", pm.role FROM projects p LEFT JOIN project_members pm ON pm.project_id = p.id AND "
                         "pm.user_id = ? WHERE p.workspace_id = ? AND p.id > ? AND (? = 1 OR pm.user_id IS NOT NULL "
                         "OR (? = 1 AND p.is_private = ?)) ORDER BY p.id LIMIT ?",
                     {user_id, workspace_id, after_id.value_or(""), all ? 1 : 0, include_public ? 1 : 0, false, limit});
  std::vector<ProjectWithRoles> out;
  for (std::size_t i = 0; i < res.size(); ++i)
    out.push_back({project_from(res[i]), "", res[i].opt_str(11).value_or("")});
  return out;
}

std::vector<ProjectWithRoles> list_user_projects(sql::Connection& c, std::string_view user_id) {
  auto res = c.query(std::string("SELECT ") + kProjectCols +
                         ", m.role, pm.role FROM workspace_members m JOIN projects p ON p.workspace_id = "
                         "m.workspace_id LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = "
                         "m.user_id WHERE m.user_id = ? ORDER BY p.id",
                     {user_id});
  std::vector<ProjectWithRoles> out;
  for (std::size_t i = 0; i < res.size(); ++i)
    out.push_back({project_from(res[i]), res[i].str(11), res[i].opt_str(12).value_or("")});
  return out;
}

bool update_project(sql::Connection& c, const ProjectRecord& p, int64_t expected_version) {
  return c.exec(
             "UPDATE projects SET name = ?, description = ?, is_private = ?, archived_at = ?, version = version + 1, "
             "updated_at = ? WHERE id = ? AND version = ?",
             {p.name, p.description, p.is_private, p.archived_at, p.updated_at, p.id, expected_version}) > 0;
}

bool delete_project(sql::Connection& c, std::string_view id, int64_t expected_version) {
  sql::Result current_res = c.query("SELECT version FROM projects WHERE id = ?", {id});
  auto current = current_res.first();
  if (!current || current->i64(0) != expected_version) return false;
  c.exec("DELETE FROM labels WHERE project_id = ?", {id});
  c.exec("DELETE FROM workflow_states WHERE project_id = ?", {id});
  c.exec("DELETE FROM project_members WHERE project_id = ?", {id});
  return c.exec("DELETE FROM projects WHERE id = ? AND version = ?", {id, expected_version}) > 0;
}

// ---- project members

std::optional<std::string> project_role(sql::Connection& c, std::string_view project_id, std::string_view user_id) {
  sql::Result r_res =
      c.query("SELECT role FROM project_members WHERE project_id = ? AND user_id = ?", {project_id, user_id});
  auto r = r_res.first();
  if (!r) return std::nullopt;
  return r->str(0);
}

void insert_project_member(sql::Connection& c, std::string_view project_id, std::string_view user_id,
                           std::string_view role, int64_t now) {
  c.exec("INSERT INTO project_members (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
         {project_id, user_id, role, now});
}

bool set_project_role(sql::Connection& c, std::string_view project_id, std::string_view user_id,
                      std::string_view role) {
  return c.exec("UPDATE project_members SET role = ? WHERE project_id = ? AND user_id = ?",
                {role, project_id, user_id}) > 0;
}

bool delete_project_member(sql::Connection& c, std::string_view project_id, std::string_view user_id) {
  return c.exec("DELETE FROM project_members WHERE project_id = ? AND user_id = ?", {project_id, user_id}) > 0;
}

std::vector<MemberRecord> list_project_members(sql::Connection& c, std::string_view project_id) {
  return members_from(
      c.query("SELECT user_id, role, created_at FROM project_members WHERE project_id = ? ORDER BY user_id LIMIT 1000",
              {project_id}));
}

// ---- workflow states

void insert_state(sql::Connection& c, const StateRecord& s) {
  c.exec(
      "INSERT INTO workflow_states (id, project_id, name, grp, color, position, created_at) VALUES (?, ?, ?, ?, "
      "?, ?, ?)",
      {s.id, s.project_id, s.name, s.group, s.color, s.position, s.created_at});
}

std::vector<StateRecord> list_states(sql::Connection& c, std::string_view project_id) {
  auto res =
      c.query(std::string("SELECT ") + kStateCols + " FROM workflow_states WHERE project_id = ? ORDER BY position, id",
              {project_id});
  std::vector<StateRecord> out;
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(state_from(res[i]));
  return out;
}

std::optional<StateRecord> find_state(sql::Connection& c, std::string_view project_id, std::string_view id) {
  sql::Result r_res = c.query(
      std::string("SELECT ") + kStateCols + " FROM workflow_states WHERE id = ? AND project_id = ?", {id, project_id});
  auto r = r_res.first();
  if (!r) return std::nullopt;
  return state_from(*r);
}

void update_state(sql::Connection& c, const StateRecord& s) {
  c.exec("UPDATE workflow_states SET name = ?, color = ? WHERE id = ?", {s.name, s.color, s.id});
}

void set_state_position(sql::Connection& c, std::string_view id, int64_t position) {
  c.exec("UPDATE workflow_states SET position = ? WHERE id = ?", {position, id});
}

bool delete_state(sql::Connection& c, std::string_view project_id, std::string_view id) {
  return c.exec("DELETE FROM workflow_states WHERE id = ? AND project_id = ?", {id, project_id}) > 0;
}

// ---- labels

void insert_label(sql::Connection& c, const LabelRecord& l) {
  std::string lower = l.name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return (ch >= 'A' && ch <= 'Z') ? char(ch - 'A' + 'a') : char(ch); });
  c.exec("INSERT INTO labels (id, project_id, name, name_lower, color, created_at) VALUES (?, ?, ?, ?, ?, ?)",
         {l.id, l.project_id, l.name, lower, l.color, l.created_at});
}

std::vector<LabelRecord> list_labels(sql::Connection& c, std::string_view project_id) {
  auto res = c.query(std::string("SELECT ") + kLabelCols + " FROM labels WHERE project_id = ? ORDER BY name_lower, id",
                     {project_id});
  std::vector<LabelRecord> out;
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(label_from(res[i]));
  return out;
}

std::optional<LabelRecord> find_label(sql::Connection& c, std::string_view project_id, std::string_view id) {
  sql::Result r_res =
      c.query(std::string("SELECT ") + kLabelCols + " FROM labels WHERE id = ? AND project_id = ?", {id, project_id});
  auto r = r_res.first();
  if (!r) return std::nullopt;
  return label_from(*r);
}

bool label_name_taken(sql::Connection& c, std::string_view project_id, std::string_view name_lower,
                      std::string_view except_id) {
  return !c.query("SELECT 1 FROM labels WHERE project_id = ? AND name_lower = ? AND id <> ?",
                  {project_id, name_lower, except_id})
              .empty();
}

void update_label(sql::Connection& c, const LabelRecord& l) {
  std::string lower = l.name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return (ch >= 'A' && ch <= 'Z') ? char(ch - 'A' + 'a') : char(ch); });
  c.exec("UPDATE labels SET name = ?, name_lower = ?, color = ? WHERE id = ?", {l.name, lower, l.color, l.id});
}

bool delete_label(sql::Connection& c, std::string_view project_id, std::string_view id) {
  return c.exec("DELETE FROM labels WHERE id = ? AND project_id = ?", {id, project_id}) > 0;
}

}  // namespace taskhub::projects::repo
