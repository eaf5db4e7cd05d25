#pragma once
// The realtime hub: WebSocket and SSE sessions, their channel subscriptions, permission
// checks, replay from the outbox and fan-out of bus events. See docs/realtime.md.
//
// One dispatcher thread owns every session and the channel index: bus events, client
// messages, opens and closes are queued to it and handled in order, so a subscription's
// replay and the live events after it never interleave, and a membership removal is applied
// before the events that follow it. Sending never blocks: each connection has a bounded send
// queue (http::StreamConnection) and a reader that cannot keep up is closed.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/background_loop.hpp"
#include "core/principal.hpp"
#include "http/stream.hpp"
#include "ports/event_bus.hpp"
#include "services/projects/client.hpp"

namespace taskhub::realtime {

struct Options {
  std::size_t max_connections = 10'000;      // WebSocket + SSE streams per process
  std::size_t max_subscriptions = 100;       // channels per connection
  std::chrono::milliseconds auth_timeout{5'000};  // first message must authenticate within this
  std::chrono::milliseconds access_ttl{10'000};   // cached permission answers live this long
  std::size_t replay_max = 1'000;            // more missed events than this: "reload"
  std::size_t queue_max = 100'000;           // dispatcher backlog; beyond: sessions told to reconnect
  std::size_t max_pending_messages = 64;     // client messages waiting for the dispatcher, per session
  // A stream's credential is re-checked this often (revoked token, logout, deactivated user,
  // password change): the stream ends within this of the change. Expiry is checked each second.
  std::chrono::milliseconds credential_check_interval{60'000};
  std::function<int64_t()> now_ms;  // wall clock in ms (tests); empty: the system clock
  http::StreamLimits limits;
};

using Authenticate = std::function<std::optional<Principal>(std::string_view token)>;
// Is the credential behind a principal still good? (auth::AuthService::still_valid; blocking.)
using CredentialCheck = std::function<bool(const Principal&)>;
using TaskProject = std::function<std::optional<std::string>(const std::string& user, const std::string& task)>;

struct Channel {
  enum class Kind { project, workspace, task, user };
  Kind kind = Kind::project;
  std::string id;
  std::string key() const;  // "project:<id>", ...; user:me becomes user:<id>
};

// Syntax only: "project:<uuid>", "workspace:<uuid>", "task:<uuid>", "user:me" (or the
// caller's own id). nullopt when malformed or another user's channel.
std::optional<Channel> parse_channel(std::string_view text, const std::string& user_id);

// The JSON sent for an event: {"id","type","seq","time",...,"payload":{...}}.
std::string event_json(const events::Event& e);

class Hub {
 public:
  // still_valid empty: credentials are only checked for expiry.
  Hub(Options opt, events::Outbox* outbox, events::EventBus* bus, projects::Client& projects, Authenticate auth,
      TaskProject task_project, CredentialCheck still_valid = {});
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  void start();
  void stop();  // closes every session (1001) and stops the dispatcher

  const Options& options() const { return opt_; }

  // A stream handler for a new WebSocket; nullptr when max_connections are open.
  std::shared_ptr<http::StreamHandler> websocket_session();
  // A stream handler for an SSE client already authenticated, with channels already allowed
  // (allowed()); replays from last_event_id when given. nullptr when max_connections are open.
  std::shared_ptr<http::StreamHandler> sse_session(Principal who, std::vector<Channel> channels,
                                                    std::optional<std::string> last_event_id);

  // May the user subscribe to the channel? Blocking (reads through the projects client).
  bool allowed(const std::string& user_id, const Channel& c);

  // What the bus handler does (tests feed events through it too).
  void publish_local(const events::Event& e);

  // Waits until the dispatcher handled everything queued so far (tests).
  void flush();

  std::size_t connections() const { return connections_->load(); }
  std::string metrics_text() const;

  struct Session;

 private:
  friend class SessionHandler;
  using Work = std::function<void()>;
  bool post(Work w, bool is_event, bool bounded = true);
  void loop();
  void handle_open(const std::shared_ptr<Session>& s);
  void handle_close(const std::shared_ptr<Session>& s);
  void handle_message(const std::shared_ptr<Session>& s, const std::string& text);
  void handle_event(const events::Event& e);
  void subscribe(Session& s, const Channel& c, const std::string& as_text, const std::optional<std::string>& last_id,
                 bool ack);
  void unsubscribe(Session& s, const std::string& key, const std::string& as_text, const char* reason);
  void recheck_after_membership_change(const events::Event& e);
  bool sub_still_allowed(Session& s, const Channel& c, const std::string& project_id);
  bool cached(const std::string& key, const std::function<bool()>& compute);
  void send_event(Session& s, const events::Event& e, const std::string& json);
  void send_control(Session& s, std::string json);
  void expire_unauthenticated();
  void expire_credentials();
  BackgroundLoop::Next check_credentials();  // the credential loop's tick
  void overloaded();
  int64_t now_ms() const;

  Options opt_;
  events::Outbox* outbox_;
  events::EventBus* bus_;
  projects::Client& projects_;
  Authenticate auth_;
  TaskProject task_project_;
  CredentialCheck still_valid_;
  uint64_t bus_sub_ = 0;
  bool bus_subscribed_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Work> queue_;
  std::size_t queued_events_ = 0;
  bool overloaded_ = false;
  bool stopping_ = false;
  std::thread thread_;
  // Re-checks stream credentials off the dispatcher (they are blocking database reads).
  std::unique_ptr<BackgroundLoop> credential_loop_;
  // Shared with the stream handlers, which the HTTP server may destroy after the hub.
  std::shared_ptr<std::atomic<std::size_t>> connections_ = std::make_shared<std::atomic<std::size_t>>(0);
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> slow_closed_{0};

  // Permission cache (dispatcher and SSE handlers): key -> allowed, until.
  std::mutex cache_mu_;
  struct CacheEntry {
    bool ok;
    std::chrono::steady_clock::time_point until;
  };
  std::unordered_map<std::string, CacheEntry> cache_;

  // Dispatcher thread only.
  std::unordered_map<uint64_t, std::shared_ptr<Session>> sessions_;
  std::unordered_map<std::string, std::unordered_set<Session*>> index_;  // channel key -> sessions
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::weak_ptr<Session>>> auth_deadlines_;
  std::chrono::steady_clock::time_point next_expiry_sweep_{};
  uint64_t next_session_ = 1;
};

}  // namespace taskhub::realtime
