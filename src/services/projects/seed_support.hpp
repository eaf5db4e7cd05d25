#pragma once
// Sample data for `taskhub seed` (projects side): one workspace with members, projects with
// keys, the default workflow states and ~10 labels each, inserted in batches straight against
// the projects tables (migrations/*/003_projects.sql), inside the caller's transaction.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ports/sql.hpp"

namespace taskhub::projects::seed {

struct SeedState {
  std::string id;
  std::string group;  // backlog, unstarted, started, completed, cancelled
};

struct SeedProject {
  std::string id;
  std::string key;
  std::vector<SeedState> states;
  std::vector<std::string> label_ids;
  std::vector<std::string> member_ids;  // project members who can write (admin / member)
};

struct SeedWorkspace {
  std::string id;
  std::vector<SeedProject> projects;
  int64_t workspace_members = 0;
  int64_t project_members = 0;
  int64_t states = 0;
  int64_t labels = 0;
};

// Project key number i (0-based): WEB, API, OPS, ... then PA, PB, ..., PAA, ...
std::string project_key(int i);

// Creates the workspace `name` owned by user_ids[0] (the rest: admins, members, a few guests)
// and `projects` projects. user_ids must not be empty.
SeedWorkspace seed_workspace(sql::Connection& c, const std::string& name, int projects,
                             const std::vector<std::string>& user_ids, std::mt19937_64& rng, int64_t now);

}  // namespace taskhub::projects::seed
