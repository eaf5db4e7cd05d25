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
// Days from 1970-01-01 to y-m-d (proleptic Gregorian, m 1-12), Howard Hinnant's algorithm.
// Shared by the RFC 3339 parser and the cron schedule, which both count in UTC.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

}  // namespace taskhub
