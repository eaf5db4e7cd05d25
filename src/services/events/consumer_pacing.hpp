#pragma once
// What every durable outbox consumer (notifications, webhooks, analytics) shares around its own
// pass, so the three cannot drift apart:
// - a pass that throws is retried with exponential backoff (0.5 s doubling up to 10 s), and
//   commits waking the loop meanwhile do not cut that wait short;
// - a pass that says more may be waiting runs again at once;
// - otherwise the next pass comes after the poll interval, or sooner when the bus wakes the
//   loop. The bus only wakes: what to handle comes from the outbox cursor, so a lost wake-up
//   costs one poll interval, never an event.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/background_loop.hpp"
#include "ports/event_bus.hpp"

namespace taskhub::events {

class ConsumerPacing {
 public:
  ConsumerPacing(std::string name, std::chrono::milliseconds poll) : name_(std::move(name)), poll_(poll) {}

  // pass: handles what is waiting; returns true when more may be waiting. Call from the
  // consumer's BackgroundLoop tick only (the backoff is that thread's own).
  BackgroundLoop::Next run(const std::function<bool()>& pass);

 private:
  const std::string name_;
  const std::chrono::milliseconds poll_;
  std::chrono::milliseconds backoff_{0};
};

// Calls wake on every bus event between start() and stop().
class BusWakeup {
 public:
  BusWakeup() = default;
  BusWakeup(const BusWakeup&) = delete;
  BusWakeup& operator=(const BusWakeup&) = delete;
  ~BusWakeup() { stop(); }

  void start(EventBus& bus, std::function<void()> wake);
  void stop();

 private:
  EventBus* bus_ = nullptr;
  std::optional<uint64_t> subscription_;
};

}  // namespace taskhub::events
