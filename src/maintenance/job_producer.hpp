// JobProducer: the built-in scheduler and retries loops (the seed's Scheduler and Retries
// Lambdas, inside `rtjobs serve`). Each tick claims due jobs in one batch (PENDING/IN_FLY due
// for the scheduler, RETRY past next_attempt_at for the retries loop) up to the room of the
// call gate (free call slots and its local queue), and hands each to the JobProcessor, which
// calls the bank without a thread per call; jobs beyond the free slots wait in the gate.
// Due jobs of PAUSED transfers come back SKIPPED from the claim and are done. Several
// instances on one PostgreSQL claim disjoint jobs (FOR UPDATE SKIP LOCKED).
// Thread-safe; start()/stop() from the owner.
#pragma once

#include <string>

#include "core/clock.hpp"
#include "jobs/processor.hpp"
#include "maintenance/call_gate.hpp"
#include "maintenance/in_flight_limit.hpp"
#include "maintenance/periodic_worker.hpp"
#include "store/store.hpp"

namespace rtjobs {

struct JobProducerOptions {
  std::string name = "scheduler";
  bool pending = true;   // claim due PENDING/IN_FLY jobs
  bool retries = false;  // claim RETRY jobs past next_attempt_at
  int batch = 500;       // most jobs claimed per statement
  std::chrono::milliseconds interval{1000};
};

class JobProducer {
 public:
  // `calls` bounds the bank calls in flight (RT_CONCURRENCY) and queues the claimed jobs
  // beyond; `unwritten` bounds the jobs claimed whose outcome is not committed yet
  // (back-pressure from the group commit).
  JobProducer(Store& store, JobProcessor& processor, CallGate& calls, InFlightLimit& unwritten,
              const Clock& clock, JobProducerOptions options);

  void start() { worker_.start(); }
  void wake() { worker_.wake(); }
  void stop() { worker_.stop(); }

 private:
  bool tick();

  Store& store_;
  JobProcessor& processor_;
  CallGate& calls_;
  InFlightLimit& unwritten_;
  const Clock& clock_;
  const JobProducerOptions options_;
  PeriodicWorker worker_;
};

}  // namespace rtjobs
