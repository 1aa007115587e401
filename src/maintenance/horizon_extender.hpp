// HorizonExtender: keeps every ACTIVE or PAUSED transfer's occurrences created up to the horizon
// (RT_HORIZON_MONTHS), for transfers whose jobs finish rarely (a yearly schedule, a paused
// transfer) and so are not extended by job completions. Each transfer stores the due time of
// its first occurrence not yet created (next_occurrence_at), so a pass reads only the transfers
// that need it. Inserts never duplicate a job; concurrent extenders are harmless.
//
// An occurrence usually enters the horizon at the moment the transfer's current job falls due
// (the horizon is whole months ahead), and that job's completion creates it in its own
// transaction (SPEC section 2, step 6). So the extender leaves a transfer alone until its next
// occurrence has been inside the horizon for kCompletionGrace: at a busy due time (thousands
// of jobs due at midnight) it would otherwise repeat, on every one of those transfers and while
// they are being processed, the work their completions do. An occurrence the completions do not
// create (a yearly schedule, a paused transfer, a job still retrying) is created by the
// extender at most kCompletionGrace plus one pass later, still months before it is due.
#pragma once

#include "core/clock.hpp"
#include "maintenance/periodic_worker.hpp"
#include "schedule/calendar.hpp"
#include "store/store.hpp"

namespace rtjobs {

class HorizonExtender {
 public:
  static constexpr std::chrono::minutes kCompletionGrace{10};

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
