// The notifications service on a real database with every migration applied (SQLite file and
// in memory, and PostgreSQL when TASKHUB_TEST_POSTGRES_URL is set): the real outbox and job
// queue, a ManualClock, a recording mailer and a fake directory (users, project visibility).
#include "services/notifications/service.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <mutex>

#include "adapters/sql_test_support.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "ports/migrations.hpp"
#include "services/events/outbox.hpp"
#include "services/jobs/queue.hpp"
#include "services/notifications/render.hpp"
#include "core/tz.hpp"

namespace taskhub::notifications {
namespace {

namespace json = boost::json;

// 2023-11-14T22:13:20Z (ManualClock's default start) is a Tuesday in winter.
constexpr int64_t kT0 = 1'700'000'000'000;

class RecordingMailer final : public Mailer {
 public:
  void send(const EmailMessage& m) override {
    std::lock_guard lk(mu);
    if (fail_next) {
      fail_next = false;
      throw std::runtime_error("SMTP 451 try again");
    }
    sent.push_back(m);
  }
  std::size_t count() {
    std::lock_guard lk(mu);
    return sent.size();
  }
  std::mutex mu;
  std::vector<EmailMessage> sent;
  bool fail_next = false;
};

class NotificationsTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(db());
    clock_.set_ms(kT0);
    outbox_ = std::make_unique<events::SqlOutbox>(db(), clock_);
    queue_ = std::make_unique<jobs::SqlJobQueue>(db(), clock_);
    users_ = {{a_, {"a@example.com", "Ada", ""}}, {b_, {"b@example.com", "Bob", ""}}, {c_, {"c@example.com", "Cy", ""}}};
    svc_ = make(opt_);
  }
  void TearDown() override {
    svc_.reset();
    queue_.reset();
    outbox_.reset();
    SqlBackendTest::TearDown();
  }

  std::unique_ptr<NotificationsService> make(Options o) {
    if (o.token_key.empty()) o.token_key = "k" + std::string(31, 'x');
    Directory d;
    d.user = [this](const std::string& id) -> std::optional<Recipient> {
      auto it = users_.find(id);
      if (it == users_.end()) return std::nullopt;
      return it->second;
    };
    d.project = [this](const std::string& user, const std::string&) -> std::optional<ProjectView> {
      if (user == outsider_) return std::nullopt;
      return ProjectView{"WEB", "Website"};
    };
    d.state_name = [](const std::string&, const std::string&) -> std::optional<std::string> { return "Doing"; };
    return std::make_unique<NotificationsService>(db(), *outbox_, *queue_, mailer_, clock_, std::move(d), std::move(o));
  }

  // Appends events and relays them (sequence + publish) as the events module would.
  void emit(std::vector<events::Event> evs) {
    db().write([&](sql::Connection& c) {
      for (auto& e : evs) outbox_->append(c, e);
    });
    ASSERT_TRUE(outbox_->sequence("relay", 10'000, 1000));
    for (const auto& e : outbox_->unpublished(1000)) outbox_->mark_published(e.seq, e.seq);
  }
  events::Event assign(const std::string& actor, std::vector<std::string> assignees, std::string task = "",
                       std::string title = "Fix login") {
    events::Event e;
    e.type = "task.created";
    e.actor_id = actor;
    e.workspace_id = "w1";
    e.project_id = "p1";
    e.task_id = task.empty() ? new_uuid_v7() : task;
    e.entity_type = "task";
    e.entity_id = e.task_id;
    json::array as;
    for (auto& x : assignees) as.push_back(json::value(x));
    e.payload = json::serialize(json::object{
        {"task", json::object{{"id", e.task_id}, {"number", 12}, {"title", title}, {"state_group", "unstarted"},
                              {"due_date", nullptr}, {"archived_at", nullptr}, {"deleted_at", nullptr},
                              {"assignee_ids", as}}}});
    return e;
  }
  int64_t count(const std::string& sql) {
    return db().read_value([&](sql::Connection& c) { return c.query(sql)[0].i64(0); });
  }
  std::vector<std::string> job_keys(const std::string& kind) {
    return db().read_value([&](sql::Connection& c) {
      auto r = c.query("SELECT job_key FROM jobs WHERE kind = ? ORDER BY job_key", {kind});
      std::vector<std::string> out;
      for (std::size_t i = 0; i < r.size(); ++i) out.push_back(r[i].str(0));
      return out;
    });
  }

  ManualClock clock_;
  RecordingMailer mailer_;
  Options opt_;
  std::unique_ptr<events::SqlOutbox> outbox_;
  std::unique_ptr<jobs::SqlJobQueue> queue_;
  std::unique_ptr<NotificationsService> svc_;
  std::string a_ = new_uuid_v7(), b_ = new_uuid_v7(), c_ = new_uuid_v7(), outsider_ = new_uuid_v7();
  std::map<std::string, Recipient> users_;
};

TEST_P(NotificationsTest, ConsumerIsIdempotentAdvancesItsCursorAndNeverNotifiesTheActor) {
  int64_t start = svc_->cursor();
  emit({assign(a_, {a_, b_, outsider_})});
  auto n = svc_->consume_once("p1", 10'000);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_GT(svc_->cursor(), start);
  EXPECT_EQ(svc_->unread_count(b_), 1);
  EXPECT_EQ(svc_->unread_count(a_), 0);         // the actor
  EXPECT_EQ(svc_->unread_count(outsider_), 0);  // cannot see the project
  auto page = svc_->list(b_, false, std::nullopt, 50);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].kind, "assigned");
  EXPECT_EQ(page.items[0].title, "Ada assigned you to WEB-12 Fix login");
  EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE type = 'notification.created'"), 1);

  // The same events again (a rewound cursor, a second consumer): nothing doubles.
  db().write([&](sql::Connection& c) { c.exec("UPDATE notification_consumer SET last_seq = ?", {start}); });
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  EXPECT_EQ(svc_->unread_count(b_), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE type = 'notification.created'"), 1);
  // Its own notification.created event (now relayed) makes no notification.
  emit({});
  auto again = svc_->consume_once("p1", 10'000);
  ASSERT_TRUE(again);
  EXPECT_EQ(count("SELECT COUNT(*) FROM notifications"), 1);
}

TEST_P(NotificationsTest, OneConsumerAtATimeByLease) {
  emit({assign(a_, {b_})});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  emit({assign(a_, {c_})});
  EXPECT_FALSE(svc_->consume_once("p2", 10'000));  // p1 holds the lease
  EXPECT_EQ(svc_->unread_count(c_), 0);
  clock_.advance_ms(10'001);  // p1 died: its lease runs out
  auto n = svc_->consume_once("p2", 10'000);
  ASSERT_TRUE(n);
  EXPECT_GE(*n, 1u);  // the task event (and p1's notification.created)
  EXPECT_EQ(svc_->unread_count(c_), 1);
  EXPECT_FALSE(svc_->consume_once("p1", 10'000));
  svc_->release("p2");
  EXPECT_TRUE(svc_->consume_once("p1", 10'000));
}

TEST_P(NotificationsTest, PreferencesFilterChannels) {
  PreferencesPatch off;
  off.kinds.emplace_back("assigned", false, false);
  svc_->update_preferences(b_, off);
  PreferencesPatch mail_only;
  mail_only.kinds.emplace_back("assigned", false, true);
  svc_->update_preferences(c_, mail_only);
  emit({assign(a_, {b_, c_})});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  EXPECT_EQ(count("SELECT COUNT(*) FROM notifications WHERE user_id = '" + b_ + "'"), 0);
  EXPECT_EQ(svc_->unread_count(c_), 0);  // in-app off: not listed
  EXPECT_TRUE(svc_->list(c_, false, std::nullopt, 50).items.empty());
  EXPECT_EQ(count("SELECT COUNT(*) FROM notifications WHERE email_state = 'pending'"), 1);  // still mailed
  EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE type = 'notification.created'"), 0);
  auto prefs = svc_->preferences(b_);
  for (const auto& p : prefs.kinds) {
    if (p.kind == "commented") {
      EXPECT_FALSE(p.email);  // watch noise: no e-mail by default
    }
  }
  PreferencesPatch tz;
  tz.timezone = "Nowhere/Special";
  EXPECT_THROW(svc_->update_preferences(b_, tz), ApiError);
}

TEST_P(NotificationsTest, ChangesInOneWindowShareOneEmailSentOnce) {
  emit({assign(a_, {b_}, "", "First"), assign(a_, {b_}, "", "Second")});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  int64_t window = kT0 / opt_.batch_ms;
  auto keys = job_keys("notifications.email_batch");
  ASSERT_EQ(keys, std::vector<std::string>{"email:" + b_ + ":" + std::to_string(window)});
  svc_->run_batch(b_, window);
  ASSERT_EQ(mailer_.count(), 1u);
  const auto& m = mailer_.sent[0];
  EXPECT_EQ(m.to, "b@example.com");
  EXPECT_NE(m.text_body.find("First"), std::string::npos);
  EXPECT_NE(m.text_body.find("Second"), std::string::npos);
  EXPECT_NE(m.html_body.find("Second"), std::string::npos);
  bool one_click = false;
  for (const auto& [k, v] : m.headers) one_click = one_click || (k == "List-Unsubscribe-Post" && v == "List-Unsubscribe=One-Click");
  EXPECT_TRUE(one_click);
  // The job run again (retry, second worker): no second e-mail.
  svc_->run_batch(b_, window);
  EXPECT_EQ(mailer_.count(), 1u);
}

TEST_P(NotificationsTest, HourlyCapHoldsEmailsForALaterBatch) {
  Options o = opt_;
  o.email_hourly_cap = 1;
  svc_ = make(o);
  emit({assign(a_, {b_})});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  svc_->run_batch(b_, kT0 / o.batch_ms);
  ASSERT_EQ(mailer_.count(), 1u);
  clock_.advance_ms(5 * 60'000);
  emit({assign(a_, {b_}, "", "Later")});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  int64_t w2 = clock_.now_ms() / o.batch_ms;
  svc_->run_batch(b_, w2);
  EXPECT_EQ(mailer_.count(), 1u);  // over the cap
  EXPECT_EQ(count("SELECT COUNT(*) FROM notifications WHERE email_state = 'pending'"), 1);
  // Rescheduled for the window after the first e-mail leaves the hour.
  int64_t w3 = (kT0 + 3'600'000 + 1) / o.batch_ms;
  auto keys = job_keys("notifications.email_batch");
  EXPECT_NE(std::find(keys.begin(), keys.end(), "email:" + b_ + ":" + std::to_string(w3)), keys.end());
  clock_.set_ms(kT0 + 3'600'000 + 2);
  svc_->run_batch(b_, w3);
  ASSERT_EQ(mailer_.count(), 2u);
  EXPECT_NE(mailer_.sent[1].text_body.find("Later"), std::string::npos);
}

TEST_P(NotificationsTest, FailedSmtpRetriesButASendingRowIsNeverResent) {
  emit({assign(a_, {b_})});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  int64_t window = kT0 / opt_.batch_ms;
  mailer_.fail_next = true;
  EXPECT_THROW(svc_->run_batch(b_, window), std::runtime_error);  // not accepted: the job retries
  EXPECT_EQ(count("SELECT COUNT(*) FROM email_outbox WHERE state = 'pending'"), 1);
  svc_->run_batch(b_, window);
  EXPECT_EQ(mailer_.count(), 1u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM email_outbox WHERE state = 'sent'"), 1);

  // A worker that died between the SMTP hand-off and recording it left "sending": never resent.
  clock_.advance_ms(opt_.batch_ms);
  emit({assign(a_, {b_})});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  int64_t w2 = clock_.now_ms() / opt_.batch_ms;
  mailer_.fail_next = true;
  EXPECT_THROW(svc_->run_batch(b_, w2), std::runtime_error);
  db().write([&](sql::Connection& c) { c.exec("UPDATE email_outbox SET state = 'sending' WHERE state = 'pending'"); });
  svc_->run_batch(b_, w2);
  EXPECT_EQ(mailer_.count(), 1u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM email_outbox WHERE state = 'abandoned'"), 1);
}

TEST_P(NotificationsTest, CommentMentionsAndWatchers) {
  std::string task = new_uuid_v7();
  emit({assign(a_, {}, task, "Docs")});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));  // the projection knows the task's number and title
  events::Event e;
  e.type = "comment.created";
  e.actor_id = c_;
  e.workspace_id = "w1";
  e.project_id = "p1";
  e.task_id = task;
  e.entity_type = "comment";
  e.payload = json::serialize(json::object{{"id", "cm1"}, {"task_id", task}, {"author_id", c_},
                                           {"body", "hey <script>x</script>"},
                                           {"mention_ids", json::array{json::value(b_)}},
                                           {"watcher_ids", json::array{json::value(a_), json::value(b_), json::value(c_)}}});
  emit({e});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  auto bs = svc_->list(b_, false, std::nullopt, 50).items;
  ASSERT_EQ(bs.size(), 1u);  // mentioned wins over commented
  EXPECT_EQ(bs[0].kind, "mentioned");
  EXPECT_EQ(bs[0].title, "Cy mentioned you on WEB-12 Docs");
  auto as = svc_->list(a_, false, std::nullopt, 50).items;
  ASSERT_EQ(as.size(), 1u);
  EXPECT_EQ(as[0].kind, "commented");
  EXPECT_EQ(svc_->unread_count(c_), 0);  // the author
  // The e-mail renders Markdown without raw HTML.
  svc_->run_batch(b_, kT0 / opt_.batch_ms);
  ASSERT_EQ(mailer_.count(), 1u);
  EXPECT_EQ(mailer_.sent[0].html_body.find("<script>"), std::string::npos);
}

TEST_P(NotificationsTest, DueSoonAndOverdueOncePerTaskDateAndKind) {
  std::string task = new_uuid_v7();
  auto e = assign(a_, {b_}, task, "Ship");
  auto p = json::parse(e.payload);
  p.as_object()["task"].as_object()["due_date"] = "2023-11-15";  // ends 2023-11-16T00:00Z (UTC user)
  e.payload = json::serialize(p);
  emit({e});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  EXPECT_EQ(svc_->scan_due(), 0u);  // 22:13 on the 14th: 25 h 47 min before
  clock_.set_ms(kT0 + 2 * 3'600'000);  // 00:13 on the 15th: within 24 h
  EXPECT_EQ(svc_->scan_due(), 1u);
  EXPECT_EQ(svc_->scan_due(), 0u);
  clock_.set_ms(kT0 + 26 * 3'600'000);  // 2023-11-16T00:13Z
  EXPECT_EQ(svc_->scan_due(), 1u);
  EXPECT_EQ(svc_->scan_due(), 0u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM notifications WHERE kind = 'due_soon'"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM notifications WHERE kind = 'overdue'"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM notifications WHERE kind = 'overdue' AND email_state = 'pending'"), 0);
}

TEST_P(NotificationsTest, DigestAtOrAfterEightLocalOncePerDay) {
  std::string task = new_uuid_v7();
  auto e = assign(a_, {b_}, task, "Old");
  auto p = json::parse(e.payload);
  p.as_object()["task"].as_object()["due_date"] = "2023-11-10";
  e.payload = json::serialize(p);
  emit({e});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  clock_.set_ms(1'700'035'200'000);  // 2023-11-15T08:00Z
  PreferencesPatch tz;
  tz.timezone = "America/Sao_Paulo";  // 05:00 there: too early
  svc_->update_preferences(b_, tz);
  EXPECT_EQ(svc_->run_digest(), 0u);
  tz.timezone = "Europe/London";  // 08:00 there
  svc_->update_preferences(b_, tz);
  EXPECT_EQ(svc_->run_digest(), 1u);
  clock_.advance_ms(30 * 60'000);  // 08:30: the same local day
  EXPECT_EQ(svc_->run_digest(), 0u);
  auto keys = job_keys("notifications.email_send");
  ASSERT_EQ(keys.size(), 1u);
  std::string id = db().read_value(
      [&](sql::Connection& c) { return c.query("SELECT id FROM email_outbox WHERE batch_key LIKE 'digest:%'")[0].str(0); });
  svc_->send_email(id);
  svc_->send_email(id);
  ASSERT_EQ(mailer_.count(), 1u);
  EXPECT_NE(mailer_.sent[0].subject.find("1 overdue task on 2023-11-15"), std::string::npos);
  EXPECT_NE(mailer_.sent[0].text_body.find("WEB-12 Old"), std::string::npos);
  clock_.set_ms(1'700'035'200'000 + 7 * 3'600'000);  // 15:00 in London: still the same local day
  EXPECT_EQ(svc_->run_digest(), 0u);
  // The next day the 08:00 tick is missed (worker down); the 13:00 run still sends that day's digest.
  clock_.set_ms(1'700'035'200'000 + (24 + 5) * 3'600'000);
  EXPECT_EQ(svc_->run_digest(), 1u);
  EXPECT_EQ(db().read_value([&](sql::Connection& c) {
    return c.query("SELECT COUNT(*) FROM email_outbox WHERE batch_key = ?", {"digest:" + b_ + ":2023-11-16"})[0].i64(0);
  }), 1);
}

TEST_P(NotificationsTest, UnsubscribeTokenTamperIsRefused) {
  std::string t = svc_->make_token(b_, {"mentioned", "assigned"});
  auto ok = svc_->verify_token(t);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, b_);
  EXPECT_EQ(ok->second, (std::vector<std::string>{"mentioned", "assigned"}));
  std::string other = svc_->make_token(c_, {"mentioned"});
  // c's body with b's signature, a flipped signature character, garbage.
  EXPECT_FALSE(svc_->verify_token(other.substr(0, other.find('.')) + t.substr(t.find('.'))));
  std::string flipped = t;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(svc_->verify_token(flipped));
  EXPECT_FALSE(svc_->verify_token("nope"));
  Options o = opt_;
  o.token_key = "another key of 32 bytes.........";
  EXPECT_FALSE(make(o)->verify_token(t));  // signed under another key
  EXPECT_TRUE(make(opt_)->verify_token(t));
  EXPECT_THROW(svc_->unsubscribe(flipped), ApiError);
  EXPECT_EQ(svc_->unsubscribe(t).size(), 2u);
  for (const auto& p : svc_->preferences(b_).kinds) {
    if (p.kind == "mentioned" || p.kind == "assigned") {
      EXPECT_FALSE(p.email);
    }
  }
}

TEST_P(NotificationsTest, ForeignIdsAreNotFoundAndPagesAreUnreadFirst) {
  emit({assign(a_, {b_}, "", "One"), assign(a_, {b_}, "", "Two"), assign(a_, {b_}, "", "Three")});
  ASSERT_TRUE(svc_->consume_once("p1", 10'000));
  auto all = svc_->list(b_, false, std::nullopt, 50).items;
  ASSERT_EQ(all.size(), 3u);
  EXPECT_THROW(svc_->mark_read(c_, all[0].id), ApiError);
  EXPECT_THROW(svc_->remove(c_, all[0].id), ApiError);
  svc_->mark_read(b_, all[0].id);  // the newest, now read: last
  auto p1 = svc_->list(b_, false, std::nullopt, 2);
  ASSERT_EQ(p1.items.size(), 2u);
  ASSERT_TRUE(p1.next_cursor);
  auto p2 = svc_->list(b_, false, p1.next_cursor, 2);
  ASSERT_EQ(p2.items.size(), 1u);
  EXPECT_FALSE(p2.next_cursor);
  EXPECT_EQ(p1.items[0].id, all[1].id);
  EXPECT_EQ(p1.items[1].id, all[2].id);
  EXPECT_EQ(p2.items[0].id, all[0].id);
  EXPECT_EQ(svc_->list(b_, true, std::nullopt, 50).items.size(), 2u);
}

TASKHUB_SQL_BACKENDS(NotificationsTest);

TEST(NotificationsTz, OffsetsAndLocalTime) {
  const int64_t jan = 1'704'067'200'000;  // 2024-01-01T00:00Z
  const int64_t jul = 1'719'792'000'000;  // 2024-07-01T00:00Z
  EXPECT_EQ(utc_offset_s("Europe/Paris", jan), 3600);
  EXPECT_EQ(utc_offset_s("Europe/Paris", jul), 7200);
  EXPECT_EQ(utc_offset_s("America/New_York", jan), -5 * 3600);
  EXPECT_EQ(utc_offset_s("Asia/Kolkata", jul), 5 * 3600 + 1800);
  EXPECT_EQ(utc_offset_s("Australia/Sydney", jan), 11 * 3600);
  EXPECT_EQ(utc_offset_s("UTC", jan), 0);
  EXPECT_EQ(utc_offset_s("Etc/GMT-3", jan), 3 * 3600);
  EXPECT_FALSE(utc_offset_s("Mars/Olympus", jan));
  EXPECT_FALSE(utc_offset_s("../../etc/passwd", jan));
  EXPECT_FALSE(utc_offset_s("/etc/passwd", jan));
  // The DST switch in Paris: 2024-03-31T01:00Z.
  EXPECT_EQ(utc_offset_s("Europe/Paris", 1'711'846'799'000), 3600);
  EXPECT_EQ(utc_offset_s("Europe/Paris", 1'711'846'800'000), 7200);
  auto l = to_local(jan - 1, -5 * 3600);  // New Year's Eve, 18:59 in New York
  EXPECT_EQ(l.date, "2023-12-31");
  EXPECT_EQ(l.hour, 18);
  EXPECT_EQ(l.minute, 59);
  auto k = to_local(jul, 5 * 3600 + 1800);
  EXPECT_EQ(k.date, "2024-07-01");
  EXPECT_EQ(k.hour, 5);
  EXPECT_EQ(k.minute, 30);
  EXPECT_EQ(days_from_date("1970-01-01"), 0);
  EXPECT_EQ(days_from_date("2024-02-29"), 19782);
  EXPECT_EQ(date_from_days(19782), "2024-02-29");
  EXPECT_FALSE(days_from_date("2024-13-01"));
  EXPECT_FALSE(days_from_date("20240101"));
}

TEST(NotificationsRender, MarkdownWithoutRawHtml) {
  std::string h = markdown_to_html("**b** <script>alert(1)</script>\n\n<img src=x onerror=y>\n\n[l](javascript:alert(2))");
  EXPECT_NE(h.find("<strong>b</strong>"), std::string::npos);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("<img"), std::string::npos);
  EXPECT_EQ(h.find("javascript:"), std::string::npos);
  EXPECT_EQ(markup_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

}  // namespace
}  // namespace taskhub::notifications
