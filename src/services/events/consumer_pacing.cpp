#include "services/events/consumer_pacing.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

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
