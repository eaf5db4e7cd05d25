#pragma once
// The worker: N threads that claim jobs from the SqlJobQueue and run their handlers. Idle
// threads poll at a bounded interval and wake at once when this process enqueues a job. Any
// number of workers (threads or processes) may share one database: claims never hand the
// same job to two of them while its lease holds.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "services/jobs/queue.hpp"

namespace taskhub::jobs {

struct WorkerOptions {
  int threads = 2;
  int64_t poll_ms = 1000;         // idle sleep between polls
  int64_t stop_grace_ms = 30'000;  // stop() waits this long for running jobs
  int64_t tick_every_ms = 1000;    // how often periodic schedules are checked
  int64_t heartbeat_ms = 0;        // lease renewal interval; 0: a third of the lease
};

class Worker {
 public:
  Worker(SqlJobQueue& queue, WorkerOptions options);
  ~Worker();
  void start();
  // Stops claiming, waits up to stop_grace_ms for running jobs; jobs still running after that
  // are abandoned (their lease expires and another worker runs them again).
  void stop();
  const std::string& id() const { return id_; }
  int running_jobs() const { return shared_->running.load(); }

 private:
  struct Shared {
    std::atomic<bool> stopping{false};
    std::atomic<int> running{0};
    std::mutex mu;
    std::condition_variable idle_cv;  // signalled when a job ends
    std::map<std::string, Job> jobs;  // worker thread id -> job it runs (guarded by mu)
    bool heartbeat_stop = false;      // guarded by mu
  };
  void loop(int index);
  void heartbeat();
  void stop_heartbeat();

  SqlJobQueue& queue_;
  WorkerOptions options_;
  std::string id_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
  std::atomic<int64_t> last_tick_{0};
};

}  // namespace taskhub::jobs
