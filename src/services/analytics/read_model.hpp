#pragma once
// The analytics read model (migrations/*/012_analytics.sql): one fact row per task, current
// counts per dimension, time-series differences per 15-minute bucket and state transitions.
// Every change of a task is applied as "remove what the old row contributed, add what the new
// one contributes", so the counts and series stay exact whatever the order of fields changed.
#include <cstdint>
#include <array>
#include <map>
#include <tuple>
#include <optional>
#include <string>
#include <vector>

#include "ports/sql.hpp"

namespace taskhub::analytics {

struct Fact {
  std::string task_id, project_id;
  int64_t number = 0;
  std::string title, state_id, state_group;
  int priority = 0;  // 0..4 none..urgent
  std::optional<std::string> start_date, due_date, parent_id;
  std::optional<int64_t> estimate;
  std::vector<std::string> assignee_ids, label_ids;
  std::string custom_fields = "{}";
  std::string created_by;
  int64_t created_at = 0, updated_at = 0;
  std::optional<int64_t> started_at, completed_at, archived_at;
  bool deleted = false;
  std::optional<int64_t> deleted_at;  // from events only (not stored: `deleted` is)
  int64_t version = 1;
  int64_t last_seq = 0;

  bool live() const { return !deleted && !archived_at; }
  bool open() const { return live() && state_group != "completed" && state_group != "cancelled"; }
  int64_t points() const { return estimate.value_or(0); }
};

// The task object of a task.* event payload ("task") as a fact; nullopt when malformed.
std::optional<Fact> fact_from_event(const std::string& task_json);
// When the change before -> after happened: the task's own times (deleted_at, updated_at) when
// they moved, so reports match what the API showed; else the event's time.
int64_t change_time(const std::optional<Fact>& before, const Fact& after, int64_t event_ms);

namespace repo {

std::optional<Fact> load_fact(sql::Connection& c, const std::string& task_id);
// The changes of one write transaction, applied in memory and written by flush() in a few
// multi-row statements. apply(before -> after) at time at_ms (`seq`: the event's, 0 for the
// backfill) updates the fact, the count and series differences and adds a transition when the
// state changed; load() sees the batch's own changes. Flush before reading facts otherwise
// (facts_in_state, facts_with_label) and before the transaction ends.
class Batch {
 public:
  explicit Batch(sql::Connection& c) : c_(c) {}
  std::optional<Fact> load(const std::string& task_id);
  void apply(const std::optional<Fact>& before, Fact after, int64_t at_ms, int64_t seq);
  void flush();

 private:
  void series(const std::string& project, const std::string& metric, int64_t at_ms, int64_t n, int64_t points);

  sql::Connection& c_;
  std::map<std::string, Fact> facts_;
  std::map<std::tuple<std::string, std::string, std::string>, std::array<int64_t, 3>> counts_;
  std::map<std::tuple<std::string, std::string, int64_t>, std::pair<int64_t, int64_t>> series_, daily_;
  std::vector<sql::Param> transitions_;  // rows of 8
};

// Facts of a project in a state / with a label (state.deleted, label.deleted: the tasks service
// changes those tasks without per-task events).
std::vector<Fact> facts_in_state(sql::Connection& c, const std::string& project_id, const std::string& state_id);
std::vector<Fact> facts_with_label(sql::Connection& c, const std::string& project_id, const std::string& label_id);
// A project's tasks (not deleted) ordered by number, after number `after` (the export).
std::vector<Fact> project_facts(sql::Connection& c, const std::string& project_id, int64_t after, int limit);
void delete_project(sql::Connection& c, const std::string& project_id);

struct Cursor {
  int64_t last_seq = 0, last_event_ms = 0;
  bool backfilled = false;
  std::string backfill_after;
};
std::optional<Cursor> take_lease(sql::Connection& c, const std::string& holder, int64_t now, int64_t lease_ms);
// Moves the cursor to `to` and records the time of the last event applied. Only after
// events::claim_lease succeeded in the same write unit (the row is then this holder's).
void move_cursor(sql::Connection& c, int64_t to, int64_t last_event_ms);
void release(sql::Connection& c, const std::string& holder);
Cursor cursor(sql::Connection& c);

// Backfill: the next `limit` tasks after task id `after` read from the tasks tables (the one
// place this service reads them: once, for tasks that existed before the module), as facts
// (started_at unknown: NULL).
std::vector<Fact> tasks_after(sql::Connection& c, const std::string& after, int limit);
bool advance_backfill(sql::Connection& c, const std::string& holder, const std::string& from, const std::string& to,
                      bool done);

}  // namespace repo
}  // namespace taskhub::analytics
