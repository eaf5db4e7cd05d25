#pragma once
// Pure helpers of the analytics reports: percentiles, CSV (RFC 4180, formula injection
// neutralised) and self-contained SVG line charts. No I/O, unit-tested in analytics_test.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/markup.hpp"

namespace taskhub::analytics {

// The p-th percentile (0..100) of `values` by linear interpolation between closest ranks (the
// "type 7" of Hyndman & Fan, numpy's default), rounded to the nearest integer (halves up).
// nullopt for an empty list. Sorts `values`.
std::optional<int64_t> percentile(std::vector<int64_t>& values, double p);

// One CSV cell holding user text: a leading = + - @ TAB or CR gets an apostrophe (spreadsheets
// would run it as a formula), then RFC 4180 quoting when it holds a comma, quote, CR or LF.
std::string csv_text(std::string_view s);
// A CSV record (cells already escaped) ended by CRLF, as RFC 4180 says.
std::string csv_row(const std::vector<std::string>& cells);

struct Series {
  std::string name;
  std::string color;  // "#rrggbb"
  std::vector<double> values;  // one per label
};

// A line chart, 800x400, self-contained (no fonts, scripts or links): title, y axis with
// "nice" ticks and grid, x axis with at most ~10 date labels, a legend, one polyline per series.
// stacked: each series is a filled band on top of the previous ones (cumulative flow), so
// series with equal values stay visible.
std::string svg_line_chart(std::string_view title, const std::vector<std::string>& labels,
                           const std::vector<Series>& series, bool stacked = false);

// The step of "nice" axis ticks (1, 2, 5 x 10^n) for a range [0, max] in about `ticks` steps.
double nice_step(double max, int ticks);

}  // namespace taskhub::analytics
