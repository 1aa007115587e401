// JobProcessor: processes one job exactly as SPEC section 2 says; the same code serves the
// process endpoints and the built-in scheduler and retries loops.
//
//   claim (short transaction) -> provider.execute (no transaction open) -> complete (one
//   transaction: final state, provider-status row, next occurrences up to the horizon)
//
// process() never blocks its caller: the claim runs on the blocking executor, the bank call on
// the provider's own machinery, the outcome is written by the CompletionWriter (many outcomes
// per transaction under load), and `done` is called exactly once, on an unspecified thread,
// after the outcome is committed. Thread-safe; any number of jobs may be in flight.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "baas/registry.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/executor.hpp"
#include "core/model.hpp"
#include "flow/provider_flow.hpp"
#include "jobs/completion_writer.hpp"
#include "jobs/job_metrics.hpp"
#include "jobs/retry_policy.hpp"
#include "schedule/calendar.hpp"
#include "store/store.hpp"

namespace rtjobs {

struct ProcessorOptions {
  RetryPolicy retry;
  int horizon_months = 2;
  // How long a claim holds a job: see lease_for().
  std::chrono::milliseconds lease{20000};
  // A transfer the bank accepted as pending is first looked up this long after (SPEC section 8;
  // the SettlementFollower takes it from there).
  std::chrono::seconds settlement_poll{900};
};

// The lease for a provider timeout: the timeout plus a margin of the same length, at most 60 s
// (SPEC section 2), so a crashed processor's job is rescued soon after its call must have ended.
inline std::chrono::milliseconds lease_for(std::chrono::milliseconds provider_timeout) {
  return provider_timeout + std::min(provider_timeout, std::chrono::milliseconds(60000));
}

enum class ProcessStatus {
  kProcessed,  // the bank was called and the outcome written (job holds the new state)
  kTerminal,   // the job was already terminal: no bank call
  kSkipped,    // due while its transfer is PAUSED: now SKIPPED, no bank call
  kNotFound,
  kInProgress,  // another processor holds the job's lease
  kNotDue,
  kLeaseLost,  // the lease expired during the bank call and someone else took the job over
  kError,      // a database or configuration failure; `error` says which
};

struct ProcessResult {
  ProcessStatus status = ProcessStatus::kError;
  std::optional<Job> job;
  std::optional<Error> error;
};

class JobProcessor {
 public:
  // Claims and reads run on `blocking`; outcomes are written through `writer` (group commit).
  // Every bank call's answer is reported to `flows` (optional); a job processed through
  // process() is not called while its provider is paused or deferred.
  JobProcessor(Store& store, CompletionWriter& writer, const ProviderRegistry& providers,
               const CalendarSet& calendars, const Clock& clock, Executor blocking,
               ProcessorOptions options, const FlowControl* flows = nullptr);

  void process(std::string job_id, std::function<void(ProcessResult)> done);

  // Continues with a job the caller already claimed under `lease_owner` (the built-in loops
  // claim in batches), its call reserved with the provider's flow control: the bank call and the
  // outcome, as process() does after its claim.
  // `answered` (optional) runs as soon as the bank answered, before the outcome is written:
  // the loops free the job's in-flight slot there, so claiming the next jobs overlaps the
  // write of these outcomes. `done` gets no job: the loops do not read it.
  void run_claimed(Job job, RecurringTransfer transfer, std::string lease_owner,
                   std::function<void(ProcessResult)> done, std::function<void()> answered = {});

  std::chrono::milliseconds lease() const { return options_.lease; }
  // Whether the provider answers inside its call (Provider::answers_inline).
  bool answers_inline(std::string_view provider) const {
    const Provider* p = providers_.find(provider);
    return p && p->answers_inline();
  }
  int max_retries() const { return options_.retry.max_retries; }
  // The bank calls and outcomes so far, for GET /metrics.
  const JobMetrics& metrics() const { return metrics_; }
  // Each provider's flow control (nullptr when none was given), for /readyz and /metrics.
  const FlowControl* flows() const { return flows_; }

  // Moves a FAILED job to RETRY, due now, with a fresh round of retries (POST /v1/jobs/{id}/retry).
  // `actor`, the caller's name, goes into the transfer's history.
  Result<Job> retry_failed(std::string_view job_id, std::string_view actor = {});

 private:
  // `return_job`: whether `done` needs the job as written (see Completion::return_job).
  // `reserved`: the caller reserved the call with the provider's flow control.
  void call_bank(Job job, RecurringTransfer transfer, std::string lease_owner, bool return_job,
                 bool reserved, std::function<void(ProcessResult)> done,
                 std::function<void()> answered);
  // `provider_paused`: the answer left the provider's circuit open or probing (or no call was
  // made because it was).
  void complete(const Job& job, const RecurringTransfer& transfer, std::string lease_owner,
                bool return_job, const TransferResult& answer, bool provider_paused,
                std::function<void(ProcessResult)> done);

  Store& store_;
  CompletionWriter& writer_;
  const ProviderRegistry& providers_;
  const CalendarSet& calendars_;
  const Clock& clock_;
  Executor blocking_;
  ProcessorOptions options_;
  const FlowControl* flows_;
  JobMetrics metrics_;
};

}  // namespace rtjobs
