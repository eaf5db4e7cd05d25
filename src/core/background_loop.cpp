#include "core/background_loop.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

#include "core/thread_name.hpp"

namespace taskhub {

BackgroundLoop::BackgroundLoop(std::string name, std::chrono::milliseconds interval, Tick tick)
    : name_(std::move(name)), interval_(interval), tick_(std::move(tick)) {}

BackgroundLoop::~BackgroundLoop() { stop(); }

void BackgroundLoop::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void BackgroundLoop::wake() {
  {
    std::lock_guard lk(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool BackgroundLoop::stop() {
  {
    std::lock_guard lk(mu_);
    if (!thread_.joinable()) return false;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();  // outside the lock: the tick's last wait needs it
  return true;
}

bool BackgroundLoop::running() const {
  std::lock_guard lk(mu_);
  return thread_.joinable();
}

void BackgroundLoop::run() {
  set_thread_name(name_);
  std::unique_lock lk(mu_);
  while (!stopping_) {
    woken_ = false;  // this tick covers every wake-up so far
    lk.unlock();
    Next next = interval_;
    try {
      next = tick_();
    } catch (const std::exception& e) {
      spdlog::warn("{}: background tick failed (retried in {} ms): {}", name_, interval_.count(), e.what());
      next = interval_;
    } catch (...) {
      spdlog::warn("{}: background tick failed (retried in {} ms)", name_, interval_.count());
      next = interval_;
    }
    lk.lock();
    if (next.wait.count() <= 0) continue;
    cv_.wait_for(lk, next.wait, [&] { return stopping_ || (woken_ && next.wake_cuts_short); });
  }
}

}  // namespace taskhub
