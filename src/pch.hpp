// Precompiled header: standard library and the light third-party headers most files use.
// Boost.Beast and Boost.Asio must never appear here (they stay inside src/http/).
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>
