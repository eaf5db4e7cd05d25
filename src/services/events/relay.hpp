#pragma once
// The relay: moves committed outbox rows onto the bus. One pass (run_once) takes or renews the
// relay lease (so one relay at a time across processes hands out seqs and publishes), gives the
// next seqs to committed events, publishes every sequenced-but-unpublished event in seq order
// and marks them; a publish failure (Redis down) stops the pass, the events stay unpublished
// and the next pass retries them first, so the bus never sees seqs out of order.
// The thread runs a pass every poll interval (short, bounded) and at once when woken after a
// local commit that wrote events; failures back off exponentially up to a bound. It also purges
// published events older than the retention, in bounded batches.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/background_loop.hpp"

#include "ports/clock.hpp"
#include "ports/event_bus.hpp"
#include "services/events/outbox.hpp"

namespace taskhub::events {

struct RelayOptions {
  int poll_ms = 200;
  int max_backoff_ms = 5000;
  std::size_t batch = 200;
  int max_batches_per_pass = 50;
  int64_t lease_ms = 10'000;
  int64_t retention_ms = 48LL * 3600 * 1000;
  int purge_every_ms = 60'000;
  std::size_t purge_batch = 1000;
  int max_purge_batches = 20;
};

class Relay {
 public:
  Relay(SqlOutbox& outbox, EventBus& bus, Clock& clock, RelayOptions opt = {});
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  void start();
  void stop();  // joins the thread and releases the lease
  void wake();  // a local commit wrote events

  // One pass: returns the number of events published. Throws when the bus or the database
  // failed (events not published stay in the outbox).
  std::size_t run_once();
  // Deletes published events relayed longer than the retention ago (bounded); returns how many.
  std::size_t purge_once();

  const std::string& holder() const { return holder_; }
  uint64_t published_total() const { return published_.load(); }
  uint64_t failures_total() const { return failures_.load(); }
  bool failing() const { return failing_.load(); }

 private:
  BackgroundLoop::Next tick();  // one pass of the thread (and the purge when due)

  SqlOutbox& outbox_;
  EventBus& bus_;
  Clock& clock_;
  RelayOptions opt_;
  std::string holder_;
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<bool> failing_{false};
  // The thread's own state (only tick() touches it while it runs).
  int delay_ = 0;
  std::chrono::steady_clock::time_point next_purge_{};
  BackgroundLoop loop_;  // last: stopped before the members its tick uses are destroyed
};

}  // namespace taskhub::events
