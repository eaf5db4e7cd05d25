#pragma once
// What other services may ask the projects service. Tasks (and later notifications, files,
// analytics, realtime) use this interface, never the projects tables. In one process the
// implementation calls ProjectsService directly; in split mode an HTTP implementation will
// call the projects module's internal routes.
//
// Every call is blocking (it reads the database): call it from the blocking pool.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace taskhub::projects {

enum class WorkspaceRole { owner, admin, member, guest };
enum class ProjectRole { viewer, member, admin };

// What a user may do in a project they can see.
struct ProjectAccess {
  std::string project_id;
  std::string workspace_id;
  std::string key;         // e.g. "WEB"
  std::string name;
  bool archived = false;   // archived projects are read-only
  ProjectRole role = ProjectRole::viewer;  // effective role (workspace owners/admins act as admin)
  bool can_write() const { return role != ProjectRole::viewer && !archived; }
  bool is_admin() const { return role == ProjectRole::admin; }
};

enum class StateGroup { backlog, unstarted, started, completed, cancelled };
const char* state_group_name(StateGroup g);

struct StateInfo {
  std::string id;
  std::string project_id;
  std::string name;
  StateGroup group = StateGroup::backlog;
};

// Called by the projects service when a workflow state is deleted, with the state its tasks
// must move to (tasks registers one through Client::add_state_move_hook). It runs after every
// check passed and before the state row is removed, outside the projects transaction (the
// tasks service writes its own tables in its own transaction); if it throws, the state is kept
// and the DELETE fails.
using StateMoveHook = std::function<void(const std::string& project_id, const std::string& from_state_id,
                                         const std::string& to_state_id)>;

// Called after a project was deleted (directly, or with its workspace), once its rows are gone,
// so the tasks service can drop that project's tasks. Runs after the projects transaction
// committed; a hook that throws is logged and does not undo the deletion.
using ProjectDeletedHook = std::function<void(const std::string& project_id)>;

// Called after a label was deleted, once its row is gone, so the tasks service can remove it
// from its tasks. Runs after the projects transaction committed; a hook that throws is logged
// and does not undo the deletion.
using LabelDeletedHook = std::function<void(const std::string& project_id, const std::string& label_id)>;

class Client {
 public:
  virtual ~Client() = default;
  // nullopt when the project does not exist OR the user may not see it (callers answer 404).
  virtual std::optional<ProjectAccess> project_access(const std::string& user_id, const std::string& project_id) = 0;
  // The user's role in the workspace; nullopt when the workspace does not exist OR the user
  // is not a member (realtime: workspace:<id> channels). Default: nullopt.
  virtual std::optional<WorkspaceRole> workspace_role(const std::string& user_id, const std::string& workspace_id) {
    (void)user_id;
    (void)workspace_id;
    return std::nullopt;
  }
  // Every project the user can see (ids), for "my tasks" and search across projects.
  virtual std::vector<ProjectAccess> visible_projects(const std::string& user_id) = 0;
  // The project's states; the default state for new tasks is default_state(project).
  virtual std::vector<StateInfo> states(const std::string& project_id) = 0;
  virtual std::optional<StateInfo> state(const std::string& project_id, const std::string& state_id) = 0;
  virtual std::optional<StateInfo> default_state(const std::string& project_id) = 0;
  // Of the given label ids, those that belong to the project.
  virtual std::vector<std::string> existing_labels(const std::string& project_id,
                                                   const std::vector<std::string>& label_ids) = 0;
  // Of the given user ids, those who can see the project (assignees, mentions must be members).
  virtual std::vector<std::string> project_members(const std::string& project_id,
                                                   const std::vector<std::string>& user_ids) = 0;
  // Registers a hook run when a state is deleted (see StateMoveHook). Default: ignored
  // (fakes and remote clients need not support it).
  virtual void add_state_move_hook(StateMoveHook hook) { (void)hook; }
  // Registers a hook run after a project is deleted (see ProjectDeletedHook). Default: ignored.
  virtual void add_project_deleted_hook(ProjectDeletedHook hook) { (void)hook; }
  // Registers a hook run after a label is deleted (see LabelDeletedHook). Default: ignored.
  virtual void add_label_deleted_hook(LabelDeletedHook hook) { (void)hook; }
};

}  // namespace taskhub::projects
