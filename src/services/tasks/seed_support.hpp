#pragma once
// Sample data for `taskhub seed` (tasks side): tasks of one project with assignees, labels,
// watchers, subtasks, relations, reactions, comments, activity and the full-text rows, inserted in batches straight
// against the tasks tables (migrations/*/004_tasks.sql). Numbers are 1..n per project and the
// project's counter is set to n, so the next task created through the API gets n + 1.
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ports/sql.hpp"

namespace taskhub::tasks::seed {

struct SeedProjectRef {
  std::string id;
  std::vector<std::pair<std::string, std::string>> states;  // (state id, group)
  std::vector<std::string> label_ids;
  std::vector<std::string> member_ids;  // who creates, is assigned, comments
};

struct SeedTaskCounts {
  int64_t tasks = 0, subtasks = 0, assignees = 0, labels = 0, watchers = 0, comments = 0, activity = 0;
  int64_t overdue = 0, relations = 0, reactions = 0;
  int64_t rows() const { return tasks + assignees + labels + watchers + comments + activity + relations + reactions; }
};

// Inserts `tasks` tasks into the project with about comments_per_task comments each (0 to 2x),
// in transactions of about batch_rows rows (db.write each). today is 'YYYY-MM-DD'; now is epoch ms.
void seed_tasks(sql::Database& db, const SeedProjectRef& project, int64_t tasks, int comments_per_task,
                int batch_rows, std::mt19937_64& rng, int64_t now, SeedTaskCounts& counts);

// 'YYYY-MM-DD' of epoch milliseconds plus days (UTC).
std::string date_plus_days(int64_t epoch_ms, int days);

}  // namespace taskhub::tasks::seed
