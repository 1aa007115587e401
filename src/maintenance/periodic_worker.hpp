// PeriodicWorker: the one shape of every background loop (scheduler, retries, rescuer, horizon
// extender, backup cron). It runs `tick` on its own thread every `interval`, at once again when
// a tick reports more work waiting, and early when woken (a new transfer, a finished job, a
// database notification). start() and stop() are called by the owner; wake() from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace rtjobs {

class PeriodicWorker {
 public:
  // `tick` returns true when it stopped early with more work waiting.
  PeriodicWorker(std::string name, std::chrono::milliseconds interval, std::function<bool()> tick);
  ~PeriodicWorker();
  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;

  void start();
  void wake();
  // The next tick comes within `delay` (or earlier when woken); from any thread, the tick's own
  // included. For a loop that knows when its next work can start (a rate limit's tokens).
  void wake_after(std::chrono::milliseconds delay);
  // Finishes the current tick and joins the thread. Idempotent.
  void stop();

 private:
  void run();

  const std::string name_;
  const std::chrono::milliseconds interval_;
  const std::function<bool()> tick_;
  std::thread thread_;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool woken_ = false;     // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  std::optional<std::chrono::steady_clock::time_point> wake_at_;  // guarded by mutex_
};

}  // namespace rtjobs
