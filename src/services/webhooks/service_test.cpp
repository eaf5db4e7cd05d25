// Webhooks on a real database with every migration applied (SQLite file and memory, and
// PostgreSQL when TASKHUB_TEST_POSTGRES_URL is set): the signature against fixed vectors, the
// outbox consumer's fan-out (type filters, idempotency by (webhook, event), the lease), and the
// API rules (admins only, SSRF refusal with field "url").
#include "services/webhooks/service.hpp"

#include <gtest/gtest.h>

#include <map>

#include "adapters/sql_test_support.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "ports/migrations.hpp"
#include "services/events/outbox.hpp"
#include "services/jobs/queue.hpp"

namespace taskhub::webhooks {
namespace {

TEST(WebhookSignature, KnownVectors) {
  // RFC 4231, test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // timestamp + "." + body, as docs/webhooks.md tells receivers to verify it.
  EXPECT_EQ(signature_header("whsec_test_secret_0123456789", "1700000000", R"({"id":"e1"})"),
            "sha256=8eb6f4d5727e88e6b41d457858f44f5111bfe1cc327fbbcc7a1cf9275b502092");
}

TEST(WebhookTypes, Matching) {
  EXPECT_TRUE(type_matches({"*"}, "task.created"));
  EXPECT_TRUE(type_matches({"task.created"}, "task.created"));
  EXPECT_FALSE(type_matches({"task.created"}, "task.updated"));
  EXPECT_TRUE(type_matches({"task.*"}, "task.updated"));
  EXPECT_FALSE(type_matches({"task.*"}, "tasks.updated"));
  EXPECT_FALSE(type_matches({"task.*"}, "comment.created"));
  EXPECT_FALSE(type_matches({}, "task.created"));
}

class FakeProjects final : public projects::Client {
 public:
  std::map<std::pair<std::string, std::string>, projects::ProjectRole> roles;
  std::optional<projects::ProjectAccess> project_access(const std::string& user_id,
                                                        const std::string& project_id) override {
    auto it = roles.find({user_id, project_id});
    if (it == roles.end()) return std::nullopt;
    projects::ProjectAccess a;
    a.project_id = project_id;
    a.workspace_id = "ws-1";
    a.role = it->second;
    return a;
  }
  std::vector<projects::ProjectAccess> visible_projects(const std::string&) override { return {}; }
  std::vector<projects::StateInfo> states(const std::string&) override { return {}; }
  std::optional<projects::StateInfo> state(const std::string&, const std::string&) override { return std::nullopt; }
  std::optional<projects::StateInfo> default_state(const std::string&) override { return std::nullopt; }
  std::vector<std::string> existing_labels(const std::string&, const std::vector<std::string>&) override { return {}; }
  std::vector<std::string> project_members(const std::string&, const std::vector<std::string>&) override {
    return {};
  }
};

class WebhookServiceTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(db());
    outbox_ = std::make_unique<events::SqlOutbox>(db(), clock_);
    queue_ = std::make_unique<jobs::SqlJobQueue>(db(), clock_);
    Options o;
    o.allow = AllowList::from_config({}, {});
    svc_ = std::make_unique<WebhookService>(db(), projects_, *outbox_, *queue_, nullptr, nullptr, clock_, o);
    project_ = new_uuid_v7();
    projects_.roles[{"admin", project_}] = projects::ProjectRole::admin;
    projects_.roles[{"member", project_}] = projects::ProjectRole::member;
  }
  void TearDown() override {
    svc_.reset();
    queue_.reset();
    outbox_.reset();
    SqlBackendTest::TearDown();
  }

  std::string add_webhook(std::vector<std::string> types, bool active = true) {
    Webhook w;
    w.id = new_uuid_v7();
    w.project_id = project_;
    w.workspace_id = "ws-1";
    w.url = "https://93.184.216.34/hook";
    w.secret = "whsec_0123456789abcdef";
    w.event_types = std::move(types);
    w.active = active;
    w.created_by = "admin";
    w.created_at = w.updated_at = clock_.now_ms();
    db().write([&](sql::Connection& c) { repo::insert_webhook(c, w); });
    return w.id;
  }
  void emit(const std::string& type, const std::string& project) {
    events::Event e;
    e.type = type;
    e.project_id = project;
    e.workspace_id = "ws-1";
    e.entity_type = "task";
    e.entity_id = new_uuid_v7();
    e.payload = R"({"task":{"title":"x"}})";
    db().write([&](sql::Connection& c) { outbox_->append(c, e); });
  }
  void relay() { ASSERT_TRUE(outbox_->sequence("relay", 10'000, 1000)); }
  int64_t count(const std::string& sql) {
    return db().read_value([&](sql::Connection& c) { return c.query(sql)[0].i64(0); });
  }

  ManualClock clock_;
  FakeProjects projects_;
  std::unique_ptr<events::SqlOutbox> outbox_;
  std::unique_ptr<jobs::SqlJobQueue> queue_;
  std::unique_ptr<WebhookService> svc_;
  std::string project_;
};

TEST_P(WebhookServiceTest, FanOutMatchesTypesAndIsIdempotent) {
  std::string all = add_webhook({"*"});
  std::string tasks_only = add_webhook({"task.*"});
  add_webhook({"comment.created"});
  add_webhook({"*"}, /*active=*/false);
  clock_.advance_ms(1);
  emit("task.created", project_);
  emit("comment.created", project_);
  emit("task.updated", "other-project");
  emit("webhook.disabled", project_);  // never fanned out
  relay();

  auto n = svc_->consume_once("h1");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 4u);
  // all: task.created + comment.created; task.*: task.created; comment.created: 1.
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_deliveries"), 4);
  EXPECT_EQ(count("SELECT COUNT(*) FROM jobs WHERE kind = 'webhook.deliver'"), 4);
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = '" + all + "'"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = '" + tasks_only + "'"), 1);
  // Every job's key is its delivery's id.
  EXPECT_EQ(count("SELECT COUNT(*) FROM jobs j JOIN webhook_deliveries d ON d.id = j.job_key"), 4);

  // Nothing new: nothing consumed.
  n = svc_->consume_once("h1");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);

  // A consumer that crashed after creating deliveries but before its cursor moved (simulated by
  // rewinding the cursor) reads the same events again: no second delivery, no second job.
  db().write([&](sql::Connection& c) { c.exec("UPDATE webhook_consumer SET last_seq = 0"); });
  n = svc_->consume_once("h1");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_deliveries"), 4);
  EXPECT_EQ(count("SELECT COUNT(*) FROM jobs WHERE kind = 'webhook.deliver'"), 4);
}

// Counts write units (the consumer's cost per pass).
class CountingDatabase final : public sql::Database {
 public:
  explicit CountingDatabase(sql::Database& inner) : inner_(inner) {}
  sql::Dialect dialect() const override { return inner_.dialect(); }
  void write(const std::function<void(sql::Connection&)>& fn) override {
    ++writes;
    inner_.write(fn);
  }
  void read(const std::function<void(sql::Connection&)>& fn) override { inner_.read(fn); }
  bool ping() noexcept override { return inner_.ping(); }
  int writes = 0;

 private:
  sql::Database& inner_;
};

TEST_P(WebhookServiceTest, APassIsOneWriteAndAnIdlePassWithAFreshLeaseNone) {
  CountingDatabase counting(db());
  Options o;
  o.allow = AllowList::from_config({}, {});
  WebhookService svc(counting, projects_, *outbox_, *queue_, nullptr, nullptr, clock_, o);
  add_webhook({"*"});
  clock_.advance_ms(1);
  emit("task.created", project_);
  relay();
  auto n = svc.consume_once("h1");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(counting.writes, 1) << "the lease is claimed in the write that moves the cursor";
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_deliveries"), 1);
  n = svc.consume_once("h1");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(counting.writes, 1) << "idle, and the lease is more than half valid: nothing written";
  clock_.advance_ms(o.consumer_lease_ms * 6 / 10);
  n = svc.consume_once("h1");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(counting.writes, 2) << "idle, but the lease is renewed before it runs out";
  EXPECT_FALSE(svc.consume_once("h2")) << "h1 holds the renewed lease";
  EXPECT_EQ(counting.writes, 2) << "a consumer that sees a valid lease of another writes nothing";
}

TEST_P(WebhookServiceTest, OneConsumerAtATime) {
  add_webhook({"*"});
  clock_.advance_ms(1);
  emit("task.created", project_);
  relay();
  ASSERT_TRUE(svc_->consume_once("h1"));
  EXPECT_FALSE(svc_->consume_once("h2")) << "h1's lease is still valid";
  clock_.advance_ms(11'000);
  emit("task.updated", project_);
  relay();
  auto n = svc_->consume_once("h2");
  ASSERT_TRUE(n) << "an expired lease is taken over";
  EXPECT_EQ(*n, 1u) << "the new holder continues from the stored cursor";
  EXPECT_FALSE(svc_->consume_once("h1"));
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_deliveries"), 2);
}

TEST_P(WebhookServiceTest, EventsBeforeCreationAreNotDelivered) {
  emit("task.created", project_);
  relay();
  clock_.advance_ms(5);
  add_webhook({"*"});
  auto n = svc_->consume_once("h1");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_deliveries"), 0);
}

TEST_P(WebhookServiceTest, ApiRules) {
  WebhookInput in;
  in.url = "http://127.0.0.1:8080/hook";
  try {
    svc_->create("admin", project_, in);
    FAIL() << "loopback accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 422);
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0].field, "url");
  }
  in.url = "https://93.184.216.34/hook";
  try {
    svc_->create("member", project_, in);
    FAIL() << "member accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 403);
  }
  try {
    svc_->create("stranger", project_, in);
    FAIL() << "stranger accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
  }
  auto created = svc_->create("admin", project_, in);
  EXPECT_EQ(created.secret.rfind("whsec_", 0), 0u);
  EXPECT_EQ(created.webhook.event_types, std::vector<std::string>{"*"});
  EXPECT_THROW(svc_->get("stranger", created.webhook.id), ApiError);
  in.event_types = std::vector<std::string>{"Task Created"};
  try {
    svc_->update("admin", created.webhook.id, in);
    FAIL() << "bad type accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.errors()[0].field, "event_types[0]");
  }
  WebhookInput plain;
  plain.url = "https://93.184.216.34/other";
  for (int i = 1; i < kMaxWebhooksPerProject; ++i) svc_->create("admin", project_, plain);
  try {
    svc_->create("admin", project_, plain);
    FAIL() << "limit not enforced";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
  }
}

// A receiver that refuses connections (nothing listens on 127.0.0.1:1; allowed by the list).
TEST_P(WebhookServiceTest, FailingForADayDisablesAndNotifiesOnce) {
  Options o;
  o.allow = AllowList::from_config({}, {"127.0.0.1/32"});
  o.send.timeout_ms = 1000;
  o.max_attempts = 3;
  svc_ = std::make_unique<WebhookService>(db(), projects_, *outbox_, *queue_, nullptr, nullptr, clock_, o);
  std::string hid = add_webhook({"*"});
  db().write([&](sql::Connection& c) { c.exec("UPDATE webhooks SET url = 'http://127.0.0.1:1/' WHERE id = ?", {hid}); });
  clock_.advance_ms(1);
  emit("task.created", project_);
  emit("task.updated", project_);
  relay();
  ASSERT_TRUE(svc_->consume_once("h1"));
  std::vector<std::string> ids;
  db().read([&](sql::Connection& c) {
    auto r = c.query("SELECT id FROM webhook_deliveries ORDER BY id");
    for (std::size_t i = 0; i < r.size(); ++i) ids.push_back(r[i].str(0));
  });
  ASSERT_EQ(ids.size(), 2u);
  auto job = [&](const std::string& id, int attempt) {
    jobs::Job j;
    j.id = new_uuid_v7();
    j.kind = kDeliverKind;
    j.payload = R"({"delivery_id":")" + id + R"("})";
    j.key = id;
    j.attempt = attempt;
    j.max_attempts = 3;
    return j;
  };
  auto webhook = [&] { return db().read_value([&](sql::Connection& c) { return repo::find_webhook(c, hid); }).value(); };

  const int64_t first_failure = clock_.now_ms();
  EXPECT_THROW(svc_->deliver(job(ids[0], 1)), std::runtime_error);
  EXPECT_TRUE(webhook().active);
  EXPECT_EQ(webhook().failing_since.value_or(0), first_failure);
  auto d = db().read_value([&](sql::Connection& c) { return repo::find_delivery(c, ids[0]); }).value();
  EXPECT_EQ(d.status, "retrying");
  EXPECT_EQ(d.attempts, 1);
  EXPECT_FALSE(d.response_code);

  clock_.advance_ms(23 * 3600 * 1000LL);
  EXPECT_THROW(svc_->deliver(job(ids[0], 2)), std::runtime_error);
  EXPECT_TRUE(webhook().active) << "23 hours is not a day";
  EXPECT_EQ(webhook().failing_since.value_or(0), first_failure) << "the failure clock is not restarted";

  clock_.advance_ms(3600 * 1000LL + 1);
  EXPECT_THROW(svc_->deliver(job(ids[0], 3)), std::runtime_error);
  Webhook w = webhook();
  EXPECT_FALSE(w.active);
  EXPECT_TRUE(w.disabled_reason);
  d = db().read_value([&](sql::Connection& c) { return repo::find_delivery(c, ids[0]); }).value();
  EXPECT_EQ(d.status, "failed");
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_attempts WHERE delivery_id = '" + ids[0] + "'"), 3);
  EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE type = 'webhook.disabled' AND user_id = 'admin'"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM jobs WHERE kind = 'webhook.disabled_mail'"), 1);

  // The other delivery of the now disabled webhook is skipped, without an attempt or a second notice.
  EXPECT_NO_THROW(svc_->deliver(job(ids[1], 1)));
  d = db().read_value([&](sql::Connection& c) { return repo::find_delivery(c, ids[1]); }).value();
  EXPECT_EQ(d.status, "skipped");
  EXPECT_EQ(d.attempts, 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE type = 'webhook.disabled'"), 1);
  // A re-run of a finished delivery's job does nothing.
  EXPECT_NO_THROW(svc_->deliver(job(ids[0], 3)));
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_attempts WHERE delivery_id = '" + ids[0] + "'"), 3);

  // Re-enabled by an admin: the failure clock starts again.
  WebhookInput on;
  on.active = true;
  Webhook back = svc_->update("admin", hid, on);
  EXPECT_TRUE(back.active);
  EXPECT_FALSE(back.failing_since);
  EXPECT_FALSE(back.disabled_reason);
}

TEST_P(WebhookServiceTest, PurgeKeepsRecentAndUnfinishedDeliveries) {
  std::string hid = add_webhook({"*"});
  auto add = [&](const std::string& status, int64_t created) {
    Delivery d;
    d.id = new_uuid_v7();
    d.webhook_id = hid;
    d.event_id = new_uuid_v7();
    d.event_type = "task.created";
    d.body = "{}";
    d.status = status;
    d.created_at = d.updated_at = created;
    db().write([&](sql::Connection& c) {
      repo::insert_delivery(c, d);
      repo::record_attempt(c, d.id, Attempt{1, "failed", 500, 3, "answered 500", created}, status);
    });
  };
  const int64_t old = clock_.now_ms() - kLogRetentionMs - 1;
  add("succeeded", old);
  add("failed", old);
  add("retrying", old);  // still in the queue's hands
  add("succeeded", clock_.now_ms());
  EXPECT_EQ(svc_->purge_log(), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_deliveries"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM webhook_attempts"), 2);
}

TASKHUB_SQL_BACKENDS(WebhookServiceTest);

}  // namespace
}  // namespace taskhub::webhooks
