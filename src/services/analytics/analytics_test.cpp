// Analytics helpers without a database: percentiles, CSV escaping and formula neutralising,
// the SVG chart, date ranges and their buckets in time zones, and the change time of events.
// The read model and reports run against both databases in tests/api/test_analytics.py.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/time.hpp"
#include "services/analytics/format.hpp"
#include "services/analytics/range.hpp"
#include "services/analytics/read_model.hpp"

namespace taskhub::analytics {
namespace {

TEST(AnalyticsPercentile, LinearInterpolationRoundedHalfUp) {
  std::vector<int64_t> empty;
  EXPECT_FALSE(percentile(empty, 50));
  std::vector<int64_t> one{7};
  EXPECT_EQ(percentile(one, 85), 7);
  std::vector<int64_t> v{40, 10, 30, 20};  // sorted: 10 20 30 40
  EXPECT_EQ(percentile(v, 50), 25);        // 20 + 0.5 * 10
  EXPECT_EQ(percentile(v, 85), 36);        // pos 2.55: 30 + 0.55 * 10 = 35.5 -> 36
  EXPECT_EQ(percentile(v, 0), 10);
  EXPECT_EQ(percentile(v, 100), 40);
  std::vector<int64_t> odd{5, 1, 3};
  EXPECT_EQ(percentile(odd, 50), 3);
}

TEST(AnalyticsCsv, QuotingAndFormulaInjection) {
  EXPECT_EQ(csv_text("plain"), "plain");
  EXPECT_EQ(csv_text(""), "");
  EXPECT_EQ(csv_text("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_text("two\nlines"), "\"two\nlines\"");
  for (const char* f : {"=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"})
    EXPECT_EQ(csv_text(f).find('\''), f[0] == '\r' ? 1u : 0u) << f;  // "\r..." is also quoted
  EXPECT_EQ(csv_text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
  EXPECT_EQ(csv_text("a=b"), "a=b");  // only a leading character is dangerous
  EXPECT_EQ(csv_row({"a", "b", ""}), "a,b,\r\n");
}

TEST(AnalyticsSvg, SelfContainedWithAxesLegendAndEscapedText) {
  auto svg = svg_line_chart("Tasks <&> \"x\"", {"2026-01-01", "2026-01-02", "2026-01-03"},
                            {{"created", "#1f77b4", {0, 4, 9}}, {"done <b>", "#2ca02c", {1, 2, 3}}});
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"400\"", 0), 0u);
  EXPECT_NE(svg.find("Tasks &lt;&amp;&gt; &quot;x&quot;"), std::string::npos);
  EXPECT_NE(svg.find(">done &lt;b&gt;</text>"), std::string::npos);  // legend, escaped
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("href"), std::string::npos);
  EXPECT_EQ(svg.find("@import"), std::string::npos);
  // two series; y ticks 0..10 step 2 (max 9); every date labelled
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '\n') > 10, true);
  size_t polylines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++polylines;
  EXPECT_EQ(polylines, 2u);
  for (const char* t : {">0</text>", ">2</text>", ">10</text>", ">2026-01-01</text>", ">2026-01-03</text>"})
    EXPECT_NE(svg.find(t), std::string::npos) << t;
  // stacked: equal series become bands one above the other; the axis reaches their sum
  auto st = svg_line_chart("Flow", {"a", "b"}, {{"x", "#111111", {3, 3}}, {"y", "#222222", {3, 3}}}, true);
  size_t polygons = 0;
  for (size_t p = st.find("<polygon"); p != std::string::npos; p = st.find("<polygon", p + 1)) ++polygons;
  EXPECT_EQ(polygons, 2u);
  EXPECT_NE(st.find(">6</text>"), std::string::npos);
  EXPECT_EQ(nice_step(9, 5), 2);
  EXPECT_EQ(nice_step(0, 5), 1);
  EXPECT_EQ(nice_step(1000, 5), 200);
  EXPECT_EQ(nice_step(3, 5), 1);  // never fractional
}

int64_t day_of(const char* ymd) { return *parse_rfc3339_ms(std::string(ymd) + "T00:00:00Z") / 86'400'000; }

TEST(AnalyticsRange, DaysWeeksAndZones) {
  const int64_t now = *parse_rfc3339_ms("2026-03-29T12:00:00Z");  // a Sunday; Europe/Paris changes to DST
  auto r = parse_range(std::nullopt, std::nullopt, std::nullopt, std::nullopt, now);
  EXPECT_EQ(r.buckets.size(), 30u);
  EXPECT_EQ(r.buckets.back().label, "2026-03-29");
  EXPECT_EQ(r.buckets.front().label, "2026-02-28");

  auto p = parse_range("2026-03-28", "2026-03-30", "day", "Europe/Paris", now);
  ASSERT_EQ(p.buckets.size(), 3u);
  EXPECT_EQ(p.buckets[0].start_ms, *parse_rfc3339_ms("2026-03-27T23:00:00Z"));  // +01:00
  EXPECT_EQ(p.buckets[1].start_ms, *parse_rfc3339_ms("2026-03-28T23:00:00Z"));
  EXPECT_EQ(p.buckets[1].end_ms, *parse_rfc3339_ms("2026-03-29T22:00:00Z"));  // a 23-hour day
  EXPECT_EQ(p.buckets[2].end_ms, *parse_rfc3339_ms("2026-03-30T22:00:00Z"));  // +02:00
  for (const auto& b : p.buckets) EXPECT_EQ(b.start_ms % kBucketMs, 0);

  auto k = parse_range("2026-01-01", "2026-01-01", "day", "Asia/Kathmandu", now);  // +05:45
  EXPECT_EQ(k.buckets[0].start_ms, *parse_rfc3339_ms("2025-12-31T18:15:00Z"));
  EXPECT_EQ(k.buckets[0].start_ms % kBucketMs, 0);

  auto w = parse_range("2026-03-04", "2026-03-17", "week", std::nullopt, now);  // Wednesday .. Tuesday
  ASSERT_EQ(w.buckets.size(), 3u);
  EXPECT_EQ(w.buckets[0].label, "2026-03-02");  // the Monday before
  EXPECT_EQ(w.buckets[2].label, "2026-03-16");
  EXPECT_EQ(monday_of(day_of("2026-03-02")), day_of("2026-03-02"));
  EXPECT_EQ(monday_of(day_of("2026-03-08")), day_of("2026-03-02"));
  EXPECT_EQ(local_day(*parse_rfc3339_ms("2026-03-29T23:30:00Z"), "Europe/Paris"), day_of("2026-03-30"));

  auto fields = [&](auto&& fn) {
    try {
      fn();
    } catch (const ApiError& e) {
      std::vector<std::string> out;
      for (const auto& f : e.errors()) out.push_back(f.field);
      return out;
    }
    return std::vector<std::string>{};
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(fields([&] { parse_range("2026-02-30", "x", "month", "Nowhere/Zone", now); }), (V{"tz", "interval", "from", "to"}));  // every bad one named
  EXPECT_EQ(fields([&] { parse_range("2026-02-30", "x", std::nullopt, std::nullopt, now); }), (V{"from", "to"}));
  EXPECT_EQ(fields([&] { parse_range("2026-01-02", "2026-01-01", std::nullopt, std::nullopt, now); }), (V{"from"}));
  EXPECT_EQ(fields([&] { parse_range("2025-01-01", "2026-01-02", std::nullopt, std::nullopt, now); }), (V{"to"}));
  EXPECT_EQ(fields([&] { parse_range("2025-01-01", "2026-01-01", std::nullopt, std::nullopt, now); }), (V{}));  // 366 days
  EXPECT_EQ(fields([&] { parse_tz(std::string("../../etc/passwd")); }), (V{"tz"}));
}

TEST(AnalyticsReadModel, FactFromEventAndChangeTime) {
  auto f = fact_from_event(R"({"task":{"id":"t1","project_id":"p1","number":3,"title":"x","state_id":"s1",
      "state_group":"started","priority":"high","estimate":5,"assignee_ids":["u1","u2"],"label_ids":[],
      "custom_fields":{"f":1},"created_at":100,"updated_at":200,"completed_at":null,"archived_at":null,
      "deleted_at":null,"version":4}})");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->priority, 3);
  EXPECT_EQ(f->points(), 5);
  EXPECT_EQ(f->assignee_ids, (std::vector<std::string>{"u1", "u2"}));
  EXPECT_TRUE(f->open());
  EXPECT_EQ(change_time(std::nullopt, *f, 999), 100);  // new: its creation
  Fact before = *f;
  before.updated_at = 150;
  EXPECT_EQ(change_time(before, *f, 999), 200);  // changed: its updated_at
  Fact deleted = *f;
  deleted.deleted = true;
  deleted.deleted_at = 300;
  EXPECT_EQ(change_time(*f, deleted, 999), 300);
  EXPECT_EQ(change_time(*f, *f, 999), 999);  // nothing of its own moved: the event's time
  EXPECT_FALSE(fact_from_event(R"({"task":{"id":"t1"}})"));
  EXPECT_FALSE(fact_from_event("not json"));
}

}  // namespace
}  // namespace taskhub::analytics
