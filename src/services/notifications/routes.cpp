#include "services/notifications/routes.hpp"

#include <boost/json.hpp>

#include "core/error.hpp"
#include "core/json_input.hpp"
#include "core/pagination.hpp"
#include "services/notifications/render.hpp"
#include "core/tz.hpp"

namespace taskhub::notifications {

namespace json = boost::json;

namespace {

json::object prefs_json(const Preferences& p) {
  json::object kinds;
  for (const auto& k : p.kinds) kinds[k.kind] = json::object{{"in_app", k.in_app}, {"email", k.email}};
  return json::object{{"timezone", p.timezone}, {"kinds", std::move(kinds)}};
}

bool wants_html(const http::Request& req) {
  auto accept = req.header("Accept");
  return accept.find("text/html") != std::string_view::npos;
}

}  // namespace

void register_routes(http::Router& router, NotificationsService& svc) {
  const http::RouteOptions authed{.auth = http::Auth::required, .max_body = 4096};
  // Marking read is bookkeeping of one's own inbox, allowed to read-only API tokens too.
  const http::RouteOptions own_state{.auth = http::Auth::required, .max_body = 1024, .read_scope_ok = true};

  router.add(
      "GET", "/api/v1/notifications",
      [&svc](http::Request& req) {
        int limit = parse_limit(req.query_param("limit"));
        bool unread = false;
        if (auto u = req.query_param("unread"); u && !u->empty()) {
          if (*u == "true") unread = true;
          else if (*u != "false") throw bad_field("unread", "must be true or false");
        }
        auto cursor = req.query_param("cursor");
        if (cursor && cursor->empty()) cursor.reset();
        auto page = svc.list(req.user().user_id, unread, cursor, limit);
        json::array items;
        for (const auto& n : page.items) items.push_back(notification_to_json(n));
        return http::Response::json(
            200, json::object{{"items", std::move(items)},
                              {"next_cursor", page.next_cursor ? json::value(*page.next_cursor) : json::value(nullptr)}});
      },
      authed);

  router.add(
      "GET", "/api/v1/notifications/unread-count",
      [&svc](http::Request& req) {
        return http::Response::json(200, json::object{{"count", svc.unread_count(req.user().user_id)}});
      },
      authed);

  router.add(
      "POST", "/api/v1/notifications/{id}/read",
      [&svc](http::Request& req) {
        expect_empty_body(req.body);
        return http::Response::json(
            200, notification_to_json(svc.mark_read(req.user().user_id, std::string(req.param("id")))));
      },
      own_state);

  router.add(
      "POST", "/api/v1/notifications/read-all",
      [&svc](http::Request& req) {
        expect_empty_body(req.body);
        return http::Response::json(200, json::object{{"updated", svc.mark_all_read(req.user().user_id)}});
      },
      own_state);

  router.add(
      "DELETE", "/api/v1/notifications/{id}",
      [&svc](http::Request& req) {
        svc.remove(req.user().user_id, std::string(req.param("id")));
        return http::Response::no_content();
      },
      own_state);

  router.add(
      "GET", "/api/v1/notifications/preferences",
      [&svc](http::Request& req) { return http::Response::json(200, prefs_json(svc.preferences(req.user().user_id))); },
      authed);

  router.add(
      "PATCH", "/api/v1/notifications/preferences",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"timezone", "kinds"});
        PreferencesPatch patch;
        patch.timezone = r.optional_string("timezone", 1, 64);
        if (patch.timezone && !plausible_zone_name(*patch.timezone)) r.add_error("timezone", "must be an IANA time zone name");
        if (const auto* k = body.if_contains("kinds")) {
          if (!k->is_object()) {
            r.add_error("kinds", "must be an object of kind -> {in_app, email}");
          } else {
            for (const auto& kv : k->as_object()) {
              std::string kind(kv.key());
              if (!is_kind(kind)) {
                r.add_error("kinds." + kind, "is not a notification kind");
                continue;
              }
              if (!kv.value().is_object()) {
                r.add_error("kinds." + kind, "must be an object {in_app, email}");
                continue;
              }
              ObjectReader kr(kv.value().as_object(), {"in_app", "email"}, "kinds." + kind);
              auto in_app = kr.optional_bool("in_app");
              auto email = kr.optional_bool("email");
              try {
                kr.finish();
              } catch (const ApiError& e) {
                for (const auto& fe : e.errors()) r.add_error(fe.field, fe.message);
                continue;
              }
              patch.kinds.emplace_back(kind, in_app, email);
            }
          }
        }
        r.finish();
        return http::Response::json(200, prefs_json(svc.update_preferences(req.user().user_id, patch)));
      },
      authed);

  // RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" without credentials.
  // The signed token is the authority; the body is not needed.
  const http::RouteOptions open{.auth = http::Auth::none, .max_body = 1024};
  router.add(
      "POST", "/api/v1/notifications/unsubscribe",
      [&svc](http::Request& req) {
        auto token = req.query_param("token");
        if (!token || token->empty()) throw bad_field("token", "is required");
        auto ks = svc.unsubscribe(*token);
        json::array a;
        for (const auto& k : ks) a.push_back(json::value(k));
        return http::Response::json(200, json::object{{"unsubscribed", std::move(a)}});
      },
      open);
  // GET only shows what the link would do (link scanners follow GETs): nothing changes.
  router.add(
      "GET", "/api/v1/notifications/unsubscribe",
      [&svc](http::Request& req) {
        auto token = req.query_param("token");
        if (!token || token->empty()) throw bad_field("token", "is required");
        auto t = svc.verify_token(*token);
        if (!t) throw bad_field("token", "is not a valid unsubscribe token");
        std::string list;
        json::array a;
        for (const auto& k : t->second) {
          list += (list.empty() ? "" : ", ") + k;
          a.push_back(json::value(k));
        }
        if (wants_html(req)) {
          std::string html =
              "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head><body>"
              "<p>Stop e-mails about: " + markup_escape(list) + "?</p><form method=\"post\" action=\"?token=" +
              markup_escape(*token) + "\"><button type=\"submit\">Unsubscribe</button></form></body></html>";
          return http::Response::text(200, html, "text/html; charset=utf-8");
        }
        return http::Response::json(200, json::object{{"kinds", std::move(a)}, {"confirm", "POST this URL to unsubscribe"}});
      },
      open);
}

}  // namespace taskhub::notifications
