#include "services/tasks/recurrence.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/error.hpp"

namespace taskhub::tasks {

namespace json = boost::json;
namespace ch = std::chrono;

namespace {

constexpr const char* kWeekdays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

ch::year_month_day parse_date(std::string_view s) {
  unsigned y = 0, m = 0, d = 0;
  if (s.size() != 10 || std::sscanf(std::string(s).c_str(), "%4u-%2u-%2u", &y, &m, &d) != 3)
    throw std::invalid_argument("not a date");
  ch::year_month_day ymd{ch::year(static_cast<int>(y)), ch::month(m), ch::day(d)};
  if (!ymd.ok()) throw std::invalid_argument("not a date");
  return ymd;
}

std::string format_date(ch::year_month_day ymd) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

// Monday-based weekday index, 0..6.
int monday_index(ch::sys_days d) { return static_cast<int>((ch::weekday(d).c_encoding() + 6) % 7); }

}  // namespace

Recurrence parse_recurrence(std::string_view json_text, const char* field) {
  boost::system::error_code ec;
  json::value v = json::parse(json_text, ec);
  if (ec || !v.is_object()) throw bad_field(field, "must be an object with a frequency");
  const json::object& o = v.as_object();
  for (const auto& kv : o)
    if (kv.key() != "frequency" && kv.key() != "interval" && kv.key() != "weekdays" && kv.key() != "day")
      throw bad_field(field, "unknown member '" + std::string(kv.key()) + "'");
  Recurrence r;
  const json::value* f = o.if_contains("frequency");
  if (!f || !f->is_string()) throw bad_field(field, "frequency must be daily, weekly or monthly");
  const std::string freq(f->as_string());
  if (freq == "daily")
    r.frequency = Recurrence::Frequency::daily;
  else if (freq == "weekly")
    r.frequency = Recurrence::Frequency::weekly;
  else if (freq == "monthly")
    r.frequency = Recurrence::Frequency::monthly;
  else
    throw bad_field(field, "frequency must be daily, weekly or monthly");
  if (const json::value* i = o.if_contains("interval")) {
    if (!i->is_int64() || i->as_int64() < 1 || i->as_int64() > 365)
      throw bad_field(field, "interval must be an integer from 1 to 365");
    r.interval = static_cast<int>(i->as_int64());
  }
  const json::value* w = o.if_contains("weekdays");
  const json::value* d = o.if_contains("day");
  if (r.frequency == Recurrence::Frequency::weekly) {
    if (!w || !w->is_array() || w->as_array().empty() || w->as_array().size() > 7)
      throw bad_field(field, "a weekly rule needs weekdays, e.g. [\"mon\", \"thu\"]");
    for (const auto& x : w->as_array()) {
      auto it = x.is_string() ? std::find(std::begin(kWeekdays), std::end(kWeekdays), std::string_view(x.as_string()))
                              : std::end(kWeekdays);
      if (it == std::end(kWeekdays)) throw bad_field(field, "weekdays are mon, tue, wed, thu, fri, sat, sun");
      r.weekdays.push_back(static_cast<int>(it - std::begin(kWeekdays)));
    }
    std::sort(r.weekdays.begin(), r.weekdays.end());
    r.weekdays.erase(std::unique(r.weekdays.begin(), r.weekdays.end()), r.weekdays.end());
  } else if (w) {
    throw bad_field(field, "weekdays belong to weekly rules");
  }
  if (r.frequency == Recurrence::Frequency::monthly) {
    if (!d || !d->is_int64() || d->as_int64() < 1 || d->as_int64() > 31)
      throw bad_field(field, "a monthly rule needs day, an integer from 1 to 31");
    r.month_day = static_cast<int>(d->as_int64());
  } else if (d) {
    throw bad_field(field, "day belongs to monthly rules");
  }
  return r;
}

std::string recurrence_json(const Recurrence& r) {
  json::object o;
  o["frequency"] = r.frequency == Recurrence::Frequency::daily    ? "daily"
                   : r.frequency == Recurrence::Frequency::weekly ? "weekly"
                                                                  : "monthly";
  o["interval"] = r.interval;
  if (r.frequency == Recurrence::Frequency::weekly) {
    json::array a;
    for (int w : r.weekdays) a.emplace_back(kWeekdays[w]);
    o["weekdays"] = std::move(a);
  }
  if (r.frequency == Recurrence::Frequency::monthly) o["day"] = r.month_day;
  return json::serialize(o);
}

std::string next_occurrence(const Recurrence& r, std::string_view from) {
  const ch::year_month_day ymd = parse_date(from);
  const ch::sys_days day{ymd};
  switch (r.frequency) {
    case Recurrence::Frequency::daily:
      return format_date(ch::year_month_day{day + ch::days(r.interval)});
    case Recurrence::Frequency::weekly: {
      const int today = monday_index(day);
      // Later in the same week?
      for (int w : r.weekdays)
        if (w > today) return format_date(ch::year_month_day{day + ch::days(w - today)});
      // Else the first weekday of the week `interval` weeks on.
      const ch::sys_days week_start = day - ch::days(today) + ch::weeks(r.interval);
      return format_date(ch::year_month_day{week_start + ch::days(r.weekdays.front())});
    }
    case Recurrence::Frequency::monthly: {
      // This month's day if still ahead (and the rule's interval counts from here), else
      // `interval` months on; the day clamps to the month's last day.
      auto on = [&](ch::year_month ym) {
        const unsigned last = static_cast<unsigned>(ch::year_month_day_last{ym / ch::last}.day());
        return ch::year_month_day{ym / ch::day(std::min<unsigned>(static_cast<unsigned>(r.month_day), last))};
      };
      const ch::year_month here{ymd.year(), ymd.month()};
      if (ch::sys_days{on(here)} > day) return format_date(on(here));
      return format_date(on(here + ch::months(r.interval)));
    }
  }
  return std::string(from);
}

int days_between(std::string_view a, std::string_view b) {
  return static_cast<int>((ch::sys_days{parse_date(b)} - ch::sys_days{parse_date(a)}).count());
}

std::string add_days(std::string_view a, int n) {
  return format_date(ch::year_month_day{ch::sys_days{parse_date(a)} + ch::days(n)});
}

}  // namespace taskhub::tasks
