// ProjectsService rules on a real database with every migration applied (SQLite in memory, and
// PostgreSQL when TASKHUB_TEST_POSTGRES_URL is set), a ManualClock, a recording mailer and a map
// of users instead of the auth service.
#include "services/projects/service.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <mutex>

#include "adapters/sql_test_support.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "ports/migrations.hpp"
#include "services/events/outbox.hpp"

namespace taskhub::projects {
namespace {

class RecordingMailer final : public Mailer {
 public:
  void send(const EmailMessage& msg) override {
    std::lock_guard lock(mu_);
    sent.push_back(msg);
  }
  std::mutex mu_;
  std::vector<EmailMessage> sent;
};

class MapDirectory final : public UserDirectory {
 public:
  std::optional<UserSummary> find_user(std::string_view id) override {
    auto it = by_id.find(std::string(id));
    if (it == by_id.end()) return std::nullopt;
    return it->second;
  }
  std::optional<UserSummary> find_user_by_email(std::string_view email) override {
    for (const auto& [id, u] : by_id)
      if (u.email == email) return u;
    return std::nullopt;
  }
  std::string add(const std::string& name) {
    std::string id = new_uuid_v7();
    by_id[id] = UserSummary{id, name + "@example.com", name};
    return id;
  }
  std::map<std::string, UserSummary> by_id;
};

void expect_error(const std::function<void()>& fn, int status, const std::string& code) {
  try {
    fn();
    ADD_FAILURE() << "expected " << status << " " << code;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), status) << e.detail();
    EXPECT_EQ(e.code(), code) << e.detail();
  }
}

class ProjectsServiceTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(db());
    outbox_ = std::make_unique<events::SqlOutbox>(db(), clock_);
    svc_ = std::make_unique<ProjectsService>(db(), users_, &mailer_, clock_, ProjectsOptions{}, outbox_.get());
    owner_ = users_.add("owner");
    member_ = users_.add("member");
    guest_ = users_.add("guest");
    stranger_ = users_.add("stranger");
    ws_ = svc_->create_workspace(owner_, "Acme").record.id;
    svc_->add_member(owner_, ws_, "member@example.com", "member");
    svc_->add_member(owner_, ws_, "guest@example.com", "guest");
  }

  void TearDown() override {
    svc_.reset();
    SqlBackendTest::TearDown();
  }

  MapDirectory users_;
  RecordingMailer mailer_;
  ManualClock clock_;
  std::unique_ptr<events::SqlOutbox> outbox_;
  std::unique_ptr<ProjectsService> svc_;
  std::string owner_, member_, guest_, stranger_, ws_;
};

TEST_P(ProjectsServiceTest, KeysAndColours) {
  EXPECT_TRUE(valid_project_key("WEB"));
  EXPECT_TRUE(valid_project_key("A1"));
  EXPECT_FALSE(valid_project_key("1A"));
  EXPECT_FALSE(valid_project_key("web"));
  EXPECT_FALSE(valid_project_key("W"));
  EXPECT_FALSE(valid_project_key("ABCDEFGHIJK"));
  EXPECT_TRUE(valid_color("#3b82F6"));
  EXPECT_FALSE(valid_color("3b82f6"));
  EXPECT_FALSE(valid_color("#3b82fg"));
}

TEST_P(ProjectsServiceTest, WorkspaceVisibilityAndLastOwner) {
  EXPECT_EQ(svc_->get_workspace(member_, ws_).my_role, "member");
  expect_error([&] { svc_->get_workspace(stranger_, ws_); }, 404, "not-found");
  expect_error([&] { svc_->get_workspace(owner_, "not-a-uuid"); }, 404, "not-found");
  expect_error([&] { svc_->rename_workspace(member_, ws_, "x"); }, 403, "forbidden");
  expect_error([&] { svc_->remove_member(owner_, ws_, "me"); }, 409, "last-owner");
  expect_error([&] { svc_->set_member_role(owner_, ws_, owner_, "admin"); }, 409, "last-owner");
  svc_->set_member_role(owner_, ws_, member_, "admin");
  expect_error([&] { svc_->set_member_role(member_, ws_, owner_, "member"); }, 403, "forbidden");
  expect_error([&] { svc_->set_member_role(member_, ws_, guest_, "owner"); }, 403, "forbidden");
  svc_->set_member_role(member_, ws_, guest_, "member");  // admins manage members and guests
  svc_->set_member_role(owner_, ws_, member_, "owner");
  svc_->remove_member(owner_, ws_, "me");  // another owner remains
  expect_error([&] { svc_->get_workspace(owner_, ws_); }, 404, "not-found");
  expect_error([&] { svc_->delete_workspace(guest_, ws_); }, 403, "forbidden");
  svc_->delete_workspace(member_, ws_);
  expect_error([&] { svc_->get_workspace(member_, ws_); }, 404, "not-found");
}

TEST_P(ProjectsServiceTest, ProjectsVisibilityRolesAndStates) {
  Project pub = svc_->create_project(member_, ws_, ProjectInput{"Web", "WEB", std::nullopt, false});
  Project priv = svc_->create_project(owner_, ws_, ProjectInput{"Secret", "SEC", "hush", true});
  expect_error(
      [&] {
        svc_->create_project(member_, ws_, ProjectInput{"Dup", "WEB", {}, {}});
      },
      409, "project-key-taken");
  expect_error([&] { svc_->create_project(guest_, ws_, ProjectInput{"G", "GG", {}, {}}); }, 403, "forbidden");
  EXPECT_EQ(svc_->list_projects(owner_, ws_, 50, std::nullopt).items.size(), 2u);
  EXPECT_EQ(svc_->list_projects(member_, ws_, 50, std::nullopt).items.size(), 1u);
  EXPECT_EQ(svc_->list_projects(guest_, ws_, 50, std::nullopt).items.size(), 0u);
  expect_error([&] { svc_->get_project(member_, priv.record.id); }, 404, "not-found");
  expect_error([&] { svc_->get_project(guest_, pub.record.id); }, 404, "not-found");
  svc_->add_project_member(member_, pub.record.id, guest_, "viewer");
  EXPECT_EQ(svc_->get_project(guest_, pub.record.id).my_role, "viewer");
  expect_error([&] { svc_->create_label(guest_, pub.record.id, "bug", "#ff0000"); }, 403, "forbidden");
  expect_error([&] { svc_->add_project_member(member_, pub.record.id, stranger_, "member"); }, 400, "validation-error");

  // default states, the client view
  LocalClient client(*svc_);
  auto states = client.states(pub.record.id);
  ASSERT_EQ(states.size(), 5u);
  EXPECT_EQ(client.default_state(pub.record.id)->name, "Todo");
  EXPECT_TRUE(client.project_access(stranger_, pub.record.id) == std::nullopt);
  EXPECT_TRUE(client.project_access(guest_, pub.record.id)->role == ProjectRole::viewer);
  EXPECT_EQ(client.visible_projects(member_).size(), 1u);
  EXPECT_EQ(client.project_members(pub.record.id, {owner_, member_, guest_, stranger_}).size(), 3u);

  // state delete: move_to required, same project only, hook called
  // a hook that fails keeps the state
  std::string started_id = states[2].id;
  client.add_state_move_hook([&](const std::string&, const std::string& from, const std::string&) {
    if (from == started_id) throw std::runtime_error("tasks could not move");
  });
  EXPECT_THROW(svc_->delete_state(member_, pub.record.id, started_id, states[1].id), std::runtime_error);
  EXPECT_EQ(client.states(pub.record.id).size(), 5u);

  std::vector<std::string> moved;
  client.add_state_move_hook(
      [&](const std::string&, const std::string& from, const std::string& to) { moved.push_back(from + ">" + to); });
  std::string backlog = states[0].id, todo = states[1].id;
  std::string other_state = client.states(priv.record.id)[1].id;
  expect_error([&] { svc_->delete_state(member_, pub.record.id, backlog, std::nullopt); }, 400, "validation-error");
  expect_error([&] { svc_->delete_state(member_, pub.record.id, backlog, other_state); }, 400, "validation-error");
  EXPECT_TRUE(moved.empty());
  svc_->delete_state(member_, pub.record.id, backlog, todo);
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0], backlog + ">" + todo);
  EXPECT_EQ(client.states(pub.record.id).size(), 4u);

  // labels: unique case-insensitively; existing_labels filters other projects' ids
  auto bug = svc_->create_label(member_, pub.record.id, "Bug", "#ff0000");
  expect_error([&] { svc_->create_label(member_, pub.record.id, "bug", "#00ff00"); }, 409, "label-name-taken");
  auto other = svc_->create_label(owner_, priv.record.id, "Bug", "#ff0000");
  EXPECT_EQ(client.existing_labels(pub.record.id, {bug.id, other.id}), std::vector<std::string>{bug.id});

  // ETag, archive
  IfMatch stale = parse_if_match("\"v0\"");
  expect_error(
      [&] {
        svc_->update_project(member_, pub.record.id, ProjectPatch{"New", {}, {}}, stale);
      },
      412, "precondition-failed");
  auto archived = svc_->set_archived(member_, pub.record.id, true, IfMatch{});
  EXPECT_EQ(archived.record.version, 2);
  expect_error([&] { svc_->create_label(member_, pub.record.id, "x", "#000000"); }, 409, "project-archived");
  expect_error(
      [&] {
        svc_->update_project(member_, pub.record.id, ProjectPatch{"New", {}, {}}, IfMatch{});
      },
      409, "project-archived");
  svc_->set_archived(member_, pub.record.id, false, IfMatch{});
  std::vector<std::string> deleted;
  client.add_project_deleted_hook([&](const std::string& id) { deleted.push_back(id); });
  svc_->delete_project(owner_, pub.record.id, IfMatch{});
  EXPECT_EQ(deleted, std::vector<std::string>{pub.record.id});
  svc_->delete_workspace(owner_, ws_);
  EXPECT_EQ(deleted, (std::vector<std::string>{pub.record.id, priv.record.id}));
  EXPECT_FALSE(client.project_access(owner_, pub.record.id).has_value());
  EXPECT_FALSE(client.project_access(owner_, priv.record.id).has_value());
}

TEST_P(ProjectsServiceTest, InvitationsAreSingleUseAndExpire) {
  auto invitee = users_.add("invitee");
  Invitation inv = svc_->invite(owner_, ws_, "Invitee@Example.com", "member");
  svc_->run_background_jobs();
  ASSERT_EQ(mailer_.sent.size(), 1u);
  EXPECT_NE(mailer_.sent[0].text_body.find("/invitations/accept?token=" + inv.token), std::string::npos);
  expect_error([&] { svc_->invite(member_, ws_, "x@example.com", "member"); }, 403, "forbidden");
  expect_error([&] { svc_->accept_invitation(stranger_, inv.token); }, 403, "invitation-email-mismatch");
  Invitation again = svc_->resend_invitation(owner_, ws_, inv.record.id);
  expect_error([&] { svc_->accept_invitation(invitee, inv.token); }, 400, "validation-error");  // old token
  EXPECT_EQ(svc_->accept_invitation(invitee, again.token).my_role, "member");
  expect_error([&] { svc_->accept_invitation(invitee, again.token); }, 400, "validation-error");  // used

  Invitation late = svc_->invite(owner_, ws_, "late@example.com", "guest");
  clock_.advance_ms(8LL * 24 * 3600 * 1000);
  auto late_user = users_.add("late");
  expect_error([&] { svc_->accept_invitation(late_user, late.token); }, 400, "validation-error");
  EXPECT_TRUE(svc_->list_invitations(owner_, ws_).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, ProjectsServiceTest, ::testing::Values("sqlite-memory", "postgres"),
                         sql::testing::backend_name);

TEST_P(ProjectsServiceTest, InvitationsAreRateLimitedPerInviter) {
  ProjectsOptions opt;
  opt.invitations_per_hour = 2;
  ProjectsService limited(db(), users_, &mailer_, clock_, opt);
  limited.invite(owner_, ws_, "a@example.com", "member");
  limited.invite(owner_, ws_, "b@example.com", "member");
  expect_error([&] { limited.invite(owner_, ws_, "c@example.com", "member"); }, 429, "rate-limited");
  clock_.advance_ms(3601 * 1000);
  limited.invite(owner_, ws_, "c@example.com", "member");
  EXPECT_EQ(limited.list_invitations(owner_, ws_).size(), 3u);
}

}  // namespace
}  // namespace taskhub::projects
