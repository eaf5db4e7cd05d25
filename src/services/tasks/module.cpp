#include "services/tasks/module.hpp"

#include <stdexcept>

#include "services/tasks/routes.hpp"
#include "services/tasks/service.hpp"

namespace taskhub::tasks {

namespace {

class TasksModule final : public Module {
 public:
  explicit TasksModule(AppContext& ctx) {
    if (!ctx.db) throw std::runtime_error("tasks: the database module must be built first");
    if (!ctx.projects) throw std::runtime_error("tasks: the projects module must be built first");
    service_ = std::make_unique<TasksService>(*ctx.db, *ctx.projects, ctx.clock);
    register_routes(ctx.router, *service_);
    TasksService* svc = service_.get();
    ctx.projects->add_state_move_hook([svc](const std::string& project, const std::string& from,
                                            const std::string& to) { svc->move_state_tasks(project, from, to); });
    ctx.projects->add_project_deleted_hook([svc](const std::string& project) { svc->purge_project(project); });
  }

 private:
  std::unique_ptr<TasksService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<TasksModule>(ctx); }

}  // namespace taskhub::tasks
