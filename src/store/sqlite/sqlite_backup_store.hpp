// SqliteBackupStore: the BackupStore on an SQLite database file. It reads the export on a
// connection of its own (one read transaction: under WAL a stable snapshot that never blocks
// the writer) and writes deletions, restores and backup rows on the process's one writer:
// inside `rtjobs serve`, the main SqliteStore's write connection under its write mutex
// (SqliteStore::shared_writer), so the backup's writes queue behind the server's in the process
// instead of meeting them in SQLite's busy timeout; in `rtjobs backup run` and `rtjobs restore`,
// which run without a server, a write connection of its own. Each write is a BEGIN IMMEDIATE
// transaction ended before the mutex is let go. A deletion batch is one such transaction of two
// set-based statements, the batch's keys bound as JSON arrays. A restore is one transaction for
// the whole file: it holds the database's write lock until it commits.
//
// The run lock is an exclusive flock() on "<database>.backup-lock", so two runs never overlap,
// in one process or several. SQLite serves one instance per database file, so that instance
// always leads the cron.
//
// Thread-safety: export_eligible and restore_rows are for one thread at a time (the run lock's
// holder); delete_backed_up, the history reads and insert_backup are guarded by the writer's
// mutex (so deletion batches from several threads run one after the other).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "store/backup_store.hpp"
#include "store/sqlite/sqlite_connection.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs {

class SqliteBackupStore final : public BackupStore {
 public:
  // `path` must name a database file (an in-memory database is private to its connection).
  // With `main` (the server's store on that file, which must outlive this one), writes go
  // through its write connection; without it, through a connection of this store's own.
  static Result<std::unique_ptr<SqliteBackupStore>> open(const std::string& path,
                                                         SqliteStore* main = nullptr);

  std::string_view backend() const override { return "sqlite"; }
  Result<std::optional<Timestamp>> last_backup_at() override;
  Result<std::vector<BackupRecord>> list_backups(int limit) override;
  Result<void> insert_backup(const BackupRecord& record) override;
  Result<void> export_eligible(Date cutoff, const ExportSink& sink) override;
  Result<DeleteCounts> delete_backed_up(const std::vector<ExportedJob>& jobs,
                                        const std::vector<ExportedStatus>& statuses) override;
  Result<RestoreCounts> restore_rows(BackupTable table, const RestoreRows& next) override;
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
  // `shared` set: write through it (own_writer null); else through `own_writer`.
  SqliteBackupStore(std::string path, std::unique_ptr<Connection> reader,
                    std::unique_ptr<Connection> own_writer,
                    std::optional<SqliteStore::SharedWriter> shared)
      : path_(std::move(path)),
        reader_(std::move(reader)),
        own_writer_(std::move(own_writer)),
        writer_mutex_(shared ? shared->mutex : own_writer_mutex_),
        writer_(shared ? &shared->connection : own_writer_.get()) {}

  const std::string path_;
  std::unique_ptr<Connection> reader_;  // used by the run lock's holder only
  std::mutex own_writer_mutex_;
  std::unique_ptr<Connection> own_writer_;  // null inside `rtjobs serve`
  // The process's one writer: the main store's, or own_writer_ and its mutex.
  std::mutex& writer_mutex_;
  Connection* const writer_;  // guarded by writer_mutex_
};

}  // namespace rtjobs
