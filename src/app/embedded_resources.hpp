#pragma once
// Resources compiled into the binary by scripts/embed_resources.py (see CMakeLists.txt).
#include <string_view>
#include <vector>

namespace taskhub::embedded {

struct MigrationFile {
  std::string_view dialect;  // "sqlite" or "postgres": the folder under migrations/
  std::string_view name;     // e.g. "001_init.sql"; the number orders them
  std::string_view sql;
};

const std::vector<MigrationFile>& migrations();

// openapi/openapi.yaml converted to compact JSON.
std::string_view openapi_json();

}  // namespace taskhub::embedded
