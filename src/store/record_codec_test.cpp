#include "store/record_codec.hpp"

#include <gtest/gtest.h>

#include "core/time_format.hpp"
#include "core/uuid.hpp"

namespace rtjobs::store_detail {
namespace {

const Timestamp kNow = *parse_timestamp("2026-03-10T09:00:00.000Z");

TEST(Cursor, RoundTripsAnId) {
  std::string id = new_uuid_v7(kNow);
  auto back = decode_cursor(encode_cursor(id));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, id);
}

TEST(Cursor, RejectsGarbageWithFieldCursor) {
  for (std::string_view bad : {"", "abc", "!!!!", "bm90LWEtdXVpZA"}) {
    auto r = decode_cursor(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().field, "cursor");
  }
}

TEST(Columns, QualifiesAndCountsPlaceholders) {
  EXPECT_EQ(qualified("id, \"interval\"", "t"), "t.id, t.\"interval\"");
  EXPECT_EQ(placeholders('$', 3, 2), "$2, $3, $4");
  EXPECT_EQ(placeholders('?', 1), "?1");
}

Job job_in(JobStatus status) {
  Job j;
  j.status = status;
  j.due_at = kNow;
  return j;
}

TEST(DecideClaim, FollowsTheClaimRules) {
  using enum ClaimAction;
  EXPECT_EQ(decide_claim(job_in(JobStatus::kPending), TransferStatus::kActive, kNow), kClaim);
  EXPECT_EQ(decide_claim(job_in(JobStatus::kInFly), TransferStatus::kActive, kNow), kClaim);
  EXPECT_EQ(decide_claim(job_in(JobStatus::kPending), TransferStatus::kActive,
                         kNow - std::chrono::milliseconds(1)),
            kNotDue);
  EXPECT_EQ(decide_claim(job_in(JobStatus::kPending), TransferStatus::kPaused, kNow), kSkip);
  EXPECT_EQ(decide_claim(job_in(JobStatus::kPending), TransferStatus::kCancelled, kNow), kCancel);
  Job retry = job_in(JobStatus::kRetry);
  retry.next_attempt_at = kNow + std::chrono::seconds(1);
  EXPECT_EQ(decide_claim(retry, TransferStatus::kActive, kNow), kNotDue);
  retry.next_attempt_at = kNow;
  EXPECT_EQ(decide_claim(retry, TransferStatus::kActive, kNow), kClaim);
  EXPECT_EQ(decide_claim(retry, TransferStatus::kCompleted, kNow), kClaim);  // retried from FAILED
  Job held = job_in(JobStatus::kProcessing);
  held.lease_expires_at = kNow + std::chrono::seconds(1);
  EXPECT_EQ(decide_claim(held, TransferStatus::kActive, kNow), kInProgress);
  held.lease_expires_at = kNow;
  EXPECT_EQ(decide_claim(held, TransferStatus::kActive, kNow), kClaim);
  for (JobStatus s :
       {JobStatus::kFinished, JobStatus::kFailed, JobStatus::kSkipped, JobStatus::kCancelled}) {
    EXPECT_EQ(decide_claim(job_in(s), TransferStatus::kActive, kNow), kTerminal);
    EXPECT_EQ(decide_claim(job_in(s), TransferStatus::kCancelled, kNow), kTerminal);
  }
}

// A job of a CANCELLED transfer never reaches the bank, whatever its state; an attempted job
// (RETRY, lease expired) of a PAUSED transfer waits, answered as not due; one not due yet stays so.
TEST(DecideClaim, CancelledNeverClaimedPausedRetriesWait) {
  using enum ClaimAction;
  Job retry = job_in(JobStatus::kRetry);
  retry.next_attempt_at = kNow;
  Job expired = job_in(JobStatus::kProcessing);
  expired.lease_expires_at = kNow;
  for (const Job& j : {job_in(JobStatus::kPending), job_in(JobStatus::kInFly), retry, expired}) {
    EXPECT_EQ(decide_claim(j, TransferStatus::kCancelled, kNow), kCancel) << to_string(j.status);
  }
  EXPECT_EQ(decide_claim(retry, TransferStatus::kPaused, kNow), kNotDue);
  EXPECT_EQ(decide_claim(expired, TransferStatus::kPaused, kNow), kNotDue);
  Job retry_later = retry;
  retry_later.next_attempt_at = kNow + std::chrono::seconds(1);
  EXPECT_EQ(decide_claim(retry_later, TransferStatus::kCancelled, kNow), kNotDue);
  Job held = expired;
  held.lease_expires_at = kNow + std::chrono::seconds(1);
  EXPECT_EQ(decide_claim(held, TransferStatus::kCancelled, kNow), kInProgress);
  EXPECT_EQ(decide_claim(held, TransferStatus::kPaused, kNow), kInProgress);
}

TEST(RetryRefusal, NamesACancelledTransferFirst) {
  Error cancelled = retry_refusal("j1", JobStatus::kFailed, TransferStatus::kCancelled);
  EXPECT_EQ(cancelled.code, ErrorCode::kConflict);
  EXPECT_EQ(cancelled.field, "job_id");
  EXPECT_EQ(cancelled.reason, "transfer_cancelled");
  EXPECT_EQ(retry_refusal("j1", JobStatus::kCancelled, TransferStatus::kCancelled).reason,
            "transfer_cancelled");
  Error not_failed = retry_refusal("j1", JobStatus::kFinished, TransferStatus::kActive);
  EXPECT_EQ(not_failed.code, ErrorCode::kConflict);
  EXPECT_EQ(not_failed.reason, "job_not_failed");
}

}  // namespace
}  // namespace rtjobs::store_detail
