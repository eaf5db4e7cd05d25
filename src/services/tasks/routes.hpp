#pragma once
// HTTP handlers of the tasks service: parse and validate the DTO, call TasksService, build JSON.
#include <boost/json/object.hpp>

#include "http/router.hpp"
#include "services/tasks/service.hpp"

namespace taskhub::tasks {

void register_routes(http::Router& router, TasksService& service);

boost::json::object task_to_json(const Task& t);
boost::json::object comment_to_json(const Comment& c);

}  // namespace taskhub::tasks
