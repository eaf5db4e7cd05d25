#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::auth {
// Builds the auth service, registers /api/v1/auth/* and /api/v1/users/* routes, and installs
// ctx.authenticator (bearer JWT or API token) and ctx.auth.
std::unique_ptr<Module> make_module(AppContext& ctx);
}  // namespace taskhub::auth
