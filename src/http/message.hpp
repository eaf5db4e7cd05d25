#pragma once
// taskhub's own HTTP request and response. Handlers and middleware see only these types;
// Boost.Beast stays inside src/http/*.cpp.
#include <boost/json/value.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/principal.hpp"
#include "http/stream.hpp"

namespace taskhub::http {

// Ordered header list with case-insensitive lookup (few headers: a vector beats a map).
class Headers {
 public:
  void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  // Replaces every header of that name.
  void set(std::string_view name, std::string value);
  // First value, or "" when absent.
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const;
  void remove(std::string_view name);
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct Request {
  std::string method;  // upper case: GET, POST, ...
  std::string target;  // as sent: path + query
  std::string path;    // percent-decoded path
  std::string query;   // raw query string without '?'
  Headers headers;
  std::string body;
  // Routes with RouteOptions::spool_dir: the path of the temp file holding the body ("" when
  // the request had no body). Removed by the server after the response.
  std::string body_file;
  std::string remote_addr;  // peer IP (X-Forwarded-For is honoured only from TRUSTED_PROXIES)

  // Filled in by the server and middleware.
  std::string request_id;
  std::string route;  // matched template, e.g. "/api/v1/users/{id}"; "" when unmatched
  std::vector<std::pair<std::string, std::string>> path_params;
  std::optional<Principal> principal;

  std::string_view header(std::string_view name) const { return headers.get(name); }
  // Path parameter by name ("" when absent: the router guarantees the declared ones exist).
  std::string_view param(std::string_view name) const;
  // First query parameter of that name, percent-decoded.
  std::optional<std::string> query_param(std::string_view name) const;
  // Every query parameter, percent-decoded, in order.
  std::vector<std::pair<std::string, std::string>> query_params() const;
  // The authenticated principal; throws 401 when the route ran without one.
  const Principal& user() const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // When set, the server streams this file from disk instead of body (static assets,
  // attachments). A 200 answer honours a single `Range: bytes=` range (206 with Content-Range;
  // 416 when unsatisfiable; several ranges or a malformed header get the whole file) and
  // always says `Accept-Ranges: bytes`.
  std::string file_path;
  // When set, the connection becomes a WebSocket or SSE stream (see http/stream.hpp).
  std::shared_ptr<StreamUpgrade> stream;

  static Response json(int status, const boost::json::value& v);
  static Response no_content();
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
};

// RFC 9457 problem+json. errors: per-field validation messages.
Response problem_response(int status, std::string_view code, std::string_view detail,
                          std::string_view request_id,
                          const std::vector<std::pair<std::string, std::string>>& field_errors = {});
// Same, with "instance" (the request path). The server fills instance in for handler answers.
Response problem_response(int status, std::string_view code, std::string_view detail,
                          std::string_view request_id,
                          const std::vector<std::pair<std::string, std::string>>& field_errors,
                          std::string_view instance);

}  // namespace taskhub::http
