// JobBacklog: whether this instance's job loops (scheduler, retries) left due jobs waiting at
// their last tick for want of room: it claimed as many jobs as it had write slots for, or had
// none free (a bank's rate limit or latency holding jobs back is not it). The webhook
// dispatcher slows to its busy rate while they do, so a burst of due transfers is not slowed
// by the events it writes (docs/ARCHITECTURE.md, "Events yield to jobs"). Thread-safe,
// lock-free.
#pragma once

#include <atomic>
#include <cstdint>

namespace rtjobs {

class JobBacklog {
 public:
  // A loop's own flag; at most 32 loops.
  uint32_t add_loop() { return 1U << loops_.fetch_add(1); }

  void set(uint32_t loop, bool waiting) {
    if (waiting) {
      waiting_.fetch_or(loop, std::memory_order_relaxed);
    } else {
      waiting_.fetch_and(~loop, std::memory_order_relaxed);
    }
  }

  bool waiting() const { return waiting_.load(std::memory_order_relaxed) != 0; }

 private:
  std::atomic<uint32_t> loops_{0};
  std::atomic<uint32_t> waiting_{0};
};

}  // namespace rtjobs
