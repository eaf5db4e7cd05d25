#include "services/analytics/range.hpp"

#include "core/error.hpp"
#include "core/tz.hpp"

namespace taskhub::analytics {


bool valid_zone(const std::string& name) {
  return name.size() <= 64 && ::taskhub::plausible_zone_name(name) && ::taskhub::utc_offset_s(name, 0).has_value();
}

int64_t local_midnight_ms(int64_t day, const std::string& zone) {
  const int64_t t = day * kDayMs;
  // Offset at the guess, then at the corrected time (a DST change near midnight moves it).
  int64_t guess = t - ::taskhub::utc_offset_s(zone, t).value_or(0) * 1000;
  return t - ::taskhub::utc_offset_s(zone, guess).value_or(0) * 1000;
}

int64_t local_day(int64_t utc_ms, const std::string& zone) {
  const int64_t local = utc_ms + ::taskhub::utc_offset_s(zone, utc_ms).value_or(0) * 1000;
  return local >= 0 ? local / kDayMs : (local - kDayMs + 1) / kDayMs;
}

int64_t monday_of(int64_t day) {
  // 1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Mondays.
  return day - (((day + 3) % 7) + 7) % 7;
}

std::string parse_tz(const std::optional<std::string>& zone) {
  if (!zone) return "UTC";
  if (!valid_zone(*zone)) throw bad_field("tz", "must be an IANA time zone such as Europe/Paris");
  return *zone;
}

Range parse_range(const std::optional<std::string>& from, const std::optional<std::string>& to,
                  const std::optional<std::string>& interval, const std::optional<std::string>& zone, int64_t now_ms) {
  std::vector<FieldError> errors;
  Range r;
  if (zone) {
    if (valid_zone(*zone))
      r.tz = *zone;
    else
      errors.push_back({"tz", "must be an IANA time zone such as Europe/Paris"});
  }
  if (interval) {
    if (*interval == "day" || *interval == "week")
      r.interval = *interval;
    else
      errors.push_back({"interval", "must be day or week"});
  }
  r.today = local_day(now_ms, r.tz);
  auto date = [&](const std::optional<std::string>& v, const char* field) -> std::optional<int64_t> {
    if (!v) return std::nullopt;
    auto d = v->size() == 10 ? ::taskhub::days_from_date(*v) : std::nullopt;
    if (!d || ::taskhub::date_from_days(*d) != *v) {  // also refuses 2026-02-30
      errors.push_back({field, "must be a date YYYY-MM-DD"});
      return std::nullopt;
    }
    return d;
  };
  auto f = date(from, "from");
  auto t = date(to, "to");
  if (errors.empty()) {
    r.to_day = t.value_or(r.today);
    r.from_day = f.value_or(r.to_day - (kDefaultDays - 1));
    if (r.from_day > r.to_day)
      errors.push_back({"from", "must not be after to"});
    else if (r.to_day - r.from_day + 1 > kMaxDays)
      errors.push_back({"to", "the range is at most " + std::to_string(kMaxDays) + " days"});
  }
  if (!errors.empty()) throw validation_error(std::move(errors));
  const bool week = r.interval == "week";
  const int64_t step = week ? 7 : 1;
  for (int64_t d = week ? monday_of(r.from_day) : r.from_day; d <= r.to_day; d += step)
    r.buckets.push_back(Bucket{::taskhub::date_from_days(d), local_midnight_ms(d, r.tz), local_midnight_ms(d + step, r.tz)});
  return r;
}

}  // namespace taskhub::analytics
