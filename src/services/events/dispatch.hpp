#pragma once
// What both buses share: the event's wire form, and local delivery to this process's
// subscribers in seq order, each event once.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "ports/event_bus.hpp"

namespace taskhub::events {

// Every Event field as one JSON object, `payload` as the caller renders it: the wire format keeps
// the stored text as a string, the HTTP replay embeds it parsed. One field list for both, so a
// new Event field cannot reach one and not the other.
boost::json::object event_object(const Event& e, boost::json::value payload);
// One JSON object with every Event field (the Redis stream entry), the payload as a string.
std::string event_to_json(const Event& e);
// Throws std::runtime_error on malformed input.
Event event_from_json(std::string_view text);

// Local subscribers and ordered, de-duplicated delivery. Events arrive here from the relay
// (in-process) or from the Redis subscriber; the same event may arrive twice (a publish
// retried after its acknowledgement was lost): an event whose id was delivered recently or
// whose seq is not above the last delivered one is dropped. A gap in seq (an event skipped by
// the transport, e.g. a Redis stream trimmed or lost in a Redis restart) is filled from the
// outbox before the event that revealed it, so subscribers see every seq in order.
class Dispatcher {
 public:
  using GapFill = std::function<std::vector<Event>(int64_t after_seq, std::size_t limit)>;
  static constexpr std::size_t kRecentIds = 10000;
  static constexpr std::size_t kMaxGapFill = 10000;

  explicit Dispatcher(int64_t start_after_seq = 0, GapFill fill = {})
      : last_(start_after_seq), fill_(std::move(fill)) {}

  uint64_t subscribe(EventBus::Handler h);
  void unsubscribe(uint64_t id);
  // Delivers e (and any missing events before it) to every subscriber; returns how many events
  // were handed to subscribers (0: a duplicate). Called from one thread at a time.
  std::size_t deliver(const Event& e);
  int64_t last_delivered() const;
  uint64_t delivered_total() const;
  uint64_t duplicates_total() const;

 private:
  void hand_out(const Event& e);
  bool seen(const std::string& id);

  mutable std::mutex mu_;
  std::map<uint64_t, EventBus::Handler> handlers_;
  uint64_t next_id_ = 1;
  int64_t last_;
  GapFill fill_;
  std::unordered_set<std::string> recent_;
  std::deque<std::string> recent_order_;
  uint64_t delivered_ = 0;
  uint64_t duplicates_ = 0;
};

// The bus when REDIS_URI is unset: publish() queues (bounded: the relay waits when subscribers
// fall behind) and one bus thread delivers, in publish order.
class InProcessBus final : public EventBus {
 public:
  static constexpr std::size_t kMaxQueue = 10000;
  explicit InProcessBus(int64_t start_after_seq = 0, Dispatcher::GapFill fill = {});
  ~InProcessBus() override;
  void publish(const Event& e) override;
  uint64_t subscribe(Handler h) override { return dispatcher_.subscribe(std::move(h)); }
  void unsubscribe(uint64_t s) override { dispatcher_.unsubscribe(s); }
  // Waits (bounded) until every queued event was handed to subscribers (tests, shutdown).
  bool drain(int timeout_ms);
  void stop();
  const Dispatcher& dispatcher() const { return dispatcher_; }

 private:
  void loop();
  Dispatcher dispatcher_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace taskhub::events
