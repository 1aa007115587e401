#include "store/postgres/pg_backup_store.hpp"

#include "core/time_format.hpp"

namespace rtjobs {

using store_detail::PgConnection;
using store_detail::PgResult;
using store_detail::PgRow;
using store_detail::SqlValue;

namespace {

const std::string kTerminal(store_detail::kTerminalStatuses);
const std::string kExportJobs = "SELECT " + std::string(store_detail::kJobColumns) +
                                " FROM recurring_transfer_job WHERE status IN " + kTerminal +
                                " AND scheduled_for < $1::date AND id > $2::uuid ORDER BY id "
                                "LIMIT $3";
const std::string kExportStatuses =
    "SELECT " + store_detail::qualified(store_detail::kProviderStatusColumns, "ps") +
    " FROM recurring_transfer_provider_status ps JOIN recurring_transfer_job j"
    " ON j.id = ps.job_id WHERE j.status IN " +
    kTerminal +
    " AND j.scheduled_for < $1::date AND (ps.job_id, ps.id) > ($2::uuid, $3::uuid)"
    " ORDER BY ps.job_id, ps.id LIMIT $4";
// The exported jobs that are still as exported and terminal.
const std::string kUnchangedJobs =
    "SELECT j.id FROM recurring_transfer_job j JOIN unnest($1::uuid[], $2::timestamptz[]) AS "
    "k(id, updated_at) ON j.id = k.id AND j.updated_at = k.updated_at WHERE j.status IN " +
    kTerminal;
const std::string kLockJobs = kUnchangedJobs + " FOR UPDATE OF j";
const std::string kDeleteStatuses =
    "DELETE FROM recurring_transfer_provider_status ps USING unnest($1::uuid[], $2::uuid[]) AS "
    "k(id, job_id) WHERE ps.id = k.id AND ps.job_id = k.job_id AND ps.job_id IN ("
    "SELECT j.id FROM recurring_transfer_job j JOIN unnest($3::uuid[], $4::timestamptz[]) AS "
    "m(id, updated_at) ON j.id = m.id AND j.updated_at = m.updated_at WHERE j.status IN " +
    kTerminal + ")";
const std::string kDeleteJobs =
    "DELETE FROM recurring_transfer_job j USING unnest($1::uuid[], $2::timestamptz[]) AS "
    "k(id, updated_at) WHERE j.id = k.id AND j.updated_at = k.updated_at AND j.status IN " +
    kTerminal +
    " AND NOT EXISTS (SELECT 1 FROM recurring_transfer_provider_status ps WHERE ps.job_id = "
    "j.id)";
const std::string kLastBackup = "SELECT max(backup_at) FROM recurring_transfer_backup";
const std::string kListBackups = "SELECT " + std::string(store_detail::kBackupColumns) +
                                 " FROM recurring_transfer_backup ORDER BY backup_at DESC, id "
                                 "DESC LIMIT $1";
const std::string kInsertBackup = "INSERT INTO recurring_transfer_backup (" +
                                  std::string(store_detail::kBackupColumns) + ") VALUES (" +
                                  store_detail::placeholders('$', 9) + ")";
const std::string kTryLock = "SELECT pg_try_advisory_lock($1)";
const std::string kPing = "SELECT 1";
constexpr std::string_view kMinUuid = "00000000-0000-0000-0000-000000000000";

// A PostgreSQL array literal of values that need no quoting (UUIDs, ISO instants).
template <class T, class F>
std::string array_literal(const std::vector<T>& items, F&& field) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += field(items[i]);
  }
  out += '}';
  return out;
}

// Runs `body` between BEGIN and COMMIT; rolls back when it fails.
template <class T, class F>
Result<T> in_transaction(PgConnection& conn, const char* begin, F&& body) {
  if (auto r = conn.exec(begin); !r) return std::unexpected(r.error());
  Result<T> result = body();
  if (!result) {
    (void)conn.exec("ROLLBACK");
    return result;
  }
  if (auto r = conn.exec("COMMIT"); !r) return std::unexpected(r.error());
  return result;
}

Result<bool> try_advisory_lock(PgConnection& conn, int64_t key) {
  auto r = conn.query(kTryLock, {key});
  if (!r) return std::unexpected(r.error());
  return r->text(0, 0).value_or("f") == "t";
}

class SessionLock final : public BackupLock {
 public:
  explicit SessionLock(std::unique_ptr<PgConnection> conn) : conn_(std::move(conn)) {}
  // Closing the session releases its advisory locks.

 private:
  std::unique_ptr<PgConnection> conn_;
};

class AdvisoryLeadership final : public BackupLeadership {
 public:
  explicit AdvisoryLeadership(std::string url) : url_(std::move(url)) {}

  Result<bool> check() override {
    if (conn_) {
      if (conn_->query(kPing, {})) return true;  // the session, and so the lock, is alive
      conn_.reset();
    }
    auto conn = PgConnection::connect(url_);
    if (!conn) return std::unexpected(conn.error().context("checking backup leadership"));
    auto held = try_advisory_lock(**conn, PgBackupStore::kLeaderLockKey);
    if (!held) return std::unexpected(held.error().context("checking backup leadership"));
    if (*held) conn_ = std::move(*conn);
    return *held;
  }

 private:
  const std::string url_;
  std::unique_ptr<PgConnection> conn_;  // holds the lock while set
};

}  // namespace

Result<std::unique_ptr<PgBackupStore>> PgBackupStore::open(const std::string& url) {
  std::unique_ptr<PgBackupStore> store(new PgBackupStore(url));
  auto c = store->pool_.acquire();
  if (!c) return std::unexpected(c.error());
  return store;
}

Result<std::optional<Timestamp>> PgBackupStore::last_backup_at() {
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("reading the last backup"));
  auto r = (*c)->query(kLastBackup, {});
  if (!r) return std::unexpected(r.error().context("reading the last backup"));
  auto text = r->text(0, 0);
  if (!text) return std::nullopt;
  auto t = parse_timestamp(*text);
  if (!t) return fail(ErrorCode::kInternal, "bad backup_at " + std::string(*text));
  return t;
}

Result<std::vector<BackupRecord>> PgBackupStore::list_backups(int limit) {
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("listing backups"));
  auto r = (*c)->query(kListBackups, {int64_t{limit}});
  if (!r) return std::unexpected(r.error().context("listing backups"));
  std::vector<BackupRecord> out;
  for (int i = 0; i < r->rows(); ++i) {
    auto record = store_detail::read_backup_record(PgRow(*r, i));
    if (!record) return std::unexpected(record.error());
    out.push_back(std::move(*record));
  }
  return out;
}

Result<void> PgBackupStore::insert_backup(const BackupRecord& record) {
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("recording the backup"));
  auto r = (*c)->query(kInsertBackup, store_detail::backup_record_values(record));
  if (!r) return std::unexpected(r.error().context("recording the backup"));
  return {};
}

Result<void> PgBackupStore::export_eligible(Date cutoff, const ExportSink& sink) {
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("exporting"));
  const std::string day = format_date(cutoff);
  const int64_t page = kExportPageRows;
  return in_transaction<void>(
      **c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&]() -> Result<void> {
        std::string after(kMinUuid);
        for (;;) {
          auto r = (*c)->query(kExportJobs, {day, after, page});
          if (!r) return std::unexpected(r.error().context("exporting jobs"));
          for (int i = 0; i < r->rows(); ++i) {
            if (auto w = sink.job(PgRow(*r, i)); !w) return w;
          }
          if (r->rows() < page) break;
          after = std::string(r->text(r->rows() - 1, 0).value_or(kMinUuid));
        }
        if (auto w = sink.jobs_done(); !w) return w;
        std::string after_job(kMinUuid), after_id(kMinUuid);
        for (;;) {
          auto r = (*c)->query(kExportStatuses, {day, after_job, after_id, page});
          if (!r) return std::unexpected(r.error().context("exporting provider statuses"));
          for (int i = 0; i < r->rows(); ++i) {
            if (auto w = sink.provider_status(PgRow(*r, i)); !w) return w;
          }
          if (r->rows() < page) break;
          after_id = std::string(r->text(r->rows() - 1, 0).value_or(kMinUuid));
          after_job = std::string(r->text(r->rows() - 1, 1).value_or(kMinUuid));
        }
        return {};
      });
}

Result<DeleteCounts> PgBackupStore::delete_backed_up(const std::vector<ExportedJob>& jobs,
                                                     const std::vector<ExportedStatus>& statuses) {
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("deleting backed-up rows"));
  SqlValue job_ids = array_literal(jobs, [](const ExportedJob& j) { return j.id; });
  SqlValue job_times = array_literal(jobs, [](const ExportedJob& j) {
    auto t = parse_timestamp(j.updated_at);
    return t ? format_timestamp(*t) : j.updated_at;
  });
  SqlValue status_ids = array_literal(statuses, [](const ExportedStatus& s) { return s.id; });
  SqlValue status_jobs = array_literal(statuses, [](const ExportedStatus& s) { return s.job_id; });
  return in_transaction<DeleteCounts>(**c, "BEGIN", [&]() -> Result<DeleteCounts> {
    if (auto r = (*c)->query(kLockJobs, {job_ids, job_times}); !r) {
      return std::unexpected(r.error().context("locking backed-up jobs"));
    }
    DeleteCounts counts;
    if (!statuses.empty()) {
      auto r = (*c)->query(kDeleteStatuses, {status_ids, status_jobs, job_ids, job_times});
      if (!r) return std::unexpected(r.error().context("deleting provider statuses"));
      counts.provider_statuses = std::stoll(PQcmdTuples(const_cast<PGresult*>(r->raw())));
    }
    auto r = (*c)->query(kDeleteJobs, {job_ids, job_times});
    if (!r) return std::unexpected(r.error().context("deleting jobs"));
    counts.jobs = std::stoll(PQcmdTuples(const_cast<PGresult*>(r->raw())));
    return counts;
  });
}

Result<int64_t> PgBackupStore::insert_rows(BackupTable table, const std::vector<Row>& rows) {
  static const std::string kInsertJob = store_detail::restore_insert_sql(BackupTable::kJobs, '$');
  static const std::string kInsertStatus =
      store_detail::restore_insert_sql(BackupTable::kProviderStatuses, '$');
  const std::string& sql = table == BackupTable::kJobs ? kInsertJob : kInsertStatus;
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("restoring"));
  std::vector<store_detail::PgStatement> statements;
  statements.reserve(rows.size());
  for (const Row& row : rows) statements.push_back({&sql, row});
  return in_transaction<int64_t>(**c, "BEGIN", [&]() -> Result<int64_t> {
    auto results = (*c)->pipeline(statements);
    if (!results) return std::unexpected(results.error());
    int64_t inserted = 0;
    for (const PgResult& r : *results) {
      if (!r.ok()) {
        return fail(ErrorCode::kInvalidArgument,
                    "restoring into " + std::string(table_name(table)) + ": " + r.error_message());
      }
      inserted += std::stoll(PQcmdTuples(const_cast<PGresult*>(r.raw())));
    }
    return inserted;
  });
}

Result<std::unique_ptr<BackupLock>> PgBackupStore::try_lock_run() {
  auto conn = PgConnection::connect(url_);
  if (!conn) return std::unexpected(conn.error().context("taking the backup run lock"));
  auto held = try_advisory_lock(**conn, kRunLockKey);
  if (!held) return std::unexpected(held.error().context("taking the backup run lock"));
  if (!*held) return std::unique_ptr<BackupLock>();
  return std::unique_ptr<BackupLock>(new SessionLock(std::move(*conn)));
}

Result<std::unique_ptr<BackupLeadership>> PgBackupStore::leadership() {
  return std::unique_ptr<BackupLeadership>(new AdvisoryLeadership(url_));
}

}  // namespace rtjobs
