#include "http/message.hpp"

#include <boost/json.hpp>

#include "core/error.hpp"

namespace taskhub::http {

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Lenient decoding for query strings: an invalid escape is kept as it is.
std::string decode_query_component(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

template <class F>
void for_each_query_pair(std::string_view q, F&& f) {
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    if (!f(k, v)) return;
  }
}

}  // namespace

// ---- Headers

void Headers::set(std::string_view name, std::string value) {
  remove(name);
  items_.emplace_back(std::string(name), std::move(value));
}

std::string_view Headers::get(std::string_view name) const {
  for (const auto& [k, v] : items_)
    if (iequals(k, name)) return v;
  return {};
}

bool Headers::has(std::string_view name) const {
  for (const auto& kv : items_)
    if (iequals(kv.first, name)) return true;
  return false;
}

void Headers::remove(std::string_view name) {
  std::erase_if(items_, [&](const auto& kv) { return iequals(kv.first, name); });
}

// ---- Request

std::string_view Request::param(std::string_view name) const {
  for (const auto& [k, v] : path_params)
    if (k == name) return v;
  return {};
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::optional<std::string> result;
  for_each_query_pair(query, [&](std::string_view k, std::string_view v) {
    if (decode_query_component(k) == name) {
      result = decode_query_component(v);
      return false;
    }
    return true;
  });
  return result;
}

std::vector<std::pair<std::string, std::string>> Request::query_params() const {
  std::vector<std::pair<std::string, std::string>> out;
  for_each_query_pair(query, [&](std::string_view k, std::string_view v) {
    out.emplace_back(decode_query_component(k), decode_query_component(v));
    return true;
  });
  return out;
}

const Principal& Request::user() const {
  if (!principal) throw taskhub::unauthorized();
  return *principal;
}

// ---- Response

Response Response::json(int status, const boost::json::value& v) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json");
  r.body = boost::json::serialize(v);
  return r;
}

Response Response::no_content() {
  Response r;
  r.status = 204;
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

Response problem_response(int status, std::string_view code, std::string_view detail, std::string_view request_id,
                          const std::vector<std::pair<std::string, std::string>>& field_errors) {
  return problem_response(status, code, detail, request_id, field_errors, {});
}

Response problem_response(int status, std::string_view code, std::string_view detail, std::string_view request_id,
                          const std::vector<std::pair<std::string, std::string>>& field_errors,
                          std::string_view instance) {
  boost::json::object o;
  o.reserve(8);
  std::string type = "urn:taskhub:problem:";
  type.append(code);
  o["type"] = type;
  o["title"] = taskhub::status_title(status);
  o["status"] = status;
  o["detail"] = detail;
  if (!instance.empty()) o["instance"] = instance;
  o["request_id"] = request_id;
  if (!field_errors.empty()) {
    boost::json::array errs;
    errs.reserve(field_errors.size());
    for (const auto& [field, message] : field_errors) errs.push_back(boost::json::object{{"field", field}, {"message", message}});
    o["errors"] = std::move(errs);
  }
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/problem+json");
  r.body = boost::json::serialize(o);
  return r;
}

}  // namespace taskhub::http
