// Time in rtjobs: UTC instants with millisecond precision, and calendar dates. Every component
// reads "now" from a Clock it was given, so schedule, retry, lease and backup logic is tested
// exactly and fast with a ManualClock. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>

namespace rtjobs {

using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;
using Date = std::chrono::sys_days;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Timestamp now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
};

// A clock that only moves when told to. For tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start) : now_(start.time_since_epoch().count()) {}
  Timestamp now() const override { return Timestamp(std::chrono::milliseconds(now_.load())); }
  void set(Timestamp t) { now_.store(t.time_since_epoch().count()); }
  void advance(std::chrono::milliseconds d) { now_.fetch_add(d.count()); }

 private:
  std::atomic<long long> now_;
};

}  // namespace rtjobs
