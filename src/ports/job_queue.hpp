#pragma once
// The durable job queue (issue 4; what Celery does in the original specification).
//
// Jobs live in the database (a table; `FOR UPDATE SKIP LOCKED` on PostgreSQL). A job is
// enqueued inside the caller's transaction, so it exists iff the change that asked for it
// commits. Workers lease jobs; a job whose worker died is picked up again when its lease
// expires, so handlers must be idempotent (use Job::key / Job::id for exactly-once effects).
#include <cstdint>
#include <functional>
#include <string>

#include "ports/sql.hpp"

namespace taskhub::jobs {

struct NewJob {
  std::string kind;            // handler name, e.g. "email.send"
  std::string payload = "{}";  // JSON object text
  std::string key;             // optional: a second enqueue with the same key is ignored
  int64_t run_at_ms = 0;       // 0: now
  int max_attempts = 0;        // 0: the queue's default; then the job goes to the dead-letter state
};

struct Job {
  std::string id;
  std::string kind;
  std::string payload;
  std::string key;
  int attempt = 0;  // 1 on the first run
  int max_attempts = 0;
  int64_t run_at_ms = 0;
};

// Throws to fail the attempt (retried with exponential backoff and jitter, then dead-lettered).
using Handler = std::function<void(const Job&)>;

class JobQueue {
 public:
  virtual ~JobQueue() = default;
  // In the caller's transaction.
  virtual void enqueue(sql::Connection& c, const NewJob& job) = 0;
  // Convenience: its own transaction.
  virtual void enqueue(const NewJob& job) = 0;
  // Registers the handler for `kind` (before the worker starts).
  virtual void register_handler(const std::string& kind, Handler h) = 0;
  // A periodic job: enqueues `kind` once per tick of `schedule` (5-field cron, UTC, e.g.
  // "*/5 * * * *"), however many workers run.
  virtual void register_periodic(const std::string& name, const std::string& schedule, const std::string& kind,
                                 const std::string& payload = "{}") = 0;
};

}  // namespace taskhub::jobs
