// HorizonExtender: keeps every ACTIVE or PAUSED transfer's occurrences created up to the horizon
// (RT_HORIZON_MONTHS), for transfers whose jobs finish rarely (a yearly schedule, a paused
// transfer) and so are not extended by job completions. Each transfer stores the due time of
// its first occurrence not yet created (next_occurrence_at), so a pass reads only the transfers
// that need it. Inserts never duplicate a job; concurrent extenders are harmless.
#pragma once

#include "core/clock.hpp"
#include "maintenance/periodic_worker.hpp"
#include "schedule/calendar.hpp"
#include "store/store.hpp"

namespace rtjobs {

class HorizonExtender {
 public:
  HorizonExtender(Store& store, const CalendarSet& calendars, const Clock& clock,
                  int horizon_months, std::chrono::milliseconds interval);
  void start() { worker_.start(); }
  void stop() { worker_.stop(); }
  // One page of transfers; returns how many jobs were created, and whether more may wait.
  Result<std::pair<int, bool>> extend_once();

 private:
  Store& store_;
  const CalendarSet& calendars_;
  const Clock& clock_;
  const int horizon_months_;
  PeriodicWorker worker_;
};

}  // namespace rtjobs
