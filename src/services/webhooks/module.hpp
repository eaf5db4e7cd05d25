#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::webhooks {

// Builds the webhooks service: routes, the outbox consumer (fan-out) and the delivery jobs.
std::unique_ptr<Module> make_module(AppContext& ctx);

}  // namespace taskhub::webhooks
