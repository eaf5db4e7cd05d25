// Cron parsing and next-tick computation (UTC), and the retry backoff bounds.
#include "services/jobs/cron.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "core/time.hpp"
#include "app/config.hpp"
#include "services/jobs/module.hpp"
#include "services/jobs/queue.hpp"

namespace taskhub::jobs {
namespace {

int64_t at(const char* rfc3339) { return *parse_rfc3339_ms(rfc3339); }
std::string next(const char* expr, const char* after) {
  auto n = CronSchedule::parse(expr).next_after(at(after));
  return n ? format_rfc3339_ms(*n) : "none";
}

TEST(CronTest, NextTicks) {
  EXPECT_EQ(next("*/5 * * * *", "2026-11-26T10:02:31Z"), "2026-11-26T10:05:00.000Z");
  EXPECT_EQ(next("*/5 * * * *", "2026-11-26T10:05:00Z"), "2026-11-26T10:10:00.000Z");  // strictly after
  EXPECT_EQ(next("* * * * *", "2026-11-26T10:05:59.999Z"), "2026-11-26T10:06:00.000Z");
  EXPECT_EQ(next("0 3 * * *", "2026-11-26T03:00:00Z"), "2026-11-27T03:00:00.000Z");
  EXPECT_EQ(next("15,45 8-9 * * *", "2026-11-26T09:50:00Z"), "2026-11-27T08:15:00.000Z");
  EXPECT_EQ(next("0 0 1 1 *", "2026-11-26T00:00:00Z"), "2027-01-01T00:00:00.000Z");
  // 2026-11-26 is a Thursday: the next Monday-Friday 09:00 is Friday, then Monday.
  EXPECT_EQ(next("0 9 * * 1-5", "2026-11-26T09:00:00Z"), "2026-11-27T09:00:00.000Z");
  EXPECT_EQ(next("0 9 * * 1-5", "2026-11-27T09:00:00Z"), "2026-11-30T09:00:00.000Z");
  // 7 and 0 are both Sunday.
  EXPECT_EQ(next("0 12 * * 7", "2026-11-26T00:00:00Z"), "2026-11-29T12:00:00.000Z");
  EXPECT_EQ(next("0 12 * * 0", "2026-11-26T00:00:00Z"), "2026-11-29T12:00:00.000Z");
  // Both day fields restricted: either matches (the 1st, or a Sunday).
  EXPECT_EQ(next("0 0 1 * 0", "2026-11-26T00:00:00Z"), "2026-11-29T00:00:00.000Z");
  EXPECT_EQ(next("0 0 1 * 0", "2026-11-29T00:00:00Z"), "2026-12-01T00:00:00.000Z");
  // Leap day: the next one after 2026 is in 2028.
  EXPECT_EQ(next("0 0 29 2 *", "2026-11-26T00:00:00Z"), "2028-02-29T00:00:00.000Z");
  // Ranges with steps.
  EXPECT_EQ(next("10-30/10 * * * *", "2026-11-26T10:30:00Z"), "2026-11-26T11:10:00.000Z");
  EXPECT_EQ(next("0 */6 * * *", "2026-11-26T06:00:00Z"), "2026-11-26T12:00:00.000Z");
  // Months.
  EXPECT_EQ(next("0 0 31 1,3 *", "2026-02-01T00:00:00Z"), "2026-03-31T00:00:00.000Z");
}

TEST(CronTest, Matches) {
  auto s = CronSchedule::parse("30 14 * * *");
  EXPECT_TRUE(s.matches(at("2026-11-26T14:30:00Z")));
  EXPECT_FALSE(s.matches(at("2026-11-26T14:30:01Z")));
  EXPECT_FALSE(s.matches(at("2026-11-26T14:31:00Z")));
}

TEST(CronTest, RejectsInvalid) {
  const char* bad[] = {
      "",                 // no fields
      "* * * *",          // 4 fields
      "* * * * * *",      // 6 fields (seconds are not supported)
      "60 * * * *",       // minute out of range
      "* 24 * * *",       // hour out of range
      "* * 0 * *",        // day of month starts at 1
      "* * 32 * *",       //
      "* * * 13 *",       // month out of range
      "* * * * 8",        // day of week out of range
      "*/0 * * * *",      // step 0
      "5-1 * * * *",      // backwards range
      "1,,2 * * * *",     // empty list element
      "a * * * *",        // not a number
      "* * * JAN *",      // names are not supported
      "* * * * MON",      //
      "@hourly",          // macros are not supported
      "0 0 ? * *",        // Quartz syntax
      "0 0 L * *",        //
      "-1 * * * *",       //
      "0 0 31 2 *",       // never fires
      "0 0 30,31 2 *",    //
  };
  for (const char* e : bad) EXPECT_THROW(CronSchedule::parse(e), std::invalid_argument) << "'" << e << "'";
  try {
    CronSchedule::parse("0 25 * * *");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("hour"), std::string::npos) << e.what();
  }
  EXPECT_THROW(CronSchedule::parse(std::string(300, '*')), std::invalid_argument);
}

TEST(BackoffTest, ExponentialJitteredAndCapped) {
  const int64_t base = 2000, cap = 3'600'000;
  for (int attempt = 1; attempt <= 60; ++attempt) {
    int64_t full = base;
    for (int i = 1; i < attempt && full < cap; ++i) full *= 2;
    full = std::min(full, cap);
    int64_t lo = backoff_delay_ms(attempt, base, cap, 0.0);
    int64_t hi = backoff_delay_ms(attempt, base, cap, 0.999999);
    EXPECT_EQ(lo, full / 2) << attempt;
    EXPECT_LE(hi, full) << attempt;
    EXPECT_GE(hi, full - full / 1000 - 1) << attempt;
    EXPECT_LE(hi, cap);
  }
  EXPECT_EQ(backoff_delay_ms(1, base, cap, 1.0), 2000);
  EXPECT_EQ(backoff_delay_ms(2, base, cap, 1.0), 4000);
  EXPECT_EQ(backoff_delay_ms(3, base, cap, 1.0), 8000);
  EXPECT_EQ(backoff_delay_ms(1000, base, cap, 1.0), cap);  // no overflow for huge attempt numbers
  EXPECT_EQ(backoff_delay_ms(0, base, cap, 1.0), 2000);
}

TEST(JobsConfigTest, KeysAndBounds) {
  Config d = config_from_map({});
  EXPECT_EQ(d.job_max_attempts, 8);
  EXPECT_EQ(d.worker_threads, 2);
  Config c = config_from_map({{"JOB_MAX_ATTEMPTS", "3"},
                              {"JOB_LEASE_SECONDS", "2"},
                              {"JOB_BACKOFF_BASE_MS", "50"},
                              {"JOB_BACKOFF_MAX_MS", "20"},
                              {"JOB_RETENTION_DAYS", "1"},
                              {"WORKER_THREADS", "4"},
                              {"WORKER_POLL_MS", "100"},
                              {"WORKER_STOP_GRACE_MS", "0"}});
  QueueOptions o = queue_options(c);
  EXPECT_EQ(o.default_max_attempts, 3);
  EXPECT_EQ(o.lease_ms, 2000);
  EXPECT_EQ(o.backoff_base_ms, 50);
  EXPECT_EQ(o.backoff_max_ms, 50) << "the cap is never below the base";
  EXPECT_EQ(o.retention_ms, 24 * 3600 * 1000);
  EXPECT_EQ(c.worker_threads, 4);
  for (auto [k, v] : std::initializer_list<std::pair<const char*, const char*>>{
           {"JOB_MAX_ATTEMPTS", "0"}, {"JOB_MAX_ATTEMPTS", "101"}, {"JOB_LEASE_SECONDS", "0"},
           {"WORKER_THREADS", "0"}, {"WORKER_THREADS", "65"}, {"WORKER_POLL_MS", "10"},
           {"JOB_RETENTION_DAYS", "x"}, {"WORKER_STOP_GRACE_MS", "-1"}})
    EXPECT_THROW(config_from_map({{k, v}}), std::runtime_error) << k << "=" << v;
}

}  // namespace
}  // namespace taskhub::jobs
