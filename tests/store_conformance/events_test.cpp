// Store conformance (conformance.hpp): the outbox (SPEC section 8, events to the main API).
// Every state change a client cares about writes its events in its own transaction: the right
// types, in order, about the right transfer and job, their data the row as written (read back
// through the store). A claim, a lost lease and a refused or failed change write none.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "outbox_support.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

using Types = std::vector<std::string>;

RecurringTransfer stored_transfer(Store& store, const std::string& id) {
  auto r = store.get_transfer(id);
  EXPECT_TRUE(r && *r);
  return r && *r ? **r : RecurringTransfer{};
}

// --- Transfers ---

TEST_P(StoreConformance, ACreatedTransferWritesTransferCreatedOnce) {
  RecurringTransfer t = transfer(TransferStatus::kActive, "key-1");
  t.description = kAwkward;
  create(t, {kT0, kT0 + 24h});
  std::vector<Event> events = events_after(*store_);
  ASSERT_EQ(events.size(), 1u);
  expect_transfer_event(events[0], "transfer.created", stored_transfer(*store_, t.id), kT0);

  // The same idempotency key again answers the first transfer and writes nothing.
  RecurringTransfer again = transfer(TransferStatus::kActive, "key-1");
  auto r = store_->create_transfer(again, {job(again, 1, kT0)});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->created);
  EXPECT_EQ(events_after(*store_).size(), 1u);
}

TEST_P(StoreConformance, PauseResumeAndCancelWriteTheTransferThenItsCancelledJobs) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0 + 24h, kT0 + 48h});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  ASSERT_EQ(complete({.job_id = jobs[0].id,
                      .lease_owner = "owner-a",
                      .now = kT0 + 1s,
                      .status = JobStatus::kFinished,
                      .result = JobResult::kSucceeded})
                .status,
            CompletionStatus::kWritten);
  auto mark = last_event_id(*store_);

  auto paused = store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1h);
  ASSERT_TRUE(paused) << paused.error().message;
  // A refused transition writes nothing.
  EXPECT_FALSE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 2h));
  auto resumed = store_->change_transfer_status(t.id, TransferAction::kResume, kT0 + 3h);
  ASSERT_TRUE(resumed) << resumed.error().message;
  std::vector<Event> events = events_after(*store_, mark);
  ASSERT_EQ(types_of(events), (Types{"transfer.paused", "transfer.resumed"}));
  expect_transfer_event(events[0], "transfer.paused", *paused, kT0 + 1h);
  expect_transfer_event(events[1], "transfer.resumed", *resumed, kT0 + 3h);

  // The cancel's event first, then each job it cancelled, in job order (not the finished one).
  mark = events.back().id;
  auto cancelled = store_->change_transfer_status(t.id, TransferAction::kCancel, kT0 + 4h);
  ASSERT_TRUE(cancelled) << cancelled.error().message;
  events = events_after(*store_, mark);
  ASSERT_EQ(types_of(events), (Types{"transfer.cancelled", "job.cancelled", "job.cancelled"}));
  expect_transfer_event(events[0], "transfer.cancelled", stored_transfer(*store_, t.id), kT0 + 4h);
  expect_job_event(events[1], "job.cancelled", get(jobs[1].id), kT0 + 4h);
  expect_job_event(events[2], "job.cancelled", get(jobs[2].id), kT0 + 4h);
}

TEST_P(StoreConformance, AnExhaustedExtensionWritesTransferCompleted) {
  RecurringTransfer done = transfer();
  done.next_occurrence_at = kT0;
  create(done, {kT0}, JobStatus::kFinished);
  RecurringTransfer live = transfer();
  create(live, {kT0});
  auto mark = last_event_id(*store_);
  std::vector<Extension> batch{{done.id, kT0 + 1h, {}, std::nullopt, true},
                               {live.id, kT0 + 1h, {job(live, 2, kT0 + 24h)}, std::nullopt, true}};
  ASSERT_TRUE(store_->extend_transfers(batch));
  std::vector<Event> events = events_after(*store_, mark);
  ASSERT_EQ(events.size(), 1u);  // the live one has jobs still to run
  expect_transfer_event(events[0], "transfer.completed", stored_transfer(*store_, done.id),
                        kT0 + 1h);

  // A batch refused as a whole writes no event.
  RecurringTransfer other = transfer();
  other.next_occurrence_at = kT0;
  create(other, {kT0}, JobStatus::kFinished);
  mark = last_event_id(*store_);
  std::vector<Extension> refused{{other.id, kT0 + 2h, {}, std::nullopt, true},
                                 {new_uuid_v7(kT0), kT0 + 2h, {}, std::nullopt, false}};
  EXPECT_FALSE(store_->extend_transfers(refused));
  EXPECT_TRUE(events_after(*store_, mark).empty());
  EXPECT_EQ(stored_transfer(*store_, other.id).status, TransferStatus::kActive);
}

// --- Claims ---

TEST_P(StoreConformance, AClaimWritesNothingASkipOrACancelWritesTheJobsEvent) {
  RecurringTransfer active = transfer();
  Job claimed = create(active, {kT0}).front();
  RecurringTransfer paused = transfer(TransferStatus::kPaused);
  std::vector<Job> paused_jobs = create(paused, {kT0, kT0 + 24h});
  RecurringTransfer last = transfer(TransferStatus::kPaused);  // no occurrence after its job
  last.next_occurrence_at.reset();
  Job last_job = create(last, {kT0}).front();
  RecurringTransfer cancelled = transfer(TransferStatus::kCancelled);
  Job cancelled_job = create(cancelled, {kT0}).front();
  auto mark = last_event_id(*store_);

  ASSERT_EQ(claim(claimed.id, kT0).status, ClaimStatus::kClaimed);
  EXPECT_EQ(claim(claimed.id, kT0 + 1s, "owner-b").status, ClaimStatus::kInProgress);
  EXPECT_TRUE(events_after(*store_, mark).empty());

  ASSERT_EQ(claim(paused_jobs[0].id, kT0 + 1s).status, ClaimStatus::kSkipped);
  ASSERT_EQ(claim(last_job.id, kT0 + 2s).status, ClaimStatus::kSkipped);
  ASSERT_EQ(claim(cancelled_job.id, kT0 + 3s).status, ClaimStatus::kTerminal);
  std::vector<Event> events = events_after(*store_, mark);
  ASSERT_EQ(types_of(events),
            (Types{"job.skipped", "job.skipped", "transfer.completed", "job.cancelled"}));
  expect_job_event(events[0], "job.skipped", get(paused_jobs[0].id), kT0 + 1s);
  expect_job_event(events[1], "job.skipped", get(last_job.id), kT0 + 2s);
  RecurringTransfer completed = stored_transfer(*store_, last.id);
  EXPECT_EQ(completed.status, TransferStatus::kCompleted);
  expect_transfer_event(events[2], "transfer.completed", completed, kT0 + 2s);
  expect_job_event(events[3], "job.cancelled", get(cancelled_job.id), kT0 + 3s);

  // A terminal job claimed again writes nothing more.
  mark = events.back().id;
  EXPECT_EQ(claim(paused_jobs[0].id, kT0 + 4s).status, ClaimStatus::kTerminal);
  EXPECT_TRUE(events_after(*store_, mark).empty());
}

TEST_P(DueClaims, ABatchClaimWritesItsSkipsAndCancelsInDueOrder) {
  DueScene s = scene();
  auto mark = last_event_id(*store_);
  std::vector<ClaimResult> got = claim_due(kT0 + 1s, 10, true, true);
  ASSERT_FALSE(got.empty());
  std::vector<Event> events = events_after(*store_, mark);
  // The cancelled transfer's job and the paused one's pending job; the paused transfer's RETRY
  // job waits, so it is not completed. Claims write nothing.
  ASSERT_EQ(events.size(), 2u);
  expect_job_event(event_of_job(events, s.cancelled.id), "job.cancelled", get(s.cancelled.id),
                   kT0 + 1s);
  expect_job_event(event_of_job(events, s.paused_pending.id), "job.skipped",
                   get(s.paused_pending.id), kT0 + 1s);
}

// --- Completions ---

TEST_P(StoreConformance, CompleteJobsWritesEachWrittenOutcomesEventInInputOrder) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0, kT0, kT0, kT0});
  for (int i = 0; i < 4; ++i) ASSERT_EQ(claim(jobs[i].id, kT0).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[4].id, kT0, "stale", 3, 10s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[4].id, kT0 + 10s, "fresh").status, ClaimStatus::kClaimed);
  RecurringTransfer single = transfer();
  single.next_occurrence_at.reset();  // its last occurrence exists
  Job only = create(single, {kT0}).front();
  ASSERT_EQ(claim(only.id, kT0).status, ClaimStatus::kClaimed);
  auto mark = last_event_id(*store_);

  const Timestamp at = kT0 + 11s;
  std::vector<Completion> batch{
      {.job_id = jobs[0].id,
       .lease_owner = "owner-a",
       .now = at,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .provider_reference = "bank-tx-0"},
      {.job_id = jobs[1].id,
       .lease_owner = "owner-a",
       .now = at,
       .status = JobStatus::kFinished,
       .result = JobResult::kDeclined,
       .last_error = "insufficient_funds",
       .return_job = false},  // the event has the job all the same
      {.job_id = only.id,     // its transfer's last occurrence
       .lease_owner = "owner-a",
       .now = at,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .schedule_exhausted = true},
      {.job_id = jobs[2].id,
       .lease_owner = "owner-a",
       .now = at,
       .status = JobStatus::kRetry,
       .retries = 1,
       .next_attempt_at = at + 1min,
       .last_error = "503"},
      {.job_id = jobs[4].id,  // its lease was taken over: writes nothing
       .lease_owner = "stale",
       .now = at,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .schedule_exhausted = true},
      {.job_id = jobs[3].id,
       .lease_owner = "owner-a",
       .now = at,
       .status = JobStatus::kFailed,
       .retries = 3,
       .last_error = "timeout"},
  };
  auto r = store_->complete_jobs(batch);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ((*r)[4].status, CompletionStatus::kLeaseLost);
  std::vector<Event> events = events_after(*store_, mark);
  ASSERT_EQ(events.size(), 6u);
  std::vector<Event> of_t = of_transfer(events, t.id);
  ASSERT_EQ(types_of(of_t), (Types{"job.succeeded", "job.declined", "job.retrying", "job.failed"}));
  expect_job_event(of_t[0], "job.succeeded", get(jobs[0].id), at);
  expect_job_event(of_t[1], "job.declined", get(jobs[1].id), at);
  expect_job_event(of_t[2], "job.retrying", get(jobs[2].id), at);
  expect_job_event(of_t[3], "job.failed", get(jobs[3].id), at);
  std::vector<Event> of_single = of_transfer(events, single.id);
  ASSERT_EQ(types_of(of_single), (Types{"job.succeeded", "transfer.completed"}));
  expect_job_event(of_single[0], "job.succeeded", get(only.id), at);
  RecurringTransfer completed = stored_transfer(*store_, single.id);
  EXPECT_EQ(completed.status, TransferStatus::kCompleted);
  expect_transfer_event(of_single[1], "transfer.completed", completed, at);
}

TEST_P(StoreConformance, ACompletionBatchThatFailsWritesNoEvent) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0});
  for (const Job& j : jobs) ASSERT_EQ(claim(j.id, kT0).status, ClaimStatus::kClaimed);
  auto mark = last_event_id(*store_);
  // The second completion's provider-status row reuses the first one's id: the batch fails
  // after the first job was written, and nothing of it stays.
  ProviderStatus row = status_row(jobs[0], 1, kT0 + 1s, 422);
  ProviderStatus same_id = status_row(jobs[1], 1, kT0 + 1s, 422);
  same_id.id = row.id;
  std::vector<Completion> batch{{.job_id = jobs[0].id,
                                 .lease_owner = "owner-a",
                                 .now = kT0 + 1s,
                                 .status = JobStatus::kFinished,
                                 .result = JobResult::kDeclined,
                                 .provider_status = row},
                                {.job_id = jobs[1].id,
                                 .lease_owner = "owner-a",
                                 .now = kT0 + 1s,
                                 .status = JobStatus::kFinished,
                                 .result = JobResult::kDeclined,
                                 .provider_status = same_id}};
  EXPECT_FALSE(store_->complete_jobs(batch));
  EXPECT_TRUE(events_after(*store_, mark).empty());
  for (const Job& j : jobs) EXPECT_EQ(get(j.id).status, JobStatus::kProcessing);
}

TEST_P(StoreConformance, ALostLeaseWritesNoEvent) {
  RecurringTransfer t = transfer();
  Job j = create(t, {kT0}).front();
  ASSERT_EQ(claim(j.id, kT0, "stale", 3, 10s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(j.id, kT0 + 10s, "fresh").status, ClaimStatus::kClaimed);
  auto mark = last_event_id(*store_);
  CompletionResult lost = complete({.job_id = j.id,
                                    .lease_owner = "stale",
                                    .now = kT0 + 11s,
                                    .status = JobStatus::kFailed,
                                    .retries = 3});
  EXPECT_EQ(lost.status, CompletionStatus::kLeaseLost);
  EXPECT_TRUE(events_after(*store_, mark).empty());
}

TEST_P(StoreConformance, ARetriedOrRescuedJobWritesJobRetrying) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0, kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  ASSERT_EQ(complete({.job_id = jobs[0].id,
                      .lease_owner = "owner-a",
                      .now = kT0 + 1s,
                      .status = JobStatus::kFailed,
                      .retries = 3})
                .status,
            CompletionStatus::kWritten);
  auto mark = last_event_id(*store_);
  auto retried = store_->retry_failed_job(jobs[0].id, kT0 + 1h);
  ASSERT_TRUE(retried) << retried.error().message;
  std::vector<Event> events = events_after(*store_, mark);
  ASSERT_EQ(events.size(), 1u);
  expect_job_event(events[0], "job.retrying", *retried, kT0 + 1h);
  expect_same(get(jobs[0].id), *retried);

  // A refused retry writes nothing.
  mark = events.back().id;
  EXPECT_FALSE(store_->retry_failed_job(jobs[1].id, kT0 + 1h));
  EXPECT_TRUE(events_after(*store_, mark).empty());

  // Two leases expire: one event per rescued job.
  ASSERT_EQ(claim(jobs[2].id, kT0 + 2h, "owner-a", 3, 10s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 2h, "owner-a", 3, 5s).status, ClaimStatus::kClaimed);
  EXPECT_EQ(store_->rescue_expired_leases(kT0 + 3h, 3, 10).value(), 2);
  events = events_after(*store_, mark);
  ASSERT_EQ(events.size(), 2u);
  for (const Job& j : {jobs[1], jobs[2]}) {
    Job rescued = get(j.id);
    EXPECT_EQ(rescued.status, JobStatus::kRetry);
    expect_job_event(event_of_job(events, j.id), "job.retrying", rescued, kT0 + 3h);
  }
}

// --- Settlement ---

// `j` claimed and completed at `now` as accepted by the bank under `reference`, pending.
Job accepted_pending(Store& store, const Job& j, Timestamp now, const std::string& reference) {
  auto claimed = store.claim_job({j.id, "owner-a", now, now + 30s, 3});
  EXPECT_TRUE(claimed && claimed->status == ClaimStatus::kClaimed);
  Completion c{.job_id = j.id, .lease_owner = "owner-a", .now = now};
  c.status = JobStatus::kFinished;
  c.result = JobResult::kSucceeded;
  c.provider_reference = reference;
  c.settlement_status = SettlementStatus::kPending;
  c.settlement_check_at = now + 1h;
  auto done = store.complete_job(c);
  EXPECT_TRUE(done && done->job);
  return done && done->job ? *done->job : j;
}

SettlementUpdate bank_news(const Job& j, SettlementStatus settlement, Timestamp now,
                           std::optional<std::string> return_code = std::nullopt) {
  SettlementUpdate u;
  u.provider = j.provider;
  u.job_id = j.id;
  u.reference = j.provider_reference.value_or("");
  u.settlement = settlement;
  u.bank_status = std::string(to_string(settlement));
  u.return_code = std::move(return_code);
  u.now = now;
  u.represent_max = 2;
  u.represent_after = 1h;
  return u;
}

TEST_P(StoreConformance, SettlementsWriteSettledReturnedRepresentedAndPausedEvents) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0, kT0});
  Job settled = accepted_pending(*store_, jobs[0], kT0, "ref-0");
  Job represented = accepted_pending(*store_, jobs[1], kT0, "ref-1");
  Job paused = accepted_pending(*store_, jobs[2], kT0, "ref-2");
  auto mark = last_event_id(*store_);

  std::vector<SettlementUpdate> updates{
      bank_news(settled, SettlementStatus::kSettled, kT0 + 1h),
      bank_news(represented, SettlementStatus::kReturned, kT0 + 2h, "R01"),
      bank_news(paused, SettlementStatus::kReturned, kT0 + 3h, "R02"),
      bank_news(settled, SettlementStatus::kSettled, kT0 + 4h),  // nothing new
  };
  auto r = store_->apply_settlements(updates);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ((*r)[1].outcome, SettlementOutcome::kRepresented);
  ASSERT_EQ((*r)[2].outcome, SettlementOutcome::kTransferPaused);
  ASSERT_EQ((*r)[3].outcome, SettlementOutcome::kUnchanged);
  std::vector<Event> events = events_after(*store_, mark);
  ASSERT_EQ(types_of(events), (Types{"job.settled", "job.returned", "job.retrying", "job.returned",
                                     "transfer.paused"}));
  expect_job_event(events[0], "job.settled", get(settled.id), kT0 + 1h);
  expect_job_event(events[1], "job.returned", get(represented.id), kT0 + 2h);
  expect_job_event(events[2], "job.retrying", get(represented.id), kT0 + 2h);
  expect_job_event(events[3], "job.returned", get(paused.id), kT0 + 3h);
  RecurringTransfer now_paused = stored_transfer(*store_, t.id);
  EXPECT_EQ(now_paused.status, TransferStatus::kPaused);
  expect_transfer_event(events[4], "transfer.paused", now_paused, kT0 + 3h);
}

}  // namespace
}  // namespace rtjobs::store_conformance
