// Store conformance (conformance.hpp): the backup runs of the BackupStore (backup_store.hpp, the
// backup runs block) on both databases. A run's row from its start to its end, read through a
// second store as another instance would; heartbeats on the database's clock and a run without
// a recent one read as stale; a new run ending the runs a dead process left "running"; and the
// migration that brought them.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <tuple>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "store/backup_store.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

// The first migration of each backend with backup_run.
int runs_migration(const std::string& backend) { return backend == "sqlite" ? 6 : 10; }

std::unique_ptr<BackupStore> open_backups(const std::string& url) {
  auto s = open_backup_store(url);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

BackupRunRecord new_run(Timestamp started, bool force = false) {
  BackupRunRecord r;
  r.id = new_uuid_v7(started);
  r.status = "running";
  r.phase = "starting";
  r.force = force;
  r.started_at = started;
  return r;
}

BackupRunRecord get_run(BackupStore& store, const std::string& id,
                        std::chrono::milliseconds stale_after = 60s) {
  auto r = store.get_backup_run(id, stale_after);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  EXPECT_TRUE(r && *r) << "no backup run " << id;
  return r && *r ? **r : BackupRunRecord{};
}

std::optional<std::string> running_id(BackupStore& store, std::chrono::milliseconds stale_after) {
  auto r = store.running_backup_run(stale_after);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r && *r ? std::optional<std::string>((*r)->id) : std::nullopt;
}

TEST_P(StoreConformance, ABackupRunIsRecordedFromStartToEndAndReadByAnotherInstance) {
  auto mine = open_backups(url_);
  auto other = open_backups(url_);  // another instance on the same database
  ASSERT_TRUE(mine && other);
  BackupRunRecord run = new_run(kT0, /*force=*/true);
  const auto before = std::chrono::system_clock::now();
  ASSERT_TRUE(mine->begin_backup_run(run));

  BackupRunRecord seen = get_run(*other, run.id);
  EXPECT_EQ(seen.id, run.id);
  EXPECT_EQ(seen.status, "running");
  EXPECT_EQ(seen.phase, "starting");
  EXPECT_TRUE(seen.force);
  EXPECT_EQ(seen.job_rows + seen.provider_status_rows + seen.uploaded_bytes +
                seen.deleted_job_rows + seen.deleted_provider_status_rows,
            0);
  EXPECT_EQ(seen.started_at, kT0);  // the caller's clock...
  EXPECT_FALSE(seen.finished_at);
  EXPECT_FALSE(seen.result);
  EXPECT_FALSE(seen.error);
  EXPECT_FALSE(seen.heartbeat_stale);
  // ...and the heartbeat the database's (this host's: the suite's server is local).
  ASSERT_TRUE(seen.heartbeat_at);
  EXPECT_GE(*seen.heartbeat_at,
            std::chrono::time_point_cast<std::chrono::milliseconds>(before) - 1s);
  EXPECT_LE(*seen.heartbeat_at, std::chrono::system_clock::now() + 1s);
  EXPECT_EQ(running_id(*other, 60s), run.id);

  // Progress, as the reporter writes it.
  run.phase = "upload";
  run.job_rows = 1'000'000;
  run.provider_status_rows = 42;
  run.uploaded_bytes = 5'000'000'000;  // past 32 bits
  ASSERT_TRUE(mine->update_backup_run(run));
  seen = get_run(*other, run.id);
  EXPECT_EQ((std::tuple{seen.status, seen.phase, seen.job_rows, seen.provider_status_rows,
                        seen.uploaded_bytes}),
            (std::tuple{std::string("running"), std::string("upload"), int64_t{1'000'000},
                        int64_t{42}, int64_t{5'000'000'000}}));

  // The end, with the result's JSON text as it was written.
  run.status = "succeeded";
  run.phase = "done";
  run.deleted_job_rows = 999'999;
  run.deleted_provider_status_rows = 42;
  run.finished_at = kT0 + 90s;
  run.result = R"({"outcome":"BACKED_UP","note":")" + kAwkward + R"("})";
  ASSERT_TRUE(mine->update_backup_run(run));
  seen = get_run(*other, run.id);
  EXPECT_EQ(seen.status, "succeeded");
  EXPECT_EQ(seen.phase, "done");
  EXPECT_EQ(seen.deleted_job_rows, 999'999);
  EXPECT_EQ(seen.deleted_provider_status_rows, 42);
  EXPECT_EQ(seen.finished_at, kT0 + 90s);
  EXPECT_EQ(seen.result, run.result);
  EXPECT_FALSE(seen.error);
  EXPECT_FALSE(running_id(*other, 60s));

  // A failed run keeps its error; an unknown run is nobody's.
  BackupRunRecord failed = new_run(kT0 + 1h);
  ASSERT_TRUE(mine->begin_backup_run(failed));
  failed.status = "failed";
  failed.phase = "export";
  failed.error = "backup export: " + kAwkward;
  failed.finished_at = kT0 + 1h + 1s;
  ASSERT_TRUE(mine->update_backup_run(failed));
  seen = get_run(*other, failed.id);
  EXPECT_EQ((std::tuple{seen.status, seen.phase, seen.error}),
            (std::tuple{std::string("failed"), std::string("export"), failed.error}));
  const std::string unknown = new_uuid_v7(kT0);
  auto none = other->get_backup_run(unknown, 60s);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);
  BackupRunRecord ghost = new_run(kT0);
  auto updated = mine->update_backup_run(ghost);
  ASSERT_FALSE(updated);
  EXPECT_EQ(updated.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformance, ABackupRunWithoutARecentHeartbeatReadsStaleUntilItWritesAgain) {
  auto backups = open_backups(url_);
  ASSERT_TRUE(backups);
  BackupRunRecord run = new_run(kT0);
  ASSERT_TRUE(backups->begin_backup_run(run));
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(get_run(*backups, run.id, 20ms).heartbeat_stale);
  EXPECT_FALSE(get_run(*backups, run.id, 60s).heartbeat_stale);
  EXPECT_FALSE(running_id(*backups, 20ms));  // not the run in progress by that bound
  EXPECT_EQ(running_id(*backups, 60s), run.id);

  // A write is a heartbeat: fresh again, even with nothing new to say.
  ASSERT_TRUE(backups->update_backup_run(run));
  EXPECT_FALSE(get_run(*backups, run.id, 5s).heartbeat_stale);
  EXPECT_EQ(running_id(*backups, 5s), run.id);

  // A run that ended is never stale, however old its last write.
  run.status = "succeeded";
  run.finished_at = kT0 + 1s;
  ASSERT_TRUE(backups->update_backup_run(run));
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(get_run(*backups, run.id, 20ms).heartbeat_stale);
}

TEST_P(StoreConformance, BeginningABackupRunEndsTheRunsLeftRunningAsInterrupted) {
  auto dead = open_backups(url_);  // the instance that was killed mid-run
  auto next = open_backups(url_);
  ASSERT_TRUE(dead && next);
  BackupRunRecord left = new_run(kT0);
  ASSERT_TRUE(dead->begin_backup_run(left));
  left.phase = "delete";
  left.job_rows = 10;
  left.deleted_job_rows = 4;
  ASSERT_TRUE(dead->update_backup_run(left));
  const auto last_heartbeat = get_run(*next, left.id).heartbeat_at;
  ASSERT_TRUE(last_heartbeat);
  BackupRunRecord ended = new_run(kT0 + 1h);  // already over: begin does not touch it
  ASSERT_TRUE(dead->begin_backup_run(ended));
  ended.status = "succeeded";
  ended.finished_at = kT0 + 1h + 1s;
  ASSERT_TRUE(dead->update_backup_run(ended));
  // `ended` began after `left`, which it ended: run `left` again as a second orphan.
  BackupRunRecord orphan = left;
  orphan.id = new_uuid_v7(kT0 + 2h);
  orphan.started_at = kT0 + 2h;
  orphan.phase = "starting";
  ASSERT_TRUE(dead->begin_backup_run(orphan));

  BackupRunRecord run = new_run(kT0 + 3h);
  ASSERT_TRUE(next->begin_backup_run(run));
  BackupRunRecord seen = get_run(*next, orphan.id);
  EXPECT_EQ(seen.status, "failed");
  EXPECT_EQ(seen.error, std::string(store_detail::kInterruptedRun));
  EXPECT_EQ(seen.phase, "starting");  // where it stopped
  EXPECT_EQ(seen.finished_at, seen.heartbeat_at);
  seen = get_run(*next, left.id);  // ended by `ended`'s begin, with its progress kept
  EXPECT_EQ((std::tuple{seen.status, seen.phase, seen.job_rows, seen.deleted_job_rows}),
            (std::tuple{std::string("failed"), std::string("delete"), int64_t{10}, int64_t{4}}));
  EXPECT_EQ(seen.finished_at, last_heartbeat);
  EXPECT_EQ(get_run(*next, ended.id).status, "succeeded");
  EXPECT_EQ(get_run(*next, run.id).status, "running");
  EXPECT_EQ(running_id(*dead, 60s), run.id);
}

TEST_P(StoreConformance, TheBackupRunsMigrationAddsTheirTableToAnExistingDatabase) {
  const int migration = runs_migration(GetParam());
  std::string url = database_before(migration);
  EXPECT_EQ(migrate_store(url), migrations_from(migration));
  auto backups = open_backups(url);
  ASSERT_TRUE(backups);
  BackupRunRecord run = new_run(kT0);
  ASSERT_TRUE(backups->begin_backup_run(run));
  EXPECT_EQ(get_run(*backups, run.id).status, "running");
}

}  // namespace
}  // namespace rtjobs::store_conformance
