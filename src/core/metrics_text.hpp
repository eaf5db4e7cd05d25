#pragma once
// One metric in the Prometheus text format, for the modules' /metrics sources: HELP, TYPE and
// the sample line. `labels` is either empty or a complete `{k="v",...}`.
#include <string>
#include <string_view>
#include <type_traits>

namespace taskhub {

std::string format_metric_value(double v);  // integers without a fraction, others to 6 places

template <class Number>
void append_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help, Number value,
                   std::string_view labels = {}) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
  out.append(type).append("\n").append(name).append(labels).append(" ");
  if constexpr (std::is_floating_point_v<Number>)
    out += format_metric_value(value);
  else
    out += std::to_string(value);
  out += "\n";
}

}  // namespace taskhub
