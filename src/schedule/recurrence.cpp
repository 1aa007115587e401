#include "schedule/recurrence.hpp"

#include <date/tz.h>

#include <algorithm>

namespace rtjobs {
namespace {

using namespace std::chrono;

// Days 1..31 fall back to the month's last day; -1..-5 count back from it.
Date resolve_day(year y, month m, int day_of_month) {
  auto last_day = static_cast<int>(static_cast<unsigned>((y / m / last).day()));
  int d = day_of_month > 0 ? std::min(day_of_month, last_day) : last_day + day_of_month + 1;
  return sys_days{y / m / day{static_cast<unsigned>(d)}};
}

int iso_weekday(Date d) { return static_cast<int>(weekday{d}.iso_encoding()); }

Result<void> validate(const Schedule& s) {
  if (s.interval < 1 || s.interval > 1000) {
    return invalid("schedule.interval", "must be an integer from 1 to 1000");
  }
  bool weekly = s.frequency == Frequency::kWeekly;
  bool monthly = s.frequency == Frequency::kMonthly;
  bool yearly = s.frequency == Frequency::kYearly;
  if (s.day_of_week && !weekly) {
    return invalid("schedule.day_of_week", "applies only to WEEKLY schedules");
  }
  if (s.day_of_week && (*s.day_of_week < 1 || *s.day_of_week > 7)) {
    return invalid("schedule.day_of_week", "must be 1 (Monday) to 7 (Sunday)");
  }
  if (s.day_of_month && !monthly && !yearly) {
    return invalid("schedule.day_of_month", "applies only to MONTHLY and YEARLY schedules");
  }
  if (s.day_of_month && (*s.day_of_month == 0 || *s.day_of_month > 31 || *s.day_of_month < -5)) {
    return invalid("schedule.day_of_month", "must be 1 to 31, or -1 to -5 from the month's end");
  }
  if (s.month && !yearly) return invalid("schedule.month", "applies only to YEARLY schedules");
  if (s.month && (*s.month < 1 || *s.month > 12)) {
    return invalid("schedule.month", "must be 1 to 12");
  }
  if (s.end_date && *s.end_date < s.start_date) {
    return invalid("schedule.end_date", "must not be before start_date");
  }
  if (s.count && (*s.count < 1 || *s.count > 100000)) {
    return invalid("schedule.count", "must be an integer from 1 to 100000");
  }
  if (s.execution_minutes < 0 || s.execution_minutes >= 24 * 60) {
    return invalid("schedule.execution_time", "must be a local time HH:MM");
  }
  return {};
}

}  // namespace

Result<Recurrence> Recurrence::make(const Schedule& schedule, const CalendarSet& calendars) {
  if (auto ok = validate(schedule); !ok) return std::unexpected(ok.error());
  Recurrence r;
  r.schedule_ = schedule;
  try {
    r.zone_ = date::locate_zone(schedule.timezone);
  } catch (const std::exception&) {
    return invalid("schedule.timezone", "unknown IANA time zone '" + schedule.timezone + "'");
  }
  r.calendar_ = calendars.find(schedule.calendar);
  if (!r.calendar_) {
    return invalid("schedule.calendar", "unknown calendar '" + schedule.calendar + "'");
  }
  year_month_day start{schedule.start_date};
  Schedule& s = r.schedule_;
  switch (s.frequency) {
    case Frequency::kDaily:
      break;
    case Frequency::kWeekly:
      if (!s.day_of_week) s.day_of_week = iso_weekday(s.start_date);
      break;
    case Frequency::kYearly:
      if (!s.month) s.month = static_cast<int>(static_cast<unsigned>(start.month()));
      [[fallthrough]];
    case Frequency::kMonthly:
      if (!s.day_of_month) s.day_of_month = static_cast<int>(static_cast<unsigned>(start.day()));
      break;
  }
  r.first_period_offset_ = 0;
  if (auto first = r.unadjusted(1); first && *first < schedule.start_date) {
    r.first_period_offset_ = 1;
  }
  return r;
}

// The rule's date in period (sequence - 1 + offset), before end_date/count and adjustment.
std::optional<Date> Recurrence::unadjusted(int64_t sequence) const {
  const Schedule& s = schedule_;
  int64_t period = (sequence - 1 + first_period_offset_) * s.interval;
  year_month_day start{s.start_date};
  switch (s.frequency) {
    case Frequency::kDaily:
      return s.start_date + days{period};
    case Frequency::kWeekly: {
      Date monday = s.start_date - days{iso_weekday(s.start_date) - 1};
      return monday + days{period * 7 + (*s.day_of_week - 1)};
    }
    case Frequency::kMonthly: {
      year_month ym = start.year() / start.month() + months{period};
      return resolve_day(ym.year(), ym.month(), *s.day_of_month);
    }
    case Frequency::kYearly:
      return resolve_day(start.year() + years{period}, month{static_cast<unsigned>(*s.month)},
                         *s.day_of_month);
  }
  return std::nullopt;
}

std::optional<Occurrence> Recurrence::at(int64_t sequence) const {
  if (sequence < 1) return std::nullopt;
  if (schedule_.count && sequence > *schedule_.count) return std::nullopt;
  auto date = unadjusted(sequence);
  if (!date || (schedule_.end_date && *date > *schedule_.end_date)) return std::nullopt;
  Date scheduled = adjust(*date, schedule_.business_day, *calendar_);
  return Occurrence{sequence, scheduled, due_at(scheduled), *date};
}

std::vector<Occurrence> Recurrence::between(int64_t after_sequence, Timestamp until) const {
  std::vector<Occurrence> out;
  for (int64_t n = after_sequence + 1;; ++n) {
    auto occurrence = at(n);
    if (!occurrence || occurrence->due_at > until) break;
    out.push_back(*occurrence);
  }
  return out;
}

// A local time inside a DST gap is read with the offset in force before the gap, which moves it
// forward by the gap's length (02:30 on a spring-forward night becomes 03:30), as RFC 5545 does;
// an ambiguous time takes its first occurrence.
Timestamp Recurrence::due_at(Date local_date) const {
  const auto* zone = static_cast<const date::time_zone*>(zone_);
  date::local_seconds local{
      seconds{static_cast<int64_t>(local_date.time_since_epoch().count()) * 86400 +
              schedule_.execution_minutes * 60}};
  auto info = zone->get_info(local);
  seconds utc = local.time_since_epoch() - info.first.offset;
  return Timestamp{duration_cast<milliseconds>(utc)};
}

Date Recurrence::local_date(Timestamp t) const {
  const auto* zone = static_cast<const date::time_zone*>(zone_);
  auto info = zone->get_info(date::sys_seconds{floor<seconds>(t.time_since_epoch())});
  seconds local = floor<seconds>(t.time_since_epoch()) + info.offset;
  return Date{floor<days>(local)};
}

}  // namespace rtjobs
