// The backup run on both databases with file:// objects: the seed's timestamp rules with a
// ManualClock, eligibility, the CSV round trip through restore, byte-identical CSV from SQLite
// and PostgreSQL, and crash safety (a failure mid-delete loses nothing; a re-run converges).
#include <gtest/gtest.h>
#include <algorithm>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "backup/backup_runner.hpp"
#include "backup/csv.hpp"
#include "backup/file_object_store.hpp"
#include "backup/restore.hpp"
#include "backup_test_db.hpp"
#include "core/time_format.hpp"
#include "store/postgres/pg_connection.hpp"

namespace rtjobs::backup_test {
namespace {

using backup::BackupOutcome;
using backup::BackupResult;
namespace fs = std::filesystem;

Timestamp at(std::string_view s) { return *parse_timestamp(s); }
store_detail::SqlValue SqlValueNull() { return std::monostate{}; }

// `csv` without its lines holding `needle`.
std::string without_lines(const std::string& csv, std::string_view needle) {
  std::string out;
  size_t pos = 0;
  while (pos < csv.size()) {
    size_t end = csv.find("\r\n", pos);
    end = end == std::string::npos ? csv.size() : end + 2;
    std::string_view line(csv.data() + pos, end - pos);
    if (line.find(needle) == std::string_view::npos) out.append(line);
    pos = end;
  }
  return out;
}

const std::string kJobs = "recurring_transfer_job";
const std::string kStatuses = "recurring_transfer_provider_status";

// Provider answers that CSV must carry byte for byte.
const std::vector<std::optional<std::string>> kNastyBodies = {
    "{\"error\":{\"code\":\"insufficient_funds\",\"message\":\"balance, too low\"}}",
    "He said \"no\" and \"\"no\"\" again",
    "line one\r\nline two\nline three\rend",
    "Überweisung abgelehnt — 残高不足 — ✓ émoji 🏦",
    "",
    std::nullopt,
    ",\",\r\n,",
    "\\N",  // PostgreSQL's COPY text form of NULL, as a value
    "tab\there, back\\slash \\x41 \\101\v\f\b end\t",
};

class BackupRunTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = TestDb::create(GetParam(), "test");
    ASSERT_TRUE(db_);
    dir_ = fs::temp_directory_path() / ("rtjobs-backup-objects-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    objects_ = std::make_unique<backup::FileObjectStore>(dir_);
    transfer_ = db_->add_transfer();
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<BackupResult> run(bool force = false, backup::BackupPolicy policy = {}) {
    backup::BackupRunner runner(db_->backup_store(), *objects_, clock_, {.policy = policy});
    return runner.run(force);
  }
  std::optional<Timestamp> last() { return *db_->backup_store().last_backup_at(); }
  std::string object_path(const backup::BackupObject& o) { return o.url.substr(7); }
  // Placeholder n of the database's style.
  std::string ph(int n) { return std::string(1, db_->placeholder_style()) + std::to_string(n); }

  std::unique_ptr<TestDb> db_;
  fs::path dir_;
  std::unique_ptr<backup::FileObjectStore> objects_;
  ManualClock clock_{at("2026-11-28T00:00:00.250Z")};
  RecurringTransfer transfer_;
};

TEST_P(BackupRunTest, FirstRunWithoutDataSavesTheTimestamp) {
  auto r = run();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->outcome, BackupOutcome::kNothingToBackUp);
  EXPECT_TRUE(r->timestamp_saved);
  EXPECT_TRUE(r->objects.empty());
  EXPECT_EQ(last(), at("2026-11-28T00:00:00.250Z"));
  EXPECT_EQ(db_->backup_store().list_backups(10)->size(), 1u);
}

TEST_P(BackupRunTest, FirstRunWithDataBacksUpDeletesAndSavesTheTimestamp) {
  auto old_job = db_->add_job(transfer_, 1, JobStatus::kFinished, "2026-08-27");
  db_->add_status(old_job, 1, "declined");
  db_->add_job(transfer_, 2, JobStatus::kFinished, "2026-08-28");  // exactly 3 months: stays
  auto r = run();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->outcome, BackupOutcome::kBackedUp);
  EXPECT_TRUE(r->timestamp_saved);
  EXPECT_EQ(r->job_rows, 1);
  EXPECT_EQ(r->provider_status_rows, 1);
  EXPECT_EQ(r->deleted_job_rows, 1);
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_EQ(format_date(*r->cutoff), "2026-08-28");
  EXPECT_TRUE(r->objects[0].url.ends_with(
      "/recurring_transfer_job/2026/11/recurring_transfer_job-20261128T000000.250Z.csv"));
  EXPECT_EQ(db_->count(kJobs), 1);
  EXPECT_EQ(db_->count(kStatuses), 0);
  auto history = db_->backup_store().list_backups(10);
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].job_rows, 1);
  EXPECT_NE((*history)[0].checksums.find("sha256:" + r->objects[0].sha256), std::string::npos);
}

TEST_P(BackupRunTest, RunBeforeTheMonthsHavePassedDoesNothing) {
  ASSERT_TRUE(run());  // first run: 2026-11-28
  db_->add_job(transfer_, 1, JobStatus::kFinished, "2026-01-01");
  clock_.set(at("2026-12-27T23:59:59.999Z"));
  auto r = run();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, BackupOutcome::kSkipped);
  EXPECT_FALSE(r->timestamp_saved);
  EXPECT_EQ(db_->count(kJobs), 1);
  EXPECT_EQ(last(), at("2026-11-28T00:00:00.250Z"));
}

TEST_P(BackupRunTest, RunAfterTheMonthsWithoutEligibleRowsKeepsTheTimestamp) {
  ASSERT_TRUE(run());
  db_->add_job(transfer_, 1, JobStatus::kFinished, "2026-12-01");  // too recent
  clock_.set(at("2026-12-28T00:00:00.100Z"));
  auto r = run();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, BackupOutcome::kNothingToBackUp);
  EXPECT_FALSE(r->timestamp_saved);
  EXPECT_EQ(last(), at("2026-11-28T00:00:00.250Z"));
  EXPECT_EQ(db_->count(kJobs), 1);
}

TEST_P(BackupRunTest, RunAfterTheMonthsWithEligibleRowsSavesTheTimestamp) {
  ASSERT_TRUE(run());
  db_->add_job(transfer_, 1, JobStatus::kFailed, "2026-09-01");
  clock_.set(at("2026-12-28T00:00:00.100Z"));
  auto r = run();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, BackupOutcome::kBackedUp);
  EXPECT_TRUE(r->timestamp_saved);
  EXPECT_EQ(last(), at("2026-12-28T00:00:00.100Z"));
  EXPECT_EQ(db_->count(kJobs), 0);
}

TEST_P(BackupRunTest, SeedExampleTwelveAndSixBacksUpOnceAYearWhatIsOlderThanSixMonths) {
  backup::BackupPolicy policy{.monthly_backup = 12, .backup_before_months = 6};
  clock_.set(at("2026-01-01T00:00:00.000Z"));
  ASSERT_EQ(run(false, policy)->outcome, BackupOutcome::kNothingToBackUp);  // saves 2026-01-01
  db_->add_job(transfer_, 1, JobStatus::kFinished, "2026-06-30");
  db_->add_job(transfer_, 2, JobStatus::kSkipped, "2026-07-01");
  db_->add_job(transfer_, 3, JobStatus::kCancelled, "2026-05-15");
  for (auto month : {"2026-02-01", "2026-07-01", "2026-12-31"}) {
    clock_.set(at(std::string(month) + "T00:00:00.000Z"));
    EXPECT_EQ(run(false, policy)->outcome, BackupOutcome::kSkipped) << month;
  }
  clock_.set(at("2027-01-01T00:00:00.000Z"));  // 12 months later: cutoff 2026-07-01
  auto r = run(false, policy);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, BackupOutcome::kBackedUp);
  EXPECT_EQ(r->job_rows, 2);
  EXPECT_EQ(db_->count(kJobs), 1);  // the 2026-07-01 job is not older than six months
  EXPECT_EQ(last(), at("2027-01-01T00:00:00.000Z"));
}

TEST_P(BackupRunTest, ForceSkipsTheMonthsCheck) {
  ASSERT_TRUE(run());
  db_->add_job(transfer_, 1, JobStatus::kFinished, "2026-01-01");
  clock_.advance(std::chrono::hours(1));
  EXPECT_EQ(run()->outcome, BackupOutcome::kSkipped);
  auto r = run(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, BackupOutcome::kBackedUp);
  EXPECT_EQ(db_->count(kJobs), 0);
}

TEST_P(BackupRunTest, LiveJobsAreNeverTouched) {
  for (auto [seq, status] : {std::pair{1, JobStatus::kPending},
                             {2, JobStatus::kInFly},
                             {3, JobStatus::kProcessing},
                             {4, JobStatus::kRetry}}) {
    auto job = db_->add_job(transfer_, seq, status, "2025-01-01");
    db_->add_status(job, 1, "503 from the bank");
  }
  std::string jobs_before = db_->dump(BackupTable::kJobs);
  auto r = run(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, BackupOutcome::kNothingToBackUp);
  EXPECT_EQ(db_->dump(BackupTable::kJobs), jobs_before);
  EXPECT_EQ(db_->count(kStatuses), 4);
}

// SPEC section 8: a FINISHED job whose settlement is still pending may yet be returned, and the
// follower must find it: it is not eligible. Settled, returned and unknown ones are.
TEST_P(BackupRunTest, JobsWhoseSettlementIsStillFollowedStay) {
  std::vector<Job> jobs;
  for (int seq = 1; seq <= 4; ++seq) {
    jobs.push_back(
        db_->add_job(transfer_, seq, JobStatus::kFinished, "2025-01-0" + std::to_string(seq)));
    db_->add_status(jobs.back(), 1, "accepted");
  }
  const char p = db_->placeholder_style();
  const std::string set = std::string("UPDATE recurring_transfer_job SET settlement_status = ") +
                          p + "1 WHERE id = " + p + "2";
  db_->exec(set, {std::string("pending"), jobs[0].id});
  db_->exec(set, {std::string("returned"), jobs[1].id});
  db_->exec(set, {std::string("unknown"), jobs[2].id});
  auto r = run(true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->outcome, BackupOutcome::kBackedUp);
  EXPECT_EQ(r->job_rows, 3);
  EXPECT_EQ(db_->count(kJobs), 1);
  EXPECT_EQ(db_->count(kStatuses), 1);
  auto left = db_->store().get_job(jobs[0].id);
  ASSERT_TRUE(left && *left);
  EXPECT_EQ((*left)->settlement_status, SettlementStatus::kPending);
}

TEST_P(BackupRunTest, CsvRoundTripsEveryColumnByteForByteThroughRestore) {
  int seq = 0;
  for (auto status :
       {JobStatus::kFinished, JobStatus::kFailed, JobStatus::kSkipped, JobStatus::kCancelled}) {
    ++seq;
    auto job = db_->add_job(transfer_, seq, status, "2026-02-0" + std::to_string(seq));
    int attempt = 0;
    for (const auto& body : kNastyBodies) db_->add_status(job, ++attempt, body);
  }
  const std::string jobs_before = db_->dump(BackupTable::kJobs);
  const std::string statuses_before = db_->dump(BackupTable::kProviderStatuses);
  auto r = run();
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->objects.size(), 2u);
  // The objects are exactly the rows as they were.
  EXPECT_EQ(read_file(object_path(r->objects[0])), jobs_before);
  EXPECT_EQ(read_file(object_path(r->objects[1])), statuses_before);

  auto empty = TestDb::create(GetParam(), "restore");
  ASSERT_TRUE(empty);
  empty->add_transfer(transfer_);
  backup::Restorer restorer(empty->backup_store(), {}, /*batch_rows=*/3);
  int64_t last_progress = 0;
  for (const auto& o : r->objects) {
    auto restored = restorer.restore(o.url, [&](backup::RestorePhase, int64_t read, int64_t total) {
      EXPECT_LE(read, total);
      last_progress = read;
    });
    ASSERT_TRUE(restored) << restored.error().message;
    EXPECT_EQ(restored->rows_skipped, 0);
    EXPECT_EQ(last_progress, o.bytes);
  }
  EXPECT_EQ(empty->dump(BackupTable::kJobs), jobs_before);
  EXPECT_EQ(empty->dump(BackupTable::kProviderStatuses), statuses_before);

  // Restoring again (or an overlapping object) skips the rows already present.
  auto again = restorer.restore(object_path(r->objects[1]), {});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->rows_inserted, 0);
  EXPECT_EQ(again->rows_skipped, 36);
  EXPECT_EQ(again->table, kStatuses);
}

TEST_P(BackupRunTest, RestoreRejectsAFileThatIsNotABackup) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "x.csv") << "a,b\r\n1,2\r\n";
  backup::Restorer restorer(db_->backup_store(), {});
  auto r = restorer.restore((dir_ / "x.csv").string(), {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("header row"), std::string::npos);
  EXPECT_FALSE(restorer.restore((dir_ / "missing.csv").string(), {}));
}

// The records of a CSV text.
std::vector<csv::Record> records_of(const std::string& text) {
  std::vector<csv::Record> out;
  csv::CsvParser parser([&](csv::Record& r) -> Result<void> {
    out.push_back(r);
    return {};
  });
  EXPECT_TRUE(parser.feed(text) && parser.finish());
  return out;
}

// The CSV text of `records`, each with its fields in the order of `fields` (indexes).
std::string csv_of(const std::vector<csv::Record>& records, const std::vector<size_t>& fields) {
  std::string out;
  for (const csv::Record& r : records) {
    std::vector<std::optional<std::string_view>> picked;
    picked.reserve(fields.size());
    for (size_t i : fields) picked.emplace_back(r[i]);
    csv::append_record(out, picked);
  }
  return out;
}

TEST_P(BackupRunTest, RestoreTakesABackupMadeBeforeBankStatusAndPlacesFieldsByTheirNames) {
  // Also before the settlement columns (SPEC section 8), which come after bank_status.
  auto job = db_->add_job(transfer_, 1, JobStatus::kFinished, "2026-02-01");
  ASSERT_TRUE(job.bank_status);
  const std::string current = db_->dump(BackupTable::kJobs);
  const std::vector<csv::Record> records = records_of(current);
  ASSERT_EQ(records.size(), 2u);
  const size_t n = records[0].size();
  // bank_status and the settlement columns after it came later.
  const size_t b = static_cast<size_t>(
      std::find(records[0].begin(), records[0].end(), "bank_status") - records[0].begin());
  ASSERT_LT(b, n);
  const size_t presentment = static_cast<size_t>(
      std::find(records[0].begin(), records[0].end(), "presentment") - records[0].begin());
  ASSERT_GT(presentment, b);

  // A job object as a binary before bank_status wrote it: every column before those.
  std::vector<size_t> before(b);
  for (size_t i = 0; i < b; ++i) before[i] = i;
  fs::create_directories(dir_);
  std::ofstream(dir_ / "old.csv", std::ios::binary) << csv_of(records, before);
  auto empty = TestDb::create(GetParam(), "restore");
  ASSERT_TRUE(empty);
  empty->add_transfer(transfer_);
  backup::Restorer restorer(empty->backup_store(), {});
  auto restored = restorer.restore((dir_ / "old.csv").string(), {});
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(restored->table, kJobs);
  EXPECT_EQ(restored->rows_inserted, 1);
  auto got = empty->store().get_job(job.id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->provider_reference, job.provider_reference);
  EXPECT_FALSE((*got)->bank_status);
  EXPECT_FALSE((*got)->settlement_status);
  EXPECT_EQ((*got)->presentment, 0);
  std::vector<csv::Record> expected = records;
  for (size_t i = b; i < n; ++i) expected[1][i].reset();
  expected[1][presentment] = "0";  // the column's default
  ASSERT_EQ(records[0][n - 1], "outcome_unknown");
  expected[1][n - 1] = "0";  // its default too
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  EXPECT_EQ(empty->dump(BackupTable::kJobs), csv_of(expected, all));

  // The columns in another order (the later ones first, id last) restore the same row.
  ASSERT_TRUE(empty->try_exec("DELETE FROM recurring_transfer_job"));
  std::vector<size_t> reordered;
  for (size_t i = b; i < n; ++i) reordered.push_back(i);
  for (size_t i = 1; i < b; ++i) reordered.push_back(i);
  reordered.push_back(0);
  std::ofstream(dir_ / "reordered.csv", std::ios::binary) << csv_of(records, reordered);
  restored = restorer.restore((dir_ / "reordered.csv").string(), {});
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(restored->rows_inserted, 1);
  EXPECT_EQ(empty->dump(BackupTable::kJobs), current);

  // A header missing a column that every backup has is not a backup's.
  std::vector<size_t> no_id(all.begin() + 1, all.end());
  std::ofstream(dir_ / "no-id.csv", std::ios::binary) << csv_of(records, no_id);
  auto refused = restorer.restore((dir_ / "no-id.csv").string(), {});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("header row"), std::string::npos);
}

// A BackupStore that runs `before` ahead of every deletion (from any of the delete threads);
// an error from it is the deletion's answer.
class BeforeDeletes : public BackupStore {
 public:
  BeforeDeletes(BackupStore& inner, std::function<Result<void>()> before)
      : inner_(inner), before_(std::move(before)) {}
  std::string_view backend() const override { return inner_.backend(); }
  Result<std::optional<Timestamp>> last_backup_at() override { return inner_.last_backup_at(); }
  Result<std::vector<BackupRecord>> list_backups(int n) override { return inner_.list_backups(n); }
  Result<void> insert_backup(const BackupRecord& r) override { return inner_.insert_backup(r); }
  Result<void> export_eligible(Date c, const ExportSink& s) override {
    return inner_.export_eligible(c, s);
  }
  Result<DeleteCounts> delete_backed_up(const std::vector<ExportedJob>& j,
                                        const std::vector<ExportedStatus>& s) override {
    if (auto r = before_(); !r) return std::unexpected(r.error());
    return inner_.delete_backed_up(j, s);
  }
  Result<RestoreCounts> restore_rows(BackupTable t, const RestoreRows& next) override {
    return inner_.restore_rows(t, next);
  }
  Result<std::unique_ptr<BackupLock>> try_lock_run() override { return inner_.try_lock_run(); }
  Result<std::unique_ptr<BackupLeadership>> leadership() override { return inner_.leadership(); }
  Result<void> begin_backup_run(const BackupRunRecord& r) override {
    return inner_.begin_backup_run(r);
  }
  Result<void> update_backup_run(const BackupRunRecord& r) override {
    return inner_.update_backup_run(r);
  }
  Result<std::optional<BackupRunRecord>> get_backup_run(std::string_view id,
                                                        std::chrono::milliseconds s) override {
    return inner_.get_backup_run(id, s);
  }
  Result<std::optional<BackupRunRecord>> running_backup_run(std::chrono::milliseconds s) override {
    return inner_.running_backup_run(s);
  }

 private:
  BackupStore& inner_;
  std::function<Result<void>()> before_;
};

// Fails deletion after `ok_batches` batches: a crash in the middle of step 5.
class FailingDeletes final : public BeforeDeletes {
 public:
  FailingDeletes(BackupStore& inner, int ok_batches)
      : BeforeDeletes(inner,
                      [this]() -> Result<void> {
                        if (left_.fetch_sub(1) <= 0)
                          return fail(ErrorCode::kUnavailable, "database went away");
                        return {};
                      }),
        left_(ok_batches) {}

 private:
  std::atomic<int> left_;  // deletions run on several threads
};

TEST_P(BackupRunTest, AFailureMidDeleteLosesNothingAndAReRunConverges) {
  for (int seq = 1; seq <= 7; ++seq) {
    auto job = db_->add_job(transfer_, seq, JobStatus::kFinished, "2026-01-10");
    db_->add_status(job, 1, "body " + std::to_string(seq));
  }
  db_->add_job(transfer_, 8, JobStatus::kPending, "2026-01-11");
  const std::string jobs_before = db_->dump(BackupTable::kJobs);
  const std::string statuses_before = db_->dump(BackupTable::kProviderStatuses);

  FailingDeletes failing(db_->backup_store(), 1);
  backup::BackupRunner crashing(failing, *objects_, clock_, {.delete_batch = 3});
  auto r1 = crashing.run(false);
  ASSERT_FALSE(r1);
  EXPECT_NE(r1.error().message.find("database went away"), std::string::npos);
  EXPECT_EQ(db_->count(kJobs), 8 - 3);  // one batch of 3 went, the rest stayed
  EXPECT_FALSE(last().has_value());     // the timestamp was not saved

  clock_.advance(std::chrono::minutes(1));
  auto r2 = run();  // still the first run by the rules
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_EQ(r2->job_rows, 4);
  EXPECT_TRUE(r2->timestamp_saved);
  EXPECT_EQ(db_->count(kJobs), 1);

  // Everything that left the database is in the objects; together they restore it whole.
  auto empty = TestDb::create(GetParam(), "restore");
  ASSERT_TRUE(empty);
  empty->add_transfer(transfer_);
  db_->exec("DELETE FROM recurring_transfer_backup");
  backup::Restorer restorer(empty->backup_store(), {});
  auto listed = objects_->list("");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 4u);  // two runs x two tables (the first run's objects stayed)
  for (const char* table : {"recurring_transfer_job/", "recurring_transfer_provider_status/"}) {
    for (const auto& o : *listed) {
      if (!o.key.starts_with(table)) continue;
      auto restored = restorer.restore((dir_ / o.key).string(), {});
      ASSERT_TRUE(restored) << restored.error().message;
    }
  }
  EXPECT_EQ(empty->dump(BackupTable::kJobs), without_lines(jobs_before, ",PENDING,"));
  EXPECT_EQ(empty->dump(BackupTable::kProviderStatuses), statuses_before);
}

// Runs `change` once, between the export (and its verification) and the first deletion.
class ChangeBeforeDelete final : public BeforeDeletes {
 public:
  ChangeBeforeDelete(BackupStore& inner, std::function<void()> change)
      : BeforeDeletes(inner, [this, change = std::move(change)]() -> Result<void> {
          std::call_once(once_, change);
          return {};
        }) {}

 private:
  std::once_flag once_;
};

TEST_P(BackupRunTest, ARowChangedBetweenExportAndDeleteStaysWithAllItsRows) {
  auto retried = db_->add_job(transfer_, 1, JobStatus::kFailed, "2026-01-10");
  db_->add_status(retried, 1, "503 from the bank");
  auto touched = db_->add_job(transfer_, 2, JobStatus::kFinished, "2026-01-11");
  auto untouched = db_->add_job(transfer_, 3, JobStatus::kFinished, "2026-01-12");
  db_->add_status(untouched, 1, "declined");
  auto late = db_->add_job(transfer_, 4, JobStatus::kFinished, "2026-01-13");
  db_->add_status(late, 1, "accepted");
  const char p = db_->placeholder_style();
  auto set_job = [&](const Job& job, std::string_view status, std::string_view updated_at) {
    db_->exec(std::string("UPDATE recurring_transfer_job SET status = ") + p +
                  "1, updated_at = " + p + "2 WHERE id = " + p + "3",
              {std::string(status), std::string(updated_at), job.id});
  };

  // An operator retries the FAILED job (it gets a new attempt and a new provider status) and
  // something rewrites the other job, after the export and before the deletion; a job that
  // does not change gets a status row.
  ChangeBeforeDelete changing(db_->backup_store(), [&] {
    set_job(retried, "RETRY", "2026-11-28T00:00:01.000Z");
    db_->add_status(retried, 2, "503 again");
    set_job(touched, "FINISHED", "2026-11-28T00:00:02.000Z");
    db_->add_status(late, 2, "settled");
  });
  backup::BackupRunner runner(changing, *objects_, clock_, {.delete_batch = 2});
  auto r = runner.run(false);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->job_rows, 4);
  EXPECT_EQ(r->provider_status_rows, 3);
  EXPECT_EQ(r->deleted_job_rows, 1);              // only the untouched job...
  EXPECT_EQ(r->deleted_provider_status_rows, 1);  // ...with its row
  EXPECT_EQ(db_->count(kJobs), 3);
  EXPECT_EQ(db_->count(kStatuses), 4);  // the retried and the late job keep their old and new rows

  // Once the retried job is terminal again, the next run backs both up in their new state.
  set_job(retried, "FAILED", "2026-11-28T00:00:03.000Z");
  const std::string jobs_now = db_->dump(BackupTable::kJobs);
  const std::string statuses_now = db_->dump(BackupTable::kProviderStatuses);
  clock_.advance(std::chrono::minutes(1));
  auto again = run(true);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->job_rows, 3);
  EXPECT_EQ(again->deleted_job_rows, 3);
  EXPECT_EQ(again->deleted_provider_status_rows, 4);
  EXPECT_EQ(db_->count(kJobs), 0);
  EXPECT_EQ(db_->count(kStatuses), 0);
  ASSERT_EQ(again->objects.size(), 2u);
  EXPECT_EQ(read_file(object_path(again->objects[0])), jobs_now);
  EXPECT_EQ(read_file(object_path(again->objects[1])), statuses_now);
}

TEST_P(BackupRunTest, ManyBatchesOnSeveralWorkersDeleteEverythingExported) {
  for (int seq = 1; seq <= 25; ++seq) {
    auto job = db_->add_job(transfer_, seq, JobStatus::kFinished, "2026-01-10");
    for (int attempt = 1; attempt <= seq % 3; ++attempt) db_->add_status(job, attempt, "x");
  }
  db_->add_job(transfer_, 26, JobStatus::kPending, "2026-01-10");
  backup::BackupRunner runner(db_->backup_store(), *objects_, clock_,
                              {.delete_batch = 2, .delete_workers = 3});
  auto r = runner.run(false);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->job_rows, 25);
  EXPECT_EQ(r->provider_status_rows, 25);
  EXPECT_EQ(r->deleted_job_rows, 25);
  EXPECT_EQ(r->deleted_provider_status_rows, 25);
  EXPECT_EQ(db_->count(kJobs), 1);
  EXPECT_EQ(db_->count(kStatuses), 0);
}

TEST_P(BackupRunTest, OneLargeBatchDeletesTheUnchangedRowsAndKeepsTheChangedOnes) {
  // 300 jobs in one deletion batch (one set-based transaction), every third with two
  // provider-status rows; four of them change after the export.
  std::vector<Job> jobs;
  for (int seq = 1; seq <= 300; ++seq) {
    jobs.push_back(db_->add_job(transfer_, seq, JobStatus::kFinished, "2026-01-10"));
    if (seq % 3 == 0) {
      db_->add_status(jobs.back(), 1, "503");
      db_->add_status(jobs.back(), 2, "declined");
    }
  }
  const char p = db_->placeholder_style();
  ChangeBeforeDelete changing(db_->backup_store(), [&] {
    auto set = [&](const Job& job, std::string_view status, std::string_view updated_at) {
      db_->exec(std::string("UPDATE recurring_transfer_job SET status = ") + p +
                    "1, updated_at = " + p + "2 WHERE id = " + p + "3",
                {std::string(status), std::string(updated_at), job.id});
    };
    set(jobs[2], "RETRY", "2026-11-28T00:00:01.000Z");       // seq 3: has statuses
    set(jobs[100], "FINISHED", "2026-11-28T00:00:02.000Z");  // seq 101: rewritten
    set(jobs[149], "FAILED", "2026-11-28T00:00:03.000Z");    // seq 150: has statuses
    set(jobs[299], "FINISHED", "2026-11-28T00:00:04.000Z");  // seq 300, the batch's last
  });
  backup::BackupRunner runner(changing, *objects_, clock_, {});
  auto r = runner.run(false);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->job_rows, 300);
  EXPECT_EQ(r->provider_status_rows, 200);
  EXPECT_EQ(r->deleted_job_rows, 296);
  EXPECT_EQ(r->deleted_provider_status_rows, 194);  // 97 unchanged jobs with two rows each
  EXPECT_EQ(db_->count(kJobs), 4);
  EXPECT_EQ(db_->count(kStatuses), 6);
}

TEST_P(BackupRunTest, ASecondConcurrentRunIsRefused) {
  auto lock = db_->backup_store().try_lock_run();
  ASSERT_TRUE(lock && *lock);
  auto r = run(true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "backup_in_progress");
  lock->reset();
  EXPECT_TRUE(run(true));
}

// The link of a status row to its job, which the backup's deletion relies on: the database
// refuses a status row without its job, and a job deleted from under its status rows.
TEST_P(BackupRunTest, AStatusRowAlwaysHasItsJob) {
  Job job = db_->add_job(transfer_, 1, JobStatus::kFinished, "2026-01-01");
  Job bare = db_->add_job(transfer_, 2, JobStatus::kFinished, "2026-01-02");
  ProviderStatus status = db_->add_status(job, 1, "{}");
  const std::string missing = "0190c0de-0000-7000-8000-0000000000ff";

  EXPECT_FALSE(db_->try_exec("DELETE FROM " + kJobs + " WHERE id = " + ph(1), {job.id}));
  EXPECT_FALSE(db_->try_exec("UPDATE " + kJobs + " SET id = " + ph(1) + " WHERE id = " + ph(2),
                             {missing, job.id}));
  EXPECT_FALSE(
      db_->try_exec("UPDATE " + kStatuses + " SET job_id = " + ph(1) + " WHERE id = " + ph(2),
                    {missing, status.id}));
  ProviderStatus orphan = status;
  orphan.id = "0190c0de-0000-7000-8000-0000000000fe";
  orphan.job_id = missing;
  EXPECT_FALSE(db_->try_exec("INSERT INTO " + kStatuses + " (" +
                                 std::string(store_detail::kProviderStatusColumns) + ") VALUES (" +
                                 store_detail::placeholders(db_->placeholder_style(), 10) + ")",
                             store_detail::provider_status_values(orphan)));
  EXPECT_EQ(db_->count(kJobs), 2);
  EXPECT_EQ(db_->count(kStatuses), 1);

  // What is allowed: deleting a job without status rows, and the status rows then their job.
  EXPECT_TRUE(db_->try_exec("DELETE FROM " + kJobs + " WHERE id = " + ph(1), {bare.id}));
  EXPECT_TRUE(db_->try_exec("DELETE FROM " + kStatuses + " WHERE job_id = " + ph(1), {job.id}));
  EXPECT_TRUE(db_->try_exec("DELETE FROM " + kJobs + " WHERE id = " + ph(1), {job.id}));
  EXPECT_EQ(db_->count(kJobs), 0);
}

INSTANTIATE_TEST_SUITE_P(Databases, BackupRunTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
                         });

TEST(BackupCsv, SameRowsGiveByteIdenticalCsvFromSqliteAndPostgres) {
  std::vector<std::string> outputs;
  for (Backend backend : {Backend::kSqlite, Backend::kPostgres}) {
    auto db = TestDb::create(backend, "test");
    ASSERT_TRUE(db);
    auto t = db->add_transfer();  // same ids and times: TestDb's clock is deterministic...
    t.id = "0190c0de-0000-7000-8000-000000000001";  // ...but uuid randomness is not: fix ids
    db->add_transfer(t);
    for (int seq = 1; seq <= 3; ++seq) {
      auto id = "0190c0de-0000-7000-8000-00000000010" + std::to_string(seq);
      db->exec(
          "INSERT INTO recurring_transfer_job (" + std::string(store_detail::kJobColumns) +
              ") VALUES (" +
              store_detail::placeholders(db->placeholder_style(), store_detail::kJobColumnCount) +
              ")",
          {id,
           t.id,
           int64_t{seq},
           "2026-01-0" + std::to_string(seq),
           "2026-01-01T09:00:00.000Z",
           seq == 2 ? "FAILED" : "FINISHED",
           seq == 2 ? SqlValueNull() : store_detail::SqlValue("DECLINED"),
           int64_t{seq},
           SqlValueNull(),
           "sandbox",
           t.id + ":" + std::to_string(seq),
           "ref \"" + std::to_string(seq) + "\"",
           seq == 2 ? "a,\r\nb" : "",
           SqlValueNull(),
           SqlValueNull(),
           "2026-01-01T09:00:00.000Z",
           "2026-01-01T09:00:01.500Z",
           "2026-01-01T09:00:01.000Z",
           seq == 3 ? SqlValueNull() : store_detail::SqlValue("Rejected, \"R01\"\r\n"),
           seq == 2 ? SqlValueNull() : store_detail::SqlValue(seq == 1 ? "settled" : "returned"),
           seq == 1 ? store_detail::SqlValue("2026-01-02T00:00:00.250Z") : SqlValueNull(),
           seq == 3 ? store_detail::SqlValue("R09") : SqlValueNull(),
           int64_t{seq - 1},
           SqlValueNull(),
           int64_t{0}});
      db->exec(
          "INSERT INTO recurring_transfer_provider_status (" +
              std::string(store_detail::kProviderStatusColumns) + ") VALUES (" +
              store_detail::placeholders(db->placeholder_style(), 10) + ")",
          {"0190c0de-0000-7000-8000-00000000020" + std::to_string(seq), id, t.id, "sandbox",
           int64_t{1}, seq == 3 ? SqlValueNull() : store_detail::SqlValue(int64_t{402}),
           "insufficient_funds", "", store_detail::opt_text(kNastyBodies[static_cast<size_t>(seq)]),
           "2026-01-01T09:00:00.999Z"});
    }
    auto dir = fs::temp_directory_path() / ("rtjobs-backup-bytes-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    backup::FileObjectStore objects(dir);
    ManualClock clock(at("2026-11-28T00:00:00.000Z"));
    backup::BackupRunner runner(db->backup_store(), objects, clock, {});
    auto r = runner.run(false);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->objects.size(), 2u);
    outputs.push_back(read_file(r->objects[0].url.substr(7)) + "\n--\n" +
                      read_file(r->objects[1].url.substr(7)));
    fs::remove_all(dir);
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_NE(outputs[0].find("2026-01-01T09:00:01.500Z"), std::string::npos);
}

}  // namespace
}  // namespace rtjobs::backup_test

namespace rtjobs::backup_test {
namespace {

// PostgreSQL checks a status row's job per statement (migration 5), with the locks a foreign
// key takes: whichever of two concurrent transactions comes second fails.
class StatusJobRace : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDb::create(Backend::kPostgres, "test");
    ASSERT_TRUE(db_);
    transfer_ = db_->add_transfer();
    job_ = db_->add_job(transfer_, 1, JobStatus::kFinished, "2026-01-01");
    for (auto* conn : {&first_, &second_}) {
      auto c = store_detail::PgConnection::connect(db_->url());
      ASSERT_TRUE(c) << c.error().message;
      *conn = std::move(*c);
    }
  }

  // Runs `sql` on the second connection in a thread; true once the thread is past it.
  std::jthread start_second(const std::string& sql, Result<void>& result, std::atomic<bool>& done) {
    return std::jthread([this, sql, &result, &done] {
      auto r = second_->query(sql, {job_.id});
      result = r ? Result<void>{} : Result<void>(std::unexpected(r.error()));
      done = true;
    });
  }

  std::string insert_status_sql() {
    return "INSERT INTO " + kStatuses + " (" + std::string(store_detail::kProviderStatusColumns) +
           ") SELECT gen_random_uuid(), $1::uuid, recurring_transfer_id, provider, 1, NULL, "
           "NULL, NULL, NULL, now() FROM " +
           kJobs + " WHERE id = $1::uuid";
  }

  std::unique_ptr<TestDb> db_;
  RecurringTransfer transfer_;
  Job job_;
  std::unique_ptr<store_detail::PgConnection> first_;
  std::unique_ptr<store_detail::PgConnection> second_;
};

TEST_F(StatusJobRace, ADeleteAfterAnUncommittedStatusRowWaitsAndFails) {
  ASSERT_TRUE(first_->exec("BEGIN"));
  ASSERT_TRUE(first_->query(insert_status_sql(), {job_.id}));
  Result<void> deleted;
  std::atomic<bool> done{false};
  {
    auto second = start_second("DELETE FROM " + kJobs + " WHERE id = $1::uuid", deleted, done);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(done) << "the delete did not wait for the job's lock";
    ASSERT_TRUE(first_->exec("COMMIT"));
  }
  EXPECT_FALSE(deleted);
  EXPECT_EQ(db_->count(kJobs), 1);
  EXPECT_EQ(db_->count(kStatuses), 1);
}

TEST_F(StatusJobRace, AStatusRowAfterAnUncommittedDeleteWaitsAndFails) {
  ASSERT_TRUE(first_->exec("BEGIN"));
  ASSERT_TRUE(first_->query("DELETE FROM " + kJobs + " WHERE id = $1::uuid", {job_.id}));
  Result<void> inserted;
  std::atomic<bool> done{false};
  {
    auto second = start_second(insert_status_sql(), inserted, done);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(done) << "the insert did not wait for the deleted job's lock";
    ASSERT_TRUE(first_->exec("COMMIT"));
  }
  EXPECT_FALSE(inserted);
  EXPECT_EQ(db_->count(kJobs), 0);
  EXPECT_EQ(db_->count(kStatuses), 0);
}

TEST(BackupLeadership, ExactlyOnePostgresInstanceLeadsTheCron) {
  auto db = TestDb::create(Backend::kPostgres, "test");
  ASSERT_TRUE(db);
  auto other = open_backup_store(db->url());  // a second instance on the same database
  ASSERT_TRUE(other);
  auto first = db->backup_store().leadership();
  auto second = (*other)->leadership();
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(*(*first)->check());
  EXPECT_FALSE(*(*second)->check());
  EXPECT_TRUE(*(*first)->check());  // kept
  first->reset();                   // the leader's session ends (process exit)
  EXPECT_TRUE(*(*second)->check());
}

}  // namespace
}  // namespace rtjobs::backup_test
