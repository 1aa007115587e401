// CircuitBreaker: pauses calls to a bank that keeps failing (SPEC section 8, "Flow control").
//
//   closed --(threshold failures in a row)--> open --(wait passed)--> half-open
//   half-open --(the probe answers)--> closed;  --(the probe fails)--> open, wait doubled
//
// While open no call starts; half-open lets exactly one probe call through at a time. Any answer
// that shows the bank working (a success, a refusal, a rate limit) closes it, if its call started
// after the circuit opened; while closed, one whose call started after the last failure ends the
// run. Answers to older calls describe the bank as it was and change nothing. The wait starts at
// `first_wait` and doubles up to `max_wait`. Not thread-safe; ProviderFlow guards it.
#pragma once

#include <algorithm>
#include <chrono>
#include <string_view>

#include "core/clock.hpp"

namespace rtjobs {

enum class CircuitState { kClosed, kOpen, kHalfOpen };

// "active", "paused", "probing": the names /readyz, /metrics and the logs use.
std::string_view to_string(CircuitState state);

struct CircuitOptions {
  int threshold = 5;
  std::chrono::milliseconds first_wait{1000};
  std::chrono::milliseconds max_wait{2000};
};

class CircuitBreaker {
 public:
  explicit CircuitBreaker(CircuitOptions options = {}) : options_(options) {}

  // The state at `now`: an open circuit whose wait has passed is half-open.
  CircuitState state(Timestamp now) {
    if (state_ == CircuitState::kOpen && now >= reopen_at_) state_ = CircuitState::kHalfOpen;
    return state_;
  }

  // How many calls may start now: all (closed), none (open, or a probe already out), or one probe.
  int allowance(Timestamp now, int wanted) {
    switch (state(now)) {
      case CircuitState::kClosed:
        return wanted;
      case CircuitState::kHalfOpen:
        return probe_out_ ? 0 : std::min(wanted, 1);
      case CircuitState::kOpen:
        break;
    }
    return 0;
  }

  // `n` calls of an allowance started (a half-open circuit's probe is then out).
  void started(int n, Timestamp now) {
    if (n > 0 && state(now) == CircuitState::kHalfOpen) probe_out_ = true;
  }
  // A probe allowed but never made.
  void unused(int n) {
    if (n > 0 && state_ == CircuitState::kHalfOpen) probe_out_ = false;
  }

  // When the next probe may start (meaningful while open).
  Timestamp reopen_at() const { return reopen_at_; }

  // An answer to a call started at `started`: `working` when it shows the bank up. A failure of a
  // call started before the circuit opened says nothing new. Returns true when the state changed.
  bool record(bool working, Timestamp started, Timestamp now) {
    CircuitState before = state(now);
    if (before != CircuitState::kClosed && started < opened_at_) return false;
    if (working) {
      // An answer to a call started before the last failure showed the bank up then, not now:
      // during an outage's first moments, late successes must not break the run.
      if (before == CircuitState::kClosed && started < last_failure_) return false;
      failures_ = 0;
      wait_ = options_.first_wait;
      state_ = CircuitState::kClosed;
      probe_out_ = false;
    } else if (before == CircuitState::kHalfOpen && probe_out_) {
      open(now, std::min(wait_ * 2, options_.max_wait));
    } else if (before == CircuitState::kClosed) {
      last_failure_ = now;
      if (++failures_ >= options_.threshold) open(now, options_.first_wait);
    }
    return state_ != before;
  }

 private:
  void open(Timestamp now, std::chrono::milliseconds wait) {
    state_ = CircuitState::kOpen;
    opened_at_ = now;
    wait_ = wait;
    reopen_at_ = now + wait;
    probe_out_ = false;
    failures_ = 0;
  }

  const CircuitOptions options_;
  CircuitState state_ = CircuitState::kClosed;
  int failures_ = 0;  // in a row, while closed
  bool probe_out_ = false;
  std::chrono::milliseconds wait_{options_.first_wait};
  Timestamp opened_at_{};
  Timestamp reopen_at_{};
  Timestamp last_failure_{};  // while closed: when the last failure was answered
};

}  // namespace rtjobs
