#include "core/metrics_text.hpp"

#include <cmath>
#include <cstdio>

namespace taskhub {

std::string format_metric_value(double v) {
  char buf[64];
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

}  // namespace taskhub
