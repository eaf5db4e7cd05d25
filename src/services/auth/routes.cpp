#include "services/auth/routes.hpp"

#include <boost/json.hpp>

#include <charconv>

#include "core/json_output.hpp"
#include "core/error.hpp"
#include "core/json_input.hpp"
#include "core/time.hpp"

namespace taskhub::auth {

namespace json = boost::json;

namespace {

constexpr std::size_t kSmallBody = 16 * 1024;

json::object session_to_json(const SessionInfo& s) {
  return json::object{{"id", s.id},
                      {"user_agent", s.user_agent},
                      {"ip", s.ip},
                      {"created_at", format_rfc3339_ms(s.created_at)},
                      {"last_used_at", format_rfc3339_ms(s.last_used_at)},
                      {"expires_at", format_rfc3339_ms(s.expires_at)},
                      {"current", s.current}};
}

json::object api_token_to_json(const ApiTokenInfo& t, bool with_secret) {
  json::object o;
  o["id"] = t.id;
  o["name"] = t.name;
  o["scope"] = t.scope;
  if (with_secret) o["token"] = t.token;
  o["token_prefix"] = t.token_prefix;
  o["created_at"] = format_rfc3339_ms(t.created_at);
  o["expires_at"] = time_or_null(t.expires_at);
  o["last_used_at"] = time_or_null(t.last_used_at);
  return o;
}

ClientInfo client_of(const http::Request& req) {
  return ClientInfo{std::string(req.header("User-Agent")), req.remote_addr};
}

// "none or {}": an empty body is fine, otherwise it must be an object with no members.
void expect_empty_object(const http::Request& req) {
  bool blank = true;
  for (char c : req.body)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') blank = false;
  if (blank) return;
  auto body = parse_json_object(req.body);
  ObjectReader r(body, {});
  r.finish();
}

void refuse_api_token(const Principal& p) {
  if (p.kind == CredentialKind::api_token)
    throw forbidden("API tokens cannot manage API tokens; sign in with a password.");
}

std::optional<int64_t> parse_limit(const http::Request& req) {
  auto v = req.query_param("limit");
  if (!v) return std::nullopt;
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || ptr != v->data() + v->size() || n < 1 || n > 200)
    throw bad_field("limit", "must be an integer between 1 and 200");
  return n;
}

}  // namespace

json::object user_to_json(const User& u) {
  return json::object{{"id", u.id},
                      {"email", u.email},
                      {"display_name", u.display_name},
                      {"timezone", u.timezone},
                      {"is_admin", u.is_admin},
                      {"is_active", u.is_active},
                      {"created_at", format_rfc3339_ms(u.created_at)},
                      {"updated_at", format_rfc3339_ms(u.updated_at)}};
}

json::object token_pair_to_json(const TokenPair& p) {
  return json::object{{"access_token", p.access.token},
                      {"token_type", "Bearer"},
                      {"expires_in", p.access.expires_in},
                      {"refresh_token", p.refresh_token},
                      {"refresh_expires_in", p.refresh_expires_in},
                      {"user", user_to_json(p.user)}};
}

void register_routes(http::Router& router, AuthService& svc) {
  const http::RouteOptions open{.auth = http::Auth::none, .max_body = kSmallBody};
  const http::RouteOptions authed{.auth = http::Auth::required, .max_body = kSmallBody};

  // ---- /api/v1/auth

  router.add(
      "POST", "/api/v1/auth/register",
      [&svc](http::Request& req) {
        if (!svc.options().registration_open)
          throw ApiError(403, "registration-closed", "Registration is closed on this instance.");
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"email", "password", "display_name", "timezone"});
        RegisterInput in;
        in.email = r.required_string("email", 1, 320);
        if (!in.email.empty() && !normalize_email(in.email)) r.add_error("email", "must be a valid e-mail address");
        in.password = r.required_string("password", 8, 256);
        in.display_name = r.required_string("display_name", 1, 100);
        in.timezone = r.optional_string("timezone", 1, 64);
        if (in.timezone && !valid_timezone(*in.timezone))
          r.add_error("timezone", "must be an IANA time zone name such as Europe/Berlin");
        r.finish();
        User u = svc.register_user(in);
        auto resp = http::Response::json(201, user_to_json(u));
        resp.headers.set("Location", "/api/v1/users/me");
        return resp;
      },
      open);

  router.add(
      "POST", "/api/v1/auth/login",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"email", "password"});
        std::string email = r.required_string("email", 1, 320);
        std::string password = r.required_string("password", 1, 1024);
        r.finish();
        return http::Response::json(200, token_pair_to_json(svc.login(email, password, client_of(req))));
      },
      open);

  router.add(
      "POST", "/api/v1/auth/refresh",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"refresh_token"});
        std::string token = r.required_string("refresh_token", 1, 1024);
        r.finish();
        return http::Response::json(200, token_pair_to_json(svc.refresh(token, client_of(req))));
      },
      open);

  router.add(
      "POST", "/api/v1/auth/logout",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"refresh_token"});
        std::string token = r.required_string("refresh_token", 1, 1024);
        r.finish();
        svc.logout(token);
        return http::Response::no_content();
      },
      open);

  router.add(
      "POST", "/api/v1/auth/logout-all",
      [&svc](http::Request& req) {
        expect_empty_object(req);
        svc.logout_all(req.user());
        return http::Response::no_content();
      },
      authed);

  router.add(
      "POST", "/api/v1/auth/password-reset/request",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"email"});
        std::string email = r.required_string("email", 1, 320);
        if (!email.empty() && !normalize_email(email)) r.add_error("email", "must be a valid e-mail address");
        r.finish();
        svc.request_password_reset(email, client_of(req));
        return http::Response::json(202, json::object{{"status", "accepted"}});
      },
      open);

  router.add(
      "POST", "/api/v1/auth/password-reset/confirm",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"token", "new_password"});
        std::string token = r.required_string("token", 1, 1024);
        std::string password = r.required_string("new_password", 8, 256);
        r.finish();
        svc.confirm_password_reset(token, password);
        return http::Response::no_content();
      },
      open);

  // ---- /api/v1/users/me

  router.add(
      "GET", "/api/v1/users/me",
      [&svc](http::Request& req) { return http::Response::json(200, user_to_json(svc.get_user(req.user().user_id))); },
      authed);

  router.add(
      "PATCH", "/api/v1/users/me",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"display_name", "timezone"});
        auto name = r.optional_string("display_name", 1, 100);
        auto tz = r.optional_string("timezone", 1, 64);
        if (tz && !valid_timezone(*tz)) r.add_error("timezone", "must be an IANA time zone name such as Europe/Berlin");
        r.finish();
        return http::Response::json(200, user_to_json(svc.update_profile(req.user(), name, tz)));
      },
      authed);

  router.add(
      "POST", "/api/v1/users/me/password",
      [&svc](http::Request& req) {
        const Principal& p = req.user();
        if (p.kind == CredentialKind::api_token)
          throw forbidden("Changing the password needs a signed-in session, not an API token.");
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"current_password", "new_password"});
        std::string current = r.required_string("current_password", 1, 1024);
        std::string next = r.required_string("new_password", 8, 256);
        r.finish();
        AccessToken t = svc.change_password(p, current, next);
        return http::Response::json(
            200, json::object{{"access_token", t.token}, {"token_type", "Bearer"}, {"expires_in", t.expires_in}});
      },
      authed);

  router.add(
      "GET", "/api/v1/users/me/sessions",
      [&svc](http::Request& req) {
        json::array items;
        for (const auto& s : svc.list_sessions(req.user())) items.push_back(session_to_json(s));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      authed);

  router.add(
      "DELETE", "/api/v1/users/me/sessions/{id}",
      [&svc](http::Request& req) {
        svc.revoke_session(req.user(), req.param("id"));
        return http::Response::no_content();
      },
      authed);

  router.add(
      "POST", "/api/v1/users/me/api-tokens",
      [&svc](http::Request& req) {
        const Principal& p = req.user();
        refuse_api_token(p);
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "scope", "expires_in_days"});
        std::string name = r.required_string("name", 1, 100);
        std::optional<std::string> scope;
        if (!r.has("scope") || r.is_null("scope"))
          r.add_error("scope", "is required");
        else
          scope = r.optional_enum("scope", {"read", "read-write"});
        auto days = r.optional_int("expires_in_days", 1, 3650);
        r.finish();
        ApiTokenInfo t = svc.create_api_token(p, name, *scope, days);
        auto resp = http::Response::json(201, api_token_to_json(t, true));
        resp.headers.set("Location", "/api/v1/users/me/api-tokens/" + t.id);
        return resp;
      },
      authed);

  router.add(
      "GET", "/api/v1/users/me/api-tokens",
      [&svc](http::Request& req) {
        json::array items;
        for (const auto& t : svc.list_api_tokens(req.user())) items.push_back(api_token_to_json(t, false));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      authed);

  router.add(
      "DELETE", "/api/v1/users/me/api-tokens/{id}",
      [&svc](http::Request& req) {
        svc.revoke_api_token(req.user(), req.param("id"));
        return http::Response::no_content();
      },
      authed);

  // ---- /api/v1/admin

  router.add(
      "GET", "/api/v1/admin/users",
      [&svc](http::Request& req) {
        const Principal& p = req.user();
        if (!p.is_admin) throw forbidden("Administrator access is required.");
        int64_t limit = parse_limit(req).value_or(50);
        auto cursor = req.query_param("cursor");
        if (cursor && cursor->empty()) cursor.reset();
        UserPage page = svc.admin_list_users(p, limit, cursor);
        json::array items;
        for (const auto& u : page.items) items.push_back(user_to_json(u));
        json::value next = nullptr;
        if (page.next_cursor) next = json::value(*page.next_cursor);
        return http::Response::json(200, json::object{{"items", std::move(items)}, {"next_cursor", next}});
      },
      authed);

  router.add(
      "POST", "/api/v1/admin/users/{id}/deactivate",
      [&svc](http::Request& req) {
        return http::Response::json(200, user_to_json(svc.admin_set_active(req.user(), req.param("id"), false)));
      },
      authed);

  router.add(
      "POST", "/api/v1/admin/users/{id}/activate",
      [&svc](http::Request& req) {
        return http::Response::json(200, user_to_json(svc.admin_set_active(req.user(), req.param("id"), true)));
      },
      authed);
}

}  // namespace taskhub::auth
