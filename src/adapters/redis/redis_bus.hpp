#pragma once
// The event bus over Redis (REDIS_URI): the relay of whichever process holds the relay lease
// XADDs each event to one Redis Stream per database, with the event's seq as the entry id
// ("<seq>-0"), so a re-publish after a lost acknowledgement is refused by Redis as a duplicate
// and a subscriber resumes exactly where it stopped. Every process runs one subscriber thread
// (XREAD BLOCK) that hands events to its local subscribers in seq order, once each (Dispatcher:
// de-dup by id and seq, gaps filled from the outbox). Redis is never the only copy: when it is
// down publish() throws, the relay keeps the events unpublished and retries, and both sides
// reconnect with bounded exponential backoff.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "ports/event_bus.hpp"
#include "services/events/dispatch.hpp"

struct redisContext;

namespace taskhub::redis {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
  std::string stream = "taskhub:events";
  int64_t max_len = 100000;  // XADD MAXLEN ~: the stream is a window, the outbox the record
  int timeout_ms = 2000;     // connect and command timeout
  int block_ms = 500;        // XREAD BLOCK: also bounds how long stop() waits
  int backoff_min_ms = 100;  // reconnect backoff, doubling up to backoff_max_ms
  int backoff_max_ms = 5000;
};

// redis://[[user]:password@]host[:port][/db]. Throws std::runtime_error naming the problem.
RedisOptions parse_redis_uri(const std::string& uri);

class RedisBus final : public events::EventBus {
 public:
  RedisBus(RedisOptions opt, int64_t start_after_seq, events::Dispatcher::GapFill fill = {});
  ~RedisBus() override;
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  void start();  // the subscriber thread
  void stop();

  // XADD; throws std::runtime_error when Redis is unreachable (or in backoff after a failure).
  void publish(const events::Event& e) override;
  uint64_t subscribe(Handler h) override { return dispatcher_.subscribe(std::move(h)); }
  void unsubscribe(uint64_t s) override { dispatcher_.unsubscribe(s); }

  // The subscriber's connection is up (metrics, /readyz detail).
  bool connected() const { return sub_up_.load(); }
  uint64_t reconnects() const { return reconnects_.load(); }
  const events::Dispatcher& dispatcher() const { return dispatcher_; }
  const RedisOptions& options() const { return opt_; }

 private:
  redisContext* connect(int command_timeout_ms);  // nullptr on failure (logged)
  void loop();
  bool wait_stop(int ms);

  RedisOptions opt_;
  events::Dispatcher dispatcher_;

  std::mutex pub_mu_;
  redisContext* pub_ = nullptr;
  int64_t pub_retry_at_ms_ = 0;
  int pub_backoff_ms_ = 0;
  bool pub_warned_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<bool> sub_up_{false};
  std::atomic<uint64_t> reconnects_{0};
};

}  // namespace taskhub::redis
