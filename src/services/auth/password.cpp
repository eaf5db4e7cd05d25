#include "services/auth/password.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/json_input.hpp"
#include "core/thread_name.hpp"

namespace taskhub::auth {

PasswordHasher::PasswordHasher(HashParams params) : params_(params) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  if (params_.opslimit < crypto_pwhash_OPSLIMIT_MIN || params_.memlimit < crypto_pwhash_MEMLIMIT_MIN)
    throw std::invalid_argument("Argon2id parameters below libsodium's minimum");
  dummy_ = hash(random_token(24));
}

std::string PasswordHasher::hash(std::string_view password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), params_.opslimit, params_.memlimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("password hashing failed (out of memory)");
  return std::string(out);
}

bool PasswordHasher::verify(std::string_view stored_hash, std::string_view password) const {
  if (stored_hash.empty() || stored_hash.size() >= crypto_pwhash_STRBYTES) return false;
  char buf[crypto_pwhash_STRBYTES] = {};
  stored_hash.copy(buf, stored_hash.size());
  return crypto_pwhash_str_verify(buf, password.data(), password.size()) == 0;
}

bool PasswordHasher::needs_rehash(std::string_view stored_hash) const {
  if (stored_hash.empty() || stored_hash.size() >= crypto_pwhash_STRBYTES) return true;
  char buf[crypto_pwhash_STRBYTES] = {};
  stored_hash.copy(buf, stored_hash.size());
  // Returns 1 for other parameters, -1 for another algorithm or a malformed string.
  return crypto_pwhash_str_needs_rehash(buf, params_.opslimit, params_.memlimit) != 0;
}

std::string password_problem(std::string_view password) {
  std::size_t n = utf8_length(password);
  if (n < kPasswordMinChars) return "must be at least " + std::to_string(kPasswordMinChars) + " characters";
  if (n > kPasswordMaxChars) return "must be at most " + std::to_string(kPasswordMaxChars) + " characters";
  return {};
}

HashPool::HashPool(int threads, int max_queue) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = threads;
  max_queue_ = static_cast<std::size_t>(max_queue >= 0 ? max_queue : 4 * threads);
}

HashPool::~HashPool() { stop(); }

std::size_t HashPool::queued() {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void HashPool::start() {
  std::lock_guard lock(mu_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] {
    set_thread_name("password-hash");
    worker();
  });
}

void HashPool::stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  std::lock_guard lock(mu_);
  running_ = false;
  stopping_ = false;
}

bool HashPool::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (!running_ || stopping_) return false;
    if (admitted_ >= max_queue_ + static_cast<std::size_t>(threads_))
      throw service_unavailable(1, "The server is busy hashing passwords; try again in a moment.");
    ++admitted_;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void HashPool::release() {
  std::lock_guard lock(mu_);
  --admitted_;
}

void HashPool::worker() {
  // Hashing runs at the lowest CPU priority (nice 19, SCHED_BATCH). When logins saturate the
  // pool, request threads still get the cores first, so cheap requests keep their latency;
  // logins then take longer instead (they are the expensive, attacker-triggerable work).
  // Failure (e.g. a seccomp profile) only costs that isolation, so it is not fatal.
  sched_param param{};
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();  // packaged_task stores any exception in the future
  }
}

}  // namespace taskhub::auth
