#pragma once
#include <boost/json/object.hpp>

#include "http/router.hpp"
#include "services/webhooks/service.hpp"

namespace taskhub::webhooks {

boost::json::object webhook_to_json(const Webhook& w);
boost::json::object delivery_to_json(const Delivery& d);
void register_routes(http::Router& router, WebhookService& svc);

}  // namespace taskhub::webhooks
