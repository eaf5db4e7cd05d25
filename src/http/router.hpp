#pragma once
// Method + path-template routing. Templates use {name} segments: "/api/v1/users/{id}".
// Lookup is a trie over path segments, literal segments first, so "/users/me" wins over
// "/users/{id}". HEAD is answered by GET routes (body dropped); OPTIONS is answered
// with Allow (and by the CORS middleware for preflights); an unknown path is 404, a known
// path with another method 405 with Allow.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"

namespace taskhub::http {

using Handler = std::function<Response(Request&)>;

enum class Auth {
  none,      // public route
  required,  // 401 without a valid bearer token
  optional,  // principal set when a valid token is sent
};

struct RouteOptions {
  Auth auth = Auth::required;
  std::size_t max_body = 1 << 20;  // bytes; larger bodies answer 413 before they are read
  // Run on an I/O thread instead of the blocking pool. Only for handlers that never touch
  // the database, the disk or a lock held for long (health, metrics, static docs in memory).
  bool inline_handler = false;
  // Per-route extra: an API token with read scope may call a mutating method only when set.
  bool read_scope_ok = false;
  // Uploads: when non-empty, the body is not held in memory. The server streams it, as it
  // arrives, to a new temp file in this directory (created if missing) and hands the handler
  // Request::body_file instead of Request::body. max_body still applies: 413 before reading
  // when Content-Length is larger; a chunked body that grows past it, a client that
  // disconnects or misses body_timeout, get the temp file deleted at once. The file is
  // removed after the response is written, whatever the handler did (a handler that wants
  // to keep the bytes copies them, e.g. into the blob store).
  std::string spool_dir;
};

struct Route {
  std::string method;
  std::string path_template;
  Handler handler;
  RouteOptions options;
};

struct RouteMatch {
  const Route* route = nullptr;        // set when method and path match
  std::vector<std::string> allowed;    // methods for this path (404 when empty)
  std::vector<std::pair<std::string, std::string>> params;
};

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Throws std::logic_error on a duplicate method + template.
  void add(std::string method, std::string path_template, Handler handler, RouteOptions options = {});
  RouteMatch match(std::string_view method, std::string_view path) const;
  // Every registered route (used by the OpenAPI consistency test and `taskhub routes`).
  std::vector<const Route*> routes() const;
  // Largest max_body of any route for this path (used before the method is known to be valid).
  std::size_t max_body_for(std::string_view method, std::string_view path) const;

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace taskhub::http
