// SqliteBackupStore: the BackupStore on an SQLite database file, with two connections of its
// own: a reader for the export (one read transaction: under WAL a stable snapshot that never
// blocks the server's writer) and a writer for deletions, restores and backup rows (short
// BEGIN IMMEDIATE transactions, waiting on the server's writer through the busy timeout). A
// deletion batch is one such transaction of two set-based statements, the batch's keys bound as
// JSON arrays.
//
// The run lock is an exclusive flock() on "<database>.backup-lock", so two runs never overlap,
// in one process or several. SQLite serves one instance per database file, so that instance
// always leads the cron.
//
// Thread-safety: export_eligible and insert_rows are for one thread at a time (the run lock's
// holder); delete_backed_up, the history reads and insert_backup are guarded by a mutex (so
// deletion batches from several threads run one after the other).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/backup_store.hpp"
#include "store/sqlite/sqlite_connection.hpp"

namespace rtjobs {

class SqliteBackupStore final : public BackupStore {
 public:
  // `path` must name a database file (an in-memory database is private to its connection).
  static Result<std::unique_ptr<SqliteBackupStore>> open(const std::string& path);

  std::string_view backend() const override { return "sqlite"; }
  Result<std::optional<Timestamp>> last_backup_at() override;
  Result<std::vector<BackupRecord>> list_backups(int limit) override;
  Result<void> insert_backup(const BackupRecord& record) override;
  Result<void> export_eligible(Date cutoff, const ExportSink& sink) override;
  Result<DeleteCounts> delete_backed_up(const std::vector<ExportedJob>& jobs,
                                        const std::vector<ExportedStatus>& statuses) override;
  Result<int64_t> insert_rows(BackupTable table, const std::vector<Row>& rows) override;
  Result<std::unique_ptr<BackupLock>> try_lock_run() override;
  Result<std::unique_ptr<BackupLeadership>> leadership() override;

  // --- Backup runs (sqlite_backup_runs.cpp): on the writer, under writer_mutex_; heartbeats
  // and the staleness bound on the database host's clock (strftime('now')) ---
  Result<void> begin_backup_run(const BackupRunRecord& run) override;
  Result<void> update_backup_run(const BackupRunRecord& run) override;
  Result<std::optional<BackupRunRecord>> get_backup_run(
      std::string_view id, std::chrono::milliseconds stale_after) override;
  Result<std::optional<BackupRunRecord>> running_backup_run(
      std::chrono::milliseconds stale_after) override;

 private:
  using Connection = store_detail::SqliteConnection;
  SqliteBackupStore(std::string path, std::unique_ptr<Connection> reader,
                    std::unique_ptr<Connection> writer)
      : path_(std::move(path)), reader_(std::move(reader)), writer_(std::move(writer)) {}

  const std::string path_;
  std::unique_ptr<Connection> reader_;  // used by the run lock's holder only
  std::mutex writer_mutex_;
  std::unique_ptr<Connection> writer_;  // guarded by writer_mutex_
};

}  // namespace rtjobs
