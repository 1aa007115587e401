// Flow control toward each bank (SPEC section 8, "Flow control"): how many calls to a provider
// may start now, and what its answers teach about that.
//
// ProviderFlow keeps, per provider and per instance:
//   - a token bucket at the provider's rate: its `max_rps` divided among the live instances on
//     one database (FlowControl::set_instances), lowered further when the bank answers 429
//     (multiplicative decrease from the rate actually sent, additive climb back after each clean
//     second), so rtjobs finds a bank's limit by itself when `max_rps` is not set;
//   - a deferral: a 429 or 503 with Retry-After (or the bank's own field) stops its calls that
//     long; a 429 without one, for a second;
//   - `max_in_flight` (also divided among instances) on top of RT_CONCURRENCY;
//   - a circuit breaker: a run of unavailable answers (5xx, timeouts, connection failures,
//     401/403) pauses the provider; one probe call at a time checks whether it is back.
//
// The loops reserve() before they claim, so a job is claimed only when its call can start at
// once (no claimed job waits for a limiter), and release() what they did not claim. Every call,
// reserved or not (the process endpoint), reports its answer with answered(). Thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "baas/provider.hpp"
#include "core/clock.hpp"
#include "flow/circuit_breaker.hpp"
#include "flow/token_bucket.hpp"

namespace rtjobs {

struct FlowLimits {
  std::optional<double> max_rps;     // the bank's, shared by the instances on one database
  std::optional<int> max_in_flight;  // the bank's, shared likewise
};

struct FlowSnapshot {
  std::string provider;
  CircuitState state = CircuitState::kClosed;
  std::string reason;                     // the answer that paused it, while paused or probing
  double rate = TokenBucket::kUnlimited;  // calls a second this instance may start now
  int in_flight = 0;
  std::optional<Timestamp> deferred_until;  // a Retry-After still running
  uint64_t rate_limited = 0;                // 429 answers
  uint64_t deferrals = 0;                   // deferrals for Retry-After
  uint64_t paused = 0;                      // times the circuit opened
};

// The bucket refills at 95% of the rate and holds 2% of it (at least one call), so any one-second
// window sees at most 97% of the rate: max_rps holds per second, not only on average, with 3%
// left for calls that reach the bank bunched (a busy machine, the network).
inline constexpr double kRefillShare = 0.95;
inline constexpr double kBurstShare = 0.02;

class ProviderFlow {
 public:
  ProviderFlow(std::string name, FlowLimits limits, CircuitOptions circuit = {});

  const std::string& name() const { return name_; }

  // Reserves up to `wanted` calls that may start now; 0 while deferred, paused, out of tokens or
  // at max_in_flight, or before the instance count is known for a shared limit.
  int reserve(int wanted, Timestamp now);
  // Reserved calls not made (fewer jobs were due).
  void release(int unused);
  // A call made without a reservation (the process endpoint): counted, tokens taken anyway.
  void started_unreserved(Timestamp now);
  // While paused or deferred: when calls may start again (the process endpoint answers with it).
  std::optional<Timestamp> blocked_until(Timestamp now);
  // The answer to a call started at `started`. Every started call reports exactly once.
  // Returns whether the provider is paused or probing after it (its circuit is not closed).
  bool answered(const TransferResult& answer, Timestamp started, Timestamp now);
  // When a reserve() would next give something, if that depends on time alone (not on an
  // answer coming back); for the loops' wake-up.
  std::optional<Timestamp> ready_at(Timestamp now);

  // The live instances sharing the provider's limits (>= 1).
  void set_instances(int instances, Timestamp now);

  FlowSnapshot snapshot(Timestamp now);

 private:
  bool shared_limits() const { return limits_.max_rps || limits_.max_in_flight; }
  double share_rate() const;
  double rate() const;
  int in_flight_cap() const;
  void decide_decrease(Timestamp now);
  void climb(Timestamp now);
  void apply_rate(Timestamp now);
  void count(Timestamp started, int started_calls, int accepted_calls);

  const std::string name_;
  const FlowLimits limits_;
  std::mutex mutex_;
  // All guarded by mutex_.
  int instances_ = 0;  // 0 until known
  TokenBucket bucket_;
  double ceiling_ = TokenBucket::kUnlimited;  // learnt from 429s
  double peak_ = 0;                           // the most a second the bank accepted before a 429
  std::optional<Timestamp>
      decrease_pending_;       // a 429 came at this time; decided when deferral ends
  Timestamp last_decrease_{};  // 429s of calls started before it are old news
  Timestamp last_climb_{};
  std::optional<Timestamp> deferred_until_;
  std::chrono::milliseconds last_pause_{0};  // the last 429's deferral
  CircuitBreaker circuit_;
  std::string reason_;
  int in_flight_ = 0;
  // Per tenth of a second of start time, over the last 10 s (a ring): calls started, and how many
  // of them the bank accepted (answered other than 429). The rate the bank accepted is what a
  // 429 lowers the ceiling to.
  struct Slot {
    int64_t tenth = -1;  // the tenth-second since the epoch this slot counts
    int started = 0;
    int accepted = 0;
  };
  std::array<Slot, 100> slots_{};
  uint64_t rate_limited_ = 0;
  uint64_t deferrals_ = 0;
  uint64_t paused_ = 0;
};

// Every configured provider's flow.
class FlowControl {
 public:
  // One flow per provider name.
  FlowControl(const std::map<std::string, FlowLimits>& providers, CircuitOptions circuit = {});

  ProviderFlow* find(const std::string& provider) const;
  const std::vector<ProviderFlow*>& all() const { return order_; }

  void set_instances(int instances, Timestamp now);
  // The earliest ready_at of all providers.
  std::optional<Timestamp> ready_at(Timestamp now) const;

  std::vector<FlowSnapshot> snapshot(Timestamp now) const;
  // Prometheus text: rtjobs_provider_state, _rate_limited_total, _deferrals_total, ...
  std::string render(Timestamp now) const;

 private:
  std::map<std::string, std::unique_ptr<ProviderFlow>, std::less<>> flows_;
  std::vector<ProviderFlow*> order_;
};

}  // namespace rtjobs
