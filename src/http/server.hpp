#pragma once
// The HTTP server: Boost.Beast + C++20 coroutines on N I/O threads. Implementation in
// server.cpp (the only place with Beast). See docs/architecture.md, "One request".
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/principal.hpp"
#include "http/idempotency.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

namespace taskhub::http {

// Handler-pool size when none is configured: max(4, 2 * cores). Handlers are mostly short
// SQLite reads and writes; more threads than that only added context switches and lock
// contention (bench/run_auth_bench.sh: 8 threads on 2 cores served ~35% fewer GET /users/me
// than 4). Deployments on PostgreSQL, where handlers wait on the network, may raise it.
int default_blocking_threads();
// Pool size for requests that may write (every method but GET, HEAD and OPTIONS) when none is
// configured. group_commit (SQLite): 64. There a write mostly waits: for the one writer, then
// for the fsync that makes its group durable (run outside the write lock), and the writes
// waiting together are committed as one group, so more of them waiting means fewer, larger
// commits and fewer fsyncs. With 64 clients creating tasks: 8 threads 2.3k creates/s (3.5 units
// per commit), 32 threads 3.8k (11), 64 threads 3.8k (18 per commit, 6 WAL pages per create);
// with 128 clients 64 threads 4.2k (bench/run_tasks_bench.sh, session 7). Otherwise
// (PostgreSQL, writes run side by side): 16. A write there waits on the network and on its
// commit's WAL flush, which PostgreSQL shares among the commits waiting for it. 64 clients
// creating tasks in one project (durable cluster, DB_POOL_SIZE 4): 4 threads 0.77-0.83k
// creates/s, 8 threads 0.8-1.05k, 16 threads 1.0-1.05k, 32 threads 0.95-1.15k (session 8, after
// the number counter left the create's transaction; before, the creates queued on that row and
// 4 threads did best). Reads run on the read pool, where they are CPU-bound and more threads
// only cost switches.
int default_write_threads(bool group_commit);

struct ServerOptions {
  std::string bind_address = "0.0.0.0";
  unsigned short port = 5000;     // 0 = pick a free port (tests); see Server::port()
  int io_threads = 0;             // 0 = number of cores
  int blocking_threads = 0;       // pool for reads and background work; 0 = default_blocking_threads()
  int write_threads = 0;          // pool for requests that may write; 0 = default_write_threads(true)
  std::size_t max_header_bytes = 16 * 1024;       // larger -> 431
  std::chrono::milliseconds header_timeout{10'000};  // whole request head must arrive within this
  std::chrono::milliseconds body_timeout{60'000};    // body must arrive within this
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive connection with no request
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds shutdown_grace{10'000};  // in-flight requests get this long on SIGTERM
  std::size_t max_connections = 10'000;
  std::vector<std::string> cors_origins;  // exact origins; "*" allowed only without credentials
  bool cors_allow_credentials = true;
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For is believed
};

// Verifies a bearer credential (access JWT or API token). Returns nullopt when the token is
// invalid, expired or revoked. Called on the blocking pool (it may read the database).
using Authenticator = std::function<std::optional<Principal>(std::string_view bearer_token)>;

class Server {
 public:
  Server(ServerOptions options, Router& router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void set_authenticator(Authenticator auth);
  // Enables Idempotency-Key on POST for authenticated routes (see http/idempotency.hpp).
  // Without a store the header is ignored. Set before start().
  void set_idempotency_store(std::shared_ptr<IdempotencyStore> store);
  // Binds and starts the I/O threads; returns once listening. Throws on bind failure.
  void start();
  unsigned short port() const;
  // Blocks until SIGINT/SIGTERM (installed by start()) or stop(); then stops accepting,
  // lets in-flight requests finish within shutdown_grace, closes idle connections.
  void wait();
  void stop();

  // Runs fn on the blocking pool (for modules that need background work at start-up).
  void post_blocking(std::function<void()> fn);

  // Prometheus text exposition of the HTTP metrics (requests by route and status, latency
  // histogram, in-flight). Appended to by other modules through /metrics.
  std::string metrics_text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskhub::http
