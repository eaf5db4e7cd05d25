#pragma once
// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Time-ordered, so new rows
// land at the end of B-tree indexes and ids work as keyset-pagination cursors.
#include <string>
#include <string_view>

namespace taskhub {

// Thread-safe; monotonic within a process (a counter breaks ties inside one millisecond).
std::string new_uuid_v7();
// Canonical lowercase 8-4-4-4-12 form (any version). Used to reject malformed ids with 404/400.
bool is_uuid(std::string_view s) noexcept;
// Cryptographically random bytes encoded as URL-safe base64 without padding (tokens).
std::string random_token(std::size_t bytes = 32);

}  // namespace taskhub
