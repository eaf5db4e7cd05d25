#include "services/jobs/cron.hpp"

#include <charconv>
#include <ctime>
#include <stdexcept>
#include <vector>

#include "core/time.hpp"

namespace taskhub::jobs {

namespace {

constexpr std::size_t kMaxExpression = 200;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

int number(std::string_view s, const char* field, int lo, int hi) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    throw std::invalid_argument(std::string("cron ") + field + ": '" + std::string(s) +
                                "' is not a number (supported: *, N, N-M, */S, N-M/S and lists)");
  if (v < lo || v > hi)
    throw std::invalid_argument(std::string("cron ") + field + ": " + std::to_string(v) + " is outside " +
                                std::to_string(lo) + "-" + std::to_string(hi));
  return v;
}

// Sets bits lo..hi of the field from one comma-separated term list. Returns true when it starts with `*`.
template <std::size_t N>
bool parse_field(std::string_view text, const char* field, int lo, int hi, std::bitset<N>& bits) {
  bool any = !text.empty() && text[0] == '*';  // Vixie cron: "*/2" counts as unrestricted too
  for (std::string_view term : split(text, ',')) {
    if (term.empty()) throw std::invalid_argument(std::string("cron ") + field + ": empty list element");
    int step = 1;
    auto slash = term.find('/');
    std::string_view range = term;
    if (slash != std::string_view::npos) {
      step = number(term.substr(slash + 1), field, 1, hi);
      range = term.substr(0, slash);
    }
    int a = lo, b = hi;
    if (range == "*") {
      // the whole range
    } else if (auto dash = range.find('-'); dash != std::string_view::npos) {
      a = number(range.substr(0, dash), field, lo, hi);
      b = number(range.substr(dash + 1), field, lo, hi);
      if (a > b)
        throw std::invalid_argument(std::string("cron ") + field + ": range " + std::string(range) +
                                    " goes backwards");
    } else {
      a = b = number(range, field, lo, hi);
      if (slash != std::string_view::npos) b = hi;  // "5/15" means 5-hi/15, as in Vixie cron
    }
    for (int v = a; v <= b; v += step) bits.set(static_cast<std::size_t>(v));
  }
  return any;
}

struct Civil {
  int year, month, mday, hour, minute, wday;
};

Civil civil(int64_t epoch_minutes) {
  std::time_t t = static_cast<std::time_t>(epoch_minutes * 60);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return Civil{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_wday};
}

int64_t to_minutes(int year, int month, int mday, int hour, int minute) {
  return (days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(mday)) * 24 + hour) * 60 + minute;
}

}  // namespace

CronSchedule CronSchedule::parse(std::string_view expr) {
  if (expr.size() > kMaxExpression) throw std::invalid_argument("cron: expression longer than 200 characters");
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < expr.size()) {
    while (i < expr.size() && (expr[i] == ' ' || expr[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < expr.size() && expr[i] != ' ' && expr[i] != '\t') ++i;
    if (i > start) fields.push_back(expr.substr(start, i - start));
  }
  if (fields.size() != 5)
    throw std::invalid_argument("cron: expected 5 fields (minute hour day-of-month month day-of-week), got " +
                                std::to_string(fields.size()) + " in '" + std::string(expr) + "'");
  CronSchedule s;
  s.text_ = std::string(expr);
  parse_field(fields[0], "minute", 0, 59, s.minutes_);
  parse_field(fields[1], "hour", 0, 23, s.hours_);
  s.dom_any_ = parse_field(fields[2], "day-of-month", 1, 31, s.days_);
  parse_field(fields[3], "month", 1, 12, s.months_);
  std::bitset<8> dow;
  s.dow_any_ = parse_field(fields[4], "day-of-week", 0, 7, dow);
  for (std::size_t d = 0; d < 7; ++d) s.weekdays_[d] = dow[d];
  if (dow[7]) s.weekdays_.set(0);
  // "0 0 31 2 *" parses but never fires: refuse it here rather than never running.
  if (!s.next_after(0)) throw std::invalid_argument("cron: '" + s.text_ + "' never fires");
  return s;
}

bool CronSchedule::day_matches(int mday, int wday) const {
  bool dom = days_[static_cast<std::size_t>(mday)];
  bool dow = weekdays_[static_cast<std::size_t>(wday)];
  if (!dom_any_ && !dow_any_) return dom || dow;
  return dom && dow;
}

bool CronSchedule::matches(int64_t epoch_ms) const {
  if (epoch_ms % 60000 != 0) return false;
  Civil c = civil(epoch_ms / 60000);
  return minutes_[c.minute] && hours_[c.hour] && months_[c.month] && day_matches(c.mday, c.wday);
}

std::optional<int64_t> CronSchedule::next_after(int64_t after_ms) const {
  // Whole minutes; floor division so negative instants work too.
  int64_t m = (after_ms >= 0 ? after_ms / 60000 : (after_ms - 59999) / 60000) + 1;
  const int64_t limit = m + int64_t{5} * 366 * 24 * 60;
  // Each step skips a whole non-matching month, day or hour, so this ends in a few thousand
  // iterations at most.
  while (m <= limit) {
    Civil c = civil(m);
    if (!months_[c.month]) {
      int y = c.year, mo = c.month + 1;
      if (mo > 12) mo = 1, ++y;
      m = to_minutes(y, mo, 1, 0, 0);
      continue;
    }
    if (!day_matches(c.mday, c.wday)) {
      m = to_minutes(c.year, c.month, c.mday, 0, 0) + 24 * 60;
      continue;
    }
    if (!hours_[c.hour]) {
      m = to_minutes(c.year, c.month, c.mday, c.hour, 0) + 60;
      continue;
    }
    if (!minutes_[c.minute]) {
      ++m;
      continue;
    }
    return m * 60000;
  }
  return std::nullopt;
}

}  // namespace taskhub::jobs
