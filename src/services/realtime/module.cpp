#include "services/realtime/module.hpp"

#include <stdexcept>

#include "core/error.hpp"
#include "services/realtime/hub.hpp"

namespace taskhub::realtime {

namespace {

constexpr std::size_t kMaxSseChannels = 20;

Options options_from_config(const Config& c) {
  Options o;
  o.max_connections = static_cast<std::size_t>(c.ws_max_connections);
  o.auth_timeout = std::chrono::milliseconds(c.ws_auth_timeout_ms);
  o.credential_check_interval = std::chrono::seconds(c.ws_credential_check_seconds);
  o.replay_max = static_cast<std::size_t>(c.ws_replay_max);
  o.limits.max_message_bytes = static_cast<std::size_t>(c.ws_max_message_bytes);
  o.limits.max_queue_messages = static_cast<std::size_t>(c.ws_send_queue_max);
  o.limits.max_queue_bytes = static_cast<std::size_t>(c.ws_send_queue_bytes);
  o.limits.ping_interval = std::chrono::seconds(c.ws_ping_seconds);
  return o;
}

http::Response too_many(const http::Request& req) {
  http::Response r = http::problem_response(503, "unavailable", "Too many realtime connections on this server.",
                                            req.request_id, {}, req.path);
  r.headers.set("Retry-After", "5");
  return r;
}

class RealtimeModule final : public Module {
 public:
  explicit RealtimeModule(AppContext& ctx) {
    if (!ctx.projects) throw std::runtime_error("realtime: the projects module must be built first");
    if (!ctx.authenticator) throw std::runtime_error("realtime: the auth module must be built first");
    if (!ctx.outbox || !ctx.bus) throw std::runtime_error("realtime: the events module must be built first");
    hub_ = std::make_unique<Hub>(options_from_config(ctx.config), ctx.outbox, ctx.bus, *ctx.projects,
                                 ctx.authenticator, ctx.task_project, ctx.credential_valid);
    Hub* hub = hub_.get();
    ctx.metrics_sources.emplace_back([hub] { return hub->metrics_text(); });

    http::RouteOptions ws_opts;
    ws_opts.auth = http::Auth::none;  // the token comes in the first message (browsers cannot set headers)
    ws_opts.inline_handler = true;    // no database work before the upgrade
    ws_opts.max_body = 0;
    ctx.router.add(
        "GET", "/api/v1/ws",
        [hub](http::Request& req) {
          auto handler = hub->websocket_session();
          if (!handler) return too_many(req);
          http::Response r;
          r.status = 101;
          r.stream = std::make_shared<http::StreamUpgrade>();
          r.stream->kind = http::StreamKind::websocket;
          r.stream->handler = std::move(handler);
          r.stream->limits = hub->options().limits;
          return r;
        },
        ws_opts);

    http::RouteOptions sse_opts;
    sse_opts.max_body = 0;
    ctx.router.add(
        "GET", "/api/v1/events",
        [hub](http::Request& req) {
          const Principal& who = req.user();
          std::string raw = req.query_param("channels").value_or("");
          std::vector<Channel> channels;
          std::vector<std::string> texts;
          std::size_t start = 0;
          while (start <= raw.size() && !raw.empty()) {
            auto comma = raw.find(',', start);
            std::string part = raw.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!part.empty()) texts.push_back(part);
            if (comma == std::string::npos) break;
            start = comma + 1;
          }
          if (texts.empty() || texts.size() > kMaxSseChannels)
            throw validation_error({{"channels", "one to " + std::to_string(kMaxSseChannels) +
                                                     " comma-separated channels (project:<id>, workspace:<id>, "
                                                     "task:<id>, user:me)"}});
          for (const auto& t : texts) {
            auto c = parse_channel(t, who.user_id);
            if (!c)
              throw validation_error({{"channels", "'" + t + "' is not project:<id>, workspace:<id>, task:<id> or user:me"}});
            if (!hub->allowed(who.user_id, *c)) throw not_found("No such channel, or you may not subscribe to it.");
            channels.push_back(*c);
          }
          std::optional<std::string> last;
          if (req.headers.has("Last-Event-ID"))
            last = std::string(req.header("Last-Event-ID"));
          else if (auto q = req.query_param("last_event_id"))
            last = *q;
          if (last && last->size() > 200) throw validation_error({{"Last-Event-ID", "at most 200 characters"}});
          auto handler = hub->sse_session(who, std::move(channels), std::move(last));
          if (!handler) return too_many(req);
          http::Response r;
          r.status = 200;
          r.headers.set("Content-Type", "text/event-stream; charset=utf-8");
          r.stream = std::make_shared<http::StreamUpgrade>();
          r.stream->kind = http::StreamKind::sse;
          r.stream->handler = std::move(handler);
          r.stream->limits = hub->options().limits;
          return r;
        },
        sse_opts);
  }
  ~RealtimeModule() override { stop(); }

  void start() override { hub_->start(); }
  void stop() override { hub_->stop(); }

 private:
  std::unique_ptr<Hub> hub_;
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<RealtimeModule>(ctx); }

}  // namespace taskhub::realtime
