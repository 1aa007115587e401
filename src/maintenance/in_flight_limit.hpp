// InFlightLimit: at most RT_CONCURRENCY jobs in flight at once, shared by the scheduler and the
// retries loop. A slot is taken before a claim and given back when the job's outcome is written;
// drain() waits for every slot to come back (graceful shutdown). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace rtjobs {

class InFlightLimit {
 public:
  explicit InFlightLimit(int capacity) : capacity_(capacity) {}

  // Takes up to `wanted` free slots; returns how many were taken.
  int take(int wanted) {
    std::lock_guard lock(mutex_);
    int n = std::max(0, std::min(wanted, capacity_ - used_));
    used_ += n;
    return n;
  }

  void give_back(int n = 1) {
    {
      std::lock_guard lock(mutex_);
      used_ -= n;
    }
    drained_.notify_all();
  }

  int in_flight() const {
    std::lock_guard lock(mutex_);
    return used_;
  }

  // True when every slot came back before the deadline.
  bool drain(std::chrono::milliseconds deadline) {
    std::unique_lock lock(mutex_);
    return drained_.wait_for(lock, deadline, [this] { return used_ == 0; });
  }

 private:
  const int capacity_;
  mutable std::mutex mutex_;
  std::condition_variable drained_;
  int used_ = 0;  // guarded by mutex_
};

}  // namespace rtjobs
