#include "services/events/relay.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/ids.hpp"

namespace taskhub::events {

Relay::Relay(SqlOutbox& outbox, EventBus& bus, Clock& clock, RelayOptions opt)
    : outbox_(outbox),
      bus_(bus),
      clock_(clock),
      opt_(opt),
      holder_(new_uuid_v7()),
      loop_("events: relay", std::chrono::milliseconds(opt_.poll_ms), [this] { return tick(); }) {}

Relay::~Relay() { stop(); }

void Relay::start() {
  if (loop_.running()) return;  // the fields below belong to the running thread
  // The first purge comes a sixth of the period after each start, not at once.
  next_purge_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.purge_every_ms / 6);
  delay_ = opt_.poll_ms;
  loop_.start();
}

void Relay::stop() {
  if (!loop_.stop()) return;  // never started: no lease to release
  try {
    outbox_.release(holder_);
  } catch (const std::exception& e) {
    spdlog::warn("events: releasing the relay lease failed (it expires on its own): {}", e.what());
  }
}

void Relay::wake() { loop_.wake(); }

std::size_t Relay::run_once() {
  if (!outbox_.has_work()) return 0;
  std::size_t total = 0;
  for (int round = 0; round < opt_.max_batches_per_pass; ++round) {
    auto sequenced = outbox_.sequence(holder_, opt_.lease_ms, opt_.batch);
    if (!sequenced) return total;  // another process relays
    auto batch = outbox_.unpublished(opt_.batch);
    if (batch.empty()) return total;
    std::size_t ok = 0;
    try {
      for (const auto& e : batch) {
        bus_.publish(e);
        ++ok;
      }
    } catch (...) {
      if (ok > 0) outbox_.mark_published(batch.front().seq, batch[ok - 1].seq);
      published_ += ok;
      throw;
    }
    outbox_.mark_published(batch.front().seq, batch.back().seq);
    published_ += ok;
    total += ok;
    if (batch.size() < opt_.batch && *sequenced < opt_.batch) return total;
  }
  return total;
}

std::size_t Relay::purge_once() {
  const int64_t before = clock_.now_ms() - opt_.retention_ms;
  std::size_t total = 0;
  for (int i = 0; i < opt_.max_purge_batches; ++i) {
    std::size_t n = outbox_.purge(before, opt_.purge_batch);
    total += n;
    if (n < opt_.purge_batch) break;
  }
  return total;
}

BackgroundLoop::Next Relay::tick() {
  try {
    run_once();
    if (failing_) spdlog::info("events: relay publishing again");
    failing_ = false;
    delay_ = opt_.poll_ms;
  } catch (const std::exception& e) {
    ++failures_;
    if (!failing_) spdlog::warn("events: relay pass failed (events stay in the outbox; retrying): {}", e.what());
    failing_ = true;
    delay_ = std::min(std::max(delay_, opt_.poll_ms) * 2, opt_.max_backoff_ms);
  }
  if (std::chrono::steady_clock::now() >= next_purge_) {
    next_purge_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.purge_every_ms);
    try {
      if (std::size_t n = purge_once()) spdlog::info("events: purged {} events past retention", n);
    } catch (const std::exception& e) {
      spdlog::warn("events: purge failed (retried later): {}", e.what());
    }
  }
  // While failing, a wake-up does not cut the backoff short: a commit storm must not turn
  // into a retry storm against a dead Redis.
  return {std::chrono::milliseconds(delay_), !failing_};
}

}  // namespace taskhub::events
