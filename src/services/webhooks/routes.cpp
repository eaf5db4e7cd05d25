#include "services/webhooks/routes.hpp"

#include <boost/json.hpp>

#include "core/error.hpp"
#include "core/json_input.hpp"
#include "core/json_output.hpp"
#include "core/pagination.hpp"
#include "core/time.hpp"

namespace taskhub::webhooks {

namespace json = boost::json;

namespace {

constexpr std::size_t kBody = 16 * 1024;

WebhookInput read_input(const http::Request& req, bool create) {
  auto body = parse_json_object(req.body);
  ObjectReader r(body, {"url", "secret", "event_types", "active"});
  WebhookInput in;
  in.url = create ? std::optional<std::string>(r.required_string("url", 1, kMaxUrlLength))
                  : r.optional_string("url", 1, kMaxUrlLength);
  in.secret = r.optional_string("secret", 1, 1000);
  if (auto* t = body.if_contains("event_types"); t && t->is_string()) {
    if (t->as_string() == "*")
      in.event_types = std::vector<std::string>{"*"};
    else
      r.add_error("event_types", "must be a list of event types, or \"*\"");
  } else {
    in.event_types = r.optional_string_array("event_types", kMaxEventTypes, kMaxEventTypeLength);
  }
  in.active = r.optional_bool("active");
  r.finish();
  if (!create && r.has("url") && r.is_null("url")) throw bad_field("url", "must not be null");
  return in;
}

json::object attempt_to_json(const Attempt& a) {
  return json::object{{"attempt", a.attempt},
                      {"status", a.status},
                      {"response_code", a.response_code ? json::value(*a.response_code) : json::value(nullptr)},
                      {"duration_ms", a.duration_ms},
                      {"error", str_or_null(a.error)},
                      {"time", format_rfc3339_ms(a.created_at)}};
}

}  // namespace

json::object webhook_to_json(const Webhook& w) {
  json::array types;
  for (const auto& t : w.event_types) types.emplace_back(t);
  return json::object{{"id", w.id},
                      {"project_id", w.project_id},
                      {"workspace_id", w.workspace_id},
                      {"url", w.url},
                      {"event_types", std::move(types)},
                      {"active", w.active},
                      {"disabled_reason", str_or_null(w.disabled_reason)},
                      {"disabled_at", time_or_null(w.disabled_at)},
                      {"failing_since", time_or_null(w.failing_since)},
                      {"created_by", w.created_by},
                      {"created_at", format_rfc3339_ms(w.created_at)},
                      {"updated_at", format_rfc3339_ms(w.updated_at)}};
}

json::object delivery_to_json(const Delivery& d) {
  json::array attempts;
  for (const auto& a : d.attempt_log) attempts.push_back(attempt_to_json(a));
  return json::object{{"id", d.id},
                      {"webhook_id", d.webhook_id},
                      {"event_id", d.event_id},
                      {"event_type", d.event_type},
                      {"status", d.status},
                      {"attempt", d.attempts},
                      {"response_code", d.response_code ? json::value(*d.response_code) : json::value(nullptr)},
                      {"duration_ms", d.duration_ms ? json::value(*d.duration_ms) : json::value(nullptr)},
                      {"error", str_or_null(d.error)},
                      {"attempts", std::move(attempts)},
                      {"created_at", format_rfc3339_ms(d.created_at)},
                      {"updated_at", format_rfc3339_ms(d.updated_at)}};
}

void register_routes(http::Router& router, WebhookService& svc) {
  const http::RouteOptions authed{.auth = http::Auth::required, .max_body = kBody};

  router.add(
      "POST", "/api/v1/projects/{id}/webhooks",
      [&svc](http::Request& req) {
        svc.authorize(req.user().user_id, std::string(req.param("id")));  // 404/403 before 400
        auto in = read_input(req, true);
        auto created = svc.create(req.user().user_id, std::string(req.param("id")), in);
        auto body = webhook_to_json(created.webhook);
        body["secret"] = created.secret;  // the only time it is shown
        auto resp = http::Response::json(201, body);
        resp.headers.set("Location", "/api/v1/webhooks/" + created.webhook.id);
        return resp;
      },
      authed);

  router.add(
      "GET", "/api/v1/projects/{id}/webhooks",
      [&svc](http::Request& req) {
        json::array items;
        for (const auto& w : svc.list(req.user().user_id, std::string(req.param("id"))))
          items.push_back(webhook_to_json(w));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      authed);

  router.add(
      "GET", "/api/v1/webhooks/{id}",
      [&svc](http::Request& req) {
        return http::Response::json(200, webhook_to_json(svc.get(req.user().user_id, std::string(req.param("id")))));
      },
      authed);

  router.add(
      "PATCH", "/api/v1/webhooks/{id}",
      [&svc](http::Request& req) {
        const std::string id(req.param("id"));
        svc.get(req.user().user_id, id);  // 404/403 before 400: do not reveal validation to outsiders
        auto in = read_input(req, false);
        return http::Response::json(200, webhook_to_json(svc.update(req.user().user_id, id, in)));
      },
      authed);

  router.add(
      "DELETE", "/api/v1/webhooks/{id}",
      [&svc](http::Request& req) {
        svc.remove(req.user().user_id, std::string(req.param("id")));
        return http::Response::no_content();
      },
      authed);

  router.add(
      "GET", "/api/v1/webhooks/{id}/deliveries",
      [&svc](http::Request& req) {
        const std::string id(req.param("id"));
        int limit = parse_limit(req.query_param("limit"));
        auto before = decode_id_cursor(req.query_param("cursor"));
        auto page = svc.deliveries(req.user().user_id, id, before, limit);
        json::array items;
        for (const auto& d : page) items.push_back(delivery_to_json(d));
        std::optional<std::string> next;
        if (static_cast<int>(page.size()) == limit) next = encode_id_cursor(page.back().id);
        return http::Response::json(200, json::object{{"items", std::move(items)}, {"next_cursor", str_or_null(next)}});
      },
      authed);

  router.add(
      "POST", "/api/v1/webhooks/{id}/test",
      [&svc](http::Request& req) {
        auto d = svc.ping(req.user().user_id, std::string(req.param("id")));
        return http::Response::json(202, delivery_to_json(d));
      },
      authed);
}

}  // namespace taskhub::webhooks
