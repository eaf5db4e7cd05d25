#pragma once
// A 5-field cron schedule ("minute hour day-of-month month day-of-week"), evaluated in UTC.
// Supported: `*`, numbers, lists `1,2`, ranges `1-5`, steps `*/5` and `1-30/5`. Day of week
// is 0-7 (0 and 7 are Sunday). As in Vixie cron, when both day fields are restricted a day
// matches if either does. Anything else (names, `?`, `L`, `@hourly`, ...) is refused.
#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace taskhub::jobs {

class CronSchedule {
 public:
  // Throws std::invalid_argument naming the field at fault; also refuses a schedule that
  // never fires (e.g. "0 0 31 2 *").
  static CronSchedule parse(std::string_view expr);

  // The first tick strictly after `after_ms` (ticks fall on whole minutes); nullopt if none
  // within 5 years.
  std::optional<int64_t> next_after(int64_t after_ms) const;
  bool matches(int64_t epoch_ms) const;
  const std::string& text() const { return text_; }

 private:
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<7> weekdays_; // 0..6, Sunday = 0
  bool dom_any_ = true, dow_any_ = true;
  std::string text_;

  bool day_matches(int mday, int wday) const;
};

}  // namespace taskhub::jobs
