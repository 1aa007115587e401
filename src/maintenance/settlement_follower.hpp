// SettlementFollower: follows every accepted transfer to its final state at the bank (SPEC
// section 8, settlement and returns). Each round, on every instance:
//   1. the inbox: bank webhook events stored by BankWebhookIntake. An event that carries the
//      transfer (Column) is applied as it is; a thin one (Increase, Unit, Treasury Prime) is
//      applied once the transfer is fetched from the bank by its id; an event about anything
//      else is marked done. A failed fetch is tried again with backoff.
//   2. polling: the pending transfers of each provider whose next look-up is due, looked up by
//      the bank's id. Still pending: looked up again after half the transfer's age (between
//      RT_SETTLEMENT_POLL_SECONDS and RT_SETTLEMENT_POLL_MAX_SECONDS); still pending after the
//      follow window (RT_SETTLEMENT_FOLLOW_DAYS): its settlement becomes unknown, logged and
//      counted, for an operator to look at.
//   3. what the banks said is applied in one transaction (Store::apply_settlements), the
//      return rules included.
// Every look-up goes through the provider's flow control (a reserved call, answered), so
// following never pushes a bank past its rate limit or into an outage. Claims in the store keep
// two instances from doing the same work; applying twice would change nothing anyway.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "baas/registry.hpp"
#include "core/clock.hpp"
#include "flow/provider_flow.hpp"
#include "jobs/settlement_metrics.hpp"
#include "maintenance/periodic_worker.hpp"
#include "store/store.hpp"

namespace rtjobs {

struct SettlementOptions {
  std::chrono::seconds poll{900};
  std::chrono::seconds poll_max{21600};
  std::chrono::hours follow_window{24 * 10};
  int represent_max = 0;
  std::chrono::seconds represent_after{std::chrono::hours(72)};
  bool pause_on_account_return = true;
  int batch = 500;                              // events, and look-ups per provider, a round
  std::chrono::milliseconds interval{1000};     // rounds when nothing wakes the follower
  std::chrono::hours keep_events{24 * 30};      // applied events kept to recognise redeliveries
  std::chrono::hours give_up_fetching{24 * 3};  // a thin event whose transfer never fetched
};

class SettlementFollower {
 public:
  SettlementFollower(Store& store, const ProviderRegistry& providers, const FlowControl* flows,
                     const Clock& clock, SettlementOptions options, SettlementMetrics* metrics);
  void start() { worker_.start(); }
  void stop() { worker_.stop(); }
  // New events are in the inbox.
  void wake() { worker_.wake(); }
  // One round (the steps above); true when a batch was full (more work waits).
  Result<bool> follow_once();

 private:
  struct Round;
  Result<void> claim_events(Round& round, Timestamp now);
  Result<void> claim_checks(Round& round, Timestamp now);
  void fetch_all(Round& round, Timestamp now);
  Result<void> apply(Round& round, Timestamp now);
  void purge(Timestamp now);
  // How long a claim keeps its work from the other followers: longer than any look-up.
  std::chrono::milliseconds claim_lease() const;

  Store& store_;
  const ProviderRegistry& providers_;
  const FlowControl* flows_;
  const Clock& clock_;
  const SettlementOptions options_;
  SettlementMetrics* metrics_;
  std::optional<Timestamp> last_purge_;  // touched by the worker thread only
  PeriodicWorker worker_;
};

}  // namespace rtjobs
