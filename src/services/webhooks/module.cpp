#include "services/webhooks/module.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "services/auth/service.hpp"
#include "services/events/consumer_module.hpp"
#include "services/webhooks/routes.hpp"
#include "services/webhooks/service.hpp"

namespace taskhub::webhooks {

namespace {

Options options_from(const Config& cfg) {
  Options o;
  o.allow = AllowList::from_config(cfg.webhook_allow_hosts, cfg.webhook_allow_private_cidrs);
  o.send.timeout_ms = cfg.webhook_timeout_ms;
  o.max_attempts = cfg.webhook_max_attempts;
  o.disable_after_ms = int64_t{cfg.webhook_disable_after_hours} * 3600 * 1000;
  o.public_url = cfg.public_url;
  return o;
}

class WebhooksModule final : public events::ConsumerModule<WebhookService> {
 public:
  explicit WebhooksModule(AppContext& ctx) {
    if (!ctx.db || !ctx.auth || !ctx.projects || !ctx.outbox || !ctx.bus || !ctx.jobs)
      throw std::runtime_error("webhooks: needs the database, auth, projects, events and jobs modules");
    auth::AuthService* auth = ctx.auth;
    svc_ = std::make_unique<WebhookService>(
        *ctx.db, *ctx.projects, *ctx.outbox, *ctx.jobs, ctx.mailer,
        [auth](const std::string& user_id) -> std::optional<std::string> {
          auto u = auth->find_user(user_id);
          if (!u || !u->is_active) return std::nullopt;
          return u->email;
        },
        ctx.clock, options_from(ctx.config));
    WebhookService* svc = svc_.get();
    ctx.jobs->register_handler(kDeliverKind, [svc](const jobs::Job& j) { svc->deliver(j); });
    ctx.jobs->register_handler(kDisabledMailKind, [svc](const jobs::Job& j) { svc->send_disabled_mail(j); });
    ctx.jobs->register_handler(kPurgeKind, [svc](const jobs::Job&) {
      if (int64_t n = svc->purge_log(); n > 0) spdlog::info("webhooks: purged {} old deliveries", n);
    });
    ctx.jobs->register_periodic(kPurgeKind, "37 * * * *", kPurgeKind);  // hourly, off the top of the hour
    ctx.projects->add_project_deleted_hook([svc](const std::string& project_id) { svc->project_deleted(project_id); });
    bus_ = ctx.bus;
    ctx.metrics_sources.push_back([svc] { return svc->metrics(); });
    register_routes(ctx.router, *svc_);
  }
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<WebhooksModule>(ctx); }

}  // namespace taskhub::webhooks
