// The seed's backup rules (SPEC section 6) as pure functions of the clock, so each is tested
// exactly.
//
// - Months passed: with a saved timestamp `last`, a run at `now` goes ahead when now's UTC date
//   is on or after last's UTC date plus RT_MONTHLY_BACKUP months (the day clamped to the month's
//   end: Jan 31 + 1 month = Feb 28/29). Dates, not instants: the midnight cron fires a few
//   milliseconds late or early, and a month must not turn into a month and a day because of it.
// - Cutoff: jobs are eligible when scheduled_for < cutoff, cutoff = now's UTC date minus
//   RT_BACKUP_BEFORE_MONTHS months (day clamped). A run on 2026-11-28 with 3 backs up jobs
//   scheduled on 2026-08-27 and before: "more than 3 months before the run".
// - Keys: {table}/{YYYY}/{MM}/{table}-{run stamp}.csv under the store's prefix, with the run's UTC
//   year and month and the run stamp 20261128T000000.123Z (ISO 8601 basic form with
//   milliseconds: no ':' in keys, and two runs within a second still get distinct keys).
//
// Thread-safe (pure).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace rtjobs::backup {

struct BackupPolicy {
  int monthly_backup = 1;        // RT_MONTHLY_BACKUP
  int backup_before_months = 3;  // RT_BACKUP_BEFORE_MONTHS
};

// `d` plus `months` (may be negative), the day clamped to the target month's last day.
Date add_months(Date d, int months);

bool months_passed(Timestamp last, Timestamp now, int months);
Date cutoff_date(Timestamp now, int before_months);
std::string run_stamp(Timestamp now);
std::string object_key(std::string_view table, Timestamp now);

}  // namespace rtjobs::backup
