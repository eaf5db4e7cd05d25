#include "core/etag.hpp"

#include <charconv>
#include <vector>

#include "core/error.hpp"

namespace taskhub {

std::string make_etag(int64_t version) { return "\"v" + std::to_string(version) + "\""; }

namespace {
std::optional<int64_t> parse_one(std::string_view tag) {
  if (tag.rfind("W/", 0) == 0) tag.remove_prefix(2);
  if (tag.size() < 4 || tag.front() != '"' || tag.back() != '"' || tag[1] != 'v') return std::nullopt;
  std::string_view digits = tag.substr(2, tag.size() - 3);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || v < 0) return std::nullopt;
  return v;
}
}  // namespace

IfMatch parse_if_match(std::string_view header) {
  IfMatch m;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  header = trim(header);
  if (header.empty()) return m;
  m.present = true;
  if (header == "*") {
    m.any = true;
    return m;
  }
  std::vector<int64_t>& versions = m.versions;
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t comma = header.find(',', start);
    std::string_view part = trim(header.substr(start, comma == std::string_view::npos ? header.npos : comma - start));
    if (auto v = parse_one(part)) versions.push_back(*v);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return m;
}

bool IfMatch::matches(int64_t current) const {
  if (!present || any) return true;
  for (int64_t v : versions)
    if (v == current) return true;
  return false;
}

void require_match(const IfMatch& if_match, int64_t current) {
  if (!if_match.matches(current))
    throw ApiError(412, "precondition-failed",
                   "The resource has changed since you read it (If-Match does not match its ETag " + make_etag(current) +
                       "); fetch it again and retry.");
}

}  // namespace taskhub
