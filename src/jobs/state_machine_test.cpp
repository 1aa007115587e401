// The job state machine's rules (jobs/state_machine.hpp), every job status x transfer status x
// time, against tables written out here, on a manual clock. The stores' agreement with these
// rules is tests/store_conformance/state_machine_test.cpp.
#include "jobs/state_machine.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "core/time_format.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono_literals;

const Timestamp kStart = *parse_timestamp("2026-03-31T09:30:00.000Z");
constexpr std::array kTransfers = {TransferStatus::kActive, TransferStatus::kPaused,
                                   TransferStatus::kCancelled, TransferStatus::kCompleted};

// A job whose time (due_at, next_attempt_at or lease_expires_at, by its status) is `at`.
Job job_at(JobStatus status, std::optional<Timestamp> at) {
  Job j;
  j.status = status;
  j.due_at = at.value_or(kStart);
  if (status == JobStatus::kRetry) j.next_attempt_at = at;
  if (status == JobStatus::kProcessing) j.lease_expires_at = at;
  return j;
}

// One job state with the action for each transfer status, in kTransfers' order.
struct ClaimRow {
  JobStatus status;
  bool due;  // the job's time has come
  std::array<ClaimAction, 4> by_transfer;
};

TEST(StateMachine, DecideClaimForEveryJobAndTransferStatus) {
  using enum ClaimAction;
  const std::vector<ClaimRow> table = {
      // ACTIVE, PAUSED, CANCELLED, COMPLETED
      {JobStatus::kPending, false, {kNotDue, kNotDue, kNotDue, kNotDue}},
      {JobStatus::kPending, true, {kClaim, kSkip, kCancel, kClaim}},
      {JobStatus::kInFly, false, {kNotDue, kNotDue, kNotDue, kNotDue}},
      {JobStatus::kInFly, true, {kClaim, kSkip, kCancel, kClaim}},
      {JobStatus::kRetry, false, {kNotDue, kNotDue, kNotDue, kNotDue}},
      // A retry of a paused transfer waits for the resume; of a cancelled one never goes out.
      {JobStatus::kRetry, true, {kClaim, kNotDue, kCancel, kClaim}},
      {JobStatus::kProcessing, false, {kInProgress, kInProgress, kInProgress, kInProgress}},
      // An expired lease: the attempt may have reached the bank, so a paused transfer's waits.
      {JobStatus::kProcessing, true, {kClaim, kNotDue, kCancel, kClaim}},
  };
  ManualClock clock(kStart);
  const Timestamp time = kStart + 1h;
  for (const ClaimRow& row : table) {
    for (size_t t = 0; t < kTransfers.size(); ++t) {
      SCOPED_TRACE(std::string(to_string(row.status)) + (row.due ? " due" : " not due") + ", " +
                   std::string(to_string(kTransfers[t])));
      // Due from its time on, to the millisecond; not due a millisecond before.
      for (Timestamp now : row.due ? std::vector<Timestamp>{time, time + 1ms, time + 400h}
                                   : std::vector<Timestamp>{time - 1ms, time - 24h}) {
        clock.set(now);
        EXPECT_EQ(decide_claim(job_at(row.status, time), kTransfers[t], clock.now()),
                  row.by_transfer[t]);
      }
    }
  }
}

TEST(StateMachine, ARetryOrLeaseWithoutATimeIsDue) {
  for (JobStatus s : {JobStatus::kRetry, JobStatus::kProcessing}) {
    Job j = job_at(s, std::nullopt);
    EXPECT_EQ(decide_claim(j, TransferStatus::kActive, kStart - 1h), ClaimAction::kClaim);
    EXPECT_EQ(decide_claim(j, TransferStatus::kCancelled, kStart - 1h), ClaimAction::kCancel);
    EXPECT_EQ(decide_claim(j, TransferStatus::kPaused, kStart - 1h), ClaimAction::kNotDue);
  }
}

TEST(StateMachine, ATerminalJobIsNeverClaimedWhateverTheTimeAndTransfer) {
  for (JobStatus s :
       {JobStatus::kFinished, JobStatus::kFailed, JobStatus::kSkipped, JobStatus::kCancelled}) {
    for (TransferStatus t : kTransfers) {
      for (Timestamp now : {kStart - 1h, kStart, kStart + 1000h}) {
        EXPECT_EQ(decide_claim(job_at(s, kStart), t, now), ClaimAction::kTerminal)
            << to_string(s) << " " << to_string(t);
      }
    }
  }
}

TEST(StateMachine, OperatorRetryOnlyOfAFailedJobNeverOfACancelledTransfer) {
  constexpr std::array kJobs = {JobStatus::kPending, JobStatus::kInFly,    JobStatus::kProcessing,
                                JobStatus::kRetry,   JobStatus::kFinished, JobStatus::kFailed,
                                JobStatus::kSkipped, JobStatus::kCancelled};
  for (JobStatus j : kJobs) {
    for (TransferStatus t : kTransfers) {
      RetryDecision expected = t == TransferStatus::kCancelled ? RetryDecision::kTransferCancelled
                               : j == JobStatus::kFailed       ? RetryDecision::kRetry
                                                               : RetryDecision::kNotFailed;
      EXPECT_EQ(decide_operator_retry(j, t), expected) << to_string(j) << " " << to_string(t);
    }
  }
}

TEST(StateMachine, ACancelEndsTheJobsNotAtTheBankAndNotFinal) {
  EXPECT_TRUE(cancel_ends(JobStatus::kPending));
  EXPECT_TRUE(cancel_ends(JobStatus::kInFly));
  EXPECT_TRUE(cancel_ends(JobStatus::kRetry));
  for (JobStatus s : {JobStatus::kProcessing, JobStatus::kFinished, JobStatus::kFailed,
                      JobStatus::kSkipped, JobStatus::kCancelled}) {
    EXPECT_FALSE(cancel_ends(s)) << to_string(s);
  }
}

TEST(StateMachine, ARescueUsesOneRetryNeverBeyondTheMaximum) {
  EXPECT_EQ(retries_after_rescue(0, 3), 1);
  EXPECT_EQ(retries_after_rescue(2, 3), 3);
  EXPECT_EQ(retries_after_rescue(3, 3), 3);
  EXPECT_EQ(retries_after_rescue(0, 0), 0);
  EXPECT_EQ(retries_after_rescue(5, 3), 5);  // never lowered (a maximum lowered since)
}

// --- outcomes ---

const RetryPolicy kPolicy{.max_retries = 3, .backoff_base = 60s};

AttemptOutcome outcome(int retries, AttemptAnswer answer, Timestamp now = kStart,
                       const RetryPolicy& policy = kPolicy) {
  return decide_outcome(retries, answer, policy, now);
}

void expect_outcome(const AttemptOutcome& got, JobStatus status, std::optional<JobResult> result,
                    int retries, std::optional<Timestamp> next) {
  EXPECT_EQ(got.status, status);
  EXPECT_EQ(got.result, result);
  EXPECT_EQ(got.retries, retries);
  EXPECT_EQ(got.next_attempt_at, next);
}

TEST(StateMachine, AnAnswerFromTheBankIsFinalWhateverTheRetries) {
  for (int retries : {0, 2, 3}) {
    expect_outcome(outcome(retries, {.outcome = Outcome::kSucceeded}), JobStatus::kFinished,
                   JobResult::kSucceeded, retries, std::nullopt);
    expect_outcome(outcome(retries, {.outcome = Outcome::kDeclined}), JobStatus::kFinished,
                   JobResult::kDeclined, retries, std::nullopt);
  }
}

TEST(StateMachine, AnUnavailableBankIsRetriedWithBackoffThenFailed) {
  AttemptAnswer down{.outcome = Outcome::kUnavailable};
  // Backoff: base x 2^(retries - 1).
  expect_outcome(outcome(0, down), JobStatus::kRetry, std::nullopt, 1, kStart + 60s);
  expect_outcome(outcome(1, down), JobStatus::kRetry, std::nullopt, 2, kStart + 120s);
  expect_outcome(outcome(2, down), JobStatus::kRetry, std::nullopt, 3, kStart + 240s);
  expect_outcome(outcome(3, down), JobStatus::kFailed, std::nullopt, 3, std::nullopt);
  // No retries at all: the first unavailable answer fails the job.
  expect_outcome(outcome(0, down, kStart, {.max_retries = 0, .backoff_base = 60s}),
                 JobStatus::kFailed, std::nullopt, 0, std::nullopt);
  // The backoff stops growing at one day.
  RetryPolicy many{.max_retries = 30, .backoff_base = 60s};
  expect_outcome(outcome(20, down, kStart, many), JobStatus::kRetry, std::nullopt, 21,
                 kStart + 24h);
  // A base of 0 retries at once.
  expect_outcome(outcome(0, down, kStart, {.max_retries = 3, .backoff_base = 0s}),
                 JobStatus::kRetry, std::nullopt, 1, kStart);
}

TEST(StateMachine, AnUnknownOutcomeNeverFailsAJob) {
  AttemptAnswer unknown{.outcome = Outcome::kUnavailable, .outcome_unknown = true};
  expect_outcome(outcome(0, unknown), JobStatus::kRetry, std::nullopt, 1, kStart + 60s);
  expect_outcome(outcome(3, unknown), JobStatus::kRetry, std::nullopt, 3, kStart + 240s);
  expect_outcome(outcome(0, unknown, kStart, {.max_retries = 0, .backoff_base = 60s}),
                 JobStatus::kRetry, std::nullopt, 0, kStart + 60s);
}

TEST(StateMachine, ARateLimitOrAPausedProviderUsesNoRetry) {
  for (AttemptAnswer answer :
       {AttemptAnswer{.outcome = Outcome::kUnavailable, .rate_limited = true},
        AttemptAnswer{.outcome = Outcome::kUnavailable, .provider_paused = true}}) {
    // Without a Retry-After: the backoff the next retry would have had.
    expect_outcome(outcome(3, answer), JobStatus::kRetry, std::nullopt, 3, kStart + 480s);
    expect_outcome(outcome(0, answer), JobStatus::kRetry, std::nullopt, 0, kStart + 60s);
    // With one: as long as the bank asked.
    answer.retry_after = 30s;
    expect_outcome(outcome(3, answer), JobStatus::kRetry, std::nullopt, 3, kStart + 30s);
  }
}

}  // namespace
}  // namespace rtjobs
