#pragma once
// ProjectsService: the rules of workspaces, members, invitations, projects, project members,
// workflow states and labels. No HTTP (routes.cpp turns requests into calls), no SQL
// (repository.cpp). Callers are identified by user id; every object the caller may not see
// answers 404 exactly like a missing one (malformed ids too), a visible object the caller may
// not change answers 403, and an archived project answers 409 "project-archived" to writes.
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/config.hpp"
#include "core/etag.hpp"
#include "ports/clock.hpp"
#include "ports/event_bus.hpp"
#include "ports/mailer.hpp"
#include "ports/sql.hpp"
#include "services/auth/service.hpp"  // BackgroundWorker, normalize_email, sha256_hex
#include "services/projects/client.hpp"
#include "services/projects/repository.hpp"

namespace taskhub::projects {

// Who a user id is (the auth service answers; unit tests use a map).
struct UserSummary {
  std::string id;
  std::string email;  // normalised
  std::string display_name;
};
class UserDirectory {
 public:
  virtual ~UserDirectory() = default;
  virtual std::optional<UserSummary> find_user(std::string_view id) = 0;
  virtual std::optional<UserSummary> find_user_by_email(std::string_view email) = 0;
};

struct ProjectsOptions {
  std::string public_url = "http://localhost:5000";
  int64_t invitation_ttl_s = 7 * 24 * 3600;
  std::size_t mail_queue_max = 1000;
  // Invitation e-mails (new and resent) per inviting user per hour; beyond: 429.
  int invitations_per_hour = 100;
};
ProjectsOptions options_from_config(const Config& cfg);

struct Workspace {
  WorkspaceRecord record;
  std::string my_role;
};
struct WorkspacePage {
  std::vector<Workspace> items;
  std::optional<std::string> next_cursor;
};

struct Member {
  std::string user_id;
  std::string email;
  std::string display_name;
  std::string role;
  int64_t joined_at = 0;
};
struct MemberPage {
  std::vector<Member> items;
  std::optional<std::string> next_cursor;
};

struct Invitation {
  InvitationRecord record;
  std::string token;  // only right after create/resend, for tests; never serialised
};

struct Project {
  ProjectRecord record;
  std::string my_role;  // effective: admin | member | viewer
};
struct ProjectPage {
  std::vector<Project> items;
  std::optional<std::string> next_cursor;
};

struct ProjectInput {
  std::string name;
  std::string key;
  std::optional<std::string> description;
  std::optional<bool> is_private;
};
struct ProjectPatch {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<bool> is_private;
};

struct StateInput {
  std::string name;
  std::string group;
  std::string color;
  std::optional<int64_t> position;
};
struct StatePatch {
  std::optional<std::string> name;
  std::optional<std::string> color;
  std::optional<int64_t> position;  // 0-based index in the project's order
};

// "WEB": 2..10 uppercase ASCII letters or digits, starting with a letter.
bool valid_project_key(std::string_view key);
// "#rrggbb" (hex digits, either case).
bool valid_color(std::string_view color);
bool valid_state_group(std::string_view group);

class ProjectsService {
 public:
  // Every change appends a domain event to `outbox` in its own transaction (none when null).
  ProjectsService(sql::Database& db, UserDirectory& users, Mailer* mailer, Clock& clock, ProjectsOptions options,
                  events::Outbox* outbox = nullptr);
  ~ProjectsService();
  ProjectsService(const ProjectsService&) = delete;
  ProjectsService& operator=(const ProjectsService&) = delete;

  void start();  // the invitation mail thread
  void stop();
  void run_background_jobs() { worker_.run_pending(); }

  // --- workspaces
  Workspace create_workspace(const std::string& uid, const std::string& name);
  WorkspacePage list_workspaces(const std::string& uid, int limit, const std::optional<std::string>& cursor);
  Workspace get_workspace(const std::string& uid, std::string_view id);
  Workspace rename_workspace(const std::string& uid, std::string_view id, const std::string& name);
  void delete_workspace(const std::string& uid, std::string_view id);

  // --- workspace members ("me" as target names the caller)
  MemberPage list_members(const std::string& uid, std::string_view ws, int limit,
                          const std::optional<std::string>& cursor);
  Member add_member(const std::string& uid, std::string_view ws, const std::string& email, const std::string& role);
  Member set_member_role(const std::string& uid, std::string_view ws, std::string_view target, const std::string& role);
  void remove_member(const std::string& uid, std::string_view ws, std::string_view target);

  // --- invitations
  Invitation invite(const std::string& uid, std::string_view ws, const std::string& email, const std::string& role);
  std::vector<InvitationRecord> list_invitations(const std::string& uid, std::string_view ws);
  Invitation resend_invitation(const std::string& uid, std::string_view ws, std::string_view id);
  void revoke_invitation(const std::string& uid, std::string_view ws, std::string_view id);
  Workspace accept_invitation(const std::string& uid, std::string_view token);

  // --- projects
  Project create_project(const std::string& uid, std::string_view ws, const ProjectInput& in);
  ProjectPage list_projects(const std::string& uid, std::string_view ws, int limit,
                            const std::optional<std::string>& cursor);
  Project get_project(const std::string& uid, std::string_view id);
  Project update_project(const std::string& uid, std::string_view id, const ProjectPatch& patch, const IfMatch& im);
  Project set_archived(const std::string& uid, std::string_view id, bool archived, const IfMatch& im);
  void delete_project(const std::string& uid, std::string_view id, const IfMatch& im);

  // --- project members
  std::vector<Member> list_project_members(const std::string& uid, std::string_view pid);
  Member add_project_member(const std::string& uid, std::string_view pid, const std::string& user_id,
                            const std::string& role);
  Member set_project_member_role(const std::string& uid, std::string_view pid, std::string_view target,
                                 const std::string& role);
  void remove_project_member(const std::string& uid, std::string_view pid, std::string_view target);

  // --- workflow states
  std::vector<StateRecord> list_states(const std::string& uid, std::string_view pid);
  StateRecord create_state(const std::string& uid, std::string_view pid, const StateInput& in);
  StateRecord update_state(const std::string& uid, std::string_view pid, std::string_view id, const StatePatch& p);
  void delete_state(const std::string& uid, std::string_view pid, std::string_view id,
                    const std::optional<std::string>& move_to);
  void add_state_move_hook(StateMoveHook hook);
  void add_project_deleted_hook(ProjectDeletedHook hook);
  void add_label_deleted_hook(LabelDeletedHook hook);

  // --- labels
  std::vector<LabelRecord> list_labels(const std::string& uid, std::string_view pid);
  LabelRecord create_label(const std::string& uid, std::string_view pid, const std::string& name,
                           const std::string& color);
  LabelRecord update_label(const std::string& uid, std::string_view pid, std::string_view id,
                           const std::optional<std::string>& name, const std::optional<std::string>& color);
  void delete_label(const std::string& uid, std::string_view pid, std::string_view id);

  // --- for the in-process client (no caller checks beyond the documented ones)
  std::optional<ProjectAccess> access(const std::string& uid, std::string_view pid);
  std::vector<ProjectAccess> visible_projects(const std::string& uid);
  std::optional<WorkspaceRole> workspace_role(const std::string& uid, std::string_view ws);
  std::vector<StateRecord> states_of(std::string_view pid);
  std::vector<std::string> existing_labels(std::string_view pid, const std::vector<std::string>& ids);
  std::vector<std::string> users_who_see(std::string_view pid, const std::vector<std::string>& user_ids);

 private:
  struct Seen {
    ProjectRecord project;
    std::string ws_role;
    ProjectRole role = ProjectRole::viewer;
  };
  std::string ws_role_or_404(sql::Connection& c, const std::string& uid, std::string_view ws);
  std::optional<Seen> seen(sql::Connection& c, const std::string& uid, std::string_view pid);
  Seen seen_or_404(sql::Connection& c, const std::string& uid, std::string_view pid);
  Member member_view(const MemberRecord& m);
  void queue_invitation_mail(const InvitationRecord& inv, const std::string& token, const std::string& ws_name);
  void emit(sql::Connection& c, events::Event e);

  sql::Database& db_;
  UserDirectory& users_;
  Mailer* mailer_;
  Clock& clock_;
  ProjectsOptions opt_;
  events::Outbox* outbox_;
  auth::BackgroundWorker worker_;
  auth::WindowLimiter invite_limiter_;
  std::mutex hooks_mu_;
  std::vector<StateMoveHook> state_hooks_;
  std::vector<ProjectDeletedHook> deleted_hooks_;
  std::vector<LabelDeletedHook> label_hooks_;
  void project_deleted(const std::vector<std::string>& project_ids);
};

// The in-process projects::Client over the service (ctx.projects).
class LocalClient final : public Client {
 public:
  explicit LocalClient(ProjectsService& svc) : svc_(svc) {}
  std::optional<ProjectAccess> project_access(const std::string& user_id, const std::string& project_id) override;
  std::vector<ProjectAccess> visible_projects(const std::string& user_id) override;
  std::optional<WorkspaceRole> workspace_role(const std::string& user_id, const std::string& workspace_id) override {
    return svc_.workspace_role(user_id, workspace_id);
  }
  std::vector<StateInfo> states(const std::string& project_id) override;
  std::optional<StateInfo> state(const std::string& project_id, const std::string& state_id) override;
  std::optional<StateInfo> default_state(const std::string& project_id) override;
  std::vector<std::string> existing_labels(const std::string& project_id,
                                           const std::vector<std::string>& label_ids) override;
  std::vector<std::string> project_members(const std::string& project_id,
                                           const std::vector<std::string>& user_ids) override;
  void add_state_move_hook(StateMoveHook hook) override { svc_.add_state_move_hook(std::move(hook)); }
  void add_project_deleted_hook(ProjectDeletedHook hook) override { svc_.add_project_deleted_hook(std::move(hook)); }
  void add_label_deleted_hook(LabelDeletedHook hook) override { svc_.add_label_deleted_hook(std::move(hook)); }

 private:
  ProjectsService& svc_;
};

}  // namespace taskhub::projects
