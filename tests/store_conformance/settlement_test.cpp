// Store conformance (conformance.hpp): settlement and returns (SPEC section 8). The completion
// that starts following a transfer; apply_settlements by job id and by the bank's reference,
// with the return rules (re-presentment, the pause on an account-level return) and every order
// of arrival; the jobs' filters; the inbox of bank webhook events; the follower's claims of
// pending transfers, also from two stores at once; and the migration that brought them.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "raw_db.hpp"
#include "store/record_codec.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

const std::string kBank = "bank-a";

// A FINISHED SUCCEEDED completion of `claimed` (held by "owner-a") at `now`, under the bank's
// `reference`, pending, first looked up at `check_at`.
Completion accepted(const Job& claimed, Timestamp now, const std::string& reference,
                    std::optional<Timestamp> check_at) {
  Completion c{.job_id = claimed.id, .lease_owner = "owner-a", .now = now};
  c.status = JobStatus::kFinished;
  c.result = JobResult::kSucceeded;
  c.retries = claimed.retries;
  c.provider_reference = reference;
  c.bank_status = "pending";
  c.settlement_status = SettlementStatus::kPending;
  c.settlement_check_at = check_at;
  return c;
}

// What the bank said of `j`'s current transfer at `now` (as polling says it: with the job id).
SettlementUpdate news(const Job& j, SettlementStatus settlement, Timestamp now) {
  SettlementUpdate u;
  u.provider = j.provider;
  u.job_id = j.id;
  u.reference = j.provider_reference.value_or("");
  u.settlement = settlement;
  u.bank_status = std::string(to_string(settlement));
  u.now = now;
  u.http_status = 200;
  u.response_body = R"({"status":")" + u.bank_status + "\"}";
  if (settlement == SettlementStatus::kPending) u.next_check_at = now + 1h;
  return u;
}

// The same, as a webhook says it: by the bank's reference only.
SettlementUpdate webhook(const std::string& provider, const std::string& reference,
                         SettlementStatus settlement, Timestamp now) {
  Job j;
  j.provider = provider;
  j.provider_reference = reference;
  SettlementUpdate u = news(j, settlement, now);
  u.job_id.reset();
  u.http_status.reset();
  return u;
}

SettlementUpdate returned(const Job& j, const std::string& code, Timestamp now) {
  SettlementUpdate u = news(j, SettlementStatus::kReturned, now);
  u.return_code = code;
  u.message = "returned " + code;
  return u;
}

std::vector<SettlementResult> apply_all(Store& store,
                                        const std::vector<SettlementUpdate>& updates) {
  auto r = store.apply_settlements(updates);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  EXPECT_TRUE(!r || r->size() == updates.size());
  return r ? *r : std::vector<SettlementResult>(updates.size());
}

SettlementResult apply_one(Store& store, const SettlementUpdate& u) {
  return apply_all(store, {u}).front();
}

// Claims `j` at `now` and completes it as accepted under `reference`, pending (first look-up an
// hour later); returns the job as written.
Job follow(Store& store, const Job& j, Timestamp now, const std::string& reference) {
  auto claimed = store.claim_job({j.id, "owner-a", now, now + 30s, 3});
  EXPECT_TRUE(claimed && claimed->status == ClaimStatus::kClaimed);
  if (!claimed || !claimed->job) return j;
  auto done = store.complete_job(accepted(*claimed->job, now, reference, now + 1h));
  EXPECT_TRUE(done && done->status == CompletionStatus::kWritten && done->job);
  return done && done->job ? *done->job : j;
}

std::vector<ProviderStatus> statuses(Store& store, const std::string& job_id) {
  auto r = store.list_provider_statuses(job_id);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : std::vector<ProviderStatus>{};
}

// The ids of jobs or inbox events, in their order.
template <class T>
std::vector<std::string> ids_of(const std::vector<T>& rows) {
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (const T& row : rows) out.push_back(row.id);
  return out;
}

// --- The completion that starts following a transfer ---

TEST_P(StoreConformance, AnAcceptedButPendingCompletionStartsFollowingTheTransfer) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  std::vector<Job> jobs = create(t, {kT0, kT0, kT0});
  for (const Job& j : jobs) ASSERT_EQ(claim(j.id, kT0).status, ClaimStatus::kClaimed);

  // One at a time ...
  CompletionResult one = complete(accepted(get(jobs[0].id), kT0 + 1s, "ref-0", kT0 + 1h));
  ASSERT_TRUE(one.job);
  EXPECT_EQ(one.job->settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(one.job->settlement_check_at, kT0 + 1h);
  EXPECT_FALSE(one.job->settled_at || one.job->return_code);
  EXPECT_EQ(one.job->presentment, 0);
  EXPECT_EQ(one.job->provider_reference, "ref-0");
  expect_same(get(jobs[0].id), *one.job);

  // ... and in a batch, next to a completion final at once (no settlement to follow).
  std::vector<Completion> batch{accepted(get(jobs[1].id), kT0 + 2s, "ref-1", kT0 + 2h),
                                accepted(get(jobs[2].id), kT0 + 2s, "ref-2", std::nullopt)};
  batch[1].settlement_status.reset();
  auto written = store_->complete_jobs(batch);
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_EQ(written->size(), 2u);
  ASSERT_TRUE((*written)[0].job && (*written)[1].job);
  EXPECT_EQ((*written)[0].job->settlement_status, SettlementStatus::kPending);
  EXPECT_EQ((*written)[0].job->settlement_check_at, kT0 + 2h);
  EXPECT_FALSE((*written)[1].job->settlement_status);
  EXPECT_FALSE((*written)[1].job->settlement_check_at);
  expect_same(get(jobs[1].id), *(*written)[0].job);
  expect_same(get(jobs[2].id), *(*written)[1].job);

  // A batch that reads no job back writes them too.
  RecurringTransfer quiet = transfer();
  Job q = create(quiet, {kT0}).front();
  ASSERT_EQ(claim(q.id, kT0).status, ClaimStatus::kClaimed);
  Completion c = accepted(get(q.id), kT0 + 3s, "ref-q", kT0 + 3h);
  c.return_job = false;
  ASSERT_TRUE(store_->complete_jobs(std::vector<Completion>{c}));
  EXPECT_EQ(get(q.id).settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(get(q.id).settlement_check_at, kT0 + 3h);
}

TEST_P(StoreConformance, AFinishedCompletionClearsTheLastReturnAndRetryOrFailedKeepIt) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  Job j = follow(*store_, create(t, {kT0}).front(), kT0, "ref-1");
  // Settled, then returned R01 and presented again: RETRY, with settled_at and return_code.
  ASSERT_EQ(apply_one(*store_, news(j, SettlementStatus::kSettled, kT0 + 1h)).outcome,
            SettlementOutcome::kApplied);
  SettlementUpdate r01 = returned(j, "R01", kT0 + 48h);
  r01.represent_max = 2;
  r01.represent_after = 1h;
  ASSERT_EQ(apply_one(*store_, r01).outcome, SettlementOutcome::kRepresented);
  Job before = get(j.id);
  ASSERT_EQ(before.status, JobStatus::kRetry);
  ASSERT_TRUE(before.settled_at);

  // A RETRY and a FAILED completion of the new presentment keep the settlement columns.
  ClaimResult first = claim(j.id, kT0 + 49h);
  ASSERT_EQ(first.status, ClaimStatus::kClaimed);
  Completion retry{.job_id = j.id, .lease_owner = "owner-a", .now = kT0 + 49h};
  retry.status = JobStatus::kRetry;
  retry.retries = 1;
  retry.next_attempt_at = kT0 + 50h;
  retry.settlement_status = SettlementStatus::kPending;  // ignored: not FINISHED
  retry.settlement_check_at = kT0 + 99h;
  CompletionResult retried = complete(retry);
  ASSERT_TRUE(retried.job);
  for (const Job& now : {*retried.job, get(j.id)}) {
    EXPECT_EQ(now.status, JobStatus::kRetry);
    EXPECT_EQ(now.settlement_status, SettlementStatus::kReturned);
    EXPECT_EQ(now.return_code, "R01");
    EXPECT_EQ(now.settled_at, before.settled_at);
    EXPECT_EQ(now.presentment, 1);
    EXPECT_FALSE(now.settlement_check_at);
  }
  ASSERT_EQ(claim(j.id, kT0 + 50h).status, ClaimStatus::kClaimed);
  Completion failed{.job_id = j.id, .lease_owner = "owner-a", .now = kT0 + 50h};
  failed.status = JobStatus::kFailed;
  failed.retries = 1;
  CompletionResult gave_up = complete(failed);
  ASSERT_TRUE(gave_up.job);
  EXPECT_EQ(gave_up.job->status, JobStatus::kFailed);
  EXPECT_EQ(gave_up.job->settlement_status, SettlementStatus::kReturned);
  EXPECT_EQ(gave_up.job->return_code, "R01");
  EXPECT_EQ(gave_up.job->settled_at, before.settled_at);

  // An operator's retry, then a FINISHED completion: pending again, the return forgotten.
  ASSERT_TRUE(store_->retry_failed_job(j.id, kT0 + 51h));
  ClaimResult again = claim(j.id, kT0 + 51h);
  ASSERT_EQ(again.status, ClaimStatus::kClaimed);
  CompletionResult done = complete(accepted(*again.job, kT0 + 51h, "ref-2", kT0 + 52h));
  ASSERT_TRUE(done.job);
  EXPECT_EQ(done.job->result, JobResult::kSucceeded);
  EXPECT_EQ(done.job->settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(done.job->settlement_check_at, kT0 + 52h);
  EXPECT_FALSE(done.job->settled_at);
  EXPECT_FALSE(done.job->return_code);
  EXPECT_EQ(done.job->presentment, 1);
  EXPECT_EQ(done.job->provider_reference, "ref-2");
  expect_same(get(j.id), *done.job);
}

// --- apply_settlements ---

TEST_P(StoreConformance, ASettlementAppliesByJobIdAndByTheBanksReference) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  std::vector<Job> jobs = create(t, {kT0, kT0 + 1s});
  Job polled = follow(*store_, jobs[0], kT0, "ref-1");
  Job hooked = follow(*store_, jobs[1], kT0 + 1s, "ref-2");

  SettlementUpdate by_id = news(polled, SettlementStatus::kSettled, kT0 + 1h);
  by_id.settled_at = kT0 + 30min;
  SettlementUpdate by_ref = webhook(kBank, "ref-2", SettlementStatus::kSettled, kT0 + 2h);
  std::vector<SettlementResult> got = apply_all(*store_, {by_id, by_ref});
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].outcome, SettlementOutcome::kApplied);
    ASSERT_TRUE(got[i].job);
    expect_same(get(got[i].job->id), *got[i].job);
  }
  Job settled = get(polled.id);
  EXPECT_EQ(settled.status, JobStatus::kFinished);
  EXPECT_EQ(settled.result, JobResult::kSucceeded);
  EXPECT_EQ(settled.settlement_status, SettlementStatus::kSettled);
  EXPECT_EQ(settled.settled_at, kT0 + 30min);
  EXPECT_EQ(settled.bank_status, "settled");
  EXPECT_EQ(settled.updated_at, kT0 + 1h);
  EXPECT_FALSE(settled.settlement_check_at);
  Job settled_too = get(hooked.id);
  EXPECT_EQ(settled_too.settlement_status, SettlementStatus::kSettled);
  EXPECT_EQ(settled_too.settled_at, kT0 + 2h);  // the bank gave no date: when it was told

  std::vector<ProviderStatus> rows = statuses(*store_, polled.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].code, "settled");
  EXPECT_EQ(rows[0].http_status, 200);
  EXPECT_EQ(rows[0].provider, kBank);
  EXPECT_EQ(rows[0].recurring_transfer_id, t.id);
  EXPECT_EQ(rows[0].created_at, kT0 + 1h);

  // Still pending: the next look-up moves, nothing is recorded.
  RecurringTransfer other = transfer();
  other.provider = kBank;
  Job waiting = follow(*store_, create(other, {kT0}).front(), kT0, "ref-3");
  SettlementResult still = apply_one(*store_, news(waiting, SettlementStatus::kPending, kT0 + 1h));
  EXPECT_EQ(still.outcome, SettlementOutcome::kUnchanged);
  EXPECT_EQ(get(waiting.id).settlement_check_at, kT0 + 2h);
  EXPECT_EQ(get(waiting.id).settlement_status, SettlementStatus::kPending);
  EXPECT_TRUE(statuses(*store_, waiting.id).empty());
  // A webhook's pending news names no next look-up: the follower's stays.
  SettlementUpdate hook = webhook(kBank, "ref-3", SettlementStatus::kPending, kT0 + 90min);
  hook.next_check_at.reset();
  hook.bank_status = "processing";
  EXPECT_EQ(apply_one(*store_, hook).outcome, SettlementOutcome::kUnchanged);
  EXPECT_EQ(get(waiting.id).settlement_check_at, kT0 + 2h);
  EXPECT_EQ(get(waiting.id).bank_status, "processing");
  EXPECT_EQ(get(waiting.id).updated_at, kT0 + 90min);
  // Nothing new: nothing written.
  hook.now = kT0 + 100min;
  EXPECT_EQ(apply_one(*store_, hook).outcome, SettlementOutcome::kUnchanged);
  EXPECT_EQ(get(waiting.id).updated_at, kT0 + 90min);
}

TEST_P(StoreConformance, AReturnWithoutPresentmentKeepsTheJobFinishedAndReturned) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  Job j = follow(*store_, create(t, {kT0}).front(), kT0, "ref-1");
  SettlementUpdate u = returned(j, "R01", kT0 + 48h);  // represent_max 0: the default
  u.job_id.reset();                                    // as a webhook
  SettlementResult r = apply_one(*store_, u);
  EXPECT_EQ(r.outcome, SettlementOutcome::kApplied);
  ASSERT_TRUE(r.job);
  Job now = get(j.id);
  expect_same(now, *r.job);
  EXPECT_EQ(now.status, JobStatus::kFinished);
  EXPECT_EQ(now.result, JobResult::kReturned);
  EXPECT_EQ(now.settlement_status, SettlementStatus::kReturned);
  EXPECT_EQ(now.return_code, "R01");
  EXPECT_EQ(now.presentment, 0);
  EXPECT_EQ(format_timestamp(*now.finished_at), format_timestamp(*j.finished_at));
  ASSERT_TRUE(now.last_error);
  EXPECT_NE(now.last_error->find("R01"), std::string::npos);
  std::vector<ProviderStatus> rows = statuses(*store_, j.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].code, "R01");
  EXPECT_EQ(rows[0].message, "returned R01");
  EXPECT_EQ(rows[0].job_id, j.id);
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);
}

TEST_P(StoreConformance, AnR01IsPresentedAgainUpToRepresentMaxUnderNewKeys) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  Job j = follow(*store_, create(t, {kT0}).front(), kT0, "ref-1");
  Timestamp now = kT0 + 48h;
  for (int n = 1; n <= 3; ++n) {
    SCOPED_TRACE("return " + std::to_string(n));
    SettlementUpdate u = returned(j, "R01", now);
    u.represent_max = 2;
    u.represent_after = 72h;
    SettlementResult r = apply_one(*store_, u);
    ASSERT_TRUE(r.job);
    Job after = get(j.id);
    expect_same(after, *r.job);
    EXPECT_EQ(after.return_code, "R01");
    EXPECT_EQ(after.settlement_status, SettlementStatus::kReturned);
    if (n == 3) {  // presented twice already: it stays returned
      EXPECT_EQ(r.outcome, SettlementOutcome::kApplied);
      EXPECT_EQ(after.status, JobStatus::kFinished);
      EXPECT_EQ(after.result, JobResult::kReturned);
      EXPECT_EQ(after.presentment, 2);
      break;
    }
    EXPECT_EQ(r.outcome, SettlementOutcome::kRepresented);
    EXPECT_EQ(after.status, JobStatus::kRetry);
    EXPECT_FALSE(after.result);
    EXPECT_EQ(after.presentment, n);
    EXPECT_EQ(after.retries, 0);
    EXPECT_EQ(after.next_attempt_at, now + 72h);
    EXPECT_FALSE(after.finished_at);

    // A late word on the returned transfer changes nothing while it waits.
    SettlementResult late = apply_one(*store_, news(j, SettlementStatus::kSettled, now + 1s));
    EXPECT_EQ(late.outcome, SettlementOutcome::kUnchanged);
    expect_same(get(j.id), after);

    // Due after represent_after, then presented under "{key}:r{n}" with a new reference.
    EXPECT_EQ(claim(j.id, now + 72h - 1s).status, ClaimStatus::kNotDue);
    ClaimResult claimed = claim(j.id, now + 72h);
    ASSERT_EQ(claimed.status, ClaimStatus::kClaimed);
    EXPECT_EQ(bank_key(*claimed.job), j.idempotency_key + ":r" + std::to_string(n));
    now += 72h;
    CompletionResult done =
        complete(accepted(*claimed.job, now, "ref-" + std::to_string(n + 1), now + 1h));
    ASSERT_TRUE(done.job);
    EXPECT_EQ(done.job->status, JobStatus::kFinished);
    EXPECT_EQ(done.job->result, JobResult::kSucceeded);
    EXPECT_EQ(done.job->settlement_status, SettlementStatus::kPending);
    EXPECT_FALSE(done.job->return_code);
    EXPECT_EQ(done.job->presentment, n);
    j = *done.job;
    now += 48h;

    // The earlier presentment's transfer is no longer the job's: by reference it is unknown,
    // by job id it changes nothing.
    SettlementUpdate old_ref =
        webhook(kBank, "ref-" + std::to_string(n), SettlementStatus::kReturned, now);
    old_ref.return_code = "R01";
    EXPECT_EQ(apply_one(*store_, old_ref).outcome, SettlementOutcome::kUnknownTransfer);
    SettlementUpdate old_id = old_ref;
    old_id.job_id = j.id;
    EXPECT_EQ(apply_one(*store_, old_id).outcome, SettlementOutcome::kUnchanged);
    expect_same(get(j.id), j);
  }
  std::vector<ProviderStatus> rows = statuses(*store_, j.id);
  ASSERT_EQ(rows.size(), 3u);
  for (const ProviderStatus& row : rows) EXPECT_EQ(row.code, "R01");
}

TEST_P(StoreConformance, AnAccountLevelReturnPausesTheActiveTransferWithAReason) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  t.next_occurrence_at = kT0 + 24h * 60;  // more to come: not COMPLETED by its jobs' ends
  std::vector<Job> jobs = create(t, {kT0, kT0 + 24h * 30});
  Job j = follow(*store_, jobs[0], kT0, "ref-1");
  SettlementUpdate u = returned(j, "R02", kT0 + 48h);
  u.represent_max = 2;
  SettlementResult r = apply_one(*store_, u);
  EXPECT_EQ(r.outcome, SettlementOutcome::kTransferPaused);
  Job now = get(j.id);
  EXPECT_EQ(now.status, JobStatus::kFinished);
  EXPECT_EQ(now.result, JobResult::kReturned);
  EXPECT_EQ(now.return_code, "R02");
  auto paused = store_->get_transfer(t.id);
  ASSERT_TRUE(paused && *paused);
  EXPECT_EQ((*paused)->status, TransferStatus::kPaused);
  EXPECT_EQ((*paused)->status_reason, "account_return:R02");
  EXPECT_EQ((*paused)->updated_at, kT0 + 48h);
  auto listed = store_->list_transfers({});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->data.size(), 1u);
  EXPECT_EQ(listed->data[0].status_reason, "account_return:R02");
  // The next occurrence waits (a paused transfer's due job is skipped).
  EXPECT_EQ(claim(jobs[1].id, kT0 + 24h * 30).status, ClaimStatus::kSkipped);

  // A client's resume clears the reason.
  auto resumed = store_->change_transfer_status(t.id, TransferAction::kResume, kT0 + 49h);
  ASSERT_TRUE(resumed) << resumed.error().message;
  EXPECT_EQ(resumed->status, TransferStatus::kActive);
  EXPECT_FALSE(resumed->status_reason);
  EXPECT_FALSE(store_->get_transfer(t.id).value()->status_reason);
}

TEST_P(StoreConformance, AnAccountLevelReturnPausesNothingWhenTurnedOffOrNotActive) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  std::vector<Job> jobs = create(t, {kT0, kT0 + 1s});
  Job a = follow(*store_, jobs[0], kT0, "ref-a");
  Job b = follow(*store_, jobs[1], kT0 + 1s, "ref-b");
  SettlementUpdate off = returned(a, "R03", kT0 + 48h);
  off.pause_on_account_return = false;
  EXPECT_EQ(apply_one(*store_, off).outcome, SettlementOutcome::kApplied);
  EXPECT_EQ(get(a.id).result, JobResult::kReturned);
  auto got = store_->get_transfer(t.id);
  EXPECT_EQ((*got)->status, TransferStatus::kActive);
  EXPECT_FALSE((*got)->status_reason);

  // A transfer a client paused keeps its status and has no reason of rtjobs's.
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 49h));
  EXPECT_EQ(apply_one(*store_, returned(b, "R16", kT0 + 50h)).outcome, SettlementOutcome::kApplied);
  got = store_->get_transfer(t.id);
  EXPECT_EQ((*got)->status, TransferStatus::kPaused);
  EXPECT_FALSE((*got)->status_reason);
  EXPECT_EQ((*got)->updated_at, kT0 + 49h);

  // Another code only returns the job.
  RecurringTransfer other = transfer();
  other.provider = kBank;
  Job c = follow(*store_, create(other, {kT0}).front(), kT0, "ref-c");
  EXPECT_EQ(apply_one(*store_, returned(c, "R10", kT0 + 48h)).outcome, SettlementOutcome::kApplied);
  EXPECT_EQ(store_->get_transfer(other.id).value()->status, TransferStatus::kActive);
}

TEST_P(StoreConformance, ACanceledTransferDeclinesTheJob) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  Job j = follow(*store_, create(t, {kT0}).front(), kT0, "ref-1");
  SettlementUpdate u = news(j, SettlementStatus::kCanceled, kT0 + 1h);
  u.code = "account_closed";
  u.message = kAwkward;
  SettlementResult r = apply_one(*store_, u);
  EXPECT_EQ(r.outcome, SettlementOutcome::kApplied);
  Job now = get(j.id);
  ASSERT_TRUE(r.job);
  expect_same(now, *r.job);
  EXPECT_EQ(now.status, JobStatus::kFinished);
  EXPECT_EQ(now.result, JobResult::kDeclined);
  EXPECT_EQ(now.settlement_status, SettlementStatus::kCanceled);
  EXPECT_FALSE(now.return_code);
  std::vector<ProviderStatus> rows = statuses(*store_, j.id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].code, "account_closed");
  EXPECT_EQ(rows[0].message, kAwkward);
  // A repeat of the news changes nothing.
  EXPECT_EQ(apply_one(*store_, u).outcome, SettlementOutcome::kUnchanged);
  EXPECT_EQ(statuses(*store_, j.id).size(), 1u);
}

TEST_P(StoreConformance, RepeatedAndOutOfOrderNewsNeverMovesAJobBack) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  std::vector<Job> jobs = create(t, {kT0, kT0 + 1s, kT0 + 2s});
  Job a = follow(*store_, jobs[0], kT0, "ref-a");
  Job b = follow(*store_, jobs[1], kT0 + 1s, "ref-b");
  Job c = follow(*store_, jobs[2], kT0 + 2s, "ref-c");

  // returned, then settled: returned.
  EXPECT_EQ(apply_one(*store_, returned(a, "R10", kT0 + 1h)).outcome, SettlementOutcome::kApplied);
  EXPECT_EQ(apply_one(*store_, news(a, SettlementStatus::kSettled, kT0 + 2h)).outcome,
            SettlementOutcome::kUnchanged);
  EXPECT_EQ(apply_one(*store_, returned(a, "R10", kT0 + 3h)).outcome,
            SettlementOutcome::kUnchanged);
  EXPECT_EQ(get(a.id).result, JobResult::kReturned);
  EXPECT_EQ(get(a.id).settlement_status, SettlementStatus::kReturned);
  EXPECT_FALSE(get(a.id).settled_at);
  EXPECT_EQ(get(a.id).updated_at, kT0 + 1h);
  EXPECT_EQ(statuses(*store_, a.id).size(), 1u);

  // settled, then a late pending and a repeat: settled; a return after it applies.
  EXPECT_EQ(apply_one(*store_, news(b, SettlementStatus::kSettled, kT0 + 1h)).outcome,
            SettlementOutcome::kApplied);
  EXPECT_EQ(apply_one(*store_, news(b, SettlementStatus::kPending, kT0 + 2h)).outcome,
            SettlementOutcome::kUnchanged);
  EXPECT_EQ(apply_one(*store_, news(b, SettlementStatus::kSettled, kT0 + 3h)).outcome,
            SettlementOutcome::kUnchanged);
  Job settled = get(b.id);
  EXPECT_EQ(settled.settlement_status, SettlementStatus::kSettled);
  EXPECT_EQ(settled.settled_at, kT0 + 1h);
  EXPECT_FALSE(settled.settlement_check_at);
  EXPECT_EQ(apply_one(*store_, returned(b, "R10", kT0 + 96h)).outcome, SettlementOutcome::kApplied);
  EXPECT_EQ(get(b.id).result, JobResult::kReturned);
  EXPECT_EQ(get(b.id).settled_at, kT0 + 1h);
  EXPECT_EQ(statuses(*store_, b.id).size(), 2u);

  // unknown only from pending.
  EXPECT_EQ(apply_one(*store_, news(c, SettlementStatus::kUnknown, kT0 + 1h)).outcome,
            SettlementOutcome::kApplied);
  EXPECT_EQ(get(c.id).settlement_status, SettlementStatus::kUnknown);
  EXPECT_FALSE(get(c.id).settlement_check_at);
  EXPECT_EQ(statuses(*store_, c.id).front().code, "settlement_unknown");
  EXPECT_EQ(apply_one(*store_, news(c, SettlementStatus::kUnknown, kT0 + 2h)).outcome,
            SettlementOutcome::kUnchanged);
  EXPECT_EQ(apply_one(*store_, news(b, SettlementStatus::kUnknown, kT0 + 2h)).outcome,
            SettlementOutcome::kUnchanged);
  EXPECT_EQ(apply_one(*store_, news(c, SettlementStatus::kSettled, kT0 + 3h)).outcome,
            SettlementOutcome::kApplied);  // the bank's word after the window still counts
  EXPECT_EQ(get(c.id).settlement_status, SettlementStatus::kSettled);

  // A job the bank did not accept, and one not followed at all, are not followed.
  RecurringTransfer other = transfer();
  other.provider = kBank;
  Job declined = create(other, {kT0}).front();
  ASSERT_EQ(claim(declined.id, kT0).status, ClaimStatus::kClaimed);
  Completion no{.job_id = declined.id, .lease_owner = "owner-a", .now = kT0};
  no.result = JobResult::kDeclined;
  no.provider_reference = "ref-declined";
  ASSERT_TRUE(complete(no).job);
  SettlementResult r =
      apply_one(*store_, news(get(declined.id), SettlementStatus::kSettled, kT0 + 1h));
  EXPECT_EQ(r.outcome, SettlementOutcome::kNotFollowed);
  EXPECT_EQ(get(declined.id).result, JobResult::kDeclined);
  EXPECT_FALSE(get(declined.id).settlement_status);
  EXPECT_TRUE(statuses(*store_, declined.id).empty());
}

TEST_P(StoreConformance, AnUnknownTransferWritesNothing) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  Job j = follow(*store_, create(t, {kT0}).front(), kT0, "ref-1");
  std::vector<SettlementUpdate> updates{
      webhook(kBank, "ref-nobody", SettlementStatus::kSettled, kT0 + 1h),
      webhook("bank-b", "ref-1", SettlementStatus::kSettled, kT0 + 1h),  // another bank's
      news(j, SettlementStatus::kSettled, kT0 + 1h),
      news(j, SettlementStatus::kSettled, kT0 + 1h),
  };
  updates[2].job_id = new_uuid_v7(kT0);  // no such job
  updates[3].job_id = "not-a-uuid";
  std::vector<SettlementResult> got = apply_all(*store_, updates);
  for (const SettlementResult& r : got) {
    EXPECT_EQ(r.outcome, SettlementOutcome::kUnknownTransfer);
    EXPECT_FALSE(r.job);
  }
  expect_same(get(j.id), j);
  EXPECT_TRUE(statuses(*store_, j.id).empty());
  EXPECT_TRUE(store_->apply_settlements({}).value().empty());
}

TEST_P(StoreConformance, TwoUpdatesOfOneJobInABatchApplyInOrder) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  std::vector<Job> jobs = create(t, {kT0, kT0 + 1s});
  Job a = follow(*store_, jobs[0], kT0, "ref-a");
  Job b = follow(*store_, jobs[1], kT0 + 1s, "ref-b");
  // a: settled then returned (both apply); b: returned then settled (the second does not).
  SettlementUpdate a_returned = returned(a, "R10", kT0 + 2h);
  a_returned.job_id.reset();  // as a webhook: by reference
  std::vector<SettlementResult> got = apply_all(
      *store_, {news(a, SettlementStatus::kSettled, kT0 + 1h), returned(b, "R10", kT0 + 1h),
                a_returned, news(b, SettlementStatus::kSettled, kT0 + 2h)});
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].outcome, SettlementOutcome::kApplied);
  EXPECT_EQ(got[1].outcome, SettlementOutcome::kApplied);
  EXPECT_EQ(got[2].outcome, SettlementOutcome::kApplied);
  EXPECT_EQ(got[3].outcome, SettlementOutcome::kUnchanged);
  ASSERT_TRUE(got[0].job && got[2].job && got[3].job);
  EXPECT_EQ(got[0].job->settlement_status, SettlementStatus::kSettled);
  EXPECT_EQ(got[2].job->settlement_status, SettlementStatus::kReturned);
  EXPECT_EQ(got[3].job->settlement_status, SettlementStatus::kReturned);
  Job a_now = get(a.id);
  expect_same(a_now, *got[2].job);
  EXPECT_EQ(a_now.result, JobResult::kReturned);
  EXPECT_EQ(a_now.settled_at, kT0 + 1h);
  EXPECT_EQ(a_now.updated_at, kT0 + 2h);
  EXPECT_EQ(statuses(*store_, a.id).size(), 2u);
  EXPECT_EQ(get(b.id).result, JobResult::kReturned);
  EXPECT_FALSE(get(b.id).settled_at);
  EXPECT_EQ(statuses(*store_, b.id).size(), 1u);

  // Two account returns of one transfer in a batch: paused once, by the first.
  RecurringTransfer two = transfer();
  two.provider = kBank;
  std::vector<Job> pair = create(two, {kT0, kT0 + 1s});
  Job p = follow(*store_, pair[0], kT0, "ref-p");
  Job q = follow(*store_, pair[1], kT0 + 1s, "ref-q");
  got = apply_all(*store_, {returned(p, "R02", kT0 + 1h), returned(q, "R03", kT0 + 1h)});
  EXPECT_EQ(got[0].outcome, SettlementOutcome::kTransferPaused);
  EXPECT_EQ(got[1].outcome, SettlementOutcome::kApplied);
  EXPECT_EQ(store_->get_transfer(two.id).value()->status_reason, "account_return:R02");
}

TEST_P(StoreConformance, ASettlementMarksItsInboxEventApplied) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  Job j = follow(*store_, create(t, {kT0}).front(), kT0, "ref-1");
  std::vector<BankEventRecord> events(2);
  for (size_t i = 0; i < events.size(); ++i) {
    events[i].id = new_uuid_v7(kT0);
    events[i].provider = kBank;
    events[i].event_id = "evt-" + std::to_string(i);
    events[i].event_type = "transfer.updated";
    events[i].received_at = kT0 + 1min;
  }
  ASSERT_EQ(store_->accept_bank_events(events).value(), (std::vector<bool>{true, true}));
  auto claimed = store_->claim_bank_events(kT0 + 2min, kT0 + 10min, 10);
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 2u);

  SettlementUpdate known = webhook(kBank, "ref-1", SettlementStatus::kSettled, kT0 + 3min);
  known.bank_event_id = events[0].id;
  SettlementUpdate unknown = webhook(kBank, "ref-x", SettlementStatus::kSettled, kT0 + 3min);
  unknown.bank_event_id = events[1].id;
  std::vector<SettlementResult> got = apply_all(*store_, {known, unknown});
  EXPECT_EQ(got[0].outcome, SettlementOutcome::kApplied);
  EXPECT_EQ(got[1].outcome, SettlementOutcome::kUnknownTransfer);
  EXPECT_EQ(get(j.id).settlement_status, SettlementStatus::kSettled);

  // Applied, both: neither comes back after its claim runs out, none is pending.
  EXPECT_EQ(store_->count_pending_bank_events(100).value(), 0);
  EXPECT_TRUE(store_->claim_bank_events(kT0 + 24h, kT0 + 25h, 10).value().empty());
  RawDb db(url_);
  std::string sql = std::string("SELECT outcome FROM bank_webhook_event WHERE id = ") +
                    (GetParam() == "sqlite" ? "?1" : "$1::uuid");
  EXPECT_EQ(db.text(sql, {events[0].id}).value(), "applied");
  EXPECT_EQ(db.text(sql, {events[1].id}).value(), "unknown_transfer");
  // And still known: the bank's redelivery is not stored again.
  EXPECT_EQ(store_->accept_bank_events(events).value(), (std::vector<bool>{false, false}));
}

// --- The jobs' filters ---

TEST_P(StoreConformance, JobsFilterByResultAndSettlementStatus) {
  RecurringTransfer t = transfer();
  t.provider = kBank;
  std::vector<Job> jobs = create(t, {kT0, kT0 + 1s, kT0 + 2s, kT0 + 3h});
  Job ret = follow(*store_, jobs[0], kT0, "ref-0");
  Job pending = follow(*store_, jobs[1], kT0 + 1s, "ref-1");
  Job settled = follow(*store_, jobs[2], kT0 + 2s, "ref-2");
  apply_all(*store_,
            {returned(ret, "R10", kT0 + 1h), news(settled, SettlementStatus::kSettled, kT0 + 1h)});
  auto list = [&](const JobFilter& f) {
    auto r = store_->list_jobs(f);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? ids_of(r->data) : std::vector<std::string>{};
  };
  JobFilter f;
  f.result = JobResult::kReturned;
  EXPECT_EQ(list(f), (std::vector<std::string>{ret.id}));
  f = {};
  f.settlement_status = SettlementStatus::kPending;
  EXPECT_EQ(list(f), (std::vector<std::string>{pending.id}));
  f.result = JobResult::kSucceeded;
  EXPECT_EQ(list(f), (std::vector<std::string>{pending.id}));
  f = {};
  f.result = JobResult::kSucceeded;
  EXPECT_EQ(list(f), (std::vector<std::string>{pending.id, settled.id}));
  f.status = JobStatus::kFinished;
  f.settlement_status = SettlementStatus::kSettled;
  f.recurring_transfer_id = t.id;
  EXPECT_EQ(list(f), (std::vector<std::string>{settled.id}));
  f = {};
  f.result = JobResult::kDeclined;
  EXPECT_TRUE(list(f).empty());
  f = {};
  f.settlement_status = SettlementStatus::kCanceled;
  EXPECT_TRUE(list(f).empty());
}

// --- The inbox of bank webhook events ---

BankEventRecord event(const std::string& provider, const std::string& event_id,
                      Timestamp received_at) {
  BankEventRecord e;
  e.id = new_uuid_v7(received_at);
  e.provider = provider;
  e.event_id = event_id;
  e.event_type = "transfer.settled";
  e.reference = "ref-" + event_id;
  e.rail = Rail::kAch;
  e.payload = R"({"note":"it's, \"quoted\" ü 💸"})";
  e.received_at = received_at;
  return e;
}

TEST_P(StoreConformance, TheInboxStoresABanksEventOnce) {
  std::vector<BankEventRecord> first{
      event(kBank, "evt-1", kT0),    event(kBank, "evt-2", kT0),
      event(kBank, "evt-1", kT0),                            // again within the batch
      event("bank-b", "evt-1", kT0),                         // another bank's event of the same id
      event(kBank, "", kT0),         event(kBank, "", kT0),  // no id: never deduplicated
  };
  auto got = store_->accept_bank_events(first);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, (std::vector<bool>{true, true, false, true, true, true}));
  std::vector<BankEventRecord> second{event(kBank, "evt-2", kT0 + 1s), event(kBank, "", kT0 + 1s),
                                      event("bank-b", "evt-2", kT0 + 1s)};
  got = store_->accept_bank_events(second);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, (std::vector<bool>{false, true, true}));
  EXPECT_TRUE(store_->accept_bank_events({}).value().empty());

  EXPECT_EQ(store_->count_pending_bank_events(100).value(), 7);
  EXPECT_EQ(store_->count_pending_bank_events(3).value(), 3);

  // What was stored is the first of each, field for field.
  auto claimed = store_->claim_bank_events(kT0 + 1min, kT0 + 2min, 100);
  ASSERT_TRUE(claimed) << claimed.error().message;
  std::vector<std::string> ids = ids_of(*claimed);
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> expected{first[0].id, first[1].id,  first[3].id, first[4].id,
                                    first[5].id, second[1].id, second[2].id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);
  for (const BankEventRecord& e : *claimed) {
    if (e.id != first[0].id) continue;
    EXPECT_EQ(e.provider, kBank);
    EXPECT_EQ(e.event_id, "evt-1");
    EXPECT_EQ(e.event_type, "transfer.settled");
    EXPECT_EQ(e.reference, "ref-evt-1");
    EXPECT_EQ(e.rail, Rail::kAch);
    EXPECT_EQ(e.payload, first[0].payload);
    EXPECT_EQ(e.received_at, kT0);
    EXPECT_EQ(e.attempts, 1);
  }
}

TEST_P(StoreConformance, TheInboxHandsOutDueEventsOldestFirstAndAgainAfterRetryAt) {
  // Received out of order (e0's id is the greatest); optional fields absent on one.
  BankEventRecord e2 = event(kBank, "e2", kT0 + 2s);
  BankEventRecord e0 = event(kBank, "e0", kT0);
  e0.id = new_uuid_v7(kT0 + 1h);
  BankEventRecord e1 = event("bank-b", "e1", kT0 + 1s);
  BankEventRecord late = event(kBank, "late", kT0 + 10s);
  e1.reference.reset();
  e1.rail.reset();
  e1.payload.reset();
  ASSERT_TRUE(store_->accept_bank_events(std::vector<BankEventRecord>{e2, late, e0, e1}));

  const Timestamp retry_at = kT0 + 1min;
  auto first = store_->claim_bank_events(kT0 + 5s, retry_at, 2);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(ids_of(*first), (std::vector<std::string>{e0.id, e1.id}));
  for (const BankEventRecord& e : *first) EXPECT_EQ(e.attempts, 1);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_FALSE((*first)[1].reference || (*first)[1].rail || (*first)[1].payload);
  auto second = store_->claim_bank_events(kT0 + 5s, retry_at, 10);
  ASSERT_TRUE(second);
  EXPECT_EQ(ids_of(*second), (std::vector<std::string>{e2.id}));
  // Claimed events wait for retry_at; the late one for its time.
  EXPECT_TRUE(store_->claim_bank_events(kT0 + 9s, retry_at, 10).value().empty());
  EXPECT_EQ(ids_of(store_->claim_bank_events(kT0 + 10s, kT0 + 2min, 10).value()),
            (std::vector<std::string>{late.id}));
  EXPECT_TRUE(store_->claim_bank_events(retry_at - 1ms, kT0 + 2min, 10).value().empty());
  EXPECT_EQ(store_->count_pending_bank_events(10).value(), 4);

  // At retry_at (a crashed claimer's events) they come back, counted again.
  auto again = store_->claim_bank_events(retry_at, kT0 + 3min, 10);
  ASSERT_TRUE(again);
  std::vector<std::string> ids = ids_of(*again);
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> expected{e0.id, e1.id, e2.id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);
  for (const BankEventRecord& e : *again) EXPECT_EQ(e.attempts, 2);
}

TEST_P(StoreConformance, AFinishedInboxEventIsDoneOrTriedAgainAtItsTime) {
  BankEventRecord a = event(kBank, "a", kT0);
  BankEventRecord b = event(kBank, "b", kT0);
  ASSERT_TRUE(store_->accept_bank_events(std::vector<BankEventRecord>{a, b}));
  ASSERT_EQ(store_->claim_bank_events(kT0, kT0 + 1min, 10).value().size(), 2u);

  // a: applied without an update (not about a transfer); b: to try again at +5min.
  ASSERT_TRUE(
      store_->finish_bank_event(a.id, kT0 + 1s, "not_a_transfer", std::nullopt, std::nullopt));
  ASSERT_TRUE(store_->finish_bank_event(b.id, kT0 + 1s, "error", "bank lookup failed", kT0 + 5min));
  EXPECT_EQ(store_->count_pending_bank_events(10).value(), 1);
  // b is not due at the claim's own retry time any more, but at its new one.
  EXPECT_TRUE(store_->claim_bank_events(kT0 + 5min - 1ms, kT0 + 10min, 10).value().empty());
  auto due = store_->claim_bank_events(kT0 + 5min, kT0 + 10min, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(ids_of(*due), (std::vector<std::string>{b.id}));
  EXPECT_EQ(due->front().attempts, 2);

  RawDb db(url_);
  const bool sqlite = GetParam() == "sqlite";
  std::string where = sqlite ? " FROM bank_webhook_event WHERE id = ?1"
                             : " FROM bank_webhook_event WHERE id = $1::uuid";
  EXPECT_EQ(db.text("SELECT outcome" + where, {a.id}).value(), "not_a_transfer");
  EXPECT_FALSE(db.text("SELECT last_error" + where, {a.id}).value());
  EXPECT_TRUE(db.text("SELECT applied_at" + where, {a.id}).value());
  EXPECT_EQ(db.text("SELECT last_error" + where, {b.id}).value(), "bank lookup failed");
  EXPECT_FALSE(db.text("SELECT applied_at" + where, {b.id}).value());

  // Finishing an applied event again changes nothing: it stays applied.
  ASSERT_TRUE(store_->finish_bank_event(a.id, kT0 + 2s, "error", "late", kT0 + 6min));
  EXPECT_EQ(db.text("SELECT outcome" + where, {a.id}).value(), "not_a_transfer");
  EXPECT_TRUE(store_->claim_bank_events(kT0 + 1h, kT0 + 2h, 10).value().size() == 1u);  // b
  ASSERT_TRUE(store_->finish_bank_event(b.id, kT0 + 1h, "applied", std::nullopt, std::nullopt));
  EXPECT_EQ(store_->count_pending_bank_events(10).value(), 0);
  EXPECT_TRUE(store_->claim_bank_events(kT0 + 10h, kT0 + 11h, 10).value().empty());
}

TEST_P(StoreConformance, PurgingDeletesOnlyEventsAppliedBeforeTheCutOff) {
  std::vector<BankEventRecord> events{event(kBank, "p1", kT0), event(kBank, "p2", kT0),
                                      event(kBank, "p3", kT0), event(kBank, "p4", kT0)};
  ASSERT_TRUE(store_->accept_bank_events(events));
  ASSERT_EQ(store_->claim_bank_events(kT0, kT0 + 1min, 10).value().size(), 4u);
  for (int i = 0; i < 3; ++i) {  // p4 stays unapplied
    ASSERT_TRUE(store_->finish_bank_event(events[size_t(i)].id, kT0 + std::chrono::seconds(i + 1),
                                          "applied", std::nullopt, std::nullopt));
  }
  // Applied before +3s: p1 (+1s) and p2 (+2s); p3 (+3s, not before) and p4 stay.
  auto purged = store_->purge_bank_events(kT0 + 3s, 100);
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(*purged, 2);
  EXPECT_EQ(store_->count_pending_bank_events(10).value(), 1);
  // A purged event is forgotten (its redelivery is new); a kept one still known.
  std::vector<BankEventRecord> redelivered;
  redelivered.reserve(events.size());
  for (const BankEventRecord& e : events) redelivered.push_back(event(kBank, e.event_id, kT0 + 1h));
  EXPECT_EQ(store_->accept_bank_events(redelivered).value(),
            (std::vector<bool>{true, true, false, false}));
  // The limit holds; nothing applied: nothing to purge.
  EXPECT_EQ(store_->purge_bank_events(kT0 + 24h, 0).value(), 0);
  EXPECT_EQ(store_->purge_bank_events(kT0 + 24h, 100).value(), 1);  // p3
  EXPECT_EQ(store_->purge_bank_events(kT0 + 24h, 100).value(), 0);
  EXPECT_EQ(store_->count_pending_bank_events(10).value(), 3);  // p4, new p1, new p2
}

// --- The follower's claims ---

// A job of `t` the bank accepted under `reference`, pending, first looked up at `check_at`
// (stored as such, without a claim).
Job followed_job(const Job& base, const std::string& reference, Timestamp check_at) {
  Job j = base;
  j.status = JobStatus::kFinished;
  j.result = JobResult::kSucceeded;
  j.provider_reference = reference;
  j.finished_at = kT0;
  j.settlement_status = SettlementStatus::kPending;
  j.settlement_check_at = check_at;
  return j;
}

TEST_P(StoreConformance, TheFollowerClaimsItsProvidersDuePendingJobsOldestFirst) {
  RecurringTransfer a = transfer();
  a.provider = kBank;
  std::vector<Job> jobs;
  // Looked up in another order than their ids'.
  jobs.push_back(followed_job(job(a, 1, kT0), "r1", kT0 - 1s));
  jobs.push_back(followed_job(job(a, 2, kT0), "r2", kT0 - 2s));
  jobs.push_back(followed_job(job(a, 3, kT0), "r3", kT0 + 1h));  // not yet
  jobs.push_back(followed_job(job(a, 4, kT0), "r4", kT0 - 3s));
  Job settled = followed_job(job(a, 5, kT0), "r5", kT0 - 4s);
  settled.settlement_status = SettlementStatus::kSettled;
  jobs.push_back(settled);
  Job unknown = followed_job(job(a, 6, kT0), "r6", kT0 - 4s);
  unknown.settlement_status = SettlementStatus::kUnknown;
  jobs.push_back(unknown);
  Job plain = job(a, 7, kT0);  // never followed
  jobs.push_back(plain);
  a.last_sequence = int64_t(jobs.size());
  ASSERT_TRUE(store_->create_transfer(a, jobs));
  RecurringTransfer b = transfer();
  b.provider = "bank-b";
  b.last_sequence = 1;
  Job other = followed_job(job(b, 1, kT0), "rb", kT0 - 10s);
  ASSERT_TRUE(store_->create_transfer(b, {other}));

  const Timestamp again = kT0 + 10min;
  auto first = store_->claim_settlement_checks(kBank, kT0, again, 2);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(ids_of(*first), (std::vector<std::string>{jobs[3].id, jobs[1].id}));
  for (const Job& j : *first) {
    EXPECT_EQ(j.settlement_check_at, again);
    expect_same(get(j.id), j);
  }
  auto second = store_->claim_settlement_checks(kBank, kT0, again, 10);
  ASSERT_TRUE(second);
  EXPECT_EQ(ids_of(*second), (std::vector<std::string>{jobs[0].id}));
  // Nothing more until the claims run out; the other bank's job is its own.
  EXPECT_TRUE(store_->claim_settlement_checks(kBank, kT0, again, 10).value().empty());
  EXPECT_TRUE(store_->claim_settlement_checks(kBank, again - 1ms, again, 10).value().empty());
  EXPECT_TRUE(store_->claim_settlement_checks("bank-c", again, again + 1h, 10).value().empty());
  EXPECT_EQ(ids_of(store_->claim_settlement_checks("bank-b", kT0, again, 10).value()),
            (std::vector<std::string>{other.id}));
  auto later = store_->claim_settlement_checks(kBank, again, again + 10min, 10);
  ASSERT_TRUE(later);
  std::vector<std::string> ids = ids_of(*later);
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> expected{jobs[0].id, jobs[1].id, jobs[3].id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);
  // Once settled, never again.
  apply_all(*store_, {news(jobs[0], SettlementStatus::kSettled, kT0 + 1h)});
  auto last = store_->claim_settlement_checks(kBank, kT0 + 2h, kT0 + 3h, 10);
  ASSERT_TRUE(last);
  ids = ids_of(*last);
  std::sort(ids.begin(), ids.end());
  expected = {jobs[1].id, jobs[2].id, jobs[3].id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);
  EXPECT_TRUE(store_->claim_settlement_checks(kBank, kT0 + 2h, kT0 + 3h, 0).value().empty());
}

TEST_P(StoreConformance, TwoFollowersNeverClaimTheSameJob) {
  std::unique_ptr<Store> one = open();
  std::unique_ptr<Store> two = open();
  ASSERT_TRUE(one && two);
  constexpr int kRounds = 50;
  constexpr int kJobs = 8;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const Timestamp now = kT0 + std::chrono::minutes(round);
    RecurringTransfer t = transfer();
    t.provider = kBank;
    std::vector<Job> jobs;
    jobs.reserve(kJobs);
    for (int i = 0; i < kJobs; ++i) {
      jobs.push_back(followed_job(job(t, i + 1, kT0), "ref-" + std::to_string(i),
                                  now - std::chrono::milliseconds(i)));
    }
    t.last_sequence = kJobs;
    ASSERT_TRUE(store_->create_transfer(t, jobs));
    // Claims of earlier rounds moved past every later round.
    const Timestamp again = kT0 + 24h;
    std::vector<Job> got_one;
    std::vector<Job> got_two;
    bool ok_one = false;
    bool ok_two = false;
    std::thread a([&] {
      auto r = one->claim_settlement_checks(kBank, now, again, 5);
      ok_one = bool(r);
      if (r) got_one = *r;
    });
    std::thread b([&] {
      auto r = two->claim_settlement_checks(kBank, now, again, 5);
      ok_two = bool(r);
      if (r) got_two = *r;
    });
    a.join();
    b.join();
    ASSERT_TRUE(ok_one && ok_two);
    auto rest = store_->claim_settlement_checks(kBank, now, again, 100);
    ASSERT_TRUE(rest);
    std::multiset<std::string> all;
    for (const auto* got : {&got_one, &got_two, &*rest}) {
      for (const Job& j : *got) all.insert(j.id);
    }
    std::multiset<std::string> expected;
    for (const Job& j : jobs) expected.insert(j.id);
    ASSERT_EQ(all, expected) << "claimed twice or lost";
  }
}

// A return that presents an R01 again, racing a client's cancel of the transfer from another
// connection: the cancel is wholly before the apply (no re-presentment: the job stays RETURNED)
// or wholly after it (it cancels the RETRY the re-presentment made). Never a RETRY job, which
// would send money again, on a CANCELLED transfer.
TEST_P(StoreConformance, AReturnRacingACancelNeverLeavesAPresentmentToSend) {
  std::unique_ptr<Store> one = open();
  std::unique_ptr<Store> two = open();
  ASSERT_TRUE(one && two);
  constexpr int kRounds = 40;
  int represented_first = 0;
  int cancelled_first = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    RecurringTransfer t = transfer();
    t.provider = kBank;
    Job j = follow(*store_, create(t, {kT0}).front(), kT0, "ref-" + std::to_string(round));
    const Timestamp now = kT0 + 48h;
    SettlementUpdate u = returned(j, "R01", now);
    u.represent_max = 2;
    bool applied = false;
    bool cancelled = false;
    std::thread a([&] {
      auto r = one->apply_settlements(std::vector<SettlementUpdate>{u});
      applied = r && r->size() == 1;
    });
    std::thread b(
        [&] { cancelled = bool(two->change_transfer_status(t.id, TransferAction::kCancel, now)); });
    a.join();
    b.join();
    ASSERT_TRUE(applied && cancelled);
    Job after = get(j.id);
    EXPECT_EQ(after.return_code, "R01");
    if (after.status == JobStatus::kCancelled) {  // the apply came first
      EXPECT_EQ(after.presentment, 1);
      ++represented_first;
    } else {  // the cancel came first: nothing presented again
      EXPECT_EQ(after.status, JobStatus::kFinished);
      EXPECT_EQ(after.result, JobResult::kReturned);
      EXPECT_EQ(after.presentment, 0);
      ++cancelled_first;
    }
  }
  EXPECT_EQ(represented_first + cancelled_first, kRounds);
}

// --- The migration that brought them ---

// The column lists of a binary built before the migration: the current lists without the
// columns it appended (status_reason; the five settlement columns).
constexpr int kTransferColumnsBefore = 29;
constexpr int kJobColumnsBefore = 19;

TEST_P(StoreConformance, TheSettlementMigrationKeepsTheRowsAndAcceptsAReturn) {
  const bool sqlite = GetParam() == "sqlite";
  const int migration = sqlite ? 4 : 8;
  // status_reason, then version (patch_test.cpp tests its migration).
  static_assert(kTransferColumnsBefore + 2 == store_detail::kTransferColumnCount);
  // The five settlement columns, then outcome_unknown (state_machine_test.cpp tests its
  // migration); later migrations add no other column to the jobs' tables.
  static_assert(kJobColumnsBefore + 6 == store_detail::kJobColumnCount);
  EXPECT_GE(first_migration_.version, migration);

  RecurringTransfer old_t = transfer();
  old_t.provider = kBank;
  old_t.last_sequence = 2;
  std::vector<Job> old_jobs{job(old_t, 1, kT0, JobStatus::kFinished), job(old_t, 2, kT0 + 1h)};
  old_jobs[0].result = JobResult::kSucceeded;
  old_jobs[0].provider_reference = "ref-old";
  old_jobs[0].bank_status = "COMPLETED";
  old_jobs[0].finished_at = kT0;
  std::string url = database_before(migration);
  {
    RawDb before(url);
    before.insert_leading(old_t, old_jobs, kTransferColumnsBefore, kJobColumnsBefore);
    // The old schema refuses RETURNED.
    std::string sql = std::string("UPDATE recurring_transfer_job SET result = 'RETURNED'") +
                      " WHERE id = " + (sqlite ? "?1" : "$1::uuid");
    EXPECT_FALSE(before.run(sql, {old_jobs[0].id}));
  }
  EXPECT_EQ(migrate_store(url), migrations_from(migration));
  ASSERT_NE(store_, nullptr);

  // The rows as they were, the new columns null (presentment 0).
  auto got = store_->get_transfer(old_t.id);
  ASSERT_TRUE(got && *got);
  expect_same(**got, old_t);
  EXPECT_FALSE((*got)->status_reason);
  std::vector<Job> stored = jobs_of(old_t.id);
  ASSERT_EQ(stored.size(), 2u);
  for (size_t i = 0; i < stored.size(); ++i) {
    expect_same(stored[i], old_jobs[i]);
    EXPECT_FALSE(stored[i].settlement_status || stored[i].settled_at || stored[i].return_code ||
                 stored[i].settlement_check_at);
    EXPECT_EQ(stored[i].presentment, 0);
  }

  // An older binary still writes against the new schema.
  RecurringTransfer older_again = transfer();
  older_again.last_sequence = 1;
  Job older_job = job(older_again, 1, kT0);
  {
    RawDb older(url);
    older.insert_leading(older_again, {older_job}, kTransferColumnsBefore, kJobColumnsBefore);
  }
  expect_same(store_->get_transfer(older_again.id).value().value(), older_again);
  expect_same(get(older_job.id), older_job);

  // The old job, accepted and final at once, takes a return (RETURNED passes the CHECK now) ...
  SettlementUpdate r10 = webhook(kBank, "ref-old", SettlementStatus::kReturned, kT0 + 48h);
  r10.return_code = "R10";
  EXPECT_EQ(apply_one(*store_, r10).outcome, SettlementOutcome::kApplied);
  Job back = get(old_jobs[0].id);
  EXPECT_EQ(back.result, JobResult::kReturned);
  EXPECT_EQ(back.return_code, "R10");
  // ... also through a connection opened afterwards, which reads the widened constraint.
  std::unique_ptr<Store> fresh = open_test_store(url).value();
  EXPECT_EQ(fresh->get_job(old_jobs[0].id).value()->result, JobResult::kReturned);
  // ... and a new one follows its settlement.
  Job followed = follow(*store_, old_jobs[1], kT0 + 1h, "ref-new");
  EXPECT_EQ(followed.settlement_status, SettlementStatus::kPending);
  SettlementUpdate r02 = returned(followed, "R02", kT0 + 50h);
  EXPECT_EQ(apply_one(*fresh, r02).outcome, SettlementOutcome::kTransferPaused);
  EXPECT_EQ(fresh->get_transfer(old_t.id).value()->status_reason, "account_return:R02");

  // The constraint still refuses what no code writes.
  RawDb db(url);
  std::string sql = std::string("UPDATE recurring_transfer_job SET result = 'BOUNCED'") +
                    " WHERE id = " + (sqlite ? "?1" : "$1::uuid");
  EXPECT_FALSE(db.run(sql, {old_jobs[0].id}));
  sql = std::string("UPDATE recurring_transfer_job SET settlement_status = 'lost'") +
        " WHERE id = " + (sqlite ? "?1" : "$1::uuid");
  EXPECT_FALSE(db.run(sql, {old_jobs[0].id}));
  if (sqlite) {
    EXPECT_EQ(db.text("PRAGMA integrity_check").value(), "ok");
  }
}

}  // namespace
}  // namespace rtjobs::store_conformance
