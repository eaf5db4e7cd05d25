#pragma once
// Small builders for response JSON shared by every service's routes: optional values become
// JSON null, timestamps RFC 3339 with milliseconds (DESIGN.md, API conventions).
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "core/time.hpp"

namespace taskhub {

inline boost::json::value time_or_null(const std::optional<int64_t>& epoch_ms) {
  if (!epoch_ms) return nullptr;
  return boost::json::value(format_rfc3339_ms(*epoch_ms));
}

// Also for `next_cursor`: absent on the last page.
inline boost::json::value str_or_null(const std::optional<std::string>& s) {
  if (!s) return nullptr;
  return boost::json::value(*s);
}

}  // namespace taskhub
