// TasksService against a real database (SQLite file and memory; PostgreSQL when
// TASKHUB_TEST_POSTGRES_URL is set) with a fake projects client.
#include "services/tasks/service.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include <functional>
#include <limits>
#include <set>

#include "adapters/sql_test_support.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "ports/migrations.hpp"
#include "services/events/outbox.hpp"
#include "services/tasks/fake_projects_client.hpp"
#include "services/tasks/repository.hpp"

namespace taskhub::tasks {
namespace {

using projects::ProjectRole;
using projects::StateGroup;

ApiError expect_error(const std::function<void()>& fn, int status, const std::string& code = "") {
  try {
    fn();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), status) << e.code() << ": " << e.detail();
    if (!code.empty()) {
      EXPECT_EQ(e.code(), code) << e.detail();
    }
    return e;
  }
  ADD_FAILURE() << "expected ApiError " << status << " " << code;
  return ApiError(0, "", "");
}

const IfMatch kAny{};

UpdateTaskInput title_patch(const std::string& title) {
  UpdateTaskInput in;
  in.title = title;
  return in;
}

class TasksServiceTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(db());
    outbox_ = std::make_unique<events::SqlOutbox>(db(), clock_);
    svc_ = std::make_unique<TasksService>(db(), fake_, clock_, outbox_.get());
    alice_ = new_uuid_v7();
    bob_ = new_uuid_v7();
    eve_ = new_uuid_v7();
    viewer_ = new_uuid_v7();
    web_ = fake_.add_project("WEB", alice_);
    api_ = fake_.add_project("API", alice_);
    fake_.add_member(web_, bob_, ProjectRole::member);
    fake_.add_member(web_, viewer_, ProjectRole::viewer);
    fake_.add_project("EVE", eve_);
  }
  void TearDown() override {
    svc_.reset();
    SqlBackendTest::TearDown();
  }
  Task make(const std::string& title, const std::string& project = "") {
    CreateTaskInput in;
    in.title = title;
    return svc_->create_task(alice_, project.empty() ? web_ : project, in);
  }

  testing::FakeProjectsClient fake_;
  ManualClock clock_;
  std::unique_ptr<events::SqlOutbox> outbox_;
  std::unique_ptr<TasksService> svc_;
  std::string alice_, bob_, eve_, viewer_, web_, api_;
};

TEST_P(TasksServiceTest, CreateNumbersAndDefaults) {
  Task a = make("first");
  Task b = make("second");
  Task c = make("other", api_);
  EXPECT_EQ(a.number_text(), "WEB-1");
  EXPECT_EQ(b.number_text(), "WEB-2");
  EXPECT_EQ(c.number_text(), "API-1");
  EXPECT_EQ(a.state_id, fake_.state_of(web_, StateGroup::backlog).id);
  EXPECT_EQ(a.state_group, "backlog");
  EXPECT_LT(a.position, b.position);
  EXPECT_EQ(a.version, 1);
  // Numbers never repeat, even after a delete.
  svc_->delete_task(alice_, b.id, kAny);
  EXPECT_EQ(make("third").number, 3);
  EXPECT_EQ(svc_->get_task_by_number(bob_, web_, 1).id, a.id);
  expect_error([&] { svc_->get_task_by_number(bob_, web_, 2); }, 404);
  auto got = svc_->get_task(bob_, a.id);
  EXPECT_EQ(got.title, "first");
  auto watchers = svc_->list_watchers(alice_, a.id);
  ASSERT_EQ(watchers.size(), 1u);
  EXPECT_EQ(watchers[0].user_id, alice_);
}

TEST_P(TasksServiceTest, CreateValidatesReferences) {
  CreateTaskInput in;
  in.title = "x";
  in.assignee_ids = std::vector<std::string>{eve_};
  expect_error([&] { svc_->create_task(alice_, web_, in); }, 400);
  in.assignee_ids = std::vector<std::string>{bob_};
  in.label_ids = std::vector<std::string>{fake_.add_label(api_)};
  expect_error([&] { svc_->create_task(alice_, web_, in); }, 400);
  in.label_ids = std::vector<std::string>{fake_.add_label(web_)};
  in.state_id = fake_.state_of(api_, StateGroup::started).id;
  expect_error([&] { svc_->create_task(alice_, web_, in); }, 400);
  in.state_id = fake_.state_of(web_, StateGroup::completed).id;
  Task t = svc_->create_task(alice_, web_, in);
  EXPECT_TRUE(t.completed_at.has_value());
  EXPECT_EQ(t.assignee_ids, std::vector<std::string>{bob_});
  EXPECT_EQ(svc_->list_watchers(bob_, t.id).size(), 2u);
  // Another project's parent.
  CreateTaskInput sub;
  sub.title = "sub";
  sub.parent_id = make("p", api_).id;
  expect_error([&] { svc_->create_task(alice_, web_, sub); }, 400);
  // Nothing was created by the refused requests: next number is 3 (t was 1, p... in API).
  EXPECT_EQ(make("next").number, 2);
}

TEST_P(TasksServiceTest, Authorization) {
  Task t = make("secret");
  expect_error([&] { svc_->get_task(eve_, t.id); }, 404);
  expect_error([&] { svc_->get_task(eve_, "not-a-uuid"); }, 404);
  expect_error([&] { svc_->update_task(eve_, t.id, title_patch("x"), kAny); }, 404);
  expect_error([&] { svc_->delete_task(eve_, t.id, kAny); }, 404);
  expect_error([&] { svc_->list_tasks(eve_, web_, TaskQuery{}); }, 404);
  expect_error([&] { svc_->add_comment(eve_, t.id, "hi"); }, 404);
  expect_error([&] { svc_->watch(eve_, t.id, true); }, 404);
  // Viewer: reads fine, writes 403.
  EXPECT_EQ(svc_->get_task(viewer_, t.id).id, t.id);
  expect_error([&] { svc_->update_task(viewer_, t.id, title_patch("x"), kAny); }, 403);
  expect_error([&] { svc_->delete_task(viewer_, t.id, kAny); }, 403);
  expect_error([&] { svc_->add_comment(viewer_, t.id, "hi"); }, 403);
  CreateTaskInput in;
  in.title = "v";
  expect_error([&] { svc_->create_task(viewer_, web_, in); }, 403);
  // Archived project: read-only for everyone.
  fake_.set_archived(web_, true);
  expect_error([&] { svc_->update_task(alice_, t.id, title_patch("x"), kAny); }, 409,
               "project-archived");
  EXPECT_EQ(svc_->get_task(alice_, t.id).title, "secret");
}

TEST_P(TasksServiceTest, PatchMergeVersionAndCompletedAt) {
  Task t = make("t");
  UpdateTaskInput in;
  in.title = "renamed";
  in.due_date = std::optional<std::string>("2026-12-01");
  in.state_id = fake_.state_of(web_, StateGroup::completed).id;
  in.priority = 4;
  Task u = svc_->update_task(bob_, t.id, in, parse_if_match("\"v1\""));
  EXPECT_EQ(u.title, "renamed");
  EXPECT_EQ(u.version, 2);
  EXPECT_EQ(u.state_group, "completed");
  EXPECT_TRUE(u.completed_at.has_value());
  EXPECT_EQ(u.due_date.value_or(""), "2026-12-01");
  // Stale If-Match: 412, nothing changed.
  expect_error([&] { svc_->update_task(bob_, t.id, title_patch("stale"), parse_if_match("\"v1\"")); },
               412);
  EXPECT_EQ(svc_->get_task(bob_, t.id).title, "renamed");
  // null clears; other fields untouched.
  UpdateTaskInput clear;
  clear.due_date = std::optional<std::string>();
  clear.state_id = fake_.state_of(web_, StateGroup::started).id;
  Task v = svc_->update_task(bob_, t.id, clear, kAny);
  EXPECT_FALSE(v.due_date.has_value());
  EXPECT_FALSE(v.completed_at.has_value());
  EXPECT_EQ(v.title, "renamed");
  EXPECT_EQ(v.priority, 4);
  // No-op patch does not bump the version.
  EXPECT_EQ(svc_->update_task(bob_, t.id, title_patch("renamed"), kAny).version, v.version);
  // Activity newest first.
  auto act = svc_->list_activity(bob_, t.id, 50, std::nullopt);
  ASSERT_GE(act.items.size(), 5u);
  EXPECT_EQ(act.items.back().kind, "created");
  std::set<std::string> fields;
  for (const auto& a : act.items)
    if (a.field) fields.insert(*a.field);
  EXPECT_TRUE(fields.count("title") && fields.count("due_date") && fields.count("state_id") &&
              fields.count("priority"));
}

TEST_P(TasksServiceTest, SubtaskCycleAndDepth) {
  std::vector<Task> chain{make("level1")};
  for (int i = 2; i <= kMaxDepth; ++i) {
    CreateTaskInput in;
    in.title = "level" + std::to_string(i);
    in.parent_id = chain.back().id;
    chain.push_back(svc_->create_task(alice_, web_, in));
  }
  CreateTaskInput too_deep;
  too_deep.title = "level6";
  too_deep.parent_id = chain.back().id;
  expect_error([&] { svc_->create_task(alice_, web_, too_deep); }, 409, "too-deep");
  UpdateTaskInput cyc;
  cyc.parent_id = std::optional<std::string>(chain[3].id);
  expect_error([&] { svc_->update_task(alice_, chain[1].id, cyc, kAny); }, 409, "parent-cycle");
  cyc.parent_id = std::optional<std::string>(chain[0].id);
  expect_error([&] { svc_->update_task(alice_, chain[0].id, cyc, kAny); }, 409, "parent-cycle");
  // Moving a subtree under another task respects the depth bound.
  Task other = make("other");
  cyc.parent_id = std::optional<std::string>(other.id);
  expect_error([&] { svc_->update_task(alice_, chain[0].id, cyc, kAny); }, 409, "too-deep");
  cyc.parent_id = std::optional<std::string>(other.id);
  EXPECT_EQ(svc_->update_task(alice_, chain[1].id, cyc, kAny).parent_id.value_or(""), other.id);
}

TEST_P(TasksServiceTest, PositionMoveChangesOneRow) {
  Task a = make("a"), b = make("b"), c = make("c");
  UpdateTaskInput mv;
  mv.after_id = a.id;
  Task moved = svc_->update_task(alice_, c.id, mv, kAny);
  EXPECT_GT(moved.position, a.position);
  EXPECT_LT(moved.position, b.position);
  EXPECT_EQ(svc_->get_task(alice_, b.id).version, 1);
  TaskQuery q;
  q.sort = SortField::position;
  auto page = svc_->list_tasks(alice_, web_, q);
  ASSERT_EQ(page.items.size(), 3u);
  EXPECT_EQ(page.items[0].id, a.id);
  EXPECT_EQ(page.items[1].id, c.id);
  EXPECT_EQ(page.items[2].id, b.id);
  UpdateTaskInput before;
  before.before_id = a.id;
  svc_->update_task(alice_, b.id, before, kAny);
  page = svc_->list_tasks(alice_, web_, q);
  EXPECT_EQ(page.items[0].id, b.id);
  // Anchor in another project refused.
  UpdateTaskInput bad;
  bad.after_id = make("x", api_).id;
  expect_error([&] { svc_->update_task(alice_, a.id, bad, kAny); }, 400);
}

TEST_P(TasksServiceTest, ListFiltersSortAndPagination) {
  std::vector<Task> all;
  for (int i = 0; i < 23; ++i) {
    CreateTaskInput in;
    in.title = "t" + std::to_string(i);
    in.priority = i % 5;
    if (i % 3 == 0) in.assignee_ids = std::vector<std::string>{bob_};
    if (i % 4 == 0) in.due_date = "2026-01-" + std::string(i < 10 ? "0" : "") + std::to_string(i + 1);
    all.push_back(svc_->create_task(alice_, web_, in));
    clock_.advance_ms(i % 2);  // ties on created_at
  }
  for (auto sort : {SortField::created_at, SortField::priority, SortField::due_date, SortField::number,
                    SortField::position, SortField::updated_at}) {
    for (bool desc : {false, true}) {
      TaskQuery q;
      q.sort = sort;
      q.descending = desc;
      q.limit = 4;
      std::set<std::string> seen;
      int pages = 0;
      for (;;) {
        auto page = svc_->list_tasks(alice_, web_, q);
        for (const auto& t : page.items) EXPECT_TRUE(seen.insert(t.id).second) << "duplicate " << t.title;
        ++pages;
        if (!page.next_cursor) break;
        q.cursor = page.next_cursor;
        ASSERT_LT(pages, 20);
      }
      EXPECT_EQ(seen.size(), all.size()) << static_cast<int>(sort) << " " << desc;
    }
  }
  TaskQuery q;
  q.assignee = bob_;
  EXPECT_EQ(svc_->list_tasks(alice_, web_, q).items.size(), 8u);
  q.assignee = "none";
  EXPECT_EQ(svc_->list_tasks(alice_, web_, q).items.size(), 15u);
  TaskQuery p;
  p.priorities = {4};
  EXPECT_EQ(svc_->list_tasks(alice_, web_, p).items.size(), 4u);
  TaskQuery d;
  d.due_before = "2026-01-10";
  EXPECT_EQ(svc_->list_tasks(alice_, web_, d).items.size(), 3u);  // 1st, 5th, 9th
  clock_.set_ms(1'800'000'000'000);  // 2027
  TaskQuery o;
  o.overdue = true;
  EXPECT_EQ(svc_->list_tasks(alice_, web_, o).items.size(), 6u);
  // My tasks: assigned to bob across projects.
  EXPECT_EQ(svc_->my_tasks(bob_, TaskQuery{}).items.size(), 8u);
  EXPECT_TRUE(svc_->my_tasks(eve_, TaskQuery{}).items.empty());
  // Archived tasks leave the default list.
  svc_->set_archived(alice_, all[0].id, true, kAny);
  EXPECT_EQ(svc_->list_tasks(alice_, web_, TaskQuery{}).items.size(), 22u);
  TaskQuery arch;
  arch.archived = true;
  EXPECT_EQ(svc_->list_tasks(alice_, web_, arch).items.size(), 1u);
  expect_error([&] {
    TaskQuery bad;
    bad.cursor = "garbage";
    svc_->list_tasks(alice_, web_, bad);
  }, 400);
}

TEST_P(TasksServiceTest, DeleteRestore) {
  Task t = make("t");
  svc_->delete_task(alice_, t.id, kAny);
  expect_error([&] { svc_->get_task(alice_, t.id); }, 404);
  EXPECT_TRUE(svc_->list_tasks(alice_, web_, TaskQuery{}).items.empty());
  Task r = svc_->restore_task(alice_, t.id);
  EXPECT_FALSE(r.deleted_at.has_value());
  EXPECT_EQ(svc_->get_task(alice_, t.id).id, t.id);
  expect_error([&] { svc_->restore_task(eve_, t.id); }, 404);
}

TEST_P(TasksServiceTest, CommentsAndMentions) {
  Task t = make("t");
  Comment c = svc_->add_comment(bob_, t.id, "hello @" + alice_ + " and @" + eve_ + " mail x@" + bob_);
  EXPECT_EQ(c.mention_ids, std::vector<std::string>{alice_});  // eve is no member; x@... is e-mail text
  Comment d = svc_->add_comment(alice_, t.id, "second");
  auto page = svc_->list_comments(viewer_, t.id, 1, std::nullopt);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].id, c.id);
  page = svc_->list_comments(viewer_, t.id, 1, page.next_cursor);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].id, d.id);
  EXPECT_FALSE(page.next_cursor.has_value());
  // Own edits; admins may edit anyone's; members may not edit others'.
  expect_error([&] { svc_->update_comment(bob_, d.id, "nope", kAny); }, 403);
  Comment e = svc_->update_comment(alice_, c.id, "admin edit", kAny);
  EXPECT_EQ(e.version, 2);
  expect_error([&] { svc_->update_comment(bob_, c.id, "stale", parse_if_match("\"v1\"")); }, 412);
  expect_error([&] { svc_->get_comment(eve_, c.id); }, 404);
  svc_->delete_comment(bob_, c.id, kAny);
  expect_error([&] { svc_->get_comment(bob_, c.id); }, 404);
  auto act = svc_->list_activity(alice_, t.id, 2, std::nullopt);
  ASSERT_EQ(act.items.size(), 2u);
  EXPECT_EQ(act.items[0].kind, "comment_deleted");
  EXPECT_TRUE(act.next_cursor.has_value());
}

TEST_P(TasksServiceTest, BulkIsAllOrNothing) {
  Task a = make("a"), b = make("b"), other = make("o", api_);
  BulkUpdateInput in;
  in.task_ids = {a.id, b.id, other.id};
  in.priority = 3;
  in.archived = true;
  expect_error([&] { svc_->bulk_update(alice_, web_, in); }, 400);
  EXPECT_EQ(svc_->get_task(alice_, a.id).priority, 0);
  EXPECT_EQ(svc_->get_task(alice_, a.id).version, 1);
  in.task_ids = {a.id, b.id};
  in.state_id = fake_.state_of(web_, StateGroup::completed).id;
  auto out = svc_->bulk_update(alice_, web_, in);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& t : out) {
    EXPECT_EQ(t.priority, 3);
    EXPECT_TRUE(t.archived_at && t.completed_at);
    EXPECT_EQ(t.version, 2);
  }
  expect_error([&] { svc_->bulk_update(viewer_, web_, in); }, 403);
}

TEST_P(TasksServiceTest, RelationsBothSides) {
  Task a = make("a"), b = make("b"), other = make("o", api_);
  Relation r = svc_->add_relation(alice_, a.id, "blocked_by", b.id);
  EXPECT_EQ(r.kind, "blocked_by");
  EXPECT_EQ(r.target_id, b.id);
  auto from_b = svc_->list_relations(bob_, b.id);
  ASSERT_EQ(from_b.size(), 1u);
  EXPECT_EQ(from_b[0].kind, "blocks");
  EXPECT_EQ(from_b[0].target_id, a.id);
  expect_error([&] { svc_->add_relation(alice_, b.id, "blocks", a.id); }, 409);
  expect_error([&] { svc_->add_relation(alice_, a.id, "relates_to", other.id); }, 400);
  expect_error([&] { svc_->add_relation(alice_, a.id, "relates_to", a.id); }, 400);
  expect_error([&] { svc_->add_relation(viewer_, a.id, "relates_to", b.id); }, 403);
  expect_error([&] { svc_->remove_relation(alice_, other.id, r.id); }, 404);
  svc_->remove_relation(alice_, b.id, r.id);
  EXPECT_TRUE(svc_->list_relations(alice_, a.id).empty());
  auto act = svc_->list_activity(alice_, a.id, 1, std::nullopt);
  EXPECT_EQ(act.items[0].kind, "relation_removed");
}

TEST_P(TasksServiceTest, FullTextSearch) {
  CreateTaskInput in;
  in.title = "Login page broken";
  in.description = "Safari shows a blank screen";
  Task a = svc_->create_task(alice_, web_, in);
  Task b = make("Unrelated");
  svc_->add_comment(alice_, b.id, "the checkout flow needs caching");
  TaskQuery q;
  q.text = "login";
  auto r = svc_->list_tasks(alice_, web_, q);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].id, a.id);
  q.text = "caching";
  r = svc_->list_tasks(alice_, web_, q);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].id, b.id);
  q.text = "safari \"blank";  // a stray quote is ignored, not an FTS syntax error
  EXPECT_EQ(svc_->list_tasks(alice_, web_, q).items.size(), 1u);
  q.text = "safari checkout";  // every word must match
  EXPECT_TRUE(svc_->list_tasks(alice_, web_, q).items.empty());
  q.text = "safari blank";
  EXPECT_EQ(svc_->list_tasks(alice_, web_, q).items.size(), 1u);
  UpdateTaskInput up;
  up.title = "Signup page";
  svc_->update_task(alice_, a.id, up, kAny);
  q.text = "login";
  EXPECT_TRUE(svc_->list_tasks(alice_, web_, q).items.empty());
  q.text = "signup";
  EXPECT_EQ(svc_->list_tasks(alice_, web_, q).items.size(), 1u);
  // Ranked: pages visit each hit exactly once, best first (a title match beats a description match).
  std::string top;
  for (int i = 0; i < 5; ++i) {
    CreateTaskInput more;
    more.title = i == 3 ? "cache warmup" : "misc";
    more.description = "something about the cache layer and cache misses";
    auto t = svc_->create_task(alice_, web_, more);
    if (i == 3) top = t.id;
  }
  TaskQuery rq;
  rq.text = "cache";
  rq.sort = SortField::relevance;
  rq.limit = 2;
  std::vector<std::string> seen;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = svc_->list_tasks(alice_, web_, rq);
    for (const auto& t : page.items) seen.push_back(t.id);
    if (!page.next_cursor) break;
    rq.cursor = page.next_cursor;
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 5u);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), top);
  svc_->purge_project(web_);
  EXPECT_TRUE(svc_->list_tasks(alice_, web_, TaskQuery{}).items.empty());
}

// Tasks created by concurrent requests share one transaction (SQLite's group commit), and their
// search rows reach the index together at its end: every one is found, once, by its own word.
TEST_P(TasksServiceTest, TasksCreatedTogetherAreAllSearchable) {
  constexpr int kThreads = 8, kEach = 6;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        CreateTaskInput in;
        in.title = "together word" + std::to_string(t * 100 + i);
        svc_->create_task(alice_, web_, in);
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) {
      const std::string word = "word" + std::to_string(t * 100 + i);
      TaskQuery q;
      q.text = word;
      auto r = svc_->list_tasks(alice_, web_, q);
      ASSERT_EQ(r.items.size(), 1u) << word;
      EXPECT_EQ(r.items[0].title, "together " + word);
    }
  TaskQuery all;
  all.text = "together";
  all.limit = 100;
  EXPECT_EQ(svc_->list_tasks(alice_, web_, all).items.size(), static_cast<std::size_t>(kThreads * kEach));
  if (db().dialect() == sql::Dialect::sqlite) {  // nothing left staged between transactions
    const int64_t staged = db().read_value(
        [](sql::Connection& c) { return c.query("SELECT count(*) FROM task_search_staging").first()->i64(0); });
    EXPECT_EQ(staged, 0);
  }
}

TEST_P(TasksServiceTest, TasksCreatedTogetherGetDistinctNumbersAndPositions) {
  // On PostgreSQL creates run side by side (the number is reserved outside the create's
  // transaction): still one number each, no two new tasks at the same position, and every one of
  // them lands after the tasks that were there before.
  CreateTaskInput first;
  first.title = "before";
  const Task before = svc_->create_task(alice_, web_, first);
  constexpr int kThreads = 8, kEach = 5;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<Task> made;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        CreateTaskInput in;
        in.title = "together";
        Task task = svc_->create_task(alice_, web_, in);
        std::lock_guard lk(mu);
        made.push_back(std::move(task));
      }
    });
  for (auto& th : threads) th.join();
  std::set<int64_t> numbers;
  std::set<double> positions;
  for (const auto& t : made) {
    numbers.insert(t.number);
    positions.insert(t.position);
    EXPECT_GT(t.position, before.position);
    EXPECT_EQ(svc_->get_task(alice_, t.id).number, t.number);
  }
  EXPECT_EQ(numbers.size(), made.size());
  EXPECT_EQ(positions.size(), made.size());
  EXPECT_EQ(*numbers.begin(), before.number + 1);
  EXPECT_EQ(*numbers.rbegin(), before.number + kThreads * kEach) << "no number skipped";
}

TEST_P(TasksServiceTest, ARefusedCreateTakesNoNumber) {
  CreateTaskInput in;
  in.title = "one";
  const Task one = svc_->create_task(alice_, web_, in);
  CreateTaskInput bad;
  bad.title = "orphan";
  bad.parent_id = new_uuid_v7();
  EXPECT_THROW(svc_->create_task(alice_, web_, bad), ApiError);
  const Task two = svc_->create_task(alice_, web_, in);
  EXPECT_EQ(two.number, one.number + 1);
}

TEST_P(TasksServiceTest, FullTextSearchStaysInItsProject) {
  // On SQLite the index is scoped by a per-project token: a search reads only its project's
  // matches, and the words never match that token.
  CreateTaskInput in;
  in.title = "deploy pipeline";
  Task w = svc_->create_task(alice_, web_, in);
  Task a = svc_->create_task(alice_, api_, in);
  svc_->add_comment(alice_, a.id, "pipeline is green");
  for (const auto& [project, expect] : {std::pair{web_, w.id}, std::pair{api_, a.id}}) {
    for (SortField sort : {SortField::created_at, SortField::relevance}) {
      TaskQuery q;
      q.text = "pipeline";
      q.sort = sort;
      auto r = svc_->list_tasks(alice_, project, q);
      ASSERT_EQ(r.items.size(), 1u);
      EXPECT_EQ(r.items[0].id, expect);
    }
  }
  TaskQuery by_token;  // a project's scope token typed as a search word finds nothing
  by_token.text = repo::fts5_scope_token(web_);
  EXPECT_TRUE(svc_->list_tasks(alice_, web_, by_token).items.empty());
  // "My tasks" over both projects (assigned to alice) finds both.
  UpdateTaskInput assign;
  assign.assignee_ids = std::vector<std::string>{alice_};
  svc_->update_task(alice_, w.id, assign, kAny);
  svc_->update_task(alice_, a.id, assign, kAny);
  TaskQuery mine;
  mine.text = "pipeline";
  EXPECT_EQ(svc_->my_tasks(alice_, mine).items.size(), 2u);
  if (db().dialect() == sql::Dialect::sqlite) {
    // The SQL that writes the token and the C++ that queries it agree.
    auto token = db().read_value([&](sql::Connection& c) {
      return c.query(std::string("SELECT ") + repo::kFts5ScopeSql + " FROM tasks WHERE id = ?", {w.id}).first()->str(0);
    });
    EXPECT_EQ(token, repo::fts5_scope_token(web_));
    EXPECT_EQ(token.find('-'), std::string::npos);
  }
}

TEST_P(TasksServiceTest, WatchUnwatch) {
  Task t = make("t");
  svc_->watch(viewer_, t.id, true);
  EXPECT_EQ(svc_->list_watchers(alice_, t.id).size(), 2u);
  svc_->watch(viewer_, t.id, false);
  svc_->watch(alice_, t.id, false);
  EXPECT_TRUE(svc_->list_watchers(alice_, t.id).empty());
}

CustomValueInput cv_string(const std::string& field, const std::string& s) {
  CustomValueInput v;
  v.field_id = field;
  v.kind = CustomValueInput::Kind::string;
  v.text = s;
  return v;
}
CustomValueInput cv_number(const std::string& field, double d) {
  CustomValueInput v;
  v.field_id = field;
  v.kind = CustomValueInput::Kind::number;
  v.number = d;
  return v;
}
CustomValueInput cv_strings(const std::string& field, std::vector<std::string> items) {
  CustomValueInput v;
  v.field_id = field;
  v.kind = CustomValueInput::Kind::strings;
  v.items = std::move(items);
  return v;
}
CustomValueInput cv_null(const std::string& field) {
  CustomValueInput v;
  v.field_id = field;
  return v;
}
UpdateTaskInput cf_patch(std::vector<CustomValueInput> values) {
  UpdateTaskInput in;
  in.custom_fields = std::move(values);
  return in;
}
CustomFieldInput field_input(const std::string& name, const std::string& type,
                             std::vector<std::string> options = {}) {
  CustomFieldInput in;
  in.name = name;
  in.type = type;
  for (auto& o : options) in.options.push_back(FieldOptionInput{std::nullopt, o, std::nullopt});
  return in;
}

TEST_P(TasksServiceTest, CustomFieldsDefineAndAuthorize) {
  auto in = field_input("Severity", "single_select", {"Low", "High"});
  in.options[1].color = "#ff0000";
  CustomField f = svc_->create_field(alice_, web_, in);
  EXPECT_EQ(f.type, "single_select");
  ASSERT_EQ(f.options.size(), 2u);
  EXPECT_EQ(f.options[1].color, std::optional<std::string>("#ff0000"));
  expect_error([&] { svc_->create_field(bob_, web_, field_input("X", "text")); }, 403);
  expect_error([&] { svc_->create_field(viewer_, web_, field_input("X", "text")); }, 403);
  expect_error([&] { svc_->create_field(eve_, web_, field_input("X", "text")); }, 404);
  expect_error([&] { svc_->create_field(alice_, web_, field_input("severity", "text")); }, 409,
               "custom-field-name-taken");
  expect_error([&] { svc_->create_field(alice_, web_, field_input("T", "text", {"a"})); }, 400);
  expect_error([&] { svc_->create_field(alice_, web_, field_input("T", "colour")); }, 400);
  expect_error([&] { svc_->create_field(alice_, web_, field_input("S", "multi_select", {"a", "A"})); }, 400);
  // Same name in another project is fine.
  svc_->create_field(alice_, api_, field_input("Severity", "text"));

  EXPECT_EQ(svc_->list_fields(viewer_, web_).size(), 1u);
  expect_error([&] { svc_->list_fields(eve_, web_); }, 404);
  EXPECT_EQ(svc_->get_field(bob_, web_, f.id).name, "Severity");
  expect_error([&] { svc_->get_field(bob_, api_, f.id); }, 404);  // not a member of API
  expect_error([&] { svc_->get_field(alice_, api_, f.id); }, 404);  // field of another project

  CustomFieldPatch p;
  p.name = "Impact";
  expect_error([&] { svc_->update_field(bob_, web_, f.id, p, kAny); }, 403);
  expect_error([&] { svc_->update_field(eve_, web_, f.id, p, kAny); }, 404);
  expect_error([&] { svc_->update_field(alice_, web_, f.id, p, IfMatch{true, false, {999}}); }, 412);
  CustomField g = svc_->update_field(alice_, web_, f.id, p, kAny);
  EXPECT_EQ(g.name, "Impact");
  EXPECT_EQ(g.version, f.version + 1);
  expect_error([&] { svc_->delete_field(viewer_, web_, f.id, kAny); }, 403);
  svc_->delete_field(alice_, web_, f.id, kAny);
  expect_error([&] { svc_->get_field(alice_, web_, f.id); }, 404);
}

TEST_P(TasksServiceTest, CustomValuesSetFilterAndActivity) {
  CustomField text = svc_->create_field(alice_, web_, field_input("Notes", "text"));
  CustomField num = svc_->create_field(alice_, web_, field_input("Points", "number"));
  CustomField date = svc_->create_field(alice_, web_, field_input("Review", "date"));
  CustomField one = svc_->create_field(alice_, web_, field_input("Sev", "single_select", {"low", "high"}));
  CustomField many = svc_->create_field(alice_, web_, field_input("Tags", "multi_select", {"a", "b", "c"}));
  CustomField who = svc_->create_field(alice_, web_, field_input("Owner", "user"));
  CustomField foreign = svc_->create_field(alice_, api_, field_input("Notes", "text"));
  Task t = make("t");
  Task u = make("u");

  Task got = svc_->update_task(bob_, t.id,
                               cf_patch({cv_string(text.id, "hello"), cv_number(num.id, 2.5),
                                         cv_string(date.id, "2026-02-03"), cv_string(one.id, one.options[1].id),
                                         cv_strings(many.id, {many.options[2].id, many.options[0].id}),
                                         cv_string(who.id, bob_)}),
                               kAny);
  EXPECT_EQ(got.version, t.version + 1);
  EXPECT_EQ(got.custom_values.size(), 7u);
  EXPECT_EQ(svc_->get_task(viewer_, t.id).custom_values, got.custom_values);
  svc_->update_task(alice_, u.id, cf_patch({cv_strings(many.id, {many.options[2].id}), cv_number(num.id, 3)}), kAny);

  // Wrong values: 400 and nothing changed (title neither).
  auto bad = [&](CustomValueInput v) {
    UpdateTaskInput in = cf_patch({v});
    in.title = "changed";
    expect_error([&] { svc_->update_task(alice_, t.id, in, kAny); }, 400);
  };
  bad(cv_string(text.id, std::string(2001, 'x')));
  bad(cv_string(num.id, "2"));
  bad(cv_number(num.id, std::numeric_limits<double>::infinity()));
  bad(cv_string(date.id, "2026-02-30"));
  bad(cv_string(one.id, many.options[0].id));
  bad(cv_strings(many.id, {one.options[0].id}));
  bad(cv_string(who.id, eve_));
  bad(cv_string(foreign.id, "x"));
  bad(cv_string(new_uuid_v7(), "x"));
  Task same = svc_->get_task(alice_, t.id);
  EXPECT_EQ(same.title, "t");
  EXPECT_EQ(same.version, got.version);
  EXPECT_EQ(same.custom_values, got.custom_values);
  // Viewers cannot set values.
  expect_error([&] { svc_->update_task(viewer_, t.id, cf_patch({cv_null(text.id)}), kAny); }, 403);

  // Filters: equality; multi_select contains; numbers compare as numbers.
  auto ids = [&](std::vector<std::pair<std::string, std::string>> filters) {
    TaskQuery q;
    q.custom_filters = std::move(filters);
    std::set<std::string> out;
    for (const auto& x : svc_->list_tasks(alice_, web_, q).items) out.insert(x.id);
    return out;
  };
  EXPECT_EQ(ids({{text.id, "hello"}}), std::set<std::string>{t.id});
  EXPECT_EQ(ids({{many.id, many.options[2].id}}), (std::set<std::string>{t.id, u.id}));
  EXPECT_EQ(ids({{many.id, many.options[0].id}}), std::set<std::string>{t.id});
  EXPECT_EQ(ids({{num.id, "2.50"}}), std::set<std::string>{t.id});
  EXPECT_EQ(ids({{num.id, "3"}, {many.id, many.options[2].id}}), std::set<std::string>{u.id});
  EXPECT_TRUE(ids({{who.id, alice_}}).empty());
  expect_error([&] { ids({{foreign.id, "x"}}); }, 400);
  expect_error([&] { ids({{num.id, "abc"}}); }, 400);
  TaskQuery mine;
  mine.custom_filters = {{num.id, "3"}};
  svc_->update_task(alice_, u.id, [&] {
    UpdateTaskInput in;
    in.assignee_ids = std::vector<std::string>{alice_};
    return in;
  }(), kAny);
  ASSERT_EQ(svc_->my_tasks(alice_, mine).items.size(), 1u);

  // Activity records the change.
  auto act = svc_->list_activity(alice_, t.id, 50, std::nullopt).items;
  bool found = false;
  for (const auto& a : act)
    if (a.field == "custom_fields." + text.id && a.new_value == "hello" && !a.old_value) found = true;
  EXPECT_TRUE(found);

  // Clearing; dropping an option removes its values; deleting a field removes its values.
  Task cleared = svc_->update_task(alice_, t.id, cf_patch({cv_null(text.id), cv_strings(many.id, {})}), kAny);
  EXPECT_EQ(cleared.custom_values.size(), 4u);
  CustomFieldPatch drop;
  drop.options = std::vector<FieldOptionInput>{FieldOptionInput{one.options[0].id, "low", std::nullopt}};
  svc_->update_field(alice_, web_, one.id, drop, kAny);
  EXPECT_EQ(svc_->get_task(alice_, t.id).custom_values.size(), 3u);
  svc_->delete_field(alice_, web_, num.id, kAny);
  EXPECT_EQ(svc_->get_task(alice_, t.id).custom_values.size(), 2u);
  EXPECT_EQ(svc_->get_task(alice_, u.id).custom_values.size(), 1u);  // its Tags value stays
  expect_error([&] { ids({{num.id, "3"}}); }, 400);
}

TEST_P(TasksServiceTest, LabelDeletedHookRemovesTheLabel) {
  std::string l1 = fake_.add_label(web_), l2 = fake_.add_label(web_);
  CreateTaskInput in;
  in.title = "t";
  in.label_ids = std::vector<std::string>{l1, l2};
  Task t = svc_->create_task(alice_, web_, in);
  Task other = make("other");
  svc_->remove_label(web_, l1);
  Task after = svc_->get_task(alice_, t.id);
  EXPECT_EQ(after.label_ids, std::vector<std::string>{l2});
  EXPECT_EQ(after.version, t.version + 1);
  EXPECT_EQ(svc_->get_task(alice_, other.id).version, other.version);
  svc_->remove_label(api_, l2);  // another project: nothing
  EXPECT_EQ(svc_->get_task(alice_, t.id).label_ids, std::vector<std::string>{l2});
}

TEST_P(TasksServiceTest, PurgeDeletedTasks) {
  const int64_t day = 24 * 3600 * 1000LL;
  Task parent = make("parent");
  CreateTaskInput sub;
  sub.title = "child";
  sub.parent_id = parent.id;
  Task child = svc_->create_task(alice_, web_, sub);
  Task old2 = make("old2");
  Task recent = make("recent");
  svc_->add_comment(alice_, parent.id, "a comment");
  svc_->react(alice_, false, parent.id, "heart", true);
  svc_->add_relation(alice_, old2.id, "blocks", recent.id);
  svc_->delete_task(alice_, parent.id, kAny);
  svc_->delete_task(alice_, old2.id, kAny);
  clock_.advance_ms(20 * day);
  svc_->delete_task(alice_, recent.id, kAny);
  clock_.advance_ms(11 * day);
  EXPECT_EQ(svc_->purge_deleted(30 * day, 1), 2);
  EXPECT_EQ(svc_->purge_deleted(30 * day, 1), 0);
  expect_error([&] { svc_->restore_task(alice_, parent.id); }, 404);
  expect_error([&] { svc_->restore_task(alice_, old2.id); }, 404);
  EXPECT_EQ(svc_->restore_task(alice_, recent.id).id, recent.id);
  Task c = svc_->get_task(alice_, child.id);
  EXPECT_FALSE(c.parent_id.has_value());
  EXPECT_TRUE(svc_->list_relations(alice_, recent.id).empty());
}

// Every list query is served by an index: no plan step scans the tasks table itself.
TEST(TasksQueryPlans, ListQueriesUseIndexes) {
  auto db = sql::open_database("sqlite::memory:");
  sql::migrate(*db);
  const std::string pid = new_uuid_v7(), pid2 = new_uuid_v7(), uid = new_uuid_v7();
  std::vector<TaskQuery> queries;
  for (auto sort : {SortField::created_at, SortField::updated_at, SortField::priority, SortField::due_date,
                    SortField::position, SortField::number})
    for (bool desc : {false, true}) {
      TaskQuery q;
      q.sort = sort;
      q.descending = desc;
      queries.push_back(q);
    }
  TaskQuery f;
  f.state_ids = {new_uuid_v7()};
  f.state_groups = {"started"};
  f.assignee = uid;
  f.label_id = new_uuid_v7();
  f.priorities = {3, 4};
  f.due_before = "2026-01-01";
  f.overdue = true;
  f.parent_id = new_uuid_v7();
  f.created_by = uid;
  f.updated_since = 1;
  f.text = "login \"bug";
  f.custom_filters = {{new_uuid_v7(), "x"}, {new_uuid_v7(), "2.5"}};
  queries.push_back(f);
  TaskQuery none;
  none.assignee = "none";
  none.parent_id = "none";
  queries.push_back(none);
  TaskQuery ranked;
  ranked.text = "login";
  ranked.sort = SortField::relevance;
  queries.push_back(ranked);
  for (const auto& q : queries) {
    for (bool mine : {false, true}) {
      for (bool with_after : {false, true}) {
        std::optional<std::pair<sql::Param, std::string>> after;
        if (with_after) after.emplace(q.sort == SortField::due_date    ? sql::Param("2026-01-01")
                                      : q.sort == SortField::relevance ? sql::Param(-1.5)
                                                                       : sql::Param(5),
                                      new_uuid_v7());
        std::vector<std::string> pids = mine ? std::vector<std::string>{pid, pid2} : std::vector<std::string>{pid};
        auto [text, params] = repo::build_task_query(pids, q, mine ? std::optional<std::string>(uid) : std::nullopt,
                                                     "2026-06-01", after, 51);
        auto plan = db->read_value([&](sql::Connection& c) { return c.query("EXPLAIN QUERY PLAN " + text, params); });
        for (std::size_t i = 0; i < plan.size(); ++i) {
          std::string detail = plan[i].str(plan[i].size() - 1);
          bool full_scan = detail.rfind("SCAN tasks", 0) == 0 && detail.find("INDEX") == std::string::npos;
          EXPECT_FALSE(full_scan) << detail << "\n" << text;
        }
      }
    }
  }
}

TEST(TasksHelpers, DatesSortMentions) {
  EXPECT_TRUE(valid_date("2024-02-29"));
  EXPECT_FALSE(valid_date("2023-02-29"));
  EXPECT_FALSE(valid_date("2023-13-01"));
  EXPECT_FALSE(valid_date("2023-1-01"));
  EXPECT_EQ(parse_sort("-priority")->first, SortField::priority);
  EXPECT_TRUE(parse_sort("-priority")->second);
  EXPECT_FALSE(parse_sort("title").has_value());
  std::string id = new_uuid_v7();
  EXPECT_EQ(parse_mentions("@" + id + " @" + id + " a@" + id).size(), 1u);
}

TASKHUB_SQL_BACKENDS(TasksServiceTest);

}  // namespace
}  // namespace taskhub::tasks
