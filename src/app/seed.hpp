#pragma once
// `taskhub seed`: fills the database with a realistic data set for benchmarks and demos.
//
// Stages run in order, each through the owning service's repository (batched inserts in
// a few large transactions, never per-row commits):
//   1. users      N accounts sharing one Argon2id hash (computed once: hashing 100k
//                 passwords one by one would take hours), e-mails <prefix>-NNNNNN@<domain>
//   2. workspaces, projects, tasks, comments, labels, assignees, history: to be added when
//      the projects and tasks services land (SeedOptions/SeedReport have their slots).
// Re-running is safe: existing e-mails are skipped (and reused by later stages).
#include <cstdint>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "ports/clock.hpp"
#include "ports/sql.hpp"

namespace taskhub::seed {

extern const char* const kSeedHelp;

struct SeedOptions {
  int users = 10;
  std::string password = "seed-password";  // at least 8 characters (login works with it)
  std::string email_prefix = "seed-user";
  std::string email_domain = "example.test";
  int batch = 1000;  // rows per transaction
  // Later stages (projects/tasks services): workspaces, projects per workspace, tasks,
  // comments per task... parsed here once they exist.
};

struct SeededUser {
  std::string id;
  std::string email;
  bool created = false;  // false: it already existed
};

struct SeedReport {
  std::vector<SeededUser> users;
  int64_t users_created = 0;
  int64_t users_existing = 0;
  double seconds_users = 0;
};

// Parses `taskhub seed` arguments (everything after "seed"). Throws std::invalid_argument.
SeedOptions parse_seed_args(const std::vector<std::string>& args);

// Stage 1: users. Returns every seeded user (created or already there), in order.
std::vector<SeededUser> seed_users(sql::Database& db, Clock& clock, const SeedOptions& options,
                                   SeedReport& report);

// All stages; prints a summary to stdout. Returns the process exit code.
int run_seed_command(const Config& config, sql::Database& db, Clock& clock, const std::vector<std::string>& args);

}  // namespace taskhub::seed
