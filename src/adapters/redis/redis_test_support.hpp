#pragma once
// Test-only: a real redis-server on a free port in a temporary directory, started and stopped
// (and restarted on the same port) by the test. Tests skip only when the binary is missing.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "adapters/test_ports.hpp"

namespace taskhub::redis::testing {

inline std::string redis_server_binary() {
  for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

using taskhub::test_support::free_port;
using taskhub::test_support::port_accepts;

class RedisServer {
 public:
  RedisServer() : port_(free_port()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "taskhub-redis-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string uri() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  // Starts the server and waits (bounded) until it accepts connections.
  void start() {
    if (pid_ > 0) return;
    std::string bin = redis_server_binary();
    std::string port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(bin.c_str(), bin.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--dir", dir_.c_str(), "--save",
              "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      bool ok = port_accepts(port_);
      if (ok) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("redis-server did not start on port " + port);
  }

  // SIGKILL: like a crash (no persistence configured, so the data is gone too).
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  int port_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace taskhub::redis::testing
