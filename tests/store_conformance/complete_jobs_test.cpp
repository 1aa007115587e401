// Store conformance (conformance.hpp): group commit (complete_jobs): many outcomes in one
// transaction, each written or refused on its own, with or without the written jobs returned.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "conformance.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

// --- Group commit: many outcomes in one transaction ---

TEST_P(StoreConformance, CompleteJobsWritesEachOutcomeIndependently) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0, kT0, kT0, kT0});
  for (int i = 0; i < 4; ++i) ASSERT_EQ(claim(jobs[i].id, kT0).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[4].id, kT0, "stale", 3, 10s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[4].id, kT0 + 10s, "fresh").status, ClaimStatus::kClaimed);
  // Two completions of the same transfer bring overlapping next occurrences.
  Job s6 = job(t, 6, kT0 + 240h);
  Job s7 = job(t, 7, kT0 + 264h);
  Job s7_again = job(t, 7, kT0 + 264h);
  Job s8 = job(t, 8, kT0 + 288h);
  ProviderStatus declined = status_row(jobs[1], 1, kT0 + 11s, 422);
  ProviderStatus unavailable = status_row(jobs[2], 1, kT0 + 11s, 503);
  std::vector<Completion> batch{
      {.job_id = jobs[0].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .provider_reference = "bank-tx-0",
       .new_jobs = {s6, s7},
       .next_occurrence_at = kT0 + 288h},
      {.job_id = jobs[1].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kDeclined,
       .last_error = "insufficient_funds",
       .provider_status = declined,
       .new_jobs = {s7_again, s8},
       .next_occurrence_at = kT0 + 312h},
      {.job_id = jobs[2].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kRetry,
       .retries = 1,
       .next_attempt_at = kT0 + 71s,
       .last_error = "503",
       .provider_status = unavailable},
      {.job_id = jobs[3].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kFailed,
       .retries = 3,
       .last_error = "timeout"},
      {.job_id = jobs[4].id,  // its lease was taken over: writes nothing
       .lease_owner = "stale",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .provider_reference = "late",
       .provider_status = status_row(jobs[4], 1, kT0, 500),
       .new_jobs = {job(t, 9, kT0 + 312h)},
       .schedule_exhausted = true,
       .next_occurrence_at = kT0 + 999h},
  };
  auto r = store_->complete_jobs(batch);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), batch.size());
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*r)[i].status, CompletionStatus::kWritten) << i;
    ASSERT_TRUE((*r)[i].job);
    EXPECT_EQ((*r)[i].job->id, jobs[i].id);  // input order
    expect_same(*(*r)[i].job, get(jobs[i].id));
  }
  Job j0 = get(jobs[0].id);
  EXPECT_EQ(j0.status, JobStatus::kFinished);
  EXPECT_EQ(j0.result, JobResult::kSucceeded);
  EXPECT_EQ(j0.provider_reference, "bank-tx-0");
  EXPECT_EQ(j0.finished_at, kT0 + 11s);
  EXPECT_FALSE(j0.lease_owner);
  EXPECT_TRUE(store_->list_provider_statuses(j0.id).value().empty());
  Job j1 = get(jobs[1].id);
  EXPECT_EQ(j1.result, JobResult::kDeclined);
  auto rows = store_->list_provider_statuses(j1.id).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id, declined.id);
  EXPECT_EQ(rows[0].message, kAwkward);
  Job j2 = get(jobs[2].id);
  EXPECT_EQ(j2.status, JobStatus::kRetry);
  EXPECT_EQ(j2.retries, 1);
  EXPECT_EQ(j2.next_attempt_at, kT0 + 71s);
  EXPECT_FALSE(j2.finished_at);
  EXPECT_EQ(store_->list_provider_statuses(j2.id).value().size(), 1u);
  Job j3 = get(jobs[3].id);
  EXPECT_EQ(j3.status, JobStatus::kFailed);
  EXPECT_EQ(j3.finished_at, kT0 + 11s);
  EXPECT_FALSE(j3.result);

  EXPECT_EQ((*r)[4].status, CompletionStatus::kLeaseLost);
  ASSERT_TRUE((*r)[4].job);  // as found
  EXPECT_EQ((*r)[4].job->status, JobStatus::kProcessing);
  EXPECT_EQ((*r)[4].job->lease_owner, "fresh");
  EXPECT_FALSE(get(jobs[4].id).provider_reference);
  EXPECT_TRUE(store_->list_provider_statuses(jobs[4].id).value().empty());

  auto all = jobs_of(t.id);
  ASSERT_EQ(all.size(), 8u);  // 5 + sequences 6, 7, 8 once each; not 9 (lease lost)
  std::set<int64_t> sequences;
  for (const Job& j : all) sequences.insert(j.sequence);
  EXPECT_EQ(sequences, (std::set<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  expect_same(all[5], s6);
  expect_same(all[6], s7);
  auto stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.last_sequence, 8);
  EXPECT_EQ(stored.next_occurrence_at, kT0 + 312h);
  EXPECT_EQ(stored.status, TransferStatus::kActive);
}

// The loops do not read the written jobs back (return_job = false): the writes are the same,
// only the answer is slimmer; a lost lease still answers with the job as found.
TEST_P(StoreConformance, CompleteJobsWithoutReturningJobsWritesTheSame) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0, kT0, kT0});
  for (int i = 0; i < 3; ++i) ASSERT_EQ(claim(jobs[i].id, kT0).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[3].id, kT0, "stale", 3, 10s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[3].id, kT0 + 10s, "fresh").status, ClaimStatus::kClaimed);
  Job s5 = job(t, 5, kT0 + 240h);
  std::vector<Completion> batch{
      {.job_id = jobs[0].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .provider_reference = "bank-tx-0",
       .new_jobs = {s5},
       .next_occurrence_at = kT0 + 264h,
       .return_job = false},
      {.job_id = jobs[1].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kRetry,
       .retries = 1,
       .next_attempt_at = kT0 + 71s,
       .last_error = "503",
       .provider_status = status_row(jobs[1], 1, kT0 + 11s, 503),
       .return_job = false},
      {.job_id = jobs[3].id,  // its lease was taken over
       .lease_owner = "stale",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .return_job = false},
  };
  auto r = store_->complete_jobs(batch);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].status, CompletionStatus::kWritten);
  EXPECT_FALSE((*r)[0].job);
  EXPECT_EQ((*r)[1].status, CompletionStatus::kWritten);
  EXPECT_FALSE((*r)[1].job);
  EXPECT_EQ((*r)[2].status, CompletionStatus::kLeaseLost);
  ASSERT_TRUE((*r)[2].job);
  EXPECT_EQ((*r)[2].job->lease_owner, "fresh");
  Job j0 = get(jobs[0].id);
  EXPECT_EQ(j0.status, JobStatus::kFinished);
  EXPECT_EQ(j0.provider_reference, "bank-tx-0");
  Job j1 = get(jobs[1].id);
  EXPECT_EQ(j1.status, JobStatus::kRetry);
  EXPECT_EQ(store_->list_provider_statuses(j1.id).value().size(), 1u);
  expect_same(jobs_of(t.id).back(), s5);
  auto stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.last_sequence, 5);
  EXPECT_EQ(stored.next_occurrence_at, kT0 + 264h);

  // A batch where one caller wants its job answers that one with it.
  ASSERT_EQ(claim(jobs[2].id, kT0).status, ClaimStatus::kInProgress);  // still owner-a's
  std::vector<Completion> mixed{
      {.job_id = jobs[2].id,
       .lease_owner = "owner-a",
       .now = kT0 + 12s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .provider_reference = "bank-tx-2"},
      {.job_id = jobs[3].id,
       .lease_owner = "fresh",
       .now = kT0 + 12s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .return_job = false},
  };
  r = store_->complete_jobs(mixed);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE((*r)[0].job);
  expect_same(*(*r)[0].job, get(jobs[2].id));
  EXPECT_EQ((*r)[0].job->provider_reference, "bank-tx-2");
  EXPECT_EQ((*r)[1].status, CompletionStatus::kWritten);
  EXPECT_FALSE((*r)[1].job);
  EXPECT_EQ(get(jobs[3].id).status, JobStatus::kFinished);
}

TEST_P(StoreConformance, CompleteJobsEmptyBatchWritesNothing) {
  auto r = store_->complete_jobs({});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->empty());
}

TEST_P(StoreConformance, CompleteJobsReachesCompletedWhenTheLastTwoJobsShareABatch) {
  RecurringTransfer t = transfer();
  t.next_occurrence_at.reset();  // its last occurrence exists
  auto jobs = create(t, {kT0, kT0 + 1h});
  RecurringTransfer lost = transfer();  // its exhausted completion lost the lease: stays ACTIVE
  auto lost_jobs = create(lost, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0 + 1h, "a").status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 1h, "b").status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(lost_jobs[0].id, kT0 + 1h, "c").status, ClaimStatus::kClaimed);
  // Every job of `lost` is terminal, but by a completion that did not see the schedule end.
  complete({.job_id = lost_jobs[0].id,
            .lease_owner = "c",
            .now = kT0 + 1h,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded});
  // Input in reverse id order, so each completion's job is still PROCESSING when the other's
  // own statement runs.
  std::vector<Completion> batch{{.job_id = lost_jobs[0].id,
                                 .lease_owner = "not-c",
                                 .now = kT0 + 2h,
                                 .status = JobStatus::kFinished,
                                 .result = JobResult::kSucceeded,
                                 .schedule_exhausted = true},
                                {.job_id = jobs[1].id,
                                 .lease_owner = "b",
                                 .now = kT0 + 2h,
                                 .status = JobStatus::kFailed,
                                 .retries = 3,
                                 .schedule_exhausted = true},
                                {.job_id = jobs[0].id,
                                 .lease_owner = "a",
                                 .now = kT0 + 2h,
                                 .status = JobStatus::kFinished,
                                 .result = JobResult::kSucceeded,
                                 .schedule_exhausted = true}};
  auto r = store_->complete_jobs(batch);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].status, CompletionStatus::kLeaseLost);
  EXPECT_EQ((*r)[1].status, CompletionStatus::kWritten);
  EXPECT_EQ((*r)[2].status, CompletionStatus::kWritten);
  auto done = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(done.status, TransferStatus::kCompleted);
  EXPECT_EQ(done.updated_at, kT0 + 2h);
  EXPECT_EQ(store_->get_transfer(lost.id).value()->status, TransferStatus::kActive);
  EXPECT_EQ(get(lost_jobs[0].id).updated_at, kT0 + 1h);
}

}  // namespace
}  // namespace rtjobs::store_conformance
