#pragma once
#include "http/router.hpp"
#include "services/notifications/service.hpp"

namespace taskhub::notifications {

void register_routes(http::Router& router, NotificationsService& svc);

}  // namespace taskhub::notifications
