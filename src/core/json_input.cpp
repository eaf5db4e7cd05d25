#include "core/json_input.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>

#include <algorithm>

namespace taskhub {

boost::json::object parse_json_object(std::string_view body) {
  if (body.empty()) throw bad_field("body", "a JSON object is required");
  boost::json::parse_options opt;
  opt.max_depth = kMaxJsonDepth;
  opt.allow_invalid_utf8 = false;
  opt.allow_comments = false;
  opt.allow_trailing_commas = false;
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(body, ec, {}, opt);
  if (ec) {
    std::string why;
    if (ec == boost::json::error::too_deep)
      why = "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    else if (ec == boost::json::error::syntax && !std::all_of(body.begin(), body.end(), [](char c) {
               return static_cast<unsigned char>(c) < 0x80;
             }))
      why = "malformed JSON or invalid UTF-8";
    else
      why = "malformed JSON: " + ec.message();
    throw bad_field("body", why);
  }
  if (!v.is_object()) throw bad_field("body", "must be a JSON object");
  return std::move(v.as_object());
}

std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

ObjectReader::ObjectReader(const boost::json::object& obj, std::initializer_list<std::string_view> allowed,
                           std::string prefix)
    : obj_(obj), prefix_(std::move(prefix)) {
  for (const auto& kv : obj_) {
    std::string_view key = kv.key();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      errors_.push_back({path(key), "unknown field"});
  }
}

std::string ObjectReader::path(std::string_view name) const {
  return prefix_.empty() ? std::string(name) : prefix_ + "." + std::string(name);
}

const boost::json::value* ObjectReader::find(std::string_view name) const { return obj_.if_contains(name); }

bool ObjectReader::has(std::string_view name) const { return find(name) != nullptr; }

bool ObjectReader::is_null(std::string_view name) const {
  auto* v = find(name);
  return v && v->is_null();
}

void ObjectReader::add_error(std::string field, std::string message) {
  errors_.push_back({path(field), std::move(message)});
}

std::optional<std::string> ObjectReader::read_string(std::string_view name, std::size_t min_len,
                                                     std::size_t max_len, bool required) {
  auto* v = find(name);
  if (!v || (!required && v->is_null())) {
    if (required) errors_.push_back({path(name), "is required"});
    return std::nullopt;
  }
  if (!v->is_string()) {
    errors_.push_back({path(name), "must be a string"});
    return std::nullopt;
  }
  std::string s(v->as_string());
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f) {
      errors_.push_back({path(name), "must not contain control characters"});
      return std::nullopt;
    }
  }
  std::size_t len = utf8_length(s);
  if (len < min_len) {
    errors_.push_back({path(name), min_len == 1 ? "must not be empty"
                                                : "must be at least " + std::to_string(min_len) + " characters"});
    return std::nullopt;
  }
  if (len > max_len) {
    errors_.push_back({path(name), "must be at most " + std::to_string(max_len) + " characters"});
    return std::nullopt;
  }
  return s;
}

std::string ObjectReader::required_string(std::string_view name, std::size_t min_len, std::size_t max_len) {
  return read_string(name, min_len, max_len, true).value_or(std::string());
}

std::optional<std::string> ObjectReader::optional_string(std::string_view name, std::size_t min_len,
                                                         std::size_t max_len) {
  return read_string(name, min_len, max_len, false);
}

std::optional<int64_t> ObjectReader::optional_int(std::string_view name, int64_t min, int64_t max) {
  auto* v = find(name);
  if (!v || v->is_null()) return std::nullopt;
  int64_t out;
  if (v->is_int64()) {
    out = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    out = static_cast<int64_t>(v->as_uint64());
  } else {
    errors_.push_back({path(name), "must be an integer"});
    return std::nullopt;
  }
  if (out < min || out > max) {
    errors_.push_back({path(name), "must be between " + std::to_string(min) + " and " + std::to_string(max)});
    return std::nullopt;
  }
  return out;
}

int64_t ObjectReader::required_int(std::string_view name, int64_t min, int64_t max) {
  if (!find(name) || find(name)->is_null()) {
    errors_.push_back({path(name), "is required"});
    return 0;
  }
  return optional_int(name, min, max).value_or(0);
}

std::optional<bool> ObjectReader::optional_bool(std::string_view name) {
  auto* v = find(name);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_bool()) {
    errors_.push_back({path(name), "must be true or false"});
    return std::nullopt;
  }
  return v->as_bool();
}

std::optional<std::string> ObjectReader::optional_enum(std::string_view name,
                                                       std::initializer_list<std::string_view> values) {
  auto* v = find(name);
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_string()) {
    std::string_view s = v->as_string();
    if (std::find(values.begin(), values.end(), s) != values.end()) return std::string(s);
  }
  std::string msg = "must be one of:";
  for (auto x : values) msg += " " + std::string(x);
  errors_.push_back({path(name), msg});
  return std::nullopt;
}

std::optional<std::vector<std::string>> ObjectReader::optional_string_array(std::string_view name,
                                                                            std::size_t max_items,
                                                                            std::size_t max_len) {
  auto* v = find(name);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_array()) {
    errors_.push_back({path(name), "must be an array of strings"});
    return std::nullopt;
  }
  const auto& arr = v->as_array();
  if (arr.size() > max_items) {
    errors_.push_back({path(name), "must have at most " + std::to_string(max_items) + " items"});
    return std::nullopt;
  }
  std::vector<std::string> out;
  out.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_string() || utf8_length(arr[i].as_string()) > max_len || arr[i].as_string().empty()) {
      errors_.push_back({path(name) + "[" + std::to_string(i) + "]",
                         "must be a non-empty string of at most " + std::to_string(max_len) + " characters"});
      return std::nullopt;
    }
    out.emplace_back(arr[i].as_string());
  }
  return out;
}

void ObjectReader::finish() const {
  if (!errors_.empty()) throw validation_error(errors_);
}

void expect_empty_body(std::string_view body) {
  for (char c : body)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      auto obj = parse_json_object(body);
      ObjectReader r(obj, {});
      r.finish();
      return;
    }
}

}  // namespace taskhub
