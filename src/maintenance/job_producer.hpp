// JobProducer: the built-in scheduler and retries loops (the seed's Scheduler and Retries
// Lambdas, inside `rtjobs serve`). Each tick claims due jobs (PENDING/IN_FLY due for the
// scheduler, RETRY past next_attempt_at for the retries loop) provider by provider, only as many
// as can be called at once: free call slots (RT_CONCURRENCY) and what the provider's flow
// control allows now (SPEC section 8: its rate, max_in_flight, Retry-After, a paused circuit).
// Every claimed job's call starts at once, so no claimed job waits under a running lease, and a
// limited provider's jobs never hold up another's. Due jobs of PAUSED transfers come back SKIPPED
// from the claim and are done. Several instances on one PostgreSQL claim disjoint jobs
// (FOR UPDATE SKIP LOCKED). Thread-safe; start()/stop() from the owner.
#pragma once

#include <string>

#include "core/clock.hpp"
#include "flow/provider_flow.hpp"
#include "jobs/processor.hpp"
#include "maintenance/in_flight_limit.hpp"
#include "maintenance/job_backlog.hpp"
#include "maintenance/periodic_worker.hpp"
#include "store/store.hpp"

namespace rtjobs {

struct JobProducerOptions {
  std::string name = "scheduler";
  bool pending = true;   // claim due PENDING/IN_FLY jobs
  bool retries = false;  // claim RETRY jobs past next_attempt_at
  int batch = 500;       // most jobs claimed per tick
  std::chrono::milliseconds interval{1000};
  // Told after each tick whether due jobs were left waiting (optional; outlives the producer).
  JobBacklog* backlog = nullptr;
};

class JobProducer {
 public:
  // `calls` bounds the bank calls in flight (RT_CONCURRENCY); `unwritten` bounds the jobs
  // claimed whose outcome is not committed yet (back-pressure from the group commit); `flows`
  // holds every configured provider's limits (jobs of a provider not configured are not
  // claimed: they wait, retries kept, until it is).
  JobProducer(Store& store, JobProcessor& processor, const FlowControl& flows, InFlightLimit& calls,
              InFlightLimit& unwritten, const Clock& clock, JobProducerOptions options);

  void start() { worker_.start(); }
  void wake() { worker_.wake(); }
  void stop() { worker_.stop(); }

 private:
  bool tick();
  // Claims up to `wanted` jobs of one provider and starts their calls; returns how many
  // claims came back (skipped and cancelled ones included), or -1 when the claim failed.
  // `inline_calls`: the provider answers inside its calls, which then hold no call slot.
  int claim_and_call(ProviderFlow& flow, int wanted, bool inline_calls, Timestamp now);

  Store& store_;
  JobProcessor& processor_;
  const FlowControl& flows_;
  InFlightLimit& calls_;
  InFlightLimit& unwritten_;
  const Clock& clock_;
  const JobProducerOptions options_;
  const uint32_t backlog_loop_;
  size_t next_provider_ = 0;  // round robin over providers; used by the worker thread only
  PeriodicWorker worker_;
};

}  // namespace rtjobs
