#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::events {
// Builds the outbox and the bus (Redis when REDIS_URI is set, else in-process), fills
// ctx.outbox and ctx.bus, registers GET /api/v1/admin/events and /api/v1/admin/events/delivered,
// and runs the relay (and the Redis subscriber) between start() and stop().
std::unique_ptr<Module> make_module(AppContext& ctx);
}  // namespace taskhub::events
