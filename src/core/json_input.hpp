#pragma once
// Reading request bodies: every handler parses its DTO through these, so every endpoint
// answers bad input the same way: 400 problem+json naming each field at fault, before
// anything is changed.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace taskhub {

inline constexpr std::size_t kMaxJsonDepth = 32;

// Parses a request body that must be a JSON object. Malformed JSON, invalid UTF-8, nesting
// deeper than kMaxJsonDepth, or a non-object answer 400 (field "body").
boost::json::object parse_json_object(std::string_view body);

// Number of Unicode code points in valid UTF-8 text.
std::size_t utf8_length(std::string_view s) noexcept;

// Validates one JSON object against the fields a DTO allows. Errors are collected, so one
// answer names every bad field; call finish() before acting on the values.
class ObjectReader {
 public:
  ObjectReader(const boost::json::object& obj, std::initializer_list<std::string_view> allowed,
               std::string prefix = "");

  bool has(std::string_view name) const;
  // Present and JSON null (PATCH uses null to clear a field).
  bool is_null(std::string_view name) const;

  // Strings are trimmed of nothing; lengths are in code points. Control characters other
  // than \n and \t are refused unless allow_control is set.
  std::string required_string(std::string_view name, std::size_t min_len, std::size_t max_len);
  std::optional<std::string> optional_string(std::string_view name, std::size_t min_len, std::size_t max_len);
  std::optional<int64_t> optional_int(std::string_view name, int64_t min, int64_t max);
  int64_t required_int(std::string_view name, int64_t min, int64_t max);
  std::optional<bool> optional_bool(std::string_view name);
  // One of a fixed set of strings.
  std::optional<std::string> optional_enum(std::string_view name, std::initializer_list<std::string_view> values);
  std::optional<std::vector<std::string>> optional_string_array(std::string_view name, std::size_t max_items,
                                                                std::size_t max_len);

  void add_error(std::string field, std::string message);
  bool ok() const { return errors_.empty(); }
  // Throws validation_error with every collected error, if any.
  void finish() const;

 private:
  const boost::json::value* find(std::string_view name) const;
  std::optional<std::string> read_string(std::string_view name, std::size_t min_len, std::size_t max_len,
                                         bool required);
  std::string path(std::string_view name) const;

  const boost::json::object& obj_;
  std::string prefix_;
  std::vector<FieldError> errors_;
};

// For POST actions that take no input: a blank body is fine, anything else must be a JSON object
// with no fields (400 like every other DTO, naming the unknown fields). Shared by the jobs and
// notifications admin actions so both answer stray input alike.
void expect_empty_body(std::string_view body);

}  // namespace taskhub
