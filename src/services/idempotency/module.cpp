#include "services/idempotency/module.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "services/idempotency/store.hpp"

namespace taskhub::idempotency {

namespace {

constexpr std::chrono::minutes kCleanupEvery{10};

class IdempotencyModule final : public Module {
 public:
  explicit IdempotencyModule(AppContext& ctx) {
    if (!ctx.db) throw std::runtime_error("idempotency: the database module must be built first");
    store_ = std::make_shared<SqlIdempotencyStore>(*ctx.db, ctx.clock);
    ctx.server.set_idempotency_store(store_);
  }
  ~IdempotencyModule() override { stop(); }

  void start() override {
    std::lock_guard lk(mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { loop(); });
  }

  void stop() override {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
      lk.unlock();
      try {
        int64_t n = store_->cleanup();
        if (n > 0) spdlog::info("idempotency: deleted {} expired keys", n);
      } catch (const std::exception& e) {
        spdlog::warn("idempotency: clean-up failed (retried in 10 minutes): {}", e.what());
      }
      lk.lock();
      cv_.wait_for(lk, kCleanupEvery, [this] { return stopping_; });
    }
  }

  std::shared_ptr<SqlIdempotencyStore> store_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<IdempotencyModule>(ctx); }

}  // namespace taskhub::idempotency
