#include "services/auth/module.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "services/auth/routes.hpp"
#include "services/auth/service.hpp"

namespace taskhub::auth {

namespace {

class AuthModule final : public Module {
 public:
  explicit AuthModule(AppContext& ctx) {
    if (!ctx.db) throw std::runtime_error("auth: the database module must be built first");
    if (!ctx.mailer) throw std::runtime_error("auth: the mailer module must be built first");
    service_ = std::make_unique<AuthService>(*ctx.db, ctx.mailer, ctx.clock, options_from_config(ctx.config));
    AuthService* svc = service_.get();
    ctx.auth = svc;
    ctx.authenticator = [svc](std::string_view bearer) { return svc->authenticate(bearer); };
    ctx.credential_valid = [svc](const Principal& p) { return svc->still_valid(p); };
    register_routes(ctx.router, *svc);
    ctx.metrics_sources.emplace_back([svc] { return svc->metrics_text(); });
  }

  void start() override { service_->start(); }
  void stop() override { service_->stop(); }

 private:
  std::unique_ptr<AuthService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<AuthModule>(ctx); }

}  // namespace taskhub::auth
