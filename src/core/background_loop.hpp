#pragma once
// One background thread that runs a tick now, then again after the wait the tick returns, or
// sooner when woken; the services' consumers, relays and purges all share this shape, so the
// start/stop/wake handshake lives here once instead of being rewritten (and subtly varied)
// in each of them.
//
// Contract:
// - start() starts the thread (no-op when running); the first tick runs at once.
// - A tick returns the wait before the next tick; 0 (or less) runs the next tick at once
//   (without sleeping) unless stop() was called. With wake_cuts_short = false a wake() does not
//   end that wait (a failing consumer keeps its backoff while commits keep waking it).
// - wake() ends the current wait; a wake() that arrives while a tick runs, or before start(),
//   is remembered and ends the next wait at once. Wakes are not counted: several make one tick.
// - A tick that throws is logged (warn, with the loop's name) and retried after `interval`.
//   Ticks that want their own log lines and backoff catch their own errors.
// - stop() wakes the thread, lets a running tick finish and joins; idempotent, and safe before
//   start(). It returns true when it stopped a running thread (so a caller releases a lease
//   only then). Call it before the members the tick uses are destroyed (the destructor stops
//   too, but by then an owner's later members are gone). start() after stop() starts again.
// - start()/stop() are lifecycle calls from one owner thread; wake() may come from any thread.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace taskhub {

class BackgroundLoop {
 public:
  struct Next {
    Next(std::chrono::milliseconds w, bool cut = true) : wait(w), wake_cuts_short(cut) {}  // NOLINT: implicit
    std::chrono::milliseconds wait;
    bool wake_cuts_short;
  };
  using Tick = std::function<Next()>;

  BackgroundLoop(std::string name, std::chrono::milliseconds interval, Tick tick);
  ~BackgroundLoop();
  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;

  void start();
  void wake();
  bool stop();
  bool running() const;

 private:
  void run();

  const std::string name_;
  const std::chrono::milliseconds interval_;
  const Tick tick_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace taskhub
