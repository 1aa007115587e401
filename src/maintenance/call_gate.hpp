// CallGate: at most `capacity` bank calls at once (RT_CONCURRENCY), shared by the scheduler and
// the retries loop, with a bounded local queue in front of it. The loops claim more jobs than
// there are free call slots (a claim statement costs the database about the same for 64 jobs as
// for 256), and a job whose call cannot start yet waits here, in claim order, until a call is
// answered. The queue holds at most `rounds` times the capacity, so a waiting job starts within
// that many call durations; its claim's lease covers the wait (JobProducer).
// Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

namespace rtjobs {

class CallGate {
 public:
  CallGate(int capacity, int rounds) : capacity_(std::max(1, capacity)), rounds_(rounds) {}

  int capacity() const { return capacity_; }
  int rounds() const { return rounds_; }

  // How many more jobs may be claimed: free call slots plus free places in the queue.
  int room() const {
    std::lock_guard lock(mutex_);
    return std::max(0, capacity_ * (1 + rounds_) - running_ - static_cast<int>(waiting_.size()));
  }

  // Takes up to `wanted` free call slots (never while calls wait: they go first).
  int take(int wanted) {
    std::lock_guard lock(mutex_);
    if (!waiting_.empty()) return 0;
    int n = std::clamp(capacity_ - running_, 0, std::max(0, wanted));
    running_ += n;
    return n;
  }

  // Queues a call; it runs when a slot is free (on the thread that frees it, or here).
  void wait(std::function<void()> call) {
    {
      std::lock_guard lock(mutex_);
      if (running_ >= capacity_) {
        waiting_.push_back(std::move(call));
        return;
      }
      ++running_;
    }
    call();
  }

  // A call is over: its slot goes to the oldest waiting call, which starts on this thread, or
  // back. A provider may answer inside its call (the sandbox does), which leaves again: the
  // calls handed over meanwhile run one after the other here rather than nested ever deeper.
  void leave() {
    std::function<void()> next;
    {
      std::lock_guard lock(mutex_);
      if (waiting_.empty()) {
        --running_;
      } else {
        next = std::move(waiting_.front());
        waiting_.pop_front();
      }
    }
    if (!next) return drained_.notify_all();
    thread_local bool starting = false;
    thread_local std::deque<std::function<void()>> handed_over;
    if (starting) return handed_over.push_back(std::move(next));
    starting = true;
    next();
    while (!handed_over.empty()) {
      std::function<void()> call = std::move(handed_over.front());
      handed_over.pop_front();
      call();
    }
    starting = false;
  }

  // Calls running or waiting.
  int in_flight() const {
    std::lock_guard lock(mutex_);
    return running_ + static_cast<int>(waiting_.size());
  }

  // True when every call was over before the deadline.
  bool drain(std::chrono::milliseconds deadline) {
    std::unique_lock lock(mutex_);
    return drained_.wait_for(lock, deadline, [this] { return running_ == 0 && waiting_.empty(); });
  }

 private:
  const int capacity_;
  const int rounds_;
  mutable std::mutex mutex_;
  std::condition_variable drained_;
  int running_ = 0;                            // guarded by mutex_
  std::deque<std::function<void()>> waiting_;  // guarded by mutex_
};

}  // namespace rtjobs
