#include "backup/cron.hpp"

#include <date/tz.h>
#include <gtest/gtest.h>

#include "core/time_format.hpp"

namespace rtjobs::backup {
namespace {

std::string next(std::string_view expr, std::string_view after, const std::string& zone = "UTC") {
  auto cron = CronExpression::parse(expr);
  EXPECT_TRUE(cron) << expr;
  auto z = find_zone(zone);
  EXPECT_TRUE(z);
  auto t = cron->next_after(*parse_timestamp(after), *z);
  return t ? format_timestamp(*t) : "none";
}

TEST(Cron, DefaultIsEveryDayAtMidnight) {
  EXPECT_EQ(next("0 0 * * *", "2026-11-28T00:00:00.000Z"), "2026-11-29T00:00:00.000Z");
  EXPECT_EQ(next("0 0 * * *", "2026-11-27T23:59:59.999Z"), "2026-11-28T00:00:00.000Z");
  EXPECT_EQ(next("@daily", "2026-12-31T12:00:00.000Z"), "2027-01-01T00:00:00.000Z");
}

TEST(Cron, ListsRangesStepsAndNames) {
  EXPECT_EQ(next("*/15 * * * *", "2026-11-28T10:07:00.000Z"), "2026-11-28T10:15:00.000Z");
  EXPECT_EQ(next("5,35 1-3 * * *", "2026-11-28T03:40:00.000Z"), "2026-11-29T01:05:00.000Z");
  EXPECT_EQ(next("0 0 1 JAN,jul *", "2026-02-01T00:00:00.000Z"), "2026-07-01T00:00:00.000Z");
  EXPECT_EQ(next("0 12 * * MON-FRI", "2026-11-28T00:00:00.000Z"),  // a Saturday
            "2026-11-30T12:00:00.000Z");
  EXPECT_EQ(next("0 0 * * 7", "2026-11-28T00:00:00.000Z"), "2026-11-29T00:00:00.000Z");
}

TEST(Cron, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // Vixie cron: the 13th OR any Friday.
  EXPECT_EQ(next("0 0 13 * 5", "2026-11-01T00:00:00.000Z"), "2026-11-06T00:00:00.000Z");
  EXPECT_EQ(next("0 0 13 * 5", "2026-11-10T00:00:00.000Z"), "2026-11-13T00:00:00.000Z");
  // With a '*' the other field alone decides.
  EXPECT_EQ(next("0 0 13 * *", "2026-11-01T00:00:00.000Z"), "2026-11-13T00:00:00.000Z");
}

TEST(Cron, RunsInTheConfiguredZone) {
  EXPECT_EQ(next("0 0 * * *", "2026-11-28T00:00:00.000Z", "America/New_York"),
            "2026-11-28T05:00:00.000Z");
  EXPECT_EQ(next("0 0 * * *", "2026-07-01T00:00:00.000Z", "America/New_York"),
            "2026-07-01T04:00:00.000Z");
  // 02:30 does not exist on 2026-03-08 in New York: runs at the jump's end (03:00 EDT).
  EXPECT_EQ(next("30 2 * * *", "2026-03-08T00:00:00.000Z", "America/New_York"),
            "2026-03-08T07:00:00.000Z");
}

TEST(Cron, RejectsBadExpressions) {
  for (auto bad : {"", "0 0 * *", "60 0 * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *",
                   "0 0 * * 8", "*/0 * * * *", "a b c d e", "5-1 * * * *"}) {
    auto r = CronExpression::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().field, "RT_BACKUP_SCHEDULE");
  }
  EXPECT_EQ(next("0 0 30 2 *", "2026-01-01T00:00:00.000Z"), "none");
  EXPECT_FALSE(find_zone("Mars/Olympus"));
}

}  // namespace
}  // namespace rtjobs::backup
