#pragma once
// Password hashing: Argon2id (libsodium crypto_pwhash, OWASP parameters: t=2, m=19 MiB),
// and a bounded pool of hashing threads so the CPU- and memory-heavy work never runs on
// HTTP I/O threads and cannot occupy every handler thread at once.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace taskhub::auth {

inline constexpr std::size_t kPasswordMinChars = 8;
inline constexpr std::size_t kPasswordMaxChars = 256;

struct HashParams {
  unsigned long long opslimit = 2;
  std::size_t memlimit = 19u * 1024u * 1024u;
};

class PasswordHasher {
 public:
  explicit PasswordHasher(HashParams params = {});

  // Argon2id string ("$argon2id$v=19$m=19456,t=2,p=1$...").
  std::string hash(std::string_view password) const;
  // Constant-time verification; false for a malformed hash.
  bool verify(std::string_view stored_hash, std::string_view password) const;
  // True when stored_hash was made with other parameters (or another algorithm).
  bool needs_rehash(std::string_view stored_hash) const;
  // A hash of a random password with the current parameters: verified against for unknown
  // e-mails so that answering them costs the same as a wrong password.
  const std::string& dummy_hash() const { return dummy_; }
  const HashParams& params() const { return params_; }

 private:
  HashParams params_;
  std::string dummy_;
};

// "8..256 code points, valid UTF-8". Empty when acceptable, otherwise the message.
std::string password_problem(std::string_view password);

// Fixed threads, bounded queue. run() blocks the caller until the job ran on a pool thread
// and returns its result (or rethrows its exception). When the queue is full it throws
// service_unavailable (503 + Retry-After) instead of queueing without bound. Before start()
// (CLI, unit tests) jobs run inline on the caller's thread.
class HashPool {
 public:
  // threads <= 0: number of cores. max_queue < 0: 4 * threads; 0: no queue (only as many jobs
  // as threads are admitted).
  explicit HashPool(int threads = 0, int max_queue = -1);
  ~HashPool();
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;

  void start();
  void stop();  // finishes queued jobs, joins the threads; idempotent
  int threads() const { return threads_; }
  std::size_t max_queue() const { return max_queue_; }
  // Jobs waiting for a thread (not counting the ones running).
  std::size_t queued();

  template <class F>
  auto run(F&& f) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(f));
    std::future<R> fut = task->get_future();
    if (!submit([task] { (*task)(); })) {
      (*task)();  // not started: run inline
      return fut.get();
    }
    // The admission slot is held until the caller has its result, so a slot frees exactly
    // when a caller stops waiting (not when a low-priority worker next gets the CPU).
    struct Release {
      HashPool* pool;
      ~Release() { pool->release(); }
    } release{this};
    return fut.get();
  }

 private:
  // false when the pool is not running (caller runs the job); throws when threads + max_queue
  // jobs are already admitted. A true return admits the job: the caller must release().
  bool submit(std::function<void()> job);
  void release();
  void worker();

  int threads_;
  std::size_t max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::size_t admitted_ = 0;  // queued + running + finished but not yet collected by their caller
  std::vector<std::thread> workers_;
  bool running_ = false;
  bool stopping_ = false;
};

}  // namespace taskhub::auth
