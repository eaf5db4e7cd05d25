// Create task without the network (issue 3's create scenario, decomposed): the same modules
// `taskhub serve --services SELECTION` builds and starts, over the same database, but each
// create calls the route's handler directly (router match, principal check, handler, service,
// write unit, commit) from THREADS threads instead of arriving over HTTP. Comparing its rate to
// the HTTP create rate and to the raw single-row commit rate (bench/sqlite_commit_rate) in the
// same run shows where the gap between the two lies: in the create's own database work, or in
// the HTTP path around it.
//
// Usage: tasks_create_in_process EMAIL PASSWORD PROJECT_ID [SECONDS=5] [THREADS=8] [SELECTION=all]
// Config comes from the environment like `taskhub serve` (DATABASE_URL, ...); the HTTP server
// is built (modules register routes on it) but never started.
// Prints one line: "creates/s=<rate> creates=<n> seconds=<s> threads=<t> with_auth=<0|1>".
// The bearer token is verified on every create (AuthService::authenticate, as the server's
// middleware does), so the figure includes the credential check.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "app/config.hpp"
#include "app/modules.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "ports/clock.hpp"
#include "services/auth/service.hpp"

using namespace taskhub;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s EMAIL PASSWORD PROJECT_ID [SECONDS=5] [THREADS=8] [SELECTION=all]\n", argv[0]);
    return 2;
  }
  const std::string email = argv[1], password = argv[2], project = argv[3];
  const double seconds = argc > 4 ? std::atof(argv[4]) : 5.0;
  const int threads = argc > 5 ? std::max(1, std::atoi(argv[5])) : 8;
  const std::string selection = argc > 6 ? argv[6] : "all";
  try {
    Config cfg = load_config("/nonexistent/.env");
    spdlog::set_level(spdlog::level::warn);
    http::Router router;
    http::Server server(http::ServerOptions{}, router);
    SystemClock clock;
    AppContext ctx(cfg, router, server, clock);
    ModuleManager modules(module_definitions(), ctx);
    modules.start(selection);
    if (!ctx.auth || !ctx.authenticator) throw std::runtime_error("the selection has no auth module");

    const std::string token = ctx.auth->login(email, password, auth::ClientInfo{}).access.token;
    const std::string path = "/api/v1/projects/" + project + "/tasks";
    const http::RouteMatch match = router.match("POST", path);
    if (!match.route) throw std::runtime_error("no POST route for " + path);

    const auto wal0 = ctx.db->write_stats();
    std::atomic<bool> stop{false};
    std::atomic<long long> total{0}, failed{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        long long n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          http::Request req;
          req.method = "POST";
          req.path = req.target = path;
          req.route = match.route->path_template;
          req.path_params = match.params;
          req.headers.set("Content-Type", "application/json");
          req.body = R"({"title":"in-process task )" + std::to_string(t) + "-" + std::to_string(n) +
                     R"(","description":"created by tasks_create_in_process","priority":"high"})";
          req.principal = ctx.authenticator(token);
          if (!req.principal) {
            ++failed;
            break;
          }
          http::Response res = match.route->handler(req);
          if (res.status != 201) {
            if (failed++ == 0) std::fprintf(stderr, "create answered %d: %s\n", res.status, res.body.c_str());
            continue;
          }
          ++n;
        }
        total += n;
      });
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : pool) th.join();
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // The consumers catch up after the last create; their writes belong to the creates too.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto wal1 = ctx.db->write_stats();
    modules.stop();
    if (failed > 0) {
      std::fprintf(stderr, "%lld creates failed\n", failed.load());
      return 1;
    }
    std::printf("creates/s=%.0f creates=%lld seconds=%.2f threads=%d with_auth=1", total / el, total.load(), el,
                threads);
    if (wal1.commits > wal0.commits && total > 0)
      std::printf(" commits_per_create=%.2f wal_pages_per_create=%.1f",
                  static_cast<double>(wal1.commits - wal0.commits) / static_cast<double>(total),
                  static_cast<double>(wal1.wal_pages - wal0.wal_pages) / static_cast<double>(total));
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tasks_create_in_process: %s\n", e.what());
    return 1;
  }
}
