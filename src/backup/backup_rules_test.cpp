#include "backup/backup_rules.hpp"

#include <gtest/gtest.h>

#include "core/time_format.hpp"

namespace rtjobs::backup {
namespace {

Timestamp at(std::string_view s) { return *parse_timestamp(s); }

TEST(BackupRules, MonthsPassedCountsCalendarDates) {
  EXPECT_FALSE(months_passed(at("2026-01-31T00:00:00.500Z"), at("2026-02-27T23:59:59.000Z"), 1));
  EXPECT_TRUE(months_passed(at("2026-01-31T00:00:00.500Z"), at("2026-02-28T00:00:00.000Z"), 1));
  // The cron firing a few milliseconds earlier than last time still counts the month.
  EXPECT_TRUE(months_passed(at("2026-01-01T00:00:00.900Z"), at("2027-01-01T00:00:00.100Z"), 12));
  EXPECT_FALSE(months_passed(at("2026-01-01T00:00:00.000Z"), at("2026-12-31T23:59:59.999Z"), 12));
}

TEST(BackupRules, CutoffIsTheRunDateMinusMonthsClamped) {
  EXPECT_EQ(format_date(cutoff_date(at("2026-11-28T00:00:00.000Z"), 3)), "2026-08-28");
  EXPECT_EQ(format_date(cutoff_date(at("2026-05-31T12:00:00.000Z"), 3)), "2026-02-28");
  EXPECT_EQ(format_date(cutoff_date(at("2026-03-15T00:00:00.000Z"), 6)), "2025-09-15");
}

TEST(BackupRules, KeysCarryTheRunsUtcYearMonthAndStamp) {
  EXPECT_EQ(object_key("recurring_transfer_job", at("2026-11-28T00:00:00.123Z")),
            "recurring_transfer_job/2026/11/recurring_transfer_job-20261128T000000.123Z.csv");
}

}  // namespace
}  // namespace rtjobs::backup
