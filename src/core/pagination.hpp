#pragma once
// Cursor pagination (DESIGN.md "Lists"): `limit` (default 50, at most 200) and an opaque
// `cursor` that carries the sort key of the last row of the previous page (keyset
// pagination: a deep page costs the same as the first). Cursors are base64url JSON arrays;
// clients must treat them as opaque. A cursor that does not decode answers 400 (field "cursor").
#include <boost/json/array.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace taskhub {

inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 200;

// nullopt -> default; not an integer in 1..kMaxPageSize -> 400 naming "limit".
int parse_limit(const std::optional<std::string>& raw);

std::string encode_cursor(const boost::json::array& sort_key);
// Throws 400 (field "cursor") when malformed or when its length differs from expected_size.
boost::json::array decode_cursor(std::string_view cursor, std::size_t expected_size);

}  // namespace taskhub

namespace taskhub {

// Lists ordered by id alone (UUIDv7: creation order) use a one-element cursor: the last id.
std::string encode_id_cursor(const std::string& last_id);
// nullopt for no cursor (first page); 400 (field "cursor") when malformed, or when
// require_uuid and the id is not a canonical UUID.
std::optional<std::string> decode_id_cursor(const std::optional<std::string>& cursor, bool require_uuid = true);

}  // namespace taskhub
