// TokenBucket: calls at `rate` a second, with at most `capacity` of them at once after a quiet
// spell. Any window of T seconds admits at most capacity + rate x T calls. An infinite rate
// admits every call. Tokens may go below zero (a call made without asking, e.g. through the
// process endpoint): later calls wait for the debt to be paid. Not thread-safe; ProviderFlow
// guards it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/clock.hpp"

namespace rtjobs {

class TokenBucket {
 public:
  static constexpr double kUnlimited = std::numeric_limits<double>::infinity();

  bool unlimited() const { return std::isinf(rate_); }
  double rate() const { return rate_; }

  // A new rate and capacity from `now` on; tokens above the new capacity are dropped.
  void set(double rate, double capacity, Timestamp now) {
    refill(now);
    rate_ = rate;
    capacity_ = capacity;
    tokens_ = std::min(tokens_, capacity_);
  }

  // Takes up to `wanted` whole tokens; returns how many.
  int take(int wanted, Timestamp now) {
    if (unlimited()) return std::max(0, wanted);
    refill(now);
    int n = std::clamp(static_cast<int>(std::floor(tokens_)), 0, std::max(0, wanted));
    tokens_ -= n;
    return n;
  }

  // Takes `n` tokens whether or not they are there.
  void take_anyway(int n, Timestamp now) {
    if (unlimited()) return;
    refill(now);
    tokens_ -= n;
  }

  void give_back(int n) {
    if (!unlimited()) tokens_ = std::min(capacity_, tokens_ + n);
  }

  // When `n` tokens (at most the capacity) will be there; `now` when they already are.
  Timestamp ready_at(int n, Timestamp now) const {
    if (unlimited()) return now;
    double missing = std::min<double>(n, capacity_) - tokens_at(now);
    if (missing <= 0) return now;
    if (rate_ <= 0) return Timestamp::max();
    return now + std::chrono::milliseconds(static_cast<int64_t>(std::ceil(missing / rate_ * 1000)));
  }

 private:
  double tokens_at(Timestamp now) const {
    double elapsed = std::chrono::duration<double>(now - at_).count();
    return elapsed > 0 ? std::min(capacity_, tokens_ + rate_ * elapsed) : tokens_;
  }
  void refill(Timestamp now) {
    tokens_ = tokens_at(now);
    at_ = std::max(at_, now);
  }

  double rate_ = kUnlimited;
  double capacity_ = kUnlimited;
  double tokens_ = 0;
  Timestamp at_{};
};

}  // namespace rtjobs
