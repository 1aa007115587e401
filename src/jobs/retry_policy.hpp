// RetryPolicy: how many times a job is retried after its BaaS is unavailable, and when
// (SPEC section 2, step 5). Backoff is exponential: attempt after retry n waits
// base * 2^(n-1), capped at one day; a base of 0 retries at once.
#pragma once

#include <chrono>

#include "core/clock.hpp"

namespace rtjobs {

struct RetryPolicy {
  int max_retries = 3;
  std::chrono::seconds backoff_base{60};

  // When the job that now has used `retries` retries (>= 1) is next attempted.
  Timestamp next_attempt(Timestamp now, int retries) const {
    using namespace std::chrono;
    if (backoff_base.count() == 0) return now;
    constexpr seconds kCap = hours(24);
    seconds wait = backoff_base;
    for (int i = 1; i < retries && wait < kCap; ++i) wait *= 2;
    return now + std::min(wait, kCap);
  }
};

}  // namespace rtjobs
