// The jobs a transfer's next occurrences become: shared by transfer creation and job
// completion, so both extend a transfer up to the horizon the same way.
#pragma once

#include <optional>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/model.hpp"
#include "schedule/calendar.hpp"
#include "schedule/recurrence.hpp"

namespace rtjobs {

struct OccurrencePlan;  // store/store.hpp

struct NextOccurrences {
  std::vector<Job> jobs;  // PENDING jobs with sequence > transfer.last_sequence, due by the horizon
  bool exhausted = false;  // no occurrence exists after the last of these (or the last existing)
  std::optional<Timestamp>
      next_due_at;  // due_at of the first occurrence not created; none if exhausted
};

// Occurrences after transfer.last_sequence whose due_at is within `horizon_months` of now.
Result<NextOccurrences> next_occurrences(const RecurringTransfer& transfer,
                                         const CalendarSet& calendars, Timestamp now,
                                         int horizon_months);

// Store::patch_transfer's plan of a transfer whose schedule end changed (`transfer` has the new
// end and its last_sequence as locked): how many of its created occurrences the new end keeps,
// then the next ones up to the horizon, as next_occurrences plans them.
Result<OccurrencePlan> replan_occurrences(const RecurringTransfer& transfer,
                                          const CalendarSet& calendars, Timestamp now,
                                          int horizon_months);

// The transfer's next `count` occurrences due after `now`, in sequence order, computed from its
// schedule whatever the horizon (jobs created or not): fewer when the schedule ends first
// (count, end_date), none for a CANCELLED or COMPLETED transfer. The first is found by a
// search over sequences (due_at never decreases with the sequence), so a transfer running for
// years costs a few dozen look-ups, not one per past occurrence.
Result<std::vector<Occurrence>> upcoming_occurrences(const RecurringTransfer& transfer,
                                                     const CalendarSet& calendars, Timestamp now,
                                                     int count);

// The idempotency key of a transfer's n-th occurrence: stable for the job's life and derived
// from (transfer, sequence), so even a duplicated job row could not move money twice.
std::string job_idempotency_key(const std::string& transfer_id, int64_t sequence);

// t + months, on the same day of month and time (clamped to the month's last day).
Timestamp add_months(Timestamp t, int months);

}  // namespace rtjobs
