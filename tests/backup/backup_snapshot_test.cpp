// The export's database snapshot is closed before the upload starts (issue 17): while an
// object is being written (an ObjectStore whose writers wait on a gate the test opens), no
// transaction of the backup is open on PostgreSQL (vacuum is not held back) and no read
// transaction on SQLite (a checkpoint(TRUNCATE) completes). The local spool files in between
// leave nothing behind, and a full disk under them is reported as such, with nothing deleted.
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "backup/backup_runner.hpp"
#include "backup/file_object_store.hpp"
#include "backup_test_db.hpp"
#include "core/time_format.hpp"
#include "gated_objects.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/sqlite/sqlite_connection.hpp"

namespace rtjobs::backup_test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class BackupSnapshotTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = TestDb::create(GetParam(), "test");
    ASSERT_TRUE(db_);
    dir_ = fs::temp_directory_path() / ("rtjobs-backup-snapshot-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    files_ = std::make_unique<backup::FileObjectStore>(dir_);
    transfer_ = db_->add_transfer();
    for (int seq = 1; seq <= 20; ++seq) {
      auto job = db_->add_job(transfer_, seq, JobStatus::kFinished, "2026-01-10");
      db_->add_status(job, 1, "body " + std::to_string(seq));
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // What holds the database back while the upload waits: empty when nothing does.
  std::string snapshot_held() {
    if (GetParam() == Backend::kPostgres) {
      auto conn = store_detail::PgConnection::connect(db_->url());
      if (!conn) return "connecting: " + conn.error().message;
      auto r = (*conn)->query(
          "SELECT pid, state, backend_xmin, query FROM pg_stat_activity"
          " WHERE datname = current_database() AND pid <> pg_backend_pid()"
          " AND backend_type = 'client backend'"
          " AND (state LIKE 'idle in transaction%' OR backend_xmin IS NOT NULL)",
          {});
      if (!r) return "querying: " + r.error().message;
      std::string held;
      for (int i = 0; i < r->rows(); ++i) {
        held += "backend " + std::string(r->text(i, 0).value_or("")) + " " +
                std::string(r->text(i, 1).value_or("")) + " xmin " +
                std::string(r->text(i, 2).value_or("-")) + ": " +
                std::string(r->text(i, 3).value_or("")) + "\n";
      }
      return held;
    }
    // A write after the export's snapshot, then a checkpoint that must reset the whole WAL:
    // it cannot while a reader still reads an older snapshot from it.
    db_->add_transfer();
    auto conn = store_detail::SqliteConnection::open(db_->url().substr(9), false);
    if (!conn) return "opening: " + conn.error().message;
    if (auto r = (*conn)->exec("PRAGMA busy_timeout = 0"); !r) return r.error().message;
    std::string busy;
    auto r = (*conn)->run("PRAGMA wal_checkpoint(TRUNCATE)", {},
                          [&](const store_detail::RowView& row) -> Result<void> {
                            busy = std::string(row.text(0).value_or("?"));
                            return {};
                          });
    if (!r) return "checkpoint: " + r.error().message;
    return busy == "0" ? "" : "checkpoint(TRUNCATE) busy: a reader holds an old snapshot";
  }

  std::unique_ptr<TestDb> db_;
  fs::path dir_;
  std::unique_ptr<backup::FileObjectStore> files_;
  ManualClock clock_{*parse_timestamp("2026-11-28T00:00:00.250Z")};
  RecurringTransfer transfer_;
};

// Files in `dir` (the spool's are unlinked from the start: none should ever be seen).
size_t files_in(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST_P(BackupSnapshotTest, NoSnapshotIsHeldWhileTheObjectsUpload) {
  Gate gate;
  GatedObjects objects(*files_, gate);
  const fs::path spool_dir = dir_ / "spool";
  fs::create_directories(spool_dir);
  backup::BackupRunner runner(db_->backup_store(), objects, clock_, {.spool_dir = spool_dir});
  const std::string jobs_before = db_->dump(BackupTable::kJobs);
  Result<backup::BackupResult> result = fail(ErrorCode::kInternal, "not run");
  std::jthread run([&] { result = runner.run(true); });
  const bool reached = gate.wait_reached(30s);
  const std::string held = reached ? snapshot_held() : std::string();
  const size_t spooled_files = files_in(spool_dir);
  gate.open();
  run.join();
  ASSERT_TRUE(reached) << "the upload never started";
  EXPECT_EQ(held, "") << "the export's snapshot is still open during the upload";
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->job_rows, 20);
  EXPECT_EQ(result->deleted_job_rows, 20);
  EXPECT_EQ(result->deleted_provider_status_rows, 20);
  ASSERT_EQ(result->objects.size(), 2u);
  EXPECT_EQ(read_file(result->objects[0].url.substr(7)), jobs_before);
  EXPECT_EQ(db_->count("recurring_transfer_job"), 0);
  EXPECT_EQ(spooled_files, 0u);
  EXPECT_EQ(files_in(spool_dir), 0u);
}

// A spool directory on a 64 KiB tmpfs: the CSV does not fit. The run fails before any upload,
// saying where and why, deletes nothing, and leaves the file system as empty as it found it.
TEST_P(BackupSnapshotTest, AFullSpoolDiskFailsTheRunClearlyAndDeletesNothing) {
  const fs::path spool_dir = dir_ / "small-disk";
  fs::create_directories(spool_dir);
  if (::mount("tmpfs", spool_dir.c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << ")";
  }
  struct Unmount {
    const fs::path& dir;
    ~Unmount() { ::umount(dir.c_str()); }
  } unmount{spool_dir};
  for (int seq = 21; seq <= 120; ++seq) {
    auto job = db_->add_job(transfer_, seq, JobStatus::kFinished, "2026-01-11");
    db_->add_status(job, 1, std::string(2000, 'x'));  // about 200 KiB of CSV in all
  }
  struct statvfs before {};
  ASSERT_EQ(::statvfs(spool_dir.c_str(), &before), 0);
  const std::string jobs_before = db_->dump(BackupTable::kJobs);

  backup::BackupRunner runner(db_->backup_store(), *files_, clock_, {.spool_dir = spool_dir});
  auto r = runner.run(true);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("No space left on device"), std::string::npos) << m;
  EXPECT_NE(m.find(spool_dir.string()), std::string::npos) << m;
  EXPECT_NE(m.find("recurring_transfer_provider_status"), std::string::npos) << m;
  EXPECT_NE(m.find("TMPDIR"), std::string::npos) << m;
  EXPECT_NE(m.find("nothing was deleted"), std::string::npos) << m;

  EXPECT_EQ(db_->dump(BackupTable::kJobs), jobs_before);
  EXPECT_EQ(db_->count("recurring_transfer_provider_status"), 120);
  EXPECT_FALSE(*db_->backup_store().last_backup_at());
  EXPECT_FALSE(fs::exists(dir_ / "recurring_transfer_job"));  // nothing uploaded
  EXPECT_EQ(files_in(spool_dir), 0u);
  struct statvfs after {};
  ASSERT_EQ(::statvfs(spool_dir.c_str(), &after), 0);
  EXPECT_EQ(after.f_bfree, before.f_bfree);  // the spool's space is given back
}

INSTANTIATE_TEST_SUITE_P(Databases, BackupSnapshotTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
                         });

}  // namespace
}  // namespace rtjobs::backup_test
