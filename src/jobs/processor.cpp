#include "jobs/processor.hpp"

#include <utility>

#include "core/log.hpp"
#include "core/uuid.hpp"
#include "jobs/occurrences.hpp"
#include "jobs/state_machine.hpp"

namespace rtjobs {
namespace {

ProcessResult from_claim(ClaimStatus status, std::optional<Job> job) {
  switch (status) {
    case ClaimStatus::kSkipped:
      return {ProcessStatus::kSkipped, std::move(job), {}};
    case ClaimStatus::kNotFound:
      return {ProcessStatus::kNotFound, std::nullopt, {}};
    case ClaimStatus::kInProgress:
      return {ProcessStatus::kInProgress, std::move(job), {}};
    case ClaimStatus::kNotDue:
      return {ProcessStatus::kNotDue, std::move(job), {}};
    case ClaimStatus::kTerminal:
      return {ProcessStatus::kTerminal, std::move(job), {}};
    case ClaimStatus::kClaimed:
      break;
  }
  return {ProcessStatus::kError, std::move(job), Error{ErrorCode::kInternal, "unexpected claim"}};
}

ProcessResult failure(Error error) {
  return {ProcessStatus::kError, std::nullopt, std::move(error)};
}

std::string describe(const TransferResult& r) {
  std::string text = r.code.value_or("error");
  if (r.http_status) text = "HTTP " + std::to_string(*r.http_status) + " " + text;
  if (r.message && !r.message->empty()) text += ": " + *r.message;
  return text;
}

}  // namespace

JobProcessor::JobProcessor(Store& store, CompletionWriter& writer,
                           const ProviderRegistry& providers, const CalendarSet& calendars,
                           const Clock& clock, Executor blocking, ProcessorOptions options,
                           const FlowControl* flows)
    : store_(store),
      writer_(writer),
      providers_(providers),
      calendars_(calendars),
      clock_(clock),
      blocking_(std::move(blocking)),
      options_(options),
      flows_(flows) {}

void JobProcessor::process(std::string job_id, std::function<void(ProcessResult)> done) {
  blocking_([this, job_id = std::move(job_id), done = std::move(done)]() mutable {
    Timestamp now = clock_.now();
    ClaimRequest request{job_id, new_uuid_v7(now), now, now + options_.lease,
                         options_.retry.max_retries};
    auto claim = store_.claim_job(request);
    if (!claim) return done(failure(std::move(claim.error()).context("claiming job " + job_id)));
    if (claim->status != ClaimStatus::kClaimed) {
      if (claim->status == ClaimStatus::kSkipped) {
        log::info("job skipped: transfer paused", {{"job_id", job_id}});
      }
      return done(from_claim(claim->status, std::move(claim->job)));
    }
    call_bank(std::move(*claim->job), std::move(*claim->transfer), request.lease_owner, true, false,
              std::move(done), {});
  });
}

void JobProcessor::run_claimed(Job job, RecurringTransfer transfer, std::string lease_owner,
                               std::function<void(ProcessResult)> done,
                               std::function<void()> answered) {
  call_bank(std::move(job), std::move(transfer), std::move(lease_owner), false, true,
            std::move(done), std::move(answered));
}

void JobProcessor::call_bank(Job job, RecurringTransfer transfer, std::string lease_owner,
                             bool return_job, bool reserved,
                             std::function<void(ProcessResult)> done,
                             std::function<void()> answered) {
  Provider* provider = providers_.find(job.provider);
  ProviderFlow* flow = flows_ && provider ? flows_->find(job.provider) : nullptr;
  const Timestamp started = clock_.now();
  // An outcome without a call: `code` says why.
  auto no_call = [&](std::string code, std::string message,
                     std::optional<std::chrono::seconds> retry_after, bool paused) {
    TransferResult answer{Outcome::kUnavailable, std::nullopt,       std::nullopt,
                          std::move(code),       std::move(message), std::nullopt};
    answer.retry_after = retry_after;
    if (answered) answered();
    complete(job, transfer, std::move(lease_owner), return_job, answer, paused, std::move(done));
  };
  if (flow && !reserved) {
    // The process endpoint: no call while the provider is paused or deferred; the job waits,
    // its retries kept, until then.
    if (auto until = flow->blocked_until(started)) {
      return no_call("provider_paused", "provider '" + job.provider + "' is paused or deferred",
                     std::chrono::ceil<std::chrono::seconds>(*until - started), true);
    }
    flow->started_unreserved(started);
  }
  if (!provider) {
    // A configuration fault, not the bank's answer: retried, so fixing the configuration heals it.
    return no_call("provider_not_configured",
                   "no provider named '" + job.provider + "' is configured", std::nullopt, false);
  }
  TransferRequest request{
      .idempotency_key = bank_key(job),
      .reference = job.id,
      .amount = transfer.amount,
      .currency = transfer.currency,
      .source_account = transfer.source_account,
      .destination_account = transfer.destination_account,
      .description = transfer.description,
      .rail = transfer.rail,
      .provider_options = transfer.provider_options.value_or(""),
      // Numbered as the provider-status rows are: the retries used so far (a rescued lease
      // counts as one), plus this one. An operator's retry resets retries, so attempt 1 may
      // follow earlier calls; the idempotency key is the same on all of them.
      .attempt = job.retries + 1,
      .look_up_only = transfer.status == TransferStatus::kCancelled,
  };
  // The outcome is prepared on the provider's thread (microseconds of work) and queued for
  // the writer: no thread waits on the bank.
  metrics_.bank_call_started();
  provider->execute(std::move(request), [this, job = std::move(job), transfer = std::move(transfer),
                                         lease_owner = std::move(lease_owner), return_job,
                                         done = std::move(done), answered = std::move(answered),
                                         flow, started, called = std::chrono::steady_clock::now()](
                                            const TransferResult& answer) mutable {
    metrics_.bank_answered(job.provider, answer.outcome, std::chrono::steady_clock::now() - called);
    bool paused = flow && flow->answered(answer, started, clock_.now());
    if (answered) answered();
    complete(job, transfer, std::move(lease_owner), return_job, answer, paused, std::move(done));
  });
}

void JobProcessor::complete(const Job& job, const RecurringTransfer& transfer,
                            std::string lease_owner, bool return_job, const TransferResult& answer,
                            bool provider_paused, std::function<void(ProcessResult)> done) {
  Timestamp now = clock_.now();
  Completion c;
  c.job_id = job.id;
  c.lease_owner = std::move(lease_owner);
  c.now = now;
  c.return_job = return_job;
  c.bank_status = answer.bank_status;
  AttemptOutcome decided = decide_outcome(job.retries,
                                          {.outcome = answer.outcome,
                                           .http_status = answer.http_status,
                                           .rate_limited = answer.http_status == 429,
                                           .provider_paused = provider_paused,
                                           .outcome_unknown = answer.outcome_unknown,
                                           .not_at_bank = answer.not_at_bank,
                                           .retry_after = answer.retry_after,
                                           .earlier_outcome_unknown = job.outcome_unknown},
                                          options_.retry, now);
  c.status = decided.status;
  c.result = decided.result;
  c.retries = decided.retries;
  c.next_attempt_at = decided.next_attempt_at;
  c.outcome_unknown = decided.outcome_unknown;
  if (answer.outcome == Outcome::kSucceeded) {
    c.provider_reference = answer.reference;
    if (answer.settlement == SettlementStatus::kPending) {
      c.settlement_status = SettlementStatus::kPending;
      c.settlement_check_at = now + options_.settlement_poll;
    }
  } else {
    c.provider_status = ProviderStatus{
        new_uuid_v7(now),   job.id,      transfer.id,    job.provider,         job.retries + 1,
        answer.http_status, answer.code, answer.message, answer.response_body, now};
    c.last_error = describe(answer);
    // A bank that answers a refusal with a transfer object (Unit "Rejected", Treasury Prime
    // "error") gave it an id: kept, so the job points at the bank's record of the refusal.
    if (answer.outcome == Outcome::kDeclined) c.provider_reference = answer.reference;
  }
  // A cancelled standing order has no next occurrences.
  if (transfer.status != TransferStatus::kCancelled) {
    auto next = next_occurrences(transfer, calendars_, now, options_.horizon_months);
    if (!next)
      return done(failure(std::move(next.error()).context("scheduling transfer " + transfer.id)));
    c.new_jobs = std::move(next->jobs);
    c.planned_end = schedule_end(transfer.schedule);
    c.schedule_exhausted = next->exhausted;
    c.next_occurrence_at = next->next_due_at;
  }

  JobStatus status = c.status;
  std::optional<JobResult> result = c.result;
  int retries = c.retries;
  writer_.write(std::move(c), [this, job_id = job.id, provider = job.provider, status, result,
                               retries, done = std::move(done)](Result<CompletionResult> written) {
    if (!written) {
      // Not recorded: the lease runs out and the job is re-attempted with the same
      // idempotency key, so the bank's answer is replayed rather than repeated.
      return done(
          failure(std::move(written.error()).context("recording outcome of job " + job_id)));
    }
    if (written->status == CompletionStatus::kLeaseLost) {
      metrics_.lease_lost(provider);
      log::warn("job lease lost during the bank call", {{"job_id", job_id}});
      return done({ProcessStatus::kLeaseLost, std::move(written->job), {}});
    }
    metrics_.outcome_written(provider, status, result);
    log::info("job processed", {{"job_id", job_id},
                                {"status", to_string(status)},
                                {"result", result ? to_string(*result) : "null"},
                                {"retries", retries}});
    done({ProcessStatus::kProcessed, std::move(written->job), {}});
  });
}

Result<Job> JobProcessor::retry_failed(std::string_view job_id, std::string_view actor) {
  // A cancelled standing order moves no more money, even on an operator's retry: the store
  // refuses (reason "transfer_cancelled") in the transaction of the retry, so a cancel landing
  // at the same time cannot slip between a check here and the update.
  auto job = store_.retry_failed_job(job_id, clock_.now(), actor);
  if (!job) return std::unexpected(std::move(job.error()).context("retrying job"));
  return job;
}

}  // namespace rtjobs
