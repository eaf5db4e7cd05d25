#pragma once
#include "http/router.hpp"
#include "services/analytics/service.hpp"

namespace taskhub::analytics {

void register_routes(http::Router& router, AnalyticsService& svc, Clock& clock);

}  // namespace taskhub::analytics
