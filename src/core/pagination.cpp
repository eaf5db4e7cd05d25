#include "core/pagination.hpp"

#include <sodium.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>

#include "core/error.hpp"

namespace taskhub {

int parse_limit(const std::optional<std::string>& raw) {
  if (!raw) return kDefaultPageSize;
  int v = 0;
  auto [ptr, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), v);
  if (ec != std::errc() || ptr != raw->data() + raw->size() || v < 1 || v > kMaxPageSize)
    throw bad_field("limit", "must be an integer between 1 and " + std::to_string(kMaxPageSize));
  return v;
}

std::string encode_cursor(const boost::json::array& sort_key) {
  std::string raw = boost::json::serialize(sort_key);
  std::string out(sodium_base64_ENCODED_LEN(raw.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

boost::json::array decode_cursor(std::string_view cursor, std::size_t expected_size) {
  auto fail = [] { return bad_field("cursor", "is not a cursor returned by this list (request the first page again)"); };
  if (cursor.empty() || cursor.size() > 2048) throw fail();
  std::string raw(cursor.size(), '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), cursor.data(), cursor.size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    throw fail();
  raw.resize(len);
  boost::json::error_code ec;
  auto v = boost::json::parse(raw, ec);
  if (ec || !v.is_array() || v.as_array().size() != expected_size) throw fail();
  for (const auto& x : v.as_array())
    if (!(x.is_string() || x.is_int64() || x.is_uint64() || x.is_double() || x.is_null() || x.is_bool())) throw fail();
  return std::move(v.as_array());
}

}  // namespace taskhub

#include "core/ids.hpp"

namespace taskhub {

std::string encode_id_cursor(const std::string& last_id) {
  return encode_cursor(boost::json::array{boost::json::value(last_id)});
}

std::optional<std::string> decode_id_cursor(const std::optional<std::string>& cursor, bool require_uuid) {
  if (!cursor || cursor->empty()) return std::nullopt;
  auto arr = decode_cursor(*cursor, 1);
  if (!arr[0].is_string() || (require_uuid && !is_uuid(arr[0].as_string())))
    throw bad_field("cursor", "is not a cursor returned by this list (request the first page again)");
  return std::string(arr[0].as_string());
}

}  // namespace taskhub
