#pragma once
// The SQL job queue: jobs::JobQueue over the SQL port (tables of migration 006_jobs.sql).
//
// States: queued -> running -> succeeded | queued (retry, after a backoff) | failed (the
// dead-letter state, after max_attempts) ; queued/failed -> cancelled (admin). A running job
// holds a lease (lease_until, locked_by); when it expires the job is claimed again, so every
// completion is fenced by (id, locked_by, attempt): a worker whose lease was taken over
// cannot overwrite the new owner's outcome.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ports/clock.hpp"
#include "ports/job_queue.hpp"
#include "services/jobs/cron.hpp"

namespace taskhub::jobs {

struct QueueOptions {
  int default_max_attempts = 8;
  int64_t lease_ms = 300'000;
  int64_t backoff_base_ms = 2000;
  int64_t backoff_max_ms = 3'600'000;
  int64_t retention_ms = int64_t{7} * 24 * 3600 * 1000;
};

inline constexpr std::size_t kMaxKindBytes = 100;
inline constexpr std::size_t kMaxKeyBytes = 200;
inline constexpr std::size_t kMaxPayloadBytes = 64 * 1024;
inline constexpr std::size_t kMaxErrorBytes = 1000;
inline constexpr int kMaxAttemptsLimit = 100;

// Everything the admin views show about a job.
struct JobRecord {
  std::string id, kind, payload, state;
  std::optional<std::string> key, locked_by, last_error;
  int attempt = 0, max_attempts = 0;
  int64_t run_at = 0, created_at = 0, updated_at = 0;
  std::optional<int64_t> lease_until, finished_at;
};

struct JobPage {
  std::vector<JobRecord> items;
  std::optional<std::string> next_cursor;  // last id of the page when more may follow
};

// Retry delay before attempt `attempt + 1`: base * 2^(attempt-1) capped at max_ms, then a
// random jitter that keeps it within [delay/2, delay] so retries of many jobs spread out.
// `unit` in [0, 1) picks the jitter (tests pass fixed values).
int64_t backoff_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, double unit);

class SqlJobQueue final : public JobQueue {
 public:
  SqlJobQueue(sql::Database& db, Clock& clock, QueueOptions options = {});

  // JobQueue
  void enqueue(sql::Connection& c, const NewJob& job) override;
  void enqueue(const NewJob& job) override;
  void register_handler(const std::string& kind, Handler h) override;
  void register_periodic(const std::string& name, const std::string& schedule, const std::string& kind,
                         const std::string& payload = "{}") override;

  // Like enqueue(c, job); returns the new job's id, or nullopt when a job with the same key
  // already exists. Throws std::invalid_argument on a bad kind, key, payload or attempts.
  std::optional<std::string> add(sql::Connection& c, const NewJob& job);

  // ---- worker side
  // Claims the next due job whose kind has a handler in this process (or an expired lease),
  // marks it running under a lease for `worker_id`. Jobs whose lease expired on their last
  // attempt are dead-lettered on the way.
  std::optional<Job> claim(const std::string& worker_id);
  // Runs the handler of a claimed job and records the outcome. Returns true on success.
  bool run(const Job& job, const std::string& worker_id);
  // The outcome of an attempt; false when the lease was lost (another worker owns the job now).
  bool complete(const Job& job, const std::string& worker_id);
  bool fail(const Job& job, const std::string& worker_id, const std::string& error);
  // Pushes the lease of a job this worker is still running (the worker's heartbeat); false
  // when the lease was already lost.
  bool renew_lease(const Job& job, const std::string& worker_id);
  // Enqueues each periodic job whose tick is due (once per tick across every process).
  // Returns how many jobs this call enqueued.
  int tick_periodic();
  // Deletes succeeded/cancelled jobs finished before the retention period, and old ticks.
  int64_t purge(int64_t batch = 1000);

  // Wakes idle workers of this process (called after an enqueue); wait_for_work sleeps up
  // to timeout_ms or until woken.
  // Read wake_seq() before looking for work and pass it to wait_for_work, so an enqueue that
  // lands in between is not slept through.
  void wake();
  uint64_t wake_seq();
  void wait_for_work(int64_t timeout_ms, const std::function<bool()>& stop, std::optional<uint64_t> seen = {});
  bool has_handlers() const;

  // ---- admin
  JobPage list(const std::optional<std::string>& state, const std::optional<std::string>& kind,
               const std::optional<std::string>& after_id, int limit);
  std::optional<JobRecord> get(const std::string& id);
  // Queue a failed/cancelled (or still queued) job to run now with fresh attempts. nullopt:
  // no such job; throws ApiError 409 when its state does not allow it.
  std::optional<JobRecord> retry(const std::string& id);
  // Cancel a queued or failed job; 409 when running or finished.
  std::optional<JobRecord> cancel(const std::string& id);

  const QueueOptions& options() const { return options_; }
  sql::Database& database() { return db_; }

 private:
  struct Periodic {
    std::string name, kind, payload;
    CronSchedule schedule;
    std::optional<int64_t> next_due;
  };

  sql::Database& db_;
  Clock& clock_;
  QueueOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, Handler> handlers_;
  std::vector<Periodic> periodic_;
  std::string kinds_sql_;  // "(?, ?, ...)" for the registered kinds
  std::vector<std::string> kinds_;

  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  uint64_t wake_seq_ = 0;
};

}  // namespace taskhub::jobs
