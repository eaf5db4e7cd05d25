#include "services/analytics/routes.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "core/error.hpp"
#include "core/json_output.hpp"
#include "core/pagination.hpp"
#include "core/time.hpp"
#include "services/analytics/format.hpp"
#include "services/tasks/model.hpp"

namespace taskhub::analytics {

namespace json = boost::json;

namespace {

enum class Format { json, csv, svg };

// ?format= wins over Accept; svg only for the time series.
Format format_of(const http::Request& req, bool svg_allowed) {
  if (auto f = req.query_param("format")) {
    if (*f == "json") return Format::json;
    if (*f == "csv") return Format::csv;
    if (*f == "svg" && svg_allowed) return Format::svg;
    throw bad_field("format", svg_allowed ? "must be json, csv or svg" : "must be json or csv (svg is for time series)");
  }
  auto accept = req.header("Accept");
  if (accept.find("text/csv") != std::string_view::npos) return Format::csv;
  if (svg_allowed && accept.find("image/svg+xml") != std::string_view::npos) return Format::svg;
  return Format::json;
}

std::string cell(const json::value& v) {
  if (v.is_string()) return csv_text(v.as_string());
  if (v.is_null()) return "";
  return json::serialize(v);  // numbers and booleans
}

// One CSV record per object of `items`, the given columns in order.
std::string csv_table(const std::vector<std::string>& columns, const json::array& items) {
  std::string out = csv_row(columns);
  for (const auto& it : items) {
    std::vector<std::string> cells;
    const auto& o = it.as_object();
    for (const auto& col : columns) {
      auto* v = o.if_contains(col);
      cells.push_back(v ? cell(*v) : std::string());
    }
    out += csv_row(cells);
  }
  return out;
}

http::Response csv_response(std::string body, const std::string& filename) {
  auto resp = http::Response::text(200, std::move(body), "text/csv; charset=utf-8");
  resp.headers.set("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  return resp;
}

http::Response svg_response(const std::string& title, const json::array& series_items,
                            const std::vector<std::pair<std::string, std::string>>& lines, bool stacked = false) {
  std::vector<std::string> labels;
  std::vector<Series> series;
  for (const auto& [key, color] : lines) series.push_back(Series{key, color, {}});
  for (const auto& it : series_items) {
    const auto& o = it.as_object();
    labels.emplace_back(o.at("date").as_string());
    for (auto& s : series) s.values.push_back(static_cast<double>(o.at(s.name).to_number<int64_t>()));
  }
  return http::Response::text(200, svg_line_chart(title, labels, series, stacked), "image/svg+xml; charset=utf-8");
}

Range range_of(const http::Request& req, Clock& clock) {
  return parse_range(req.query_param("from"), req.query_param("to"), req.query_param("interval"), req.query_param("tz"),
                     clock.now_ms());
}

std::string summary_csv(const json::object& s) {
  std::string out = csv_row({"dimension", "key", "name", "total", "open", "open_points"});
  auto row = [&](const std::string& dim, const std::string& key, const std::string& name, const json::object& o) {
    out += csv_row({csv_text(dim), csv_text(key), csv_text(name), cell(o.at("total")), cell(o.at("open")),
                    cell(o.at("open_points"))});
  };
  row("all", "", "", s);
  for (const char* k : {"overdue", "unassigned", "due_this_week"})
    out += csv_row({k, "", "", "", cell(s.at(k)), ""});
  for (const auto& v : s.at("by_state").as_array()) {
    const auto& o = v.as_object();
    row("state", std::string(o.at("state_id").as_string()), std::string(o.at("name").as_string()), o);
  }
  for (const auto& v : s.at("by_state_group").as_array()) row("group", std::string(v.at("group").as_string()), "", v.as_object());
  for (const auto& v : s.at("by_priority").as_array()) row("priority", std::string(v.at("priority").as_string()), "", v.as_object());
  for (const auto& v : s.at("by_assignee").as_array()) row("assignee", std::string(v.at("user_id").as_string()), "", v.as_object());
  for (const auto& v : s.at("by_label").as_array()) row("label", std::string(v.at("label_id").as_string()), "", v.as_object());
  return out;
}

std::string space_joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

std::optional<int64_t> to_int(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

void register_routes(http::Router& router, AnalyticsService& svc, Clock& clock) {
  const http::RouteOptions authed{.auth = http::Auth::required};

  router.add(
      "GET", "/api/v1/projects/{id}/analytics/summary",
      [&svc](http::Request& req) {
        const std::string id(req.param("id"));
        svc.require_project(req.user().user_id, id);  // 404 before 400
        auto fmt = format_of(req, false);
        auto s = svc.summary(req.user().user_id, id, parse_tz(req.query_param("tz")));
        if (fmt == Format::csv) return csv_response(summary_csv(s), "summary.csv");
        return http::Response::json(200, s);
      },
      authed);

  router.add(
      "GET", "/api/v1/projects/{id}/analytics/throughput",
      [&svc, &clock](http::Request& req) {
        const std::string id(req.param("id"));
        svc.require_project(req.user().user_id, id);
        auto fmt = format_of(req, true);
        auto t = svc.throughput(req.user().user_id, id, range_of(req, clock));
        const auto& series = t.at("series").as_array();
        if (fmt == Format::csv)
          return csv_response(csv_table({"date", "created", "completed", "created_points", "completed_points"}, series),
                              "throughput.csv");
        if (fmt == Format::svg)
          return svg_response("Throughput (tasks per " + std::string(t.at("interval").as_string()) + ")", series,
                              {{"created", "#1f77b4"}, {"completed", "#2ca02c"}});
        return http::Response::json(200, t);
      },
      authed);

  router.add(
      "GET", "/api/v1/projects/{id}/analytics/burndown",
      [&svc, &clock](http::Request& req) {
        const std::string id(req.param("id"));
        svc.require_project(req.user().user_id, id);
        auto fmt = format_of(req, true);
        auto b = svc.burndown(req.user().user_id, id, range_of(req, clock));
        const auto& series = b.at("series").as_array();
        if (fmt == Format::csv)
          return csv_response(csv_table({"date", "scope", "completed", "remaining", "scope_points", "completed_points",
                                         "remaining_points"},
                                        series),
                              "burndown.csv");
        if (fmt == Format::svg)
          return svg_response("Burn-up / burn-down (tasks)", series,
                              {{"scope", "#1f77b4"}, {"completed", "#2ca02c"}, {"remaining", "#d62728"}});
        return http::Response::json(200, b);
      },
      authed);

  router.add(
      "GET", "/api/v1/projects/{id}/analytics/cumulative-flow",
      [&svc, &clock](http::Request& req) {
        const std::string id(req.param("id"));
        svc.require_project(req.user().user_id, id);
        auto fmt = format_of(req, true);
        auto f = svc.cumulative_flow(req.user().user_id, id, range_of(req, clock));
        const auto& series = f.at("series").as_array();
        if (fmt == Format::csv)
          return csv_response(csv_table({"date", "backlog", "unstarted", "started", "completed", "cancelled"}, series),
                              "cumulative-flow.csv");
        if (fmt == Format::svg)
          return svg_response("Cumulative flow (tasks per state group)", series,
                              {{"backlog", "#7f7f7f"},
                               {"unstarted", "#ff7f0e"},
                               {"started", "#1f77b4"},
                               {"completed", "#2ca02c"},
                               {"cancelled", "#d62728"}},
                              /*stacked=*/true);
        return http::Response::json(200, f);
      },
      authed);

  router.add(
      "GET", "/api/v1/projects/{id}/analytics/cycle-time",
      [&svc, &clock](http::Request& req) {
        const std::string id(req.param("id"));
        svc.require_project(req.user().user_id, id);
        auto fmt = format_of(req, false);
        const int limit = parse_limit(req.query_param("limit"));
        auto c = svc.cycle_time(req.user().user_id, id, range_of(req, clock), req.query_param("cursor"), limit);
        if (fmt == Format::csv)
          return csv_response(csv_table({"task_id", "number", "title", "created_at", "started_at", "completed_at",
                                         "cycle_time_ms", "lead_time_ms"},
                                        c.at("items").as_array()),
                              "cycle-time.csv");
        return http::Response::json(200, c);
      },
      authed);

  router.add(
      "GET", "/api/v1/workspaces/{id}/analytics/summary",
      [&svc](http::Request& req) {
        const std::string id(req.param("id"));
        auto s = svc.workspace_summary(req.user().user_id, id, parse_tz(req.query_param("tz")));  // 404 first
        auto fmt = format_of(req, false);
        if (fmt == Format::csv) return csv_response(summary_csv(s), "workspace-summary.csv");
        return http::Response::json(200, s);
      },
      authed);

  router.add(
      "GET", "/api/v1/workspaces/{id}/analytics/workload",
      [&svc](http::Request& req) {
        const std::string id(req.param("id"));
        auto w = svc.workload(req.user().user_id, id);  // 404 before 400
        auto fmt = format_of(req, false);
        if (fmt == Format::csv) return csv_response(csv_table({"user_id", "open", "open_points"}, w.at("items").as_array()), "workload.csv");
        return http::Response::json(200, w);
      },
      authed);

  // Every field of every task (not deleted) as CSV, by number; at most `limit` rows per
  // response, the next page linked (Link: rel="next").
  router.add(
      "GET", "/api/v1/projects/{id}/export.csv",
      [&svc](http::Request& req) {
        const std::string id(req.param("id"));
        svc.require_project(req.user().user_id, id);
        std::vector<FieldError> errors;
        int64_t after = 0;
        int64_t limit = kDefaultExportRows;
        if (auto a = req.query_param("after")) {
          auto v = to_int(*a);
          if (!v || *v < 0) errors.push_back({"after", "must be a task number (0 or more)"});
          else after = *v;
        }
        if (auto l = req.query_param("limit")) {
          auto v = to_int(*l);
          if (!v || *v < 1 || *v > kMaxExportRows)
            errors.push_back({"limit", "must be 1 to " + std::to_string(kMaxExportRows)});
          else limit = *v;
        }
        if (!errors.empty()) throw validation_error(std::move(errors));
        auto e = svc.export_tasks(req.user().user_id, id, after, static_cast<int>(limit));
        std::map<std::string, std::string> state_names;
        for (const auto& s : e.states) state_names[s.id] = s.name;
        std::string out = csv_row({"id", "key", "number", "title", "state_id", "state", "state_group", "priority",
                                   "start_date", "due_date", "estimate", "parent_id", "assignee_ids", "label_ids",
                                   "custom_fields", "created_by", "created_at", "updated_at", "started_at",
                                   "completed_at", "archived_at", "version"});
        auto opt = [](const std::optional<std::string>& s) { return s ? csv_text(*s) : std::string(); };
        auto time = [](const std::optional<int64_t>& t) { return t ? format_rfc3339_ms(*t) : std::string(); };
        for (const auto& f : e.tasks)
          out += csv_row({f.task_id, csv_text(e.project.key + "-" + std::to_string(f.number)), std::to_string(f.number),
                          csv_text(f.title), f.state_id, csv_text(state_names[f.state_id]), f.state_group,
                          tasks::priority_name(f.priority), opt(f.start_date), opt(f.due_date),
                          f.estimate ? std::to_string(*f.estimate) : "", opt(f.parent_id),
                          csv_text(space_joined(f.assignee_ids)), csv_text(space_joined(f.label_ids)),
                          csv_text(f.custom_fields), f.created_by, format_rfc3339_ms(f.created_at),
                          format_rfc3339_ms(f.updated_at), time(f.started_at), time(f.completed_at),
                          time(f.archived_at), std::to_string(f.version)});
        auto resp = csv_response(std::move(out), e.project.key + "-tasks.csv");
        if (static_cast<int64_t>(e.tasks.size()) == limit)
          resp.headers.set("Link", "</api/v1/projects/" + id + "/export.csv?after=" +
                                       std::to_string(e.tasks.back().number) + "&limit=" + std::to_string(limit) +
                                       ">; rel=\"next\"");
        return resp;
      },
      authed);
}

}  // namespace taskhub::analytics
