// WebhookMetrics: the events to the main API as GET /metrics shows them (Prometheus text):
// deliveries tried, by endpoint and result, whether they yield to due jobs now, and the
// outbox's backlog. The counter and the yield are kept here; the backlog's gauges come from the
// store at render time (Store::event_backlog, called by the caller outside any lock here).
// Thread-safe.
//
//   metrics.render(store.event_backlog(10000) ? ... : std::nullopt, clock.now())
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/prometheus.hpp"
#include "store/store.hpp"

namespace rtjobs {

class WebhookMetrics {
 public:
  // `result`: "delivered", "retry" (not delivered, tried again later) or "failed" (for good).
  void delivery(std::string_view endpoint_id, std::string_view result) {
    std::lock_guard lock(mutex_);
    ++deliveries_[{std::string(endpoint_id), std::string(result)}];
  }

  // Set by the dispatcher at each round: its deliveries yield to due jobs (RT_WEBHOOK_BUSY_RATE).
  void yielding(bool on) { yielding_.store(on, std::memory_order_relaxed); }

  // The counter, and the gauges when `backlog` is known (nullopt: the store did not answer).
  std::string render(const std::optional<EventBacklog>& backlog, Timestamp now) const {
    std::string out =
        "# HELP rtjobs_webhook_deliveries_total Webhook delivery attempts to the main API, by "
        "endpoint and result (delivered, retry, failed).\n"
        "# TYPE rtjobs_webhook_deliveries_total counter\n";
    {
      std::lock_guard lock(mutex_);
      for (const auto& [key, n] : deliveries_) {
        out += "rtjobs_webhook_deliveries_total{endpoint=\"" + prometheus_label(key.first) +
               "\",result=\"" + prometheus_label(key.second) + "\"} " + std::to_string(n) + "\n";
      }
    }
    out +=
        "# HELP rtjobs_webhook_yielding 1 while this instance's deliveries yield to due jobs "
        "(at most RT_WEBHOOK_BUSY_RATE a second).\n"
        "# TYPE rtjobs_webhook_yielding gauge\n"
        "rtjobs_webhook_yielding ";
    out += yielding_.load(std::memory_order_relaxed) ? "1\n" : "0\n";
    if (!backlog) return out;
    out +=
        "# HELP rtjobs_webhook_backlog Webhook deliveries pending and events not yet fanned out "
        "(counted up to a cap).\n"
        "# TYPE rtjobs_webhook_backlog gauge\n"
        "rtjobs_webhook_backlog " +
        std::to_string(backlog->pending) +
        "\n"
        "# HELP rtjobs_webhook_oldest_undelivered_seconds Age of the oldest event not yet "
        "delivered (0: none).\n"
        "# TYPE rtjobs_webhook_oldest_undelivered_seconds gauge\n"
        "rtjobs_webhook_oldest_undelivered_seconds ";
    const auto age = backlog->oldest ? std::max(now - *backlog->oldest, Timestamp::duration::zero())
                                     : Timestamp::duration::zero();
    out += std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) + "\n";
    return out;
  }

 private:
  std::atomic<bool> yielding_{false};
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, uint64_t> deliveries_;  // guarded by mutex_
};

}  // namespace rtjobs
