#include "services/projects/routes.hpp"

#include <boost/json.hpp>

#include "core/json_output.hpp"
#include "core/error.hpp"
#include "core/etag.hpp"
#include "core/json_input.hpp"
#include "core/pagination.hpp"
#include "core/time.hpp"

namespace taskhub::projects {

namespace json = boost::json;

namespace {

constexpr std::size_t kSmallBody = 16 * 1024;
constexpr std::size_t kProjectBody = 64 * 1024;
constexpr std::size_t kMaxDescription = 10000;

json::object member_to_json(const Member& m) {
  return json::object{{"user_id", m.user_id},
                      {"email", m.email},
                      {"display_name", m.display_name},
                      {"role", m.role},
                      {"joined_at", format_rfc3339_ms(m.joined_at)}};
}

json::object invitation_to_json(const InvitationRecord& i) {
  return json::object{{"id", i.id},
                      {"workspace_id", i.workspace_id},
                      {"email", i.email},
                      {"role", i.role},
                      {"invited_by", i.invited_by},
                      {"created_at", format_rfc3339_ms(i.created_at)},
                      {"expires_at", format_rfc3339_ms(i.expires_at)}};
}

json::object state_to_json(const StateRecord& s) {
  return json::object{{"id", s.id},       {"project_id", s.project_id}, {"name", s.name},
                      {"group", s.group}, {"color", s.color},           {"position", s.position}};
}

json::object label_to_json(const LabelRecord& l) {
  return json::object{{"id", l.id},
                      {"project_id", l.project_id},
                      {"name", l.name},
                      {"color", l.color},
                      {"created_at", format_rfc3339_ms(l.created_at)}};
}

http::Response created(const json::object& body, const std::string& location) {
  auto resp = http::Response::json(201, body);
  resp.headers.set("Location", location);
  return resp;
}

http::Response project_response(int status, const Project& p) {
  auto resp = http::Response::json(status, project_to_json(p));
  resp.headers.set("ETag", make_etag(p.record.version));
  return resp;
}

// "none or {}": an empty body is fine, otherwise it must be an object with no members.
void expect_empty_object(const http::Request& req) {
  for (char c : req.body)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      auto body = parse_json_object(req.body);
      ObjectReader r(body, {});
      r.finish();
      return;
    }
}

IfMatch if_match(const http::Request& req) { return parse_if_match(req.header("If-Match")); }

std::string required_enum(ObjectReader& r, std::string_view name, std::initializer_list<std::string_view> values) {
  if (!r.has(name) || r.is_null(name)) {
    r.add_error(std::string(name), "is required");
    return {};
  }
  return r.optional_enum(name, values).value_or("");
}

std::string read_color(ObjectReader& r, std::string_view name, bool required) {
  auto c = required ? std::optional<std::string>(r.required_string(name, 1, 7)) : r.optional_string(name, 1, 7);
  if (c && !c->empty() && !valid_color(*c)) r.add_error(std::string(name), "must be a colour like #3b82f6");
  return c.value_or("");
}

const std::initializer_list<std::string_view> kWsRoles = {"owner", "admin", "member", "guest"};
const std::initializer_list<std::string_view> kProjectRoles = {"admin", "member", "viewer"};

}  // namespace

json::object workspace_to_json(const Workspace& w) {
  return json::object{{"id", w.record.id},
                      {"name", w.record.name},
                      {"role", w.my_role},
                      {"created_by", w.record.created_by},
                      {"created_at", format_rfc3339_ms(w.record.created_at)},
                      {"updated_at", format_rfc3339_ms(w.record.updated_at)}};
}

json::object project_to_json(const Project& p) {
  const auto& r = p.record;
  return json::object{{"id", r.id},
                      {"workspace_id", r.workspace_id},
                      {"name", r.name},
                      {"key", r.key},
                      {"description", r.description},
                      {"is_private", r.is_private},
                      {"archived", r.archived_at.has_value()},
                      {"archived_at", time_or_null(r.archived_at)},
                      {"role", p.my_role},
                      {"version", r.version},
                      {"created_by", r.created_by},
                      {"created_at", format_rfc3339_ms(r.created_at)},
                      {"updated_at", format_rfc3339_ms(r.updated_at)}};
}

void register_routes(http::Router& router, ProjectsService& svc) {
  const http::RouteOptions authed{.auth = http::Auth::required, .max_body = kSmallBody};
  const http::RouteOptions authed_big{.auth = http::Auth::required, .max_body = kProjectBody};

  // ---- workspaces

  router.add(
      "POST", "/api/v1/workspaces",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name"});
        std::string name = r.required_string("name", 1, 100);
        r.finish();
        Workspace w = svc.create_workspace(req.user().user_id, name);
        return created(workspace_to_json(w), "/api/v1/workspaces/" + w.record.id);
      },
      authed);

  router.add(
      "GET", "/api/v1/workspaces",
      [&svc](http::Request& req) {
        int limit = parse_limit(req.query_param("limit"));
        WorkspacePage page = svc.list_workspaces(req.user().user_id, limit, req.query_param("cursor"));
        json::array items;
        for (const auto& w : page.items) items.push_back(workspace_to_json(w));
        return http::Response::json(
            200, json::object{{"items", std::move(items)}, {"next_cursor", str_or_null(page.next_cursor)}});
      },
      authed);

  router.add(
      "GET", "/api/v1/workspaces/{id}",
      [&svc](http::Request& req) {
        return http::Response::json(200, workspace_to_json(svc.get_workspace(req.user().user_id, req.param("id"))));
      },
      authed);

  router.add(
      "PATCH", "/api/v1/workspaces/{id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name"});
        auto name = r.optional_string("name", 1, 100);
        r.finish();
        if (!name)
          return http::Response::json(200, workspace_to_json(svc.get_workspace(req.user().user_id, req.param("id"))));
        return http::Response::json(
            200, workspace_to_json(svc.rename_workspace(req.user().user_id, req.param("id"), *name)));
      },
      authed);

  router.add(
      "DELETE", "/api/v1/workspaces/{id}",
      [&svc](http::Request& req) {
        svc.delete_workspace(req.user().user_id, req.param("id"));
        return http::Response::no_content();
      },
      authed);

  // ---- workspace members

  router.add(
      "GET", "/api/v1/workspaces/{id}/members",
      [&svc](http::Request& req) {
        int limit = parse_limit(req.query_param("limit"));
        MemberPage page = svc.list_members(req.user().user_id, req.param("id"), limit, req.query_param("cursor"));
        json::array items;
        for (const auto& m : page.items) items.push_back(member_to_json(m));
        return http::Response::json(
            200, json::object{{"items", std::move(items)}, {"next_cursor", str_or_null(page.next_cursor)}});
      },
      authed);

  router.add(
      "POST", "/api/v1/workspaces/{id}/members",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"email", "role"});
        std::string email = r.required_string("email", 1, 320);
        std::string role = required_enum(r, "role", kWsRoles);
        r.finish();
        Member m = svc.add_member(req.user().user_id, req.param("id"), email, role);
        return created(member_to_json(m),
                       "/api/v1/workspaces/" + std::string(req.param("id")) + "/members/" + m.user_id);
      },
      authed);

  router.add(
      "PATCH", "/api/v1/workspaces/{id}/members/{user_id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"role"});
        std::string role = required_enum(r, "role", kWsRoles);
        r.finish();
        return http::Response::json(
            200, member_to_json(svc.set_member_role(req.user().user_id, req.param("id"), req.param("user_id"), role)));
      },
      authed);

  router.add(
      "DELETE", "/api/v1/workspaces/{id}/members/{user_id}",
      [&svc](http::Request& req) {
        svc.remove_member(req.user().user_id, req.param("id"), req.param("user_id"));
        return http::Response::no_content();
      },
      authed);

  // ---- invitations

  router.add(
      "POST", "/api/v1/workspaces/{id}/invitations",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"email", "role"});
        std::string email = r.required_string("email", 1, 320);
        std::string role = required_enum(r, "role", kWsRoles);
        r.finish();
        Invitation inv = svc.invite(req.user().user_id, req.param("id"), email, role);
        return created(invitation_to_json(inv.record),
                       "/api/v1/workspaces/" + std::string(req.param("id")) + "/invitations/" + inv.record.id);
      },
      authed);

  router.add(
      "GET", "/api/v1/workspaces/{id}/invitations",
      [&svc](http::Request& req) {
        json::array items;
        for (const auto& i : svc.list_invitations(req.user().user_id, req.param("id")))
          items.push_back(invitation_to_json(i));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      authed);

  router.add(
      "POST", "/api/v1/workspaces/{id}/invitations/{invitation_id}/resend",
      [&svc](http::Request& req) {
        expect_empty_object(req);
        Invitation inv = svc.resend_invitation(req.user().user_id, req.param("id"), req.param("invitation_id"));
        return http::Response::json(200, invitation_to_json(inv.record));
      },
      authed);

  router.add(
      "DELETE", "/api/v1/workspaces/{id}/invitations/{invitation_id}",
      [&svc](http::Request& req) {
        svc.revoke_invitation(req.user().user_id, req.param("id"), req.param("invitation_id"));
        return http::Response::no_content();
      },
      authed);

  router.add(
      "POST", "/api/v1/invitations/accept",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"token"});
        std::string token = r.required_string("token", 1, 512);
        r.finish();
        return http::Response::json(200, workspace_to_json(svc.accept_invitation(req.user().user_id, token)));
      },
      authed);

  // ---- projects

  router.add(
      "POST", "/api/v1/workspaces/{id}/projects",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "key", "description", "is_private"});
        ProjectInput in;
        in.name = r.required_string("name", 1, 100);
        in.key = r.required_string("key", 2, 10);
        if (!in.key.empty() && !valid_project_key(in.key))
          r.add_error("key", "must be 2 to 10 upper-case letters or digits, starting with a letter (e.g. WEB)");
        in.description = r.optional_string("description", 0, kMaxDescription);
        in.is_private = r.optional_bool("is_private");
        r.finish();
        Project p = svc.create_project(req.user().user_id, req.param("id"), in);
        auto resp = created(project_to_json(p), "/api/v1/projects/" + p.record.id);
        resp.headers.set("ETag", make_etag(p.record.version));
        return resp;
      },
      authed_big);

  router.add(
      "GET", "/api/v1/workspaces/{id}/projects",
      [&svc](http::Request& req) {
        int limit = parse_limit(req.query_param("limit"));
        ProjectPage page = svc.list_projects(req.user().user_id, req.param("id"), limit, req.query_param("cursor"));
        json::array items;
        for (const auto& p : page.items) items.push_back(project_to_json(p));
        return http::Response::json(
            200, json::object{{"items", std::move(items)}, {"next_cursor", str_or_null(page.next_cursor)}});
      },
      authed);

  router.add(
      "GET", "/api/v1/projects/{id}",
      [&svc](http::Request& req) {
        return project_response(200, svc.get_project(req.user().user_id, req.param("id")));
      },
      authed);

  router.add(
      "PATCH", "/api/v1/projects/{id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "description", "is_private", "key"});
        ProjectPatch p;
        p.name = r.optional_string("name", 1, 100);
        p.description = r.optional_string("description", 0, kMaxDescription);
        p.is_private = r.optional_bool("is_private");
        if (r.has("key")) r.add_error("key", "cannot be changed (task numbers use it)");
        r.finish();
        return project_response(200, svc.update_project(req.user().user_id, req.param("id"), p, if_match(req)));
      },
      authed_big);

  router.add(
      "DELETE", "/api/v1/projects/{id}",
      [&svc](http::Request& req) {
        svc.delete_project(req.user().user_id, req.param("id"), if_match(req));
        return http::Response::no_content();
      },
      authed);

  router.add(
      "POST", "/api/v1/projects/{id}/archive",
      [&svc](http::Request& req) {
        expect_empty_object(req);
        return project_response(200, svc.set_archived(req.user().user_id, req.param("id"), true, if_match(req)));
      },
      authed);

  router.add(
      "POST", "/api/v1/projects/{id}/unarchive",
      [&svc](http::Request& req) {
        expect_empty_object(req);
        return project_response(200, svc.set_archived(req.user().user_id, req.param("id"), false, if_match(req)));
      },
      authed);

  // ---- project members

  router.add(
      "GET", "/api/v1/projects/{id}/members",
      [&svc](http::Request& req) {
        json::array items;
        for (const auto& m : svc.list_project_members(req.user().user_id, req.param("id")))
          items.push_back(member_to_json(m));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      authed);

  router.add(
      "POST", "/api/v1/projects/{id}/members",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"user_id", "role"});
        std::string user_id = r.required_string("user_id", 1, 64);
        std::string role = required_enum(r, "role", kProjectRoles);
        r.finish();
        Member m = svc.add_project_member(req.user().user_id, req.param("id"), user_id, role);
        return created(member_to_json(m), "/api/v1/projects/" + std::string(req.param("id")) + "/members/" + m.user_id);
      },
      authed);

  router.add(
      "PATCH", "/api/v1/projects/{id}/members/{user_id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"role"});
        std::string role = required_enum(r, "role", kProjectRoles);
        r.finish();
        return http::Response::json(200, member_to_json(svc.set_project_member_role(req.user().user_id, req.param("id"),
                                                                                    req.param("user_id"), role)));
      },
      authed);

  router.add(
      "DELETE", "/api/v1/projects/{id}/members/{user_id}",
      [&svc](http::Request& req) {
        svc.remove_project_member(req.user().user_id, req.param("id"), req.param("user_id"));
        return http::Response::no_content();
      },
      authed);

  // ---- workflow states

  router.add(
      "GET", "/api/v1/projects/{id}/states",
      [&svc](http::Request& req) {
        auto states = svc.list_states(req.user().user_id, req.param("id"));
        json::array items;
        json::value default_id = nullptr;
        for (const auto& s : states) {
          items.push_back(state_to_json(s));
          if (default_id.is_null() && s.group == "unstarted") default_id = json::value(s.id);
        }
        if (default_id.is_null())
          for (const auto& s : states)
            if (default_id.is_null() && s.group != "completed" && s.group != "cancelled")
              default_id = json::value(s.id);
        return http::Response::json(200, json::object{{"items", std::move(items)}, {"default_state_id", default_id}});
      },
      authed);

  router.add(
      "POST", "/api/v1/projects/{id}/states",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "group", "color", "position"});
        StateInput in;
        in.name = r.required_string("name", 1, 50);
        in.group = required_enum(r, "group", {"backlog", "unstarted", "started", "completed", "cancelled"});
        in.color = read_color(r, "color", true);
        in.position = r.optional_int("position", 0, 1000);
        r.finish();
        StateRecord s = svc.create_state(req.user().user_id, req.param("id"), in);
        return created(state_to_json(s), "/api/v1/projects/" + s.project_id + "/states/" + s.id);
      },
      authed);

  router.add(
      "PATCH", "/api/v1/projects/{id}/states/{state_id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "color", "position"});
        StatePatch p;
        p.name = r.optional_string("name", 1, 50);
        std::string color = read_color(r, "color", false);
        if (!color.empty()) p.color = color;
        p.position = r.optional_int("position", 0, 1000);
        r.finish();
        return http::Response::json(
            200, state_to_json(svc.update_state(req.user().user_id, req.param("id"), req.param("state_id"), p)));
      },
      authed);

  router.add(
      "DELETE", "/api/v1/projects/{id}/states/{state_id}",
      [&svc](http::Request& req) {
        auto move_to = req.query_param("move_to");
        if (move_to && move_to->empty()) move_to.reset();
        svc.delete_state(req.user().user_id, req.param("id"), req.param("state_id"), move_to);
        return http::Response::no_content();
      },
      authed);

  // ---- labels

  router.add(
      "GET", "/api/v1/projects/{id}/labels",
      [&svc](http::Request& req) {
        json::array items;
        for (const auto& l : svc.list_labels(req.user().user_id, req.param("id"))) items.push_back(label_to_json(l));
        return http::Response::json(200, json::object{{"items", std::move(items)}});
      },
      authed);

  router.add(
      "POST", "/api/v1/projects/{id}/labels",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "color"});
        std::string name = r.required_string("name", 1, 50);
        std::string color = read_color(r, "color", true);
        r.finish();
        LabelRecord l = svc.create_label(req.user().user_id, req.param("id"), name, color);
        return created(label_to_json(l), "/api/v1/projects/" + l.project_id + "/labels/" + l.id);
      },
      authed);

  router.add(
      "PATCH", "/api/v1/projects/{id}/labels/{label_id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name", "color"});
        auto name = r.optional_string("name", 1, 50);
        std::string color = read_color(r, "color", false);
        r.finish();
        std::optional<std::string> c;
        if (!color.empty()) c = color;
        return http::Response::json(
            200, label_to_json(svc.update_label(req.user().user_id, req.param("id"), req.param("label_id"), name, c)));
      },
      authed);

  router.add(
      "DELETE", "/api/v1/projects/{id}/labels/{label_id}",
      [&svc](http::Request& req) {
        svc.delete_label(req.user().user_id, req.param("id"), req.param("label_id"));
        return http::Response::no_content();
      },
      authed);
}

}  // namespace taskhub::projects
