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
Job job_at(JobStatus status, std::optional<Timestamp> at, bool outcome_unknown = false) {
  Job j;
  j.status = status;
  j.outcome_unknown = outcome_unknown;
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
  bool outcome_unknown = false;  // the job's last attempt may have been executed
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
      // Unless its last attempt may have been executed: then a cancelled one settles it.
      {JobStatus::kRetry, false, {kNotDue, kNotDue, kNotDue, kNotDue}, true},
      {JobStatus::kRetry, true, {kClaim, kNotDue, kClaim, kClaim}, true},
      {JobStatus::kProcessing, false, {kInProgress, kInProgress, kInProgress, kInProgress}},
      // An expired lease: the attempt may have reached the bank, so a paused transfer's waits
      // and a cancelled one's settles what the bank did.
      {JobStatus::kProcessing, true, {kClaim, kNotDue, kClaim, kClaim}},
  };
  ManualClock clock(kStart);
  const Timestamp time = kStart + 1h;
  for (const ClaimRow& row : table) {
    for (size_t t = 0; t < kTransfers.size(); ++t) {
      SCOPED_TRACE(std::string(to_string(row.status)) + (row.due ? " due" : " not due") +
                   (row.outcome_unknown ? " unknown" : "") + ", " +
                   std::string(to_string(kTransfers[t])));
      // Due from its time on, to the millisecond; not due a millisecond before.
      for (Timestamp now : row.due ? std::vector<Timestamp>{time, time + 1ms, time + 400h}
                                   : std::vector<Timestamp>{time - 1ms, time - 24h}) {
        clock.set(now);
        EXPECT_EQ(
            decide_claim(job_at(row.status, time, row.outcome_unknown), kTransfers[t], clock.now()),
            row.by_transfer[t]);
      }
    }
  }
}

TEST(StateMachine, ARetryOrLeaseWithoutATimeIsDue) {
  for (JobStatus s : {JobStatus::kRetry, JobStatus::kProcessing}) {
    Job j = job_at(s, std::nullopt);
    EXPECT_EQ(decide_claim(j, TransferStatus::kActive, kStart - 1h), ClaimAction::kClaim);
    EXPECT_EQ(decide_claim(j, TransferStatus::kCancelled, kStart - 1h),
              s == JobStatus::kRetry ? ClaimAction::kCancel : ClaimAction::kClaim);
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

TEST(StateMachine, AnOperatorSkipsOnlyAJobNoProcessorHasClaimed) {
  EXPECT_TRUE(operator_may_skip(JobStatus::kPending));
  // IN_FLY is on its way to a processor; the others are claimed or final.
  for (JobStatus s :
       {JobStatus::kInFly, JobStatus::kProcessing, JobStatus::kRetry, JobStatus::kFinished,
        JobStatus::kFailed, JobStatus::kSkipped, JobStatus::kCancelled}) {
    EXPECT_FALSE(operator_may_skip(s)) << to_string(s);
  }
}

TEST(StateMachine, ACancelEndsTheJobsNotAtTheBankAndNotFinal) {
  EXPECT_TRUE(cancel_ends(job_at(JobStatus::kPending, kStart)));
  EXPECT_TRUE(cancel_ends(job_at(JobStatus::kInFly, kStart)));
  EXPECT_TRUE(cancel_ends(job_at(JobStatus::kRetry, kStart)));
  // A retry whose last attempt the bank may have executed is left to settle it.
  EXPECT_FALSE(cancel_ends(job_at(JobStatus::kRetry, kStart, true)));
  for (JobStatus s : {JobStatus::kProcessing, JobStatus::kFinished, JobStatus::kFailed,
                      JobStatus::kSkipped, JobStatus::kCancelled}) {
    EXPECT_FALSE(cancel_ends(job_at(s, kStart))) << to_string(s);
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
                    int retries, std::optional<Timestamp> next, bool unknown = false) {
  EXPECT_EQ(got.status, status);
  EXPECT_EQ(got.result, result);
  EXPECT_EQ(got.retries, retries);
  EXPECT_EQ(got.next_attempt_at, next);
  EXPECT_EQ(got.outcome_unknown, unknown);
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
  expect_outcome(outcome(0, unknown), JobStatus::kRetry, std::nullopt, 1, kStart + 60s, true);
  expect_outcome(outcome(3, unknown), JobStatus::kRetry, std::nullopt, 3, kStart + 240s, true);
  expect_outcome(outcome(0, unknown, kStart, {.max_retries = 0, .backoff_base = 60s}),
                 JobStatus::kRetry, std::nullopt, 0, kStart + 60s, true);
}

TEST(StateMachine, AnEarlierUnknownOutcomeStaysUnknownUntilTheBankAnswersForTheKey) {
  // Answers that say nothing of what the earlier attempt did: no answer (a refused connection,
  // a call not made), credentials refused, the key in use, a rate limit, a paused provider.
  for (AttemptAnswer answer :
       {AttemptAnswer{}, AttemptAnswer{.http_status = 401}, AttemptAnswer{.http_status = 403},
        AttemptAnswer{.http_status = 409}, AttemptAnswer{.http_status = 429, .rate_limited = true},
        AttemptAnswer{.provider_paused = true}}) {
    SCOPED_TRACE(answer.http_status.value_or(0));
    EXPECT_FALSE(settles_earlier_attempt(answer));
    EXPECT_EQ(outcome(3, answer).status, answer.rate_limited || answer.provider_paused
                                             ? JobStatus::kRetry
                                             : JobStatus::kFailed);
    answer.earlier_outcome_unknown = true;
    AttemptOutcome got = outcome(3, answer);
    EXPECT_EQ(got.status, JobStatus::kRetry);  // never FAILED
    EXPECT_TRUE(got.outcome_unknown);
  }
  // The bank's own answer under the key settles it (SPEC section 8): a replayed or final answer,
  // or an unavailable one from its handling of the transfer.
  for (int status : {500, 503, 408}) {
    AttemptAnswer answer{.http_status = status, .earlier_outcome_unknown = true};
    EXPECT_TRUE(settles_earlier_attempt(answer));
    expect_outcome(outcome(3, answer), JobStatus::kFailed, std::nullopt, 3, std::nullopt);
    expect_outcome(outcome(1, answer), JobStatus::kRetry, std::nullopt, 2, kStart + 120s);
  }
  AttemptAnswer paid{.outcome = Outcome::kSucceeded, .earlier_outcome_unknown = true};
  expect_outcome(outcome(3, paid), JobStatus::kFinished, JobResult::kSucceeded, 3, std::nullopt);
}

TEST(StateMachine, NothingAtTheBankEndsACancelledTransfersJobCancelled) {
  for (int retries : {0, 3}) {
    AttemptAnswer none{.http_status = 200, .not_at_bank = true, .earlier_outcome_unknown = true};
    EXPECT_TRUE(settles_earlier_attempt(none));
    expect_outcome(outcome(retries, none), JobStatus::kCancelled, std::nullopt, retries,
                   std::nullopt);
  }
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
