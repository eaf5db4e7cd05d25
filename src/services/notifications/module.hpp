#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::notifications {

// Module "notifications" (deps database, mailer, auth, projects, events, jobs): the outbox
// consumer thread (one active across processes, by lease), the /api/v1/notifications routes
// and the e-mail, due-date and digest job handlers (run by a "worker" in the same process).
std::unique_ptr<Module> make_module(AppContext& ctx);

}  // namespace taskhub::notifications
