// Store conformance (conformance.hpp): recording one job's outcome (complete_job): results,
// provider statuses, lost leases, next occurrences, a transfer's completion, and an
// operator's retry of a FAILED job.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

// --- Completions ---

TEST_P(StoreConformance, CompleteSucceeded) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a",
                     .now = kT0 + 250ms,
                     .status = JobStatus::kFinished,
                     .result = JobResult::kSucceeded,
                     .provider_reference = "bank-tx-1"});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  Job j = get(jobs[0].id);
  expect_same(*w.job, j);
  EXPECT_EQ(j.status, JobStatus::kFinished);
  EXPECT_EQ(j.result, JobResult::kSucceeded);
  EXPECT_EQ(j.provider_reference, "bank-tx-1");
  EXPECT_EQ(j.finished_at, kT0 + 250ms);
  EXPECT_EQ(j.updated_at, kT0 + 250ms);
  EXPECT_FALSE(j.lease_owner || j.lease_expires_at || j.next_attempt_at);
  EXPECT_TRUE(store_->list_provider_statuses(j.id).value().empty());
}

TEST_P(StoreConformance, CompleteDeclinedRecordsProviderStatus) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  ProviderStatus p = status_row(jobs[0], 1, kT0 + 3ms, 422);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a",
                     .now = kT0 + 3ms,
                     .status = JobStatus::kFinished,
                     .result = JobResult::kDeclined,
                     .last_error = "insufficient_funds",
                     .provider_status = p});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(w.job->result, JobResult::kDeclined);
  auto rows = store_->list_provider_statuses(jobs[0].id).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id, p.id);
  EXPECT_EQ(rows[0].job_id, p.job_id);
  EXPECT_EQ(rows[0].recurring_transfer_id, p.recurring_transfer_id);
  EXPECT_EQ(rows[0].provider, p.provider);
  EXPECT_EQ(rows[0].attempt, 1);
  EXPECT_EQ(rows[0].http_status, 422);
  EXPECT_EQ(rows[0].code, p.code);
  EXPECT_EQ(rows[0].message, kAwkward);
  EXPECT_EQ(rows[0].response_body, p.response_body);
  EXPECT_EQ(rows[0].created_at, kT0 + 3ms);
}

TEST_P(StoreConformance, CompleteRetryThenFailedAndStatusesOldestFirst) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a",
                     .now = kT0,
                     .status = JobStatus::kRetry,
                     .retries = 1,
                     .next_attempt_at = kT0 + 60s,
                     .last_error = "timeout",
                     .provider_status = status_row(jobs[0], 1, kT0, std::nullopt)});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(w.job->status, JobStatus::kRetry);
  EXPECT_EQ(w.job->retries, 1);
  EXPECT_EQ(w.job->next_attempt_at, kT0 + 60s);
  EXPECT_FALSE(w.job->finished_at);
  EXPECT_FALSE(w.job->lease_owner);

  ASSERT_EQ(claim(jobs[0].id, kT0 + 60s, "owner-b").status, ClaimStatus::kClaimed);
  w = complete({.job_id = jobs[0].id,
                .lease_owner = "owner-b",
                .now = kT0 + 61s,
                .status = JobStatus::kFailed,
                .retries = 1,
                .last_error = "503",
                .provider_status = status_row(jobs[0], 2, kT0 + 61s, 503)});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(w.job->status, JobStatus::kFailed);
  EXPECT_EQ(w.job->finished_at, kT0 + 61s);
  EXPECT_FALSE(w.job->next_attempt_at);
  EXPECT_FALSE(w.job->result);
  auto rows = store_->list_provider_statuses(jobs[0].id).value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].attempt, 1);
  EXPECT_FALSE(rows[0].http_status);
  EXPECT_EQ(rows[1].attempt, 2);
}

TEST_P(StoreConformance, LostLeaseWritesNothing) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0, "a", 3, 10s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[0].id, kT0 + 10s, "b", 3, 10s).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "a",
                     .now = kT0 + 11s,
                     .status = JobStatus::kFinished,
                     .result = JobResult::kSucceeded,
                     .provider_reference = "late",
                     .provider_status = status_row(jobs[0], 1, kT0, 500),
                     .new_jobs = {job(t, 2, kT0 + 24h)},
                     .schedule_exhausted = true});
  EXPECT_EQ(w.status, CompletionStatus::kLeaseLost);
  ASSERT_TRUE(w.job);
  EXPECT_EQ(w.job->status, JobStatus::kProcessing);
  EXPECT_EQ(w.job->lease_owner, "b");
  EXPECT_FALSE(w.job->provider_reference);
  EXPECT_TRUE(store_->list_provider_statuses(jobs[0].id).value().empty());
  EXPECT_EQ(jobs_of(t.id).size(), 1u);
  EXPECT_EQ(store_->get_transfer(t.id).value()->last_sequence, 1);
  // Nor after the job is terminal.
  complete({.job_id = jobs[0].id,
            .lease_owner = "b",
            .now = kT0 + 12s,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded});
  EXPECT_EQ(complete({.job_id = jobs[0].id,
                      .lease_owner = "b",
                      .now = kT0 + 13s,
                      .status = JobStatus::kFailed})
                .status,
            CompletionStatus::kLeaseLost);
  EXPECT_EQ(get(jobs[0].id).status, JobStatus::kFinished);
}

TEST_P(StoreConformance, NewJobsAreInsertedOnceAndAdvanceLastSequence) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0 + 1h});
  Job s3 = job(t, 3, kT0 + 48h);
  Job s4 = job(t, 4, kT0 + 72h);
  Job s3_again = job(t, 3, kT0 + 48h);
  ASSERT_EQ(claim(jobs[0].id, kT0, "a").status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 1h, "b").status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "a",
            .now = kT0 + 2h,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded,
            .new_jobs = {s3}});
  EXPECT_EQ(store_->get_transfer(t.id).value()->last_sequence, 3);
  complete({.job_id = jobs[1].id,
            .lease_owner = "b",
            .now = kT0 + 2h,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded,
            .new_jobs = {s3_again, s4}});
  auto all = jobs_of(t.id);
  ASSERT_EQ(all.size(), 4u);
  expect_same(all[2], s3);
  expect_same(all[3], s4);
  EXPECT_EQ(store_->get_transfer(t.id).value()->last_sequence, 4);
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);
}

TEST_P(StoreConformance, TransferCompletesWhenExhaustedAndAllTerminal) {
  RecurringTransfer t = transfer();
  t.next_occurrence_at.reset();  // its last occurrence exists
  auto jobs = create(t, {kT0, kT0 + 1h});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = kT0,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded,
            .schedule_exhausted = true});
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 1h).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[1].id,
            .lease_owner = "owner-a",
            .now = kT0 + 1h,
            .status = JobStatus::kRetry,
            .retries = 1,
            .next_attempt_at = kT0 + 2h,
            .schedule_exhausted = true});
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 2h).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[1].id,
            .lease_owner = "owner-a",
            .now = kT0 + 2h,
            .status = JobStatus::kFailed,
            .retries = 1,
            .schedule_exhausted = true});
  auto done = store_->get_transfer(t.id).value();
  EXPECT_EQ(done->status, TransferStatus::kCompleted);
  EXPECT_EQ(done->updated_at, kT0 + 2h);

  RecurringTransfer other = transfer();
  auto more = create(other, {kT0});
  ASSERT_EQ(claim(more[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = more[0].id,
            .lease_owner = "owner-a",
            .now = kT0,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded});
  EXPECT_EQ(store_->get_transfer(other.id).value()->status, TransferStatus::kActive);
}

// --- Operator retry of a FAILED job ---

TEST_P(StoreConformance, RetryFailedJobRearmsItDueNow) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0 + 1h});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = kT0 + 1s,
            .status = JobStatus::kFailed,
            .retries = 3,
            .last_error = "503"});
  auto retried = store_->retry_failed_job(normalize_upper(jobs[0].id), kT0 + 2h);
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_EQ(retried->id, jobs[0].id);
  EXPECT_EQ(retried->status, JobStatus::kRetry);
  EXPECT_EQ(retried->retries, 0);
  EXPECT_EQ(retried->next_attempt_at, kT0 + 2h);
  EXPECT_EQ(retried->updated_at, kT0 + 2h);
  EXPECT_FALSE(retried->finished_at);
  EXPECT_EQ(retried->last_error, "503");
  expect_same(get(jobs[0].id), *retried);
  ClaimResult c = claim(jobs[0].id, kT0 + 2h, "owner-b");
  EXPECT_EQ(c.status, ClaimStatus::kClaimed);

  for (const std::string& id : {jobs[0].id, jobs[1].id}) {  // PROCESSING, PENDING
    auto not_failed = store_->retry_failed_job(id, kT0 + 3h);
    ASSERT_FALSE(not_failed);
    EXPECT_EQ(not_failed.error().code, ErrorCode::kConflict);
    EXPECT_EQ(not_failed.error().reason, "job_not_failed");
  }
  EXPECT_EQ(get(jobs[1].id).status, JobStatus::kPending);
  for (const std::string& id : {new_uuid_v7(kT0), std::string("nope")}) {
    auto unknown = store_->retry_failed_job(id, kT0);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  }
}

// A transfer cancelled while its job was at the bank: the job's outcome is written (the money
// may have moved), but no next occurrence is created for it, and its schedule stays closed.
TEST_P(StoreConformance, ACompletionAfterACancelCreatesNoNextOccurrence) {
  RecurringTransfer t = transfer();
  t.next_occurrence_at = kT0 + 24h;
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  auto cancelled = store_->change_transfer_status(t.id, TransferAction::kCancel, kT0 + 1s);
  ASSERT_TRUE(cancelled) << cancelled.error().message;
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a",
                     .now = kT0 + 2s,
                     .status = JobStatus::kFinished,
                     .result = JobResult::kSucceeded,
                     .provider_reference = "ref-1",
                     .new_jobs = {job(t, 2, kT0 + 24h)},
                     .next_occurrence_at = kT0 + 48h});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(get(jobs[0].id).status, JobStatus::kFinished);
  EXPECT_EQ(jobs_of(t.id).size(), 1u);
  RecurringTransfer stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.status, TransferStatus::kCancelled);
  EXPECT_EQ(stored.last_sequence, 1);
  EXPECT_FALSE(stored.next_occurrence_at);
}

}  // namespace
}  // namespace rtjobs::store_conformance
