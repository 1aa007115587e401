#include "maintenance/periodic_worker.hpp"

#include "core/log.hpp"
#include "core/thread_name.hpp"

namespace rtjobs {

PeriodicWorker::PeriodicWorker(std::string name, std::chrono::milliseconds interval,
                               std::function<bool()> tick)
    : name_(std::move(name)), interval_(interval), tick_(std::move(tick)) {}

PeriodicWorker::~PeriodicWorker() { stop(); }

void PeriodicWorker::start() {
  if (!thread_.joinable())
    thread_ = std::thread([this] {
      name_this_thread("rt-" + name_);
      run();
    });
}

void PeriodicWorker::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_one();
}

void PeriodicWorker::wake_after(std::chrono::milliseconds delay) {
  auto at = std::chrono::steady_clock::now() + std::max(delay, std::chrono::milliseconds(0));
  {
    std::lock_guard lock(mutex_);
    if (wake_at_ && *wake_at_ <= at) return;
    wake_at_ = at;
  }
  cv_.notify_one();
}

void PeriodicWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void PeriodicWorker::run() {
  log::debug("worker started", {{"worker", name_}});
  for (;;) {
    bool more = false;
    try {
      more = tick_();
    } catch (const std::exception& e) {  // a bug: keep the loop alive, say so loudly
      log::error("worker tick threw", {{"worker", name_}, {"error", e.what()}});
    }
    std::unique_lock lock(mutex_);
    if (!more) {
      // A wake_after() during the wait shortens it: the predicate sees the earlier time.
      auto until = std::chrono::steady_clock::now() + interval_;
      while (!woken_ && !stopping_) {
        auto deadline = wake_at_ ? std::min(until, *wake_at_) : until;
        if (cv_.wait_until(lock, deadline) == std::cv_status::timeout &&
            std::chrono::steady_clock::now() >= (wake_at_ ? std::min(until, *wake_at_) : until)) {
          break;
        }
      }
    }
    if (stopping_) break;
    woken_ = false;
    wake_at_.reset();
  }
  log::debug("worker stopped", {{"worker", name_}});
}

}  // namespace rtjobs
