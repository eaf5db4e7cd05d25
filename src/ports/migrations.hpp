#pragma once
// Numbered migrations per dialect (migrations/<dialect>/NNN_name.sql, embedded in the binary).
// Each file is applied in its own transaction and recorded in schema_migrations(version, name,
// applied_at). Safe to run from several processes at once (PostgreSQL: advisory lock;
// SQLite: the single writer).
#include <string>
#include <vector>

#include "ports/sql.hpp"

namespace taskhub::embedded {
struct MigrationFile;  // app/embedded_resources.hpp
}

namespace taskhub::sql {

struct MigrationStatus {
  int latest_known = 0;    // highest number embedded in this binary
  int latest_applied = 0;  // highest number recorded in schema_migrations
  bool up_to_date() const { return latest_applied >= latest_known; }
};

// Applies pending migrations; returns the names applied (empty when up to date).
std::vector<std::string> migrate(Database& db);
MigrationStatus migration_status(Database& db);

// Same, with an explicit list of files (tests). Files of other dialects are ignored; the
// version is the leading number of the name ("001_auth.sql" -> 1); duplicates throw sql::Error.
std::vector<std::string> migrate(Database& db, const std::vector<embedded::MigrationFile>& files);
MigrationStatus migration_status(Database& db, const std::vector<embedded::MigrationFile>& files);

}  // namespace taskhub::sql
