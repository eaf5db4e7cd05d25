#pragma once
// Domain events: the transactional outbox and the bus (issue 4).
//
// A service that changes something appends an Event to the outbox *in the same transaction*
// as the change (Outbox::append with the transaction's Connection). After commit, the relay
// (events module) gives every outbox row a publish sequence number `seq`, strictly increasing
// in publish order, and publishes it on the EventBus: in-process by default, Redis when
// REDIS_URI is set (Redis carries events between processes; the outbox stays the system of
// record, so events written while Redis is down flow once it is back).
//
// Consumers (realtime, notifications, analytics, webhooks) are idempotent by Event::id: the
// bus delivers at least once.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ports/sql.hpp"

namespace taskhub::events {

struct Event {
  std::string id;            // UUIDv7; filled by Outbox::append when empty
  int64_t seq = 0;           // publish sequence (0 until relayed); the replay cursor
  std::string type;          // "task.created", "comment.created", "member.removed", ...
  int64_t time_ms = 0;       // filled by Outbox::append when 0
  std::string actor_id;      // user who caused it; "" for the system
  std::string workspace_id;  // routing keys: "" when not applicable
  std::string project_id;
  std::string task_id;
  std::string user_id;       // set for events addressed to one user (notification.*): channel user:<id>
  std::string entity_type;   // "task", "comment", "relation", "member", "state", "label", ...
  std::string entity_id;
  std::string payload = "{}";  // JSON object text (the entity after the change, changed fields, ...)
  int schema_version = 1;
};

// Written by services inside their write transactions; read by realtime for replay.
class Outbox {
 public:
  virtual ~Outbox() = default;
  // Appends `e` in the caller's transaction: it exists iff the caller's change commits.
  virtual void append(sql::Connection& c, Event e) = 0;
  // Events already published with seq > after_seq, ascending, at most `limit`.
  virtual std::vector<Event> since(int64_t after_seq, std::size_t limit) = 0;
  // The seq of a published event still kept (retention >= 24 h), or nullopt (unknown / purged).
  virtual std::optional<int64_t> seq_of(const std::string& event_id) = 0;
  // Highest published seq so far (0 when none): where a fresh subscriber starts.
  virtual int64_t last_seq() = 0;
};

class EventBus {
 public:
  using Handler = std::function<void(const Event&)>;
  virtual ~EventBus() = default;
  // Publishes to every subscriber of every process. Called by the relay only.
  virtual void publish(const Event& e) = 0;
  // Handlers run on a bus thread, in publish (seq) order; they must not block for long.
  virtual uint64_t subscribe(Handler h) = 0;
  virtual void unsubscribe(uint64_t subscription) = 0;
};

}  // namespace taskhub::events
