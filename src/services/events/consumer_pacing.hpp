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
#include "ports/sql.hpp"

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

// The lease row of a durable consumer: row id = 1 of the consumer's own table, with last_seq
// (the cursor), holder and lease_until, so that one process at a time consumes. A pass:
//   1. read_lease (in a read unit): the cursor, and whether the lease is free for this holder;
//   2. reads the events after the cursor and prepares what it can outside the transaction;
//   3. in one write unit: claim_lease, fenced on the cursor read in 1 (a holder that lost the
//      lease, or a cursor moved meanwhile, changes nothing), then applies the events and moves
//      the cursor.
// So a pass costs one write transaction, and an idle pass while this holder's lease is still
// more than half valid (`fresh`) costs none. (Claiming in a write of its own first, as the
// webhooks and analytics consumers did, cost a second write per pass.) `table` is one of the
// consumers' table names, never user input.
struct LeaseState {
  int64_t last_seq = 0;
  bool free = false;   // this holder may claim it: it holds it, or it expired
  bool fresh = false;  // this holder holds it for more than half the lease still
};
LeaseState read_lease(sql::Connection& c, std::string_view table, const std::string& holder, int64_t now,
                      int64_t lease_ms);
// Takes or renews the lease until now + lease_ms if the cursor is still `cursor` and the lease is
// this holder's or expired. False: another consumer holds it, or the cursor moved.
bool claim_lease(sql::Connection& c, std::string_view table, const std::string& holder, int64_t now,
                 int64_t lease_ms, int64_t cursor);
// Moves the cursor to `to`. Only after claim_lease succeeded in the same write unit: the row is
// then this holder's and locked, so no second fence is needed.
void move_cursor(sql::Connection& c, std::string_view table, int64_t to);

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
