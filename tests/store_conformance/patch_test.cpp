// Store conformance (conformance.hpp): changing a transfer's terms (Store::patch_transfer) and
// its history (Store::list_transfer_changes). A change applies only to the version read; a
// claim pins the terms it read, so every attempt under one idempotency key sends the same
// terms, whichever side of a change it falls on; every client's change is in the history.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "raw_db.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

TransferPatch amount_to(int64_t version, int64_t amount,
                        std::optional<std::string> description = std::nullopt) {
  return TransferPatch{
      .expected_version = version, .amount = amount, .description = std::move(description)};
}

// The job as a retry would send it: completed RETRY now, claimed again once due.
ClaimResult retry_and_reclaim(Store& store, const Job& job, const std::string& owner,
                              Timestamp now) {
  Completion k{.job_id = job.id,
               .lease_owner = owner,
               .now = now,
               .status = JobStatus::kRetry,
               .retries = job.retries + 1,
               .next_attempt_at = now + 1s,
               .last_error = "timeout"};
  auto written = store.complete_job(k);
  EXPECT_TRUE(written && written->status == CompletionStatus::kWritten);
  auto again = store.claim_job({.job_id = job.id,
                                .lease_owner = owner + "-again",
                                .now = now + 2s,
                                .lease_expires_at = now + 32s});
  EXPECT_TRUE(again) << again.error().message;
  return again ? *again : ClaimResult{};
}

TEST_P(StoreConformance, APatchAppliesOnlyToTheVersionRead) {
  RecurringTransfer t = transfer();
  create(t, {kT0 + 24h});
  EXPECT_EQ(store_->get_transfer(t.id).value()->version, 1);

  auto stale = store_->patch_transfer(t.id, amount_to(2, 6000), kT0 + 1s, "alice");
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::kPreconditionFailed);
  EXPECT_EQ(stale.error().reason, "version_mismatch");
  EXPECT_EQ(stale.error().field, "If-Match");

  auto changed = store_->patch_transfer(t.id, amount_to(1, 6000, "rent, new"), kT0 + 1s, "alice");
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_EQ(changed->version, 2);
  EXPECT_EQ(changed->amount, 6000);
  EXPECT_EQ(changed->description, "rent, new");
  EXPECT_EQ(changed->updated_at, kT0 + 1s);
  RecurringTransfer stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.version, 2);
  EXPECT_EQ(stored.amount, 6000);
  EXPECT_EQ(stored.schedule.start_date, t.schedule.start_date);

  // The same request again: its version is gone.
  auto again = store_->patch_transfer(t.id, amount_to(1, 7000), kT0 + 2s, "bob");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kPreconditionFailed);
  EXPECT_EQ(store_->get_transfer(t.id).value()->amount, 6000);

  // A change to the terms they already have: answered as it is, no new version.
  auto same = store_->patch_transfer(t.id, amount_to(2, 6000), kT0 + 3s, "bob");
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(same->version, 2);
  EXPECT_EQ(same->updated_at, kT0 + 1s);

  // Every status change is a new version; a final transfer cannot be changed.
  EXPECT_EQ(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 4s)->version, 3);
  EXPECT_EQ(store_->change_transfer_status(t.id, TransferAction::kResume, kT0 + 5s)->version, 4);
  EXPECT_EQ(store_->change_transfer_status(t.id, TransferAction::kCancel, kT0 + 6s)->version, 5);
  auto final = store_->patch_transfer(t.id, amount_to(5, 8000), kT0 + 7s, "bob");
  ASSERT_FALSE(final);
  EXPECT_EQ(final.error().code, ErrorCode::kConflict);
  EXPECT_EQ(final.error().reason, "transfer_final");

  EXPECT_EQ(store_->patch_transfer(new_uuid_v7(kT0), amount_to(1, 1), kT0, "x").error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->patch_transfer("not-a-uuid", amount_to(1, 1), kT0, "x").error().code,
            ErrorCode::kNotFound);
}

// Claims on both paths (claim_job, claim_due_jobs) before and after a change: each attempt
// carries the terms its job's first claim read, whatever changed since.
TEST_P(StoreConformance, AClaimPinsTheTermsAndEveryRetrySendsThem) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0 + 1h, kT0 + 2h});

  ClaimResult first = claim(jobs[0].id, kT0);
  ASSERT_EQ(first.status, ClaimStatus::kClaimed);
  EXPECT_EQ(first.transfer->amount, 5000);
  ASSERT_TRUE(store_->patch_transfer(t.id, amount_to(1, 7000, "rent, raised"), kT0 + 1s, "a"));

  // The retry of the job claimed before the change: the old terms, on either claim path.
  ClaimResult retried = retry_and_reclaim(*store_, *first.job, "owner-a", kT0 + 2s);
  ASSERT_EQ(retried.status, ClaimStatus::kClaimed);
  EXPECT_EQ(retried.transfer->amount, 5000);
  EXPECT_EQ(retried.transfer->description, "rent");
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a-again",
                     .now = kT0 + 5s,
                     .status = JobStatus::kRetry,
                     .retries = 2,
                     .next_attempt_at = kT0 + 6s,
                     .last_error = "timeout"});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  auto batch = store_->claim_due_jobs(
      {.lease_owner = "batch", .now = kT0 + 1h, .lease_expires_at = kT0 + 1h + 30s, .limit = 10});
  ASSERT_TRUE(batch) << batch.error().message;
  std::map<std::string, ClaimResult> by_id;
  for (ClaimResult& c : *batch) by_id[c.job->id] = c;
  ASSERT_EQ(by_id.size(), 2u);
  EXPECT_EQ(by_id[jobs[0].id].transfer->amount, 5000);
  EXPECT_EQ(by_id[jobs[0].id].transfer->description, "rent");
  // The occurrence first claimed after the change: the new terms, and they stay.
  EXPECT_EQ(by_id[jobs[1].id].transfer->amount, 7000);
  EXPECT_EQ(by_id[jobs[1].id].transfer->description, "rent, raised");
  ASSERT_TRUE(store_->patch_transfer(t.id, amount_to(2, 9000), kT0 + 1h + 1s, "a"));
  ClaimResult later = retry_and_reclaim(*store_, *by_id[jobs[1].id].job, "batch", kT0 + 1h + 2s);
  EXPECT_EQ(later.transfer->amount, 7000);
  ClaimResult third = claim(jobs[2].id, kT0 + 2h);
  ASSERT_EQ(third.status, ClaimStatus::kClaimed);
  EXPECT_EQ(third.transfer->amount, 9000);
  EXPECT_EQ(third.transfer->description, "rent, raised");
}

// SQLite reads a claim's transfers after the claim commits, outside the writer's lock
// (SqliteStore::with_claimed_transfers). A change committed in that gap by another store on the
// same file: on both claim paths the claim answers with the terms it pinned, and so does every
// retry; the rest of the transfer is as the change left it (its version here), as it would be
// had the change come during the bank call. PostgreSQL reads the transfer in the claim's
// statement: there is no gap.
TEST_P(StoreConformance, AChangeBetweenAClaimsCommitAndItsTransferReadKeepsThePinnedTerms) {
  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  if (sqlite == nullptr) GTEST_SKIP() << "no gap between a claim and its transfer's read";
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0 + 1h});
  std::unique_ptr<Store> other = open();
  int64_t version = 1;
  int64_t amount = 6000;
  sqlite->set_claim_committed_hook([&] {
    auto changed = other->patch_transfer(
        t.id, amount_to(version, amount, "rent " + std::to_string(amount)), kT0, "racer");
    ASSERT_TRUE(changed) << changed.error().message;
    version = changed->version;
    amount += 1000;
  });

  ClaimResult first = claim(jobs[0].id, kT0);
  ASSERT_EQ(first.status, ClaimStatus::kClaimed);
  EXPECT_EQ(first.transfer->version, 2);  // read after the change
  EXPECT_EQ(first.transfer->amount, 5000);
  EXPECT_EQ(first.transfer->description, "rent");

  auto batch = store_->claim_due_jobs(
      {.lease_owner = "batch", .now = kT0 + 1h, .lease_expires_at = kT0 + 1h + 30s, .limit = 10});
  ASSERT_TRUE(batch) << batch.error().message;
  ASSERT_EQ(batch->size(), 1u);
  const ClaimResult& second = batch->front();
  ASSERT_EQ(second.status, ClaimStatus::kClaimed);
  EXPECT_EQ(second.job->id, jobs[1].id);
  EXPECT_EQ(second.transfer->version, 3);
  EXPECT_EQ(second.transfer->amount, 6000);  // the first change's, which the claim pinned
  EXPECT_EQ(second.transfer->description, "rent 6000");

  sqlite->set_claim_committed_hook({});
  ClaimResult retried = retry_and_reclaim(*store_, *first.job, "owner-a", kT0 + 2s);
  EXPECT_EQ(retried.transfer->amount, 5000);
  EXPECT_EQ(retried.transfer->description, "rent");
  ClaimResult retried_second = retry_and_reclaim(*store_, *second.job, "batch", kT0 + 1h + 2s);
  EXPECT_EQ(retried_second.transfer->amount, 6000);
  EXPECT_EQ(retried_second.transfer->description, "rent 6000");
}

// The same gap with a cancel in it: the job stays claimed once (a second claim finds it in
// progress) and its answer shows the transfer CANCELLED, so the processor only looks the job up
// at the bank (look_up_only), as for a job whose transfer was cancelled during the bank call.
TEST_P(StoreConformance, ACancelBetweenAClaimsCommitAndItsTransferReadIsSeenByTheClaim) {
  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  if (sqlite == nullptr) GTEST_SKIP() << "no gap between a claim and its transfer's read";
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0});
  std::unique_ptr<Store> other = open();
  sqlite->set_claim_committed_hook([&] {
    auto cancelled = other->change_transfer_status(t.id, TransferAction::kCancel, kT0, "racer");
    ASSERT_TRUE(cancelled) << cancelled.error().message;
  });
  auto batch = store_->claim_due_jobs(
      {.lease_owner = "batch", .now = kT0, .lease_expires_at = kT0 + 30s, .limit = 10});
  sqlite->set_claim_committed_hook({});
  ASSERT_TRUE(batch) << batch.error().message;
  ASSERT_EQ(batch->size(), 1u);
  const ClaimResult& c = batch->front();
  ASSERT_EQ(c.status, ClaimStatus::kClaimed);
  EXPECT_EQ(c.job->status, JobStatus::kProcessing);
  EXPECT_EQ(c.transfer->status, TransferStatus::kCancelled);
  EXPECT_EQ(c.transfer->amount, 5000);
  EXPECT_EQ(get(jobs[0].id).status, JobStatus::kProcessing);
  EXPECT_EQ(claim(jobs[0].id, kT0 + 1s, "owner-b").status, ClaimStatus::kInProgress);
}

// Changes race the claims of another store on the same due jobs: whatever each claim answered
// is what every later attempt of its job answers (the claim pinned what it read).
TEST_P(StoreConformance, ChangesRacingClaimsNeverChangeAnAttemptsTerms) {
  RecurringTransfer t = transfer();
  std::vector<Timestamp> dues(40, kT0);
  std::vector<Job> jobs = create(t, dues);
  std::unique_ptr<Store> other = open();
  std::atomic<bool> done = false;
  std::thread patcher([&] {
    int64_t version = 1;
    for (int i = 0; !done && i < 200; ++i) {
      auto changed = other->patch_transfer(t.id, amount_to(version, 6000 + i), kT0, "racer");
      if (changed) version = changed->version;
    }
  });
  std::map<std::string, int64_t> sent;
  for (int round = 0; round < 40 && sent.size() < jobs.size(); ++round) {
    auto batch = store_->claim_due_jobs({.lease_owner = "batch-" + std::to_string(round),
                                         .now = kT0,
                                         .lease_expires_at = kT0 + 30s,
                                         .limit = 2});
    ASSERT_TRUE(batch) << batch.error().message;
    for (const ClaimResult& c : *batch) sent[c.job->id] = c.transfer->amount;
  }
  done = true;
  patcher.join();
  ASSERT_EQ(sent.size(), jobs.size());
  for (const Job& j : jobs) {
    ClaimResult again = retry_and_reclaim(*store_, get(j.id), get(j.id).lease_owner.value(), kT0);
    ASSERT_EQ(again.status, ClaimStatus::kClaimed);
    EXPECT_EQ(again.transfer->amount, sent[j.id]) << j.id;
  }
}

// A job a binary older than the pinning claimed holds no terms: a change pins the old ones on
// it first, so its retry still sends what its first attempt sent.
TEST_P(StoreConformance, APatchPinsTheOldTermsOnJobsClaimedWithoutThem) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0 + 1h});
  ClaimResult first = claim(jobs[0].id, kT0);
  ASSERT_EQ(first.status, ClaimStatus::kClaimed);
  RawDb db(url_);
  const char p = db.style();
  ASSERT_TRUE(db.run(
      "UPDATE recurring_transfer_job SET amount = NULL, description = NULL"
      " WHERE recurring_transfer_id = " +
          store_detail::placeholders(p, 1) + (p == '$' ? std::string("::uuid") : std::string()),
      {t.id}));
  ASSERT_TRUE(store_->patch_transfer(t.id, amount_to(1, 8000, "new"), kT0 + 1s, "a"));
  ClaimResult retried = retry_and_reclaim(*store_, *first.job, "owner-a", kT0 + 2s);
  EXPECT_EQ(retried.transfer->amount, 5000);
  EXPECT_EQ(retried.transfer->description, "rent");
  ClaimResult next = claim(jobs[1].id, kT0 + 1h);
  EXPECT_EQ(next.transfer->amount, 8000);
}

TEST_P(StoreConformance, EveryClientChangeIsInTheHistoryNewestFirst) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0 + 1h, kT0 + 2h}, JobStatus::kPending);
  ASSERT_TRUE(store_->patch_transfer(t.id, amount_to(1, 6000), kT0 + 1s, "bob"));
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 2s, "carol"));
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kResume, kT0 + 3s, "carol"));
  ASSERT_TRUE(store_->skip_job(jobs[0].id, kT0 + 4s, "dave"));
  // A FAILED job retried by an operator.
  ASSERT_EQ(claim(jobs[1].id, kT0 + 2h).status, ClaimStatus::kClaimed);
  ASSERT_EQ(complete({.job_id = jobs[1].id,
                      .lease_owner = "owner-a",
                      .now = kT0 + 2h,
                      .status = JobStatus::kFailed,
                      .retries = 3,
                      .last_error = "503"})
                .status,
            CompletionStatus::kWritten);
  ASSERT_TRUE(store_->retry_failed_job(jobs[1].id, kT0 + 3h, "erin"));
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kCancel, kT0 + 4h));

  auto page = store_->list_transfer_changes(t.id, 500, std::nullopt);
  ASSERT_TRUE(page) << page.error().message;
  std::vector<std::string> actions;
  for (const TransferChange& c : page->data) actions.push_back(c.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"cancelled", "job_retried", "job_skipped", "resumed",
                                               "paused", "updated", "created"}));
  const auto& h = page->data;
  EXPECT_FALSE(h[0].actor);  // no caller: authentication off
  EXPECT_EQ(h[0].created_at, kT0 + 4h);
  EXPECT_EQ(nlohmann::json::parse(h[0].changes)["status"],
            (nlohmann::json{{"before", "ACTIVE"}, {"after", "CANCELLED"}}));
  EXPECT_EQ(h[1].actor, "erin");
  EXPECT_EQ(h[1].job_id, jobs[1].id);
  EXPECT_EQ(nlohmann::json::parse(h[1].changes)["status"],
            (nlohmann::json{{"before", "FAILED"}, {"after", "RETRY"}}));
  EXPECT_EQ(h[2].actor, "dave");
  EXPECT_EQ(h[2].job_id, jobs[0].id);
  EXPECT_EQ(h[4].actor, "carol");
  EXPECT_EQ(nlohmann::json::parse(h[4].changes)["status"],
            (nlohmann::json{{"before", "ACTIVE"}, {"after", "PAUSED"}}));
  EXPECT_EQ(h[5].actor, "bob");
  EXPECT_EQ(nlohmann::json::parse(h[5].changes)["amount"],
            (nlohmann::json{{"before", 5000}, {"after", 6000}}));
  EXPECT_FALSE(nlohmann::json::parse(h[5].changes).contains("description"));
  for (const TransferChange& c : h) EXPECT_EQ(c.recurring_transfer_id, t.id);

  // Paged: three, then the rest from the cursor, in the same order.
  auto first = store_->list_transfer_changes(t.id, 3, std::nullopt).value();
  ASSERT_EQ(first.data.size(), 3u);
  ASSERT_TRUE(first.next_cursor);
  auto rest = store_->list_transfer_changes(t.id, 500, first.next_cursor).value();
  ASSERT_EQ(rest.data.size(), 4u);
  EXPECT_EQ(rest.data[0].id, h[3].id);
  EXPECT_FALSE(rest.next_cursor);

  auto unknown = store_->list_transfer_changes(new_uuid_v7(kT0), 10, std::nullopt);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

// A change that fails writes no history: a refused pause, a stale patch, a skip of a claimed job.
TEST_P(StoreConformance, ARefusedChangeLeavesNoHistory) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  EXPECT_FALSE(store_->change_transfer_status(t.id, TransferAction::kResume, kT0, "x"));
  EXPECT_FALSE(store_->patch_transfer(t.id, amount_to(9, 1), kT0, "x"));
  EXPECT_FALSE(store_->skip_job(jobs[0].id, kT0, "x"));
  EXPECT_FALSE(store_->retry_failed_job(jobs[0].id, kT0, "x"));
  auto page = store_->list_transfer_changes(t.id, 10, std::nullopt).value();
  ASSERT_EQ(page.data.size(), 1u);
  EXPECT_EQ(page.data[0].action, "created");
}

// The migration that brought versions, pinned terms and the history: rows written before it
// are version 1 with no terms pinned, and work on.
TEST_P(StoreConformance, ThePatchMigrationKeepsTheRowsAndTheyCanBeChanged) {
  const int migration = GetParam() == "sqlite" ? 8 : 12;
  EXPECT_GE(first_migration_.version, migration);
  RecurringTransfer old_t = transfer();
  old_t.last_sequence = 1;
  std::vector<Job> old_jobs{job(old_t, 1, kT0)};
  std::string url = database_before(migration);
  {
    RawDb before(url);
    before.insert_leading(old_t, old_jobs, store_detail::kTransferColumnCount - 1,
                          store_detail::kJobColumnCount);
  }
  EXPECT_EQ(migrate_store(url), migrations_from(migration));
  RecurringTransfer migrated = store_->get_transfer(old_t.id).value().value();
  EXPECT_EQ(migrated.version, 1);
  EXPECT_EQ(store_->list_transfer_changes(old_t.id, 10, std::nullopt).value().data.size(), 0u);
  ClaimResult first = claim(old_jobs[0].id, kT0);
  ASSERT_EQ(first.status, ClaimStatus::kClaimed);
  EXPECT_EQ(first.transfer->amount, 5000);
  ASSERT_TRUE(store_->patch_transfer(old_t.id, amount_to(1, 5500), kT0 + 1s, "ops"));
  EXPECT_EQ(retry_and_reclaim(*store_, *first.job, "owner-a", kT0 + 2s).transfer->amount, 5000);
  EXPECT_EQ(store_->list_transfer_changes(old_t.id, 10, std::nullopt).value().data.size(), 1u);
}

}  // namespace
}  // namespace rtjobs::store_conformance
