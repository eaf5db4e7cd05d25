// taskhub: one binary, every service. Subcommands:
//   serve     run the selected modules behind the HTTP server
//   migrate   apply pending database migrations and exit
//   services  list modules and their dependencies
//   admin     instance administration (create-user, ...)
//   jobs      the background job queue (list, retry, cancel)
//   seed      sample data set (app/seed.cpp)
//   version   print the version
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/infra_modules.hpp"
#include "app/modules.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "ports/clock.hpp"
#include "ports/migrations.hpp"
#include "app/seed.hpp"
#include "services/auth/cli.hpp"
#include "services/jobs/cli.hpp"

using namespace taskhub;

namespace {

const char* kMainHelp = R"(taskhub - task and project management backend

Usage: taskhub <command> [options]

Commands:
  serve      Run taskhub (all services by default) on http://localhost:5000
  migrate    Apply pending database migrations, then exit
  services   List the modules and their dependencies
  routes     List every HTTP route (METHOD TEMPLATE) the modules register
  admin      Instance administration (create-user, list-users, deactivate-user)
  jobs       The background job queue (list, retry, cancel)
  seed       Fill the database with a sample data set (benchmarks, demos)
  version    Print the version

Run `taskhub <command> --help` for the options of a command.
Configuration comes from environment variables and an optional .env file; see .env.example.
)";

const char* kServeHelp = R"(Usage: taskhub serve [--services all|NAME[,NAME...]] [--port N]

Runs the selected modules (and the modules they depend on) behind one HTTP server.

Options:
  --services LIST   comma-separated module names, or "all" (default: all).
                    `taskhub services` lists them.
  --port N          TCP port (default: PORT or 5000; 0 picks a free port and logs it)
  -h, --help        show this help
)";

const char* kMigrateHelp = R"(Usage: taskhub migrate [--status]

Applies the pending migrations for DATABASE_URL (SQLite or PostgreSQL) and exits.
  --status    print applied and known migration numbers without applying anything
)";

const char* kServicesHelp = R"(Usage: taskhub services

Prints every module, what it does, and the modules it depends on, in start order.
)";

const char* kRoutesHelp = R"(Usage: taskhub routes [--services LIST]

Builds the selected modules (default: all) against a throw-away in-memory database and
prints every HTTP route they register, one "METHOD TEMPLATE" per line. The OpenAPI
consistency test compares this list with openapi/openapi.yaml.
)";

const char* kVersionHelp = R"(Usage: taskhub version

Prints the taskhub version.
)";

const char* kAdminHelp = R"(Usage: taskhub admin <command> [options]

Commands:
  create-user --email E --password P [--name N] [--admin]
                             create an account (an administrator with --admin)
  list-users                 print every account
  deactivate-user --email E  deactivate an account (its tokens stop working at once)

The first account registered through the API also becomes an administrator when no
administrator exists yet.
)";

bool wants_help(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "-h" || a == "--help") return true;
  return false;
}

void setup_logging(const Config& cfg) {
  auto level = spdlog::level::from_str(cfg.log_level);
  spdlog::set_level(level);
  // One JSON object per line, so logs can be shipped as they are.
  spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%v"})", spdlog::pattern_time_type::utc);
  auto access = spdlog::stdout_logger_mt("access");
  access->set_pattern("%v");
  access->set_level(cfg.access_log ? spdlog::level::info : spdlog::level::off);
}

int cmd_services() {
  auto order = resolve_modules(module_definitions(), "all");
  std::vector<std::string> deps;
  int name_w = 6, deps_w = 10;  // widths of "MODULE" and "DEPENDS ON"
  for (const ModuleDef* d : order) {
    std::string list;
    for (const auto& x : d->deps) list += (list.empty() ? "" : ",") + x;
    deps.push_back(list.empty() ? "-" : list);
    name_w = std::max(name_w, static_cast<int>(d->name.size()));
    deps_w = std::max(deps_w, static_cast<int>(deps.back().size()));
  }
  std::printf("%-*s  %-*s  %s\n", name_w, "MODULE", deps_w, "DEPENDS ON", "DESCRIPTION");
  for (std::size_t i = 0; i < order.size(); ++i)
    std::printf("%-*s  %-*s  %s\n", name_w, order[i]->name.c_str(), deps_w, deps[i].c_str(),
                order[i]->description.c_str());
  std::printf("\n`taskhub serve --services all` runs every module above.\n");
  return 0;
}

int cmd_migrate(const Config& cfg, const std::vector<std::string>& args) {
  auto db = open_configured_database(cfg);
  bool status_only = !args.empty() && args[0] == "--status";
  if (!status_only) {
    auto applied = sql::migrate(*db);
    for (const auto& n : applied) std::printf("applied %s\n", n.c_str());
    if (applied.empty()) std::printf("database is up to date\n");
  }
  auto st = sql::migration_status(*db);
  std::printf("schema version %d (latest known %d)\n", st.latest_applied, st.latest_known);
  return 0;
}

int cmd_routes(Config cfg, const std::vector<std::string>& args) {
  std::string selection = "all";
  if (args.size() == 2 && args[0] == "--services") selection = args[1];
  spdlog::set_level(spdlog::level::warn);  // stdout carries only the route list
  cfg.database_url = "sqlite::memory:";
  cfg.smtp_url.clear();
  http::Router router;
  http::Server server(http::ServerOptions{}, router);
  SystemClock clock;
  AppContext ctx{cfg, router, server, clock};
  ModuleManager modules(module_definitions(), ctx);
  modules.build(selection);
  std::vector<std::string> lines;
  for (const http::Route* r : router.routes()) lines.push_back(r->method + " " + r->path_template);
  std::sort(lines.begin(), lines.end());
  for (const auto& l : lines) std::printf("%s\n", l.c_str());
  return 0;
}

int cmd_serve(Config cfg, const std::vector<std::string>& args) {
  std::string selection = "all";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--services" && i + 1 < args.size()) {
      selection = args[++i];
    } else if (args[i].rfind("--services=", 0) == 0) {
      selection = args[i].substr(11);
    } else if (args[i] == "--port" && i + 1 < args.size()) {
      try {
        cfg.port = std::stoi(args[++i]);
      } catch (...) {
        throw std::runtime_error("--port needs a number");
      }
      if (cfg.port < 0 || cfg.port > 65535) throw std::runtime_error("--port must be between 0 and 65535");
    } else {
      throw std::runtime_error("serve: unknown option '" + args[i] + "' (see taskhub serve --help)");
    }
  }
  // Fail fast on a bad selection before opening anything.
  resolve_modules(module_definitions(), selection);

  http::ServerOptions opt;
  opt.bind_address = cfg.bind_address;
  opt.port = static_cast<unsigned short>(cfg.port);
  opt.io_threads = cfg.io_threads;
  opt.blocking_threads = cfg.blocking_threads;
  opt.write_threads = write_pool_size(cfg);
  opt.max_header_bytes = static_cast<std::size_t>(cfg.max_header_bytes);
  opt.header_timeout = std::chrono::milliseconds(cfg.header_timeout_ms);
  opt.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  opt.shutdown_grace = std::chrono::milliseconds(cfg.shutdown_grace_ms);
  opt.cors_origins = cfg.cors_origins;
  opt.trusted_proxies = cfg.trusted_proxies;

  http::Router router;
  http::Server server(opt, router);
  SystemClock clock;
  AppContext ctx{cfg, router, server, clock};
  ModuleManager modules(module_definitions(), ctx);
  modules.start(selection);
  if (ctx.authenticator) server.set_authenticator(ctx.authenticator);

  server.start();
  std::string names;
  for (const auto& n : modules.running()) names += (names.empty() ? "" : ",") + n;
  spdlog::info("taskhub {} listening on {}:{} (env {}, modules {})", TASKHUB_VERSION, cfg.bind_address,
               server.port(), environment_name(cfg.env), names);
  server.wait();
  spdlog::info("HTTP server stopped; stopping modules");
  modules.stop();
  spdlog::info("bye");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(kMainHelp, stdout);
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());

  static const std::map<std::string, const char*> helps = {{"serve", kServeHelp},     {"migrate", kMigrateHelp},
                                                           {"services", kServicesHelp}, {"version", kVersionHelp},
                                                           {"routes", kRoutesHelp},
                                                           {"admin", kAdminHelp},
                                                           {"jobs", jobs::kJobsHelp},
                                                           {"seed", seed::kSeedHelp}};
  auto help = helps.find(cmd);
  if (help == helps.end()) {
    std::fprintf(stderr, "taskhub: unknown command '%s'\n\n%s", cmd.c_str(), kMainHelp);
    return 2;
  }
  if (wants_help(rest)) {
    std::fputs(help->second, stdout);
    return 0;
  }
  try {
    if (cmd == "version") {
      std::printf("taskhub %s\n", TASKHUB_VERSION);
      return 0;
    }
    if (cmd == "services") return cmd_services();
    Config cfg = load_config(".env");
    setup_logging(cfg);
    if (cmd == "migrate") return cmd_migrate(cfg, rest);
    if (cmd == "routes") return cmd_routes(cfg, rest);
    if (cmd == "admin") {
      auto db = open_configured_database(cfg);
      sql::migrate(*db);
      SystemClock clock;
      return auth::run_admin_command(cfg, *db, clock, rest);
    }
    if (cmd == "jobs") {
      auto db = open_configured_database(cfg);
      sql::migrate(*db);
      SystemClock clock;
      return jobs::run_jobs_command(cfg, *db, clock, rest);
    }
    if (cmd == "seed") {
      auto db = open_configured_database(cfg);
      sql::migrate(*db);
      SystemClock clock;
      return seed::run_seed_command(cfg, *db, clock, rest);
    }
    return cmd_serve(cfg, rest);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "taskhub: %s\n", e.what());
    return 1;
  }
}
