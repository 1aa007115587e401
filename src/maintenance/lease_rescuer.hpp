// LeaseRescuer: moves PROCESSING jobs whose lease expired (their processor died during the bank
// call) to RETRY, due at once; the rescue counts as a retry, capped at the maximum so the job
// still gets the call that learns its outcome (SPEC section 2). Runs on every instance; the
// store's conditional update makes concurrent rescuers harmless.
#pragma once

#include "core/clock.hpp"
#include "maintenance/periodic_worker.hpp"
#include "store/store.hpp"

namespace rtjobs {

class LeaseRescuer {
 public:
  LeaseRescuer(Store& store, const Clock& clock, int max_retries,
               std::chrono::milliseconds interval);
  void start() { worker_.start(); }
  void stop() { worker_.stop(); }
  // One pass; returns how many jobs were rescued.
  Result<int> rescue_once();

 private:
  Store& store_;
  const Clock& clock_;
  const int max_retries_;
  PeriodicWorker worker_;
};

}  // namespace rtjobs
