#pragma once
// Timestamps: stored as integer milliseconds since the Unix epoch (UTC) in both SQL dialects,
// shown in the API as RFC 3339 with milliseconds ("2026-11-26T04:02:41.123Z").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace taskhub {

std::string format_rfc3339_ms(int64_t epoch_ms);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff...](Z|+hh:mm|-hh:mm)"; nullopt when malformed.
std::optional<int64_t> parse_rfc3339_ms(std::string_view s);

}  // namespace taskhub
