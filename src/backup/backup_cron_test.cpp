#include "backup/backup_cron.hpp"

#include <date/tz.h>
#include <gtest/gtest.h>

#include "core/time_format.hpp"

namespace rtjobs::backup {
namespace {

class FakeLeadership final : public BackupLeadership {
 public:
  explicit FakeLeadership(bool* leading) : leading_(leading) {}
  Result<bool> check() override { return *leading_; }

 private:
  bool* leading_;
};

TEST(BackupCron, RunsOnceAtEachDueTimeWhileLeading) {
  ManualClock clock(*parse_timestamp("2026-11-27T22:00:00.000Z"));
  bool leading = true;
  int runs = 0;
  BackupCron cron(*CronExpression::parse("0 0 * * *"), *find_zone("UTC"), clock,
                  std::make_unique<FakeLeadership>(&leading), [&]() -> Result<BackupResult> {
                    ++runs;
                    return BackupResult{};
                  });
  EXPECT_EQ(format_timestamp(*cron.next_due()), "2026-11-28T00:00:00.000Z");
  cron.tick();
  EXPECT_EQ(runs, 0);
  clock.set(*parse_timestamp("2026-11-28T00:00:00.020Z"));
  cron.tick();
  cron.tick();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(format_timestamp(*cron.next_due()), "2026-11-29T00:00:00.000Z");

  leading = false;  // another instance leads: the due time passes without a run here
  clock.set(*parse_timestamp("2026-11-29T00:00:05.000Z"));
  cron.tick();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(format_timestamp(*cron.next_due()), "2026-11-30T00:00:00.000Z");
}

TEST(BackupCron, FollowsTheConfiguredTimeZone) {
  ManualClock clock(*parse_timestamp("2026-11-28T00:00:00.000Z"));
  bool leading = true;
  BackupCron cron(*CronExpression::parse("0 0 * * *"), *find_zone("Asia/Tokyo"), clock,
                  std::make_unique<FakeLeadership>(&leading),
                  []() -> Result<BackupResult> { return BackupResult{}; });
  EXPECT_EQ(format_timestamp(*cron.next_due()), "2026-11-28T15:00:00.000Z");
}

}  // namespace
}  // namespace rtjobs::backup
