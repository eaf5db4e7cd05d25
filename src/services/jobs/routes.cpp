#include "services/jobs/routes.hpp"

#include <boost/json.hpp>

#include <array>

#include "core/error.hpp"
#include "core/json_input.hpp"
#include "core/json_output.hpp"
#include "core/pagination.hpp"
#include "core/time.hpp"

namespace taskhub::jobs {

namespace json = boost::json;

namespace {

constexpr std::array<const char*, 5> kStates = {"queued", "running", "succeeded", "failed", "cancelled"};

void require_admin(const http::Request& req) {
  if (!req.user().is_admin) throw forbidden("Administrator access is required.");
}

JobRecord found(std::optional<JobRecord> j) {
  if (!j) throw not_found("No such job.");
  return std::move(*j);
}

}  // namespace

json::object job_to_json(const JobRecord& j) {
  json::object o;
  o["id"] = j.id;
  o["kind"] = j.kind;
  boost::system::error_code ec;
  json::value payload = json::parse(j.payload, ec);
  o["payload"] = ec ? json::value(j.payload) : payload;
  o["key"] = str_or_null(j.key);
  o["state"] = j.state;
  o["attempt"] = j.attempt;
  o["max_attempts"] = j.max_attempts;
  o["run_at"] = format_rfc3339_ms(j.run_at);
  o["lease_until"] = time_or_null(j.lease_until);
  o["locked_by"] = str_or_null(j.locked_by);
  o["last_error"] = str_or_null(j.last_error);
  o["created_at"] = format_rfc3339_ms(j.created_at);
  o["updated_at"] = format_rfc3339_ms(j.updated_at);
  o["finished_at"] = time_or_null(j.finished_at);
  return o;
}

void register_routes(http::Router& router, SqlJobQueue& queue) {
  const http::RouteOptions authed{.auth = http::Auth::required, .max_body = 1024};

  router.add(
      "GET", "/api/v1/admin/jobs",
      [&queue](http::Request& req) {
        require_admin(req);
        int limit = parse_limit(req.query_param("limit"));
        auto state = req.query_param("state");
        if (state && state->empty()) state.reset();
        if (state) {
          bool ok = false;
          for (const char* s : kStates) ok = ok || *state == s;
          if (!ok) throw bad_field("state", "must be one of queued, running, succeeded, failed, cancelled");
        }
        std::optional<std::string> kind;
        if (auto k = req.query_param("kind"); k && !k->empty()) {
          if (k->size() > kMaxKindBytes) throw bad_field("kind", "must be at most 100 bytes");
          kind = std::move(*k);
        }
        auto after = decode_id_cursor(req.query_param("cursor"));
        JobPage page = queue.list(state, kind, after, limit);
        json::array items;
        for (const auto& j : page.items) items.push_back(job_to_json(j));
        std::optional<std::string> next;
        if (page.next_cursor) next = encode_id_cursor(*page.next_cursor);
        return http::Response::json(200, json::object{{"items", std::move(items)}, {"next_cursor", str_or_null(next)}});
      },
      authed);

  router.add(
      "GET", "/api/v1/admin/jobs/{id}",
      [&queue](http::Request& req) {
        require_admin(req);
        return http::Response::json(200, job_to_json(found(queue.get(std::string(req.param("id"))))));
      },
      authed);

  router.add(
      "POST", "/api/v1/admin/jobs/{id}/retry",
      [&queue](http::Request& req) {
        require_admin(req);
        expect_empty_body(req.body);
        return http::Response::json(200, job_to_json(found(queue.retry(std::string(req.param("id"))))));
      },
      authed);

  router.add(
      "POST", "/api/v1/admin/jobs/{id}/cancel",
      [&queue](http::Request& req) {
        require_admin(req);
        expect_empty_body(req.body);
        return http::Response::json(200, job_to_json(found(queue.cancel(std::string(req.param("id"))))));
      },
      authed);
}

}  // namespace taskhub::jobs
