// Migrations: see ports/migrations.hpp.
//
// Each pending file runs in its own write transaction together with its schema_migrations row,
// so a failed migration leaves nothing behind. On PostgreSQL every transaction first takes a
// transaction-level advisory lock and re-checks the version, so several processes starting at
// once apply each file exactly once. On SQLite the single writer (BEGIN IMMEDIATE) serialises
// them, and the re-check does the rest.
#include "ports/migrations.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <set>

#include "app/embedded_resources.hpp"

namespace taskhub::sql {

namespace {

// "taskhub" in ASCII: the advisory lock key for migrations.
constexpr int64_t kMigrationLockKey = 0x7461736b687562;

struct Migration {
  int version;
  std::string name;
  std::string_view sql;
};

std::string upper_trimmed(std::string_view line) {
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
  std::string out(line);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Each file already runs inside a transaction; a BEGIN/COMMIT of its own would break that.
void reject_transaction_control(const Migration& m) {
  std::size_t pos = 0;
  while (pos <= m.sql.size()) {
    std::size_t nl = m.sql.find('\n', pos);
    std::string line = upper_trimmed(m.sql.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    for (const char* bad : {"BEGIN;", "BEGIN TRANSACTION;", "BEGIN IMMEDIATE;", "BEGIN EXCLUSIVE;", "COMMIT;",
                            "COMMIT TRANSACTION;", "END TRANSACTION;", "ROLLBACK;"})
      if (line == bad)
        throw Error("migration " + m.name + ": remove '" + line +
                    "' (every migration already runs in its own transaction)");
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
}

std::vector<Migration> select_files(Dialect dialect, const std::vector<embedded::MigrationFile>& files) {
  std::string_view want = dialect_name(dialect);
  std::map<int, Migration> by_version;
  for (const auto& f : files) {
    if (f.dialect != want) continue;
    std::size_t digits = 0;
    while (digits < f.name.size() && f.name[digits] >= '0' && f.name[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9)
      throw Error("migration " + std::string(f.dialect) + "/" + std::string(f.name) +
                  ": the name must start with its number (e.g. 001_init.sql)");
    int version = std::stoi(std::string(f.name.substr(0, digits)));
    if (version <= 0) throw Error("migration " + std::string(f.name) + ": numbers start at 1");
    auto [it, inserted] = by_version.emplace(version, Migration{version, std::string(f.name), f.sql});
    if (!inserted)
      throw Error("migrations " + it->second.name + " and " + std::string(f.name) + " (" + std::string(want) +
                  ") have the same number " + std::to_string(version));
  }
  std::vector<Migration> out;
  for (auto& [v, m] : by_version) {
    reject_transaction_control(m);
    out.push_back(std::move(m));
  }
  return out;
}

void lock_if_postgres(Database& db, Connection& c) {
  if (db.dialect() == Dialect::postgres) c.query("SELECT pg_advisory_xact_lock(?)", {kMigrationLockKey});
}

void ensure_table(Database& db) {
  db.write([&](Connection& c) {
    lock_if_postgres(db, c);
    c.exec_script(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
  });
}

bool table_exists(Database& db, Connection& c) {
  if (db.dialect() == Dialect::postgres)
    return !c.query("SELECT to_regclass('schema_migrations')").first()->is_null(0);
  return !c.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").empty();
}

std::map<int, std::string> applied_versions(Database& db) {
  return db.read_value([&](Connection& c) {
    std::map<int, std::string> out;
    if (!table_exists(db, c)) return out;
    auto r = c.query("SELECT version, name FROM schema_migrations ORDER BY version");
    for (std::size_t i = 0; i < r.size(); ++i) out.emplace(static_cast<int>(r[i].i64(0)), r[i].str(1));
    return out;
  });
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::vector<std::string> migrate(Database& db, const std::vector<embedded::MigrationFile>& files) {
  std::vector<Migration> known = select_files(db.dialect(), files);
  ensure_table(db);
  std::map<int, std::string> applied = applied_versions(db);
  int highest_applied = applied.empty() ? 0 : applied.rbegin()->first;
  int highest_known = known.empty() ? 0 : known.back().version;
  if (highest_applied > highest_known)
    spdlog::warn("database schema version {} is newer than this binary knows ({}); leaving it as it is",
                 highest_applied, highest_known);
  for (const auto& m : known) {
    auto it = applied.find(m.version);
    if (it != applied.end() && it->second != m.name)
      spdlog::warn("migration {} was applied as '{}' but this binary calls it '{}'", m.version, it->second, m.name);
  }

  std::vector<std::string> done;
  for (const auto& m : known) {
    if (applied.count(m.version)) continue;
    if (m.version < highest_applied)
      spdlog::warn("applying migration {} after newer migration {} (out of order)", m.name, highest_applied);
    bool ran = false;
    try {
      db.write([&](Connection& c) {
        lock_if_postgres(db, c);
        // Another process may have applied it while we waited for the lock / the writer.
        if (!c.query("SELECT 1 FROM schema_migrations WHERE version = ?", {m.version}).empty()) return;
        c.exec_script(m.sql);
        c.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
               {m.version, m.name, now_ms()});
        ran = true;
      });
    } catch (const Error& e) {
      throw Error("migration " + m.name + " failed: " + e.what());
    }
    if (ran) done.push_back(m.name);
  }
  return done;
}

MigrationStatus migration_status(Database& db, const std::vector<embedded::MigrationFile>& files) {
  std::vector<Migration> known = select_files(db.dialect(), files);
  MigrationStatus st;
  st.latest_known = known.empty() ? 0 : known.back().version;
  auto applied = applied_versions(db);
  st.latest_applied = applied.empty() ? 0 : applied.rbegin()->first;
  return st;
}

std::vector<std::string> migrate(Database& db) { return migrate(db, embedded::migrations()); }
MigrationStatus migration_status(Database& db) { return migration_status(db, embedded::migrations()); }

}  // namespace taskhub::sql
