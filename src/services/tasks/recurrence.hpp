#pragma once
// Recurring tasks (issue 4): a task may repeat; completing it creates the next occurrence with
// the next dates. The rule is stored on the task as JSON:
//   {"frequency": "daily",   "interval": N}                        every N days
//   {"frequency": "weekly",  "interval": N, "weekdays": ["mon", ...]}  on those days, every N weeks
//   {"frequency": "monthly", "interval": N, "day": D}               on day D (1-31) every N months;
//                                                                   short months use their last day
// Dates are calendar dates (YYYY-MM-DD, no time zone), like the task's start and due dates.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskhub::tasks {

struct Recurrence {
  enum class Frequency { daily, weekly, monthly };
  Frequency frequency = Frequency::daily;
  int interval = 1;           // 1..365
  std::vector<int> weekdays;  // weekly: 0 = Monday .. 6 = Sunday, sorted, distinct, not empty
  int month_day = 0;          // monthly: 1..31
};

// Parses the JSON text of a rule. Throws ApiError 400 naming `field` (e.g. "recurrence") with
// what is wrong: unknown frequency, interval out of range, bad weekday, day out of range.
Recurrence parse_recurrence(std::string_view json_text, const char* field);
// Canonical JSON text (what is stored and returned).
std::string recurrence_json(const Recurrence& r);

// The first date of the rule strictly after `from` (YYYY-MM-DD). For weekly rules the weeks
// count from the week (Monday-based) of `from`: with interval 2 and weekdays [mon], the next
// date after a Monday is the Monday two weeks later.
std::string next_occurrence(const Recurrence& r, std::string_view from);

// Days from a to b (b - a), both YYYY-MM-DD.
int days_between(std::string_view a, std::string_view b);
// a plus n days.
std::string add_days(std::string_view a, int n);

}  // namespace taskhub::tasks
