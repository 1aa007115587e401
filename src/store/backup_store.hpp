// BackupStore: the database side of backup-and-delete and restore (SPEC section 6), separate
// from the main Store and opened from the same database URL on connections of its own. No SQL
// lives outside src/store/.
//
// The eligible set: jobs in FINISHED, FAILED, SKIPPED or CANCELLED whose scheduled_for is
// before `cutoff` and whose settlement is not pending (SPEC section 8: still followed), and every
// provider-status row of those jobs. export_eligible() streams both from one consistent snapshot
// (PostgreSQL: one COPY per table in a REPEATABLE READ read-only transaction; SQLite: one read
// transaction with stepping statements), so memory stays flat.
//
// delete_backed_up() deletes exactly what was exported and nothing else: a provider-status row
// only by its exported id and only with its job, a job only if its id and updated_at still
// equal the exported ones, it is still terminal and no provider-status row of it remains (a job
// with provider-status rows is locked first, so a concurrent POST /retry either waits or wins
// and the job stays with all its rows). A row that changed since the export stays, and the next
// run backs it up again.
//
// Thread-safety: one BackupStore is used by one backup run or restore at a time (BackupRunner
// holds the run lock), but a run calls delete_backed_up() from several threads at once, with
// disjoint batches; history reads may come from any thread (they take their own connection).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "store/record_codec.hpp"

namespace rtjobs {

// One row of recurring_transfer_backup.
struct BackupRecord {
  std::string id;
  Timestamp backup_at{};
  Timestamp cutoff{};  // eligible jobs were scheduled before this instant's date
  int64_t job_rows = 0;
  int64_t provider_status_rows = 0;
  std::string objects;    // JSON array of object URLs
  int64_t bytes = 0;      // over all objects
  std::string checksums;  // JSON object: object URL -> "sha256:<hex>"
  Timestamp created_at{};
};

enum class BackupTable { kJobs, kProviderStatuses };

// The table's name as in SPEC section 1.
std::string_view table_name(BackupTable table);
std::optional<BackupTable> parse_backup_table(std::string_view name);

// A job as exported: what its deletion must still match.
struct ExportedJob {
  std::string id;
  std::string updated_at;  // as the database printed it
};

struct ExportedStatus {
  std::string id;
  std::string job_id;
};

// Receives exported rows; columns in the table's column order (record_codec's lists), as the
// database prints them. Jobs come in id order; provider-status rows in (job_id, id) order.
struct ExportSink {
  std::function<Result<void>(const store_detail::RowView&)> job;
  std::function<Result<void>()> jobs_done;  // after the last job, before the first status row
  std::function<Result<void>(const store_detail::RowView&)> provider_status;
};

struct DeleteCounts {
  int64_t jobs = 0;
  int64_t provider_statuses = 0;
};

struct BackupRunRecord;  // a backup run's row: the block at the end of this file

// Held while a backup runs; releasing it (destruction) lets the next run start.
class BackupLock {
 public:
  virtual ~BackupLock() = default;
};

// Leadership of the backup cron among instances sharing the database.
class BackupLeadership {
 public:
  virtual ~BackupLeadership() = default;
  // True while this instance leads; retries taking the lead when it does not (or lost it).
  virtual Result<bool> check() = 0;
};

class BackupStore {
 public:
  virtual ~BackupStore() = default;

  virtual std::string_view backend() const = 0;

  // The greatest backup_at, if any backup row exists.
  virtual Result<std::optional<Timestamp>> last_backup_at() = 0;
  // The newest `limit` rows, newest first.
  virtual Result<std::vector<BackupRecord>> list_backups(int limit) = 0;
  virtual Result<void> insert_backup(const BackupRecord& record) = 0;

  // Streams the eligible set (see the contract above) from one snapshot.
  virtual Result<void> export_eligible(Date cutoff, const ExportSink& sink) = 0;

  // Deletes one batch in one transaction. `statuses` must hold every exported provider-status
  // row of the jobs in `jobs` (both in export order).
  virtual Result<DeleteCounts> delete_backed_up(const std::vector<ExportedJob>& jobs,
                                                const std::vector<ExportedStatus>& statuses) = 0;

  // Restore: rows of one backup file, values in the table's column order, already checked
  // (backup/backup_tables.hpp), each with the line of the file it starts on.
  using Row = std::vector<store_detail::SqlValue>;
  struct RestoreRow {
    int64_t line = 0;
    Row values;
  };
  // Fills `rows` (cleared first) with the next rows to load; false when none are left.
  using RestoreRows = std::function<Result<bool>(std::vector<RestoreRow>& rows)>;
  struct RestoreCounts {
    int64_t inserted = 0;
    int64_t skipped = 0;  // already present
  };
  // Loads every row `next` hands out in ONE transaction: all of them, or none when any fails
  // (kInvalidArgument naming the line of the row refused). A row whose id is present with the
  // same identity (a job's transfer and sequence; a status row's job and transfer) is skipped.
  // Refused: a row whose parent is not in the database (a job's transfer; a status row's job,
  // of the row's transfer), a job whose transfer and sequence belong to another job, a row
  // whose id another row holds.
  virtual Result<RestoreCounts> restore_rows(BackupTable table, const RestoreRows& next) = 0;

  // The run lock: nullptr when another run (any instance) holds it.
  virtual Result<std::unique_ptr<BackupLock>> try_lock_run() = 0;
  // The cron's leadership, held on a connection of its own (PostgreSQL: a session advisory
  // lock; SQLite: one instance per database file, so always the leader).
  virtual Result<std::unique_ptr<BackupLeadership>> leadership() = 0;

  // --- Backup runs: the rows behind POST /v1/backups and GET /v1/backups/{id} --------------
  // (BackupRunRecord, at the end of this file, says what they hold; heartbeats and the
  // staleness bound are the database's clock, so instances whose clocks differ agree.)

  // Ends every run still "running" as failed (error kInterruptedRun, finished at its last
  // heartbeat) and inserts `run` (status "running", heartbeat now), in one transaction. The
  // caller holds the run lock, so none of the runs it ends had a live owner.
  virtual Result<void> begin_backup_run(const BackupRunRecord& run) = 0;
  // Writes the run's status, phase, counts, finished_at, result and error, and its heartbeat
  // (now). kNotFound when there is no such run.
  virtual Result<void> update_backup_run(const BackupRunRecord& run) = 0;
  // The run `id` (a UUID), with heartbeat_stale set when it is "running" and its last heartbeat
  // is older than `stale_after`.
  virtual Result<std::optional<BackupRunRecord>> get_backup_run(
      std::string_view id, std::chrono::milliseconds stale_after) = 0;
  // The newest "running" run whose last heartbeat is within `stale_after`, if any.
  virtual Result<std::optional<BackupRunRecord>> running_backup_run(
      std::chrono::milliseconds stale_after) = 0;
};

// Opens the BackupStore of a database URL (same forms as open_store). Does not migrate. With
// `main_store` (the server's Store, opened from the same URL, which must outlive the backup
// store), an SQLite backup store writes through that store's one write connection, so the
// process has one SQLite writer (`rtjobs serve`); without it (`rtjobs backup run`, `rtjobs
// restore`), through one write connection of its own.
Result<std::unique_ptr<BackupStore>> open_backup_store(std::string_view database_url,
                                                       Store* main_store = nullptr);

// Shared by both implementations.
namespace store_detail {
extern const std::string_view kBackupColumns;  // recurring_transfer_backup, in table order
// A job's settlement is no longer followed (SPEC section 8); ANDed to a job's terminal status.
inline constexpr std::string_view kNotFollowed =
    " AND coalesce(settlement_status, '') <> 'pending'";
inline constexpr std::string_view kTerminalStatuses =
    "('FINISHED', 'FAILED', 'SKIPPED', 'CANCELLED')";
std::vector<SqlValue> backup_record_values(const BackupRecord& record);
Result<BackupRecord> read_backup_record(const RowView& row);
// Restore's insert of one row of `table`, skipping a row whose id is present; `placeholder` is
// the backend's parameter style ('$' or '?').
std::string restore_insert_sql(BackupTable table, char placeholder);
// Why restore refuses the row at `line` (restore_rows' contract), as its error. `problem` is
// what the backend's check found: for a job "transfer" (missing), "id" (another job's) or
// "sequence" (another job's); for a status row "job" (missing) or "id" (another row's).
Error restore_refusal(BackupTable table, int64_t line, const std::vector<SqlValue>& values,
                      std::string_view problem);
}  // namespace store_detail

// --- Backup runs ----------------------------------------------------------------------------
// One row of backup_run (SQLite migration 6, PostgreSQL 10) per run of the backup, whoever
// started it (POST /v1/backups, the cron, `rtjobs backup run`), so any instance sharing the
// database answers GET /v1/backups/{id}. The process running it writes the row: created
// "running" with the run lock held, then its phase and counts with a heartbeat (about once a
// second, backup_runs.hpp), then "succeeded" with the result or "failed" with the error, before
// it lets the run lock go. A row left "running" by a process that died keeps its last
// heartbeat: readers see it stale, and the next run ends it (begin_backup_run).
struct BackupRunRecord {
  std::string id;      // UUID v7
  std::string status;  // "running", "succeeded" or "failed"
  std::string phase;   // backup_runner.hpp's BackupPhase, as text
  bool force = false;
  // Progress so far: rows exported, CSV bytes uploaded, rows deleted.
  int64_t job_rows = 0;
  int64_t provider_status_rows = 0;
  int64_t uploaded_bytes = 0;
  int64_t deleted_job_rows = 0;
  int64_t deleted_provider_status_rows = 0;
  Timestamp started_at{};
  std::optional<Timestamp> finished_at;
  std::optional<std::string> result;  // JSON object text, when succeeded
  std::optional<std::string> error;   // when failed
  // Read only (written by the store from the database's clock):
  std::optional<Timestamp> heartbeat_at;
  bool heartbeat_stale = false;  // "running" with no heartbeat within the reader's bound
};

namespace store_detail {
// The error of a run ended by begin_backup_run because its owner was gone.
inline constexpr std::string_view kInterruptedRun =
    "interrupted: the process running it stopped (killed, or cut off from the database) before "
    "it finished; rows it had not deleted are backed up again by the next run";
extern const std::string_view kBackupRunColumns;  // backup_run without heartbeat_at, in order
inline constexpr int kBackupRunColumnCount = 13;
std::vector<SqlValue> backup_run_values(const BackupRunRecord& run);
// update_backup_run's values: id, status, phase, the five counts, finished_at, result, error.
std::vector<SqlValue> backup_run_update_values(const BackupRunRecord& run);
// A row of kBackupRunColumns followed by heartbeat_at and the stale flag (true/t/1).
Result<BackupRunRecord> read_backup_run(const RowView& row);
}  // namespace store_detail

}  // namespace rtjobs
