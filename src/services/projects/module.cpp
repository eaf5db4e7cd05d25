#include "services/projects/module.hpp"

#include <stdexcept>

#include "services/auth/service.hpp"
#include "services/projects/routes.hpp"
#include "services/projects/service.hpp"

namespace taskhub::projects {

namespace {

// Who a user is, asked of the auth service (in-process).
class AuthDirectory final : public UserDirectory {
 public:
  explicit AuthDirectory(auth::AuthService& auth) : auth_(auth) {}
  std::optional<UserSummary> find_user(std::string_view id) override {
    auto u = auth_.find_user(id);
    if (!u) return std::nullopt;
    return UserSummary{u->id, u->email, u->display_name};
  }
  std::optional<UserSummary> find_user_by_email(std::string_view email) override {
    auto u = auth_.find_user_by_email(email);
    if (!u || !u->is_active) return std::nullopt;
    return UserSummary{u->id, u->email, u->display_name};
  }

 private:
  auth::AuthService& auth_;
};

class ProjectsModule final : public Module {
 public:
  explicit ProjectsModule(AppContext& ctx) {
    if (!ctx.db) throw std::runtime_error("projects: the database module must be built first");
    if (!ctx.auth) throw std::runtime_error("projects: the auth module must be built first");
    if (!ctx.outbox) throw std::runtime_error("projects: the events module must be built first");
    users_ = std::make_unique<AuthDirectory>(*ctx.auth);
    service_ = std::make_unique<ProjectsService>(*ctx.db, *users_, ctx.mailer, ctx.clock,
                                                 options_from_config(ctx.config), ctx.outbox);
    client_ = std::make_unique<LocalClient>(*service_);
    ctx.projects = client_.get();
    register_routes(ctx.router, *service_);
  }

  void start() override { service_->start(); }
  void stop() override { service_->stop(); }

 private:
  std::unique_ptr<AuthDirectory> users_;
  std::unique_ptr<ProjectsService> service_;
  std::unique_ptr<LocalClient> client_;
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<ProjectsModule>(ctx); }

}  // namespace taskhub::projects
