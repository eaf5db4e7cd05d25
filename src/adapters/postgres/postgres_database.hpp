#pragma once
// PostgreSQL adapter for the SQL port (libpq): a pool of connections used for reads and
// writes, '?' placeholders rewritten to $n, statements prepared once per connection.
#include <memory>
#include <string>
#include <string_view>

#include "ports/sql.hpp"

namespace taskhub::sql::postgres {

// url: "postgres://user:pass@host:port/db?sslmode=..." or "postgresql://...".
std::unique_ptr<Database> open(const std::string& url, const PoolOptions& options);

// '?' -> $1..$n, leaving '?' inside string literals, quoted identifiers, dollar-quoted
// strings and comments alone. *count receives the number of placeholders.
std::string rewrite_placeholders(std::string_view sql, int* count = nullptr);

}  // namespace taskhub::sql::postgres
