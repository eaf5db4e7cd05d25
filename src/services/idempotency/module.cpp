#include "services/idempotency/module.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

#include "core/background_loop.hpp"
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

  void start() override { loop_.start(); }
  void stop() override { loop_.stop(); }

 private:
  BackgroundLoop::Next tick() {
    try {
      int64_t n = store_->cleanup();
      if (n > 0) spdlog::info("idempotency: deleted {} expired keys", n);
    } catch (const std::exception& e) {
      spdlog::warn("idempotency: clean-up failed (retried in 10 minutes): {}", e.what());
    }
    return std::chrono::milliseconds(kCleanupEvery);
  }

  std::shared_ptr<SqlIdempotencyStore> store_;
  BackgroundLoop loop_{"idempotency: clean-up", kCleanupEvery, [this] { return tick(); }};  // last: stopped first
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<IdempotencyModule>(ctx); }

}  // namespace taskhub::idempotency
