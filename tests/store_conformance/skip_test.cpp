// Store conformance (conformance.hpp): an operator's skip of one occurrence (Store::skip_job):
// PENDING only, with its event; the chain of occurrences goes on after it; the last one skipped
// completes the transfer; and a skip racing the batch claims never lets a job be both.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "outbox_support.hpp"
#include "raw_db.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

TEST_P(StoreConformance, SkipEndsAPendingJobWithItsEventAndTheChainGoesOn) {
  RecurringTransfer t = transfer();
  t.next_occurrence_at = kT0 + 72h;  // a third occurrence exists, not created yet
  std::vector<Job> jobs = create(t, {kT0 + 24h, kT0 + 48h});
  auto mark = last_event_id(*store_);

  auto skipped = store_->skip_job(jobs[0].id, kT0 + 1h);
  ASSERT_TRUE(skipped) << skipped.error().message;
  EXPECT_EQ(skipped->status, JobStatus::kSkipped);
  EXPECT_EQ(skipped->finished_at, kT0 + 1h);
  EXPECT_EQ(skipped->updated_at, kT0 + 1h);
  expect_same(get(jobs[0].id), *skipped);
  std::vector<Event> events = events_after(*store_, mark);
  ASSERT_EQ(events.size(), 1u);
  expect_job_event(events[0], "job.skipped", *skipped, kT0 + 1h);

  // Skipped again, or any job not PENDING: refused, nothing written.
  auto again = store_->skip_job(jobs[0].id, kT0 + 2h);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(again.error().reason, "job_not_pending");
  EXPECT_EQ(again.error().field, "job_id");
  expect_same(get(jobs[0].id), *skipped);
  EXPECT_EQ(store_->skip_job(new_uuid_v7(kT0), kT0).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->skip_job("not-a-uuid", kT0).error().code, ErrorCode::kNotFound);

  // The transfer lives on: still ACTIVE, still extended, its other job untouched.
  auto stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.status, TransferStatus::kActive);
  EXPECT_EQ(get(jobs[1].id).status, JobStatus::kPending);
  auto to_extend = store_->transfers_to_extend(kT0 + 100h, 10).value();
  ASSERT_EQ(to_extend.size(), 1u);
  EXPECT_EQ(to_extend[0].id, t.id);
  Extension next{t.id, kT0 + 2h, {job(t, 3, kT0 + 72h)}, std::nullopt, true};
  EXPECT_EQ(store_->extend_transfer(next).value(), 1);
  EXPECT_EQ(jobs_of(t.id).size(), 3u);
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);
}

TEST_P(StoreConformance, SkippingTheLastOccurrenceCompletesTheTransfer) {
  RecurringTransfer t = transfer(TransferStatus::kPaused);
  t.next_occurrence_at.reset();  // the schedule has no occurrence after these
  std::vector<Job> jobs = create(t, {kT0 + 24h, kT0 + 48h});
  ASSERT_TRUE(store_->skip_job(jobs[1].id, kT0 + 1h));
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kPaused);  // one left
  auto mark = last_event_id(*store_);
  auto skipped = store_->skip_job(jobs[0].id, kT0 + 2h);
  ASSERT_TRUE(skipped) << skipped.error().message;
  auto stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.status, TransferStatus::kCompleted);
  EXPECT_EQ(stored.updated_at, kT0 + 2h);
  EXPECT_EQ(types_of(events_after(*store_, mark)),
            (std::vector<std::string>{"job.skipped", "transfer.completed"}));
}

TEST_P(StoreConformance, AClaimedJobCannotBeSkipped) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  Job claimed = get(jobs[0].id);
  auto skipped = store_->skip_job(jobs[0].id, kT0 + 1s);
  ASSERT_FALSE(skipped);
  EXPECT_EQ(skipped.error().reason, "job_not_pending");
  expect_same(get(jobs[0].id), claimed);
}

// Skips from one store race the batch claims of another on the same due jobs: every job ends
// either claimed (PROCESSING, its skip refused) or skipped (never claimed), never both.
TEST_P(StoreConformance, ASkipRacingTheClaimsNeverLetsAJobBeBoth) {
  constexpr int kJobs = 60;
  std::set<std::string> ids = create_due_jobs(6, kJobs / 6);
  auto skipper = open();
  std::set<std::string> claimed;
  std::set<std::string> skipped;
  // Until no due job is left: each is then claimed or skipped.
  std::thread claims([&] {
    for (;;) {
      auto got = store_->claim_due_jobs({"claimer", kT0, kT0 + 30s, 5, true, true, 3, ""});
      ASSERT_TRUE(got) << got.error().message;
      for (const ClaimResult& r : *got) {
        if (r.status == ClaimStatus::kClaimed) claimed.insert(r.job->id);
      }
      if (got->empty()) return;
    }
  });
  for (const std::string& id : ids) {
    auto r = skipper->skip_job(id, kT0);
    if (r) {
      skipped.insert(id);
    } else {
      EXPECT_EQ(r.error().reason, "job_not_pending") << r.error().message;
    }
  }
  claims.join();
  EXPECT_EQ(claimed.size() + skipped.size(), ids.size());
  for (const std::string& id : ids) {
    Job j = get(id);
    SCOPED_TRACE(id);
    EXPECT_NE(claimed.count(id), skipped.count(id));
    EXPECT_EQ(j.status, claimed.count(id) ? JobStatus::kProcessing : JobStatus::kSkipped);
  }
}

// A claim that skips a PAUSED transfer's due occurrence completes the transfer only as the
// database has it with the transfer locked. A writer holding the lock that inserts another
// occurrence meanwhile (a change that lengthens the schedule, whose end was reached) makes the
// completion wait, and the transfer stays PAUSED with that occurrence still to skip: COMPLETED,
// its claim would send it. Both claims, the batch's and the single one (PostgreSQL: SQLite has
// one writer).
TEST_P(StoreConformance, AClaimsSkipCompletesTheTransferOnlyWithEveryOccurrenceWritten) {
  if (GetParam() == "sqlite") GTEST_SKIP() << "one writer: no interleaving";
  auto race = [&](const std::string& name, const std::function<ClaimStatus(const Job&)>& claim) {
    SCOPED_TRACE(name);
    RecurringTransfer t = transfer(TransferStatus::kPaused);
    t.schedule.count = 1;
    t.next_occurrence_at.reset();  // nothing left to create
    auto jobs = create(t, {kT0});
    RawDb writer(url_);
    RawDb watcher(url_);
    ASSERT_TRUE(writer.script("BEGIN"));
    ASSERT_TRUE(writer.run("SELECT 1 FROM recurring_transfer WHERE id = $1::uuid FOR NO KEY UPDATE",
                           {t.id}));
    ASSERT_TRUE(writer.run(
        "INSERT INTO recurring_transfer_job SELECT (jsonb_populate_record("
        "NULL::recurring_transfer_job, to_jsonb(j) || jsonb_build_object('id',"
        " gen_random_uuid(), 'sequence', 2, 'idempotency_key', j.idempotency_key || '-2', 'due_at',"
        " j.due_at + interval '30 days'))).* FROM recurring_transfer_job j WHERE j.id = $1::uuid",
        {jobs[0].id}));
    ASSERT_TRUE(
        writer.run("UPDATE recurring_transfer SET last_sequence = 2, \"count\" = 2"
                   " WHERE id = $1::uuid",
                   {t.id}));

    std::atomic<bool> done{false};
    ClaimStatus status = ClaimStatus::kNotFound;
    std::thread claimer([&] {
      status = claim(jobs[0]);
      done = true;
    });
    bool waited = watcher.saw_lock_wait(done);
    ASSERT_TRUE(writer.script("COMMIT"));
    claimer.join();

    EXPECT_TRUE(waited) << "the skip's completion did not wait for the transfer's lock";
    EXPECT_EQ(status, ClaimStatus::kSkipped);
    EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kPaused)
        << "completed while its last occurrence, inserted under the lock, was pending";
    auto all = jobs_of(t.id);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1].status, JobStatus::kPending);

    // That occurrence is skipped in turn, and then the transfer is COMPLETED.
    EXPECT_EQ(claim(all[1]), ClaimStatus::kSkipped);
    EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kCompleted);
  };
  race("batch claim", [&](const Job& j) {
    auto claimed =
        store_->claim_due_jobs({"owner-a", j.due_at + 1s, j.due_at + 31s, 10, true, false, 3});
    if (!claimed || claimed->size() != 1) return ClaimStatus::kNotFound;
    return (*claimed)[0].status;
  });
  race("single claim", [&](const Job& j) { return claim(j.id, j.due_at + 1s).status; });
}

}  // namespace
}  // namespace rtjobs::store_conformance
