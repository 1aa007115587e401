// SettlementMetrics: what the banks said after the calls, for GET /metrics (Prometheus text):
// webhook deliveries by provider and result, settlement changes applied by provider and outcome,
// and the settlements given up as unknown when the follow window ran out. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace rtjobs {

class SettlementMetrics {
 public:
  // `result`: "accepted", "duplicate", "unauthenticated", "invalid", "error".
  void webhook(std::string_view provider, std::string_view result, uint64_t n = 1) {
    add(webhooks_, provider, result, n);
  }
  // `outcome`: to_string(SettlementOutcome) or a settlement status ("settled", "returned", ...).
  void settlement(std::string_view provider, std::string_view outcome) {
    add(settlements_, provider, outcome, 1);
  }

  std::string render() const {
    std::lock_guard lock(mutex_);
    std::string out =
        "# HELP rtjobs_bank_webhooks_total Bank webhook events received, by provider and result.\n"
        "# TYPE rtjobs_bank_webhooks_total counter\n";
    for (const auto& [key, n] : webhooks_) {
      out += "rtjobs_bank_webhooks_total{provider=\"" + key.first + "\",result=\"" + key.second +
             "\"} " + std::to_string(n) + "\n";
    }
    out +=
        "# HELP rtjobs_settlement_updates_total What banks said of followed transfers, by provider"
        " and what it did (settled, returned, canceled, unknown, represented, transfer_paused,"
        " unchanged, not_followed, unknown_transfer).\n"
        "# TYPE rtjobs_settlement_updates_total counter\n";
    for (const auto& [key, n] : settlements_) {
      out += "rtjobs_settlement_updates_total{provider=\"" + key.first + "\",outcome=\"" +
             key.second + "\"} " + std::to_string(n) + "\n";
    }
    return out;
  }

 private:
  using Counts = std::map<std::pair<std::string, std::string>, uint64_t>;
  void add(Counts& counts, std::string_view provider, std::string_view what, uint64_t n) {
    std::lock_guard lock(mutex_);
    counts[{std::string(provider), std::string(what)}] += n;
  }

  mutable std::mutex mutex_;
  Counts webhooks_;     // guarded by mutex_
  Counts settlements_;  // guarded by mutex_
};

}  // namespace rtjobs
