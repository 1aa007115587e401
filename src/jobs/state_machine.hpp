// The job state machine of SPEC sections 2 and 8, as pure functions of a job's status, its
// transfer's status, the time and the bank's answer: what a claim, an operator's retry, a
// transfer's cancel, an operator's skip, a lease rescue and an attempt's outcome make of a job. The
// C++ paths call these. The statements that decide inside the database say the same in SQL beside
// them (store/record_codec.hpp: claim_due_sql and claim_outcome_sql, used by the PostgreSQL claims
// and both stores' batch claims; the cancel and rescue statements), and
// tests/store_conformance/state_machine_test.cpp checks, for every job status x transfer status
// x time, that both stores do what these functions say.
//
// Header-only: the stores (which the jobs module builds on) use it too.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>

#include "core/clock.hpp"
#include "core/model.hpp"
#include "jobs/retry_policy.hpp"

namespace rtjobs {

// Whether the bank may have executed the job's last attempt: a lease that ran out (its processor
// died or hung mid-call), or a RETRY after an attempt whose outcome is unknown (SPEC section 8).
inline bool outcome_in_doubt(const Job& job) {
  return job.status == JobStatus::kProcessing ||
         (job.status == JobStatus::kRetry && job.outcome_unknown);
}

// What a claim does with a job (Store::claim_job, the batch claims). A due job (PENDING/IN_FLY
// past due_at, RETRY past next_attempt_at, PROCESSING past its lease) of a CANCELLED transfer is
// cancelled: it never starts a payment. The exception is a job whose last attempt the bank may
// have executed (outcome_in_doubt): it is claimed, and the attempt only settles what the bank did
// (TransferRequest::look_up_only), so a cancel never hides money that moved. Of a PAUSED
// transfer, a PENDING/IN_FLY job is skipped, and a RETRY or lease-expired one (an attempt may
// already have reached the bank) waits, kNotDue, until the transfer is resumed.
enum class ClaimAction { kClaim, kSkip, kCancel, kNotDue, kInProgress, kTerminal };

inline ClaimAction decide_claim(const Job& job, TransferStatus transfer_status, Timestamp now) {
  switch (job.status) {
    case JobStatus::kPending:
    case JobStatus::kInFly:
      if (job.due_at > now) return ClaimAction::kNotDue;
      if (transfer_status == TransferStatus::kPaused) return ClaimAction::kSkip;
      break;
    case JobStatus::kRetry:
      if (job.next_attempt_at && *job.next_attempt_at > now) return ClaimAction::kNotDue;
      if (transfer_status == TransferStatus::kPaused) return ClaimAction::kNotDue;  // waits
      break;
    case JobStatus::kProcessing:
      if (job.lease_expires_at && *job.lease_expires_at > now) return ClaimAction::kInProgress;
      if (transfer_status == TransferStatus::kPaused) return ClaimAction::kNotDue;  // waits
      break;
    case JobStatus::kFinished:
    case JobStatus::kFailed:
    case JobStatus::kSkipped:
    case JobStatus::kCancelled:
      return ClaimAction::kTerminal;
  }
  if (transfer_status == TransferStatus::kCancelled && !outcome_in_doubt(job)) {
    return ClaimAction::kCancel;
  }
  return ClaimAction::kClaim;
}

// An operator's retry (POST /v1/jobs/{id}/retry): never a job of a CANCELLED transfer (a
// cancelled standing order moves no more money; said first, whatever the job's status), and
// only a FAILED job. A retried job is RETRY,
// due at once, its retries back to 0; of a PAUSED transfer it then waits for the resume
// (decide_claim).
enum class RetryDecision { kRetry, kNotFailed, kTransferCancelled };

inline RetryDecision decide_operator_retry(JobStatus job, TransferStatus transfer) {
  if (transfer == TransferStatus::kCancelled) return RetryDecision::kTransferCancelled;
  if (job != JobStatus::kFailed) return RetryDecision::kNotFailed;
  return RetryDecision::kRetry;
}

// An operator's skip of one occurrence (POST /v1/jobs/{id}/skip): only a PENDING job, which no
// processor has claimed, becomes SKIPPED. Once claimed (PROCESSING, then RETRY or final) the
// bank may have it, and a skip would hide money that moved. The stores decide it in the
// statement that writes it (UPDATE ... WHERE status = 'PENDING'), so a concurrent claim is
// wholly before (the skip is refused) or wholly after (it finds the job SKIPPED).
inline bool operator_may_skip(JobStatus job) { return job == JobStatus::kPending; }

// The jobs a transfer's cancel ends (CANCELLED in the cancel's transaction): those not at the
// bank, not final, and whose last attempt the bank cannot have executed. A PROCESSING job is at
// the bank: its outcome is recorded when it comes. It and a RETRY job in doubt are settled by
// their next attempt (decide_claim), which ends them FINISHED if the bank executed them and
// CANCELLED if it did not.
inline bool cancel_ends(const Job& job) {
  return job.status == JobStatus::kPending || job.status == JobStatus::kInFly ||
         (job.status == JobStatus::kRetry && !job.outcome_unknown);
}

// A lease that ran out (its processor died or hung) counts as an attempt whose outcome is
// unknown: RETRY, due from the lease's end, one more retry used, never beyond the maximum (an
// unknown outcome never fails a job: SPEC section 8).
inline int retries_after_rescue(int retries, int max_retries) {
  return std::max(retries, std::min(retries + 1, max_retries));
}

// Whether an attempt's outcome is written (Store::complete_jobs): only by the lease's holder,
// while the job is PROCESSING. A lease that ran out but that no one took over still holds: the
// answer came, and it is the truth about the money. A processor whose lease was taken over writes
// nothing (the later attempt, under the same idempotency key, writes the outcome).
inline bool accepts_outcome(const Job& job, std::string_view lease_owner) {
  return job.status == JobStatus::kProcessing && job.lease_owner == lease_owner;
}

// What the bank's answer to an attempt says, as far as the job's state is concerned.
struct AttemptAnswer {
  Outcome outcome = Outcome::kUnavailable;
  std::optional<int> http_status;  // absent: no answer (a timeout, no connection, no call made)
  bool rate_limited = false;       // HTTP 429: "not now", not "no"
  bool provider_paused = false;    // the provider's circuit is open (or opened on this answer)
  bool outcome_unknown = false;    // the bank may have acted (a timeout after sending)
  // A settling look-up (the job's transfer is cancelled) found nothing under the job's key: the
  // bank never executed it.
  bool not_at_bank = false;
  std::optional<std::chrono::seconds> retry_after;  // the bank asked to wait this long
  // The job's earlier attempt may have been executed (Job::outcome_unknown as claimed).
  bool earlier_outcome_unknown = false;
};

// Whether an answer settles what an earlier attempt under the same key did (SPEC section 8: an
// attempt with the same idempotency key settles it): a final answer, a look-up that found
// nothing, or an unavailable HTTP answer from the bank's handling of the transfer (5xx, 408).
// A 401/403 (credentials), 409 (the key in use by a request still running) or 429 (a rate
// limit) comes before the bank looks at the key, and no answer says nothing.
inline bool settles_earlier_attempt(const AttemptAnswer& answer) {
  if (answer.outcome != Outcome::kUnavailable || answer.not_at_bank) return true;
  if (!answer.http_status) return false;
  const int s = *answer.http_status;
  return s != 401 && s != 403 && s != 409 && s != 429;
}

// What an attempt makes of its job. `result` is set with FINISHED; `next_attempt_at` and
// `outcome_unknown` (the bank may have executed the job) with RETRY.
struct AttemptOutcome {
  JobStatus status = JobStatus::kFinished;
  std::optional<JobResult> result;
  int retries = 0;
  std::optional<Timestamp> next_attempt_at;
  bool outcome_unknown = false;
};

// The outcome of an attempt by a job that had used `retries` retries (SPEC section 2 step 5 and
// section 8). The outcome is unknown when this attempt's is, or an earlier attempt's was and
// this answer does not settle it.
// - accepted: FINISHED/SUCCEEDED; refused: FINISHED/DECLINED;
// - nothing at the bank under the key of a cancelled transfer's job: CANCELLED;
// - unavailable with a 429 or while the provider is paused: RETRY with the same retries, due
//   after the bank's Retry-After (else the backoff the next retry would have);
// - unavailable with the retries used up: FAILED, unless the outcome is unknown;
// - else RETRY with one more retry (never beyond the maximum), due after the backoff.
inline AttemptOutcome decide_outcome(int retries, const AttemptAnswer& answer,
                                     const RetryPolicy& policy, Timestamp now) {
  switch (answer.outcome) {
    case Outcome::kSucceeded:
      return {JobStatus::kFinished, JobResult::kSucceeded, retries, std::nullopt};
    case Outcome::kDeclined:
      return {JobStatus::kFinished, JobResult::kDeclined, retries, std::nullopt};
    case Outcome::kUnavailable:
      break;
  }
  if (answer.not_at_bank) return {JobStatus::kCancelled, std::nullopt, retries, std::nullopt};
  const bool unknown = answer.outcome_unknown ||
                       (answer.earlier_outcome_unknown && !settles_earlier_attempt(answer));
  if (answer.rate_limited || answer.provider_paused) {
    Timestamp due =
        answer.retry_after ? now + *answer.retry_after : policy.next_attempt(now, retries + 1);
    return {JobStatus::kRetry, std::nullopt, retries, due, unknown};
  }
  if (retries >= policy.max_retries && !unknown) {
    return {JobStatus::kFailed, std::nullopt, retries, std::nullopt};
  }
  int used = std::min(retries + 1, std::max(retries, policy.max_retries));
  return {JobStatus::kRetry, std::nullopt, used, policy.next_attempt(now, used), unknown};
}

}  // namespace rtjobs
