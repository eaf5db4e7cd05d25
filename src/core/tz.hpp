#pragma once
// IANA time zones (the notifications digest, analytics reports) and civil dates. GCC 12's libstdc++ has no std::chrono::tzdb, so this
// reads the system's compiled zone files (TZif v2+, /usr/share/zoneinfo) directly.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace taskhub {

// A name like "Europe/Paris" or "UTC": letters, digits, '/', '_', '-', '+'; no "..".
bool plausible_zone_name(std::string_view name) noexcept;

// The UTC offset (seconds) of zone `name` at `utc_ms`; nullopt when the zone does not exist.
// Zone files are cached after the first read. `zoneinfo_dir` is for tests.
std::optional<int64_t> utc_offset_s(const std::string& name, int64_t utc_ms,
                                    const std::string& zoneinfo_dir = "/usr/share/zoneinfo");

struct LocalTime {
  std::string date;  // YYYY-MM-DD
  int hour = 0;
  int minute = 0;
};
// utc_ms shifted by offset_s, as a civil date and time.
LocalTime to_local(int64_t utc_ms, int64_t offset_s);

// Days since 1970-01-01 of a YYYY-MM-DD date (nullopt when malformed), and back.
std::optional<int64_t> days_from_date(std::string_view ymd);
std::string date_from_days(int64_t days);

}  // namespace taskhub
