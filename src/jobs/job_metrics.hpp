// JobMetrics: what the processor did, per provider, for GET /metrics (Prometheus text): the
// bank calls answered (a counter and a latency histogram, rtjobs_bank_call_duration_seconds, by
// provider and answer: succeeded, declined, unavailable), the outcomes written (by state and
// result), the leases lost during a call, and the calls in flight. Thread-safe: one short lock
// per event (a map look-up; the histogram itself is atomics).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "baas/provider.hpp"
#include "core/histogram.hpp"
#include "core/model.hpp"

namespace rtjobs {

class JobMetrics {
 public:
  // A call handed to a provider; bank_answered() ends it.
  void bank_call_started() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void bank_answered(std::string_view provider, Outcome outcome,
                     std::chrono::steady_clock::duration took);
  // An outcome the database accepted: FINISHED, RETRY or FAILED, from the bank's answer (or a
  // provider no longer configured, which counts as unavailable).
  void outcome_written(std::string_view provider, JobStatus status,
                       std::optional<JobResult> result);
  void lease_lost(std::string_view provider);

  std::string render() const;

 private:
  struct Counters {
    std::array<uint64_t, 3> calls{};  // by Outcome
    std::array<Histogram, 3> durations{Histogram(kLatencyBuckets), Histogram(kLatencyBuckets),
                                       Histogram(kLatencyBuckets)};
    uint64_t succeeded = 0;  // FINISHED, SUCCEEDED
    uint64_t declined = 0;   // FINISHED, DECLINED
    uint64_t retry = 0;
    uint64_t failed = 0;
    uint64_t leases_lost = 0;
  };
  Counters& counters(std::string_view provider);  // mutex_ held

  std::atomic<int64_t> in_flight_{0};
  mutable std::mutex mutex_;
  std::map<std::string, Counters, std::less<>> providers_;  // guarded by mutex_
};

}  // namespace rtjobs
