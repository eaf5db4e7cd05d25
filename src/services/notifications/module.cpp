#include "services/notifications/module.hpp"

#include "services/events/consumer_pacing.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>

#include "core/background_loop.hpp"
#include "core/ids.hpp"
#include "services/auth/jwt.hpp"
#include "services/auth/service.hpp"
#include "services/notifications/routes.hpp"
#include "services/notifications/service.hpp"
#include "services/projects/client.hpp"

namespace taskhub::notifications {

namespace {

constexpr int64_t kLeaseMs = 10'000;
constexpr std::chrono::milliseconds kPoll{1000};  // without a wake-up from the bus
constexpr std::size_t kBatch = 200;

class NotificationsModule final : public Module {
 public:
  explicit NotificationsModule(AppContext& ctx) : bus_(ctx.bus) {
    if (!ctx.db || !ctx.mailer || !ctx.auth || !ctx.projects || !ctx.outbox || !ctx.bus || !ctx.jobs)
      throw std::runtime_error("notifications: database, mailer, auth, projects, events and jobs must be built first");
    auth::AuthService* auth = ctx.auth;
    projects::Client* projects = ctx.projects;
    Directory dir;
    dir.user = [auth](const std::string& id) -> std::optional<Recipient> {
      auto u = auth->find_user(id);
      if (!u || !u->is_active) return std::nullopt;
      return Recipient{u->email, u->display_name, u->timezone};
    };
    dir.project = [projects](const std::string& user, const std::string& project) -> std::optional<ProjectView> {
      auto a = projects->project_access(user, project);
      if (!a) return std::nullopt;
      return ProjectView{a->key, a->name};
    };
    dir.state_name = [projects](const std::string& project, const std::string& state) -> std::optional<std::string> {
      auto s = projects->state(project, state);
      if (!s) return std::nullopt;
      return s->name;
    };
    Options opt;
    opt.due_soon_ms = ctx.config.notify_due_soon_hours * 3'600'000;
    opt.batch_ms = ctx.config.notify_email_batch_seconds * 1000;
    opt.email_hourly_cap = ctx.config.notify_email_hourly_cap;
    opt.public_url = ctx.config.public_url;
    // A key of its own, derived from the signing secret: unsubscribe links are not tokens.
    opt.token_key = auth::hmac_sha256(ctx.config.jwt_secret, "taskhub notifications unsubscribe v1");
    std::string digest_schedule = "0 * * * *";
    if (ctx.config.env == Environment::testing) {
      if (const char* h = std::getenv("TASKHUB_TEST_NOTIFY_HOOK")) opt.test_hook = h;
      if (const char* s = std::getenv("TASKHUB_TEST_NOTIFY_DIGEST_SCHEDULE"); s && *s) digest_schedule = s;
    }
    service_ = std::make_unique<NotificationsService>(*ctx.db, *ctx.outbox, *ctx.jobs, *ctx.mailer, ctx.clock,
                                                      std::move(dir), std::move(opt));
    register_routes(ctx.router, *service_);
    service_->register_jobs(*ctx.jobs, digest_schedule);
    holder_ = "notify-" + new_uuid_v7();
  }
  ~NotificationsModule() override { stop(); }

  void start() override {
    if (loop_.running()) return;
    wakeup_.start(*bus_, [this] { loop_.wake(); });
    loop_.start();
  }

  void stop() override {
    if (!loop_.stop()) return;
    wakeup_.stop();
    try {
      service_->release(holder_);
    } catch (const std::exception& e) {
      spdlog::warn("notifications: releasing the consumer lease failed: {}", e.what());
    }
  }

 private:
  BackgroundLoop::Next tick() {
    return pacing_.run([&] {
      auto n = service_->consume_once(holder_, kLeaseMs, kBatch);
      return n && *n == kBatch;  // more may be waiting
    });
  }

  events::EventBus* bus_;
  std::unique_ptr<NotificationsService> service_;
  std::string holder_;
  events::BusWakeup wakeup_;
  events::ConsumerPacing pacing_{"notifications", kPoll};  // the consumer thread's own
  BackgroundLoop loop_{"notifications: consumer", kPoll, [this] { return tick(); }};  // last: stopped first
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<NotificationsModule>(ctx); }

}  // namespace taskhub::notifications
