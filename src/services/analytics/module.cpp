#include "services/analytics/module.hpp"

#include <stdexcept>

#include "services/analytics/routes.hpp"
#include "services/analytics/service.hpp"
#include "services/events/consumer_module.hpp"

namespace taskhub::analytics {

namespace {

class AnalyticsModule final : public events::ConsumerModule<AnalyticsService> {
 public:
  explicit AnalyticsModule(AppContext& ctx) {
    if (!ctx.db || !ctx.projects || !ctx.outbox || !ctx.bus)
      throw std::runtime_error("analytics: needs the database, projects, tasks and events modules");
    svc_ = std::make_unique<AnalyticsService>(*ctx.db, *ctx.projects, *ctx.outbox, ctx.clock);
    bus_ = ctx.bus;
    AnalyticsService* svc = svc_.get();
    ctx.metrics_sources.push_back([svc] { return svc->metrics(); });
    register_routes(ctx.router, *svc_, ctx.clock);
  }
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<AnalyticsModule>(ctx); }

}  // namespace taskhub::analytics
