#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::tasks {
// Builds the tasks service over ctx.db and ctx.projects and registers /api/v1/tasks/*,
// /api/v1/projects/{id}/tasks*, /api/v1/comments/* and /api/v1/users/me/tasks.
std::unique_ptr<Module> make_module(AppContext& ctx);
}  // namespace taskhub::tasks
