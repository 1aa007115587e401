// Schedule examples against dates worked out by hand from a printed calendar, and properties
// checked over many random schedules.
#include "schedule/recurrence.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "core/time_format.hpp"

namespace rtjobs {
namespace {

Date d(const char* s) { return *parse_date(s); }

Schedule monthly(const char* start, std::optional<int> day_of_month = std::nullopt) {
  Schedule s;
  s.frequency = Frequency::kMonthly;
  s.start_date = d(start);
  s.day_of_month = day_of_month;
  return s;
}

std::vector<std::string> dates(const Schedule& s, int n) {
  static const CalendarSet calendars = CalendarSet::builtin();
  auto r = Recurrence::make(s, calendars);
  EXPECT_TRUE(r.has_value()) << r.error().field << ": " << r.error().message;
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) {
    auto o = r->at(i);
    if (!o) break;
    out.push_back(format_date(o->scheduled_for));
  }
  return out;
}

std::string due(const Schedule& s, int sequence) {
  static const CalendarSet calendars = CalendarSet::builtin();
  return format_timestamp(Recurrence::make(s, calendars)->at(sequence)->due_at);
}

using V = std::vector<std::string>;

TEST(Recurrence, MonthlyDay31FallsBackToTheLastDay) {
  EXPECT_EQ(dates(monthly("2027-01-31"), 4),
            (V{"2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"}));
  EXPECT_EQ(dates(monthly("2028-01-31"), 2), (V{"2028-01-31", "2028-02-29"}));  // leap year
}

TEST(Recurrence, NegativeDaysCountFromTheMonthsEnd) {
  EXPECT_EQ(dates(monthly("2026-12-01", -1), 4),
            (V{"2026-12-31", "2027-01-31", "2027-02-28", "2027-03-31"}));
  EXPECT_EQ(dates(monthly("2027-02-01", -5), 2), (V{"2027-02-24", "2027-03-27"}));
}

TEST(Recurrence, FirstMonthlyDateBeforeStartIsSkipped) {
  EXPECT_EQ(dates(monthly("2026-12-20", 5), 2), (V{"2027-01-05", "2027-02-05"}));
}

TEST(Recurrence, MonthlyIntervalAndCount) {
  Schedule s = monthly("2026-12-15");
  s.interval = 5;
  s.count = 3;
  EXPECT_EQ(dates(s, 10), (V{"2026-12-15", "2027-05-15", "2027-10-15"}));
}

TEST(Recurrence, WeeklyCountsWeeksFromTheStartWeek) {
  Schedule s;
  s.frequency = Frequency::kWeekly;
  s.start_date = d("2026-12-02");  // a Wednesday
  s.day_of_week = 1;
  EXPECT_EQ(dates(s, 2), (V{"2026-12-07", "2026-12-14"}));
  s.interval = 2;  // week 0's Monday (Nov 30) is before the start: week 2 is next
  EXPECT_EQ(dates(s, 2), (V{"2026-12-14", "2026-12-28"}));
  s.day_of_week = std::nullopt;  // defaults to the start date's weekday
  s.interval = 1;
  EXPECT_EQ(dates(s, 2), (V{"2026-12-02", "2026-12-09"}));
}

TEST(Recurrence, DailyWithIntervalCountAndInclusiveEndDate) {
  Schedule s;
  s.frequency = Frequency::kDaily;
  s.start_date = d("2026-12-30");
  s.interval = 3;
  s.count = 4;
  EXPECT_EQ(dates(s, 10), (V{"2026-12-30", "2027-01-02", "2027-01-05", "2027-01-08"}));
  s.count = std::nullopt;
  s.interval = 1;
  s.end_date = d("2027-01-01");
  EXPECT_EQ(dates(s, 10), (V{"2026-12-30", "2026-12-31", "2027-01-01"}));
}

TEST(Recurrence, YearlyLeapDayFallsBack) {
  Schedule s;
  s.frequency = Frequency::kYearly;
  s.start_date = d("2028-02-29");
  EXPECT_EQ(dates(s, 5), (V{"2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"}));
}

TEST(Recurrence, YearlyMonthBeforeStartGoesToNextYear) {
  Schedule s;
  s.frequency = Frequency::kYearly;
  s.start_date = d("2026-12-01");
  s.month = 3;
  s.day_of_month = 10;
  EXPECT_EQ(dates(s, 2), (V{"2027-03-10", "2028-03-10"}));
}

TEST(Recurrence, BusinessDayConventions) {
  Schedule s = monthly("2027-01-31");  // 2027-01-31 is a Sunday
  s.count = 1;
  s.business_day = BusinessDay::kFollowing;
  EXPECT_EQ(dates(s, 1), (V{"2027-02-01"}));
  s.business_day = BusinessDay::kModifiedFollowing;  // following leaves the month: go back
  EXPECT_EQ(dates(s, 1), (V{"2027-01-29"}));
  s.business_day = BusinessDay::kPreceding;
  EXPECT_EQ(dates(s, 1), (V{"2027-01-29"}));
}

TEST(Calendar, FederalReserveHolidaysAndObservedDates) {
  auto set = CalendarSet::builtin();
  const Calendar& fed = *set.find("US_FEDERAL_RESERVE");
  EXPECT_FALSE(fed.is_business_day(d("2026-11-26")));  // Thanksgiving 2026
  EXPECT_FALSE(fed.is_business_day(d("2027-01-18")));  // MLK day 2027
  EXPECT_FALSE(fed.is_business_day(d("2027-07-05")));  // July 4 2027 is a Sunday: Monday off
  EXPECT_TRUE(fed.is_business_day(d("2027-12-24")));   // Christmas on Saturday: Friday open
  EXPECT_FALSE(fed.is_business_day(d("2022-06-20")));  // Juneteenth 2022 observed
  EXPECT_TRUE(fed.is_business_day(d("2021-06-18")));   // before the Fed observed it
  EXPECT_TRUE(fed.is_business_day(d("2027-07-06")));
  EXPECT_EQ(format_date(adjust(d("2027-07-04"), BusinessDay::kFollowing, fed)), "2027-07-06");
  const Calendar& weekends = *set.find("WEEKENDS");
  EXPECT_TRUE(weekends.is_business_day(d("2027-07-05")));
}

TEST(Recurrence, DueAtFollowsTheTimeZoneAndDaylightSaving) {
  Schedule s;
  s.frequency = Frequency::kDaily;
  s.start_date = d("2027-03-13");
  s.timezone = "America/New_York";
  s.execution_minutes = 2 * 60 + 30;
  EXPECT_EQ(due(s, 1), "2027-03-13T07:30:00.000Z");  // EST
  EXPECT_EQ(due(s, 2), "2027-03-14T07:30:00.000Z");  // 02:30 does not exist: 03:30 EDT
  EXPECT_EQ(due(s, 3), "2027-03-15T06:30:00.000Z");  // EDT
  s.start_date = d("2027-11-07");
  s.execution_minutes = 60 + 30;  // 01:30 happens twice: the first
  EXPECT_EQ(due(s, 1), "2027-11-07T05:30:00.000Z");
  s.timezone = "Europe/Berlin";
  s.execution_minutes = 9 * 60;
  s.start_date = d("2027-01-15");
  EXPECT_EQ(due(s, 1), "2027-01-15T08:00:00.000Z");
  s.start_date = d("2027-07-15");
  EXPECT_EQ(due(s, 1), "2027-07-15T07:00:00.000Z");
}

TEST(Recurrence, RejectsBadFieldsNamingThem) {
  auto calendars = CalendarSet::builtin();
  auto field_of = [&](const Schedule& s) {
    auto r = Recurrence::make(s, calendars);
    return r ? std::string("ok") : r.error().field;
  };
  Schedule s = monthly("2027-01-01");
  EXPECT_EQ(field_of(s), "ok");
  s.interval = 0;
  EXPECT_EQ(field_of(s), "schedule.interval");
  s = monthly("2027-01-01", 32);
  EXPECT_EQ(field_of(s), "schedule.day_of_month");
  s = monthly("2027-01-01", -6);
  EXPECT_EQ(field_of(s), "schedule.day_of_month");
  s = monthly("2027-01-01");
  s.day_of_week = 3;
  EXPECT_EQ(field_of(s), "schedule.day_of_week");
  s = monthly("2027-01-01");
  s.timezone = "Mars/Olympus";
  EXPECT_EQ(field_of(s), "schedule.timezone");
  s = monthly("2027-01-01");
  s.calendar = "NOPE";
  EXPECT_EQ(field_of(s), "schedule.calendar");
  s = monthly("2027-01-01");
  s.end_date = d("2026-12-31");
  EXPECT_EQ(field_of(s), "schedule.end_date");
}

// Properties over random schedules: occurrences in order, never on a non-business day when
// adjustment is on, count and end_date respected, the rule's day kept when not adjusted.
TEST(RecurrenceProperties, RandomSchedules) {
  std::mt19937 rng(20261128);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto calendars = CalendarSet::builtin();
  const char* zones[] = {"UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata",
                         "Australia/Sydney"};
  const char* cals[] = {"WEEKENDS", "US_FEDERAL_RESERVE"};
  for (int round = 0; round < 2000; ++round) {
    Schedule s;
    s.frequency = static_cast<Frequency>(pick(0, 3));
    s.interval = pick(1, 4);
    s.start_date = d("2026-01-01") + std::chrono::days{pick(0, 1500)};
    if (s.frequency == Frequency::kWeekly && pick(0, 1)) s.day_of_week = pick(1, 7);
    if (s.frequency == Frequency::kMonthly || s.frequency == Frequency::kYearly) {
      if (pick(0, 1)) s.day_of_month = pick(0, 1) ? pick(1, 31) : -pick(1, 5);
    }
    if (s.frequency == Frequency::kYearly && pick(0, 1)) s.month = pick(1, 12);
    if (pick(0, 1)) s.count = pick(1, 30);
    if (pick(0, 1)) s.end_date = s.start_date + std::chrono::days{pick(0, 2000)};
    s.timezone = zones[pick(0, 4)];
    s.execution_minutes = pick(0, 1439);
    s.business_day = static_cast<BusinessDay>(pick(0, 3));
    s.calendar = cals[pick(0, 1)];
    SCOPED_TRACE("round " + std::to_string(round));
    auto r = Recurrence::make(s, calendars);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const Calendar& calendar = *calendars.find(s.calendar);
    std::optional<Occurrence> previous;
    int n = 0;
    for (int64_t i = 1; i <= 40; ++i) {
      auto o = r->at(i);
      if (!o) break;
      ++n;
      if (s.business_day != BusinessDay::kNone) {
        EXPECT_TRUE(calendar.is_business_day(o->scheduled_for)) << format_date(o->scheduled_for);
      } else {
        EXPECT_GE(o->scheduled_for, s.start_date);
        if (s.end_date) {
          EXPECT_LE(o->scheduled_for, *s.end_date);
        }
        if (s.day_of_month && *s.day_of_month > 0 && *s.day_of_month <= 28) {
          EXPECT_EQ(static_cast<unsigned>(std::chrono::year_month_day{o->scheduled_for}.day()),
                    static_cast<unsigned>(*s.day_of_month));
        }
      }
      if (previous) {
        EXPECT_GE(o->scheduled_for, previous->scheduled_for);
        EXPECT_GE(o->due_at, previous->due_at);
      }
      previous = o;
    }
    if (s.count) {
      EXPECT_LE(n, *s.count);
    }
    // between() lists exactly the occurrences due by its bound, in order.
    Timestamp bound{d("2040-01-01")};
    auto listed = r->between(0, bound);
    for (int64_t i = 1; i <= 41; ++i) {
      auto o = r->at(i);
      bool due_by_bound = o && o->due_at <= bound;
      ASSERT_EQ(due_by_bound, static_cast<int64_t>(listed.size()) >= i);
      if (!due_by_bound) break;
      EXPECT_EQ(listed[i - 1].due_at, o->due_at);
    }
  }
}

}  // namespace
}  // namespace rtjobs

namespace rtjobs {
namespace {

TEST(Calendar, HolidayFilesAddTheirDatesAndReportBadLines) {
  std::string path = ::testing::TempDir() + "/rtjobs-holidays.txt";
  {
    std::ofstream f(path);
    f << "# bank holidays\n2027-02-01\n\n2027-02-02  # tuesday too\n";
  }
  auto set = CalendarSet::make({{"MY_BANK", path}});
  ASSERT_TRUE(set.has_value()) << set.error().message;
  const Calendar& mine = *set->find("MY_BANK");
  EXPECT_FALSE(mine.is_business_day(d("2027-02-01")));
  EXPECT_FALSE(mine.is_business_day(d("2027-01-30")));  // Saturdays stay non-business days
  Schedule s = monthly("2027-01-31");                   // a Sunday
  s.business_day = BusinessDay::kFollowing;
  s.calendar = "MY_BANK";
  s.count = 1;
  auto r = Recurrence::make(s, *set);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(format_date(r->at(1)->scheduled_for), "2027-02-03");

  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("2027-02-30\n", f);
    std::fclose(f);
  }
  auto bad = CalendarSet::make({{"MY_BANK", path}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().field, "calendars.MY_BANK");
  EXPECT_NE(bad.error().message.find(":1:"), std::string::npos);
  EXPECT_FALSE(CalendarSet::make({{"GONE", "/nonexistent/file"}}).has_value());
}

}  // namespace
}  // namespace rtjobs
