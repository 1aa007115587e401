#include "flow/provider_flow.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/log.hpp"
#include "core/prometheus.hpp"

namespace rtjobs {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// After a 429 the ceiling drops to this share of the rate the bank accepted, then climbs back
// without a 429, paced so that the next 429's Retry-After pause takes at most a tenth of the
// time: back to the limit in 10 x the last pause, at least 20 s (a bank that asks for 30 s,
// as Increase documents, is probed every 5 minutes). Below 90% of the best rate a bank
// accepted, it climbs 10% a second.
constexpr double kDecrease = 0.95;
constexpr double kFastClimb = 0.1;
constexpr double kPausesShare = 0.1;
constexpr seconds kShortestCycle{20};
constexpr double kLowestRate = 0.1;
// A 429 that names no wait pauses the provider this long.
constexpr seconds kDefaultDeferral{1};
int64_t tenth_of(Timestamp t) { return t.time_since_epoch().count() / 100; }

std::string describe(const TransferResult& r) {
  std::string text = r.http_status ? "HTTP " + std::to_string(*r.http_status) : "no answer";
  if (r.code) text += " " + *r.code;
  return text;
}

}  // namespace

std::string_view to_string(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed:
      return "active";
    case CircuitState::kOpen:
      return "paused";
    case CircuitState::kHalfOpen:
      return "probing";
  }
  return "active";
}

ProviderFlow::ProviderFlow(std::string name, FlowLimits limits, CircuitOptions circuit)
    : name_(std::move(name)), limits_(limits), circuit_(circuit) {
  if (!shared_limits()) instances_ = 1;
  apply_rate(Timestamp{});
}

double ProviderFlow::share_rate() const {
  if (!limits_.max_rps || instances_ <= 0) return TokenBucket::kUnlimited;
  return *limits_.max_rps / instances_;
}

double ProviderFlow::rate() const { return std::min(ceiling_, share_rate()); }

int ProviderFlow::in_flight_cap() const {
  if (!limits_.max_in_flight) return std::numeric_limits<int>::max();
  return std::max(1, *limits_.max_in_flight / std::max(1, instances_));
}

void ProviderFlow::apply_rate(Timestamp now) {
  double r = rate();
  if (std::isinf(r)) {
    bucket_.set(TokenBucket::kUnlimited, TokenBucket::kUnlimited, now);
  } else {
    bucket_.set(r * kRefillShare, std::max(1.0, r * kBurstShare), now);
  }
}

void ProviderFlow::count(Timestamp started, int started_calls, int accepted_calls) {
  int64_t tenth = tenth_of(started);
  Slot& slot = slots_[static_cast<size_t>(tenth) % slots_.size()];
  if (slot.tenth != tenth) {
    if (slot.tenth > tenth) return;  // older than the ring
    slot = Slot{tenth, 0, 0};
  }
  slot.started += started_calls;
  slot.accepted += accepted_calls;
}

int ProviderFlow::reserve(int wanted, Timestamp now) {
  std::lock_guard lock(mutex_);
  if (wanted <= 0 || instances_ == 0) return 0;
  if (deferred_until_) {
    if (now < *deferred_until_) return 0;
    deferred_until_.reset();
  }
  if (decrease_pending_) decide_decrease(now);
  climb(now);
  int n = circuit_.allowance(now, wanted);
  n = std::min(n, in_flight_cap() - in_flight_);
  n = bucket_.take(std::max(0, n), now);
  circuit_.started(n, now);
  in_flight_ += n;
  count(now, n, 0);
  return n;
}

void ProviderFlow::release(int unused) {
  if (unused <= 0) return;
  std::lock_guard lock(mutex_);
  bucket_.give_back(unused);
  circuit_.unused(unused);
  in_flight_ -= unused;
}

void ProviderFlow::started_unreserved(Timestamp now) {
  std::lock_guard lock(mutex_);
  bucket_.take_anyway(1, now);
  circuit_.started(1, now);
  ++in_flight_;
  count(now, 1, 0);
}

std::optional<Timestamp> ProviderFlow::blocked_until(Timestamp now) {
  std::lock_guard lock(mutex_);
  std::optional<Timestamp> until;
  if (deferred_until_ && now < *deferred_until_) until = *deferred_until_;
  switch (circuit_.state(now)) {
    case CircuitState::kOpen:
      until = std::max(until.value_or(now), circuit_.reopen_at());
      break;
    case CircuitState::kHalfOpen:
      // One probe at a time: a call while the probe is out waits for it.
      if (circuit_.allowance(now, 1) == 0) until = std::max(until.value_or(now), now + seconds(1));
      break;
    case CircuitState::kClosed:
      break;
  }
  return until;
}

bool ProviderFlow::answered(const TransferResult& answer, Timestamp started, Timestamp now) {
  std::lock_guard lock(mutex_);
  --in_flight_;
  const bool limited = answer.http_status == 429;
  count(started, 0, limited ? 0 : 1);
  if (limited) {
    ++rate_limited_;
    // One decrease per overshoot: 429s of calls started before the last decrease are its echo.
    if (!decrease_pending_ && started >= last_decrease_) decrease_pending_ = now;
  }
  if (limited || (answer.http_status == 503 && answer.retry_after)) {
    auto wait = answer.retry_after ? std::chrono::duration_cast<milliseconds>(*answer.retry_after)
                                   : milliseconds(kDefaultDeferral);
    if (limited) last_pause_ = wait;
    Timestamp until = now + wait;
    if (!deferred_until_ || *deferred_until_ < until) {
      if (!deferred_until_ || *deferred_until_ <= now) ++deferrals_;
      deferred_until_ = until;
    }
  }
  // A rate limit is the bank working, and so is a look-up that found nothing under a key (the
  // bank answered it); anything else unavailable counts toward pausing it.
  const bool working = answer.outcome != Outcome::kUnavailable || limited || answer.not_at_bank;
  CircuitState before = circuit_.state(now);
  if (!working && before != CircuitState::kOpen) reason_ = describe(answer);
  if (!circuit_.record(working, started, now)) return before != CircuitState::kClosed;
  CircuitState after = circuit_.state(now);
  if (after == CircuitState::kOpen && before == CircuitState::kClosed) {
    ++paused_;
    log::warn("provider paused", {{"provider", name_},
                                  {"reason", reason_},
                                  {"probe_in_ms", (circuit_.reopen_at() - now).count()}});
  } else if (after == CircuitState::kOpen) {
    log::debug("provider probe failed", {{"provider", name_},
                                         {"reason", describe(answer)},
                                         {"probe_in_ms", (circuit_.reopen_at() - now).count()}});
  } else if (after == CircuitState::kClosed) {
    log::info("provider resumed", {{"provider", name_}, {"state", to_string(before)}});
    reason_.clear();
  }
  return after != CircuitState::kClosed;
}

void ProviderFlow::decide_decrease(Timestamp now) {
  // What the bank accepted of the calls started in the second before the 429: every one of
  // them has answered by now, unless the bank is slower than the deferral.
  Timestamp at = *decrease_pending_;
  decrease_pending_.reset();
  int64_t last = tenth_of(at);
  int64_t accepted = 0;
  int64_t started = 0;
  for (const Slot& slot : slots_) {
    if (slot.tenth > last - 10 && slot.tenth <= last) {
      accepted += slot.accepted;
      started += slot.started;
    }
  }
  // A bank that accepted nothing (every call 429) gets half of what was sent.
  double base = accepted > 0 ? static_cast<double>(accepted)
                             : std::max(1.0, static_cast<double>(started) / 2);
  base = std::min(base, rate());
  peak_ = std::max(peak_, base);
  ceiling_ = std::max(kLowestRate, base * kDecrease);
  last_decrease_ = now;
  last_climb_ = now;
  apply_rate(now);
  log::info("provider rate lowered after 429",
            {{"provider", name_},
             {"rate", static_cast<long>(std::lround(rate()))},
             {"accepted_last_second", static_cast<long>(accepted)}});
}

void ProviderFlow::climb(Timestamp now) {
  if (std::isinf(ceiling_)) return;
  int64_t clean = std::chrono::duration_cast<seconds>(now - last_climb_).count();
  if (clean <= 0) return;
  double cycle = std::max(std::chrono::duration<double>(kShortestCycle).count(),
                          std::chrono::duration<double>(last_pause_).count() / kPausesShare);
  double climb = (1 - kDecrease) / cycle;
  for (int64_t i = 0; i < clean && !std::isinf(ceiling_); ++i) {
    ceiling_ *= 1 + (ceiling_ < 0.9 * peak_ ? kFastClimb : climb);
    if (ceiling_ >= share_rate()) ceiling_ = TokenBucket::kUnlimited;  // max_rps rules again
  }
  last_climb_ += seconds(clean);
  apply_rate(now);
}

std::optional<Timestamp> ProviderFlow::ready_at(Timestamp now) {
  std::lock_guard lock(mutex_);
  if (instances_ == 0) return now + milliseconds(250);  // until the instance count is known
  Timestamp at = now;
  if (deferred_until_ && *deferred_until_ > at) at = *deferred_until_;
  CircuitState state = circuit_.state(now);
  if (state == CircuitState::kOpen) at = std::max(at, circuit_.reopen_at());
  if (state == CircuitState::kHalfOpen && circuit_.allowance(now, 1) == 0) return std::nullopt;
  if (in_flight_ >= in_flight_cap()) return std::nullopt;  // an answer frees a slot
  // Wait for a batch rather than one call at a time, but only half the bucket, so a late wake-up
  // finds room left rather than tokens lost to a full bucket.
  int batch = std::max(1, static_cast<int>(std::min(rate() * kBurstShare / 2, 1e6)));
  return std::max(at, bucket_.ready_at(batch, at));
}

void ProviderFlow::set_instances(int instances, Timestamp now) {
  std::lock_guard lock(mutex_);
  if (!shared_limits()) return;
  instances_ = std::max(1, instances);
  apply_rate(now);
}

FlowSnapshot ProviderFlow::snapshot(Timestamp now) {
  std::lock_guard lock(mutex_);
  FlowSnapshot s;
  s.provider = name_;
  s.state = circuit_.state(now);
  if (s.state != CircuitState::kClosed) s.reason = reason_;
  s.rate = instances_ == 0 ? 0 : rate();
  s.in_flight = in_flight_;
  if (deferred_until_ && *deferred_until_ > now) s.deferred_until = deferred_until_;
  s.rate_limited = rate_limited_;
  s.deferrals = deferrals_;
  s.paused = paused_;
  return s;
}

FlowControl::FlowControl(const std::map<std::string, FlowLimits>& providers,
                         CircuitOptions circuit) {
  for (const auto& [name, limits] : providers) {
    auto flow = std::make_unique<ProviderFlow>(name, limits, circuit);
    order_.push_back(flow.get());
    flows_.emplace(name, std::move(flow));
  }
}

ProviderFlow* FlowControl::find(const std::string& provider) const {
  auto it = flows_.find(provider);
  return it == flows_.end() ? nullptr : it->second.get();
}

void FlowControl::set_instances(int instances, Timestamp now) {
  for (ProviderFlow* flow : order_) flow->set_instances(instances, now);
}

std::optional<Timestamp> FlowControl::ready_at(Timestamp now) const {
  std::optional<Timestamp> earliest;
  for (ProviderFlow* flow : order_) {
    auto at = flow->ready_at(now);
    if (at && (!earliest || *at < *earliest)) earliest = at;
  }
  return earliest;
}

std::vector<FlowSnapshot> FlowControl::snapshot(Timestamp now) const {
  std::vector<FlowSnapshot> out;
  out.reserve(order_.size());
  for (ProviderFlow* flow : order_) out.push_back(flow->snapshot(now));
  return out;
}

std::string FlowControl::render(Timestamp now) const {
  std::vector<FlowSnapshot> all = snapshot(now);
  std::ostringstream out;
  auto series = [&](std::string_view metric, std::string_view type, std::string_view help,
                    auto value) {
    out << "# HELP " << metric << " " << help << "\n# TYPE " << metric << " " << type << "\n";
    for (const FlowSnapshot& s : all) {
      out << metric << "{provider=\"" << prometheus_label(s.provider) << "\"} " << value(s) << "\n";
    }
  };
  out << "# HELP rtjobs_provider_state 1 for the provider's flow state: active, probing (one "
         "call checks whether it is back) or paused (no calls).\n"
      << "# TYPE rtjobs_provider_state gauge\n";
  for (const FlowSnapshot& s : all) {
    for (CircuitState state :
         {CircuitState::kClosed, CircuitState::kHalfOpen, CircuitState::kOpen}) {
      out << "rtjobs_provider_state{provider=\"" << prometheus_label(s.provider) << "\",state=\""
          << to_string(state) << "\"} " << (s.state == state ? 1 : 0) << "\n";
    }
  }
  series("rtjobs_provider_rate_limited_total", "counter",
         "Answers 429 (rate limited) from the provider.",
         [](const FlowSnapshot& s) { return std::to_string(s.rate_limited); });
  series("rtjobs_provider_deferrals_total", "counter",
         "Times the provider's calls were deferred for its Retry-After.",
         [](const FlowSnapshot& s) { return std::to_string(s.deferrals); });
  series("rtjobs_provider_paused_total", "counter",
         "Times the provider was paused after a run of unavailable answers.",
         [](const FlowSnapshot& s) { return std::to_string(s.paused); });
  series("rtjobs_provider_rate_limit", "gauge",
         "Calls a second this instance may start toward the provider (+Inf: no limit).",
         [](const FlowSnapshot& s) {
           if (std::isinf(s.rate)) return std::string("+Inf");
           std::ostringstream v;
           v << s.rate;
           return v.str();
         });
  series("rtjobs_provider_calls_in_flight", "gauge", "Calls to the provider awaiting an answer.",
         [](const FlowSnapshot& s) { return std::to_string(s.in_flight); });
  return out.str();
}

}  // namespace rtjobs
