#pragma once
// HTTP handlers of the auth service: parse and validate the DTO, call AuthService, build JSON.
#include <boost/json/object.hpp>

#include "http/router.hpp"
#include "services/auth/service.hpp"

namespace taskhub::auth {

void register_routes(http::Router& router, AuthService& service);

// JSON shapes shared with tests and other modules.
boost::json::object user_to_json(const User& u);
boost::json::object token_pair_to_json(const TokenPair& p);

}  // namespace taskhub::auth
