// Store conformance (conformance.hpp): the operator console's overview reads, count_outcomes
// and count_in_flight.
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "conformance.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

TEST_P(StoreConformance, CountOutcomesByHourStatusAndResult) {
  const Timestamp hour = std::chrono::floor<std::chrono::hours>(kT0);
  RecurringTransfer t = transfer();
  struct Row {
    JobStatus status;
    std::optional<JobResult> result;
    std::optional<Timestamp> finished_at;
  };
  const std::vector<Row> rows = {
      {JobStatus::kFinished, JobResult::kSucceeded, hour + 1min},
      {JobStatus::kFinished, JobResult::kSucceeded, hour + 59min + 59s},
      {JobStatus::kFinished, JobResult::kDeclined, hour + 2min},
      {JobStatus::kFailed, std::nullopt, hour + 1h + 5min},
      {JobStatus::kSkipped, std::nullopt, hour + 2h},
      {JobStatus::kFinished, JobResult::kSucceeded, hour - 1ms},  // before `since`
      {JobStatus::kPending, std::nullopt, std::nullopt},
      {JobStatus::kPending, std::nullopt, std::nullopt},  // claimed below: at the bank
  };
  std::vector<Job> jobs;
  for (size_t i = 0; i < rows.size(); ++i) {
    Job j = job(t, int64_t(i) + 1, kT0, rows[i].status);
    j.result = rows[i].result;
    j.finished_at = rows[i].finished_at;
    jobs.push_back(j);
  }
  t.last_sequence = int64_t(jobs.size());
  ASSERT_TRUE(store_->create_transfer(t, jobs));
  ASSERT_EQ(claim(jobs.back().id, kT0).status, ClaimStatus::kClaimed);

  auto counts = store_->count_outcomes(hour);
  ASSERT_TRUE(counts) << counts.error().message;
  using Key = std::tuple<Timestamp, JobStatus, std::optional<JobResult>, int64_t>;
  std::vector<Key> got;
  for (const auto& c : *counts) got.emplace_back(c.hour, c.status, c.result, c.count);
  std::sort(got.begin(), got.end());
  std::vector<Key> want = {
      {hour, JobStatus::kFinished, JobResult::kSucceeded, 2},
      {hour, JobStatus::kFinished, JobResult::kDeclined, 1},
      {hour + 1h, JobStatus::kFailed, std::nullopt, 1},
      {hour + 2h, JobStatus::kSkipped, std::nullopt, 1},
  };
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_TRUE(store_->count_outcomes(hour + 3h).value().empty());

  EXPECT_EQ(store_->count_in_flight(100).value(), 1);
  EXPECT_EQ(store_->count_in_flight(0).value(), 0);  // capped
}

}  // namespace
}  // namespace rtjobs::store_conformance
