#pragma once
#include <memory>

#include "app/modules.hpp"
#include "services/jobs/queue.hpp"

namespace taskhub::jobs {
// "jobs": the SQL job queue over ctx.db (fills ctx.jobs; modules register handlers and
// periodic jobs on it while they are built), the retention job, /api/v1/admin/jobs*.
std::unique_ptr<Module> make_jobs_module(AppContext& ctx);
// "worker": runs the jobs of every handler registered in this process (WORKER_THREADS).
std::unique_ptr<Module> make_worker_module(AppContext& ctx);

QueueOptions queue_options(const Config& cfg);

// Testing only (TASKHUB_ENV=testing): the "testing.record" job kind. It appends
// "start <id> <attempt> <pid>" and later "done <id> <attempt> <pid>" to the file named by
// TASKHUB_TEST_JOB_LOG, sleeping payload.sleep_ms in between and failing the first
// payload.fail_times attempts, so the API suite can watch leases, retries and dead letters.
// With TASKHUB_TEST_PERIODIC set to a cron expression, also the periodic job "testing.periodic".
inline constexpr const char* kTestingKind = "testing.record";
void register_testing_kind(SqlJobQueue& queue);
}  // namespace taskhub::jobs
