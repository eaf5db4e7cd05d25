#include "services/tasks/recurrence.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace taskhub::tasks {
namespace {

std::string next(std::string_view rule, std::string_view from) {
  return next_occurrence(parse_recurrence(rule, "recurrence"), from);
}

TEST(Recurrence, Daily) {
  EXPECT_EQ(next(R"({"frequency":"daily"})", "2026-11-26"), "2026-11-27");
  EXPECT_EQ(next(R"({"frequency":"daily","interval":3})", "2026-12-30"), "2027-01-02");
  EXPECT_EQ(next(R"({"frequency":"daily","interval":1})", "2028-02-28"), "2028-02-29");  // leap year
}

TEST(Recurrence, WeeklyOnGivenWeekdays) {
  // 2026-11-26 is a Thursday.
  const char* mon_thu = R"({"frequency":"weekly","weekdays":["thu","mon"]})";
  EXPECT_EQ(next(mon_thu, "2026-11-26"), "2026-11-30");  // Thu -> next Mon
  EXPECT_EQ(next(mon_thu, "2026-11-30"), "2026-12-03");  // Mon -> Thu of the same week
  EXPECT_EQ(next(mon_thu, "2026-11-28"), "2026-11-30");  // Sat -> Mon
  const char* every_other_monday = R"({"frequency":"weekly","interval":2,"weekdays":["mon"]})";
  EXPECT_EQ(next(every_other_monday, "2026-11-30"), "2026-12-14");
  EXPECT_EQ(next(R"({"frequency":"weekly","weekdays":["sun"]})", "2026-11-29"), "2026-12-06");  // Sun -> Sun
}

TEST(Recurrence, MonthlyClampsToTheLastDay) {
  const char* on31 = R"({"frequency":"monthly","day":31})";
  EXPECT_EQ(next(on31, "2026-01-31"), "2026-02-28");
  EXPECT_EQ(next(on31, "2026-02-28"), "2026-03-31");
  EXPECT_EQ(next(on31, "2026-04-10"), "2026-04-30");  // still ahead this month
  EXPECT_EQ(next(R"({"frequency":"monthly","day":15,"interval":3})", "2026-11-15"), "2027-02-15");
  EXPECT_EQ(next(R"({"frequency":"monthly","day":29})", "2028-01-29"), "2028-02-29");
}

TEST(Recurrence, BadRulesNameTheField) {
  for (const char* bad : {R"("daily")", R"({})", R"({"frequency":"yearly"})", R"({"frequency":"daily","interval":0})",
                          R"({"frequency":"daily","interval":400})", R"({"frequency":"weekly"})",
                          R"({"frequency":"weekly","weekdays":[]})", R"({"frequency":"weekly","weekdays":["xyz"]})",
                          R"({"frequency":"monthly"})", R"({"frequency":"monthly","day":32})",
                          R"({"frequency":"daily","day":3})", R"({"frequency":"daily","every":3})"}) {
    try {
      parse_recurrence(bad, "recurrence");
      ADD_FAILURE() << bad;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400) << bad;
      ASSERT_FALSE(e.errors().empty()) << bad;
      EXPECT_EQ(e.errors()[0].field, "recurrence") << bad;
    }
  }
}

TEST(Recurrence, CanonicalJsonRoundTrips) {
  auto r = parse_recurrence(R"({"frequency":"weekly","weekdays":["fri","mon","fri"]})", "recurrence");
  EXPECT_EQ(recurrence_json(r), R"({"frequency":"weekly","interval":1,"weekdays":["mon","fri"]})");
  EXPECT_EQ(recurrence_json(parse_recurrence(recurrence_json(r), "x")), recurrence_json(r));
}

TEST(Recurrence, DateArithmetic) {
  EXPECT_EQ(days_between("2026-11-20", "2026-11-26"), 6);
  EXPECT_EQ(days_between("2026-12-31", "2026-12-01"), -30);
  EXPECT_EQ(add_days("2026-12-30", 5), "2027-01-04");
}

}  // namespace
}  // namespace taskhub::tasks
