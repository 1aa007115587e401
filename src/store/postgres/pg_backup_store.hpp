// PgBackupStore: the BackupStore on PostgreSQL, with a small connection pool of its own.
//
// The export runs in one REPEATABLE READ READ ONLY transaction: one COPY ... TO STDOUT per table
// (jobs by id, provider-status rows by (job_id, id)), read row by row as the server streams it,
// so one snapshot covers both tables and memory stays flat. Each deletion batch is one
// transaction of set-based statements (the batch's keys travel as arrays); it first locks the
// exported jobs that have provider-status rows (FOR UPDATE), so a concurrent change either waits
// or makes the job stay with all its rows. Its commit does not wait for the disk (kBeginDelete
// in the .cpp says why that is safe).
//
// Run lock and cron leadership are session advisory locks (pg_try_advisory_lock) on dedicated
// connections: the run lock for the length of one run, the leadership for as long as the
// instance lives. A dead process's connection drops, and with it the lock, so another instance
// takes over at its next check.
//
// Thread-safety: like SqliteBackupStore; the pool is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "store/backup_store.hpp"
#include "store/postgres/pg_connection.hpp"

namespace rtjobs {

class PgBackupStore final : public BackupStore {
 public:
  static constexpr int64_t kRunLockKey = 0x72746a6f627301;     // "rtjobs" 01
  static constexpr int64_t kLeaderLockKey = 0x72746a6f627302;  // "rtjobs" 02

  // Connects once, so a bad URL fails here.
  static Result<std::unique_ptr<PgBackupStore>> open(const std::string& url);

  std::string_view backend() const override { return "postgresql"; }
  Result<std::optional<Timestamp>> last_backup_at() override;
  Result<std::vector<BackupRecord>> list_backups(int limit) override;
  Result<void> insert_backup(const BackupRecord& record) override;
  Result<void> export_eligible(Date cutoff, const ExportSink& sink) override;
  Result<DeleteCounts> delete_backed_up(const std::vector<ExportedJob>& jobs,
                                        const std::vector<ExportedStatus>& statuses) override;
  Result<RestoreCounts> restore_rows(BackupTable table, const RestoreRows& next) override;
  Result<std::unique_ptr<BackupLock>> try_lock_run() override;
  Result<std::unique_ptr<BackupLeadership>> leadership() override;

  // --- Backup runs (pg_backup_runs.cpp): on the pool; heartbeats and the staleness bound on
  // the server's clock (now()), so instances whose clocks differ agree ---
  Result<void> begin_backup_run(const BackupRunRecord& run) override;
  Result<void> update_backup_run(const BackupRunRecord& run) override;
  Result<std::optional<BackupRunRecord>> get_backup_run(
      std::string_view id, std::chrono::milliseconds stale_after) override;
  Result<std::optional<BackupRunRecord>> running_backup_run(
      std::chrono::milliseconds stale_after) override;

 private:
  explicit PgBackupStore(const std::string& url) : url_(url), pool_(url, 3) {}

  const std::string url_;
  store_detail::PgPool pool_;
};

}  // namespace rtjobs
