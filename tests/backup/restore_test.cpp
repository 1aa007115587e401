// `rtjobs restore` on both databases (issue 17): the whole file is checked before anything is
// written and loaded in one transaction, so a bad row anywhere (found by the check or by the
// database) leaves the database as it was; only terminal job rows whose settlement is not
// pending are taken (a restored PENDING job would be sent to the bank); every value is checked
// the same way on SQLite as on PostgreSQL, naming the line and the column.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "backup/backup_tables.hpp"
#include "backup/csv.hpp"
#include "backup/restore.hpp"
#include "backup_test_db.hpp"

namespace rtjobs::backup_test {
namespace {

namespace fs = std::filesystem;
using Fields = std::vector<std::optional<std::string>>;

const std::string kJobs = "recurring_transfer_job";
const std::string kStatuses = "recurring_transfer_provider_status";

// The field index of `column` in `table`'s backup header.
size_t col(BackupTable table, std::string_view column) {
  const auto& columns = backup::table_spec(table).columns;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == column) return i;
  }
  ADD_FAILURE() << "no column " << column;
  return 0;
}
size_t job_col(std::string_view column) { return col(BackupTable::kJobs, column); }
size_t status_col(std::string_view column) { return col(BackupTable::kProviderStatuses, column); }

// The n-th id of a family (the first letter), in increasing order.
std::string id(char family, int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0196f0c2-%c000-7000-8000-%012d", family, n);
  return buf;
}

// A FINISHED job of `transfer`, as a backup writes it: the n-th occurrence.
Fields finished_job(const std::string& transfer, int n) {
  return {id('a', n),
          transfer,
          std::to_string(n),
          "2026-01-31",
          "2026-01-31T09:00:00.000Z",
          "FINISHED",
          "SUCCEEDED",
          "0",
          std::nullopt,
          "sandbox",
          transfer + ":" + std::to_string(n),
          "ref-" + std::to_string(n),
          std::nullopt,
          std::nullopt,
          std::nullopt,
          "2026-01-31T09:00:00.000Z",
          "2026-01-31T09:00:01.000Z",
          "2026-01-31T09:00:01.000Z",
          "Sent, \"done\"",
          "settled",
          "2026-02-02T00:00:00.000Z",
          std::nullopt,
          "0",
          std::nullopt,
          "0"};  // outcome_unknown (always 0 in a backup)
}

// A provider-status row of job n (see finished_job).
Fields status_row(const std::string& transfer, int job, int n) {
  return {id('b', job * 10 + n),
          id('a', job),
          transfer,
          "sandbox",
          "1",
          "422",
          "insufficient_funds",
          "balance, too low",
          "{\"error\":\"nope\"}",
          "2026-01-31T09:00:00.500Z"};
}

std::string csv_text(BackupTable table, const std::vector<Fields>& rows) {
  std::string out;
  backup::append_header(backup::table_spec(table), out);
  for (const Fields& row : rows) {
    std::vector<std::optional<std::string_view>> views;
    for (const auto& f : row)
      views.emplace_back(f ? std::optional<std::string_view>(*f) : std::nullopt);
    csv::append_record(out, views);
  }
  return out;
}

class RestoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = TestDb::create(GetParam(), "rst");
    ASSERT_TRUE(db_);
    dir_ = fs::temp_directory_path() / ("rtjobs-restore-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    transfer_ = db_->add_transfer().id;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `rows` of `table` as a backup file and restores it.
  Result<backup::RestoreResult> restore(BackupTable table, const std::vector<Fields>& rows,
                                        size_t batch_rows = 1000) {
    const std::string path = (dir_ / "restore.csv").string();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << csv_text(table, rows);
    backup::Restorer restorer(db_->backup_store(), {}, batch_rows);
    return restorer.restore(path, {});
  }
  std::vector<Fields> jobs(int count) {
    std::vector<Fields> out;
    for (int n = 1; n <= count; ++n) out.push_back(finished_job(transfer_, n));
    return out;
  }
  // Restoring `rows` fails with a message holding each of `expected`, and changes nothing.
  void expect_refused(BackupTable table, const std::vector<Fields>& rows,
                      std::initializer_list<std::string_view> expected) {
    const int64_t jobs_before = db_->count(kJobs), statuses_before = db_->count(kStatuses);
    auto r = restore(table, rows);
    ASSERT_FALSE(r) << "restored " << r->rows_inserted << " rows";
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().message;
    for (std::string_view e : expected) {
      EXPECT_NE(r.error().message.find(e), std::string::npos)
          << "expected \"" << e << "\" in: " << r.error().message;
    }
    EXPECT_EQ(db_->count(kJobs), jobs_before);
    EXPECT_EQ(db_->count(kStatuses), statuses_before);
  }

  std::unique_ptr<TestDb> db_;
  fs::path dir_;
  std::string transfer_;
};

TEST_P(RestoreTest, AGoodFileLoadsWholeAndAgainSkipsEveryRow) {
  auto r = restore(BackupTable::kJobs, jobs(2600));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->table, kJobs);
  EXPECT_EQ((std::tuple{r->rows_read, r->rows_inserted, r->rows_skipped}),
            (std::tuple{2600, 2600, 0}));
  std::vector<Fields> statuses;
  for (int job = 1; job <= 3; ++job) {
    for (int n = 1; n <= 2; ++n) statuses.push_back(status_row(transfer_, job, n));
  }
  auto s = restore(BackupTable::kProviderStatuses, statuses);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->rows_inserted, 6);
  // The rows read back as the file has them.
  EXPECT_EQ(db_->dump(BackupTable::kJobs), csv_text(BackupTable::kJobs, jobs(2600)));
  EXPECT_EQ(db_->dump(BackupTable::kProviderStatuses),
            csv_text(BackupTable::kProviderStatuses, statuses));

  r = restore(BackupTable::kJobs, jobs(2600));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((std::tuple{r->rows_inserted, r->rows_skipped}), (std::tuple{0, 2600}));
  // A job changed since its backup (retried, then finished again) keeps its newer state.
  auto newer = jobs(1);
  newer[0][job_col("updated_at")] = "2026-01-01T00:00:00.000Z";
  r = restore(BackupTable::kJobs, newer);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rows_skipped, 1);
}

TEST_P(RestoreTest, ABadRowAtTheEndLeavesTheDatabaseUnchanged) {
  // Line 2,502 (the header is line 1): after two batches would have been committed one by one.
  auto rows = jobs(2501);
  rows.back()[job_col("retries")] = "x";
  expect_refused(BackupTable::kJobs, rows, {"line 2502, column retries"});
  EXPECT_EQ(db_->count(kJobs), 0);

  // One the check cannot see: its transfer is not in the database. The load fails in its third
  // batch, and the first two go too.
  rows = jobs(2501);
  rows.back()[job_col("recurring_transfer_id")] = id('f', 1);
  rows.back()[job_col("idempotency_key")] = id('f', 1) + ":2501";
  expect_refused(BackupTable::kJobs, rows, {"line 2502", "is not in the database"});
  EXPECT_EQ(db_->count(kJobs), 0);
}

TEST_P(RestoreTest, OnlyTerminalJobsAreTaken) {
  for (std::string status : {"PENDING", "IN_FLY", "PROCESSING", "RETRY", "finished", ""}) {
    auto rows = jobs(3);
    rows[1][job_col("status")] = status;
    if (status == "PROCESSING") {
      rows[1][job_col("lease_owner")] = "worker-1";
      rows[1][job_col("lease_expires_at")] = "2026-01-31T09:01:00.000Z";
    }
    if (status.empty()) rows[1][job_col("status")].reset();
    SCOPED_TRACE(status);
    expect_refused(BackupTable::kJobs, rows, {"line 3, column status"});
  }
  for (std::string status : {"FINISHED", "FAILED", "SKIPPED", "CANCELLED"}) {
    auto rows = jobs(1);
    rows[0][job_col("status")] = status;
    rows[0][job_col("idempotency_key")] = status;
    auto r = restore(BackupTable::kJobs, rows);
    ASSERT_TRUE(r) << status << ": " << r.error().message;
    ASSERT_TRUE(db_->try_exec("DELETE FROM recurring_transfer_job"));
  }
}

TEST_P(RestoreTest, AJobWhoseSettlementIsStillFollowedOrThatHoldsALeaseIsRefused) {
  auto rows = jobs(2);
  rows[1][job_col("settlement_status")] = "pending";
  rows[1][job_col("settlement_check_at")] = "2026-02-01T00:00:00.000Z";
  expect_refused(BackupTable::kJobs, rows, {"line 3, column settlement_status", "pending"});
  rows = jobs(2);
  rows[1][job_col("lease_owner")] = "worker-1";
  expect_refused(BackupTable::kJobs, rows, {"line 3, column lease_owner"});
}

// What PostgreSQL refuses and SQLite would store: refused on both, with the same message.
TEST_P(RestoreTest, ValuesAreCheckedAlikeOnBothDatabases) {
  struct Case {
    std::string column;
    std::optional<std::string> value;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"id", "not-a-uuid", "line 3, column id: must be a UUID, got \"not-a-uuid\""},
      {"id", "0196f0c2-a000-7000-8000-00000000000", "column id: must be a UUID"},
      {"recurring_transfer_id", "0196f0c2a0007000800000000000000002",
       "column recurring_transfer_id"},
      {"retries", "-1", "line 3, column retries: must be an integer from 0 to 2147483647"},
      {"retries", "2147483648", "column retries: must be an integer from 0 to 2147483647"},
      {"retries", std::nullopt, "column retries: is required"},
      {"sequence", "0", "column sequence: must be an integer from 1"},
      {"presentment", "-2", "column presentment"},
      // A terminal job is never in doubt: a 1 is no backup rtjobs wrote.
      {"outcome_unknown", "1", "column outcome_unknown: must be an integer from 0 to 0"},
      {"result", "MAYBE", "column result: must be SUCCEEDED, DECLINED or RETURNED"},
      {"settlement_status", "paid", "column settlement_status"},
      {"scheduled_for", "2026-02-30", "column scheduled_for: must be a date"},
      {"scheduled_for", "0000-01-01",
       "column scheduled_for: must be a date YYYY-MM-DD from year 1"},
      {"due_at", "2026-01-31 09:00:00+01", "column due_at: must be an instant"},
      {"due_at", "0000-12-31T00:00:00.000Z", "column due_at"},
      {"created_at", std::nullopt, "column created_at: is required"},
      {"provider", std::nullopt, "column provider: is required"},
      {"last_error", std::string("cut\0short", 9), "column last_error: holds U+0000"},
      {"provider_reference", "caf\xc3", "column provider_reference: is not valid UTF-8"},
      {"bank_status", "\xed\xa0\x80", "column bank_status: is not valid UTF-8"},  // a surrogate
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.column);
    auto rows = jobs(3);
    rows[1][job_col(c.column)] = c.value;
    expect_refused(BackupTable::kJobs, rows, {c.expected});
  }
  // Valid UTF-8 of every length, and a UUID in upper case (stored in lower case on both).
  auto rows = jobs(1);
  rows[0][job_col("last_error")] = "é — 残高不足 🏦 \x7f\t";
  rows[0][job_col("id")] = "0196F0C2-A000-7000-8000-000000000001";
  auto r = restore(BackupTable::kJobs, rows);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NE(db_->dump(BackupTable::kJobs).find("0196f0c2-a000-7000-8000-000000000001"),
            std::string::npos);

  // Provider-status rows.
  auto statuses = std::vector<Fields>{status_row(transfer_, 1, 1), status_row(transfer_, 1, 2)};
  statuses[1][status_col("http_status")] = "99";
  expect_refused(BackupTable::kProviderStatuses, statuses, {"line 3, column http_status"});
  statuses[1][status_col("http_status")].reset();
  statuses[1][status_col("attempt")] = "-1";
  expect_refused(BackupTable::kProviderStatuses, statuses, {"line 3, column attempt"});
  statuses[1][status_col("attempt")] = "1";
  statuses[1][status_col("job_id")] = "job-1";
  expect_refused(BackupTable::kProviderStatuses, statuses,
                 {"line 3, column job_id: must be a UUID"});
}

TEST_P(RestoreTest, EachRowOnceInBackupOrder) {
  auto rows = jobs(3);
  std::swap(rows[1], rows[2]);
  expect_refused(BackupTable::kJobs, rows, {"line 4: comes before the row of line 3"});
  rows = jobs(3);
  rows[2] = rows[1];
  expect_refused(BackupTable::kJobs, rows, {"line 4: repeats the row of line 3"});
  // Provider-status rows by job, then id.
  auto statuses = std::vector<Fields>{status_row(transfer_, 2, 1), status_row(transfer_, 1, 2)};
  expect_refused(BackupTable::kProviderStatuses, statuses, {"line 3: comes before"});
}

TEST_P(RestoreTest, RowsTheDatabaseCannotTakeRollEverythingBack) {
  ASSERT_TRUE(restore(BackupTable::kJobs, jobs(2)));
  // A status row of a job that is not in the database (its job file not restored), on line 4.
  std::vector<Fields> statuses{status_row(transfer_, 1, 1), status_row(transfer_, 2, 1),
                               status_row(transfer_, 3, 1)};
  expect_refused(BackupTable::kProviderStatuses, statuses,
                 {"line 4: provider status", "its job " + id('a', 3), "is not in the database"});
  // ... or whose transfer is not its job's.
  statuses = {status_row(transfer_, 1, 1)};
  statuses[0][status_col("recurring_transfer_id")] = id('f', 9);
  expect_refused(BackupTable::kProviderStatuses, statuses, {"line 2: provider status"});
  // A status row whose id is another job's status row.
  ASSERT_TRUE(restore(BackupTable::kProviderStatuses, {status_row(transfer_, 1, 1)}));
  statuses = {status_row(transfer_, 2, 1)};
  statuses[0][status_col("id")] = id('b', 11);
  expect_refused(BackupTable::kProviderStatuses, statuses,
                 {"line 2: provider status", "with this id for another job"});

  // A job whose occurrence (transfer, sequence) is another job's.
  auto rows = jobs(2);  // present: skipped
  rows.push_back(finished_job(transfer_, 2));
  rows.back()[job_col("id")] = id('d', 1);
  expect_refused(BackupTable::kJobs, rows,
                 {"line 4: job " + id('d', 1), "sequence 2 of transfer " + transfer_});
  // The same occurrence twice in the file: the database's unique key refuses the second.
  rows = {finished_job(transfer_, 3), finished_job(transfer_, 4)};
  rows[1][job_col("sequence")] = "3";
  expect_refused(BackupTable::kJobs, rows, {"line 3: restoring into recurring_transfer_job"});
  // A job whose id is another occurrence's.
  rows = jobs(2);
  rows[1][job_col("sequence")] = "9";
  expect_refused(BackupTable::kJobs, rows,
                 {"line 3: job " + id('a', 2), "another transfer or sequence"});
  EXPECT_EQ(db_->count(kJobs), 2);
}

TEST_P(RestoreTest, BadFilesAreRefusedBeforeTheDatabase) {
  const std::string path = (dir_ / "bad.csv").string();
  backup::Restorer restorer(db_->backup_store(), {});
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      << csv_text(BackupTable::kJobs, jobs(2)) << "\"unterminated";
  auto r = restorer.restore(path, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unterminated quoted field"), std::string::npos);
  auto rows = jobs(2);
  rows[1].pop_back();
  std::ofstream(path, std::ios::binary | std::ios::trunc) << csv_text(BackupTable::kJobs, rows);
  r = restorer.restore(path, {});
  ASSERT_FALSE(r);
  const size_t fields = backup::table_spec(BackupTable::kJobs).columns.size() - 1;
  EXPECT_NE(r.error().message.find("line 3: a record of recurring_transfer_job has " +
                                   std::to_string(fields) + " fields"),
            std::string::npos)
      << r.error().message;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "";
  r = restorer.restore(path, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("empty file"), std::string::npos);
  EXPECT_EQ(db_->count(kJobs), 0);
}

TEST_P(RestoreTest, ProgressGoesThroughTheCheckThenTheLoad) {
  const std::string path = (dir_ / "progress.csv").string();
  const std::string text = csv_text(BackupTable::kJobs, jobs(500));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  std::vector<std::pair<backup::RestorePhase, int64_t>> seen;
  backup::Restorer restorer(db_->backup_store(), {}, 100);
  auto r = restorer.restore(path, [&](backup::RestorePhase phase, int64_t read, int64_t total) {
    EXPECT_EQ(total, static_cast<int64_t>(text.size()));
    if (seen.empty() || seen.back().first != phase) seen.emplace_back(phase, 0);
    seen.back().second = read;
  });
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (std::pair{backup::RestorePhase::kChecking, int64_t(text.size())}));
  EXPECT_EQ(seen[1], (std::pair{backup::RestorePhase::kLoading, int64_t(text.size())}));
}

INSTANTIATE_TEST_SUITE_P(Databases, RestoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
                         });

}  // namespace
}  // namespace rtjobs::backup_test
