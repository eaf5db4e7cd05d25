#pragma once
// HTTP handlers of the projects service: parse and validate the DTO, call ProjectsService,
// build JSON.
#include <boost/json/object.hpp>

#include "http/router.hpp"
#include "services/projects/service.hpp"

namespace taskhub::projects {

void register_routes(http::Router& router, ProjectsService& service);

boost::json::object workspace_to_json(const Workspace& w);
boost::json::object project_to_json(const Project& p);

}  // namespace taskhub::projects
