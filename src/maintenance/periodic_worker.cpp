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
    if (!more) cv_.wait_for(lock, interval_, [this] { return woken_ || stopping_; });
    if (stopping_) break;
    woken_ = false;
  }
  log::debug("worker stopped", {{"worker", name_}});
}

}  // namespace rtjobs
