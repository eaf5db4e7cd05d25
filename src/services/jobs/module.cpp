#include "services/jobs/module.hpp"

#include <boost/json.hpp>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "services/jobs/routes.hpp"
#include "services/jobs/worker.hpp"

namespace taskhub::jobs {

namespace {

constexpr const char* kPurgeKind = "jobs.purge";
constexpr const char* kPurgeSchedule = "23 * * * *";  // hourly, off the top of the hour
constexpr int kPurgeMaxBatches = 100;                 // 100,000 rows per run at most

class JobsModule final : public Module {
 public:
  explicit JobsModule(AppContext& ctx) {
    if (!ctx.db) throw std::runtime_error("jobs: the database module must be built first");
    queue_ = std::make_unique<SqlJobQueue>(*ctx.db, ctx.clock, queue_options(ctx.config));
    SqlJobQueue* q = queue_.get();
    q->register_handler(kPurgeKind, [q](const Job&) {
      int64_t total = 0;
      for (int i = 0; i < kPurgeMaxBatches; ++i) {
        int64_t n = q->purge(1000);
        total += n;
        if (n < 1000) break;
      }
      if (total > 0) spdlog::info("jobs: purged {} finished jobs", total);
    });
    q->register_periodic(kPurgeKind, kPurgeSchedule, kPurgeKind);
    if (ctx.config.env == Environment::testing) register_testing_kind(*q);
    register_routes(ctx.router, *q);
    ctx.jobs = q;
  }

 private:
  std::unique_ptr<SqlJobQueue> queue_;
};

class WorkerModule final : public Module {
 public:
  explicit WorkerModule(AppContext& ctx) {
    auto* q = dynamic_cast<SqlJobQueue*>(ctx.jobs);
    if (!q) throw std::runtime_error("worker: the jobs module must be built first");
    WorkerOptions o;
    o.threads = ctx.config.worker_threads;
    o.poll_ms = ctx.config.worker_poll_ms;
    o.stop_grace_ms = ctx.config.worker_stop_grace_ms;
    worker_ = std::make_unique<Worker>(*q, o);
  }
  ~WorkerModule() override { stop(); }
  void start() override { worker_->start(); }
  void stop() override { worker_->stop(); }

 private:
  std::unique_ptr<Worker> worker_;
};

void append_line(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("testing.record: cannot open " + path);
  // One write() of a short line with O_APPEND: lines from several processes do not interleave.
  ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) throw std::runtime_error("testing.record: short write to " + path);
}

}  // namespace

QueueOptions queue_options(const Config& cfg) {
  QueueOptions o;
  o.default_max_attempts = cfg.job_max_attempts;
  o.lease_ms = cfg.job_lease_s * 1000;
  o.backoff_base_ms = cfg.job_backoff_base_ms;
  o.backoff_max_ms = std::max(cfg.job_backoff_max_ms, cfg.job_backoff_base_ms);
  o.retention_ms = int64_t{cfg.job_retention_days} * 24 * 3600 * 1000;
  return o;
}

void register_testing_kind(SqlJobQueue& queue) {
  const char* env_path = std::getenv("TASKHUB_TEST_JOB_LOG");
  std::string path = env_path ? env_path : "";
  queue.register_handler(kTestingKind, [path](const Job& job) {
    if (path.empty()) throw std::runtime_error("testing.record: TASKHUB_TEST_JOB_LOG is not set");
    auto payload = boost::json::parse(job.payload).as_object();
    int64_t sleep_ms = 0, fail_times = 0;
    if (auto* v = payload.if_contains("sleep_ms")) sleep_ms = std::clamp<int64_t>(v->to_number<int64_t>(), 0, 60'000);
    if (auto* v = payload.if_contains("fail_times")) fail_times = v->to_number<int64_t>();
    std::string tail = " " + job.id + " " + std::to_string(job.attempt) + " " + std::to_string(::getpid()) + "\n";
    append_line(path, "start" + tail);
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    if (job.attempt <= fail_times) {
      append_line(path, "fail" + tail);
      throw std::runtime_error("testing.record: failing attempt " + std::to_string(job.attempt) + " as asked");
    }
    append_line(path, "done" + tail);
  });
  // Testing only: a periodic testing.record job on the schedule in TASKHUB_TEST_PERIODIC, so
  // the API suite can watch one tick run once across several worker processes.
  if (const char* schedule = std::getenv("TASKHUB_TEST_PERIODIC"); schedule && *schedule)
    queue.register_periodic("testing.periodic", schedule, kTestingKind);
}

std::unique_ptr<Module> make_jobs_module(AppContext& ctx) { return std::make_unique<JobsModule>(ctx); }
std::unique_ptr<Module> make_worker_module(AppContext& ctx) { return std::make_unique<WorkerModule>(ctx); }

}  // namespace taskhub::jobs
