#include "core/background_loop.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace taskhub {
namespace {

using namespace std::chrono_literals;

// Polls `cond` for up to 5 s: the loop runs on its own thread.
template <class F>
bool eventually(F cond) {
  for (auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
    if (cond()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return cond();
}

// A loop whose tick counts and then waits an hour (ends only by wake() or stop()).
BackgroundLoop counting(std::atomic<int>& ticks) {
  return BackgroundLoop("test", 1h, [&ticks]() -> BackgroundLoop::Next {
    ++ticks;
    return std::chrono::milliseconds(1h);
  });
}

TEST(BackgroundLoop, ThreadIsNamedAfterTheLoop) {
  // `top -H` and perf show which loop a thread is: "events: relay" -> "events-relay", cut to
  // the 15 bytes Linux keeps.
  std::string seen;
  std::atomic<bool> done{false};
  BackgroundLoop loop("notifications: consumer", 1h, [&]() -> BackgroundLoop::Next {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    seen = name;
    done = true;
    return std::chrono::milliseconds(1h);
  });
  loop.start();
  ASSERT_TRUE(eventually([&] { return done.load(); }));
  loop.stop();
  EXPECT_EQ(seen, "notifications-c");
}

TEST(BackgroundLoop, FirstTickAtOnceThenTicksOnWake) {
  std::atomic<int> ticks{0};
  BackgroundLoop loop = counting(ticks);
  loop.start();
  ASSERT_TRUE(eventually([&] { return ticks == 1; }));
  loop.wake();
  ASSERT_TRUE(eventually([&] { return ticks == 2; }));
  loop.wake();
  ASSERT_TRUE(eventually([&] { return ticks == 3; }));
  EXPECT_TRUE(loop.stop());
}

TEST(BackgroundLoop, WakeDuringWaitIgnoredWhenTickSaysSo) {
  std::atomic<int> ticks{0};
  BackgroundLoop loop("test", 1h, [&]() -> BackgroundLoop::Next {
    ++ticks;
    return {std::chrono::milliseconds(1h), false};
  });
  loop.start();
  ASSERT_TRUE(eventually([&] { return ticks == 1; }));
  loop.wake();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(ticks, 1);
  loop.stop();  // still ends the wait
}

TEST(BackgroundLoop, ZeroWaitTicksAgainAtOnce) {
  std::atomic<int> ticks{0};
  BackgroundLoop loop("test", 1h, [&]() -> BackgroundLoop::Next {
    return std::chrono::milliseconds(++ticks < 5 ? 0 : 3'600'000);
  });
  loop.start();
  EXPECT_TRUE(eventually([&] { return ticks == 5; }));
  loop.stop();
}

TEST(BackgroundLoop, StopsPromptlyDuringALongWait) {
  std::atomic<int> ticks{0};
  BackgroundLoop loop = counting(ticks);
  loop.start();
  ASSERT_TRUE(eventually([&] { return ticks == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(loop.stop());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_FALSE(loop.running());
}

TEST(BackgroundLoop, ThrowingTickIsRetriedAfterTheInterval) {
  std::atomic<int> ticks{0};
  BackgroundLoop loop("test", 10ms, [&]() -> BackgroundLoop::Next {
    if (++ticks < 3) throw std::runtime_error("boom");
    return std::chrono::milliseconds(1h);
  });
  loop.start();
  EXPECT_TRUE(eventually([&] { return ticks == 3; }));
  EXPECT_TRUE(loop.running());
  loop.wake();  // still alive and wakeable
  EXPECT_TRUE(eventually([&] { return ticks == 4; }));
  loop.stop();
}

TEST(BackgroundLoop, StopIsIdempotentAndSafeBeforeStart) {
  std::atomic<int> ticks{0};
  BackgroundLoop loop = counting(ticks);
  EXPECT_FALSE(loop.stop());
  loop.start();
  ASSERT_TRUE(eventually([&] { return ticks == 1; }));
  EXPECT_TRUE(loop.stop());
  EXPECT_FALSE(loop.stop());
  loop.start();  // restarts after a stop
  EXPECT_TRUE(eventually([&] { return ticks == 2; }));
  EXPECT_TRUE(loop.stop());
}

TEST(BackgroundLoop, WakeBeforeStartIsRemembered) {
  std::atomic<int> ticks{0};
  std::atomic<bool> block{true};
  BackgroundLoop loop = counting(ticks);
  loop.wake();
  loop.start();
  ASSERT_TRUE(eventually([&] { return ticks == 1; }));
  // A wake during a tick ends the wait after it.
  BackgroundLoop slow("test", 1h, [&]() -> BackgroundLoop::Next {
    ++ticks;
    while (block) std::this_thread::sleep_for(1ms);
    return std::chrono::milliseconds(1h);
  });
  slow.start();
  ASSERT_TRUE(eventually([&] { return ticks == 2; }));
  slow.wake();
  block = false;
  EXPECT_TRUE(eventually([&] { return ticks == 3; }));
  block = true;
  std::thread unblock([&] {
    std::this_thread::sleep_for(20ms);
    block = false;
  });
  slow.stop();
  unblock.join();
  loop.stop();
}

}  // namespace
}  // namespace taskhub
