#include "http/router.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace taskhub::http {

namespace {

// Splits "/a/b/c" into {"a","b","c"}; "/" gives {}. A trailing slash yields an empty last
// segment, so "/a/" and "/a" are different paths (no silent redirects).
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  if (path.empty()) return out;
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_param_segment(std::string_view seg) { return seg.size() >= 3 && seg.front() == '{' && seg.back() == '}'; }

}  // namespace

struct Router::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
  std::unique_ptr<Node> param;  // the {name} child (names are per route: see param_names)
  std::vector<std::pair<std::string, const Route*>> methods;  // routes ending here

  const Route* find_method(std::string_view m) const {
    for (const auto& [k, r] : methods)
      if (k == m) return r;
    return nullptr;
  }
};

namespace {

// Depth-first, literal child before the parameter child, backtracking when a branch does
// not end on a node with routes ("/users/me" beats "/users/{id}", yet "/users/me/x" still
// reaches "/users/{id}/x").
template <class NodeT>
const NodeT* walk(const NodeT* n, const std::vector<std::string_view>& segs, std::size_t i,
                  std::vector<std::string_view>& values) {
  if (i == segs.size()) return n->methods.empty() ? nullptr : n;
  auto it = n->literals.find(segs[i]);
  if (it != n->literals.end())
    if (const NodeT* f = walk(it->second.get(), segs, i + 1, values)) return f;
  if (n->param && !segs[i].empty()) {
    values.push_back(segs[i]);
    if (const NodeT* f = walk(n->param.get(), segs, i + 1, values)) return f;
    values.pop_back();
  }
  return nullptr;
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;

void Router::add(std::string method, std::string path_template, Handler handler, RouteOptions options) {
  if (path_template.empty() || path_template.front() != '/')
    throw std::logic_error("route template must start with '/': " + path_template);
  for (auto& c : method)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  Node* node = root_.get();
  for (std::string_view seg : split_path(path_template)) {
    if (is_param_segment(seg)) {
      if (!node->param) node->param = std::make_unique<Node>();
      node = node->param.get();
    } else {
      if (seg.find('{') != std::string_view::npos || seg.find('}') != std::string_view::npos)
        throw std::logic_error("route " + path_template + ": a parameter must be a whole segment");
      auto it = node->literals.find(seg);
      if (it == node->literals.end()) it = node->literals.emplace(std::string(seg), std::make_unique<Node>()).first;
      node = it->second.get();
    }
  }
  if (node->find_method(method)) throw std::logic_error("duplicate route: " + method + " " + path_template);
  auto route = std::make_unique<Route>(Route{method, std::move(path_template), std::move(handler), options});
  node->methods.emplace_back(method, route.get());
  routes_.push_back(std::move(route));
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch result;
  if (path.empty() || path.front() != '/') return result;
  auto segs = split_path(path);
  std::vector<std::string_view> values;
  const Node* found = walk(root_.get(), segs, 0, values);
  if (!found) return result;

  bool has_get = false, has_head = false, has_options = false;
  result.allowed.reserve(found->methods.size() + 2);
  for (const auto& [m, r] : found->methods) {
    result.allowed.push_back(m);
    has_get = has_get || m == "GET";
    has_head = has_head || m == "HEAD";
    has_options = has_options || m == "OPTIONS";
  }
  if (has_get && !has_head) result.allowed.push_back("HEAD");
  if (!has_options) result.allowed.push_back("OPTIONS");
  std::sort(result.allowed.begin(), result.allowed.end());

  const Route* r = found->find_method(method);
  if (!r && method == "HEAD") r = found->find_method("GET");
  if (r) {
    result.route = r;
    // Parameter names come from the route's own template (two routes may name the same
    // position differently: "/w/{id}" and "/w/{workspace_id}/projects").
    result.params.reserve(values.size());
    std::size_t k = 0;
    for (std::string_view seg : split_path(r->path_template))
      if (is_param_segment(seg) && k < values.size())
        result.params.emplace_back(std::string(seg.substr(1, seg.size() - 2)), std::string(values[k++]));
  }
  return result;
}

std::vector<const Route*> Router::routes() const {
  std::vector<const Route*> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_) out.push_back(r.get());
  return out;
}

std::size_t Router::max_body_for(std::string_view method, std::string_view path) const {
  RouteMatch m = match(method, path);
  if (m.route) return m.route->options.max_body;
  // Unknown method/path: the request is answered 404/405 without reading a body of note;
  // allow the largest of the path's routes (or a small default) so the answer is clean.
  std::size_t largest = 0;
  if (!m.allowed.empty()) {
    for (const auto& allowed : m.allowed) {
      RouteMatch other = match(allowed, path);
      if (other.route) largest = std::max(largest, other.route->options.max_body);
    }
  }
  return largest ? largest : std::size_t{64 * 1024};
}

}  // namespace taskhub::http
