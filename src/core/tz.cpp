#include "core/tz.hpp"

#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace taskhub {

namespace {

struct Zone {
  std::vector<int64_t> transitions;  // UTC seconds, ascending
  std::vector<uint8_t> index;        // type of each transition
  std::vector<int64_t> offsets;      // per type
  int64_t initial = 0;               // before the first transition
};

int64_t be(const std::string& d, std::size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(d.at(at + i));
  if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

// Parses the 64-bit (v2+) block of a TZif file. The footer's POSIX rule (times after the last
// transition) is not read: Debian ships "fat" files with transitions up to 2037.
std::optional<Zone> parse(const std::string& d) {
  auto header = [&](std::size_t at, int64_t (&n)[6]) {
    if (d.size() < at + 44 || d.compare(at, 4, "TZif") != 0) return false;
    for (int i = 0; i < 6; ++i) n[i] = be(d, at + 20 + 4 * i, 4);
    for (int64_t x : n)
      if (x < 0 || x > 100000) return false;
    return true;
  };
  int64_t n[6];
  if (!header(0, n) || d[4] < '2') return std::nullopt;
  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  std::size_t v1 = 44 + n[3] * 5 + n[4] * 6 + n[5] + n[2] * 8 + n[1] + n[0];
  if (!header(v1, n)) return std::nullopt;
  std::size_t p = v1 + 44;
  if (d.size() < p + n[3] * 9 + n[4] * 6) return std::nullopt;
  Zone z;
  for (int64_t i = 0; i < n[3]; ++i) z.transitions.push_back(be(d, p + 8 * i, 8));
  p += 8 * n[3];
  for (int64_t i = 0; i < n[3]; ++i) z.index.push_back(static_cast<uint8_t>(d[p + i]));
  p += n[3];
  if (n[4] == 0) return std::nullopt;
  for (int64_t i = 0; i < n[4]; ++i) z.offsets.push_back(be(d, p + 6 * i, 4));
  for (uint8_t t : z.index)
    if (t >= z.offsets.size()) return std::nullopt;
  // RFC 8536 3.2: local time before the first transition uses type 0.
  z.initial = z.offsets[0];
  return z;
}

std::mutex g_mu;
std::map<std::string, std::shared_ptr<const Zone>>& cache() {
  static std::map<std::string, std::shared_ptr<const Zone>> c;
  return c;
}

}  // namespace

bool plausible_zone_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.find("..") != std::string_view::npos)
    return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
              c == '-' || c == '+';
    if (!ok) return false;
  }
  return true;
}

std::optional<int64_t> utc_offset_s(const std::string& name, int64_t utc_ms, const std::string& zoneinfo_dir) {
  if (!plausible_zone_name(name)) return std::nullopt;
  std::shared_ptr<const Zone> z;
  {
    std::lock_guard lk(g_mu);
    auto key = zoneinfo_dir + "/" + name;
    auto it = cache().find(key);
    if (it != cache().end()) {
      z = it->second;
    } else {
      std::ifstream f(key, std::ios::binary);
      if (!f) return std::nullopt;
      std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      if (data.size() > (1 << 20)) return std::nullopt;
      auto parsed = parse(data);
      if (!parsed) return std::nullopt;
      z = std::make_shared<const Zone>(std::move(*parsed));
      if (cache().size() < 1000) cache().emplace(key, z);  // bounded: names are user input
    }
  }
  int64_t t = utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000);
  if (z->transitions.empty() || t < z->transitions.front()) return z->initial;
  std::size_t lo = 0, hi = z->transitions.size();  // last transition <= t
  while (hi - lo > 1) {
    std::size_t mid = (lo + hi) / 2;
    if (z->transitions[mid] <= t) lo = mid; else hi = mid;
  }
  return z->offsets[z->index[lo]];
}

// Civil-from-days and days-from-civil: H. Hinnant's public-domain algorithms.
std::string date_from_days(int64_t z) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[64];  // room for any int64 in each field
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y), static_cast<long long>(m),
                static_cast<long long>(d));
  return buf;
}

std::optional<int64_t> days_from_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto num = [&](std::size_t at, std::size_t len) -> int64_t {
    int64_t v = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  int64_t y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (y < 0 || m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

LocalTime to_local(int64_t utc_ms, int64_t offset_s) {
  int64_t s = (utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000)) + offset_s;
  int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
  int64_t rem = s - days * 86400;
  return LocalTime{date_from_days(days), static_cast<int>(rem / 3600), static_cast<int>(rem % 3600 / 60)};
}

}  // namespace taskhub
