// Histogram: one Prometheus histogram series (fixed upper bounds, in seconds) that threads
// observe without a lock: one relaxed atomic add on the bucket the value falls in and one on the
// sum. render() writes the cumulative `_bucket{le=...}` lines (the last `le="+Inf"`), `_sum` and
// `_count`; `_count` is the +Inf bucket, read once, so the two always agree in one scrape (the
// sum is read apart and may lag by the observations in flight).
//
// The bounds must be ascending and outlive the Histogram (a static array, e.g. kLatencyBuckets).
// Not copyable or movable (atomics): keep it in a node-based container (std::map) or in place.
//
//   Histogram h(kLatencyBuckets);
//   h.observe(std::chrono::milliseconds(120));
//   h.render(out, "rtjobs_bank_call_duration_seconds", R"(provider="bank")");
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <span>
#include <string_view>
#include <vector>

namespace rtjobs {

// Upper bounds fit for a bank's latency: 5 ms (a fake or a warm cache) up to 60 s (a call at
// its timeout), about three per decade; and for the API's answers, which sit at the low end.
inline constexpr std::array<double, 14> kLatencyBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                        1,     2.5,  5,     10,   20,  30,   60};

class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds)
      : bounds_(bounds), counts_(bounds.size() + 1) {}
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // A value equal to a bound counts in that bound's bucket (Prometheus' `le`: less or equal).
  void observe(std::chrono::nanoseconds took) {
    const double seconds = std::chrono::duration<double>(took).count();
    const auto i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), seconds) -
                                       bounds_.begin());
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(took.count(), 0)),
                      std::memory_order_relaxed);
  }

  uint64_t count() const {
    uint64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
  }

  // The series' lines under `name`; `labels` are this series' own, already escaped
  // (prometheus_label), without braces, or empty. The caller writes # HELP and # TYPE.
  void render(std::ostream& out, std::string_view name, std::string_view labels) const {
    const std::string_view sep = labels.empty() ? "" : ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      cumulative += counts_[i].load(std::memory_order_relaxed);
      out << name << "_bucket{" << labels << sep << "le=\"";
      if (i < bounds_.size()) {
        out << bounds_[i];
      } else {
        out << "+Inf";
      }
      out << "\"} " << cumulative << "\n";
    }
    // %.9g: nanosecond resolution up to a second, nine digits beyond (the stream's default is six).
    std::array<char, 32> sum{};
    std::snprintf(sum.data(), sum.size(), "%.9g",
                  static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
    const std::string_view open = labels.empty() ? "" : "{";
    const std::string_view close = labels.empty() ? "" : "}";
    out << name << "_sum" << open << labels << close << " " << sum.data() << "\n"
        << name << "_count" << open << labels << close << " " << cumulative << "\n";
  }

 private:
  const std::span<const double> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;  // counts_[i]: values in (bounds_[i-1], bounds_[i]]
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace rtjobs
