#pragma once
// Modules and the module manager (the Loki/Mimir "-target" model).
//
// A module is a name, the modules it needs, and a factory that builds it from the shared
// AppContext (registering its routes, publishing what it offers in the context). Every
// module and its dependencies are listed in one place: module_list.cpp. The manager
// expands "all", orders the graph (dependencies first), rejects unknown names and cycles,
// starts in that order and stops in reverse.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "ports/clock.hpp"
#include "ports/event_bus.hpp"
#include "ports/job_queue.hpp"
#include "ports/mailer.hpp"
#include "ports/sql.hpp"

namespace taskhub {

namespace auth {
class AuthService;
}
namespace projects {
class Client;
}

// A comment as other services see it (AppContext::comment_task).
struct CommentRef {
  std::string task_id;
  std::string author_id;
};

// What modules share. Each field is filled by the module that owns it (comment says which);
// a module may read only what its declared dependencies filled.
struct AppContext {
  // The four things every module gets; the rest start empty and are filled as modules are built.
  AppContext(const Config& c, http::Router& r, http::Server& s, Clock& k) : config(c), router(r), server(s), clock(k) {}

  const Config& config;
  http::Router& router;
  http::Server& server;
  Clock& clock;
  sql::Database* db = nullptr;        // "database"
  Mailer* mailer = nullptr;           // "mailer"
  auth::AuthService* auth = nullptr;  // "auth"
  http::Authenticator authenticator;  // "auth": verifies bearer tokens for every route
  // "auth": is the credential behind a principal still good (long-lived streams re-check it)?
  std::function<bool(const Principal&)> credential_valid;
  projects::Client* projects = nullptr;  // "projects": membership, roles, states, labels
  events::Outbox* outbox = nullptr;      // "events": append events in a write transaction; replay
  events::EventBus* bus = nullptr;       // "events": published events (in-process or Redis)
  jobs::JobQueue* jobs = nullptr;        // "jobs": durable background jobs (run by "worker")
  // "tasks": the project of a task the user can see; nullopt when unknown or not visible
  // (realtime: task:<id> channels). Blocking (reads the database).
  std::function<std::optional<std::string>(const std::string& user_id, const std::string& task_id)> task_project;
  // "tasks": of the given task ids, those whose row still exists (soft-deleted ones included:
  // only a purge removes them). The files service drops the attachments of purged tasks with it.
  std::function<std::vector<std::string>(const std::vector<std::string>& task_ids)> existing_tasks;
  // "tasks": the task and author of a comment the user can see (its task visible to them, not
  // deleted); nullopt when the comment is unknown, deleted or not visible. Blocking. The files
  // service checks attachments of comments with it.
  std::function<std::optional<CommentRef>(const std::string& user_id, const std::string& comment_id)> comment_task;
  // "tasks": registers a hook run after a comment is deleted (after the commit; a hook that
  // throws is logged and does not undo the deletion). The files service drops the comment's
  // attachments with it.
  std::function<void(std::function<void(const std::string& task_id, const std::string& comment_id)>)>
      add_comment_deleted_hook;
  // Extra Prometheus text appended to /metrics ("metrics" module collects them).
  std::vector<std::function<std::string()>> metrics_sources;
  // Readiness checks for /readyz: name -> ok?
  std::vector<std::pair<std::string, std::function<bool()>>> readiness_checks;
};

class Module {
 public:
  virtual ~Module() = default;
  // Called after every module is built, in dependency order (background threads, jobs).
  virtual void start() {}
  // Called in reverse order on shutdown, after the HTTP server stopped taking requests.
  virtual void stop() {}
};

struct ModuleDef {
  std::string name;
  std::vector<std::string> deps;
  std::string description;
  std::function<std::unique_ptr<Module>(AppContext&)> make;
};

// The one list (module_list.cpp).
const std::vector<ModuleDef>& module_definitions();

// Expands a comma-separated selection ("all", "auth,docs", ...) into the modules to run,
// dependencies included, in start order. Throws std::runtime_error naming the unknown module
// or the cycle.
std::vector<const ModuleDef*> resolve_modules(const std::vector<ModuleDef>& defs, const std::string& selection);

class ModuleManager {
 public:
  ModuleManager(const std::vector<ModuleDef>& defs, AppContext& ctx) : defs_(defs), ctx_(ctx) {}
  ~ModuleManager();
  // Builds the selected modules in order (throws as resolve_modules), then starts them.
  void start(const std::string& selection);
  // Builds without starting (`taskhub routes` only needs the registered routes).
  void build(const std::string& selection);
  // Stops started modules in reverse order; idempotent.
  void stop();
  const std::vector<std::string>& running() const { return names_; }

 private:
  const std::vector<ModuleDef>& defs_;
  AppContext& ctx_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Module>> modules_;
  std::size_t started_ = 0;
};

}  // namespace taskhub
