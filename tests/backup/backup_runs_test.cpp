// Backup runs as resources (backup_runs.hpp) on both databases: start() answers at once with
// the run "running" and the run goes on its own thread; its phase and counts are written while
// it goes (at most about once a second, with a heartbeat when nothing moves) and its end with
// the result or the error; a second run is refused naming the first; a run a dead process left
// "running" reads failed ("interrupted") once its heartbeat is stale, and the next run ends it;
// stop() ends a run in progress before it deletes anything.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "backup/backup_runs.hpp"
#include "backup/file_object_store.hpp"
#include "backup_test_db.hpp"
#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "gated_objects.hpp"

namespace rtjobs::backup_test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using backup::BackupRuns;

class BackupRunsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = TestDb::create(GetParam(), "test");
    ASSERT_TRUE(db_);
    dir_ = fs::temp_directory_path() / ("rtjobs-backup-runs-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    files_ = std::make_unique<backup::FileObjectStore>(dir_);
    transfer_ = db_->add_transfer();
    for (int seq = 1; seq <= 12; ++seq) {
      auto job = db_->add_job(transfer_, seq, JobStatus::kFinished, "2026-01-10");
      if (seq % 2 == 0) db_->add_status(job, 1, "body " + std::to_string(seq));
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Reads the run until `until` holds (or 10 s passed); the last read.
  BackupRunRecord poll(BackupRuns& runs, const std::string& id,
                       const std::function<bool(const BackupRunRecord&)>& until) {
    BackupRunRecord last;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = runs.get(id);
      EXPECT_TRUE(r && *r) << (r ? "not found" : r.error().message);
      if (!r || !*r) break;
      last = **r;
      if (until(last)) break;
      std::this_thread::sleep_for(20ms);
    }
    return last;
  }

  std::unique_ptr<TestDb> db_;
  fs::path dir_;
  std::unique_ptr<backup::FileObjectStore> files_;
  ManualClock clock_{*parse_timestamp("2026-11-28T00:00:00.250Z")};
  RecurringTransfer transfer_;
};

TEST_P(BackupRunsTest, StartAnswersRunningAndTheRunEndsSucceededWithItsResult) {
  backup::BackupRunner runner(db_->backup_store(), *files_, clock_, {});
  BackupRuns runs(db_->backup_store(), runner, clock_, {.report_every = 50ms});
  std::promise<Result<backup::BackupResult>> ended;
  auto started =
      runs.start(true, [&](const Result<backup::BackupResult>& r) { ended.set_value(r); });
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_TRUE(is_uuid(started->id));
  EXPECT_EQ(started->status, "running");
  EXPECT_EQ(started->phase, "starting");
  EXPECT_TRUE(started->force);
  EXPECT_EQ(started->started_at, clock_.now());

  auto future = ended.get_future();
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready);
  auto result = future.get();
  ASSERT_TRUE(result) << result.error().message;
  auto seen = runs.get(started->id);
  ASSERT_TRUE(seen && *seen);
  const BackupRunRecord& run = **seen;
  EXPECT_EQ(run.status, "succeeded");
  EXPECT_EQ(run.phase, "done");
  EXPECT_EQ(run.job_rows, 12);
  EXPECT_EQ(run.provider_status_rows, 6);
  EXPECT_EQ(run.deleted_job_rows, 12);
  EXPECT_EQ(run.deleted_provider_status_rows, 6);
  EXPECT_GT(run.uploaded_bytes, 0);
  EXPECT_EQ(run.uploaded_bytes, result->objects[0].bytes + result->objects[1].bytes);
  EXPECT_EQ(run.finished_at, clock_.now());
  EXPECT_EQ(run.result, backup::result_json(*result));
  EXPECT_FALSE(run.error);
  EXPECT_EQ(db_->count("recurring_transfer_job"), 0);
}

TEST_P(BackupRunsTest, ProgressShowsWhileTheRunGoesAndASecondRunIsRefusedNamingIt) {
  Gate gate;
  GatedObjects objects(*files_, gate);
  backup::BackupRunner runner(db_->backup_store(), objects, clock_, {});
  BackupRuns runs(db_->backup_store(), runner, clock_, {.report_every = 50ms});
  std::promise<void> ended;
  auto started = runs.start(false, [&](const auto&) { ended.set_value(); });
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_TRUE(gate.wait_reached(30s));  // start() answered; the run goes on, into the upload

  BackupRunRecord seen =
      poll(runs, started->id, [](const BackupRunRecord& r) { return r.phase == "upload"; });
  EXPECT_EQ(seen.status, "running");
  EXPECT_EQ(seen.phase, "upload");
  EXPECT_EQ(seen.job_rows, 12);  // exported so far
  EXPECT_EQ(seen.provider_status_rows, 6);
  EXPECT_EQ(seen.deleted_job_rows, 0);
  EXPECT_FALSE(seen.finished_at);

  // Another run, from this instance or another one (its own store on the same database), is
  // refused and told which run is in progress.
  auto other_store = open_backup_store(db_->url());
  ASSERT_TRUE(other_store);
  backup::BackupRunner other_runner(**other_store, *files_, clock_, {});
  BackupRuns other(**other_store, other_runner, clock_);
  for (BackupRuns* r : {&runs, &other}) {
    std::string in_progress;
    auto refused = r->start(true, {}, &in_progress);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
    EXPECT_EQ(refused.error().reason, "backup_in_progress");
    EXPECT_EQ(in_progress, started->id);
    EXPECT_NE(refused.error().message.find(started->id), std::string::npos);
    auto sync = r->run(true);
    ASSERT_FALSE(sync);
    EXPECT_EQ(sync.error().reason, "backup_in_progress");
  }
  auto from_other = other.get(started->id);  // any instance shows it
  ASSERT_TRUE(from_other && *from_other);
  EXPECT_EQ((*from_other)->status, "running");

  gate.open();
  ASSERT_EQ(ended.get_future().wait_for(30s), std::future_status::ready);
  seen = *runs.get(started->id).value();
  EXPECT_EQ(seen.status, "succeeded");
  EXPECT_EQ(seen.deleted_job_rows, 12);
  // The lock went with the run: the next one starts.
  clock_.advance(1min);
  auto next = other.run(true);
  ASSERT_TRUE(next) << next.error().message;
}

TEST_P(BackupRunsTest, ProgressIsWrittenAtMostAboutOnceASecondWithAHeartbeatWhenNothingMoves) {
  Gate gate;
  GatedObjects objects(*files_, gate);
  backup::BackupRunner runner(db_->backup_store(), objects, clock_, {});
  BackupRuns runs(db_->backup_store(), runner, clock_, {.heartbeat = 2s});  // report_every: 1 s
  std::promise<void> ended;
  auto started = runs.start(false, [&](const auto&) { ended.set_value(); });
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_TRUE(gate.wait_reached(30s));
  // Every write stamps the row with a new heartbeat: watch them while the upload waits.
  std::vector<Timestamp> writes;
  std::string phase;
  const auto until = std::chrono::steady_clock::now() + 4500ms;
  while (std::chrono::steady_clock::now() < until) {
    auto r = runs.get(started->id);
    ASSERT_TRUE(r && *r);
    ASSERT_TRUE((*r)->heartbeat_at);
    if (writes.empty() || writes.back() != *(*r)->heartbeat_at) {
      writes.push_back(*(*r)->heartbeat_at);
    }
    phase = (*r)->phase;
    std::this_thread::sleep_for(20ms);
  }
  gate.open();
  ASSERT_EQ(ended.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(phase, "upload");
  // The phase's move to the upload, then heartbeats (every 2 s) although nothing moved.
  ASSERT_GE(writes.size(), 3u) << "no heartbeat while the upload waited";
  for (size_t i = 1; i < writes.size(); ++i) {
    EXPECT_GE(writes[i] - writes[i - 1], 900ms) << "two writes within a second (write " << i << ")";
  }
}

TEST_P(BackupRunsTest, ARunLeftRunningByADeadProcessReadsInterruptedAndTheNextRunEndsIt) {
  // What a killed process leaves: a run "running" whose heartbeat stops.
  BackupRunRecord dead;
  dead.id = new_uuid_v7(clock_.now());
  dead.status = "running";
  dead.phase = "upload";
  dead.started_at = clock_.now();
  ASSERT_TRUE(db_->backup_store().begin_backup_run(dead));

  backup::BackupRunner runner(db_->backup_store(), *files_, clock_, {});
  BackupRuns runs(db_->backup_store(), runner, clock_, {.stale_after = 300ms});
  auto fresh = runs.get(dead.id);
  ASSERT_TRUE(fresh && *fresh);
  EXPECT_EQ((*fresh)->status, "running");  // its owner could still be alive
  std::this_thread::sleep_for(500ms);
  auto stale = runs.get(dead.id);
  ASSERT_TRUE(stale && *stale);
  EXPECT_EQ((*stale)->status, "failed");
  EXPECT_EQ((*stale)->error, std::string(store_detail::kInterruptedRun));
  EXPECT_EQ((*stale)->phase, "upload");
  EXPECT_EQ((*stale)->finished_at, (*stale)->heartbeat_at);
  // Not the run in progress: a POST is not refused because of it, and ends it for good.
  auto next = runs.run(true);
  ASSERT_TRUE(next) << next.error().message;
  auto stored = db_->backup_store().get_backup_run(dead.id, 1h);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->status, "failed");
  EXPECT_EQ((*stored)->error, std::string(store_detail::kInterruptedRun));
}

TEST_P(BackupRunsTest, StopEndsARunInProgressBeforeItDeletesAndRefusesNewOnes) {
  Gate gate;
  GatedObjects objects(*files_, gate);
  backup::BackupRunner runner(db_->backup_store(), objects, clock_, {});
  BackupRuns runs(db_->backup_store(), runner, clock_, {.report_every = 50ms});
  std::promise<Result<backup::BackupResult>> ended;
  auto started = runs.start(true, [&](const auto& r) { ended.set_value(r); });
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_TRUE(gate.wait_reached(30s));
  std::thread stopping([&] { runs.stop(); });  // waits for the run
  std::this_thread::sleep_for(200ms);
  gate.open();  // the upload goes on; the run stops at its next step
  stopping.join();
  auto future = ended.get_future();
  ASSERT_EQ(future.wait_for(1s), std::future_status::ready);
  auto result = future.get();
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("stopped"), std::string::npos) << result.error().message;
  EXPECT_EQ(db_->count("recurring_transfer_job"), 12);  // nothing deleted
  auto seen = runs.get(started->id);
  ASSERT_TRUE(seen && *seen);
  EXPECT_EQ((*seen)->status, "failed");
  EXPECT_EQ((*seen)->error, result.error().message);
  EXPECT_EQ((*seen)->deleted_job_rows, 0);

  auto refused = runs.start(true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  auto lock = db_->backup_store().try_lock_run();  // the stopped run let the lock go
  ASSERT_TRUE(lock && *lock);
}

TEST_P(BackupRunsTest, ARunWithoutARecordHoldingTheLockIsRefusedWithoutAnId) {
  auto lock = db_->backup_store().try_lock_run();  // e.g. a binary from before runs were kept
  ASSERT_TRUE(lock && *lock);
  backup::BackupRunner runner(db_->backup_store(), *files_, clock_, {});
  BackupRuns runs(db_->backup_store(), runner, clock_);
  std::string in_progress = "unchanged";
  auto refused = runs.start(true, {}, &in_progress);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, "backup_in_progress");
  EXPECT_EQ(refused.error().message, "another backup run is in progress");
  EXPECT_EQ(in_progress, "unchanged");
}

INSTANTIATE_TEST_SUITE_P(Databases, BackupRunsTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
                         });

}  // namespace
}  // namespace rtjobs::backup_test
