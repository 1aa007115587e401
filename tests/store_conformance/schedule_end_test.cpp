// Store conformance (conformance.hpp): changing a schedule's end (Store::patch_transfer with
// end_date or count). The change re-plans the occurrences under the transfer's lock: the ones
// never claimed past the new end go, later ones come; an occurrence acted on past it refuses
// the change. A completion or an extension planned under the old end writes no occurrence, and
// the transfer completes as the database has it, whichever side of the change they fall on.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"
#include "raw_db.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

Timestamp due(int64_t sequence) { return kT0 + 24h * 30 * sequence; }

// A patch of the count to `count`, with the plan the service would make for it (written out
// here: the store applies whatever plan it is given).
TransferPatch count_to(int64_t version, std::optional<int> count, OccurrencePlan plan) {
  TransferPatch p{.expected_version = version};
  p.count = count;
  p.plan = [plan = std::move(plan)](const RecurringTransfer&) -> Result<OccurrencePlan> {
    return plan;
  };
  return p;
}

std::vector<int64_t> sequences(const std::vector<Job>& jobs) {
  std::vector<int64_t> out;
  out.reserve(jobs.size());
  for (const Job& j : jobs) out.push_back(j.sequence);
  return out;
}

// Claims `job` when due and writes it FINISHED, planned with no new occurrence.
void finish(Store& store, const Job& job) {
  auto claimed = store.claim_job({job.id, "owner-a", job.due_at, job.due_at + 30s, 3});
  ASSERT_TRUE(claimed && claimed->status == ClaimStatus::kClaimed);
  auto written = store.complete_job({.job_id = job.id,
                                     .lease_owner = "owner-a",
                                     .now = job.due_at,
                                     .status = JobStatus::kFinished,
                                     .result = JobResult::kSucceeded});
  ASSERT_TRUE(written && written->status == CompletionStatus::kWritten);
}

TEST_P(StoreConformance, ShorteningTheEndRemovesTheOccurrencesNeverClaimedPastIt) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {due(1), due(2), due(3), due(4)});
  finish(*store_, jobs[0]);

  auto changed = store_->patch_transfer(t.id, count_to(1, 2, {.kept = 2, .exhausted = true}),
                                        due(1) + 1s, "alice");
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_EQ(changed->schedule.count, 2);
  EXPECT_EQ(changed->version, 2);
  EXPECT_EQ(changed->last_sequence, 2);
  EXPECT_EQ(changed->next_occurrence_at, std::nullopt);
  EXPECT_EQ(changed->status, TransferStatus::kActive);  // occurrence 2 is still to run
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(store_->get_transfer(t.id).value()->schedule.count, 2);

  auto history = store_->list_transfer_changes(t.id, 10, std::nullopt).value().data;
  ASSERT_FALSE(history.empty());
  auto what = nlohmann::json::parse(history[0].changes);
  EXPECT_EQ(history[0].action, "updated");
  EXPECT_EQ(what["schedule.count"], (nlohmann::json{{"before", nullptr}, {"after", 2}}));

  // The last occurrence's outcome completes the transfer.
  ASSERT_EQ(claim(jobs[1].id, due(2)).status, ClaimStatus::kClaimed);
  Completion last{.job_id = jobs[1].id,
                  .lease_owner = "owner-a",
                  .now = due(2),
                  .status = JobStatus::kFinished,
                  .result = JobResult::kSucceeded,
                  .schedule_exhausted = true};
  last.planned_end.count = 2;
  complete(last);
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kCompleted);
}

TEST_P(StoreConformance, AnOutcomePlannedUnderTheOldEndWritesNoOccurrencePastTheNewOne) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {due(1), due(2), due(3)});
  // Claimed under the old schedule (no end): its plan brings occurrence 4.
  ASSERT_EQ(claim(jobs[0].id, due(1)).status, ClaimStatus::kClaimed);
  ASSERT_TRUE(store_->patch_transfer(t.id, count_to(1, 1, {.kept = 1, .exhausted = true}),
                                     due(1) + 1s, "alice"));
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1}));

  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = due(1) + 2s,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded,
            .new_jobs = {job(t, 4, due(4))},
            .next_occurrence_at = due(5)});
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1}));
  RecurringTransfer after = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(after.last_sequence, 1);
  EXPECT_EQ(after.next_occurrence_at, std::nullopt);
  // Its plan did not say the schedule was exhausted; the database does.
  EXPECT_EQ(after.status, TransferStatus::kCompleted);
  EXPECT_EQ(after.updated_at, due(1) + 2s);
}

TEST_P(StoreConformance, ATerminalOutcomeWithoutNewJobsCompletesATransferWhoseEndCameEarlier) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {due(1), due(2)});
  ASSERT_EQ(claim(jobs[0].id, due(1)).status, ClaimStatus::kClaimed);
  ASSERT_TRUE(store_->patch_transfer(t.id, count_to(1, 1, {.kept = 1, .exhausted = true}),
                                     due(1) + 1s, "alice"));
  // Planned under the old end, with no occurrence within its horizon and more to come.
  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = due(1) + 2s,
            .status = JobStatus::kFailed,
            .retries = 3,
            .last_error = "declined"});
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kCompleted);
}

TEST_P(StoreConformance, LengtheningTheEndAddsOccurrencesAndNothingCompletesUnderTheOldOne) {
  RecurringTransfer t = transfer();
  t.schedule.count = 2;
  t.next_occurrence_at.reset();  // both occurrences exist
  auto jobs = create(t, {due(1), due(2)});
  finish(*store_, jobs[0]);
  ASSERT_EQ(claim(jobs[1].id, due(2)).status, ClaimStatus::kClaimed);

  // Occurrence 3 is beyond the horizon: no job yet, only the next occurrence's time.
  auto changed = store_->patch_transfer(
      t.id, count_to(1, 4, {.kept = 2, .new_jobs = {}, .next_occurrence_at = due(3)}), due(2) + 1s,
      "alice");
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_EQ(changed->schedule.count, 4);
  EXPECT_EQ(changed->last_sequence, 2);
  EXPECT_EQ(changed->next_occurrence_at, due(3));
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1, 2}));

  // Occurrence 2 was claimed under count 2: its plan says exhausted, and every job is terminal
  // once it is written. The transfer goes on.
  Completion old_plan{.job_id = jobs[1].id,
                      .lease_owner = "owner-a",
                      .now = due(2) + 2s,
                      .status = JobStatus::kFinished,
                      .result = JobResult::kSucceeded,
                      .schedule_exhausted = true};
  old_plan.planned_end.count = 2;
  complete(old_plan);
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);

  // An extension planned under count 2 (nothing more, exhausted) writes nothing either.
  Extension stale{t.id, due(2) + 3s, {}, std::nullopt, true};
  stale.planned_end.count = 2;
  EXPECT_EQ(store_->extend_transfer(stale).value(), 0);
  RecurringTransfer after = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(after.status, TransferStatus::kActive);
  EXPECT_EQ(after.next_occurrence_at, due(3));
}

TEST_P(StoreConformance, AnExtensionPlannedUnderTheOldEndWritesNoOccurrence) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {due(1), due(2)});
  ASSERT_TRUE(store_->patch_transfer(t.id, count_to(1, 2, {.kept = 2, .exhausted = true}), kT0 + 1s,
                                     "alice"));
  Extension stale{t.id, kT0 + 2s, {job(t, 3, due(3))}, due(4), false};  // no end: occurrence 3
  EXPECT_EQ(store_->extend_transfer(stale).value(), 0);
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(store_->get_transfer(t.id).value()->next_occurrence_at, std::nullopt);

  Extension current{t.id, kT0 + 3s, {}, std::nullopt, true};
  current.planned_end.count = 2;
  EXPECT_EQ(store_->extend_transfer(current).value(), 0);
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);  // 1, 2 to run
}

TEST_P(StoreConformance, AnEndBeforeAnOccurrenceActedOnIsRefusedAndChangesNothing) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {due(1), due(2), due(3)});
  ASSERT_EQ(claim(jobs[1].id, due(2)).status, ClaimStatus::kClaimed);  // at the bank
  ASSERT_TRUE(store_->skip_job(jobs[2].id, kT0, "alice"));

  for (int count : {1, 2}) {
    auto refused = store_->patch_transfer(
        t.id, count_to(1, count, {.kept = count, .exhausted = true}), kT0 + 1s, "bob");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
    EXPECT_EQ(refused.error().reason, "occurrence_past_end");
    EXPECT_EQ(refused.error().field, "schedule.count");
  }
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1, 2, 3}));
  RecurringTransfer same = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(same.version, 1);
  EXPECT_EQ(same.schedule.count, std::nullopt);
  EXPECT_EQ(same.last_sequence, 3);
  auto history = store_->list_transfer_changes(t.id, 10, std::nullopt).value().data;
  ASSERT_EQ(history.size(), 2u);  // created, job_skipped
  EXPECT_EQ(history[0].action, "job_skipped");

  // Up to the skipped one: nothing is past the new end.
  auto kept =
      store_->patch_transfer(t.id, count_to(1, 3, {.kept = 3, .exhausted = true}), kT0 + 2s, "bob");
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->schedule.count, 3);
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1, 2, 3}));
}

TEST_P(StoreConformance, AnEndReachedWithEveryJobTerminalCompletesTheTransfer) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {due(1), due(2)});
  finish(*store_, jobs[0]);
  auto done = store_->patch_transfer(t.id, count_to(1, 1, {.kept = 1, .exhausted = true}),
                                     due(1) + 1s, "alice");
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->status, TransferStatus::kCompleted);
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1}));
  auto what =
      nlohmann::json::parse(store_->list_transfer_changes(t.id, 1, std::nullopt)->data[0].changes);
  EXPECT_EQ(what["status"], (nlohmann::json{{"before", "ACTIVE"}, {"after", "COMPLETED"}}));

  // Removing an end (null) from a finished transfer: it is final.
  auto final =
      store_->patch_transfer(t.id, count_to(done->version, std::nullopt, {}), due(1) + 2s, "alice");
  ASSERT_FALSE(final);
  EXPECT_EQ(final.error().reason, "transfer_final");
}

TEST_P(StoreConformance, RemovingTheEndAddsTheOccurrencesWithinTheHorizon) {
  RecurringTransfer t = transfer();
  t.schedule.end_date = parse_date("2026-05-31");
  t.next_occurrence_at.reset();
  auto jobs = create(t, {due(1), due(2)});
  TransferPatch open{.expected_version = 1};
  open.end_date = std::optional<Date>();
  open.plan = [&](const RecurringTransfer& wanted) -> Result<OccurrencePlan> {
    EXPECT_EQ(wanted.schedule.end_date, std::nullopt);
    EXPECT_EQ(wanted.last_sequence, 2);
    return OccurrencePlan{.kept = 2, .new_jobs = {job(t, 3, due(3))}, .next_occurrence_at = due(4)};
  };
  auto changed = store_->patch_transfer(t.id, open, kT0 + 1s, "alice");
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_EQ(changed->schedule.end_date, std::nullopt);
  EXPECT_EQ(changed->last_sequence, 3);
  EXPECT_EQ(changed->next_occurrence_at, due(4));
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1, 2, 3}));
  auto what =
      nlohmann::json::parse(store_->list_transfer_changes(t.id, 1, std::nullopt)->data[0].changes);
  EXPECT_EQ(what["schedule.end_date"],
            (nlohmann::json{{"before", "2026-05-31"}, {"after", nullptr}}));
}

// PostgreSQL, a claim of an occurrence past the new end that has not committed when the PATCH
// reads the jobs past it: the PATCH waits for the claim (its read locks them), then sees the job
// claimed and refuses. A read without the lock would see it PENDING, and its delete would then
// remove a job at the bank.
TEST_P(StoreConformance, AClaimInFlightPastTheNewEndMakesTheChangeWaitAndRefuse) {
  if (GetParam() == "sqlite") GTEST_SKIP() << "one writer: no interleaving";
  RecurringTransfer t = transfer();
  auto jobs = create(t, {due(1), due(2), due(3)});
  RawDb claimer(url_);
  RawDb watcher(url_);
  ASSERT_TRUE(claimer.script("BEGIN"));
  ASSERT_TRUE(claimer.run(
      "UPDATE recurring_transfer_job SET status = 'PROCESSING', lease_owner = 'raw',"
      " lease_expires_at = now() + interval '30 seconds', amount = 5000, description = 'rent'"
      " WHERE id = $1::uuid",
      {jobs[2].id}));

  std::atomic<bool> done{false};
  Result<RecurringTransfer> changed = fail(ErrorCode::kInternal, "not run");
  std::thread patcher([&] {
    changed = store_->patch_transfer(t.id, count_to(1, 2, {.kept = 2, .exhausted = true}), kT0 + 1s,
                                     "alice");
    done = true;
  });
  bool waited = watcher.saw_lock_wait(done);
  ASSERT_TRUE(claimer.script("COMMIT"));
  patcher.join();

  EXPECT_TRUE(waited) << "the PATCH did not wait for the claim";
  ASSERT_FALSE(changed) << "a change removed occurrence 3, claimed meanwhile";
  EXPECT_EQ(changed.error().reason, "occurrence_past_end");
  EXPECT_EQ(sequences(jobs_of(t.id)), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(get(jobs[2].id).status, JobStatus::kProcessing);
  EXPECT_EQ(store_->get_transfer(t.id).value()->schedule.count, std::nullopt);
}

}  // namespace
}  // namespace rtjobs::store_conformance
