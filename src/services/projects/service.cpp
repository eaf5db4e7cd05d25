#include "services/projects/service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/pagination.hpp"

namespace taskhub::projects {

const char* state_group_name(StateGroup g) {
  switch (g) {
    case StateGroup::backlog:
      return "backlog";
    case StateGroup::unstarted:
      return "unstarted";
    case StateGroup::started:
      return "started";
    case StateGroup::completed:
      return "completed";
    case StateGroup::cancelled:
      return "cancelled";
  }
  return "backlog";
}

namespace {

constexpr std::size_t kMaxStates = 50;
constexpr std::size_t kMaxLabels = 500;

ApiError archived_error() {
  return ApiError(409, "project-archived", "The project is archived (read-only); unarchive it first.");
}

ApiError invalid_invitation() {
  return validation_error({FieldError{"token", "is invalid, expired, revoked or was already used"}},
                          "The invitation is not valid.");
}

int ws_rank(std::string_view role) {
  if (role == "owner") return 3;
  if (role == "admin") return 2;
  if (role == "member") return 1;
  return 0;  // guest
}
bool ws_manager(std::string_view role) { return role == "owner" || role == "admin"; }

ProjectRole parse_project_role(std::string_view r) {
  if (r == "admin") return ProjectRole::admin;
  if (r == "member") return ProjectRole::member;
  return ProjectRole::viewer;
}
const char* project_role_name(ProjectRole r) {
  switch (r) {
    case ProjectRole::admin:
      return "admin";
    case ProjectRole::member:
      return "member";
    case ProjectRole::viewer:
      return "viewer";
  }
  return "viewer";
}

// The role a user has in a project, given their workspace role and explicit project role
// ("" when none); nullopt when they may not see it.
std::optional<ProjectRole> effective_role(const ProjectRecord& p, std::string_view ws_role,
                                          std::string_view project_role) {
  if (ws_role.empty()) return std::nullopt;
  if (ws_manager(ws_role)) return ProjectRole::admin;
  if (!project_role.empty()) return parse_project_role(project_role);
  if (ws_role == "member" && !p.is_private) return ProjectRole::member;
  return std::nullopt;
}

StateGroup parse_group(std::string_view g) {
  if (g == "unstarted") return StateGroup::unstarted;
  if (g == "started") return StateGroup::started;
  if (g == "completed") return StateGroup::completed;
  if (g == "cancelled") return StateGroup::cancelled;
  return StateGroup::backlog;
}

bool open_group(std::string_view g) { return g != "completed" && g != "cancelled"; }

std::string ascii_lower(std::string s) {
  for (auto& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = char(ch - 'A' + 'a');
  return s;
}

std::optional<std::string> cursor_id(const std::optional<std::string>& cursor) {
  return decode_id_cursor(cursor, /*require_uuid=*/false);
}

std::string make_cursor(const std::string& id) { return encode_id_cursor(id); }

ProjectAccess to_access(const ProjectRecord& p, ProjectRole role) {
  ProjectAccess a;
  a.project_id = p.id;
  a.workspace_id = p.workspace_id;
  a.key = p.key;
  a.name = p.name;
  a.archived = p.archived_at.has_value();
  a.role = role;
  return a;
}

}  // namespace

bool valid_project_key(std::string_view key) {
  if (key.size() < 2 || key.size() > 10) return false;
  if (!(key[0] >= 'A' && key[0] <= 'Z')) return false;
  return std::all_of(key.begin(), key.end(),
                     [](char ch) { return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'); });
}

bool valid_color(std::string_view c) {
  if (c.size() != 7 || c[0] != '#') return false;
  return std::all_of(c.begin() + 1, c.end(), [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
  });
}

bool valid_state_group(std::string_view g) {
  return g == "backlog" || g == "unstarted" || g == "started" || g == "completed" || g == "cancelled";
}

ProjectsOptions options_from_config(const Config& cfg) {
  ProjectsOptions o;
  o.public_url = cfg.public_url;
  return o;
}

ProjectsService::ProjectsService(sql::Database& db, UserDirectory& users, Mailer* mailer, Clock& clock,
                                 ProjectsOptions options, events::Outbox* outbox)
    : db_(db), users_(users), mailer_(mailer), clock_(clock), opt_(std::move(options)), outbox_(outbox),
      worker_(opt_.mail_queue_max),
      invite_limiter_(opt_.invitations_per_hour, 3600 * 1000) {}

ProjectsService::~ProjectsService() { stop(); }

// ---- domain events (docs/architecture.md "Domain events" lists every type and payload)

namespace {
namespace json = boost::json;

json::value opt_ms(const std::optional<int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }

std::string project_payload(const ProjectRecord& p) {
  return json::serialize(json::object{{"id", p.id},
                                      {"workspace_id", p.workspace_id},
                                      {"key", p.key},
                                      {"name", p.name},
                                      {"description", p.description},
                                      {"is_private", p.is_private},
                                      {"archived_at", opt_ms(p.archived_at)},
                                      {"version", p.version}});
}
std::string state_payload(const StateRecord& s) {
  return json::serialize(json::object{{"id", s.id},
                                      {"project_id", s.project_id},
                                      {"name", s.name},
                                      {"group", s.group},
                                      {"color", s.color},
                                      {"position", s.position}});
}
std::string label_payload(const LabelRecord& l) {
  return json::serialize(
      json::object{{"id", l.id}, {"project_id", l.project_id}, {"name", l.name}, {"color", l.color}});
}
std::string member_payload(const std::string& user_id, const std::string& role, const std::string& old_role = "") {
  json::object o{{"user_id", user_id}, {"role", role}};
  if (!old_role.empty()) o["old_role"] = old_role;
  return json::serialize(o);
}
}  // namespace

events::Event ev(std::string type, const std::string& actor, std::string workspace_id, std::string project_id,
                 std::string entity_type, std::string entity_id, std::string payload, std::string user_id = "") {
  events::Event e;
  e.type = std::move(type);
  e.actor_id = actor;
  e.workspace_id = std::move(workspace_id);
  e.project_id = std::move(project_id);
  e.user_id = std::move(user_id);
  e.entity_type = std::move(entity_type);
  e.entity_id = std::move(entity_id);
  e.payload = std::move(payload);
  return e;
}

void ProjectsService::emit(sql::Connection& c, events::Event e) {
  if (outbox_) outbox_->append(c, std::move(e));
}
void ProjectsService::start() { worker_.start(); }
void ProjectsService::stop() { worker_.stop(); }

// ---- access helpers

std::string ProjectsService::ws_role_or_404(sql::Connection& c, const std::string& uid, std::string_view ws) {
  if (!is_uuid(ws)) throw not_found("The workspace does not exist.");
  auto role = repo::workspace_role(c, ws, uid);
  if (!role) throw not_found("The workspace does not exist.");
  return *role;
}

std::optional<ProjectsService::Seen> ProjectsService::seen(sql::Connection& c, const std::string& uid,
                                                           std::string_view pid) {
  if (!is_uuid(pid)) return std::nullopt;
  auto found = repo::find_project_for_user(c, pid, uid);
  if (!found) return std::nullopt;
  auto role = effective_role(found->project, found->workspace_role, found->project_role);
  if (!role) return std::nullopt;
  return Seen{std::move(found->project), found->workspace_role, *role};
}

ProjectsService::Seen ProjectsService::seen_or_404(sql::Connection& c, const std::string& uid, std::string_view pid) {
  auto s = seen(c, uid, pid);
  if (!s) throw not_found("The project does not exist.");
  return std::move(*s);
}

Member ProjectsService::member_view(const MemberRecord& m) {
  Member out{m.user_id, "", "", m.role, m.created_at};
  if (auto u = users_.find_user(m.user_id)) {
    out.email = u->email;
    out.display_name = u->display_name;
  }
  return out;
}

// ---- workspaces

Workspace ProjectsService::create_workspace(const std::string& uid, const std::string& name) {
  const int64_t now = clock_.now_ms();
  WorkspaceRecord w{new_uuid_v7(), name, uid, now, now, "owner"};
  db_.write([&](sql::Connection& c) {
    repo::insert_workspace(c, w);
    repo::insert_workspace_member(c, w.id, uid, "owner", now);
    emit(c, ev("workspace.created", uid, w.id, "", "workspace", w.id,
               json::serialize(json::object{{"id", w.id}, {"name", w.name}})));
  });
  return Workspace{w, "owner"};
}

WorkspacePage ProjectsService::list_workspaces(const std::string& uid, int limit,
                                               const std::optional<std::string>& cursor) {
  auto after = cursor_id(cursor);
  auto rows = db_.read_value([&](sql::Connection& c) { return repo::list_user_workspaces(c, uid, after, limit + 1); });
  WorkspacePage page;
  if (rows.size() > std::size_t(limit)) {
    rows.resize(limit);
    page.next_cursor = make_cursor(rows.back().id);
  }
  for (auto& r : rows) page.items.push_back(Workspace{r, r.role});
  return page;
}

Workspace ProjectsService::get_workspace(const std::string& uid, std::string_view id) {
  return db_.read_value([&](sql::Connection& c) {
    auto role = ws_role_or_404(c, uid, id);
    return Workspace{*repo::find_workspace(c, id), role};
  });
}

Workspace ProjectsService::rename_workspace(const std::string& uid, std::string_view id, const std::string& name) {
  return db_.write_value([&](sql::Connection& c) {
    auto role = ws_role_or_404(c, uid, id);
    if (!ws_manager(role)) throw forbidden("Only workspace owners and admins can rename the workspace.");
    repo::rename_workspace(c, id, name, clock_.now_ms());
    Workspace out{*repo::find_workspace(c, id), role};
    emit(c, ev("workspace.updated", uid, out.record.id, "", "workspace", out.record.id,
               json::serialize(json::object{{"id", out.record.id}, {"name", out.record.name}})));
    return out;
  });
}

void ProjectsService::delete_workspace(const std::string& uid, std::string_view id) {
  std::vector<std::string> gone;
  db_.write([&](sql::Connection& c) {
    auto role = ws_role_or_404(c, uid, id);
    if (role != "owner") throw forbidden("Only workspace owners can delete the workspace.");
    gone = repo::workspace_project_ids(c, id);
    repo::delete_workspace(c, id);
    const std::string ws_id(id);
    for (const auto& pid : gone)
      emit(c, ev("project.deleted", uid, ws_id, pid, "project", pid, json::serialize(json::object{{"id", pid}})));
    emit(c, ev("workspace.deleted", uid, ws_id, "", "workspace", ws_id, json::serialize(json::object{{"id", ws_id}})));
  });
  project_deleted(gone);
}

void ProjectsService::project_deleted(const std::vector<std::string>& project_ids) {
  std::vector<ProjectDeletedHook> hooks;
  {
    std::lock_guard lock(hooks_mu_);
    hooks = deleted_hooks_;
  }
  for (const auto& pid : project_ids)
    for (const auto& h : hooks) {
      try {
        h(pid);
      } catch (const std::exception& e) {
        spdlog::error("project {} deleted: a project-deleted hook failed: {}", pid, e.what());
      }
    }
}

void ProjectsService::add_project_deleted_hook(ProjectDeletedHook hook) {
  std::lock_guard lock(hooks_mu_);
  deleted_hooks_.push_back(std::move(hook));
}

// ---- workspace members

MemberPage ProjectsService::list_members(const std::string& uid, std::string_view ws, int limit,
                                         const std::optional<std::string>& cursor) {
  auto after = cursor_id(cursor);
  auto rows = db_.read_value([&](sql::Connection& c) {
    ws_role_or_404(c, uid, ws);
    return repo::list_workspace_members(c, ws, after, limit + 1);
  });
  MemberPage page;
  if (rows.size() > std::size_t(limit)) {
    rows.resize(limit);
    page.next_cursor = make_cursor(rows.back().user_id);
  }
  for (const auto& m : rows) page.items.push_back(member_view(m));
  return page;
}

Member ProjectsService::add_member(const std::string& uid, std::string_view ws, const std::string& email,
                                   const std::string& role) {
  auto norm = auth::normalize_email(email);
  if (!norm) throw bad_field("email", "must be a valid e-mail address");
  auto target = users_.find_user_by_email(*norm);
  const int64_t now = clock_.now_ms();
  try {
    db_.write([&](sql::Connection& c) {
      auto my = ws_role_or_404(c, uid, ws);
      if (!ws_manager(my)) throw forbidden("Only workspace owners and admins can add members.");
      if (role == "owner" && my != "owner") throw forbidden("Only owners can make someone an owner.");
      if (!target) throw validation_error({FieldError{"email", "has no account yet; send an invitation instead"}});
      if (repo::workspace_role(c, ws, target->id))
        throw conflict("already-member", "This user is already a member of the workspace.",
                       {FieldError{"email", "is already a member"}});
      repo::insert_workspace_member(c, ws, target->id, role, now);
      emit(c, ev("member.added", uid, std::string(ws), "", "member", target->id, member_payload(target->id, role),
                 target->id));
    });
  } catch (const sql::UniqueViolation&) {
    throw conflict("already-member", "This user is already a member of the workspace.");
  }
  return Member{target->id, target->email, target->display_name, role, now};
}

Member ProjectsService::set_member_role(const std::string& uid, std::string_view ws, std::string_view target_raw,
                                        const std::string& role) {
  std::string target = target_raw == "me" ? uid : std::string(target_raw);
  MemberRecord out;
  db_.write([&](sql::Connection& c) {
    auto my = ws_role_or_404(c, uid, ws);
    repo::lock_workspace(c, db_.dialect(), ws);
    auto current = is_uuid(target) ? repo::workspace_role(c, ws, target) : std::nullopt;
    if (!current) throw not_found("The member does not exist.");
    if (!ws_manager(my)) throw forbidden("Only workspace owners and admins can change roles.");
    if ((*current == "owner" || role == "owner") && my != "owner")
      throw forbidden("Only owners can make someone an owner or change an owner's role.");
    if (my == "admin" && *current == "admin" && target != uid)
      throw forbidden("Admins manage members and guests; only owners change another admin's role.");
    if (*current == "owner" && role != "owner" && repo::count_owners(c, ws) <= 1)
      throw conflict("last-owner", "The workspace needs at least one owner; make someone else an owner first.");
    repo::set_workspace_role(c, ws, target, role);
    out = *repo::find_workspace_member(c, ws, target);
    if (*current != role)
      emit(c, ev("member.role_changed", uid, std::string(ws), "", "member", target,
                 member_payload(target, role, *current), target));
  });
  return member_view(out);
}

void ProjectsService::remove_member(const std::string& uid, std::string_view ws, std::string_view target_raw) {
  std::string target = target_raw == "me" ? uid : std::string(target_raw);
  db_.write([&](sql::Connection& c) {
    auto my = ws_role_or_404(c, uid, ws);
    repo::lock_workspace(c, db_.dialect(), ws);
    auto current = is_uuid(target) ? repo::workspace_role(c, ws, target) : std::nullopt;
    if (!current) throw not_found("The member does not exist.");
    if (target != uid) {
      if (!ws_manager(my)) throw forbidden("Only workspace owners and admins can remove members.");
      if (my == "admin" && ws_rank(*current) >= ws_rank("admin"))
        throw forbidden("Admins remove members and guests; only owners remove admins and owners.");
    }
    if (*current == "owner" && repo::count_owners(c, ws) <= 1)
      throw conflict("last-owner", "The last owner cannot leave or be removed; make someone else an owner first.");
    repo::delete_user_project_memberships(c, ws, target);
    repo::delete_workspace_member(c, ws, target);
    emit(c, ev("member.removed", uid, std::string(ws), "", "member", target, member_payload(target, *current), target));
  });
}

// ---- invitations

void ProjectsService::queue_invitation_mail(const InvitationRecord& inv, const std::string& token,
                                            const std::string& ws_name) {
  std::string inviter;
  if (auto u = users_.find_user(inv.invited_by)) inviter = u->display_name;
  EmailMessage msg;
  msg.to = inv.email;
  msg.subject = "You are invited to the " + ws_name + " workspace on taskhub";
  const std::string link = opt_.public_url + "/invitations/accept?token=" + token;
  msg.text_body = (inviter.empty() ? std::string("Someone") : inviter) + " invited you to join the workspace \"" +
                  ws_name + "\" on taskhub as " + inv.role +
                  ".\n\n"
                  "Open this link within " +
                  std::to_string(opt_.invitation_ttl_s / 86400) +
                  " days to accept (sign in or create an account with this e-mail address first):\n\n" + link +
                  "\n\nThe link works once. If you did not expect this invitation, ignore this e-mail.\n";
  Mailer* mailer = mailer_;
  std::string id = inv.id;
  if (!worker_.post([mailer, msg, id] {
        if (!mailer) {
          spdlog::warn("invitation {} not sent: no mailer configured", id);
          return;
        }
        try {
          mailer->send(msg);
        } catch (const std::exception& e) {
          spdlog::error("invitation {}: sending the e-mail failed: {}", id, e.what());
        }
      }))
    throw service_unavailable(5, "Too many e-mails are waiting to be sent; try again in a moment.");
}

Invitation ProjectsService::invite(const std::string& uid, std::string_view ws, const std::string& email,
                                   const std::string& role) {
  auto norm = auth::normalize_email(email);
  if (!norm) throw bad_field("email", "must be a valid e-mail address");
  const int64_t now = clock_.now_ms();
  std::string token = random_token(32);
  InvitationRecord inv{new_uuid_v7(),
                       std::string(ws),
                       *norm,
                       role,
                       auth::sha256_hex(token),
                       uid,
                       now,
                       now + opt_.invitation_ttl_s * 1000,
                       std::nullopt,
                       std::nullopt};
  auto existing_user = users_.find_user_by_email(*norm);
  std::string ws_name;
  db_.write([&](sql::Connection& c) {
    auto my = ws_role_or_404(c, uid, ws);
    if (!ws_manager(my)) throw forbidden("Only workspace owners and admins can invite.");
    if (role == "owner" && my != "owner") throw forbidden("Only owners can invite owners.");
    if (auto wait = invite_limiter_.acquire(uid, now))
      throw too_many_requests(static_cast<int>(*wait), "Too many invitations sent; try again later.");
    if (existing_user && repo::workspace_role(c, ws, existing_user->id))
      throw conflict("already-member", "This person is already a member of the workspace.",
                     {FieldError{"email", "is already a member"}});
    ws_name = repo::find_workspace(c, ws)->name;
    repo::insert_invitation(c, inv);
    // user_id: the invitee when they already have an account (their "invited" notification).
    emit(c, ev("invitation.created", uid, inv.workspace_id, "", "invitation", inv.id,
               json::serialize(json::object{{"id", inv.id}, {"role", inv.role}, {"expires_at", inv.expires_at}}),
               existing_user ? existing_user->id : std::string()));
  });
  queue_invitation_mail(inv, token, ws_name);
  return Invitation{inv, token};
}

std::vector<InvitationRecord> ProjectsService::list_invitations(const std::string& uid, std::string_view ws) {
  return db_.read_value([&](sql::Connection& c) {
    auto my = ws_role_or_404(c, uid, ws);
    if (!ws_manager(my)) throw forbidden("Only workspace owners and admins can see invitations.");
    return repo::list_pending_invitations(c, ws, clock_.now_ms(), 1000);
  });
}

Invitation ProjectsService::resend_invitation(const std::string& uid, std::string_view ws, std::string_view id) {
  const int64_t now = clock_.now_ms();
  std::string token = random_token(32);
  InvitationRecord inv;
  std::string ws_name;
  db_.write([&](sql::Connection& c) {
    auto my = ws_role_or_404(c, uid, ws);
    auto found = is_uuid(id) ? repo::find_invitation(c, ws, id) : std::nullopt;
    if (!found || found->accepted_at || found->revoked_at) throw not_found("The invitation does not exist.");
    if (!ws_manager(my)) throw forbidden("Only workspace owners and admins can resend invitations.");
    if (found->role == "owner" && my != "owner") throw forbidden("Only owners can resend an owner invitation.");
    if (auto wait = invite_limiter_.acquire(uid, now))
      throw too_many_requests(static_cast<int>(*wait), "Too many invitations sent; try again later.");
    inv = *found;
    inv.token_hash = auth::sha256_hex(token);
    inv.created_at = now;
    inv.expires_at = now + opt_.invitation_ttl_s * 1000;
    repo::set_invitation_token(c, inv.id, inv.token_hash, now, inv.expires_at);
    ws_name = repo::find_workspace(c, ws)->name;
    emit(c, ev("invitation.resent", uid, inv.workspace_id, "", "invitation", inv.id,
               json::serialize(json::object{{"id", inv.id}, {"role", inv.role}, {"expires_at", inv.expires_at}})));
  });
  queue_invitation_mail(inv, token, ws_name);
  return Invitation{inv, token};
}

void ProjectsService::revoke_invitation(const std::string& uid, std::string_view ws, std::string_view id) {
  db_.write([&](sql::Connection& c) {
    auto my = ws_role_or_404(c, uid, ws);
    auto found = is_uuid(id) ? repo::find_invitation(c, ws, id) : std::nullopt;
    if (!found || found->accepted_at || found->revoked_at) throw not_found("The invitation does not exist.");
    if (!ws_manager(my)) throw forbidden("Only workspace owners and admins can revoke invitations.");
    repo::revoke_invitation(c, found->id, clock_.now_ms());
    emit(c, ev("invitation.revoked", uid, found->workspace_id, "", "invitation", found->id,
               json::serialize(json::object{{"id", found->id}, {"role", found->role}})));
  });
}

Workspace ProjectsService::accept_invitation(const std::string& uid, std::string_view token) {
  if (token.empty() || token.size() > 512) throw invalid_invitation();
  auto me = users_.find_user(uid);
  if (!me) throw not_found("The user does not exist.");
  const std::string hash = auth::sha256_hex(token);
  const int64_t now = clock_.now_ms();
  return db_.write_value([&](sql::Connection& c) {
    auto inv = repo::find_invitation_by_token(c, hash);
    if (!inv || inv->accepted_at || inv->revoked_at || inv->expires_at <= now) throw invalid_invitation();
    if (ascii_lower(me->email) != ascii_lower(inv->email))
      throw ApiError(403, "invitation-email-mismatch",
                     "This invitation was sent to another e-mail address; sign in with that address to accept it.");
    if (!repo::mark_invitation_accepted(c, inv->id, now)) throw invalid_invitation();  // accepted concurrently
    auto role = repo::workspace_role(c, inv->workspace_id, uid);
    emit(c, ev("invitation.accepted", uid, inv->workspace_id, "", "invitation", inv->id,
               json::serialize(json::object{{"id", inv->id}, {"role", inv->role}}), uid));
    if (!role) {
      repo::insert_workspace_member(c, inv->workspace_id, uid, inv->role, now);
      role = inv->role;
      emit(c, ev("member.added", uid, inv->workspace_id, "", "member", uid, member_payload(uid, inv->role), uid));
    }
    return Workspace{*repo::find_workspace(c, inv->workspace_id), *role};
  });
}

// ---- projects

Project ProjectsService::create_project(const std::string& uid, std::string_view ws, const ProjectInput& in) {
  const int64_t now = clock_.now_ms();
  ProjectRecord p;
  p.id = new_uuid_v7();
  p.workspace_id = std::string(ws);
  p.name = in.name;
  p.key = in.key;
  p.description = in.description.value_or("");
  p.is_private = in.is_private.value_or(false);
  p.version = 1;
  p.created_by = uid;
  p.created_at = p.updated_at = now;
  try {
    db_.write([&](sql::Connection& c) {
      auto my = ws_role_or_404(c, uid, ws);
      if (my == "guest") throw forbidden("Guests cannot create projects.");
      if (repo::key_exists(c, ws, in.key))
        throw conflict("project-key-taken", "Another project of this workspace uses this key.",
                       {FieldError{"key", "is already used in this workspace"}});
      repo::insert_project(c, p);
      repo::insert_project_member(c, p.id, uid, "admin", now);
      struct Def {
        const char* name;
        const char* group;
        const char* color;
      };
      static const Def defs[] = {{"Backlog", "backlog", "#a3a3a3"},
                                 {"Todo", "unstarted", "#3b82f6"},
                                 {"In Progress", "started", "#f59e0b"},
                                 {"Done", "completed", "#16a34a"},
                                 {"Cancelled", "cancelled", "#ef4444"}};
      int64_t pos = 0;
      for (const auto& d : defs)
        repo::insert_state(c, StateRecord{new_uuid_v7(), p.id, d.name, d.group, d.color, pos++, now});
      emit(c, ev("project.created", uid, p.workspace_id, p.id, "project", p.id, project_payload(p)));
    });
  } catch (const sql::UniqueViolation&) {
    throw conflict("project-key-taken", "Another project of this workspace uses this key.",
                   {FieldError{"key", "is already used in this workspace"}});
  }
  return Project{p, "admin"};
}

ProjectPage ProjectsService::list_projects(const std::string& uid, std::string_view ws, int limit,
                                           const std::optional<std::string>& cursor) {
  auto after = cursor_id(cursor);
  std::string my;
  auto rows = db_.read_value([&](sql::Connection& c) {
    my = ws_role_or_404(c, uid, ws);
    return repo::list_projects(c, ws, uid, ws_manager(my), my == "member", after, limit + 1);
  });
  ProjectPage page;
  if (rows.size() > std::size_t(limit)) {
    rows.resize(limit);
    page.next_cursor = make_cursor(rows.back().project.id);
  }
  for (auto& r : rows) {
    auto role = effective_role(r.project, my, r.project_role);
    page.items.push_back(Project{std::move(r.project), project_role_name(role.value_or(ProjectRole::viewer))});
  }
  return page;
}

Project ProjectsService::get_project(const std::string& uid, std::string_view id) {
  return db_.read_value([&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, id);
    return Project{s.project, project_role_name(s.role)};
  });
}

Project ProjectsService::update_project(const std::string& uid, std::string_view id, const ProjectPatch& patch,
                                        const IfMatch& im) {
  return db_.write_value([&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, id);
    if (s.role != ProjectRole::admin) throw forbidden("Only project admins can change the project.");
    require_match(im, s.project.version);
    if (s.project.archived_at) throw archived_error();
    ProjectRecord p = s.project;
    if (patch.name) p.name = *patch.name;
    if (patch.description) p.description = *patch.description;
    if (patch.is_private) p.is_private = *patch.is_private;
    p.updated_at = clock_.now_ms();
    if (!repo::update_project(c, p, s.project.version))
      throw ApiError(412, "precondition-failed", "The project changed meanwhile.");
    Project out{*repo::find_project(c, id), project_role_name(s.role)};
    emit(c, ev("project.updated", uid, p.workspace_id, p.id, "project", p.id, project_payload(out.record)));
    return out;
  });
}

Project ProjectsService::set_archived(const std::string& uid, std::string_view id, bool archived, const IfMatch& im) {
  return db_.write_value([&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, id);
    if (s.role != ProjectRole::admin) throw forbidden("Only project admins can archive or unarchive the project.");
    require_match(im, s.project.version);
    ProjectRecord p = s.project;
    if (archived == p.archived_at.has_value()) return Project{p, project_role_name(s.role)};  // idempotent
    p.updated_at = clock_.now_ms();
    p.archived_at = archived ? std::optional<int64_t>(p.updated_at) : std::nullopt;
    if (!repo::update_project(c, p, s.project.version))
      throw ApiError(412, "precondition-failed", "The project changed meanwhile.");
    Project out{*repo::find_project(c, id), project_role_name(s.role)};
    emit(c, ev(archived ? "project.archived" : "project.unarchived", uid, p.workspace_id, p.id, "project", p.id,
               project_payload(out.record)));
    return out;
  });
}

void ProjectsService::delete_project(const std::string& uid, std::string_view id, const IfMatch& im) {
  db_.write([&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, id);
    if (s.role != ProjectRole::admin) throw forbidden("Only project or workspace admins can delete the project.");
    require_match(im, s.project.version);
    if (!repo::delete_project(c, id, s.project.version))
      throw ApiError(412, "precondition-failed", "The project changed meanwhile.");
    emit(c, ev("project.deleted", uid, s.project.workspace_id, s.project.id, "project", s.project.id,
               project_payload(s.project)));
  });
  project_deleted({std::string(id)});
}

// ---- project members

std::vector<Member> ProjectsService::list_project_members(const std::string& uid, std::string_view pid) {
  auto rows = db_.read_value([&](sql::Connection& c) {
    seen_or_404(c, uid, pid);
    return repo::list_project_members(c, pid);
  });
  std::vector<Member> out;
  for (const auto& m : rows) out.push_back(member_view(m));
  return out;
}

Member ProjectsService::add_project_member(const std::string& uid, std::string_view pid, const std::string& user_id,
                                           const std::string& role) {
  const int64_t now = clock_.now_ms();
  try {
    db_.write([&](sql::Connection& c) {
      auto s = seen_or_404(c, uid, pid);
      if (s.role != ProjectRole::admin) throw forbidden("Only project admins can add members.");
      if (s.project.archived_at) throw archived_error();
      if (!is_uuid(user_id) || !repo::workspace_role(c, s.project.workspace_id, user_id))
        throw validation_error({FieldError{"user_id", "must be a member of the project's workspace"}});
      if (repo::project_role(c, pid, user_id))
        throw conflict("already-member", "This user is already a member of the project.",
                       {FieldError{"user_id", "is already a member"}});
      repo::insert_project_member(c, pid, user_id, role, now);
      emit(c, ev("project_member.added", uid, s.project.workspace_id, s.project.id, "project_member", user_id,
                 member_payload(user_id, role), user_id));
    });
  } catch (const sql::UniqueViolation&) {
    throw conflict("already-member", "This user is already a member of the project.");
  }
  return member_view(MemberRecord{user_id, role, now});
}

Member ProjectsService::set_project_member_role(const std::string& uid, std::string_view pid, std::string_view target,
                                                const std::string& role) {
  MemberRecord out;
  db_.write([&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, pid);
    auto current = is_uuid(target) ? repo::project_role(c, pid, target) : std::nullopt;
    if (!current) throw not_found("The member does not exist.");
    if (s.role != ProjectRole::admin) throw forbidden("Only project admins can change roles.");
    if (s.project.archived_at) throw archived_error();
    repo::set_project_role(c, pid, target, role);
    out = *repo::find_project_member(c, pid, target);
    if (*current != role)
      emit(c, ev("project_member.role_changed", uid, s.project.workspace_id, s.project.id, "project_member",
                 out.user_id, member_payload(out.user_id, role, *current), out.user_id));
  });
  return member_view(out);
}

void ProjectsService::remove_project_member(const std::string& uid, std::string_view pid, std::string_view target_raw) {
  std::string target = target_raw == "me" ? uid : std::string(target_raw);
  db_.write([&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, pid);
    auto current = is_uuid(target) ? repo::project_role(c, pid, target) : std::nullopt;
    if (!current) throw not_found("The member does not exist.");
    if (s.role != ProjectRole::admin && target != uid) throw forbidden("Only project admins can remove members.");
    if (s.project.archived_at) throw archived_error();
    repo::delete_project_member(c, pid, target);
    emit(c, ev("project_member.removed", uid, s.project.workspace_id, s.project.id, "project_member", target,
               member_payload(target, *current), target));
  });
}

// ---- workflow states

std::vector<StateRecord> ProjectsService::list_states(const std::string& uid, std::string_view pid) {
  return db_.read_value([&](sql::Connection& c) {
    seen_or_404(c, uid, pid);
    return repo::list_states(c, pid);
  });
}

namespace {
// Moves `id` to index `pos` (clamped) and renumbers every state 0..n-1.
void reorder(sql::Connection& c, std::string_view pid, const std::string& id, int64_t pos) {
  auto states = repo::list_states(c, pid);
  auto it = std::find_if(states.begin(), states.end(), [&](const StateRecord& s) { return s.id == id; });
  if (it == states.end()) return;
  StateRecord moving = *it;
  states.erase(it);
  pos = std::clamp<int64_t>(pos, 0, int64_t(states.size()));
  states.insert(states.begin() + pos, moving);
  for (std::size_t i = 0; i < states.size(); ++i)
    if (states[i].position != int64_t(i)) repo::set_state_position(c, states[i].id, int64_t(i));
}
}  // namespace

StateRecord ProjectsService::create_state(const std::string& uid, std::string_view pid, const StateInput& in) {
  const int64_t now = clock_.now_ms();
  return db_.write_value([&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, pid);
    if (s.role != ProjectRole::admin) throw forbidden("Only project admins can manage workflow states.");
    if (s.project.archived_at) throw archived_error();
    auto states = repo::list_states(c, pid);
    if (states.size() >= kMaxStates) throw conflict("too-many-states", "A project has at most 50 states.");
    StateRecord st{new_uuid_v7(),
                   std::string(pid),
                   in.name,
                   in.group,
                   in.color,
                   states.empty() ? 0 : states.back().position + 1,
                   now};
    repo::insert_state(c, st);
    if (in.position) reorder(c, pid, st.id, *in.position);
    StateRecord out = *repo::find_state(c, pid, st.id);
    emit(c, ev("state.created", uid, s.project.workspace_id, s.project.id, "state", out.id, state_payload(out)));
    return out;
  });
}

StateRecord ProjectsService::update_state(const std::string& uid, std::string_view pid, std::string_view id,
                                          const StatePatch& p) {
  return db_.write_value([&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, pid);
    auto st = is_uuid(id) ? repo::find_state(c, pid, id) : std::nullopt;
    if (!st) throw not_found("The state does not exist.");
    if (s.role != ProjectRole::admin) throw forbidden("Only project admins can manage workflow states.");
    if (s.project.archived_at) throw archived_error();
    if (p.name) st->name = *p.name;
    if (p.color) st->color = *p.color;
    repo::update_state(c, *st);
    if (p.position) reorder(c, pid, st->id, *p.position);
    StateRecord out = *repo::find_state(c, pid, id);
    emit(c, ev("state.updated", uid, s.project.workspace_id, s.project.id, "state", out.id, state_payload(out)));
    return out;
  });
}

void ProjectsService::delete_state(const std::string& uid, std::string_view pid, std::string_view id,
                                   const std::optional<std::string>& move_to) {
  // Check everything first, then let the tasks service move its tasks, then delete.
  auto check = [&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, pid);
    auto st = is_uuid(id) ? repo::find_state(c, pid, id) : std::nullopt;
    if (!st) throw not_found("The state does not exist.");
    if (s.role != ProjectRole::admin) throw forbidden("Only project admins can manage workflow states.");
    if (s.project.archived_at) throw archived_error();
    auto states = repo::list_states(c, pid);
    if (states.size() <= 1) throw conflict("last-state", "A project needs at least one state.");
    std::size_t open_left = 0;
    for (const auto& x : states)
      if (x.id != st->id && open_group(x.group)) ++open_left;
    if (open_left == 0)
      throw conflict("last-open-state", "A project needs at least one state that is neither completed nor cancelled.");
    if (!move_to) throw bad_field("move_to", "is required: the state that receives this state's tasks");
    if (*move_to == st->id) throw bad_field("move_to", "must be another state of the same project");
    auto target = is_uuid(*move_to) ? repo::find_state(c, pid, *move_to) : std::nullopt;
    if (!target) throw bad_field("move_to", "must be another state of the same project");
  };
  db_.read(check);
  std::vector<StateMoveHook> hooks;
  {
    std::lock_guard lock(hooks_mu_);
    hooks = state_hooks_;
  }
  for (const auto& h : hooks) h(std::string(pid), std::string(id), *move_to);
  db_.write([&](sql::Connection& c) {
    check(c);  // still valid (a concurrent change could have removed the target)
    auto project = repo::find_project(c, pid);
    auto st = repo::find_state(c, pid, id);
    repo::delete_state(c, pid, id);
    emit(c, ev("state.deleted", uid, project->workspace_id, project->id, "state", st->id,
               json::serialize(json::object{{"id", st->id}, {"name", st->name}, {"moved_to", *move_to}})));
    auto left = repo::list_states(c, pid);  // close the gap: positions stay 0..n-1
    for (std::size_t i = 0; i < left.size(); ++i)
      if (left[i].position != int64_t(i)) repo::set_state_position(c, left[i].id, int64_t(i));
  });
}

void ProjectsService::add_state_move_hook(StateMoveHook hook) {
  std::lock_guard lock(hooks_mu_);
  state_hooks_.push_back(std::move(hook));
}

// ---- labels

std::vector<LabelRecord> ProjectsService::list_labels(const std::string& uid, std::string_view pid) {
  return db_.read_value([&](sql::Connection& c) {
    seen_or_404(c, uid, pid);
    return repo::list_labels(c, pid);
  });
}

LabelRecord ProjectsService::create_label(const std::string& uid, std::string_view pid, const std::string& name,
                                          const std::string& color) {
  const int64_t now = clock_.now_ms();
  try {
    return db_.write_value([&](sql::Connection& c) {
      auto s = seen_or_404(c, uid, pid);
      if (s.role == ProjectRole::viewer) throw forbidden("Viewers cannot create labels.");
      if (s.project.archived_at) throw archived_error();
      if (repo::label_name_taken(c, pid, ascii_lower(name), ""))
        throw conflict("label-name-taken", "The project already has a label with this name.",
                       {FieldError{"name", "is already used in this project"}});
      if (repo::list_labels(c, pid).size() >= kMaxLabels)
        throw conflict("too-many-labels", "A project has at most 500 labels.");
      LabelRecord l{new_uuid_v7(), std::string(pid), name, color, now};
      repo::insert_label(c, l);
      emit(c, ev("label.created", uid, s.project.workspace_id, s.project.id, "label", l.id, label_payload(l)));
      return l;
    });
  } catch (const sql::UniqueViolation&) {
    throw conflict("label-name-taken", "The project already has a label with this name.",
                   {FieldError{"name", "is already used in this project"}});
  }
}

LabelRecord ProjectsService::update_label(const std::string& uid, std::string_view pid, std::string_view id,
                                          const std::optional<std::string>& name,
                                          const std::optional<std::string>& color) {
  try {
    return db_.write_value([&](sql::Connection& c) {
      auto s = seen_or_404(c, uid, pid);
      auto l = is_uuid(id) ? repo::find_label(c, pid, id) : std::nullopt;
      if (!l) throw not_found("The label does not exist.");
      if (s.role == ProjectRole::viewer) throw forbidden("Viewers cannot change labels.");
      if (s.project.archived_at) throw archived_error();
      if (name && repo::label_name_taken(c, pid, ascii_lower(*name), l->id))
        throw conflict("label-name-taken", "The project already has a label with this name.",
                       {FieldError{"name", "is already used in this project"}});
      if (name) l->name = *name;
      if (color) l->color = *color;
      repo::update_label(c, *l);
      emit(c, ev("label.updated", uid, s.project.workspace_id, s.project.id, "label", l->id, label_payload(*l)));
      return *l;
    });
  } catch (const sql::UniqueViolation&) {
    throw conflict("label-name-taken", "The project already has a label with this name.",
                   {FieldError{"name", "is already used in this project"}});
  }
}

void ProjectsService::delete_label(const std::string& uid, std::string_view pid, std::string_view id) {
  db_.write([&](sql::Connection& c) {
    auto s = seen_or_404(c, uid, pid);
    auto l = is_uuid(id) ? repo::find_label(c, pid, id) : std::nullopt;
    if (!l) throw not_found("The label does not exist.");
    if (s.role == ProjectRole::viewer) throw forbidden("Viewers cannot delete labels.");
    if (s.project.archived_at) throw archived_error();
    repo::delete_label(c, pid, id);
    emit(c, ev("label.deleted", uid, s.project.workspace_id, s.project.id, "label", l->id, label_payload(*l)));
  });
  std::vector<LabelDeletedHook> hooks;
  {
    std::lock_guard lock(hooks_mu_);
    hooks = label_hooks_;
  }
  const std::string project_id(pid), label_id(id);
  for (const auto& h : hooks) {
    try {
      h(project_id, label_id);
    } catch (const std::exception& e) {
      spdlog::error("label {} of project {} deleted: a label-deleted hook failed: {}", label_id, project_id, e.what());
    }
  }
}

void ProjectsService::add_label_deleted_hook(LabelDeletedHook hook) {
  std::lock_guard lock(hooks_mu_);
  label_hooks_.push_back(std::move(hook));
}

// ---- client support

std::optional<ProjectAccess> ProjectsService::access(const std::string& uid, std::string_view pid) {
  return db_.read_value([&](sql::Connection& c) -> std::optional<ProjectAccess> {
    auto s = seen(c, uid, pid);
    if (!s) return std::nullopt;
    return to_access(s->project, s->role);
  });
}

std::vector<ProjectAccess> ProjectsService::visible_projects(const std::string& uid) {
  auto rows = db_.read_value([&](sql::Connection& c) { return repo::list_user_projects(c, uid); });
  std::vector<ProjectAccess> out;
  for (const auto& r : rows)
    if (auto role = effective_role(r.project, r.workspace_role, r.project_role))
      out.push_back(to_access(r.project, *role));
  return out;
}

std::vector<StateRecord> ProjectsService::states_of(std::string_view pid) {
  if (!is_uuid(pid)) return {};
  return db_.read_value([&](sql::Connection& c) { return repo::list_states(c, pid); });
}

std::vector<std::string> ProjectsService::existing_labels(std::string_view pid, const std::vector<std::string>& ids) {
  if (!is_uuid(pid)) return {};
  auto labels = db_.read_value([&](sql::Connection& c) { return repo::list_labels(c, pid); });
  std::vector<std::string> out;
  for (const auto& id : ids)
    if (std::any_of(labels.begin(), labels.end(), [&](const LabelRecord& l) { return l.id == id; }) &&
        std::find(out.begin(), out.end(), id) == out.end())
      out.push_back(id);
  return out;
}

std::vector<std::string> ProjectsService::users_who_see(std::string_view pid,
                                                        const std::vector<std::string>& user_ids) {
  std::vector<std::string> out;
  if (!is_uuid(pid)) return out;
  db_.read([&](sql::Connection& c) {
    for (const auto& u : user_ids)
      if (std::find(out.begin(), out.end(), u) == out.end() && seen(c, u, pid)) out.push_back(u);
  });
  return out;
}

// ---- LocalClient

namespace {
StateInfo state_info(const StateRecord& s) { return StateInfo{s.id, s.project_id, s.name, parse_group(s.group)}; }
}  // namespace

std::optional<WorkspaceRole> ProjectsService::workspace_role(const std::string& uid, std::string_view ws) {
  if (!is_uuid(ws)) return std::nullopt;
  auto role = db_.read_value([&](sql::Connection& c) { return repo::workspace_role(c, ws, uid); });
  if (!role) return std::nullopt;
  if (*role == "owner") return WorkspaceRole::owner;
  if (*role == "admin") return WorkspaceRole::admin;
  if (*role == "member") return WorkspaceRole::member;
  return WorkspaceRole::guest;
}

std::optional<ProjectAccess> LocalClient::project_access(const std::string& user_id, const std::string& project_id) {
  return svc_.access(user_id, project_id);
}
std::vector<ProjectAccess> LocalClient::visible_projects(const std::string& user_id) {
  return svc_.visible_projects(user_id);
}
std::vector<StateInfo> LocalClient::states(const std::string& project_id) {
  std::vector<StateInfo> out;
  for (const auto& s : svc_.states_of(project_id)) out.push_back(state_info(s));
  return out;
}
std::optional<StateInfo> LocalClient::state(const std::string& project_id, const std::string& state_id) {
  for (const auto& s : svc_.states_of(project_id))
    if (s.id == state_id) return state_info(s);
  return std::nullopt;
}
std::optional<StateInfo> LocalClient::default_state(const std::string& project_id) {
  auto all = svc_.states_of(project_id);
  for (const auto& s : all)
    if (s.group == "unstarted") return state_info(s);
  for (const auto& s : all)
    if (open_group(s.group)) return state_info(s);
  if (!all.empty()) return state_info(all.front());
  return std::nullopt;
}
std::vector<std::string> LocalClient::existing_labels(const std::string& project_id,
                                                      const std::vector<std::string>& label_ids) {
  return svc_.existing_labels(project_id, label_ids);
}
std::vector<std::string> LocalClient::project_members(const std::string& project_id,
                                                      const std::vector<std::string>& user_ids) {
  return svc_.users_who_see(project_id, user_ids);
}

}  // namespace taskhub::projects
