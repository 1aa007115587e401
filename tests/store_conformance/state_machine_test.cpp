// Both stores against the job state machine (jobs/state_machine.hpp), for every job status x
// transfer status x time: what claim_job, claim_due_jobs, rescue_expired_leases,
// retry_failed_job, skip_job, complete_jobs and a transfer's cancel do to a job is what the pure
// rules say. The rules are written once in C++ and once in SQL (record_codec's claim_due_sql and
// claim_outcome_sql, the cancel and rescue statements): this is where the two must agree.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conformance.hpp"
#include "jobs/state_machine.hpp"
#include "raw_db.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

// The instant every operation is asked at.
const Timestamp kNow = kT0 + 1h;

// A job's state before the operation: its status and whether its time (due_at, next_attempt_at
// or lease_expires_at) has come at kNow, to the millisecond.
struct JobState {
  JobStatus status;
  bool time_has_come;
  bool outcome_unknown = false;  // a RETRY whose last attempt the bank may have executed
};

std::vector<JobState> job_states() {
  std::vector<JobState> out;
  for (JobStatus s :
       {JobStatus::kPending, JobStatus::kInFly, JobStatus::kRetry, JobStatus::kProcessing,
        JobStatus::kFinished, JobStatus::kFailed, JobStatus::kSkipped, JobStatus::kCancelled}) {
    out.push_back({s, true});
    out.push_back({s, false});
  }
  out.push_back({JobStatus::kRetry, true, true});
  out.push_back({JobStatus::kRetry, false, true});
  return out;
}

constexpr TransferStatus kTransferStatuses[] = {TransferStatus::kActive, TransferStatus::kPaused,
                                                TransferStatus::kCancelled,
                                                TransferStatus::kCompleted};

std::string describe(const JobState& s, TransferStatus t) {
  return std::string(to_string(s.status)) + (s.outcome_unknown ? " in doubt" : "") +
         (s.time_has_come ? " (its time come)" : " (early)") + " of a " +
         std::string(to_string(t)) + " transfer";
}

class StateMachineAgreement : public StoreConformance {
 protected:
  // One transfer in status `t` with one job in state `s`, stored; each its own provider, so a
  // batch claim reads only this job.
  Job stored(const JobState& s, TransferStatus t) {
    RecurringTransfer transfer = this->transfer(t);
    transfer.provider = "bank-" + std::to_string(++cases_);
    const Timestamp time = s.time_has_come ? kNow : kNow + 1ms;
    Job j = job(transfer, 1,
                s.status == JobStatus::kPending || s.status == JobStatus::kInFly ? time : kT0 - 24h,
                s.status);
    j.retries = 2;
    j.outcome_unknown = s.outcome_unknown;
    if (s.status == JobStatus::kRetry) j.next_attempt_at = time;
    if (s.status == JobStatus::kProcessing) {
      j.lease_owner = "owner-a";
      j.lease_expires_at = time;
    }
    if (s.status == JobStatus::kFinished) j.result = JobResult::kSucceeded;
    if (is_terminal(s.status)) j.finished_at = kT0;
    transfer.last_sequence = 1;
    auto r = store_->create_transfer(transfer, {j});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return j;
  }

  int cases_ = 0;
};

// The job as a claim that decided `action` leaves it, with the ClaimStatus it answers.
struct ClaimExpectation {
  ClaimStatus status;
  JobStatus after;
};

ClaimExpectation expected_claim(ClaimAction action, JobStatus before) {
  switch (action) {
    case ClaimAction::kClaim:
      return {ClaimStatus::kClaimed, JobStatus::kProcessing};
    case ClaimAction::kSkip:
      return {ClaimStatus::kSkipped, JobStatus::kSkipped};
    case ClaimAction::kCancel:
      return {ClaimStatus::kTerminal, JobStatus::kCancelled};
    case ClaimAction::kNotDue:
      return {ClaimStatus::kNotDue, before};
    case ClaimAction::kInProgress:
      return {ClaimStatus::kInProgress, before};
    case ClaimAction::kTerminal:
      return {ClaimStatus::kTerminal, before};
  }
  return {ClaimStatus::kNotFound, before};
}

TEST_P(StateMachineAgreement, ClaimJobDoesWhatDecideClaimSays) {
  for (const JobState& s : job_states()) {
    for (TransferStatus t : kTransferStatuses) {
      SCOPED_TRACE(describe(s, t));
      Job j = stored(s, t);
      ClaimExpectation want = expected_claim(decide_claim(j, t, kNow), s.status);
      ClaimResult got = claim(j.id, kNow, "claimer");
      EXPECT_EQ(got.status, want.status);
      Job after = get(j.id);
      EXPECT_EQ(after.status, want.after);
      if (want.status == ClaimStatus::kClaimed) {
        EXPECT_EQ(after.lease_owner, "claimer");
        // Taking over a lease that ran out: the attempt under it may have reached the bank.
        EXPECT_EQ(after.outcome_unknown, s.outcome_unknown || s.status == JobStatus::kProcessing);
      } else if (want.after == s.status) {
        expect_same(after, j);
      }
    }
  }
}

// The batch claims (the scheduler's and the retries loop's) act on PENDING, IN_FLY and RETRY
// jobs by decide_claim; an expired lease is the rescuer's (next test), then a RETRY job's.
TEST_P(StateMachineAgreement, BatchClaimsDoWhatDecideClaimSays) {
  for (const JobState& s : job_states()) {
    for (TransferStatus t : kTransferStatuses) {
      SCOPED_TRACE(describe(s, t));
      Job j = stored(s, t);
      ClaimAction action =
          s.status == JobStatus::kProcessing ? ClaimAction::kInProgress : decide_claim(j, t, kNow);
      auto got = store_->claim_due_jobs({"batch", kNow, kNow + 30s, 10, true, true, 3, j.provider});
      ASSERT_TRUE(got) << got.error().message;
      Job after = get(j.id);
      if (action == ClaimAction::kClaim || action == ClaimAction::kSkip ||
          action == ClaimAction::kCancel) {
        ClaimExpectation want = expected_claim(action, s.status);
        ASSERT_EQ(got->size(), 1u);
        EXPECT_EQ(got->front().status, want.status);
        EXPECT_EQ(after.status, want.after);
      } else {
        EXPECT_TRUE(got->empty());
        expect_same(after, j);
      }
    }
  }
}

TEST_P(StateMachineAgreement, TheRescuerEndsExpiredLeasesAsRetriesAfterRescue) {
  for (const JobState& s : job_states()) {
    for (TransferStatus t : kTransferStatuses) {
      SCOPED_TRACE(describe(s, t));
      Job j = stored(s, t);
      auto rescued = store_->rescue_expired_leases(kNow, 3, 1000);
      ASSERT_TRUE(rescued) << rescued.error().message;
      Job after = get(j.id);
      if (s.status == JobStatus::kProcessing && s.time_has_come) {
        EXPECT_EQ(*rescued, 1);
        EXPECT_EQ(after.status, JobStatus::kRetry);
        EXPECT_TRUE(after.outcome_unknown);  // the attempt may have reached the bank
        EXPECT_EQ(after.retries, retries_after_rescue(j.retries, 3));
        EXPECT_EQ(after.next_attempt_at, j.lease_expires_at);
        EXPECT_FALSE(after.lease_owner);
      } else {
        EXPECT_EQ(*rescued, 0);
        expect_same(after, j);
      }
    }
  }
}

TEST_P(StateMachineAgreement, RetryOfAFailedJobDoesWhatDecideOperatorRetrySays) {
  for (const JobState& s : job_states()) {
    for (TransferStatus t : kTransferStatuses) {
      SCOPED_TRACE(describe(s, t));
      Job j = stored(s, t);
      auto got = store_->retry_failed_job(j.id, kNow);
      switch (decide_operator_retry(s.status, t)) {
        case RetryDecision::kRetry:
          ASSERT_TRUE(got) << got.error().message;
          EXPECT_EQ(got->status, JobStatus::kRetry);
          EXPECT_EQ(got->retries, 0);
          EXPECT_EQ(got->next_attempt_at, kNow);
          expect_same(get(j.id), *got);
          break;
        case RetryDecision::kTransferCancelled:
          ASSERT_FALSE(got);
          EXPECT_EQ(got.error().reason, "transfer_cancelled");
          expect_same(get(j.id), j);
          break;
        case RetryDecision::kNotFailed:
          ASSERT_FALSE(got);
          EXPECT_EQ(got.error().reason, "job_not_failed");
          expect_same(get(j.id), j);
          break;
      }
    }
  }
}

TEST_P(StateMachineAgreement, ASkipEndsOnlyTheJobsOperatorMaySkipSays) {
  for (const JobState& s : job_states()) {
    for (TransferStatus t : kTransferStatuses) {
      SCOPED_TRACE(describe(s, t));
      Job j = stored(s, t);
      auto got = store_->skip_job(j.id, kNow);
      if (operator_may_skip(s.status)) {
        ASSERT_TRUE(got) << got.error().message;
        EXPECT_EQ(got->status, JobStatus::kSkipped);
        EXPECT_EQ(got->finished_at, kNow);
        expect_same(get(j.id), *got);
      } else {
        ASSERT_FALSE(got);
        EXPECT_EQ(got.error().reason, "job_not_pending");
        expect_same(get(j.id), j);
      }
    }
  }
}

TEST_P(StateMachineAgreement, AnOutcomeIsWrittenOnlyWhereAcceptsOutcomeSays) {
  for (const JobState& s : job_states()) {
    for (TransferStatus t : kTransferStatuses) {
      for (std::string owner : {"owner-a", "owner-b"}) {
        SCOPED_TRACE(describe(s, t) + ", outcome of " + owner);
        Job j = stored(s, t);
        Completion c{.job_id = j.id, .lease_owner = owner, .now = kNow};
        c.result = JobResult::kSucceeded;
        c.retries = j.retries;
        auto got = store_->complete_jobs(std::span<const Completion>(&c, 1));
        ASSERT_TRUE(got) << got.error().message;
        if (accepts_outcome(j, owner)) {
          EXPECT_EQ(got->front().status, CompletionStatus::kWritten);
          EXPECT_EQ(get(j.id).status, JobStatus::kFinished);
        } else {
          EXPECT_EQ(got->front().status, CompletionStatus::kLeaseLost);
          expect_same(get(j.id), j);
        }
      }
    }
  }
}

TEST_P(StateMachineAgreement, ACancelEndsTheJobsCancelEndsSays) {
  for (const JobState& s : job_states()) {
    for (TransferStatus t : {TransferStatus::kActive, TransferStatus::kPaused}) {
      SCOPED_TRACE(describe(s, t));
      Job j = stored(s, t);
      auto cancelled =
          store_->change_transfer_status(j.recurring_transfer_id, TransferAction::kCancel, kNow);
      ASSERT_TRUE(cancelled) << cancelled.error().message;
      Job after = get(j.id);
      if (cancel_ends(j)) {
        EXPECT_EQ(after.status, JobStatus::kCancelled);
        EXPECT_EQ(after.finished_at, kNow);
      } else {
        expect_same(after, j);
      }
    }
  }
}

// An attempt's outcome_unknown is written with RETRY (and cleared by any other outcome), and a
// CANCELLED outcome (nothing at the bank under a cancelled transfer's key) is terminal.
TEST_P(StateMachineAgreement, AnOutcomeWritesWhetherTheBankMayHaveExecutedTheJob) {
  struct Case {
    JobStatus status;
    bool unknown;
  };
  for (Case k : {Case{JobStatus::kRetry, true}, Case{JobStatus::kRetry, false},
                 Case{JobStatus::kFailed, false}, Case{JobStatus::kCancelled, false}}) {
    for (bool was_unknown : {false, true}) {
      SCOPED_TRACE(std::string(to_string(k.status)) + (k.unknown ? " unknown" : "") +
                   (was_unknown ? ", was unknown" : ""));
      Job j = stored({JobStatus::kProcessing, false}, TransferStatus::kCancelled);
      if (was_unknown) {
        // The lease taken over: the job is in doubt, under the new claimer's lease.
        ASSERT_EQ(claim(j.id, kNow + 1ms, "owner-a").status, ClaimStatus::kClaimed);
        ASSERT_TRUE(get(j.id).outcome_unknown);
      }
      Completion c{.job_id = j.id, .lease_owner = "owner-a", .now = kNow, .status = k.status};
      c.retries = 3;
      c.outcome_unknown = k.unknown;
      if (k.status == JobStatus::kRetry) c.next_attempt_at = kNow + 1min;
      auto got = store_->complete_jobs(std::span<const Completion>(&c, 1));
      ASSERT_TRUE(got) << got.error().message;
      EXPECT_EQ(got->front().status, CompletionStatus::kWritten);
      Job after = get(j.id);
      EXPECT_EQ(after.status, k.status);
      EXPECT_EQ(after.outcome_unknown, k.unknown);
      EXPECT_EQ(after.finished_at, is_terminal(k.status) ? std::optional(kNow) : std::nullopt);
    }
  }
}

// The migration that added outcome_unknown (SQLite 7, PostgreSQL 11): the rows as they were,
// none in doubt, and a binary built before it still writes its jobs.
TEST_P(StateMachineAgreement, TheOutcomeUnknownMigrationKeepsTheRowsAndOlderWriters) {
  const int migration = GetParam() == "sqlite" ? 7 : 11;
  constexpr int kJobColumnsBefore = store_detail::kJobColumnCount - 1;
  // A transfer as that binary wrote it: before `version` (SQLite 8, PostgreSQL 12).
  constexpr int kTransferColumnsBefore = store_detail::kTransferColumnCount - 1;
  RecurringTransfer old_t = transfer(TransferStatus::kActive);
  old_t.last_sequence = 2;
  std::vector<Job> old_jobs{job(old_t, 1, kT0, JobStatus::kRetry), job(old_t, 2, kT0 + 1h)};
  old_jobs[0].retries = 1;
  old_jobs[0].next_attempt_at = kT0;
  std::string url = database_before(migration);
  {
    RawDb before(url);
    before.insert_leading(old_t, old_jobs, kTransferColumnsBefore, kJobColumnsBefore);
  }
  EXPECT_EQ(migrate_store(url), migrations_from(migration));
  ASSERT_NE(store_, nullptr);
  for (const Job& j : old_jobs) expect_same(get(j.id), j);  // outcome_unknown false

  RecurringTransfer older_again = transfer(TransferStatus::kActive);
  older_again.last_sequence = 1;
  Job older_job = job(older_again, 1, kT0);
  {
    RawDb older(url);
    older.insert_leading(older_again, {older_job}, kTransferColumnsBefore, kJobColumnsBefore);
  }
  expect_same(get(older_job.id), older_job);
}

INSTANTIATE_TEST_SUITE_P(Backends, StateMachineAgreement, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rtjobs::store_conformance
