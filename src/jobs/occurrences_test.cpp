// upcoming_occurrences: the next occurrences after an instant, checked against Recurrence::at
// (the schedule's own rule) and against dates worked out by hand.
#include "jobs/occurrences.hpp"

#include <gtest/gtest.h>

#include "core/time_format.hpp"
#include "store/store.hpp"

namespace rtjobs {
namespace {

Date d(const char* s) { return *parse_date(s); }
Timestamp ts(const char* s) { return *parse_timestamp(s); }

const CalendarSet& calendars() {
  static const CalendarSet set = CalendarSet::builtin();
  return set;
}

// Monthly on the last day at 09:30 New York time, following business day.
RecurringTransfer last_day_monthly() {
  RecurringTransfer t;
  t.id = std::string("t");  // not = "t": GCC bug 105329 (-Wrestrict) at -O3
  t.status = TransferStatus::kActive;
  t.schedule.frequency = Frequency::kMonthly;
  t.schedule.day_of_month = -1;
  t.schedule.start_date = d("2026-01-01");
  t.schedule.timezone = "America/New_York";
  t.schedule.execution_minutes = 9 * 60 + 30;
  t.schedule.business_day = BusinessDay::kFollowing;
  return t;
}

std::vector<std::string> dates(const std::vector<Occurrence>& list, bool adjusted) {
  std::vector<std::string> out;
  out.reserve(list.size());
  for (const Occurrence& o : list) {
    out.push_back(format_date(adjusted ? o.scheduled_for : o.unadjusted));
  }
  return out;
}

using V = std::vector<std::string>;

TEST(UpcomingOccurrences, StartAfterNowAndApplyTheBusinessDayRule) {
  auto list = upcoming_occurrences(last_day_monthly(), calendars(), ts("2026-04-15T12:00:00Z"), 4);
  ASSERT_TRUE(list) << list.error().message;
  // 2026-05-31 is a Sunday (-> June 1), 2026-06-30 a Tuesday, 2026-07-31 a Friday.
  EXPECT_EQ(dates(*list, false), (V{"2026-04-30", "2026-05-31", "2026-06-30", "2026-07-31"}));
  EXPECT_EQ(dates(*list, true), (V{"2026-04-30", "2026-06-01", "2026-06-30", "2026-07-31"}));
  EXPECT_EQ((*list)[0].sequence, 4);
  EXPECT_EQ(format_timestamp((*list)[1].due_at), "2026-06-01T13:30:00.000Z");  // EDT
}

TEST(UpcomingOccurrences, AnOccurrenceDueExactlyNowIsNotNext) {
  RecurringTransfer t = last_day_monthly();
  auto first = upcoming_occurrences(t, calendars(), ts("2026-01-01T00:00:00Z"), 1);
  ASSERT_TRUE(first && first->size() == 1);
  auto list = upcoming_occurrences(t, calendars(), first->front().due_at, 1);
  ASSERT_TRUE(list && list->size() == 1);
  EXPECT_EQ(list->front().sequence, first->front().sequence + 1);
}

TEST(UpcomingOccurrences, AgreeWithTheScheduleFarBeyondAnyHorizon) {
  RecurringTransfer t = last_day_monthly();
  t.schedule.frequency = Frequency::kDaily;
  t.schedule.day_of_month.reset();
  auto recurrence = Recurrence::make(t.schedule, calendars());
  ASSERT_TRUE(recurrence) << recurrence.error().message;
  // Years on: the first listed is the first whose due_at is after now, then every one after.
  Timestamp now = ts("2031-03-07T10:00:00Z");
  auto list = upcoming_occurrences(t, calendars(), now, 100);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 100u);
  int64_t first = list->front().sequence;
  EXPECT_GT(list->front().due_at, now);
  EXPECT_LE(recurrence->at(first - 1)->due_at, now);
  for (size_t i = 0; i < list->size(); ++i) {
    EXPECT_EQ((*list)[i].sequence, first + static_cast<int64_t>(i));
    EXPECT_EQ((*list)[i].due_at, recurrence->at(first + static_cast<int64_t>(i))->due_at);
  }
}

TEST(UpcomingOccurrences, StopAtCountAndEndDate) {
  RecurringTransfer t = last_day_monthly();
  t.schedule.count = 5;
  auto by_count = upcoming_occurrences(t, calendars(), ts("2026-03-15T00:00:00Z"), 12);
  ASSERT_TRUE(by_count);
  EXPECT_EQ(dates(*by_count, false), (V{"2026-03-31", "2026-04-30", "2026-05-31"}));
  t.schedule.count.reset();
  t.schedule.end_date = d("2026-05-30");
  auto by_end = upcoming_occurrences(t, calendars(), ts("2026-03-15T00:00:00Z"), 12);
  ASSERT_TRUE(by_end);
  EXPECT_EQ(dates(*by_end, false), (V{"2026-03-31", "2026-04-30"}));
  auto after_end = upcoming_occurrences(t, calendars(), ts("2026-06-15T00:00:00Z"), 12);
  ASSERT_TRUE(after_end);
  EXPECT_TRUE(after_end->empty());
}

TEST(UpcomingOccurrences, NoneForACancelledOrCompletedTransfer) {
  for (TransferStatus s : {TransferStatus::kCancelled, TransferStatus::kCompleted}) {
    RecurringTransfer t = last_day_monthly();
    t.status = s;
    auto list = upcoming_occurrences(t, calendars(), ts("2026-03-15T00:00:00Z"), 12);
    ASSERT_TRUE(list);
    EXPECT_TRUE(list->empty()) << to_string(s);
  }
  RecurringTransfer paused = last_day_monthly();
  paused.status = TransferStatus::kPaused;
  auto list = upcoming_occurrences(paused, calendars(), ts("2026-03-15T00:00:00Z"), 2);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 2u);
}

// replan_occurrences: a new schedule end, applied to a transfer whose occurrences 1..6 exist
// (last_sequence 6), planned up to a 3-month horizon from 2026-04-15.
TEST(ReplanOccurrences, AnEarlierEndKeepsTheOccurrencesUpToItAndNothingMore) {
  RecurringTransfer t = last_day_monthly();
  t.last_sequence = 6;
  t.schedule.count = 4;
  auto plan = replan_occurrences(t, calendars(), ts("2026-04-15T12:00:00Z"), 3);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->kept, 4);
  EXPECT_TRUE(plan->new_jobs.empty());
  EXPECT_TRUE(plan->exhausted);
  EXPECT_EQ(plan->next_occurrence_at, std::nullopt);

  t.schedule.count.reset();
  t.schedule.end_date = d("2026-05-30");  // before May's last day: April's is the last
  plan = replan_occurrences(t, calendars(), ts("2026-04-15T12:00:00Z"), 3);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->kept, 4);
  EXPECT_TRUE(plan->exhausted);

  t.schedule.end_date = d("2026-01-30");  // before January's last day: none kept
  plan = replan_occurrences(t, calendars(), ts("2026-04-15T12:00:00Z"), 3);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->kept, 0);
  EXPECT_TRUE(plan->new_jobs.empty());
}

TEST(ReplanOccurrences, ALaterEndAddsTheOccurrencesWithinTheHorizon) {
  RecurringTransfer t = last_day_monthly();
  t.last_sequence = 4;  // up to April, as under count 4
  t.schedule.count = 12;
  auto plan = replan_occurrences(t, calendars(), ts("2026-04-15T12:00:00Z"), 3);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->kept, 4);
  std::vector<int64_t> sequences;
  for (const Job& j : plan->new_jobs) sequences.push_back(j.sequence);
  EXPECT_EQ(sequences, (std::vector<int64_t>{5, 6}));  // May and June; July is past July 15
  EXPECT_EQ(format_date(plan->new_jobs[0].scheduled_for), "2026-06-01");
  EXPECT_FALSE(plan->exhausted);
  ASSERT_TRUE(plan->next_occurrence_at);
  EXPECT_EQ(format_timestamp(*plan->next_occurrence_at), "2026-07-31T13:30:00.000Z");

  t.schedule.count = 6;  // the horizon reaches the end
  plan = replan_occurrences(t, calendars(), ts("2026-04-15T12:00:00Z"), 3);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->new_jobs.size(), 2u);
  EXPECT_TRUE(plan->exhausted);
  EXPECT_EQ(plan->next_occurrence_at, std::nullopt);
}

}  // namespace
}  // namespace rtjobs
