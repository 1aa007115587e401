// Recurrence: the occurrences of a transfer's schedule (SPEC section 3). Occurrence n (1-based)
// is the n-th date matching the rule on or after start_date, every `interval` periods; end_date
// and count bound the unadjusted dates; the business-day rule then moves the date
// (scheduled_for), and due_at is scheduled_for at execution_time in the schedule's time zone,
// as UTC (a time inside a DST gap moves forward).
//
// Every period holds exactly one candidate date (days 29-31 and -1..-5 fall back inside short
// months), so the n-th occurrence is computed directly, not by walking from the start.
// Immutable once made; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/model.hpp"
#include "schedule/calendar.hpp"

namespace rtjobs {

struct Occurrence {
  int64_t sequence = 0;
  Date scheduled_for{};  // after the business-day rule
  Timestamp due_at{};
  Date unadjusted{};  // the date the rule gives, before the business-day rule
};

class Recurrence {
 public:
  // Validates the schedule (fields named as "schedule.FIELD") and resolves its time zone and
  // calendar. `calendars` must outlive the Recurrence.
  static Result<Recurrence> make(const Schedule& schedule, const CalendarSet& calendars);

  // The occurrence with this sequence, or nullopt past count/end_date.
  std::optional<Occurrence> at(int64_t sequence) const;

  // The occurrences after `after_sequence` whose due_at is <= until, in sequence order.
  std::vector<Occurrence> between(int64_t after_sequence, Timestamp until) const;

  // The calendar date in the schedule's time zone at instant t.
  Date local_date(Timestamp t) const;

  // True when no occurrence exists after `sequence`.
  bool exhausted_after(int64_t sequence) const { return !at(sequence + 1).has_value(); }

 private:
  Recurrence() = default;
  std::optional<Date> unadjusted(int64_t sequence) const;
  Timestamp due_at(Date local_date) const;

  Schedule schedule_;
  const void* zone_ = nullptr;  // const date::time_zone*, kept out of this header
  const Calendar* calendar_ = nullptr;
  int64_t first_period_offset_ = 0;  // 1 when the first period's date falls before start_date
};

}  // namespace rtjobs
