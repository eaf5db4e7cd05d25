// The realtime hub without sockets: a recording StreamConnection, an in-memory outbox and a
// projects client whose memberships the test changes. Events go in through publish_local,
// as the bus would deliver them.
#include "services/realtime/hub.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "core/ids.hpp"
#include "http/stream.hpp"

namespace taskhub::realtime {
namespace {

namespace json = boost::json;

std::string S(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : json::serialize(v); }

class RecordingConn final : public http::StreamConnection {
 public:
  bool send(std::shared_ptr<const std::string> text) override {
    std::lock_guard lk(mu);
    if (closed) return false;
    sent.push_back(*text);
    return true;
  }
  void close(uint16_t c, std::string r) override {
    std::lock_guard lk(mu);
    if (closed) return;
    closed = true;
    code = c;
    reason = std::move(r);
  }
  bool is_open() const override {
    std::lock_guard lk(mu);
    return !closed;
  }
  std::vector<json::object> messages() {
    std::lock_guard lk(mu);
    std::vector<json::object> out;
    for (const auto& s : sent) out.push_back(json::parse(s).as_object());
    return out;
  }
  std::vector<json::object> take() {
    auto m = messages();
    std::lock_guard lk(mu);
    sent.clear();
    return m;
  }
  mutable std::mutex mu;
  std::vector<std::string> sent;
  bool closed = false;
  uint16_t code = 0;
  std::string reason;
};

class MemOutbox final : public events::Outbox {
 public:
  void append(sql::Connection&, events::Event) override {}
  std::vector<events::Event> since(int64_t after, std::size_t limit) override {
    std::vector<events::Event> out;
    for (const auto& e : log)
      if (e.seq > after && out.size() < limit) out.push_back(e);
    return out;
  }
  std::optional<int64_t> seq_of(const std::string& id) override {
    for (const auto& e : log)
      if (e.id == id) return e.seq;
    return std::nullopt;
  }
  int64_t last_seq() override { return log.empty() ? 0 : log.back().seq; }
  std::vector<events::Event> log;
};

class Access final : public projects::Client {
 public:
  std::map<std::string, std::string> workspace_of;              // project -> workspace
  std::set<std::pair<std::string, std::string>> members;  // (user, project)
  std::set<std::pair<std::string, std::string>> ws_members;       // (user, workspace)
  std::atomic<int> lookups{0};

  std::optional<projects::ProjectAccess> project_access(const std::string& u, const std::string& p) override {
    ++lookups;
    if (!members.count({u, p})) return std::nullopt;
    projects::ProjectAccess a;
    a.project_id = p;
    a.workspace_id = workspace_of[p];
    return a;
  }
  std::optional<projects::WorkspaceRole> workspace_role(const std::string& u, const std::string& w) override {
    if (!ws_members.count({u, w})) return std::nullopt;
    return projects::WorkspaceRole::member;
  }
  std::vector<projects::ProjectAccess> visible_projects(const std::string&) override { return {}; }
  std::vector<projects::StateInfo> states(const std::string&) override { return {}; }
  std::optional<projects::StateInfo> state(const std::string&, const std::string&) override { return std::nullopt; }
  std::optional<projects::StateInfo> default_state(const std::string&) override { return std::nullopt; }
  std::vector<std::string> existing_labels(const std::string&, const std::vector<std::string>&) override { return {}; }
  std::vector<std::string> project_members(const std::string&, const std::vector<std::string>&) override { return {}; }
};

class RealtimeHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws1 = new_uuid_v7();
    p1 = new_uuid_v7();
    p2 = new_uuid_v7();
    t1 = new_uuid_v7();
    access.workspace_of[p1] = ws1;
    access.workspace_of[p2] = ws1;
    access.members.insert({alice, p1});
    access.members.insert({alice, p2});
    access.ws_members.insert({alice, ws1});
    access.members.insert({bob, p1});
    access.ws_members.insert({bob, ws1});
    opt.auth_timeout = std::chrono::milliseconds(200);
    make_hub();
  }
  void TearDown() override { hub->stop(); }

  void make_hub() {
    hub = std::make_unique<Hub>(
        opt, &outbox, nullptr, access,
        [this](std::string_view token) -> std::optional<Principal> {
          if (token == "tok-alice") return Principal{alice};
          if (token == "tok-bob") return Principal{bob};
          // Expiring credentials: "exp-<user>-<token id>-<expires at ms>".
          if (token.rfind("exp-", 0) == 0) {
            std::string t(token.substr(4));
            auto a = t.find('-'), b = t.rfind('-');
            Principal p{t.substr(0, a) == "alice" ? alice : bob};
            p.token_id = t.substr(a + 1, b - a - 1);
            p.expires_at_ms = std::stoll(t.substr(b + 1));
            return p;
          }
          return std::nullopt;
        },
        [this](const std::string& user, const std::string& task) -> std::optional<std::string> {
          if (task == t1 && access.members.count({user, p1})) return p1;
          return std::nullopt;
        },
        [this](const Principal& p) {
          std::lock_guard lk(revoked_mu);
          ++credential_checks;
          return !revoked.count(p.token_id);
        });
    hub->start();
  }

  // An open, authenticated WebSocket session.
  struct Client {
    std::shared_ptr<http::StreamHandler> handler;
    std::shared_ptr<RecordingConn> conn;
  };
  Client open(const std::string& token = "") {
    Client c{hub->websocket_session(), std::make_shared<RecordingConn>()};
    c.handler->on_open(c.conn);
    if (!token.empty()) {
      say(c, json::object{{"type", "auth"}, {"token", token}});
      auto m = c.conn->take();
      EXPECT_EQ(m.size(), 1u);
      if (!m.empty()) {
        EXPECT_EQ(S(m[0].at("type")), "auth_ok");
      }
    }
    return c;
  }
  void say(Client& c, const json::object& o) {
    c.handler->on_message(json::serialize(o));
    hub->flush();
  }
  json::object sub(Client& c, const std::string& channel, std::optional<std::string> last = std::nullopt) {
    json::object o{{"type", "subscribe"}, {"channel", channel}};
    if (last) o["last_event_id"] = *last;
    say(c, o);
    auto m = c.conn->take();
    EXPECT_FALSE(m.empty());
    return m.empty() ? json::object{} : m.front();
  }
  events::Event publish(const std::string& type, const std::string& project, const std::string& task = "",
                        const std::string& user = "") {
    events::Event e;
    e.id = new_uuid_v7();
    e.seq = ++seq;
    e.type = type;
    e.time_ms = 1'700'000'000'000;
    e.workspace_id = project.empty() ? ws1 : access.workspace_of[project];
    e.project_id = project;
    e.task_id = task;
    e.user_id = user;
    e.entity_type = "task";
    e.entity_id = task;
    e.payload = R"({"title":"x"})";
    outbox.log.push_back(e);
    hub->publish_local(e);
    hub->flush();
    return e;
  }
  static std::vector<std::string> types(const std::vector<json::object>& m) {
    std::vector<std::string> out;
    for (const auto& o : m) out.emplace_back(o.at("type").as_string());
    return out;
  }

  std::string alice = new_uuid_v7(), bob = new_uuid_v7();
  std::string ws1, p1, p2, t1;
  std::mutex revoked_mu;
  std::set<std::string> revoked;  // token ids
  int credential_checks = 0;
  int64_t seq = 0;
  Options opt;
  MemOutbox outbox;
  Access access;
  std::unique_ptr<Hub> hub;
};

TEST(RealtimeChannel, Parse) {
  std::string me = new_uuid_v7(), id = new_uuid_v7();
  EXPECT_EQ(parse_channel("user:me", me)->key(), "user:" + me);
  EXPECT_EQ(parse_channel("project:" + id, me)->key(), "project:" + id);
  EXPECT_EQ(parse_channel("task:" + id, me)->kind, Channel::Kind::task);
  EXPECT_FALSE(parse_channel("project:abc", me));
  EXPECT_FALSE(parse_channel("board:" + id, me));
  EXPECT_FALSE(parse_channel("project", me));
  EXPECT_FALSE(parse_channel("", me));
}

TEST(RealtimeEventJson, FieldsAndBadPayload) {
  events::Event e;
  e.id = "e1";
  e.seq = 7;
  e.type = "task.created";
  e.time_ms = 0;
  e.project_id = "p";
  e.payload = "{not json";
  auto o = json::parse(event_json(e)).as_object();
  EXPECT_EQ(S(o.at("id")), "e1");
  EXPECT_EQ(S(o.at("type")), "task.created");
  EXPECT_EQ(o.at("seq").as_int64(), 7);
  EXPECT_TRUE(o.at("task_id").is_null());
  EXPECT_TRUE(o.at("payload").as_object().empty());
}

TEST(RealtimeSendQueue, BoundedInMessagesAndBytes) {
  http::SendQueue q(3, 100);
  auto msg = [](std::size_t n) { return std::make_shared<const std::string>(std::string(n, 'x')); };
  EXPECT_EQ(q.push(msg(10)), http::SendQueue::Push::queued);
  EXPECT_EQ(q.push(msg(10)), http::SendQueue::Push::queued);
  EXPECT_EQ(q.push(msg(10)), http::SendQueue::Push::queued);
  EXPECT_EQ(q.bytes(), 30u);
  EXPECT_EQ(q.push(msg(10)), http::SendQueue::Push::overflow);  // fourth message
  EXPECT_EQ(q.size(), 0u);                                      // dropped, not grown
  EXPECT_EQ(q.push(msg(1)), http::SendQueue::Push::closed);
  auto n = q.next();
  EXPECT_TRUE(n.closing);
  EXPECT_EQ(n.code, http::kCloseSlowConsumer);
  EXPECT_EQ(n.reason, "slow consumer");

  http::SendQueue b(100, 50);
  EXPECT_EQ(b.push(msg(40)), http::SendQueue::Push::queued);
  EXPECT_EQ(b.push(msg(11)), http::SendQueue::Push::overflow);  // bytes bound

  http::SendQueue c(10, 1000);
  c.push(msg(5));
  EXPECT_TRUE(c.request_close(1000, "bye"));
  EXPECT_FALSE(c.request_close(4001, "again"));
  EXPECT_TRUE(c.next().msg);  // what was queued goes first
  auto last = c.next();
  EXPECT_TRUE(last.closing);
  EXPECT_EQ(last.code, 1000);
  c.mark_closed();
  EXPECT_TRUE(c.next().closed);
}

TEST_F(RealtimeHubTest, AuthFirstOrClosed4001) {
  auto c = open();
  say(c, json::object{{"type", "subscribe"}, {"channel", "user:me"}});
  EXPECT_TRUE(c.conn->closed);
  EXPECT_EQ(c.conn->code, 4001);

  auto d = open();
  say(d, json::object{{"type", "auth"}, {"token", "wrong"}});
  EXPECT_EQ(d.conn->code, 4001);

  auto idle = open();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  hub->publish_local(events::Event{});  // wakes the dispatcher
  hub->flush();
  EXPECT_EQ(idle.conn->code, 4001);
  EXPECT_EQ(idle.conn->reason, "authentication timeout");

  auto ok = open("tok-alice");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  hub->flush();
  EXPECT_FALSE(ok.conn->closed);
}

TEST_F(RealtimeHubTest, SubscribeDeliversOnlyPermittedChannels) {
  auto a = open("tok-alice");
  auto b = open("tok-bob");
  EXPECT_EQ(S(sub(a, "project:" + p2).at("type")), "subscribed");
  auto denied = sub(b, "project:" + p2);
  auto unknown = sub(b, "project:" + new_uuid_v7());
  EXPECT_EQ(S(denied.at("code")), "channel-not-found");
  EXPECT_EQ(S(denied.at("message")), S(unknown.at("message")));  // no existence oracle
  EXPECT_EQ(S(sub(b, "user:" + alice).at("code")), "channel-not-found");
  EXPECT_EQ(S(sub(b, "project:nope").at("code")), "invalid-channel");

  auto e = publish("task.created", p2, new_uuid_v7());
  auto got = a.conn->take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(S(got[0].at("id")), e.id);
  EXPECT_EQ(S(got[0].at("type")), "task.created");
  EXPECT_TRUE(b.conn->take().empty());
}

TEST_F(RealtimeHubTest, WorkspaceChannelSkipsProjectsTheUserCannotSee) {
  auto b = open("tok-bob");
  EXPECT_EQ(S(sub(b, "workspace:" + ws1).at("type")), "subscribed");
  publish("task.created", p2, new_uuid_v7());  // bob is not in p2
  EXPECT_TRUE(b.conn->take().empty());
  publish("task.created", p1, new_uuid_v7());
  EXPECT_EQ(b.conn->take().size(), 1u);
  publish("member.added", "");  // workspace-level
  EXPECT_EQ(types(b.conn->take()), std::vector<std::string>{"member.added"});
}

TEST_F(RealtimeHubTest, TaskAndUserChannels) {
  auto a = open("tok-alice");
  EXPECT_EQ(S(sub(a, "task:" + t1).at("type")), "subscribed");
  EXPECT_EQ(S(sub(a, "user:me").at("type")), "subscribed");
  EXPECT_EQ(S(sub(a, "task:" + new_uuid_v7()).at("code")), "channel-not-found");
  publish("task.updated", p1, t1);
  publish("task.updated", p1, new_uuid_v7());  // another task
  publish("notification.created", "", "", alice);
  publish("notification.created", "", "", bob);
  EXPECT_EQ(types(a.conn->take()), (std::vector<std::string>{"task.updated", "notification.created"}));
}

TEST_F(RealtimeHubTest, OneCopyPerEventAcrossOverlappingChannels) {
  auto a = open("tok-alice");
  sub(a, "project:" + p1);
  sub(a, "workspace:" + ws1);
  sub(a, "task:" + t1);
  publish("task.updated", p1, t1);
  EXPECT_EQ(a.conn->take().size(), 1u);
}

TEST_F(RealtimeHubTest, RemovedMembershipEndsSubscription) {
  auto b = open("tok-bob");
  sub(b, "project:" + p1);
  publish("task.created", p1, new_uuid_v7());
  EXPECT_EQ(b.conn->take().size(), 1u);
  access.members.erase({bob, p1});
  publish("project_member.removed", p1);
  auto m = b.conn->take();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(S(m[0].at("type")), "unsubscribed");
  EXPECT_EQ(S(m[0].at("reason")), "access-revoked");
  publish("task.created", p1, new_uuid_v7());
  EXPECT_TRUE(b.conn->take().empty());
}

TEST_F(RealtimeHubTest, RemovedWithoutAMembershipEventEndsOnceTheCacheExpires) {
  opt.access_ttl = std::chrono::milliseconds(50);
  hub->stop();
  make_hub();
  auto b = open("tok-bob");
  sub(b, "project:" + p1);
  access.members.erase({bob, p1});
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  publish("task.created", p1, new_uuid_v7());
  EXPECT_EQ(types(b.conn->take()), std::vector<std::string>{"unsubscribed"});
}

TEST_F(RealtimeHubTest, PermissionAnswersAreCached) {
  auto a = open("tok-alice");
  sub(a, "project:" + p1);
  int before = access.lookups.load();
  for (int i = 0; i < 20; ++i) publish("task.created", p1, new_uuid_v7());
  EXPECT_LE(access.lookups.load() - before, 1);
  EXPECT_EQ(a.conn->take().size(), 20u);
}

TEST_F(RealtimeHubTest, ResumeReplaysExactlyTheMissedEventsThenLive) {
  auto e1 = publish("task.created", p1, new_uuid_v7());
  auto e2 = publish("task.created", p1, new_uuid_v7());
  publish("task.created", p2, new_uuid_v7());  // another channel
  auto e3 = publish("task.updated", p1, new_uuid_v7());
  auto a = open("tok-alice");
  say(a, json::object{{"type", "subscribe"}, {"channel", "project:" + p1}, {"last_event_id", e1.id}});
  auto m = a.conn->take();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(S(m[0].at("type")), "subscribed");
  EXPECT_EQ(S(m[1].at("id")), e2.id);
  EXPECT_EQ(S(m[2].at("id")), e3.id);
  // An event both in the replay and still queued for live delivery is sent once.
  hub->publish_local(e3);
  hub->flush();
  EXPECT_TRUE(a.conn->take().empty());
  auto e4 = publish("task.created", p1, new_uuid_v7());
  m = a.conn->take();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(S(m[0].at("id")), e4.id);
}

TEST_F(RealtimeHubTest, ResumeOfOverlappingChannelsSendsEachEventOnce) {
  auto e1 = publish("task.created", p1, t1);
  auto e2 = publish("task.updated", p1, t1);  // on project:p1 and task:t1
  auto conn = std::make_shared<RecordingConn>();
  auto h = hub->sse_session(Principal{alice},
                            {*parse_channel("project:" + p1, alice), *parse_channel("task:" + t1, alice)}, e1.id);
  h->on_open(conn);
  hub->flush();
  std::lock_guard lk(conn->mu);
  ASSERT_EQ(conn->sent.size(), 1u);
  EXPECT_EQ(conn->sent[0].rfind("id: " + e2.id, 0), 0u);
}

TEST_F(RealtimeHubTest, UnknownOrTooOldLastEventIdAsksForReload) {
  auto a = open("tok-alice");
  say(a, json::object{{"type", "subscribe"}, {"channel", "project:" + p1}, {"last_event_id", "nope"}});
  EXPECT_EQ(types(a.conn->take()), (std::vector<std::string>{"subscribed", "reload"}));

  opt.replay_max = 2;
  hub->stop();
  make_hub();
  auto first = publish("task.created", p1, new_uuid_v7());
  for (int i = 0; i < 5; ++i) publish("task.created", p1, new_uuid_v7());
  auto b = open("tok-alice");
  say(b, json::object{{"type", "subscribe"}, {"channel", "project:" + p1}, {"last_event_id", first.id}});
  auto m = types(b.conn->take());
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m.back(), "reload");
}

TEST_F(RealtimeHubTest, SubscriptionCountIsBounded) {
  opt.max_subscriptions = 2;
  hub->stop();
  make_hub();
  auto a = open("tok-alice");
  sub(a, "project:" + p1);
  sub(a, "project:" + p2);
  EXPECT_EQ(S(sub(a, "user:me").at("code")), "too-many-subscriptions");
  say(a, json::object{{"type", "unsubscribe"}, {"channel", "project:" + p2}});
  EXPECT_EQ(types(a.conn->take()), std::vector<std::string>{"unsubscribed"});
  EXPECT_EQ(S(sub(a, "user:me").at("type")), "subscribed");
}

TEST_F(RealtimeHubTest, ConnectionCountIsBounded) {
  opt.max_connections = 2;
  hub->stop();
  make_hub();
  auto x = hub->websocket_session();
  auto y = hub->websocket_session();
  EXPECT_TRUE(x && y);
  EXPECT_FALSE(hub->websocket_session());
  x.reset();  // the server dropped one
  EXPECT_TRUE(hub->websocket_session());
}

TEST_F(RealtimeHubTest, SseSessionsGetIdLines) {
  auto conn = std::make_shared<RecordingConn>();
  auto h = hub->sse_session(Principal{alice}, {*parse_channel("project:" + p1, alice)}, std::nullopt);
  h->on_open(conn);
  hub->flush();
  auto e = publish("task.created", p1, new_uuid_v7());
  std::lock_guard lk(conn->mu);
  ASSERT_EQ(conn->sent.size(), 1u);
  EXPECT_EQ(conn->sent[0].rfind("id: " + e.id + "\ndata: {", 0), 0u);
  EXPECT_EQ(conn->sent[0].substr(conn->sent[0].size() - 2), "\n\n");
}

TEST_F(RealtimeHubTest, ClosedSessionsLeaveTheIndex) {
  auto a = open("tok-alice");
  sub(a, "project:" + p1);
  a.handler->on_close();
  hub->flush();
  publish("task.created", p1, new_uuid_v7());
  EXPECT_TRUE(a.conn->take().empty());
}

TEST_F(RealtimeHubTest, ExpiredTokenEndsTheStreamUnlessRenewed) {
  auto clock = std::make_shared<std::atomic<int64_t>>(1'700'000'000'000);
  hub->stop();
  opt.now_ms = [clock] { return clock->load(); };
  make_hub();
  auto a = open("exp-alice-t1-1700000060000");
  auto b = open("exp-bob-t2-1700000060000");
  sub(a, "project:" + p1);
  // A fresh token for the same user extends a's connection; another user's token is refused.
  say(a, json::object{{"type", "auth"}, {"token", "exp-bob-t3-1700000999000"}});
  auto m = a.conn->take();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(S(m[0].at("code")), "already-authenticated");
  say(a, json::object{{"type", "auth"}, {"token", "bogus"}});
  m = a.conn->take();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(S(m[0].at("code")), "invalid-token");
  say(a, json::object{{"type", "auth"}, {"token", "exp-alice-t4-1700000120000"}});
  m = a.conn->take();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(S(m[0].at("type")), "auth_ok");
  EXPECT_EQ(S(m[0].at("expires_at")), "2023-11-14T22:15:20.000Z");

  clock->store(1'700'000'060'000);  // b's token expires; a's renewed one does not
  std::this_thread::sleep_for(std::chrono::milliseconds(1'200));  // the dispatcher sweeps each second
  hub->flush();
  EXPECT_TRUE(b.conn->closed);
  EXPECT_EQ(b.conn->code, 4001);
  EXPECT_EQ(b.conn->reason, "token expired");
  EXPECT_FALSE(a.conn->closed);
  publish("task.created", p1, new_uuid_v7());
  EXPECT_EQ(a.conn->take().size(), 1u);  // still subscribed

  clock->store(1'700'000'120'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(1'200));
  hub->flush();
  EXPECT_TRUE(a.conn->closed);
  EXPECT_EQ(a.conn->code, 4001);
}

TEST_F(RealtimeHubTest, RevokedCredentialEndsTheStreamAtTheNextCheck) {
  hub->stop();
  opt.credential_check_interval = std::chrono::milliseconds(100);
  make_hub();
  auto a = open("exp-alice-keep-9999999999999");
  auto a2 = open("exp-alice-keep-9999999999999");  // same credential: checked once per round
  auto b = open("exp-bob-gone-9999999999999");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  hub->flush();
  EXPECT_FALSE(a.conn->closed);
  EXPECT_FALSE(b.conn->closed);
  {
    std::lock_guard lk(revoked_mu);
    EXPECT_GE(credential_checks, 2);
    revoked.insert("gone");  // logout, revoked token, deactivated user: still_valid says no
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  hub->flush();
  EXPECT_TRUE(b.conn->closed);
  EXPECT_EQ(b.conn->code, 4001);
  EXPECT_EQ(b.conn->reason, "credential revoked");
  EXPECT_FALSE(a.conn->closed);
  EXPECT_FALSE(a2.conn->closed);
}

}  // namespace
}  // namespace taskhub::realtime
