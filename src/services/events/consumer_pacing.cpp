#include "services/events/consumer_pacing.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace taskhub::events {

BackgroundLoop::Next ConsumerPacing::run(const std::function<bool()>& pass) {
  try {
    bool more = pass();
    backoff_ = std::chrono::milliseconds(0);
    return more ? std::chrono::milliseconds(0) : poll_;
  } catch (const std::exception& e) {
    backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(500), std::chrono::milliseconds(10'000));
    spdlog::warn("{}: consumer pass failed (retry in {} ms): {}", name_, backoff_.count(), e.what());
    return {backoff_, /*wake_cuts_short=*/false};
  }
}

LeaseState read_lease(sql::Connection& c, std::string_view table, const std::string& holder, int64_t now,
                      int64_t lease_ms) {
  auto res = c.query("SELECT last_seq, holder, lease_until FROM " + std::string(table) + " WHERE id = 1");
  if (res.empty()) throw std::runtime_error(std::string(table) + ": the consumer row is missing");
  auto r = res[0];
  LeaseState st;
  st.last_seq = r.i64(0);
  const bool mine = r.str(1) == holder;
  st.free = mine || r.i64(2) < now;
  st.fresh = mine && r.i64(2) - now > lease_ms / 2;
  return st;
}

bool claim_lease(sql::Connection& c, std::string_view table, const std::string& holder, int64_t now,
                 int64_t lease_ms, int64_t cursor) {
  // On PostgreSQL a second consumer blocks on the row lock, then fails the re-checked WHERE.
  return c.exec("UPDATE " + std::string(table) +
                    " SET holder = ?, lease_until = ? WHERE id = 1 AND last_seq = ? AND (holder = ? OR lease_until < ?)",
                {holder, now + lease_ms, cursor, holder, now}) == 1;
}

void move_cursor(sql::Connection& c, std::string_view table, int64_t to) {
  c.exec("UPDATE " + std::string(table) + " SET last_seq = ? WHERE id = 1", {to});
}

void BusWakeup::start(EventBus& bus, std::function<void()> wake) {
  if (subscription_) return;
  bus_ = &bus;
  subscription_ = bus.subscribe([wake = std::move(wake)](const Event&) { wake(); });
}

void BusWakeup::stop() {
  if (!subscription_) return;
  bus_->unsubscribe(*subscription_);
  subscription_.reset();
}

}  // namespace taskhub::events
