#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::realtime {
// WebSocket /api/v1/ws and Server-Sent Events /api/v1/events: live domain events from the
// bus (ctx.bus), replay from the outbox (ctx.outbox). See docs/realtime.md.
std::unique_ptr<Module> make_module(AppContext& ctx);
}  // namespace taskhub::realtime
