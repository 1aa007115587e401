// WebhookDispatcher: delivers the outbox's events to the registered endpoints (SPEC section 8,
// Standard Webhooks; webhook_attempt.hpp has the request and the retry rule). Each round, on
// its own thread, on every instance:
//   1. the answers that came in since the last round are written in one transaction
//      (Store::finish_webhook_deliveries): delivered, pending again after the backoff, or
//      failed after the retry window; an endpoint failing for `disable_after` is disabled
//      (logged, with a `webhook_endpoint.disabled` event written by the store);
//   2. due deliveries are claimed under a fresh lease, up to `concurrency` in flight, and sent
//      with their own libcurl-multi transport (not the banks'): the calls run on its transfer
//      thread, whose callbacks only hand the answer back and wake this thread, so no store call
//      ever waits on the network nor the network on the store;
//   3. new events, as many as the room left can send, are fanned out to the endpoints
//      (Store::fan_out_and_lease): the deliveries the claim would take at once are born
//      claimed under the round's lease and sent, the rest left to the claims;
//   4. every 10 minutes, events delivered more than `retention` ago are purged.
// Events yield to jobs: while `jobs_waiting` says this instance's job loops left due jobs
// waiting, rounds run at most once an `interval` and send at most `busy_rate` deliveries a
// second between them (claimed and fanned out together), so a burst of due transfers keeps the
// cores; the events' delivery is delayed, never stopped.
// At least once: a delivery is written delivered only after its 2xx; one whose answer was not
// written (a crash, a stop, a failed write) comes back when its lease expires and is sent again
// with the same webhook-id. The store's claim keeps each delivery to one instance (SKIP LOCKED)
// and each transfer's events in order per endpoint. A dead endpoint never slows job processing:
// its deliveries wait in the outbox with growing backoff.
//
// Safety: URLs are dialled only at public addresses unless `allow_private`, judged at connect
// time; redirects are not followed; answers are read to 64 KiB, and last_error keeps 512 bytes
// of them; secrets are never logged nor stored in errors (a disabled endpoint's URL is logged
// without its query).
//
// start() and stop() by the owner, wake() from any thread (new events were written).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "baas/http_transport.hpp"
#include "core/clock.hpp"
#include "maintenance/periodic_worker.hpp"
#include "maintenance/webhook_attempt.hpp"
#include "maintenance/webhook_metrics.hpp"
#include "store/store.hpp"

namespace rtjobs {

struct WebhookDispatcherOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(15)};  // a 2xx within it is delivered
  std::chrono::hours retry_window{72};  // from the delivery's creation; then failed
  std::chrono::milliseconds backoff_base{std::chrono::seconds(5)};
  std::chrono::milliseconds backoff_max{std::chrono::hours(1)};
  std::chrono::hours disable_after{120};    // an endpoint failing that long is disabled
  int concurrency = 64;                     // deliveries in flight
  int batch = 100;                          // events fanned out, deliveries claimed, a round
  std::chrono::milliseconds interval{250};  // rounds when nothing wakes the dispatcher
  // How long a claim keeps its deliveries from other rounds and instances; at least timeout +
  // 30 s whatever is set, so a call still running is never claimed again.
  std::chrono::milliseconds lease{std::chrono::seconds(60)};
  std::chrono::hours retention{168};  // delivered events kept (RT_EVENT_RETENTION_DAYS)
  bool allow_private = false;         // RT_WEBHOOK_ALLOW_PRIVATE
  std::string user_agent = "rtjobs";
  std::function<bool()> jobs_waiting;  // optional; called on the dispatcher's thread
  int busy_rate = 400;                 // RT_WEBHOOK_BUSY_RATE; 0: deliveries never yield
  // stop() waits this long for calls in flight before abandoning them.
  std::chrono::milliseconds stop_grace{std::chrono::seconds(2)};
};

class WebhookDispatcher {
 public:
  // Throws std::invalid_argument for options that cannot work (concurrency or batch < 1) and
  // std::runtime_error when libcurl cannot start: start-up failures.
  WebhookDispatcher(Store& store, const Clock& clock, WebhookDispatcherOptions options,
                    WebhookMetrics* metrics);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  void start() { worker_.start(); }
  // Stops claiming, gives the calls in flight up to stop_grace, abandons the rest (their leases
  // expire and another round sends them again) and writes the answers that came. Idempotent;
  // the dispatcher cannot be started again.
  void stop();
  void wake() { worker_.wake(); }

  // One round (the steps above); true when more work waits at once (a full batch). Runs on the
  // worker's thread once started; a test may call it itself instead of start().
  Result<bool> dispatch_once();
  int in_flight() const;

 private:
  struct Sent;
  struct Answered;
  void send(DeliveryTask task, std::string lease, Timestamp now);
  void answered(const std::shared_ptr<const Sent>& sent, HttpAnswer answer);
  Result<void> write_answers();
  void purge(Timestamp now);
  // How many deliveries this round may send while jobs wait (none before `interval` has passed
  // since the last such round); nullopt when they do not.
  std::optional<int> yield_budget(Timestamp now);
  double jitter();

  Store& store_;
  const Clock& clock_;
  const WebhookDispatcherOptions options_;
  const RetryRule rule_;
  const std::chrono::milliseconds lease_;
  WebhookMetrics* metrics_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;   // in_flight_ reached 0
  int in_flight_ = 0;              // guarded by mutex_
  bool stopped_ = false;           // guarded by mutex_
  std::vector<Answered> answers_;  // guarded by mutex_: not yet written

  // The worker's thread only (or stop(), once the worker has stopped).
  std::mt19937_64 random_;
  std::optional<Timestamp> last_purge_;
  std::optional<Timestamp> last_busy_round_;  // the last round run while jobs waited

  // After the state its callbacks touch: destroyed (answering what is in flight) before it.
  std::unique_ptr<HttpTransport> transport_;
  PeriodicWorker worker_;  // last: stopped before the rest is destroyed
};

}  // namespace rtjobs
