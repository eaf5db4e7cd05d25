#pragma once
// `taskhub seed`: fills the database with a realistic data set for benchmarks and demos.
//
// Stages run in order, each through the owning service's repository (batched inserts in
// a few large transactions, never per-row commits):
//   1. users      N accounts sharing one Argon2id hash (computed once: hashing 100k
//                 passwords one by one would take hours), e-mails <prefix>-NNNNNN@<domain>
//   2. workspace  one new workspace (--workspace NAME) whose members are the seeded users
//                 (owner, admins, members, guests), P projects with keys, the default
//                 workflow states and ~10 labels each (services/projects/seed_support)
//   3. tasks      T tasks spread over the projects, states and priorities, with assignees,
//                 labels, watchers, due dates around today, subtasks, comments, activity and
//                 full-text rows (services/tasks/seed_support); pseudo-random from --seed
// Re-running is safe: existing e-mails are skipped (and reused by later stages); every run
// with --workspace makes a new workspace.
#include <cstdint>
#include <optional>
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
  int batch = 5000;  // rows per transaction
  std::optional<std::string> workspace;  // stages 2-3 run when set (or when --projects/--tasks given)
  int projects = 1;
  int64_t tasks = 0;
  int comments_per_task = 2;  // on average (0 to twice this per task)
  uint64_t seed = 42;
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
  std::string workspace_id;
  std::vector<std::pair<std::string, std::string>> projects;  // (id, key)
  int64_t workspace_members = 0, project_members = 0, states = 0, labels = 0;
  int64_t tasks = 0, subtasks = 0, overdue = 0, assignees = 0, task_labels = 0, watchers = 0, comments = 0,
          activity = 0, relations = 0, reactions = 0;
  double seconds_projects = 0, seconds_tasks = 0;
};

// Parses `taskhub seed` arguments (everything after "seed"). Throws std::invalid_argument.
SeedOptions parse_seed_args(const std::vector<std::string>& args);

// Stage 1: users. Returns every seeded user (created or already there), in order.
std::vector<SeededUser> seed_users(sql::Database& db, Clock& clock, const SeedOptions& options,
                                   SeedReport& report);

// Stages 2 and 3: a workspace with projects, and their tasks. users must not be empty.
void seed_workspace_and_tasks(sql::Database& db, Clock& clock, const SeedOptions& options, SeedReport& report);

// All stages; prints a summary to stdout. Returns the process exit code.
int run_seed_command(const Config& config, sql::Database& db, Clock& clock, const std::vector<std::string>& args);

}  // namespace taskhub::seed
