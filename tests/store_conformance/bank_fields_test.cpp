// Store conformance (conformance.hpp): the fields real banks brought (SPEC section 8). A
// transfer's rail and provider_options through creation and every read; a job's bank_status as
// the completions write it (one at a time and in batches); and their migration, applied to a
// database an older binary left, which keeps its rows and stays usable by that binary.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conformance.hpp"
#include "raw_db.hpp"
#include "store/record_codec.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;
using store_detail::SqlValue;

// Adapter options as a client could send them: quotes, commas, multi-byte characters.
const std::string kOptions =
    R"({"memo":"rent, \"flat 4\"","statement_descriptor":"RENT émoji 💸","tags":[1,2]})";

RecurringTransfer with_bank_fields(RecurringTransfer t) {
  t.rail = Rail::kAch;
  t.provider_options = kOptions;
  return t;
}

// --- rail and provider_options ---

TEST_P(StoreConformance, RailAndProviderOptionsRoundTripThroughEveryTransferRead) {
  RecurringTransfer ach = with_bank_fields(transfer(TransferStatus::kActive, "key-ach"));
  ach.next_occurrence_at = kT0 + 1h;
  RecurringTransfer book = transfer();  // the defaults: book, no options
  ach.last_sequence = book.last_sequence = 1;
  Job ach_job = job(ach, 1, kT0);
  Job book_job = job(book, 1, kT0);
  auto created = store_->create_transfer(ach, {ach_job});
  ASSERT_TRUE(created) << created.error().message;
  expect_same(created->transfer, ach);
  ASSERT_TRUE(store_->create_transfer(book, {book_job}));

  auto got = store_->get_transfer(ach.id);
  ASSERT_TRUE(got && *got);
  expect_same(**got, ach);
  got = store_->get_transfer(book.id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->rail, Rail::kBook);
  EXPECT_FALSE((*got)->provider_options);

  auto listed = store_->list_transfers({});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->data.size(), 2u);
  for (const RecurringTransfer& t : listed->data) expect_same(t, t.id == ach.id ? ach : book);

  // The same idempotency key gives back the stored transfer, fields and all.
  RecurringTransfer again = transfer(TransferStatus::kActive, "key-ach");
  auto repeated = store_->create_transfer(again, {});
  ASSERT_TRUE(repeated);
  EXPECT_FALSE(repeated->created);
  expect_same(repeated->transfer, ach);

  auto extend = store_->transfers_to_extend(kT0 + 2h, 10);
  ASSERT_TRUE(extend);
  ASSERT_EQ(extend->size(), 1u);
  expect_same(extend->front(), ach);

  // The claims hand the transfer to the processor, which passes both to the bank.
  ClaimResult claimed = claim(ach_job.id, kT0);
  ASSERT_EQ(claimed.status, ClaimStatus::kClaimed);
  ASSERT_TRUE(claimed.transfer);
  expect_same(*claimed.transfer, ach);
  auto batch = store_->claim_due_jobs({"batch-1", kT0, kT0 + 30s, 10, true, true, 3});
  ASSERT_TRUE(batch) << batch.error().message;
  ASSERT_EQ(batch->size(), 1u);
  ASSERT_TRUE(batch->front().transfer);
  EXPECT_EQ(batch->front().transfer->id, book.id);
  expect_same(*batch->front().transfer, book);

  auto paused = store_->change_transfer_status(ach.id, TransferAction::kPause, kT0 + 1s);
  ASSERT_TRUE(paused) << paused.error().message;
  EXPECT_EQ(paused->rail, Rail::kAch);
  EXPECT_EQ(paused->provider_options, kOptions);
}

TEST_P(StoreConformance, TheDatabaseRefusesAnUnknownRail) {
  RecurringTransfer t = transfer();
  create(t, {kT0});
  // What a CHECK constraint is for: a writer other than this store (an older binary, an
  // operator's SQL) cannot store a rail the code does not know.
  bool sqlite = GetParam() == "sqlite";
  std::string sql = std::string("UPDATE recurring_transfer SET rail = 'wire' WHERE id = ") +
                    (sqlite ? "?1" : "$1::uuid");
  if (sqlite) {
    auto c = store_detail::SqliteConnection::open(url_.substr(9), false);
    ASSERT_TRUE(c);
    EXPECT_FALSE((*c)->run(sql, {t.id}));
  } else {
    auto c = store_detail::PgConnection::connect(url_);
    ASSERT_TRUE(c);
    EXPECT_FALSE((*c)->query(sql, {t.id}));
  }
  EXPECT_EQ(store_->get_transfer(t.id).value()->rail, Rail::kBook);
}

// --- bank_status ---

// A completion of a job claimed by "owner-a" at `now`.
Completion outcome(const Job& j, Timestamp now, JobStatus status,
                   std::optional<std::string> bank_status) {
  Completion c{.job_id = j.id, .lease_owner = "owner-a", .now = now, .status = status};
  c.bank_status = std::move(bank_status);
  if (status == JobStatus::kFinished) c.result = JobResult::kSucceeded;
  if (status == JobStatus::kRetry) {
    c.retries = j.retries + 1;
    c.next_attempt_at = now;
  }
  return c;
}

TEST_P(StoreConformance, ACompletionWritesTheBankStatusAndOneWithoutKeepsIt) {
  RecurringTransfer t = transfer();
  Job j = create(t, {kT0}).front();
  EXPECT_FALSE(get(j.id).bank_status);

  ASSERT_EQ(claim(j.id, kT0).status, ClaimStatus::kClaimed);
  CompletionResult first =
      complete(outcome(get(j.id), kT0 + 1s, JobStatus::kRetry, "pending_submission"));
  ASSERT_EQ(first.status, CompletionStatus::kWritten);
  ASSERT_TRUE(first.job);
  EXPECT_EQ(first.job->bank_status, "pending_submission");
  expect_same(get(j.id), *first.job);

  // An answer without a status (a timeout) says nothing new: the last one stays.
  ClaimResult again = claim(j.id, kT0 + 2s);
  ASSERT_EQ(again.status, ClaimStatus::kClaimed);
  EXPECT_EQ(again.job->bank_status, "pending_submission");
  CompletionResult second = complete(outcome(*again.job, kT0 + 3s, JobStatus::kRetry, {}));
  ASSERT_TRUE(second.job);
  EXPECT_EQ(second.job->bank_status, "pending_submission");

  ASSERT_EQ(claim(j.id, kT0 + 4s).status, ClaimStatus::kClaimed);
  CompletionResult last = complete(outcome(get(j.id), kT0 + 5s, JobStatus::kFinished, kAwkward));
  ASSERT_TRUE(last.job);
  EXPECT_EQ(last.job->bank_status, kAwkward);

  // Every job read carries it.
  EXPECT_EQ(get(j.id).bank_status, kAwkward);
  EXPECT_EQ(jobs_of(t.id).front().bank_status, kAwkward);
  if (auto reader = store_->open_job_reader()) {
    auto read = reader->get_jobs(std::vector<std::string>{j.id});
    ASSERT_TRUE(read && read->front());
    EXPECT_EQ(read->front()->bank_status, kAwkward);
  }
  EXPECT_EQ(claim(j.id, kT0 + 6s).job->bank_status, kAwkward);  // terminal, as found
}

TEST_P(StoreConformance, ABatchWritesEachCompletionsBankStatusAndNothingForALostLease) {
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0, kT0, kT0});
  for (const Job& j : jobs) ASSERT_EQ(claim(j.id, kT0).status, ClaimStatus::kClaimed);
  // Job 3 already has a status from an earlier answer; job 4's lease is someone else's.
  ASSERT_TRUE(store_->complete_job(outcome(jobs[2], kT0, JobStatus::kRetry, "Pending")));
  ASSERT_EQ(claim(jobs[2].id, kT0 + 1s).status, ClaimStatus::kClaimed);

  std::vector<Completion> batch{
      outcome(jobs[0], kT0 + 2s, JobStatus::kFinished, "COMPLETED"),
      outcome(jobs[1], kT0 + 2s, JobStatus::kRetry, std::nullopt),
      outcome(get(jobs[2].id), kT0 + 2s, JobStatus::kFinished, std::nullopt),
      outcome(jobs[3], kT0 + 2s, JobStatus::kFailed, "Rejected"),
  };
  batch[3].lease_owner = "owner-b";
  auto written = store_->complete_jobs(batch);
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_EQ(written->size(), 4u);
  EXPECT_EQ((*written)[0].job->bank_status, "COMPLETED");
  EXPECT_FALSE((*written)[1].job->bank_status);
  EXPECT_EQ((*written)[2].job->bank_status, "Pending");
  EXPECT_EQ((*written)[3].status, CompletionStatus::kLeaseLost);
  EXPECT_FALSE((*written)[3].job->bank_status);
  EXPECT_EQ(get(jobs[0].id).bank_status, "COMPLETED");
  EXPECT_FALSE(get(jobs[1].id).bank_status);
  EXPECT_EQ(get(jobs[2].id).bank_status, "Pending");
  EXPECT_FALSE(get(jobs[3].id).bank_status);
}

TEST_P(StoreConformance, ABatchThatReturnsNoJobWritesTheBankStatusToo) {
  // The built-in loops' batches read no job back: their statements are other ones.
  RecurringTransfer t = transfer();
  std::vector<Job> jobs = create(t, {kT0, kT0});
  for (const Job& j : jobs) ASSERT_EQ(claim(j.id, kT0).status, ClaimStatus::kClaimed);
  std::vector<Completion> batch{outcome(jobs[0], kT0 + 1s, JobStatus::kFinished, "Sent"),
                                outcome(jobs[1], kT0 + 1s, JobStatus::kRetry, "pending")};
  for (Completion& c : batch) c.return_job = false;
  auto written = store_->complete_jobs(batch);
  ASSERT_TRUE(written) << written.error().message;
  for (const CompletionResult& r : *written) EXPECT_EQ(r.status, CompletionStatus::kWritten);
  EXPECT_EQ(get(jobs[0].id).bank_status, "Sent");
  EXPECT_EQ(get(jobs[1].id).bank_status, "pending");
  // A later answer without a status, and an operator's retry, keep what the bank last said.
  ASSERT_EQ(claim(jobs[1].id, kT0 + 2s).status, ClaimStatus::kClaimed);
  ASSERT_TRUE(store_->complete_job(outcome(get(jobs[1].id), kT0 + 3s, JobStatus::kFailed, {})));
  auto retried = store_->retry_failed_job(jobs[1].id, kT0 + 4s);
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_EQ(retried->bank_status, "pending");
}

// --- The migration that added them ---

// The column lists of a binary built before the migration: the current lists without the
// columns it appended.
constexpr int kTransferColumnsBefore = 27;
constexpr int kJobColumnsBefore = 18;

// Inserts naming only the columns a binary built before the migration knows.
void insert_old(RawDb& db, const RecurringTransfer& t, const std::vector<Job>& jobs) {
  db.insert_leading(t, jobs, kTransferColumnsBefore, kJobColumnsBefore);
}

TEST_P(StoreConformance, TheMigrationKeepsTheRowsOfAnOlderSchemaWhichAnOlderBinaryStillWrites) {
  const bool sqlite = GetParam() == "sqlite";
  const int migration = sqlite ? 2 : 6;  // the one adding rail, provider_options, bank_status
  static_assert(kTransferColumnsBefore + 2 <= store_detail::kTransferColumnCount);
  static_assert(kJobColumnsBefore + 1 <= store_detail::kJobColumnCount);
  // A database of its own at the schema before the migration, with an older binary's rows.
  RecurringTransfer old_t = transfer();
  old_t.last_sequence = 2;
  std::vector<Job> old_jobs{job(old_t, 1, kT0, JobStatus::kFinished), job(old_t, 2, kT0 + 1h)};
  old_jobs[0].result = JobResult::kSucceeded;
  old_jobs[0].provider_reference = "ref-1";
  old_jobs[0].finished_at = kT0;
  std::string url = database_before(migration);
  {
    RawDb before(url);
    insert_old(before, old_t, old_jobs);
  }
  EXPECT_EQ(migrate_store(url), migrations_from(migration));
  ASSERT_NE(store_, nullptr);

  // The rows are all there, as they were: a book transfer without options, jobs without a
  // bank status (expect_same compares those too: old_t and old_jobs have the defaults).
  auto got = store_->get_transfer(old_t.id);
  ASSERT_TRUE(got && *got);
  expect_same(**got, old_t);
  EXPECT_EQ((*got)->rail, Rail::kBook);
  std::vector<Job> stored = jobs_of(old_t.id);
  ASSERT_EQ(stored.size(), 2u);
  for (size_t i = 0; i < stored.size(); ++i) expect_same(stored[i], old_jobs[i]);

  // An older binary still writes against the new schema (its inserts get rail 'book') ...
  RecurringTransfer older_again = transfer();
  older_again.last_sequence = 1;
  {
    RawDb older(url);
    insert_old(older, older_again, {job(older_again, 1, kT0)});
  }
  got = store_->get_transfer(older_again.id);
  ASSERT_TRUE(got && *got);
  expect_same(**got, older_again);
  // ... and this one writes the new columns next to its rows.
  RecurringTransfer ach = with_bank_fields(transfer());
  create(ach, {kT0});
  got = store_->get_transfer(ach.id);
  ASSERT_TRUE(got && *got);
  expect_same(**got, ach);
  ClaimResult claimed = claim(old_jobs[1].id, kT0 + 1h);
  ASSERT_EQ(claimed.status, ClaimStatus::kClaimed);
  CompletionResult done =
      complete(outcome(*claimed.job, kT0 + 1h, JobStatus::kFinished, "COMPLETED"));
  ASSERT_TRUE(done.job);
  EXPECT_EQ(done.job->bank_status, "COMPLETED");
}

}  // namespace
}  // namespace rtjobs::store_conformance
