// SqliteBackupStore's backup runs (backup_store.hpp, the backup runs block): the backup_run rows,
// on the store's writer connection. Heartbeats and the staleness bound are both strftime('now')
// of SQLite, the clock of the one host that serves the database file.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "store/sqlite/sqlite_backup_store.hpp"

namespace rtjobs {

using store_detail::RowView;
using store_detail::SqlValue;

namespace {

const std::string kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
const std::string kColumns(store_detail::kBackupRunColumns);

// A heartbeat older than the bound `modifier` (a parameter: modifier() below).
std::string stale(std::string_view modifier) {
  return "heartbeat_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', " + std::string(modifier) + ")";
}

// The columns read_backup_run reads, with the stale flag by the bound `modifier`.
std::string select_runs(std::string_view modifier) {
  return "SELECT " + kColumns + ", heartbeat_at, status = 'running' AND " + stale(modifier) +
         " FROM backup_run";
}

// The bound as a modifier of SQLite's date functions ("-30.000 seconds").
std::string modifier(std::chrono::milliseconds stale_after) {
  const int64_t ms = std::max<int64_t>(stale_after.count(), 0);
  char text[48];
  std::snprintf(text, sizeof text, "-%" PRId64 ".%03" PRId64 " seconds", ms / 1000, ms % 1000);
  return text;
}

}  // namespace

Result<void> SqliteBackupStore::begin_backup_run(const BackupRunRecord& run) {
  static const std::string end_sql =
      "UPDATE backup_run SET status = 'failed', error = ?1, finished_at = heartbeat_at"
      " WHERE status = 'running'";
  static const std::string insert_sql = "INSERT INTO backup_run (" + kColumns +
                                        ", heartbeat_at) VALUES (" +
                                        store_detail::placeholders('?', 13) + ", " + kNow + ")";
  std::lock_guard lock(writer_mutex_);
  store_detail::SqliteTransaction txn(*writer_);
  auto r = [&]() -> Result<void> {
    if (auto b = txn.begin(); !b) return b;
    if (auto u = writer_->run(end_sql, {std::string(store_detail::kInterruptedRun)}); !u) {
      return std::unexpected(u.error());
    }
    if (auto i = writer_->run(insert_sql, store_detail::backup_run_values(run)); !i) {
      return std::unexpected(i.error());
    }
    return txn.commit();
  }();
  if (!r) return std::unexpected(r.error().context("recording backup run " + run.id));
  return {};
}

Result<void> SqliteBackupStore::update_backup_run(const BackupRunRecord& run) {
  static const std::string sql =
      "UPDATE backup_run SET status = ?2, phase = ?3, job_rows = ?4, provider_status_rows = ?5,"
      " uploaded_bytes = ?6, deleted_job_rows = ?7, deleted_provider_status_rows = ?8,"
      " finished_at = ?9, result = ?10, error = ?11, heartbeat_at = " +
      kNow + " WHERE id = ?1";
  std::lock_guard lock(writer_mutex_);
  auto r = writer_->run(sql, store_detail::backup_run_update_values(run));
  if (!r) return std::unexpected(r.error().context("writing backup run " + run.id));
  if (*r == 0) return fail(ErrorCode::kNotFound, "no backup run " + run.id);
  return {};
}

namespace {

// Runs a select of kSelect's columns; the first row, if any.
Result<std::optional<BackupRunRecord>> first_run(store_detail::SqliteConnection& conn,
                                                 const std::string& sql,
                                                 const std::vector<SqlValue>& params) {
  std::optional<BackupRunRecord> found;
  auto r = conn.run(sql, params, [&](const RowView& row) -> Result<void> {
    auto run = store_detail::read_backup_run(row);
    if (!run) return std::unexpected(run.error());
    if (!found) found = std::move(*run);
    return {};
  });
  if (!r) return std::unexpected(r.error().context("reading backup runs"));
  return found;
}

}  // namespace

Result<std::optional<BackupRunRecord>> SqliteBackupStore::get_backup_run(
    std::string_view id, std::chrono::milliseconds stale_after) {
  static const std::string sql = select_runs("?2") + " WHERE id = ?1";
  std::lock_guard lock(writer_mutex_);
  return first_run(*writer_, sql, {std::string(id), modifier(stale_after)});
}

Result<std::optional<BackupRunRecord>> SqliteBackupStore::running_backup_run(
    std::chrono::milliseconds stale_after) {
  static const std::string sql = select_runs("?1") + " WHERE status = 'running' AND NOT " +
                                 stale("?1") + " ORDER BY started_at DESC, id DESC LIMIT 1";
  std::lock_guard lock(writer_mutex_);
  return first_run(*writer_, sql, {modifier(stale_after)});
}

}  // namespace rtjobs
