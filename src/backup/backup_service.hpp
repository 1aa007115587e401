// BackupService: what the app calls for SPEC section 6 — `rtjobs backup run`, POST/GET
// /v1/backups, `rtjobs restore`, and the cron inside `rtjobs serve`. It owns a BackupStore
// (its own database connections, from RT_DATABASE_URL) and the ObjectStore of RT_BACKUP_URL.
//
//   auto service = BackupService::open(config, clock);          // fails on bad settings
//   auto result = (*service)->run(/*force=*/false);              // BackupResult, plain struct
//   auto cron = (*service)->make_cron();  if (config.backup_enabled) (*cron)->start();
//
// Errors: kConflict with reason "backup_in_progress" when a run is already going (HTTP 409);
// kUnavailable when the database or the object store fails (HTTP 503); kInvalidArgument for a
// bad restore source.
//
// Thread-safety: every method may be called from any thread; runs are serialised by the run
// lock (a second concurrent run fails with backup_in_progress, it does not wait).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backup/backup_cron.hpp"
#include "backup/backup_runner.hpp"
#include "backup/backup_runs.hpp"
#include "backup/object_store.hpp"
#include "backup/restore.hpp"
#include "config/config.hpp"
#include "store/backup_store.hpp"

namespace rtjobs::backup {

struct BackupHistory {
  std::optional<Timestamp> last_backup_at;
  std::vector<BackupRecord> backups;  // newest first
};

class BackupService {
 public:
  using Env = std::function<std::optional<std::string>(const char*)>;

  // Reads the AWS credentials and AWS_REGION from `env` (default: the process environment).
  // `main_store`: the server's Store on RT_DATABASE_URL, inside `rtjobs serve` (it must outlive
  // the service): on SQLite the backup then writes through its one writer (open_backup_store).
  static Result<std::unique_ptr<BackupService>> open(const Config& config, const Clock& clock,
                                                     const Env& env = {},
                                                     Store* main_store = nullptr);

  Result<BackupResult> run(bool force);
  Result<BackupHistory> history(int limit = 100);
  Result<RestoreResult> restore(const std::string& source, const RestoreProgress& progress = {});
  // The cron of RT_BACKUP_SCHEDULE / RT_BACKUP_TIMEZONE, not started.
  Result<std::unique_ptr<BackupCron>> make_cron();

  ObjectStore& objects() { return *objects_; }

 private:
  BackupService(const Config& config, const Clock& clock, S3Settings s3,
                std::unique_ptr<BackupStore> store, std::unique_ptr<ObjectStore> objects);

  const Config config_;
  const Clock& clock_;
  const S3Settings s3_;
  std::unique_ptr<BackupStore> store_;
  std::unique_ptr<ObjectStore> objects_;
  BackupRunner runner_;

  // --- Backup runs (backup_runs.hpp): POST /v1/backups, GET /v1/backups/{id}. run() and the
  // cron go through them too, so every run is recorded and shown. ---
 public:
  // Starts a run on a thread of its own (BackupRuns::start).
  Result<BackupRunRecord> start_run(bool force, BackupRuns::Done done = {},
                                    std::string* in_progress = nullptr) {
    return runs_.start(force, std::move(done), in_progress);
  }
  Result<std::optional<BackupRunRecord>> get_run(std::string_view id) { return runs_.get(id); }
  // At shutdown: a run in progress stops (and is recorded failed), later ones are refused.
  void stop_runs() { runs_.stop(); }

 private:
  BackupRuns runs_{*store_, runner_, clock_};  // last: stopped and joined before the rest goes
};

}  // namespace rtjobs::backup
