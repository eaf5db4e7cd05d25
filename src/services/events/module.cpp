#include "services/events/module.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <charconv>
#include <deque>
#include <mutex>
#include <stdexcept>

#include "adapters/redis/redis_bus.hpp"
#include "core/error.hpp"
#include "core/metrics_text.hpp"
#include "core/pagination.hpp"
#include "services/events/dispatch.hpp"
#include "services/events/outbox.hpp"
#include "services/events/relay.hpp"

namespace taskhub::events {

namespace {

namespace json = boost::json;

constexpr std::size_t kDeliveredKept = 1000;

// The database the later modules get (ctx.db): the same database, plus a wake-up of the relay
// right after a write transaction that appended events commits, so events reach the bus in
// milliseconds rather than at the next poll. Appends are counted per thread by the outbox.
class CommitNotifyingDatabase final : public sql::Database {
 public:
  CommitNotifyingDatabase(sql::Database& inner, std::function<void()> on_commit)
      : inner_(inner), on_commit_(std::move(on_commit)) {}
  sql::Dialect dialect() const override { return inner_.dialect(); }
  WriteStats write_stats() const override { return inner_.write_stats(); }
  void write(const std::function<void(sql::Connection&)>& fn) override {
    int& appends = thread_appends();
    const int outer = appends;
    appends = 0;
    try {
      inner_.write(fn);
    } catch (...) {
      appends = outer;
      throw;
    }
    const bool wrote = appends > 0;
    appends = outer;
    if (wrote) on_commit_();
  }
  void read(const std::function<void(sql::Connection&)>& fn) override { inner_.read(fn); }
  bool ping() noexcept override { return inner_.ping(); }

 private:
  sql::Database& inner_;
  std::function<void()> on_commit_;
};

json::value event_json(const Event& e) {
  boost::system::error_code ec;
  json::value payload = json::parse(e.payload, ec);
  if (ec) payload = json::value(e.payload);
  return event_object(e, std::move(payload));
}

int64_t parse_after(const http::Request& req) {
  auto raw = req.query_param("after");
  if (!raw || raw->empty()) return 0;
  int64_t v = -1;
  auto [p, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), v);
  if (ec != std::errc{} || p != raw->data() + raw->size() || v < 0)
    throw bad_field("after", "must be a non-negative integer (a seq)");
  return v;
}

void require_admin(const http::Request& req) {
  if (!req.user().is_admin) throw forbidden("Administrator access is required.");
}

class EventsModule final : public Module {
 public:
  explicit EventsModule(AppContext& ctx) {
    if (!ctx.db) throw std::runtime_error("events: the database module must be built first");
    outbox_ = std::make_unique<SqlOutbox>(*ctx.db, ctx.clock);
    SqlOutbox* ob = outbox_.get();
    Dispatcher::GapFill fill = [ob](int64_t after, std::size_t limit) { return ob->since(after, limit); };
    const int64_t start_after = outbox_->delivery_start();
    if (!ctx.config.redis_uri.empty()) {
      auto opt = redis::parse_redis_uri(ctx.config.redis_uri);
      opt.stream = "taskhub:events:" + outbox_->stream_name();
      redis_ = std::make_unique<redis::RedisBus>(opt, start_after, fill);
      bus_ = redis_.get();
      dispatcher_ = &redis_->dispatcher();
      spdlog::info("events: Redis bus {}:{}/{} stream {}", opt.host, opt.port, opt.db, opt.stream);
    } else {
      inproc_ = std::make_unique<InProcessBus>(start_after, fill);
      bus_ = inproc_.get();
      dispatcher_ = &inproc_->dispatcher();
    }
    RelayOptions ro;
    ro.retention_ms = int64_t{ctx.config.event_retention_hours} * 3600 * 1000;
    relay_ = std::make_unique<Relay>(*outbox_, *bus_, ctx.clock, ro);
    Relay* relay = relay_.get();
    notifying_db_ = std::make_unique<CommitNotifyingDatabase>(*ctx.db, [relay] { relay->wake(); });
    ctx.db = notifying_db_.get();
    ctx.outbox = outbox_.get();
    ctx.bus = bus_;

    // What this process's bus subscribers received (the operator's view of delivery).
    bus_->subscribe([this](const Event& e) {
      std::lock_guard lk(delivered_mu_);
      delivered_.push_back(e);
      if (delivered_.size() > kDeliveredKept) delivered_.pop_front();
    });

    register_routes(ctx);
    ctx.metrics_sources.push_back([this] { return metrics(); });
  }
  ~EventsModule() override { stop(); }

  void start() override {
    if (redis_) redis_->start();
    relay_->start();
  }
  void stop() override {
    relay_->stop();
    if (redis_) redis_->stop();
    if (inproc_) inproc_->drain(2000);
  }

 private:
  void register_routes(AppContext& ctx) {
    ctx.router.add("GET", "/api/v1/admin/events", [this](http::Request& req) {
      require_admin(req);
      int64_t after = parse_after(req);
      int limit = parse_limit(req.query_param("limit"));
      json::array items;
      int64_t last = after;
      for (const auto& e : outbox_->since(after, static_cast<std::size_t>(limit))) {
        items.push_back(event_json(e));
        last = e.seq;
      }
      return http::Response::json(200, json::object{{"items", std::move(items)},
                                                    {"next_after", last},
                                                    {"last_seq", outbox_->last_seq()},
                                                    {"backlog", outbox_->backlog()}});
    });
    ctx.router.add("GET", "/api/v1/admin/events/delivered", [this](http::Request& req) {
      require_admin(req);
      int64_t after = parse_after(req);
      int limit = parse_limit(req.query_param("limit"));
      json::array items;
      {
        std::lock_guard lk(delivered_mu_);
        for (const auto& e : delivered_) {
          if (e.seq <= after) continue;
          if (items.size() >= static_cast<std::size_t>(limit)) break;
          items.push_back(event_json(e));
        }
      }
      return http::Response::json(
          200, json::object{{"items", std::move(items)},
                            {"process", relay_->holder()},
                            {"bus", redis_ ? "redis" : "in-process"},
                            {"redis_connected", redis_ ? json::value(redis_->connected()) : json::value(nullptr)},
                            {"last_delivered_seq", dispatcher_->last_delivered()}});
    });
  }

  std::string metrics() {
    std::string out;
    auto line = [&](const char* name, const char* type, const char* help, auto value) {
      append_metric(out, name, type, help, value);
    };
    line("taskhub_events_published_total", "counter", "Events this process's relay published on the bus.",
         relay_->published_total());
    line("taskhub_events_relay_failures_total", "counter", "Relay passes that failed (bus or database down).",
         relay_->failures_total());
    line("taskhub_events_delivered_total", "counter", "Events handed to this process's bus subscribers.",
         dispatcher_->delivered_total());
    line("taskhub_events_duplicates_total", "counter", "Events dropped by this process's bus as already delivered.",
         dispatcher_->duplicates_total());
    line("taskhub_events_last_delivered_seq", "gauge", "Seq of the last event delivered in this process.",
         dispatcher_->last_delivered());
    try {
      line("taskhub_events_backlog", "gauge", "Outbox events not yet accepted by the bus.", outbox_->backlog());
    } catch (const std::exception& e) {
      spdlog::warn("events: backlog metric: {}", e.what());
    }
    if (redis_)
      line("taskhub_events_redis_up", "gauge", "1 when the Redis bus subscriber is connected.",
           redis_->connected() ? 1 : 0);
    return out;
  }

  std::unique_ptr<SqlOutbox> outbox_;
  std::unique_ptr<redis::RedisBus> redis_;
  std::unique_ptr<InProcessBus> inproc_;
  EventBus* bus_ = nullptr;
  const Dispatcher* dispatcher_ = nullptr;
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<CommitNotifyingDatabase> notifying_db_;
  std::mutex delivered_mu_;
  std::deque<Event> delivered_;
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<EventsModule>(ctx); }

}  // namespace taskhub::events
