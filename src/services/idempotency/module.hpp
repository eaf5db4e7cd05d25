#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::idempotency {
// Installs the SQL Idempotency-Key store on the HTTP server (every authenticated POST gets
// Idempotency-Key support, no per-handler code) and runs the clean-up thread (every 10
// minutes, bounded deletes of keys older than 24 hours).
std::unique_ptr<Module> make_module(AppContext& ctx);
}  // namespace taskhub::idempotency
