#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::analytics {

std::unique_ptr<Module> make_module(AppContext& ctx);

}  // namespace taskhub::analytics
