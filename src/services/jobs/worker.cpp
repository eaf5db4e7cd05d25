#include "services/jobs/worker.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "core/ids.hpp"
#include "core/thread_name.hpp"

namespace taskhub::jobs {

namespace {
int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Worker::Worker(SqlJobQueue& queue, WorkerOptions options)
    : queue_(queue), options_(options), shared_(std::make_shared<Shared>()) {
  // Host and pid for operators reading locked_by; the random part keeps ids unique when a
  // pid is reused (containers all run as pid 1).
  char host[64] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  id_ = std::string(host) + ":" + std::to_string(::getpid()) + ":" + random_token(6);
}

Worker::~Worker() { stop(); }

void Worker::start() {
  if (!threads_.empty()) return;
  shared_->stopping = false;
  shared_->heartbeat_stop = false;
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this, i] {
    set_thread_name("jobs-worker");
    loop(i);
  });
  heartbeat_ = std::thread([this] {
    set_thread_name("jobs-heartbeat");
    heartbeat();
  });
  spdlog::info("worker {}: {} thread(s) started", id_, options_.threads);
}

void Worker::loop(int index) {
  const std::string worker_id = id_ + "/" + std::to_string(index);
  // Held by value: after an abandoned stop() this thread may outlive the Worker object.
  std::shared_ptr<Shared> shared = shared_;
  auto stopping = [shared] { return shared->stopping.load(); };
  // Counted from before the claim, so stop() never misses a job between claim and run.
  struct Busy {
    Shared& s;
    explicit Busy(Shared& x) : s(x) { s.running++; }
    ~Busy() {
      {
        std::lock_guard lk(s.mu);
        s.running--;
      }
      s.idle_cv.notify_all();
    }
  };
  int64_t failures = 0;
  while (!stopping()) {
    try {
      // One thread checks the schedules; the tick table makes racing processes harmless.
      if (index == 0 && steady_ms() - last_tick_.load() >= options_.tick_every_ms) {
        last_tick_ = steady_ms();
        queue_.tick_periodic();
      }
      bool ran = false;
      uint64_t seq = queue_.wake_seq();
      {
        Busy busy(*shared);
        if (stopping()) break;
        if (auto job = queue_.claim(worker_id)) {
          // Registered for the heartbeat while it runs, and removed however run() ends: a
          // stale entry would renew a lease forever.
          struct Heartbeat {
            Shared& s;
            const std::string& w;
            Heartbeat(Shared& x, const std::string& id, const Job& j) : s(x), w(id) {
              std::lock_guard lk(s.mu);
              s.jobs[w] = j;
            }
            ~Heartbeat() {
              std::lock_guard lk(s.mu);
              s.jobs.erase(w);
            }
          } beat(*shared, worker_id, *job);
          queue_.run(*job, worker_id);
          ran = true;
        }
      }
      failures = 0;
      if (!ran) queue_.wait_for_work(options_.poll_ms, stopping, seq);
    } catch (const std::exception& e) {
      // The database is away (or similar): back off, bounded, and keep going.
      ++failures;
      int64_t wait = std::min<int64_t>(options_.poll_ms * (1 + failures), 30'000);
      spdlog::warn("worker {}: claiming failed (retry in {} ms): {}", worker_id, wait, e.what());
      queue_.wait_for_work(wait, stopping);
    }
  }
}

// Renews the leases of the jobs this process is running, so a job may run longer than
// JOB_LEASE_SECONDS while its worker lives, and is taken over soon after the worker dies.
void Worker::heartbeat() {
  int64_t every = options_.heartbeat_ms > 0 ? options_.heartbeat_ms : queue_.options().lease_ms / 3;
  every = std::clamp<int64_t>(every, 50, 60'000);
  std::unique_lock lk(shared_->mu);
  while (!shared_->heartbeat_stop) {
    shared_->idle_cv.wait_for(lk, std::chrono::milliseconds(every), [&] { return shared_->heartbeat_stop; });
    if (shared_->heartbeat_stop) break;
    std::vector<std::pair<std::string, Job>> running(shared_->jobs.begin(), shared_->jobs.end());
    lk.unlock();
    for (const auto& [worker_id, job] : running) {
      try {
        if (!queue_.renew_lease(job, worker_id))
          spdlog::warn("worker {}: lost the lease of job {} ({})", worker_id, job.id, job.kind);
      } catch (const std::exception& e) {
        spdlog::warn("worker {}: renewing the lease of job {} failed: {}", worker_id, job.id, e.what());
      }
    }
    lk.lock();
  }
}

void Worker::stop_heartbeat() {
  {
    std::lock_guard lk(shared_->mu);
    shared_->heartbeat_stop = true;
  }
  shared_->idle_cv.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void Worker::stop() {
  if (threads_.empty()) return;
  shared_->stopping = true;
  queue_.wake();
  {
    std::unique_lock lk(shared_->mu);
    if (!shared_->idle_cv.wait_for(lk, std::chrono::milliseconds(options_.stop_grace_ms),
                                   [&] { return shared_->running.load() == 0; })) {
      spdlog::error("worker {}: {} job(s) still running after {} ms; abandoning them (their lease will expire)", id_,
                    shared_->running.load(), options_.stop_grace_ms);
      lk.unlock();
      // A handler stuck in a call cannot be interrupted; the process is shutting down, and the
      // lease hands the job to another worker.
      stop_heartbeat();  // their leases then expire and other workers take the jobs over
      for (auto& t : threads_) t.detach();
      threads_.clear();
      return;
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  stop_heartbeat();
  spdlog::info("worker {}: stopped", id_);
}

}  // namespace taskhub::jobs
