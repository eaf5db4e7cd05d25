#pragma once
// Optimistic concurrency. Resources that can be edited concurrently (tasks, projects,
// comments) carry an integer `version`, bumped by every write. GET answers ETag: "v<version>";
// PATCH/DELETE accept If-Match with that value. The comparison happens inside the write
// transaction (the service compares the expected version with the row), so two clients can
// never both win: the second gets 412.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskhub {

// "\"v12\"" (a strong validator: the JSON of a version is byte-stable).
std::string make_etag(int64_t version);

struct IfMatch {
  bool present = false;               // header sent
  bool any = false;                   // "*": matches any existing resource
  std::vector<int64_t> versions;      // the versions it names (empty: names nothing of ours)
  // True when a resource at `current` satisfies the precondition (absent header: always).
  bool matches(int64_t current) const;
};

// Parses an If-Match header value ("" = absent). Lists ("\"v1\", \"v2\"") and weak
// validators are accepted; a value naming nothing of ours never matches (-> 412).
IfMatch parse_if_match(std::string_view header);

// Throws ApiError 412 "precondition-failed" unless if_match.matches(current).
void require_match(const IfMatch& if_match, int64_t current);

}  // namespace taskhub
