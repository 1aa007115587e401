// PgBackupStore's backup runs (backup_store.hpp, the backup runs block): the backup_run rows, on
// the store's pool. Heartbeats and the staleness bound are both the server's now(), so every
// instance judges a run's owner by the same clock, whatever its own says.
#include <algorithm>

#include "store/postgres/pg_backup_store.hpp"

namespace rtjobs {

using store_detail::PgRow;
using store_detail::SqlValue;

namespace {

const std::string kColumns(store_detail::kBackupRunColumns);

// A heartbeat older than the bound `ms` (a parameter, in milliseconds).
std::string stale(std::string_view ms) {
  return "heartbeat_at < now() - " + std::string(ms) + "::bigint * interval '1 millisecond'";
}

// The columns read_backup_run reads, with the stale flag by the bound `ms`.
std::string select_runs(std::string_view ms) {
  return "SELECT " + kColumns + ", heartbeat_at, status = 'running' AND " + stale(ms) +
         " FROM backup_run";
}

Result<std::optional<BackupRunRecord>> first_run(store_detail::PgPool& pool, const std::string& sql,
                                                 const std::vector<SqlValue>& params) {
  auto c = pool.acquire();
  if (!c) return std::unexpected(c.error().context("reading backup runs"));
  auto r = (*c)->query(sql, params);
  if (!r) return std::unexpected(r.error().context("reading backup runs"));
  if (r->rows() == 0) return std::nullopt;
  auto run = store_detail::read_backup_run(PgRow(*r, 0));
  if (!run) return std::unexpected(run.error());
  return std::optional<BackupRunRecord>(std::move(*run));
}

int64_t bound_ms(std::chrono::milliseconds stale_after) {
  return std::max<int64_t>(stale_after.count(), 0);
}

}  // namespace

Result<void> PgBackupStore::begin_backup_run(const BackupRunRecord& run) {
  // One statement: the runs left "running" end and the new one starts atomically.
  static const std::string sql =
      "WITH ended AS (UPDATE backup_run SET status = 'failed', error = $14,"
      " finished_at = heartbeat_at WHERE status = 'running')"
      " INSERT INTO backup_run (" +
      kColumns + ", heartbeat_at) VALUES (" + store_detail::placeholders('$', 13) + ", now())";
  std::vector<SqlValue> params = store_detail::backup_run_values(run);
  params.emplace_back(std::string(store_detail::kInterruptedRun));
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("recording backup run " + run.id));
  if (auto r = (*c)->query(sql, params); !r) {
    return std::unexpected(r.error().context("recording backup run " + run.id));
  }
  return {};
}

Result<void> PgBackupStore::update_backup_run(const BackupRunRecord& run) {
  static const std::string sql =
      "UPDATE backup_run SET status = $2, phase = $3, job_rows = $4, provider_status_rows = $5,"
      " uploaded_bytes = $6, deleted_job_rows = $7, deleted_provider_status_rows = $8,"
      " finished_at = $9, result = $10, error = $11, heartbeat_at = now() WHERE id = $1::uuid";
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("writing backup run " + run.id));
  auto r = (*c)->query(sql, store_detail::backup_run_update_values(run));
  if (!r) return std::unexpected(r.error().context("writing backup run " + run.id));
  if (std::string_view(PQcmdTuples(const_cast<PGresult*>(r->raw()))) == "0") {
    return fail(ErrorCode::kNotFound, "no backup run " + run.id);
  }
  return {};
}

Result<std::optional<BackupRunRecord>> PgBackupStore::get_backup_run(
    std::string_view id, std::chrono::milliseconds stale_after) {
  static const std::string sql = select_runs("$2") + " WHERE id = $1::uuid";
  return first_run(pool_, sql, {std::string(id), bound_ms(stale_after)});
}

Result<std::optional<BackupRunRecord>> PgBackupStore::running_backup_run(
    std::chrono::milliseconds stale_after) {
  static const std::string sql = select_runs("$1") + " WHERE status = 'running' AND NOT " +
                                 stale("$1") + " ORDER BY started_at DESC, id DESC LIMIT 1";
  return first_run(pool_, sql, {bound_ms(stale_after)});
}

}  // namespace rtjobs
