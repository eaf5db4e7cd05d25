#include "services/analytics/format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace taskhub::analytics {

std::optional<int64_t> percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const double pos = (p / 100.0) * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  const double v = static_cast<double>(values[lo]) + (pos - static_cast<double>(lo)) *
                                                         static_cast<double>(values[hi] - values[lo]);
  return static_cast<int64_t>(std::floor(v + 0.5));
}

std::string csv_text(std::string_view s) {
  std::string cell;
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r'))
    cell += '\'';
  cell += s;
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string q = "\"";
  for (char c : cell) {
    if (c == '"') q += '"';
    q += c;
  }
  q += '"';
  return q;
}

std::string csv_row(const std::vector<std::string>& cells) {
  std::string out;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) out += ',';
    out += cells[i];
  }
  out += "\r\n";
  return out;
}


double nice_step(double max, int ticks) {
  if (max <= 0 || ticks < 1) return 1;
  const double raw = max / ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return std::max(1.0, nice * mag);  // counts and points are integers: no fractional ticks
}

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace

std::string svg_line_chart(std::string_view title, const std::vector<std::string>& labels,
                           const std::vector<Series>& series, bool stacked) {
  constexpr double W = 800, H = 400, left = 60, right = 170, top = 40, bottom = 60;
  const double pw = W - left - right, ph = H - top - bottom;
  // In a stacked chart a series is drawn between the sum of the ones before it and that sum
  // plus its own values.
  std::vector<std::vector<double>> base(series.size()), upper(series.size());
  for (std::size_t k = 0; k < series.size(); ++k) {
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const double v = i < series[k].values.size() ? series[k].values[i] : 0;
      const double b = stacked && k > 0 ? upper[k - 1][i] : 0;
      base[k].push_back(b);
      upper[k].push_back(b + v);
    }
  }
  double max = 0;
  for (const auto& u : upper)
    for (double v : u) max = std::max(max, v);
  const double step = nice_step(max, 5);
  const double ymax = std::max(step, std::ceil(max / step) * step);
  const std::size_t n = labels.size();
  auto x_of = [&](std::size_t i) { return left + (n > 1 ? pw * static_cast<double>(i) / static_cast<double>(n - 1) : pw / 2); };
  auto y_of = [&](double v) { return top + ph - ph * v / ymax; };

  std::string o;
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"400\" viewBox=\"0 0 800 400\" "
       "font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<rect width=\"800\" height=\"400\" fill=\"#ffffff\"/>\n";
  o += "<text x=\"" + num(W / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\" fill=\"#222222\">" +
       markup_escape(title) + "</text>\n";
  // y grid, ticks and labels
  for (double v = 0; v <= ymax + step / 2; v += step) {
    const std::string y = num(y_of(v));
    o += "<line x1=\"" + num(left) + "\" y1=\"" + y + "\" x2=\"" + num(left + pw) + "\" y2=\"" + y +
         "\" stroke=\"#e5e5e5\"/>\n";
    o += "<line x1=\"" + num(left - 5) + "\" y1=\"" + y + "\" x2=\"" + num(left) + "\" y2=\"" + y +
         "\" stroke=\"#333333\"/>\n";
    o += "<text x=\"" + num(left - 8) + "\" y=\"" + num(y_of(v) + 4) + "\" text-anchor=\"end\" fill=\"#333333\">" +
         tick_text(v) + "</text>\n";
  }
  // axes
  o += "<line x1=\"" + num(left) + "\" y1=\"" + num(top) + "\" x2=\"" + num(left) + "\" y2=\"" + num(top + ph) +
       "\" stroke=\"#333333\"/>\n";
  o += "<line x1=\"" + num(left) + "\" y1=\"" + num(top + ph) + "\" x2=\"" + num(left + pw) + "\" y2=\"" +
       num(top + ph) + "\" stroke=\"#333333\"/>\n";
  // x ticks: at most 10 labels, evenly spaced, always the last one
  const std::size_t every = n > 10 ? (n + 9) / 10 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % every != 0 && i + 1 != n) continue;
    const std::string x = num(x_of(i));
    o += "<line x1=\"" + x + "\" y1=\"" + num(top + ph) + "\" x2=\"" + x + "\" y2=\"" + num(top + ph + 5) +
         "\" stroke=\"#333333\"/>\n";
    o += "<text x=\"" + x + "\" y=\"" + num(top + ph + 18) + "\" text-anchor=\"end\" fill=\"#333333\" transform=\"rotate(-30 " +
         x + " " + num(top + ph + 18) + ")\">" + markup_escape(labels[i]) + "</text>\n";
  }
  // series
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    std::string pts;
    for (std::size_t i = 0; i < n; ++i) {
      if (!pts.empty()) pts += ' ';
      pts += num(x_of(i)) + "," + num(y_of(upper[k][i]));
    }
    if (stacked) {
      for (std::size_t i = n; i-- > 0;) pts += " " + num(x_of(i)) + "," + num(y_of(base[k][i]));
      o += "<polygon fill=\"" + markup_escape(s.color) + "\" stroke=\"" + markup_escape(s.color) + "\" points=\"" + pts +
           "\"><title>" + markup_escape(s.name) + "</title></polygon>\n";
      continue;
    }
    o += "<polyline fill=\"none\" stroke=\"" + markup_escape(s.color) + "\" stroke-width=\"3\" points=\"" + pts +
         "\"><title>" + markup_escape(s.name) + "</title></polyline>\n";
    if (n == 1)
      o += "<circle cx=\"" + num(x_of(0)) + "\" cy=\"" + num(y_of(upper[k][0])) + "\" r=\"4\" fill=\"" +
           markup_escape(s.color) + "\"/>\n";
  }
  // legend
  double ly = top + 10;
  for (const auto& s : series) {
    o += "<rect x=\"" + num(W - right + 20) + "\" y=\"" + num(ly - 9) + "\" width=\"14\" height=\"10\" fill=\"" +
         markup_escape(s.color) + "\"/>\n";
    o += "<text x=\"" + num(W - right + 40) + "\" y=\"" + num(ly) + "\" fill=\"#222222\">" + markup_escape(s.name) +
         "</text>\n";
    ly += 20;
  }
  o += "</svg>\n";
  return o;
}

}  // namespace taskhub::analytics
