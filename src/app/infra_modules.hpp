#pragma once
// Infrastructure modules: they own no domain data, they provide ports to the services.
#include <memory>

#include "app/modules.hpp"

namespace taskhub {

std::unique_ptr<Module> make_database_module(AppContext& ctx);
std::unique_ptr<Module> make_mailer_module(AppContext& ctx);
std::unique_ptr<Module> make_ops_module(AppContext& ctx);

}  // namespace taskhub
