// A job of a CANCELLED transfer never reaches the bank, and a PAUSED transfer's retries wait
// (SPEC section 2; issue 17, item 2): every claim (single, batch) refuses them whatever the
// job's state, and retry_failed_job refuses a cancelled transfer's job in its own transaction,
// so a cancel racing an operator's retry is either wholly before it or wholly after it.
#include <iostream>
#include <latch>
#include <thread>

#include "conformance.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

// A RETRY job due at `next_attempt_at` after one attempt.
Job as_retry(Job j, Timestamp next_attempt_at) {
  j.status = JobStatus::kRetry;
  j.retries = 1;
  j.next_attempt_at = next_attempt_at;
  return j;
}

// A PROCESSING job whose lease (held by a dead process) expired at `expired_at`.
Job as_expired(Job j, Timestamp expired_at) {
  j.status = JobStatus::kProcessing;
  j.lease_owner = "dead";
  j.lease_expires_at = expired_at;
  return j;
}

void expect_cancelled_by_claim(const ClaimResult& c, const Job& expected, Timestamp now) {
  EXPECT_EQ(c.status, ClaimStatus::kTerminal);
  ASSERT_TRUE(c.job);
  EXPECT_EQ(c.job->id, expected.id);
  EXPECT_EQ(c.job->status, JobStatus::kCancelled);
  EXPECT_EQ(c.job->finished_at, now);
  EXPECT_EQ(c.job->retries, expected.retries);
  EXPECT_FALSE(c.job->lease_owner || c.job->lease_expires_at);
  EXPECT_FALSE(c.transfer);
}

// A due job of a CANCELLED transfer is cancelled by the claim, unless the bank may have executed
// its last attempt (a lease that ran out, a RETRY after an unknown outcome): that one is claimed,
// and its attempt settles what the bank did (jobs/state_machine.hpp, decide_claim).
TEST_P(StoreConformance, SingleClaimCancelsEveryDueJobOfACancelledTransferNotInDoubt) {
  RecurringTransfer t = transfer(TransferStatus::kCancelled);
  Job pending = job(t, 1, kT0);
  Job in_fly = job(t, 2, kT0, JobStatus::kInFly);
  Job retry = as_retry(job(t, 3, kT0 - 1h), kT0);
  Job expired = as_expired(job(t, 4, kT0 - 1h), kT0 - 1s);
  Job held = as_expired(job(t, 5, kT0 - 1h), kT0 + 1h);  // a lease not expired: still at the bank
  Job retry_later = as_retry(job(t, 6, kT0 - 1h), kT0 + 1h);
  Job in_doubt = as_retry(job(t, 7, kT0 - 1h), kT0);
  in_doubt.outcome_unknown = true;
  t.last_sequence = 7;
  ASSERT_TRUE(
      store_->create_transfer(t, {pending, in_fly, retry, expired, held, retry_later, in_doubt}));

  Timestamp now = kT0 + 1s;
  expect_cancelled_by_claim(claim(pending.id, now), pending, now);
  expect_cancelled_by_claim(claim(in_fly.id, now), in_fly, now);
  expect_cancelled_by_claim(claim(retry.id, now), retry, now);
  EXPECT_EQ(claim(held.id, now).status, ClaimStatus::kInProgress);
  EXPECT_EQ(claim(retry_later.id, now).status, ClaimStatus::kNotDue);
  for (const Job& j : {pending, in_fly, retry}) {
    EXPECT_EQ(get(j.id).status, JobStatus::kCancelled);
    EXPECT_EQ(claim(j.id, now + 1s).status, ClaimStatus::kTerminal);
  }
  expect_same(get(held.id), held);
  expect_same(get(retry_later.id), retry_later);
  for (const Job& j : {expired, in_doubt}) {
    ClaimResult c = claim(j.id, now);
    ASSERT_EQ(c.status, ClaimStatus::kClaimed);
    ASSERT_TRUE(c.transfer);
    EXPECT_EQ(c.transfer->status, TransferStatus::kCancelled);  // the processor only looks
    EXPECT_TRUE(c.job->outcome_unknown);
    EXPECT_EQ(get(j.id).status, JobStatus::kProcessing);
  }
}

TEST_P(DueClaims, BatchClaimCancelsRetriesOfACancelledTransfer) {
  RecurringTransfer t = transfer(TransferStatus::kCancelled);
  Job retry = retry_job(t, 1, kT0);
  insert(t, {retry});
  Timestamp now = kT0 + 1s;
  auto got = claim_due(now, 10, false, true);
  ASSERT_EQ(got.size(), 1u);
  expect_finished(got[0], retry, ClaimStatus::kTerminal, JobStatus::kCancelled, now);
  EXPECT_TRUE(claim_due(now + 1s, 10, true, true).empty());
}

// The way a RETRY job comes to live under a CANCELLED transfer without a race: a cancel leaves a
// job at the bank (PROCESSING) alone, and its lease then expires. The bank may have executed it,
// so it is claimed again, with its transfer CANCELLED (the processor then only settles what the
// bank did: TransferRequest::look_up_only), never cancelled blind.
TEST_P(DueClaims, JobAtTheBankWhenCancelledIsClaimedOnlyToSettleIt) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0, "owner-a", 3, 1s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[1].id, kT0, "owner-a", 3, 1s).status, ClaimStatus::kClaimed);
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kCancel, kT0 + 100ms));
  EXPECT_EQ(get(jobs[0].id).status, JobStatus::kProcessing);

  // Lease expired, not rescued: a single claim takes it over.
  Timestamp now = kT0 + 2s;
  ClaimResult taken = claim(jobs[0].id, now, "owner-b");
  ASSERT_EQ(taken.status, ClaimStatus::kClaimed);
  EXPECT_EQ(taken.transfer->status, TransferStatus::kCancelled);
  EXPECT_TRUE(taken.job->outcome_unknown);

  // Rescued to RETRY, in doubt: the cancel did not end it, and the batch claim hands it out.
  auto rescued = store_->rescue_expired_leases(now, 3, 10);
  ASSERT_TRUE(rescued) << rescued.error().message;
  EXPECT_EQ(*rescued, 1);
  Job retry = get(jobs[1].id);
  ASSERT_EQ(retry.status, JobStatus::kRetry);
  EXPECT_TRUE(retry.outcome_unknown);
  auto got = claim_due(now + 1s, 10, true, true);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, ClaimStatus::kClaimed);
  ASSERT_TRUE(got[0].transfer);
  EXPECT_EQ(got[0].transfer->status, TransferStatus::kCancelled);
}

TEST_P(StoreConformance, RetriesOfAPausedTransferWaitForResume) {
  RecurringTransfer t = transfer(TransferStatus::kPaused);
  Job single = as_retry(job(t, 1, kT0 - 1h), kT0);
  Job batch = as_retry(job(t, 2, kT0 - 1h), kT0 + 100ms);
  Job expired = as_expired(job(t, 3, kT0 - 1h), kT0 - 1s);
  Job pending = job(t, 4, kT0);
  t.last_sequence = 4;
  ASSERT_TRUE(store_->create_transfer(t, {single, batch, expired, pending}));

  Timestamp now = kT0 + 1s;
  ClaimResult c = claim(single.id, now);
  EXPECT_EQ(c.status, ClaimStatus::kNotDue);
  ASSERT_TRUE(c.job);
  expect_same(*c.job, single);
  EXPECT_EQ(claim(expired.id, now).status, ClaimStatus::kNotDue);
  auto loops = store_->claim_due_jobs({"batch-1", now, now + 30s, 10, true, true, 3});
  ASSERT_TRUE(loops) << loops.error().message;
  ASSERT_EQ(loops->size(), 1u);  // the due PENDING job is skipped, as before
  EXPECT_EQ((*loops)[0].status, ClaimStatus::kSkipped);
  EXPECT_EQ((*loops)[0].job->id, pending.id);
  // Waiting keeps the attempt count and the due time: the earlier attempt may have reached the
  // bank, so the job is neither skipped nor re-counted.
  expect_same(get(single.id), single);
  expect_same(get(batch.id), batch);
  expect_same(get(expired.id), expired);
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kPaused);

  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kResume, now));
  Timestamp later = now + 1s;
  ClaimResult resumed = claim(single.id, later);
  ASSERT_EQ(resumed.status, ClaimStatus::kClaimed);
  EXPECT_EQ(resumed.job->retries, 1);
  ClaimResult rescued = claim(expired.id, later);
  ASSERT_EQ(rescued.status, ClaimStatus::kClaimed);
  EXPECT_EQ(rescued.job->retries, 1);  // a lease-expired job's claim counts as a retry
  auto after = store_->claim_due_jobs({"batch-1", later, later + 30s, 10, false, true, 3});
  ASSERT_TRUE(after) << after.error().message;
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].status, ClaimStatus::kClaimed);
  EXPECT_EQ((*after)[0].job->id, batch.id);
  EXPECT_EQ((*after)[0].job->retries, 1);
}

// `j` (due, of an ACTIVE transfer) made FAILED through a claim and a FAILED outcome.
Job failed_job(Store& store, const Job& j) {
  auto claimed = store.claim_job({j.id, "owner-f", kT0, kT0 + 30s, 3});
  EXPECT_TRUE(claimed && claimed->status == ClaimStatus::kClaimed);
  auto failed = store.complete_job({.job_id = j.id,
                                    .lease_owner = "owner-f",
                                    .now = kT0,
                                    .status = JobStatus::kFailed,
                                    .retries = 3,
                                    .last_error = "503"});
  EXPECT_TRUE(failed && failed->status == CompletionStatus::kWritten);
  return failed && failed->job ? *failed->job : Job{};
}

void expect_refused_as_cancelled(const Result<Job>& r) {
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  EXPECT_EQ(r.error().field, "job_id");
  EXPECT_EQ(r.error().reason, "transfer_cancelled");
}

TEST_P(StoreConformance, RetryOfAFailedJobRefusesACancelledTransfer) {
  // Cancel, then retry: refused, the job stays FAILED and no claim hands it out.
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  Job failed = failed_job(*store_, jobs[0]);
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kCancel, kT0 + 1s));
  expect_refused_as_cancelled(store_->retry_failed_job(jobs[0].id, kT0 + 2s));
  expect_same(get(jobs[0].id), failed);
  EXPECT_EQ(claim(jobs[0].id, kT0 + 3s).status, ClaimStatus::kTerminal);

  // Retry, then cancel: the cancel takes the RETRY job with it.
  RecurringTransfer u = transfer();
  auto other = create(u, {kT0});
  failed_job(*store_, other[0]);
  ASSERT_TRUE(store_->retry_failed_job(other[0].id, kT0 + 2s));
  ASSERT_TRUE(store_->change_transfer_status(u.id, TransferAction::kCancel, kT0 + 3s));
  EXPECT_EQ(get(other[0].id).status, JobStatus::kCancelled);
  EXPECT_EQ(claim(other[0].id, kT0 + 4s).status, ClaimStatus::kTerminal);

  // Any job of a cancelled transfer is refused as such (the reason the API has always given).
  expect_refused_as_cancelled(store_->retry_failed_job(other[0].id, kT0 + 5s));
}

// An operator's retry and a cancel, at once, from two connections: whichever wins, no live job
// is left under the cancelled transfer and no claim hands the job out.
TEST_P(StoreConformance, RetryOfAFailedJobRacingACancelLeavesNothingToExecute) {
  auto other = open();
  ASSERT_NE(other, nullptr);
  constexpr int kRounds = 50;
  int retried = 0;
  for (int round = 0; round < kRounds; ++round) {
    RecurringTransfer t = transfer();
    auto jobs = create(t, {kT0});
    failed_job(*store_, jobs[0]);
    std::latch start(2);
    std::optional<Result<Job>> retry;
    std::optional<Result<RecurringTransfer>> cancel;
    std::thread retrier([&] {
      start.arrive_and_wait();
      retry = store_->retry_failed_job(jobs[0].id, kT0 + 1s);
    });
    std::thread canceller([&] {
      start.arrive_and_wait();
      cancel = other->change_transfer_status(t.id, TransferAction::kCancel, kT0 + 1s);
    });
    retrier.join();
    canceller.join();
    ASSERT_TRUE(*cancel) << cancel->error().message;
    Job after = get(jobs[0].id);
    if (*retry) {
      ++retried;  // the retry came first: the cancel took the RETRY job with it
      EXPECT_EQ(after.status, JobStatus::kCancelled) << "round " << round;
    } else {
      expect_refused_as_cancelled(*retry);
      EXPECT_EQ(after.status, JobStatus::kFailed) << "round " << round;
    }
    for (const Job& j : jobs_of(t.id)) {
      EXPECT_TRUE(j.status != JobStatus::kRetry && j.status != JobStatus::kPending &&
                  j.status != JobStatus::kInFly)
          << "round " << round << ": job " << j.id << " is " << to_string(j.status)
          << " under a CANCELLED transfer";
    }
    EXPECT_NE(claim(jobs[0].id, kT0 + 2s).status, ClaimStatus::kClaimed) << "round " << round;
  }
  std::cout << "retry before cancel in " << retried << " of " << kRounds << " rounds\n";
}

}  // namespace
}  // namespace rtjobs::store_conformance
