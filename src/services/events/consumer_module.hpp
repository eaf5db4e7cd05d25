#pragma once
// The module shape shared by the services that are durable outbox consumers with a loop of their
// own (webhooks, analytics): every event on the bus wakes the service, which is started with the
// module and stopped before it goes. The derived module's constructor builds svc_ and sets bus_.
// Service needs wake(), start() and stop().

#include <memory>

#include "app/modules.hpp"
#include "services/events/consumer_pacing.hpp"

namespace taskhub::events {

template <class Service>
class ConsumerModule : public Module {
 public:
  ~ConsumerModule() override { stop(); }

  void start() override {
    Service* svc = svc_.get();
    wakeup_.start(*bus_, [svc] { svc->wake(); });
    svc_->start();
  }
  void stop() override {
    wakeup_.stop();
    if (svc_) svc_->stop();
  }

 protected:
  std::unique_ptr<Service> svc_;
  EventBus* bus_ = nullptr;

 private:
  BusWakeup wakeup_;
};

}  // namespace taskhub::events
