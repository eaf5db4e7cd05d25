#include "services/tasks/module.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

#include "core/background_loop.hpp"
#include "core/ids.hpp"
#include "services/tasks/routes.hpp"
#include "services/tasks/service.hpp"

namespace taskhub::tasks {

namespace {

constexpr std::chrono::hours kPurgeEvery{1};
constexpr int64_t kPurgeBatch = 500;

class TasksModule final : public Module {
 public:
  explicit TasksModule(AppContext& ctx) : purge_after_ms_(int64_t{ctx.config.task_purge_days} * 24 * 3600 * 1000) {
    if (!ctx.db) throw std::runtime_error("tasks: the database module must be built first");
    if (!ctx.projects) throw std::runtime_error("tasks: the projects module must be built first");
    if (!ctx.outbox) throw std::runtime_error("tasks: the events module must be built first");
    service_ = std::make_unique<TasksService>(*ctx.db, *ctx.projects, ctx.clock, ctx.outbox);
    register_routes(ctx.router, *service_);
    TasksService* svc = service_.get();
    ctx.projects->add_state_move_hook([svc](const std::string& project, const std::string& from,
                                            const std::string& to) { svc->move_state_tasks(project, from, to); });
    ctx.projects->add_project_deleted_hook([svc](const std::string& project) { svc->purge_project(project); });
    ctx.projects->add_label_deleted_hook(
        [svc](const std::string& project, const std::string& label) { svc->remove_label(project, label); });
    // One indexed read (not get_task, which loads every related row); unknown, deleted and
    // invisible tasks give the same answer.
    sql::Database* db = ctx.db;
    projects::Client* projects = ctx.projects;
    ctx.task_project = [db, projects](const std::string& user,
                                      const std::string& task) -> std::optional<std::string> {
      if (!is_uuid(task)) return std::nullopt;
      auto pid = db->read_value([&](sql::Connection& c) -> std::optional<std::string> {
        auto res = c.query("SELECT project_id FROM tasks WHERE id = ? AND deleted_at IS NULL", {task});
        if (auto r = res.first()) return r->str(0);
        return std::nullopt;
      });
      if (!pid || !projects->project_access(user, *pid)) return std::nullopt;
      return pid;
    };
    // The comment's task must be visible like task_project's (not deleted, project visible).
    ctx.comment_task = [db, projects](const std::string& user,
                                      const std::string& comment) -> std::optional<CommentRef> {
      if (!is_uuid(comment)) return std::nullopt;
      auto ref = db->read_value([&](sql::Connection& c) -> std::optional<std::pair<CommentRef, std::string>> {
        auto res = c.query(
            "SELECT c.task_id, c.author_id, t.project_id FROM task_comments c JOIN tasks t ON t.id = c.task_id "
            "WHERE c.id = ? AND t.deleted_at IS NULL",
            {comment});
        if (auto r = res.first()) return std::pair{CommentRef{r->str(0), r->str(1)}, r->str(2)};
        return std::nullopt;
      });
      if (!ref || !projects->project_access(user, ref->second)) return std::nullopt;
      return ref->first;
    };
    ctx.add_comment_deleted_hook = [svc](TasksService::CommentDeletedHook hook) {
      svc->add_comment_deleted_hook(std::move(hook));
    };
    ctx.existing_tasks = [db](const std::vector<std::string>& ids) {
      std::vector<std::string> out;
      db->read([&](sql::Connection& c) {
        for (const auto& id : ids)
          if (is_uuid(id) && !c.query("SELECT 1 FROM tasks WHERE id = ?", {id}).empty()) out.push_back(id);
      });
      return out;
    };
  }
  ~TasksModule() override { stop(); }

  // The purge thread: hard-deletes tasks deleted more than TASK_PURGE_DAYS ago, hourly.
  void start() override { loop_.start(); }
  void stop() override { loop_.stop(); }

 private:
  BackgroundLoop::Next tick() {
    try {
      int64_t n = service_->purge_deleted(purge_after_ms_, kPurgeBatch);
      if (n > 0) spdlog::info("tasks: purged {} deleted tasks", n);
    } catch (const std::exception& e) {
      spdlog::warn("tasks: purge of deleted tasks failed (retried in an hour): {}", e.what());
    }
    return std::chrono::milliseconds(kPurgeEvery);
  }

  std::unique_ptr<TasksService> service_;
  int64_t purge_after_ms_;
  BackgroundLoop loop_{"tasks: purge", kPurgeEvery, [this] { return tick(); }};  // last: stopped first
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<TasksModule>(ctx); }

}  // namespace taskhub::tasks
