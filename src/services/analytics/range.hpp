#pragma once
// Date ranges of the time-series reports: from/to (ISO dates, inclusive, at most kMaxDays),
// interval day|week, time zone (IANA name, default UTC). Buckets are [start, end) in UTC ms
// of local midnights, so a bucket is a local day (or Monday-to-Sunday week) of the zone.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taskhub::analytics {

inline constexpr int64_t kMaxDays = 366;
inline constexpr int64_t kDefaultDays = 30;
// The read model's time series granularity: 15 minutes divides every UTC offset in use.
inline constexpr int64_t kBucketMs = 15 * 60 * 1000;
inline constexpr int64_t kDayMs = 86'400'000;

struct Bucket {
  std::string label;  // the local date the bucket starts on (YYYY-MM-DD)
  int64_t start_ms = 0, end_ms = 0;
};

struct Range {
  std::string tz = "UTC";
  std::string interval = "day";
  int64_t from_day = 0, to_day = 0;  // days since 1970-01-01, inclusive
  int64_t today = 0;                 // the local date of "now" in tz
  std::vector<Bucket> buckets;
};

// The UTC ms of local midnight starting `day` in zone tz (a zone name checked by valid_zone).
int64_t local_midnight_ms(int64_t day, const std::string& tz);
// The local date (days since epoch) of utc_ms in tz.
int64_t local_day(int64_t utc_ms, const std::string& tz);
bool valid_zone(const std::string& tz);
// Monday on or before `day`.
int64_t monday_of(int64_t day);

// Reads and checks the parameters; throws a validation error naming every bad one
// (from, to, interval, tz). Missing to: today; missing from: to - 29 days.
Range parse_range(const std::optional<std::string>& from, const std::optional<std::string>& to,
                  const std::optional<std::string>& interval, const std::optional<std::string>& tz, int64_t now_ms);
// Only the zone (reports without a range: the summary's "today").
std::string parse_tz(const std::optional<std::string>& tz);

}  // namespace taskhub::analytics
