// BackupRuns: each run of the backup as a resource (POST /v1/backups answers 202 with one, GET
// /v1/backups/{id} shows it), recorded in the database (backup_store.hpp, the backup runs
// block), so any instance sharing the database shows any run.
//
//   auto run = runs.start(force, done);  // the "running" record; the run goes on its own thread
//   auto seen = runs.get(run->id);       // its phase and counts, as last written
//   auto result = runs.run(force);       // the same on the caller's thread (cron, CLI)
//
// A run takes the run lock (another run anywhere: kConflict, reason "backup_in_progress",
// naming that run), then records itself "running" (begin_backup_run also ends any run a dead
// process left "running": with the lock held, none has a live owner). While BackupRunner works,
// a reporter thread writes the run's phase and counts when they changed, at most every
// `report_every`, and at least every `heartbeat` (its proof of life) even when nothing moves
// (one long upload, one long deletion batch). The last write ends the run "succeeded" with the
// result or "failed" with the error; then the run lock is released and `done` is called.
//
// A killed process leaves its run "running", with its last heartbeat. get() shows such a run
// as failed (kInterruptedRun) once that heartbeat is older than `stale_after` on the database's
// clock. A heartbeat rather than "is the run lock still held": whether the lock is held by that
// run's process is not something another instance can ask (PostgreSQL's advisory lock would
// need the owner's backend pid kept and pg_locks read; SQLite's flock can only be tested by
// taking it, which would refuse a concurrent POST for a moment), and a lock held by the next
// run says nothing about this one. The heartbeat is one column read the same way on both
// databases, by the database's clock, so instances whose clocks differ agree. The cost: a
// killed run reads "running" for up to `stale_after`, unless a new run ends it first.
//
// stop() asks the run in progress to stop (it fails at its next row, chunk or batch, see
// BackupProgress), waits for it, and refuses later runs: for the server's shutdown.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "backup/backup_runner.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "store/backup_store.hpp"

namespace rtjobs::backup {

struct BackupRunsOptions {
  std::chrono::milliseconds report_every{1000};  // progress written at most this often
  std::chrono::milliseconds heartbeat{5000};     // and at least this often while running
  std::chrono::milliseconds stale_after{30000};  // no heartbeat for this long: owner gone
};

class BackupRuns {
 public:
  // Called once with the run's result, after the run is recorded and its lock released.
  using Done = std::function<void(const Result<BackupResult>&)>;

  BackupRuns(BackupStore& store, BackupRunner& runner, const Clock& clock,
             BackupRunsOptions options = {});
  ~BackupRuns() { stop(); }
  BackupRuns(const BackupRuns&) = delete;
  BackupRuns& operator=(const BackupRuns&) = delete;

  // Starts a run on a thread of its own and returns its record ("running"); `done` is called
  // on that thread when it ends. When another run holds the run lock: kConflict with reason
  // "backup_in_progress", its message naming the run in progress, whose id goes to
  // `*in_progress` when found (a run of an older binary has no record).
  Result<BackupRunRecord> start(bool force, Done done = {}, std::string* in_progress = nullptr);
  // Runs on the caller's thread, recorded like a started run.
  Result<BackupResult> run(bool force, std::string* in_progress = nullptr);
  // The run `id` (a UUID) as recorded; a "running" run without a recent heartbeat is shown
  // "failed" with kInterruptedRun, finished at its last heartbeat.
  Result<std::optional<BackupRunRecord>> get(std::string_view id);

  void stop();

 private:
  struct Claim {
    std::unique_ptr<BackupLock> lock;
    BackupRunRecord record;
  };
  Result<Claim> claim(bool force, std::string* in_progress);
  // Runs a claimed run on this thread: the reporter, the runner, the last write, the lock.
  Result<BackupResult> execute(Claim claim, const Done& done);

  BackupStore& store_;
  BackupRunner& runner_;
  const Clock& clock_;
  const BackupRunsOptions options_;

  std::mutex mutex_;
  bool stopping_ = false;              // guarded by mutex_
  BackupProgress* current_ = nullptr;  // guarded by mutex_: this process's run in progress
  std::thread thread_;                 // guarded by mutex_: the last started run's thread
};

}  // namespace rtjobs::backup
