#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::projects {

// Builds the projects service, registers its routes and sets ctx.projects.
std::unique_ptr<Module> make_module(AppContext& ctx);

}  // namespace taskhub::projects
