#pragma once
// The outbox over the SQL port (table `events`, migration 007) and what the relay needs from
// it: sequencing under a lease, publishing in seq order, retention.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ports/clock.hpp"
#include "ports/event_bus.hpp"
#include "ports/sql.hpp"

namespace taskhub::events {

class SqlOutbox final : public Outbox {
 public:
  SqlOutbox(sql::Database& db, Clock& clock) : db_(db), clock_(clock) {}

  void append(sql::Connection& c, Event e) override;
  std::vector<Event> since(int64_t after_seq, std::size_t limit) override;
  std::optional<int64_t> seq_of(const std::string& event_id) override;
  int64_t last_seq() override;

  // --- for the relay (services/events/relay.cpp) and the buses

  // Takes or renews the relay lease for `holder` (lease_ms long) and, when it holds it, gives
  // the next seqs (last_seq + 1, ...) to at most `max` committed unsequenced events, oldest
  // first, in one transaction. nullopt: another relay holds the lease. Else the number sequenced.
  std::optional<std::size_t> sequence(const std::string& holder, int64_t lease_ms, std::size_t max);
  // Sequenced events the bus has not accepted yet, ascending seq, at most `limit`.
  std::vector<Event> unpublished(std::size_t limit);
  // Records that the bus accepted every event with seq in [from, to].
  void mark_published(int64_t from_seq, int64_t to_seq);
  // Deletes at most `batch` published events relayed before `before_ms`; returns how many.
  std::size_t purge(int64_t before_ms, std::size_t batch);
  // Releases the lease (clean shutdown: another process may take over at once).
  void release(const std::string& holder);
  // Cheap check before the relay takes the lease: anything to sequence or publish?
  bool has_work();
  // Events not yet accepted by the bus (sequenced or not): the relay backlog (metrics).
  int64_t backlog();
  // Where a process's bus subscriber starts: the seq before the first event not yet on the
  // bus (a restart with a backlog then still delivers it locally), else last_seq().
  int64_t delivery_start();
  // This database's stream name (chosen once, stored in event_relay): deployments that share
  // a Redis server never read each other's events.
  std::string stream_name();

 private:
  void prefer_indexes(sql::Connection& c);  // see outbox.cpp
  sql::Database& db_;
  Clock& clock_;
};

// Counts outbox appends on this thread (the commit-notifying database reads it to wake the
// relay right after a commit that wrote events).
int& thread_appends();

}  // namespace taskhub::events
