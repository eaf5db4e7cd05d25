#pragma once
#include <boost/json/object.hpp>

#include "http/router.hpp"
#include "services/jobs/queue.hpp"

namespace taskhub::jobs {
// /api/v1/admin/jobs*: the queue as instance administrators see it (others: 403).
void register_routes(http::Router& router, SqlJobQueue& queue);
// The JSON of one job (also printed by `taskhub jobs list`).
boost::json::object job_to_json(const JobRecord& j);
}  // namespace taskhub::jobs
