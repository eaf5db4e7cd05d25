#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "core/ids.hpp"
#include "core/json_input.hpp"
#include "core/metrics_text.hpp"
#include "core/time.hpp"

namespace taskhub {
namespace {

TEST(Uuid7, FormatVersionVariantAndOrder) {
  std::string prev;
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string id = new_uuid_v7();
    ASSERT_TRUE(is_uuid(id)) << id;
    EXPECT_EQ(id[14], '7');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
    EXPECT_LT(prev, id);  // strictly increasing within a process
    prev = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(Uuid7, IsUuidRejectsMalformed) {
  EXPECT_FALSE(is_uuid(""));
  EXPECT_FALSE(is_uuid("0190a0b0-0000-7000-8000-00000000000"));
  EXPECT_FALSE(is_uuid("0190A0B0-0000-7000-8000-000000000000"));  // upper case is not canonical
  EXPECT_FALSE(is_uuid("0190a0b0x0000-7000-8000-000000000000"));
  EXPECT_TRUE(is_uuid("0190a0b0-0000-7000-8000-000000000000"));
}

TEST(RandomToken, LengthAndAlphabet) {
  std::string t = random_token(32);
  EXPECT_EQ(t.size(), 43u);
  for (char c : t) EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << t;
  EXPECT_NE(random_token(), random_token());
}

TEST(Time, FormatAndParseRoundTrip) {
  EXPECT_EQ(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_ms(1700000000123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(parse_rfc3339_ms("2023-11-14T22:13:20.123Z"), 1700000000123);
  EXPECT_EQ(parse_rfc3339_ms("2023-11-14T23:13:20.123+01:00"), 1700000000123);
  EXPECT_EQ(parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_FALSE(parse_rfc3339_ms("2023-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_ms("2023-11-14"));
  EXPECT_FALSE(parse_rfc3339_ms("2023-11-14T22:13:20"));
  EXPECT_FALSE(parse_rfc3339_ms("2023-13-14T22:13:20Z"));
  EXPECT_FALSE(parse_rfc3339_ms("2023-11-14T22:13:20Zjunk"));
}

std::vector<std::string> fields_of(const ApiError& e) {
  std::vector<std::string> out;
  for (auto& f : e.errors()) out.push_back(f.field);
  return out;
}

TEST(JsonInput, MalformedDeepAndInvalidUtf8AreBodyErrors) {
  for (std::string body : {std::string("{"), std::string("[1]"), std::string(""), std::string("{\"a\":\"\xff\"}"),
                           std::string(200, '[') + std::string(200, ']')}) {
    try {
      parse_json_object(body);
      FAIL() << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(fields_of(e), std::vector<std::string>{"body"});
    }
  }
  std::string deep = "{\"a\":" + std::string(40, '[') + std::string(40, ']') + "}";
  EXPECT_THROW(parse_json_object(deep), ApiError);
}

TEST(JsonInput, ReaderCollectsEveryFieldError) {
  auto obj = parse_json_object(R"({"email": 5, "name": "", "extra": true, "n": 1000})");
  ObjectReader r(obj, {"email", "name", "n", "missing"});
  r.required_string("email", 1, 10);
  r.required_string("name", 1, 10);
  r.optional_int("n", 0, 10);
  r.required_string("missing", 1, 10);
  try {
    r.finish();
    FAIL();
  } catch (const ApiError& e) {
    auto f = fields_of(e);
    std::set<std::string> got(f.begin(), f.end());
    EXPECT_EQ(got, (std::set<std::string>{"extra", "email", "name", "n", "missing"}));
  }
}

TEST(JsonInput, LengthsCountCodePointsAndControlCharsAreRefused) {
  auto obj = parse_json_object(R"({"a": "héllo", "b": "x\u0001y"})");
  ObjectReader r(obj, {"a", "b"});
  EXPECT_EQ(r.required_string("a", 5, 5), "héllo");
  r.optional_string("b", 0, 10);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace taskhub

#include "core/etag.hpp"

namespace taskhub {
namespace {

TEST(ETag, IfMatchSemantics) {
  EXPECT_EQ(make_etag(7), "\"v7\"");
  EXPECT_TRUE(parse_if_match("").matches(3));  // absent: unconditional
  EXPECT_TRUE(parse_if_match("*").matches(3));
  EXPECT_TRUE(parse_if_match("\"v3\"").matches(3));
  EXPECT_TRUE(parse_if_match("W/\"v3\"").matches(3));
  EXPECT_FALSE(parse_if_match("\"v2\"").matches(3));
  EXPECT_TRUE(parse_if_match("\"v1\", \"v3\"").matches(3));
  EXPECT_FALSE(parse_if_match("garbage").matches(3));
  EXPECT_FALSE(parse_if_match("\"v-1\"").matches(3));
  EXPECT_THROW(require_match(parse_if_match("\"v2\""), 3), ApiError);
  try {
    require_match(parse_if_match("\"v2\""), 3);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 412);
  }
}

}  // namespace
}  // namespace taskhub

#include "core/pagination.hpp"

namespace taskhub {
namespace {

TEST(Pagination, LimitAndCursor) {
  EXPECT_EQ(parse_limit(std::nullopt), 50);
  EXPECT_EQ(parse_limit(std::string("200")), 200);
  EXPECT_THROW(parse_limit(std::string("0")), ApiError);
  EXPECT_THROW(parse_limit(std::string("201")), ApiError);
  EXPECT_THROW(parse_limit(std::string("5x")), ApiError);
  boost::json::array key{"2026-01-01T00:00:00.000Z", 42, "0190a0b0-0000-7000-8000-000000000000"};
  std::string c = encode_cursor(key);
  EXPECT_EQ(decode_cursor(c, 3), key);
  EXPECT_THROW(decode_cursor(c, 2), ApiError);
  EXPECT_THROW(decode_cursor("!!!", 3), ApiError);
  EXPECT_THROW(decode_cursor(encode_cursor(boost::json::array{boost::json::object{}}), 1), ApiError);
}

}  // namespace
}  // namespace taskhub

// ---- run_process

#include "core/subprocess.hpp"

namespace taskhub {
namespace {

TEST(RunProcess, OutputExitCodeAndDeadline) {
  auto ok = run_process({"sh", "-c", "printf hello; printf oops >&2; exit 3"}, std::chrono::seconds(10));
  EXPECT_EQ(ok.output, "hello");
  EXPECT_EQ(ok.error, "oops");
  EXPECT_EQ(ok.exit_code, 3);
  EXPECT_FALSE(ok.timed_out);
  // A child that outlives its deadline is killed, with its own children (the process group),
  // even when it closed its output first.
  auto t0 = std::chrono::steady_clock::now();
  auto slow = run_process({"sh", "-c", "exec >/dev/null 2>&1; sleep 30 & sleep 30"}, std::chrono::milliseconds(300));
  EXPECT_TRUE(slow.timed_out);
  EXPECT_EQ(slow.exit_code, -1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  auto big = run_process({"sh", "-c", "head -c 100000 /dev/zero"}, std::chrono::seconds(10), 1000);
  EXPECT_EQ(big.output.size(), 1000u);  // bounded
  EXPECT_EQ(big.exit_code, 0);
  EXPECT_THROW(run_process({"/nonexistent/program"}, std::chrono::seconds(1)), std::runtime_error);
}

}  // namespace
}  // namespace taskhub

namespace taskhub {
namespace {

TEST(MetricsText, OneMetricWithHelpTypeAndSample) {
  std::string out;
  append_metric(out, "x_total", "counter", "Things counted.", uint64_t{42});
  append_metric(out, "y_seconds_total", "counter", "Time spent.", 1.5);
  append_metric(out, "z", "gauge", "Labelled.", int64_t{-3}, R"({kind="a"})");
  EXPECT_EQ(out,
            "# HELP x_total Things counted.\n# TYPE x_total counter\nx_total 42\n"
            "# HELP y_seconds_total Time spent.\n# TYPE y_seconds_total counter\ny_seconds_total 1.500000\n"
            "# HELP z Labelled.\n# TYPE z gauge\nz{kind=\"a\"} -3\n");
  EXPECT_EQ(format_metric_value(3.0), "3");
}

}  // namespace
}  // namespace taskhub
