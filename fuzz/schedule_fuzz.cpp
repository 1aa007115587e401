// The schedule rules (schedule/recurrence.hpp, calendar.hpp) on a fuzzed schedule: every field
// the API passes on, in and out of its ranges, any time zone or calendar name. Invariants:
//   - make() refuses with a field named "schedule.*", or the schedule's occurrences hold:
//   - at(n) is occurrence n; once there is none, there is none after (count and end_date end a
//     schedule for good), and exhausted_after agrees;
//   - dates and due instants never go backwards;
//   - with a business-day rule the date is a business day of the calendar;
//   - without one, WEEKLY falls on its day_of_week, MONTHLY and YEARLY on their day_of_month
//     (up to the month's end);
//   - due_at is on the scheduled date in the schedule's time zone;
//   - between(n, until) is the run of at(n+1), at(n+2), ... due by `until`.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <date/tz.h>

#include "core/time_format.hpp"
#include "fuzz_check.hpp"
#include "schedule/calendar.hpp"
#include "schedule/recurrence.hpp"

namespace {

using namespace std::chrono;
using rtjobs::Date;

constexpr std::array kZones = {
    "UTC",          "America/New_York", "Europe/London",  "Australia/Lord_Howe",
    "Pacific/Apia", "America/Santiago", "Asia/Kathmandu", "America/Havana"};
constexpr std::array kCalendars = {"WEEKENDS", "US_FEDERAL_RESERVE"};

// An optional int: absent, in the API's range, or any int.
std::optional<int> maybe_int(FuzzedDataProvider& in, int lo, int hi) {
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return std::nullopt;
    case 3:
      return in.ConsumeIntegral<int>();
    default:
      return in.ConsumeIntegralInRange(lo, hi);
  }
}

// A date the API can deliver (years 0000..9999), or any day count.
Date some_date(FuzzedDataProvider& in) {
  constexpr int kFirst = static_cast<int>(sys_days{year{0} / 1 / 1}.time_since_epoch().count());
  constexpr int kLast = static_cast<int>(sys_days{year{9999} / 12 / 31}.time_since_epoch().count());
  return Date{days{in.ConsumeIntegralInRange(kFirst, kLast)}};
}

rtjobs::Schedule some_schedule(FuzzedDataProvider& in) {
  rtjobs::Schedule s;
  s.frequency = static_cast<rtjobs::Frequency>(in.ConsumeIntegralInRange(0, 3));
  s.interval = in.ConsumeBool() ? in.ConsumeIntegralInRange(1, 1000) : in.ConsumeIntegral<int>();
  s.day_of_week = maybe_int(in, 1, 7);
  s.day_of_month = maybe_int(in, -5, 31);
  s.month = maybe_int(in, 1, 12);
  s.start_date = some_date(in);
  if (in.ConsumeBool()) s.end_date = s.start_date + days{in.ConsumeIntegralInRange(-10, 4000)};
  s.count = maybe_int(in, 1, 100000);
  s.timezone = in.ConsumeBool() ? kZones[in.ConsumeIntegralInRange<size_t>(0, kZones.size() - 1)]
                                : in.ConsumeRandomLengthString(40);
  s.execution_minutes =
      in.ConsumeBool() ? in.ConsumeIntegralInRange(0, 24 * 60 - 1) : in.ConsumeIntegral<int>();
  s.business_day = static_cast<rtjobs::BusinessDay>(in.ConsumeIntegralInRange(0, 3));
  s.calendar = in.ConsumeBool()
                   ? kCalendars[in.ConsumeIntegralInRange<size_t>(0, kCalendars.size() - 1)]
                   : in.ConsumeRandomLengthString(20);
  return s;
}

int day_of(Date d) { return static_cast<int>(static_cast<unsigned>(year_month_day{d}.day())); }

// Where a day_of_month rule lands in d's month.
int expected_day(Date d, int day_of_month) {
  year_month_day ymd{d};
  int last_day = static_cast<int>(static_cast<unsigned>((ymd.year() / ymd.month() / last).day()));
  return day_of_month > 0 ? std::min(day_of_month, last_day) : last_day + day_of_month + 1;
}

// The schedule and its window on stderr, when RTJOBS_FUZZ_VERBOSE is set (to read a crash).
void describe(const rtjobs::Schedule& s, int64_t first, int64_t last_n) {
  if (!std::getenv("RTJOBS_FUZZ_VERBOSE")) return;
  auto opt = [](const std::optional<int>& v) { return v ? std::to_string(*v) : "-"; };
  std::fprintf(stderr,
               "%s interval=%d dow=%s dom=%s month=%s start=%s end=%s count=%s tz=%s at=%d "
               "rule=%s calendar=%s window=%lld..%lld\n",
               std::string(rtjobs::to_string(s.frequency)).c_str(), s.interval,
               opt(s.day_of_week).c_str(), opt(s.day_of_month).c_str(), opt(s.month).c_str(),
               rtjobs::format_date(s.start_date).c_str(),
               s.end_date ? rtjobs::format_date(*s.end_date).c_str() : "-", opt(s.count).c_str(),
               s.timezone.c_str(), s.execution_minutes,
               std::string(rtjobs::to_string(s.business_day)).c_str(), s.calendar.c_str(),
               static_cast<long long>(first), static_cast<long long>(last_n));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const rtjobs::CalendarSet calendars = rtjobs::CalendarSet::builtin();
  FuzzedDataProvider in(data, size);
  const rtjobs::Schedule s = some_schedule(in);
  auto r = rtjobs::Recurrence::make(s, calendars);
  if (!r) {
    FUZZ_CHECK(r.error().field.starts_with("schedule."));
    return 0;
  }
  const rtjobs::Calendar* calendar = calendars.find(s.calendar);
  FUZZ_CHECK(calendar != nullptr);

  // A window of occurrences somewhere along the schedule, within the periods of 10,000 years
  // (the horizon never asks for more; count bounds the sequence to 100,000).
  const int64_t periods = std::array<int64_t, 4>{3'650'000, 520'000, 120'000, 10'000}.at(
                              static_cast<size_t>(s.frequency)) /
                          s.interval;
  const int64_t first = in.ConsumeIntegralInRange<int64_t>(1, std::min<int64_t>(periods, 100001));
  const int64_t n_last =
      std::min(first + in.ConsumeIntegralInRange<int64_t>(0, 40), std::max(first, periods));
  describe(s, first, n_last);
  std::optional<rtjobs::Occurrence> previous;
  bool ended = false;
  for (int64_t n = first; n <= n_last; ++n) {
    auto o = r->at(n);
    FUZZ_CHECK(r->exhausted_after(n - 1) == !o.has_value());
    if (!o) {
      ended = true;
      continue;
    }
    FUZZ_CHECK(!ended);
    FUZZ_CHECK(o->sequence == n);
    FUZZ_CHECK(!s.count || n <= *s.count);
    if (std::getenv("RTJOBS_FUZZ_VERBOSE")) {
      std::fprintf(stderr, "  %lld: %s due %s\n", static_cast<long long>(n),
                   rtjobs::format_date(o->scheduled_for).c_str(),
                   rtjobs::format_timestamp(o->due_at).c_str());
    }
    if (previous) {
      FUZZ_CHECK(o->scheduled_for >= previous->scheduled_for);
      FUZZ_CHECK(o->due_at >= previous->due_at);
    }
    if (s.business_day != rtjobs::BusinessDay::kNone) {
      FUZZ_CHECK(calendar->is_business_day(o->scheduled_for));
    } else if (s.frequency == rtjobs::Frequency::kWeekly && s.day_of_week) {
      FUZZ_CHECK(static_cast<int>(weekday{o->scheduled_for}.iso_encoding()) == *s.day_of_week);
    } else if (s.frequency != rtjobs::Frequency::kDaily &&
               s.frequency != rtjobs::Frequency::kWeekly && s.day_of_month) {
      FUZZ_CHECK(day_of(o->scheduled_for) == expected_day(o->scheduled_for, *s.day_of_month));
    }
    // due_at falls on scheduled_for, except when that local time is inside a DST gap: it moves
    // forward by the gap (recurrence.cpp), which may cross midnight (America/Santiago, 1947).
    const date::local_time<std::chrono::minutes> local{o->scheduled_for.time_since_epoch() +
                                                       std::chrono::minutes{s.execution_minutes}};
    const bool in_gap =
        date::locate_zone(s.timezone)->get_info(local).result == date::local_info::nonexistent;
    FUZZ_CHECK(r->local_date(o->due_at) == o->scheduled_for || in_gap);
    previous = o;
  }

  if (previous) {
    auto listed = r->between(first - 1, previous->due_at);
    FUZZ_CHECK(listed.size() >= static_cast<size_t>(previous->sequence - first + 1));
    for (size_t i = 0; i < listed.size(); ++i) {
      auto o = r->at(first + static_cast<int64_t>(i));
      FUZZ_CHECK(o && o->scheduled_for == listed[i].scheduled_for && o->due_at == listed[i].due_at);
      FUZZ_CHECK(listed[i].due_at <= previous->due_at);
    }
  }
  return 0;
}
