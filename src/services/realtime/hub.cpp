#include "services/realtime/hub.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <future>

#include "core/ids.hpp"
#include "core/thread_name.hpp"
#include "core/time.hpp"

namespace taskhub::realtime {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kReplayPage = 200;
constexpr std::size_t kCacheMax = 100'000;
constexpr uint16_t kCloseAuth = 4001;
constexpr uint16_t kCloseTooManyMessages = 1008;
constexpr uint16_t kCloseOverloaded = 1013;
constexpr const char* kNoChannel = "No such channel, or you may not subscribe to it.";

std::string quote(std::string_view s) { return json::serialize(json::string_view(s.data(), s.size())); }

void field(std::string& out, const char* name, std::string_view v) {
  out += ",\"";
  out += name;
  out += "\":";
  if (v.empty())
    out += "null";
  else
    out += quote(v);
}

// Events that can take access away: the subscriptions they touch are checked again at once.
bool changes_membership(const events::Event& e) {
  return e.type.find("member") != std::string::npos || e.entity_type.find("member") != std::string::npos ||
         e.type == "project.deleted" || e.type == "workspace.deleted" || e.type == "task.deleted";
}

bool matches(const Channel& c, const events::Event& e) {
  switch (c.kind) {
    case Channel::Kind::project:
      return e.project_id == c.id;
    case Channel::Kind::workspace:
      return e.workspace_id == c.id;
    case Channel::Kind::task:
      return e.task_id == c.id;
    case Channel::Kind::user:
      return e.user_id == c.id;
  }
  return false;
}

}  // namespace

std::string Channel::key() const {
  switch (kind) {
    case Kind::project:
      return "project:" + id;
    case Kind::workspace:
      return "workspace:" + id;
    case Kind::task:
      return "task:" + id;
    case Kind::user:
      return "user:" + id;
  }
  return {};
}

std::optional<Channel> parse_channel(std::string_view text, const std::string& user_id) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || text.size() > 200) return std::nullopt;
  std::string_view kind = text.substr(0, colon), id = text.substr(colon + 1);
  Channel c;
  if (kind == "project")
    c.kind = Channel::Kind::project;
  else if (kind == "workspace")
    c.kind = Channel::Kind::workspace;
  else if (kind == "task")
    c.kind = Channel::Kind::task;
  else if (kind == "user")
    c.kind = Channel::Kind::user;
  else
    return std::nullopt;
  if (c.kind == Channel::Kind::user && id == "me") {
    c.id = user_id;
    return c;
  }
  if (!is_uuid(id)) return std::nullopt;
  c.id = std::string(id);
  return c;
}

std::string event_json(const events::Event& e) {
  std::string out;
  out.reserve(256 + e.payload.size());
  out += "{\"id\":";
  out += quote(e.id);
  out += ",\"type\":";
  out += quote(e.type);
  out += ",\"seq\":" + std::to_string(e.seq);
  out += ",\"time\":" + quote(format_rfc3339_ms(e.time_ms));
  field(out, "actor_id", e.actor_id);
  field(out, "workspace_id", e.workspace_id);
  field(out, "project_id", e.project_id);
  field(out, "task_id", e.task_id);
  field(out, "user_id", e.user_id);
  field(out, "entity_type", e.entity_type);
  field(out, "entity_id", e.entity_id);
  out += ",\"schema_version\":" + std::to_string(e.schema_version);
  out += ",\"payload\":";
  // The payload is JSON written by our own services; checked anyway so that one bad event
  // cannot break every client's parser.
  boost::system::error_code ec;
  json::parse(e.payload, ec);
  out += (ec || e.payload.empty()) ? std::string("{}") : e.payload;
  out += "}";
  return out;
}

// ---------------------------------------------------------------------------------------

struct Hub::Session {
  struct Sub {
    Channel channel;
    std::string text;          // as the client wrote it (echoed in acks)
    std::string project_id;    // project and task channels: the project that allowed it
    std::string workspace_id;  // and its workspace
    int64_t replayed_through = 0;  // live events up to this seq were sent by the replay
    int64_t covered_after = 0;     // every event of the channel after this seq was (or will be) sent
  };
  uint64_t id = 0;
  bool websocket = true;
  std::shared_ptr<http::StreamConnection> conn;
  std::optional<Principal> who;
  bool closed = false;
  std::unordered_map<std::string, Sub> subs;  // by channel key
  std::atomic<int> pending{0};                // client messages queued to the dispatcher
  // SSE: what to subscribe to when the stream opens.
  std::vector<Channel> initial;
  std::optional<std::string> last_event_id;
};

// The http side of one session: forwards the stream's callbacks to the dispatcher.
class SessionHandler final : public http::StreamHandler {
 public:
  SessionHandler(Hub& hub, std::shared_ptr<Hub::Session> s)
      : hub_(hub), s_(std::move(s)), connections_(hub.connections_) {}
  ~SessionHandler() override { connections_->fetch_sub(1); }

  void on_open(std::shared_ptr<http::StreamConnection> conn) override {
    s_->conn = std::move(conn);
    auto s = s_;
    Hub* hub = &hub_;  // the handler may be gone by the time the dispatcher runs
    if (!hub_.post([hub, s] { hub->handle_open(s); }, false)) s_->conn->close(kCloseOverloaded, "try again later");
  }
  void on_message(std::string text) override {
    if (s_->pending.fetch_add(1) >= static_cast<int>(hub_.opt_.max_pending_messages)) {
      s_->conn->close(kCloseTooManyMessages, "too many messages");
      return;
    }
    auto s = s_;
    Hub* hub = &hub_;
    if (!hub_.post([hub, s, text = std::move(text)] { hub->handle_message(s, text); }, false))
      s_->conn->close(kCloseOverloaded, "try again later");
  }
  void on_close() override {
    auto s = s_;
    Hub* hub = &hub_;
    hub_.post([hub, s] { hub->handle_close(s); }, false, /*bounded=*/false);  // must never be lost
  }

 private:
  Hub& hub_;
  std::shared_ptr<Hub::Session> s_;
  std::shared_ptr<std::atomic<std::size_t>> connections_;
};

Hub::Hub(Options opt, events::Outbox* outbox, events::EventBus* bus, projects::Client& projects, Authenticate auth,
         TaskProject task_project, CredentialCheck still_valid)
    : opt_(std::move(opt)),
      outbox_(outbox),
      bus_(bus),
      projects_(projects),
      auth_(std::move(auth)),
      task_project_(std::move(task_project)),
      still_valid_(std::move(still_valid)) {
  if (still_valid_)
    credential_loop_ = std::make_unique<BackgroundLoop>("realtime-credentials", opt_.credential_check_interval,
                                                        [this] { return check_credentials(); });
}

Hub::~Hub() { stop(); }

void Hub::start() {
  {
    std::lock_guard lk(mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    set_thread_name("realtime-hub");
    loop();
  });
  if (credential_loop_) credential_loop_->start();
  if (bus_ && !bus_subscribed_) {
    bus_sub_ = bus_->subscribe([this](const events::Event& e) { publish_local(e); });
    bus_subscribed_ = true;
  }
}

void Hub::stop() {
  if (credential_loop_) credential_loop_->stop();
  if (bus_ && bus_subscribed_) {
    bus_->unsubscribe(bus_sub_);
    bus_subscribed_ = false;
  }
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& [id, s] : sessions_)
    if (s->conn) s->conn->close(http::kCloseGoingAway, "server shutting down");
  sessions_.clear();
  index_.clear();
}

bool Hub::post(Work w, bool is_event, bool bounded) {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
    if (bounded && queue_.size() >= opt_.queue_max) {
      // Never an unbounded backlog: drop, and make every client reconnect and resume from
      // the outbox (which has everything).
      if (is_event) overloaded_ = true;
      cv_.notify_one();
      return false;
    }
    if (is_event) ++queued_events_;
    queue_.push_back(std::move(w));
  }
  cv_.notify_one();
  return true;
}

void Hub::publish_local(const events::Event& e) {
  post([this, e] { handle_event(e); }, true);
}

void Hub::flush() {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  if (!post([done] { done->set_value(); }, false)) return;
  f.wait();
}

void Hub::loop() {
  for (;;) {
    Work w;
    bool ov = false;
    {
      std::unique_lock lk(mu_);
      auto deadline = auth_deadlines_.empty() ? SteadyClock::time_point::max() : auth_deadlines_.front().first;
      if (!sessions_.empty()) deadline = std::min(deadline, next_expiry_sweep_);
      auto ready = [&] { return stopping_ || !queue_.empty() || overloaded_; };
      if (deadline == SteadyClock::time_point::max())
        cv_.wait(lk, ready);
      else
        cv_.wait_until(lk, deadline, ready);
      if (stopping_) break;
      if (overloaded_) {
        overloaded_ = false;
        ov = true;
      }
      if (!queue_.empty()) {
        w = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (ov) overloaded();
    if (w) {
      try {
        w();
      } catch (const std::exception& e) {
        spdlog::error("realtime: dispatcher task failed: {}", e.what());
      }
    }
    expire_unauthenticated();
    if (auto now = SteadyClock::now(); now >= next_expiry_sweep_) {
      expire_credentials();
      next_expiry_sweep_ = now + std::chrono::seconds(1);
    }
  }
}

int64_t Hub::now_ms() const {
  if (opt_.now_ms) return opt_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A stream must not outlive its credential: an access token lasts minutes, so a client either
// sends a fresh one ({"type":"auth"} again) before it expires or reconnects and resumes.
void Hub::expire_credentials() {
  const int64_t now = now_ms();
  for (auto& [id, s] : sessions_)
    if (s->who && s->who->expires_at_ms && s->who->expires_at_ms <= now && !s->closed && s->conn &&
        s->conn->is_open())
      s->conn->close(kCloseAuth, "token expired");
}

BackgroundLoop::Next Hub::check_credentials() {
  using Snapshot = std::vector<std::pair<std::weak_ptr<Session>, Principal>>;
  auto promise = std::make_shared<std::promise<Snapshot>>();
  auto fut = promise->get_future();
  bool posted = post(
      [this, promise] {
        Snapshot v;
        v.reserve(sessions_.size());
        for (auto& [id, s] : sessions_)
          if (s->who && !s->closed) v.emplace_back(s, *s->who);
        promise->set_value(std::move(v));
      },
      false, false);
  if (!posted || fut.wait_for(std::chrono::seconds(30)) != std::future_status::ready) return opt_.credential_check_interval;
  Snapshot list;
  try {
    list = fut.get();
  } catch (const std::future_error&) {  // the hub stopped before the snapshot was taken
    return opt_.credential_check_interval;
  }
  // One check per credential, however many connections share it.
  std::unordered_map<std::string, bool> verdicts;
  std::vector<std::pair<std::weak_ptr<Session>, std::string>> revoked;  // session, token id
  for (auto& [weak, who] : list) {
    std::string key = who.token_id + '|' + who.session_id + '|' + std::to_string(who.token_version);
    auto it = verdicts.find(key);
    if (it == verdicts.end()) {
      bool ok = true;
      try {
        ok = still_valid_(who);
      } catch (const std::exception& e) {
        // The database is unreachable: keep the streams; the next round decides.
        spdlog::warn("realtime: credential check failed: {}", e.what());
      }
      it = verdicts.emplace(std::move(key), ok).first;
    }
    if (!it->second) revoked.emplace_back(weak, who.token_id);
  }
  if (!revoked.empty())
    post(
        [revoked = std::move(revoked)] {
          for (const auto& [weak, token_id] : revoked) {
            auto s = weak.lock();
            // Unless it authenticated again since the snapshot.
            if (s && !s->closed && s->conn && s->who && s->who->token_id == token_id)
              s->conn->close(kCloseAuth, "credential revoked");
          }
        },
        false, false);
  return opt_.credential_check_interval;
}

void Hub::overloaded() {
  spdlog::warn("realtime: dispatcher backlog full; closing {} sessions (they resume from the outbox)",
               sessions_.size());
  for (auto& [id, s] : sessions_)
    if (s->conn) s->conn->close(kCloseOverloaded, "overloaded: reconnect with last_event_id");
}

void Hub::expire_unauthenticated() {
  auto now = SteadyClock::now();
  while (!auth_deadlines_.empty() && auth_deadlines_.front().first <= now) {
    auto s = auth_deadlines_.front().second.lock();
    auth_deadlines_.pop_front();
    if (s && !s->closed && !s->who && s->conn) s->conn->close(kCloseAuth, "authentication timeout");
  }
}

std::shared_ptr<http::StreamHandler> Hub::websocket_session() {
  if (connections_->fetch_add(1) >= opt_.max_connections) {
    connections_->fetch_sub(1);
    return nullptr;
  }
  auto s = std::make_shared<Session>();
  s->websocket = true;
  return std::make_shared<SessionHandler>(*this, std::move(s));
}

std::shared_ptr<http::StreamHandler> Hub::sse_session(Principal who, std::vector<Channel> channels,
                                                       std::optional<std::string> last_event_id) {
  if (connections_->fetch_add(1) >= opt_.max_connections) {
    connections_->fetch_sub(1);
    return nullptr;
  }
  auto s = std::make_shared<Session>();
  s->websocket = false;
  s->who = std::move(who);
  s->initial = std::move(channels);
  s->last_event_id = std::move(last_event_id);
  return std::make_shared<SessionHandler>(*this, std::move(s));
}

// ---- dispatcher: sessions

void Hub::handle_open(const std::shared_ptr<Session>& s) {
  s->id = next_session_++;
  sessions_[s->id] = s;
  if (s->websocket) {
    auth_deadlines_.emplace_back(SteadyClock::now() + opt_.auth_timeout, s);
    return;
  }
  for (const auto& c : s->initial) subscribe(*s, c, c.key(), s->last_event_id, false);
  s->initial.clear();
}

void Hub::handle_close(const std::shared_ptr<Session>& s) {
  s->closed = true;
  for (const auto& [key, sub] : s->subs) {
    auto it = index_.find(key);
    if (it == index_.end()) continue;
    it->second.erase(s.get());
    if (it->second.empty()) index_.erase(it);
  }
  s->subs.clear();
  sessions_.erase(s->id);
}

void Hub::send_control(Session& s, std::string text) {
  if (!s.conn) return;
  if (s.websocket) {
    s.conn->send(std::move(text));
  } else {
    s.conn->send("data: " + text + "\n\n");
  }
}

namespace {
std::string auth_ok(const Principal& who) {
  json::object o{{"type", "auth_ok"}, {"user_id", who.user_id}, {"expires_at", nullptr}};
  if (who.expires_at_ms) o["expires_at"] = format_rfc3339_ms(who.expires_at_ms);
  return json::serialize(o);
}

std::string error_json(std::string_view code, std::string_view message, std::string_view channel = {}) {
  json::object o{{"type", "error"}, {"code", code}, {"message", message}};
  if (!channel.empty()) o["channel"] = channel;
  return json::serialize(o);
}
}  // namespace

void Hub::handle_message(const std::shared_ptr<Session>& sp, const std::string& text) {
  Session& s = *sp;
  s.pending.fetch_sub(1);
  if (s.closed || !s.conn || !s.conn->is_open()) return;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  const json::object* o = (!ec && v.is_object()) ? &v.as_object() : nullptr;
  const json::value* tv = o ? o->if_contains("type") : nullptr;
  std::string type = (tv && tv->is_string()) ? std::string(tv->as_string()) : std::string();
  auto str = [&](const char* name) -> std::optional<std::string> {
    const json::value* x = o ? o->if_contains(name) : nullptr;
    if (!x || !x->is_string()) return std::nullopt;
    return std::string(x->as_string());
  };

  if (!s.who) {
    // The first message authenticates; anything else ends the connection.
    auto token = str("token");
    if (type != "auth" || !token || token->empty()) {
      s.conn->close(kCloseAuth, "authentication required");
      return;
    }
    std::optional<Principal> who;
    try {
      who = auth_(*token);
    } catch (const std::exception& e) {
      spdlog::warn("realtime: authentication failed: {}", e.what());
    }
    if (!who) {
      s.conn->close(kCloseAuth, "invalid or expired token");
      return;
    }
    s.who = std::move(who);
    send_control(s, auth_ok(*s.who));
    return;
  }

  if (type == "subscribe" || type == "unsubscribe") {
    auto ch = str("channel");
    if (!ch) {
      send_control(s, error_json("invalid-message", "\"channel\" must be a string."));
      return;
    }
    auto c = parse_channel(*ch, s.who->user_id);
    if (!c) {
      send_control(s, error_json("invalid-channel",
                                 "A channel is project:<id>, workspace:<id>, task:<id> or user:me.", *ch));
      return;
    }
    if (type == "unsubscribe") {
      if (!s.subs.count(c->key())) {
        send_control(s, error_json("not-subscribed", "This connection is not subscribed to that channel.", *ch));
        return;
      }
      unsubscribe(s, c->key(), *ch, "requested");
      return;
    }
    std::optional<std::string> last_id;
    if (o->contains("last_event_id")) {
      last_id = str("last_event_id");
      if (!last_id) {
        send_control(s, error_json("invalid-message", "\"last_event_id\" must be a string.", *ch));
        return;
      }
    }
    if (!s.subs.count(c->key()) && s.subs.size() >= opt_.max_subscriptions) {
      send_control(s, error_json("too-many-subscriptions",
                                 "At most " + std::to_string(opt_.max_subscriptions) + " channels per connection.",
                                 *ch));
      return;
    }
    try {
      if (!allowed(s.who->user_id, *c)) {
        send_control(s, error_json("channel-not-found", kNoChannel, *ch));
        return;
      }
      subscribe(s, *c, *ch, last_id, true);
    } catch (const std::exception& e) {
      spdlog::error("realtime: subscribe to {} failed: {}", *ch, e.what());
      send_control(s, error_json("internal", "The subscription could not be made; try again.", *ch));
    }
    return;
  }
  if (type == "ping") {
    json::object pong{{"type", "pong"}};
    if (o && o->contains("id")) pong["id"] = o->at("id");
    send_control(s, json::serialize(pong));
    return;
  }
  if (type == "auth") {
    // A fresh token for the same user extends the connection past the old token's expiry.
    auto token = str("token");
    std::optional<Principal> who;
    try {
      if (token && !token->empty()) who = auth_(*token);
    } catch (const std::exception& e) {
      spdlog::warn("realtime: authentication failed: {}", e.what());
    }
    if (!who) {
      send_control(s, error_json("invalid-token", "That token is invalid or expired; the connection keeps its current one."));
    } else if (who->user_id != s.who->user_id) {
      send_control(s, error_json("already-authenticated", "This connection is authenticated as another user."));
    } else {
      s.who = std::move(who);
      send_control(s, auth_ok(*s.who));
    }
    return;
  }
  if (!o) {
    send_control(s, error_json("invalid-message", "Messages are JSON objects with a \"type\"."));
    return;
  }
  send_control(s, error_json("unknown-type", "Known types: auth, subscribe, unsubscribe, ping."));
}

// ---- permissions

bool Hub::cached(const std::string& key, const std::function<bool()>& compute) {
  auto now = SteadyClock::now();
  {
    std::lock_guard lk(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.until > now) return it->second.ok;
  }
  bool ok = compute();
  std::lock_guard lk(cache_mu_);
  if (cache_.size() >= kCacheMax) cache_.clear();
  cache_[key] = CacheEntry{ok, now + opt_.access_ttl};
  return ok;
}

bool Hub::allowed(const std::string& user, const Channel& c) {
  switch (c.kind) {
    case Channel::Kind::user:
      return c.id == user;
    case Channel::Kind::project:
      return cached("p|" + user + "|" + c.id, [&] { return projects_.project_access(user, c.id).has_value(); });
    case Channel::Kind::workspace:
      return cached("w|" + user + "|" + c.id, [&] { return projects_.workspace_role(user, c.id).has_value(); });
    case Channel::Kind::task: {
      if (!task_project_) return false;
      auto pid = task_project_(user, c.id);
      if (!pid) return false;
      return cached("p|" + user + "|" + *pid, [&] { return projects_.project_access(user, *pid).has_value(); });
    }
  }
  return false;
}

bool Hub::sub_still_allowed(Session& s, const Channel& c, const std::string& project_id) {
  const std::string& user = s.who->user_id;
  switch (c.kind) {
    case Channel::Kind::user:
      return true;
    case Channel::Kind::workspace:
      return allowed(user, c);
    case Channel::Kind::project:
    case Channel::Kind::task:
      return cached("p|" + user + "|" + project_id,
                    [&] { return projects_.project_access(user, project_id).has_value(); });
  }
  return false;
}

void Hub::recheck_after_membership_change(const events::Event& e) {
  {
    std::lock_guard lk(cache_mu_);
    cache_.clear();
  }
  for (auto& [id, sp] : sessions_) {
    Session& s = *sp;
    if (!s.who || s.closed) continue;
    std::vector<std::pair<std::string, std::string>> lost;  // key, text
    for (auto& [key, sub] : s.subs) {
      bool touched = (!e.workspace_id.empty() && sub.workspace_id == e.workspace_id) ||
                     (!e.project_id.empty() && sub.project_id == e.project_id) ||
                     (!e.task_id.empty() && sub.channel.kind == Channel::Kind::task && sub.channel.id == e.task_id);
      if (!touched) continue;
      bool ok = sub.channel.kind == Channel::Kind::task && e.type == "task.deleted" && sub.channel.id == e.task_id
                    ? false
                    : sub_still_allowed(s, sub.channel, sub.project_id);
      if (!ok) lost.emplace_back(key, sub.text);
    }
    for (auto& [key, text] : lost) unsubscribe(s, key, text, "access-revoked");
  }
}

// ---- subscriptions

void Hub::subscribe(Session& s, const Channel& c, const std::string& as_text, const std::optional<std::string>& last_id,
                    bool ack) {
  const std::string key = c.key();
  Session::Sub sub;
  sub.channel = c;
  sub.text = as_text;
  const std::string& user = s.who->user_id;
  if (c.kind == Channel::Kind::project) {
    sub.project_id = c.id;
  } else if (c.kind == Channel::Kind::task && task_project_) {
    sub.project_id = task_project_(user, c.id).value_or("");
  } else if (c.kind == Channel::Kind::workspace) {
    sub.workspace_id = c.id;
  }
  if (!sub.project_id.empty()) {
    if (auto a = projects_.project_access(user, sub.project_id)) sub.workspace_id = a->workspace_id;
  }
  if (ack)
    send_control(s, json::serialize(json::object{{"type", "subscribed"}, {"channel", as_text}}));

  // Events another subscription of this session already covered are not replayed again.
  auto covered_elsewhere = [&](const events::Event& e) {
    for (const auto& [k, o] : s.subs)
      if (k != key && matches(o.channel, e) && e.seq > o.covered_after) return true;
    return false;
  };
  if (!last_id && outbox_) sub.covered_after = outbox_->last_seq();
  if (last_id && outbox_) {
    std::optional<int64_t> from = outbox_->seq_of(*last_id);
    if (!from) {
      send_control(s, json::serialize(json::object{
                          {"type", "reload"},
                          {"channel", as_text},
                          {"reason", "The last event id is unknown or older than the replay window; reload."}}));
      sub.replayed_through = outbox_->last_seq();
      sub.covered_after = sub.replayed_through;
    } else {
      int64_t after = *from;
      sub.covered_after = after;
      std::size_t sent = 0;
      bool too_many = false;
      for (;;) {
        auto page = outbox_->since(after, kReplayPage);
        for (const auto& e : page) {
          after = e.seq;
          if (!matches(c, e) || covered_elsewhere(e)) continue;
          if (c.kind == Channel::Kind::workspace && !e.project_id.empty() &&
              !cached("p|" + user + "|" + e.project_id,
                      [&] { return projects_.project_access(user, e.project_id).has_value(); }))
            continue;
          if (++sent > opt_.replay_max) {
            too_many = true;
            break;
          }
          send_event(s, e, event_json(e));
        }
        if (too_many || page.size() < kReplayPage) break;
      }
      if (too_many) {
        send_control(s, json::serialize(json::object{
                            {"type", "reload"},
                            {"channel", as_text},
                            {"reason", "More events were missed than the replay limit; reload."}}));
        after = outbox_->last_seq();
        sub.covered_after = after;
      }
      sub.replayed_through = after;
    }
  }
  index_[key].insert(&s);
  s.subs[key] = std::move(sub);
}

void Hub::unsubscribe(Session& s, const std::string& key, const std::string& as_text, const char* reason) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    it->second.erase(&s);
    if (it->second.empty()) index_.erase(it);
  }
  s.subs.erase(key);
  send_control(s, json::serialize(json::object{{"type", "unsubscribed"}, {"channel", as_text}, {"reason", reason}}));
}

// ---- events

void Hub::send_event(Session& s, const events::Event& e, const std::string& text) {
  if (!s.conn) return;
  bool ok;
  if (s.websocket)
    ok = s.conn->send(text);
  else
    ok = s.conn->send("id: " + e.id + "\ndata: " + text + "\n\n");
  if (ok)
    delivered_.fetch_add(1, std::memory_order_relaxed);
  else if (!s.closed && !s.conn->is_open())
    slow_closed_.fetch_add(1, std::memory_order_relaxed);
}

void Hub::handle_event(const events::Event& e) {
  {
    std::lock_guard lk(mu_);
    --queued_events_;
  }
  if (changes_membership(e)) recheck_after_membership_change(e);

  // Candidate sessions and, for each, the subscriptions the event matched.
  std::vector<std::pair<Session*, std::string>> cands;
  auto collect = [&](const char* prefix, const std::string& id) {
    if (id.empty()) return;
    std::string key = std::string(prefix) + id;
    auto it = index_.find(key);
    if (it == index_.end()) return;
    for (Session* s : it->second) cands.emplace_back(s, key);
  };
  collect("project:", e.project_id);
  collect("task:", e.task_id);
  collect("workspace:", e.workspace_id);
  collect("user:", e.user_id);
  if (cands.empty()) return;

  std::shared_ptr<const std::string> ws_text;
  std::shared_ptr<const std::string> sse_text;
  std::unordered_set<Session*> done;
  std::vector<std::tuple<Session*, std::string, std::string>> revoked;
  for (auto& [sp, key] : cands) {
    Session& s = *sp;
    if (done.count(sp) || s.closed || !s.who || !s.conn) continue;
    auto it = s.subs.find(key);
    if (it == s.subs.end()) continue;
    const Session::Sub& sub = it->second;
    if (e.seq > 0 && e.seq <= sub.replayed_through) continue;  // the replay sent it
    const std::string& user = s.who->user_id;
    bool ok = true;
    switch (sub.channel.kind) {
      case Channel::Kind::user:
        break;
      case Channel::Kind::project:
      case Channel::Kind::task:
        if (!sub_still_allowed(s, sub.channel, sub.project_id)) {
          revoked.emplace_back(sp, key, sub.text);
          ok = false;
        }
        break;
      case Channel::Kind::workspace:
        // A workspace member does not necessarily see every project of it.
        if (!e.project_id.empty())
          ok = cached("p|" + user + "|" + e.project_id,
                      [&] { return projects_.project_access(user, e.project_id).has_value(); });
        else if (!allowed(user, sub.channel)) {
          revoked.emplace_back(sp, key, sub.text);
          ok = false;
        }
        break;
    }
    if (!ok) continue;
    done.insert(sp);
    if (!ws_text) ws_text = std::make_shared<const std::string>(event_json(e));
    bool sent;
    if (s.websocket) {
      sent = s.conn->send(ws_text);
    } else {
      if (!sse_text) sse_text = std::make_shared<const std::string>("id: " + e.id + "\ndata: " + *ws_text + "\n\n");
      sent = s.conn->send(sse_text);
    }
    if (sent)
      delivered_.fetch_add(1, std::memory_order_relaxed);
    else
      slow_closed_.fetch_add(1, std::memory_order_relaxed);
  }
  for (auto& [sp, key, text] : revoked) unsubscribe(*sp, key, text, "access-revoked");
}

std::string Hub::metrics_text() const {
  std::string out;
  out += "# HELP taskhub_realtime_connections Open WebSocket and SSE streams.\n";
  out += "# TYPE taskhub_realtime_connections gauge\n";
  out += "taskhub_realtime_connections " + std::to_string(connections_->load()) + "\n";
  out += "# HELP taskhub_realtime_events_delivered_total Events queued to clients.\n";
  out += "# TYPE taskhub_realtime_events_delivered_total counter\n";
  out += "taskhub_realtime_events_delivered_total " + std::to_string(delivered_.load()) + "\n";
  out += "# HELP taskhub_realtime_send_refused_total Events not queued because the stream was closing (slow consumers).\n";
  out += "# TYPE taskhub_realtime_send_refused_total counter\n";
  out += "taskhub_realtime_send_refused_total " + std::to_string(slow_closed_.load()) + "\n";
  return out;
}

}  // namespace taskhub::realtime
