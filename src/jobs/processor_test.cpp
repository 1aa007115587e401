#include "jobs/processor.hpp"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <vector>

#include "jobs/test_fixture.hpp"

namespace rtjobs::jobs_test {
namespace {

using namespace std::chrono_literals;

// A bank that takes any transfer, keeps every request and gives the queued answers in turn,
// inline.
class ScriptedProvider final : public Provider {
 public:
  std::string_view name() const override { return "bank"; }
  std::chrono::milliseconds timeout() const override { return 1s; }
  Result<void> check_transfer(const TransferSpec&) const override { return {}; }
  void execute(TransferRequest request, std::function<void(TransferResult)> done) override {
    TransferResult answer;
    {
      std::lock_guard lock(mutex_);
      requests.push_back(std::move(request));
      answer = answers.at(requests.size() - 1);
    }
    done(answer);
  }

  std::vector<TransferResult> answers;
  std::vector<TransferRequest> requests;  // read after the calls

 private:
  std::mutex mutex_;
};

// The processor over the "bank" above, retrying at once; transfers come from a TransferService.
class JobProcessorTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    bank_ = add_provider(std::make_unique<ScriptedProvider>());
    writer_ = std::make_unique<CompletionWriter>(*store_, 1, 16);
    ProcessorOptions options;
    options.retry.backoff_base = 0s;
    processor_ = std::make_unique<JobProcessor>(*store_, *writer_, providers_, calendars_, clock_,
                                                inline_executor(), options);
  }
  void TearDown() override {
    processor_.reset();
    writer_.reset();
  }

  // Creates the transfer; returns its first job's id (due at kT0).
  std::string first_job(const NewTransfer& t) {
    TransferService service(*store_, providers_, calendars_, clock_, 1);
    auto created = service.create(t);
    EXPECT_TRUE(created) << created.error().message;
    JobFilter filter;
    filter.recurring_transfer_id = created ? created->transfer.id : "";
    auto jobs = store_->list_jobs(filter);
    EXPECT_TRUE(jobs && !jobs->data.empty());
    return jobs && !jobs->data.empty() ? jobs->data.front().id : "";
  }

  ProcessResult process(const std::string& job_id) {
    std::promise<ProcessResult> result;
    processor_->process(job_id, [&](ProcessResult r) { result.set_value(std::move(r)); });
    return result.get_future().get();
  }

  ScriptedProvider* bank_ = nullptr;
  std::unique_ptr<CompletionWriter> writer_;
  std::unique_ptr<JobProcessor> processor_;
};

TEST_F(JobProcessorTest, TheBankGetsTheRailOptionsAndAttemptAndTheJobItsStatus) {
  TransferResult pending{Outcome::kUnavailable, 500, {}, "internal_error", "try later", "{}"};
  pending.bank_status = "pending_submission";
  TransferResult sent{Outcome::kSucceeded, 201, "tr_1", {}, {}, {}};
  sent.bank_status = "Sent";
  bank_->answers = {pending, sent};
  std::string job_id = first_job(ach_transfer("bank"));

  ProcessResult first = process(job_id);
  ASSERT_EQ(first.status, ProcessStatus::kProcessed);
  ASSERT_TRUE(first.job);
  EXPECT_EQ(first.job->status, JobStatus::kRetry);
  EXPECT_EQ(first.job->bank_status, "pending_submission");

  clock_.advance(1s);
  ProcessResult second = process(job_id);
  ASSERT_EQ(second.status, ProcessStatus::kProcessed);
  ASSERT_TRUE(second.job);
  EXPECT_EQ(second.job->status, JobStatus::kFinished);
  EXPECT_EQ(second.job->bank_status, "Sent");
  EXPECT_EQ(store_->get_job(job_id).value()->bank_status, "Sent");

  ASSERT_EQ(bank_->requests.size(), 2u);
  for (const TransferRequest& r : bank_->requests) {
    EXPECT_EQ(r.rail, Rail::kAch);
    EXPECT_EQ(r.provider_options, R"({"sec_code":"PPD"})");
    EXPECT_EQ(r.idempotency_key, bank_->requests.front().idempotency_key);
    EXPECT_EQ(r.reference, job_id);
  }
  EXPECT_EQ(bank_->requests[0].attempt, 1);
  EXPECT_EQ(bank_->requests[1].attempt, 2);  // after one retry
}

TEST_F(JobProcessorTest, ATransferWithoutOptionsSendsThemEmpty) {
  NewTransfer book = ach_transfer("bank");
  book.rail = Rail::kBook;
  book.provider_options.reset();
  bank_->answers = {TransferResult{Outcome::kSucceeded, 201, "tr_2", {}, {}, {}}};

  ProcessResult r = process(first_job(book));
  ASSERT_EQ(r.status, ProcessStatus::kProcessed);
  ASSERT_TRUE(r.job);
  EXPECT_FALSE(r.job->bank_status);  // the bank gave none
  ASSERT_EQ(bank_->requests.size(), 1u);
  EXPECT_EQ(bank_->requests[0].rail, Rail::kBook);
  EXPECT_EQ(bank_->requests[0].provider_options, "");
  EXPECT_EQ(bank_->requests[0].attempt, 1);
}

TransferResult unavailable(bool unknown) {
  TransferResult r{Outcome::kUnavailable, {}, {}, unknown ? "timeout" : "internal_error", "", {}};
  if (!unknown) r.http_status = 500;
  r.outcome_unknown = unknown;
  return r;
}

// SPEC section 8: a FAILED job has never moved money. With the retries used up, an answered
// "unavailable" fails the job, but an unknown outcome (the bank may have executed it) gets one
// more attempt under the same key, as many times as the outcome stays unknown.
TEST_F(JobProcessorTest, AnUnknownOutcomeNeverFailsTheJob) {
  bank_->answers = {unavailable(false), unavailable(false), unavailable(false),
                    unavailable(true),  unavailable(true),  unavailable(false)};
  const std::string job_id = first_job(ach_transfer("bank"));
  for (int retries = 1; retries <= 3; ++retries) {
    ProcessResult r = process(job_id);
    ASSERT_TRUE(r.job);
    EXPECT_EQ(r.job->status, JobStatus::kRetry);
    EXPECT_EQ(r.job->retries, retries);
  }
  for (int unknown = 0; unknown < 2; ++unknown) {  // retries used up, outcome unknown
    ProcessResult r = process(job_id);
    ASSERT_TRUE(r.job);
    EXPECT_EQ(r.job->status, JobStatus::kRetry);
    EXPECT_EQ(r.job->retries, 3);  // never beyond the maximum
  }
  ProcessResult last = process(job_id);  // the bank answers: it did not execute it
  ASSERT_TRUE(last.job);
  EXPECT_EQ(last.job->status, JobStatus::kFailed);
  ASSERT_EQ(bank_->requests.size(), 6u);
  for (const TransferRequest& r : bank_->requests) {
    EXPECT_EQ(r.idempotency_key, bank_->requests.front().idempotency_key);
  }
}

TEST_F(JobProcessorTest, AnUnknownOutcomeThenTheBanksAnswerFinishesTheJob) {
  bank_->answers = {unavailable(true),
                    TransferResult{Outcome::kSucceeded, 200, "tr_3", {}, {}, {}}};
  const std::string job_id = first_job(ach_transfer("bank"));
  ProcessResult first = process(job_id);
  ASSERT_TRUE(first.job);
  EXPECT_EQ(first.job->status, JobStatus::kRetry);
  ProcessResult second = process(job_id);
  ASSERT_TRUE(second.job);
  EXPECT_EQ(second.job->status, JobStatus::kFinished);
  EXPECT_EQ(second.job->provider_reference, "tr_3");
  EXPECT_EQ(bank_->requests.at(1).attempt, 2);
}

// An attempt refused before it was sent (no connection): says nothing of what the bank did.
TransferResult not_connected() {
  return TransferResult{Outcome::kUnavailable, {}, {}, "connection_failed", "refused", {}};
}

// SPEC section 8: an earlier attempt's unknown outcome is settled only by the bank's answer under
// the key; a later attempt that never reached the bank leaves it unknown, so the job is not
// FAILED by it even with its retries used up.
TEST_F(JobProcessorTest, AnEarlierUnknownOutcomeIsNotSettledByAnAttemptThatNeverReachedTheBank) {
  bank_->answers = {unavailable(true), unavailable(true), unavailable(true),
                    not_connected(),   not_connected(),   unavailable(false)};
  const std::string job_id = first_job(ach_transfer("bank"));
  for (int i = 0; i < 5; ++i) {
    ProcessResult r = process(job_id);
    ASSERT_TRUE(r.job);
    EXPECT_EQ(r.job->status, JobStatus::kRetry) << i;
    EXPECT_TRUE(r.job->outcome_unknown) << i;
  }
  ProcessResult answered = process(job_id);  // HTTP 500 under the key: the bank did not execute it
  ASSERT_TRUE(answered.job);
  EXPECT_EQ(answered.job->status, JobStatus::kFailed);
  EXPECT_FALSE(answered.job->outcome_unknown);
}

// The jobs of `transfer_id` by status.
std::map<JobStatus, int> statuses_of(Store& store, const std::string& transfer_id) {
  JobFilter filter;
  filter.recurring_transfer_id = transfer_id;
  std::map<JobStatus, int> out;
  auto jobs = store.list_jobs(filter);
  EXPECT_TRUE(jobs);
  if (jobs) {
    for (const Job& j : jobs->data) ++out[j.status];
  }
  return out;
}

// A cancel moves no more money but never hides money that moved: a RETRY job whose last attempt
// the bank may have executed is left to its next attempt, which only settles what the bank did
// (look_up_only). Nothing under the key: CANCELLED. The bank's transfer: FINISHED with it.
TEST_F(JobProcessorTest, ACancelledTransfersJobInDoubtIsSettledNotSent) {
  TransferResult none{Outcome::kUnavailable, 200, {}, "not_at_bank", "nothing", "{\"data\":[]}"};
  none.not_at_bank = true;
  TransferResult found{Outcome::kSucceeded, 200, "tr_7", {}, {}, "{}"};
  for (const TransferResult& settled : {none, found}) {
    SCOPED_TRACE(settled.code.value_or("found"));
    bank_->requests.clear();
    bank_->answers = {unavailable(true), settled};
    NewTransfer t = ach_transfer("bank");
    t.source_account = "acct-" + settled.code.value_or("found");
    const std::string job_id = first_job(t);
    ASSERT_EQ(process(job_id).job->status, JobStatus::kRetry);
    const std::string transfer_id = store_->get_job(job_id).value()->recurring_transfer_id;
    ASSERT_TRUE(store_->change_transfer_status(transfer_id, TransferAction::kCancel, clock_.now()));
    Job waiting = store_->get_job(job_id).value().value();
    EXPECT_EQ(waiting.status, JobStatus::kRetry);  // not cancelled: the bank may have paid it
    EXPECT_TRUE(waiting.outcome_unknown);

    ProcessResult r = process(job_id);
    ASSERT_EQ(r.status, ProcessStatus::kProcessed);
    ASSERT_EQ(bank_->requests.size(), 2u);
    EXPECT_FALSE(bank_->requests[0].look_up_only);
    EXPECT_TRUE(bank_->requests[1].look_up_only);
    EXPECT_EQ(bank_->requests[1].idempotency_key, bank_->requests[0].idempotency_key);
    Job after = store_->get_job(job_id).value().value();
    if (settled.not_at_bank) {
      EXPECT_EQ(after.status, JobStatus::kCancelled);
      EXPECT_TRUE(after.finished_at);
    } else {
      EXPECT_EQ(after.status, JobStatus::kFinished);
      EXPECT_EQ(after.result, JobResult::kSucceeded);
      EXPECT_EQ(after.provider_reference, "tr_7");
    }
    EXPECT_FALSE(after.outcome_unknown);
    // A cancelled standing order gets no next occurrences from this outcome.
    auto statuses = statuses_of(*store_, transfer_id);
    EXPECT_EQ(statuses[JobStatus::kPending], 0);
    EXPECT_EQ(statuses[JobStatus::kRetry], 0);
  }
}

// A RETRY job whose last attempt the bank answered (it did not execute it) is cancelled with its
// transfer, and never reaches the bank again.
TEST_F(JobProcessorTest, ACancelEndsAJobTheBankAnsweredUnavailable) {
  bank_->answers = {unavailable(false)};
  const std::string job_id = first_job(ach_transfer("bank"));
  ASSERT_EQ(process(job_id).job->status, JobStatus::kRetry);
  const std::string transfer_id = store_->get_job(job_id).value()->recurring_transfer_id;
  ASSERT_TRUE(store_->change_transfer_status(transfer_id, TransferAction::kCancel, clock_.now()));
  EXPECT_EQ(store_->get_job(job_id).value()->status, JobStatus::kCancelled);
  EXPECT_EQ(process(job_id).status, ProcessStatus::kTerminal);
  EXPECT_EQ(bank_->requests.size(), 1u);
}

// SPEC section 8: a 429 defers the job by the bank's Retry-After and uses up no retry, even
// with every retry used; the next answered "unavailable" still counts.
TEST_F(JobProcessorTest, ARateLimitDefersTheJobWithoutUsingARetry) {
  TransferResult limited{Outcome::kUnavailable, 429, {}, "rate_limited", "slow down", "{}"};
  limited.retry_after = 30s;
  TransferResult limited_without_hint{Outcome::kUnavailable, 429, {}, "rate_limited", "", "{}"};
  bank_->answers = {unavailable(false),   unavailable(false), unavailable(false), limited,
                    limited_without_hint, unavailable(false)};
  const std::string job_id = first_job(ach_transfer("bank"));
  for (int i = 0; i < 3; ++i) process(job_id);
  ASSERT_EQ(store_->get_job(job_id).value()->retries, 3);

  ProcessResult deferred = process(job_id);
  ASSERT_TRUE(deferred.job);
  EXPECT_EQ(deferred.job->status, JobStatus::kRetry);
  EXPECT_EQ(deferred.job->retries, 3);
  EXPECT_EQ(deferred.job->next_attempt_at, kT0 + 30s);

  clock_.advance(30s);
  ProcessResult again = process(job_id);  // no Retry-After: the backoff (0 here)
  ASSERT_TRUE(again.job);
  EXPECT_EQ(again.job->status, JobStatus::kRetry);
  EXPECT_EQ(again.job->retries, 3);
  EXPECT_EQ(again.job->next_attempt_at, kT0 + 30s);

  ProcessResult failed = process(job_id);
  ASSERT_TRUE(failed.job);
  EXPECT_EQ(failed.job->status, JobStatus::kFailed);
  EXPECT_EQ(bank_->requests.size(), 6u);
}

// The same processor with flow control over "bank": its circuit opens after 2 failures in a row
// and probes again after 10 s.
class JobProcessorFlowTest : public JobProcessorTest {
 protected:
  void SetUp() override {
    JobProcessorTest::SetUp();
    flows_ = std::make_unique<FlowControl>(
        std::map<std::string, FlowLimits>{{"bank", {}}},
        CircuitOptions{.threshold = 2, .first_wait = 10s, .max_wait = 10s});
    ProcessorOptions options;
    options.retry.backoff_base = 0s;
    processor_ = std::make_unique<JobProcessor>(*store_, *writer_, providers_, calendars_, clock_,
                                                inline_executor(), options, flows_.get());
  }
  void TearDown() override {
    JobProcessorTest::TearDown();
    flows_.reset();
  }
  std::unique_ptr<FlowControl> flows_;
};

// SPEC section 8: failures before the circuit opens count; the one that opens it, those while it
// is open and calls not made because of it do not. Nothing reaches the bank while it is open.
TEST_F(JobProcessorFlowTest, AnOutageUsesNoRetryOnceTheProviderIsPaused) {
  TransferResult down{Outcome::kUnavailable, 503, {}, "unavailable", "maintenance", {}};
  TransferResult ok{Outcome::kSucceeded, 201, "tr_9", {}, {}, {}};
  bank_->answers = {down, down, down, ok};
  const std::string job_id = first_job(ach_transfer("bank"));

  ProcessResult first = process(job_id);
  ASSERT_TRUE(first.job);
  EXPECT_EQ(first.job->retries, 1);        // the provider still looked up
  ProcessResult second = process(job_id);  // the second failure in a row pauses it
  ASSERT_TRUE(second.job);
  EXPECT_EQ(std::pair(second.job->status, second.job->retries), std::pair(JobStatus::kRetry, 1));
  ASSERT_EQ(flows_->find("bank")->snapshot(clock_.now()).state, CircuitState::kOpen);

  for (int i = 0; i < 5; ++i) {  // paused: no call, no retry used, due when it may probe
    ProcessResult waiting = process(job_id);
    ASSERT_TRUE(waiting.job);
    EXPECT_EQ(waiting.job->status, JobStatus::kRetry);
    EXPECT_EQ(waiting.job->retries, 1);
    EXPECT_EQ(waiting.job->next_attempt_at, kT0 + 10s);
  }
  EXPECT_EQ(bank_->requests.size(), 2u);

  clock_.advance(10s);
  ProcessResult probe = process(job_id);  // the probe fails: still paused, retry kept
  ASSERT_TRUE(probe.job);
  EXPECT_EQ(std::pair(probe.job->status, probe.job->retries), std::pair(JobStatus::kRetry, 1));
  clock_.advance(10s);
  ProcessResult back = process(job_id);
  ASSERT_TRUE(back.job);
  EXPECT_EQ(back.job->result, JobResult::kSucceeded);
  EXPECT_EQ(flows_->find("bank")->snapshot(clock_.now()).state, CircuitState::kClosed);
  EXPECT_EQ(bank_->requests.size(), 4u);
}

// SPEC section 8: a transfer the bank accepted as pending is followed, first looked up after
// the settlement poll; one final at once is not followed.
TEST_F(JobProcessorTest, APendingAcceptanceIsFollowedFromTheSettlementPoll) {
  TransferResult pending{Outcome::kSucceeded, 201, "tr_p", {}, {}, "{}"};
  pending.bank_status = "pending";
  pending.settlement = SettlementStatus::kPending;
  TransferResult final_at_once{Outcome::kSucceeded, 201, "tr_f", {}, {}, "{}"};
  bank_->answers = {pending, final_at_once};

  const std::string followed = first_job(ach_transfer("bank"));
  ProcessResult r = process(followed);
  ASSERT_TRUE(r.job);
  EXPECT_EQ(r.job->result, JobResult::kSucceeded);
  EXPECT_EQ(r.job->settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(r.job->settlement_check_at, kT0 + ProcessorOptions{}.settlement_poll);
  Job stored = store_->get_job(followed).value().value();
  EXPECT_EQ(stored.settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(stored.settlement_check_at, kT0 + ProcessorOptions{}.settlement_poll);

  NewTransfer other = ach_transfer("bank");
  other.source_account = "acct-other";
  const std::string settled = first_job(other);
  ProcessResult s = process(settled);
  ASSERT_TRUE(s.job);
  EXPECT_EQ(s.job->result, JobResult::kSucceeded);
  EXPECT_FALSE(s.job->settlement_status);
  EXPECT_FALSE(s.job->settlement_check_at);
  stored = store_->get_job(settled).value().value();
  EXPECT_FALSE(stored.settlement_status);
  EXPECT_FALSE(stored.settlement_check_at);
}

TEST_F(JobProcessorTest, ARefusalWithTheBanksTransferIdKeepsIt) {
  TransferResult rejected{Outcome::kDeclined, 201, "pay_9", "insufficient_funds", "Rejected", "{}"};
  rejected.bank_status = "Rejected";
  TransferResult refused{Outcome::kDeclined, 400, {}, "account_closed", "closed", "{}"};
  bank_->answers = {rejected, refused};

  ProcessResult with_id = process(first_job(ach_transfer("bank")));
  ASSERT_TRUE(with_id.job);
  EXPECT_EQ(with_id.job->result, JobResult::kDeclined);
  EXPECT_EQ(with_id.job->provider_reference, "pay_9");
  EXPECT_EQ(with_id.job->bank_status, "Rejected");

  NewTransfer other = ach_transfer("bank");
  other.source_account = "acct-other";
  ProcessResult without_id = process(first_job(other));
  ASSERT_TRUE(without_id.job);
  EXPECT_EQ(without_id.job->result, JobResult::kDeclined);
  EXPECT_FALSE(without_id.job->provider_reference);
}

}  // namespace
}  // namespace rtjobs::jobs_test
