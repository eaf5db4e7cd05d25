// The tasks and projects services emit their domain events in the transaction of the change
// (real database on every backend, the fake projects client for tasks, a map of users for
// projects): one event per change with its routing keys, and none when the change fails.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "adapters/sql_test_support.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "ports/migrations.hpp"
#include "services/events/outbox.hpp"
#include "services/events/relay.hpp"
#include "services/projects/service.hpp"
#include "services/tasks/fake_projects_client.hpp"
#include "services/tasks/service.hpp"

namespace taskhub::events {
namespace {

namespace json = boost::json;

class CollectingBus final : public EventBus {
 public:
  void publish(const Event& e) override { got.push_back(e); }
  uint64_t subscribe(Handler) override { return 0; }
  void unsubscribe(uint64_t) override {}
  std::vector<Event> got;
};

class Users final : public projects::UserDirectory {
 public:
  std::optional<projects::UserSummary> find_user(std::string_view id) override {
    auto it = by_id.find(std::string(id));
    if (it == by_id.end()) return std::nullopt;
    return it->second;
  }
  std::optional<projects::UserSummary> find_user_by_email(std::string_view email) override {
    for (const auto& [id, u] : by_id)
      if (u.email == email) return u;
    return std::nullopt;
  }
  std::string add(const std::string& name) {
    std::string id = new_uuid_v7();
    by_id[id] = projects::UserSummary{id, name + "@example.com", name};
    return id;
  }
  std::map<std::string, projects::UserSummary> by_id;
};

void expect_fails(const std::function<void()>& fn, int status) {
  try {
    fn();
    ADD_FAILURE() << "expected " << status;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), status) << e.detail();
  }
}

class EmissionTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(db());
    outbox_ = std::make_unique<SqlOutbox>(db(), clock_);
    relay_ = std::make_unique<Relay>(*outbox_, bus_, clock_);
  }
  void TearDown() override {
    relay_.reset();
    outbox_.reset();
    SqlBackendTest::TearDown();
  }
  // The events committed since the last call, in order.
  std::vector<Event> take() {
    std::size_t from = bus_.got.size();
    relay_->run_once();
    return std::vector<Event>(bus_.got.begin() + static_cast<std::ptrdiff_t>(from), bus_.got.end());
  }
  std::vector<std::string> types(const std::vector<Event>& es) {
    std::vector<std::string> out;
    for (const auto& e : es) out.push_back(e.type);
    return out;
  }

  ManualClock clock_;
  CollectingBus bus_;
  std::unique_ptr<SqlOutbox> outbox_;
  std::unique_ptr<Relay> relay_;
};

TEST_P(EmissionTest, TaskChanges) {
  tasks::testing::FakeProjectsClient fake;
  tasks::TasksService svc(db(), fake, clock_, outbox_.get());
  std::string alice = new_uuid_v7(), viewer = new_uuid_v7(), bob = new_uuid_v7();
  std::string web = fake.add_project("WEB", alice);
  fake.add_member(web, viewer, projects::ProjectRole::viewer);
  fake.add_member(web, bob, projects::ProjectRole::member);
  const std::string ws = fake.project_access(alice, web)->workspace_id;

  tasks::CreateTaskInput in;
  in.title = "first";
  tasks::Task t = svc.create_task(alice, web, in);
  auto es = take();
  ASSERT_EQ(types(es), std::vector<std::string>{"task.created"});
  EXPECT_EQ(es[0].workspace_id, ws);
  EXPECT_EQ(es[0].project_id, web);
  EXPECT_EQ(es[0].task_id, t.id);
  EXPECT_EQ(es[0].actor_id, alice);
  EXPECT_EQ(es[0].entity_type, "task");
  EXPECT_EQ(es[0].entity_id, t.id);
  EXPECT_EQ(json::parse(es[0].payload).at("task").at("title"), "first");

  tasks::UpdateTaskInput title;
  title.title = "renamed";
  svc.update_task(alice, t.id, title, IfMatch{});
  es = take();
  ASSERT_EQ(types(es), std::vector<std::string>{"task.updated"});
  auto changes = json::parse(es[0].payload).at("changes").as_object();
  EXPECT_EQ(changes.at("title").at("old"), "first");
  EXPECT_EQ(changes.at("title").at("new"), "renamed");

  svc.update_task(alice, t.id, title, IfMatch{});  // no change: no event
  EXPECT_TRUE(take().empty());

  tasks::UpdateTaskInput move;
  move.state_id = fake.state_of(web, projects::StateGroup::started).id;
  svc.update_task(alice, t.id, move, IfMatch{});
  es = take();
  ASSERT_EQ(types(es), std::vector<std::string>{"task.moved"});
  EXPECT_EQ(std::string(json::parse(es[0].payload).at("changes").at("state_id").at("new").as_string()), *move.state_id);

  // Failures write nothing: 403 (viewer), 400 (bad state), 412 (stale If-Match).
  expect_fails([&] { svc.update_task(viewer, t.id, title, IfMatch{}); }, 403);
  tasks::UpdateTaskInput bad;
  bad.state_id = new_uuid_v7();
  expect_fails([&] { svc.update_task(alice, t.id, bad, IfMatch{}); }, 400);
  tasks::UpdateTaskInput other;
  other.title = "x";
  expect_fails([&] { svc.update_task(alice, t.id, other, IfMatch{true, false, {1}}); }, 412);
  EXPECT_TRUE(take().empty());

  auto cm = svc.add_comment(bob, t.id, "hello");
  svc.update_comment(bob, cm.id, "hello again", IfMatch{});
  svc.react(bob, false, t.id, "heart", true);
  svc.react(bob, false, t.id, "heart", true);  // already there: nothing
  svc.react(bob, true, cm.id, "rocket", true);
  svc.react(bob, false, t.id, "heart", false);
  svc.delete_comment(bob, cm.id, IfMatch{});
  es = take();
  ASSERT_EQ(types(es), (std::vector<std::string>{"comment.created", "comment.updated", "reaction.added",
                                                 "reaction.added", "reaction.removed", "comment.deleted"}));
  for (const auto& e : es) {
    EXPECT_EQ(e.task_id, t.id) << e.type;
    EXPECT_EQ(e.workspace_id, ws) << e.type;
    EXPECT_EQ(e.actor_id, bob) << e.type;
  }
  EXPECT_EQ(es[0].entity_id, cm.id);
  EXPECT_EQ(json::parse(es[1].payload).at("body"), "hello again");
  EXPECT_EQ(json::parse(es[3].payload).at("target_type"), "comment");

  svc.watch(viewer, t.id, true);
  svc.watch(viewer, t.id, true);
  svc.watch(viewer, t.id, false);
  es = take();
  ASSERT_EQ(types(es), (std::vector<std::string>{"watcher.added", "watcher.removed"}));
  EXPECT_EQ(es[0].user_id, viewer);

  tasks::Task u = svc.create_task(alice, web, in);
  auto rel = svc.add_relation(alice, t.id, "blocks", u.id);
  expect_fails([&] { svc.add_relation(alice, t.id, "blocks", u.id); }, 409);
  svc.remove_relation(alice, t.id, rel.id);
  es = take();
  ASSERT_EQ(types(es), (std::vector<std::string>{"task.created", "relation.added", "relation.removed"}));
  EXPECT_EQ(es[1].task_id, t.id);
  EXPECT_EQ(es[1].entity_id, rel.id);

  tasks::BulkUpdateInput bulk;
  bulk.task_ids = {t.id, u.id};
  bulk.priority = 3;
  svc.bulk_update(alice, web, bulk);
  bulk.task_ids = {t.id, new_uuid_v7()};  // one bad id: all or nothing, no event
  expect_fails([&] { svc.bulk_update(alice, web, bulk); }, 400);
  es = take();
  ASSERT_EQ(types(es), (std::vector<std::string>{"task.updated", "task.updated"}));
  EXPECT_EQ(es[0].task_id, t.id);
  EXPECT_EQ(es[1].task_id, u.id);

  svc.set_archived(alice, u.id, true, IfMatch{});
  svc.set_archived(alice, u.id, false, IfMatch{});
  svc.delete_task(alice, u.id, IfMatch{});
  svc.restore_task(alice, u.id);
  es = take();
  ASSERT_EQ(types(es), (std::vector<std::string>{"task.archived", "task.unarchived", "task.deleted", "task.restored"}));

  tasks::CustomFieldInput field;
  field.name = "Size";
  field.type = "number";
  auto f = svc.create_field(alice, web, field);
  expect_fails([&] { svc.create_field(bob, web, field); }, 403);
  tasks::CustomFieldPatch rename;
  rename.name = "Points";
  svc.update_field(alice, web, f.id, rename, IfMatch{});
  svc.delete_field(alice, web, f.id, IfMatch{});
  es = take();
  ASSERT_EQ(types(es),
            (std::vector<std::string>{"custom_field.created", "custom_field.updated", "custom_field.deleted"}));
  EXPECT_EQ(es[1].entity_id, f.id);
  EXPECT_EQ(es[1].project_id, web);
  EXPECT_EQ(json::parse(es[1].payload).at("name"), "Points");
}

TEST_P(EmissionTest, ProjectChanges) {
  Users users;
  projects::ProjectsService svc(db(), users, nullptr, clock_, projects::ProjectsOptions{}, outbox_.get());
  std::string owner = users.add("owner"), member = users.add("member"), guest = users.add("guest");
  std::string ws = svc.create_workspace(owner, "Acme").record.id;
  svc.add_member(owner, ws, "member@example.com", "member");
  expect_fails([&] { svc.add_member(owner, ws, "member@example.com", "member"); }, 409);
  expect_fails([&] { svc.add_member(member, ws, "guest@example.com", "guest"); }, 403);
  svc.add_member(owner, ws, "guest@example.com", "guest");
  svc.set_member_role(owner, ws, guest, "member");
  auto es = take();
  ASSERT_EQ(types(es),
            (std::vector<std::string>{"workspace.created", "member.added", "member.added", "member.role_changed"}));
  EXPECT_EQ(es[1].user_id, member);
  EXPECT_EQ(es[1].workspace_id, ws);
  EXPECT_EQ(es[1].actor_id, owner);
  EXPECT_EQ(json::parse(es[3].payload).at("old_role"), "guest");

  auto p = svc.create_project(member, ws, projects::ProjectInput{"Web", "WEB", std::nullopt, false});
  const std::string pid = p.record.id;
  expect_fails([&] { svc.create_project(member, ws, projects::ProjectInput{"Dup", "WEB", {}, {}}); }, 409);
  svc.add_project_member(member, pid, guest, "viewer");
  auto st = svc.create_state(member, pid, projects::StateInput{"Review", "started", "#123456", std::nullopt});
  svc.update_state(member, pid, st.id, projects::StatePatch{"QA", std::nullopt, std::nullopt});
  auto label = svc.create_label(member, pid, "bug", "#ff0000");
  svc.update_label(member, pid, label.id, std::string("defect"), std::nullopt);
  svc.delete_label(member, pid, label.id);
  svc.update_project(member, pid, projects::ProjectPatch{std::string("Website"), std::nullopt, std::nullopt},
                     IfMatch{});
  svc.remove_project_member(member, pid, guest);
  es = take();
  ASSERT_EQ(types(es), (std::vector<std::string>{"project.created", "project_member.added", "state.created",
                                                 "state.updated", "label.created", "label.updated", "label.deleted",
                                                 "project.updated", "project_member.removed"}));
  for (const auto& e : es) {
    EXPECT_EQ(e.project_id, pid) << e.type;
    EXPECT_EQ(e.workspace_id, ws) << e.type;
  }
  EXPECT_EQ(es[1].user_id, guest);
  EXPECT_EQ(es[3].entity_id, st.id);
  EXPECT_EQ(json::parse(es[3].payload).at("name"), "QA");
  EXPECT_EQ(json::parse(es[7].payload).at("name"), "Website");

  auto inv = svc.invite(owner, ws, "newcomer@example.com", "member");
  svc.revoke_invitation(owner, ws, inv.record.id);
  svc.set_archived(member, pid, true, IfMatch{});
  expect_fails([&] { svc.create_label(member, pid, "late", "#00ff00"); }, 409);
  svc.remove_member(owner, ws, guest);
  es = take();
  ASSERT_EQ(types(es), (std::vector<std::string>{"invitation.created", "invitation.revoked", "project.archived",
                                                 "member.removed"}));
  EXPECT_EQ(es[3].user_id, guest);
  svc.stop();
}

TASKHUB_SQL_BACKENDS(EmissionTest);

}  // namespace
}  // namespace taskhub::events
