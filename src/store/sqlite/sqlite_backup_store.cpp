#include "store/sqlite/sqlite_backup_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "core/log.hpp"
#include "core/time_format.hpp"

namespace rtjobs {

using store_detail::RowView;
using store_detail::SqlValue;

namespace {

using Connection = store_detail::SqliteConnection;

const std::string kTerminal(store_detail::kTerminalStatuses);
// SPEC section 8: a job whose settlement is still followed (pending) is not eligible: its
// transfer may still be returned, and the follower must find it.
const std::string kStillFollowed(store_detail::kNotFollowed);
const std::string kStillFollowedJ = " AND coalesce(j.settlement_status, '') <> 'pending'";
const std::string kExportJobs = "SELECT " + std::string(store_detail::kJobColumns) +
                                " FROM recurring_transfer_job WHERE status IN " + kTerminal +
                                kStillFollowed + " AND scheduled_for < ?1 ORDER BY id";
const std::string kExportStatuses =
    "SELECT " + store_detail::qualified(store_detail::kProviderStatusColumns, "ps") +
    " FROM recurring_transfer_provider_status ps JOIN recurring_transfer_job j"
    " ON j.id = ps.job_id WHERE j.status IN " +
    kTerminal + kStillFollowedJ + " AND j.scheduled_for < ?1 ORDER BY ps.job_id, ps.id";
// A batch's keys travel as one JSON array each (?1): jobs as [id, updated_at], provider-status
// rows as [id, job_id, the job's exported updated_at]. CROSS JOIN keeps the array as the outer
// loop (each key one primary-key lookup); the planner would otherwise scan the table per key.
// `+j.status` keeps the lookup on the primary key rather than the (status, id) index.
//
// Provider-status rows, by their exported (id, job_id), of jobs still as exported and terminal
// and whose every status row was exported (a job given a row since keeps all of them).
const std::string kDeleteStatuses =
    "DELETE FROM recurring_transfer_provider_status WHERE (id, job_id) IN (SELECT k.value ->> 0, "
    "j.id FROM json_each(?1) AS k CROSS JOIN recurring_transfer_job AS j ON j.id = k.value ->> 1 "
    "AND j.updated_at = k.value ->> 2 WHERE +j.status IN " +
    kTerminal + kStillFollowedJ +
    " AND NOT EXISTS (SELECT 1 FROM recurring_transfer_provider_status o WHERE o.job_id = j.id"
    " AND o.id NOT IN (SELECT value ->> 0 FROM json_each(?1))))";
// Jobs still as exported and terminal, with no provider-status row left.
const std::string kDeleteJobs =
    "DELETE FROM recurring_transfer_job WHERE id IN (SELECT j.id FROM json_each(?1) AS k CROSS "
    "JOIN recurring_transfer_job AS j ON j.id = k.value ->> 0 AND j.updated_at = k.value ->> 1 "
    "WHERE +j.status IN " +
    kTerminal + kStillFollowedJ +
    " AND NOT EXISTS (SELECT 1 FROM recurring_transfer_provider_status ps WHERE ps.job_id = "
    "j.id))";
const std::string kLastBackup = "SELECT max(backup_at) FROM recurring_transfer_backup";
const std::string kListBackups = "SELECT " + std::string(store_detail::kBackupColumns) +
                                 " FROM recurring_transfer_backup ORDER BY backup_at DESC, id "
                                 "DESC LIMIT ?1";
const std::string kInsertBackup = "INSERT INTO recurring_transfer_backup (" +
                                  std::string(store_detail::kBackupColumns) + ") VALUES (" +
                                  store_detail::placeholders('?', 9) + ")";

// Runs `body` inside BEGIN IMMEDIATE on `conn`; commits on success.
template <class T, class F>
Result<T> in_write_transaction(Connection& conn, F&& body) {
  store_detail::SqliteTransaction txn(conn);
  if (auto r = txn.begin(); !r) return std::unexpected(r.error());
  Result<T> result = body();
  if (!result) return result;
  if (auto r = txn.commit(); !r) return std::unexpected(r.error());
  return result;
}

// Appends ["a","b",...] (JSON-escaped) to a JSON array being built in `out`.
void append_json_tuple(std::string& out, std::initializer_list<std::string_view> values) {
  if (out.size() > 1) out += ',';
  out += '[';
  for (std::string_view v : values) {
    if (out.back() != '[') out += ',';
    out += '"';
    log::append_json_escaped(out, v);
    out += '"';
  }
  out += ']';
}

class FileLock final : public BackupLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {}
  ~FileLock() override { ::close(fd_); }  // closing releases the flock

 private:
  int fd_;
};

class SoleLeader final : public BackupLeadership {
 public:
  Result<bool> check() override { return true; }
};

}  // namespace

Result<std::unique_ptr<SqliteBackupStore>> SqliteBackupStore::open(const std::string& path,
                                                                   SqliteStore* main) {
  auto reader = Connection::open(path, false);
  if (!reader) return std::unexpected(reader.error());
  if (main) {
    return std::unique_ptr<SqliteBackupStore>(
        new SqliteBackupStore(path, std::move(*reader), nullptr, main->shared_writer()));
  }
  auto writer = Connection::open(path, false);
  if (!writer) return std::unexpected(writer.error());
  return std::unique_ptr<SqliteBackupStore>(
      new SqliteBackupStore(path, std::move(*reader), std::move(*writer), std::nullopt));
}

Result<std::optional<Timestamp>> SqliteBackupStore::last_backup_at() {
  std::lock_guard lock(writer_mutex_);
  std::optional<Timestamp> last;
  auto r = writer_->run(kLastBackup, {}, [&](const RowView& row) -> Result<void> {
    if (auto text = row.text(0)) {
      last = parse_timestamp(*text);
      if (!last) return fail(ErrorCode::kInternal, "bad backup_at " + std::string(*text));
    }
    return {};
  });
  if (!r) return std::unexpected(r.error().context("reading the last backup"));
  return last;
}

Result<std::vector<BackupRecord>> SqliteBackupStore::list_backups(int limit) {
  std::lock_guard lock(writer_mutex_);
  std::vector<BackupRecord> out;
  auto r = writer_->run(kListBackups, {int64_t{limit}}, [&](const RowView& row) -> Result<void> {
    auto record = store_detail::read_backup_record(row);
    if (!record) return std::unexpected(record.error());
    out.push_back(std::move(*record));
    return {};
  });
  if (!r) return std::unexpected(r.error().context("listing backups"));
  return out;
}

Result<void> SqliteBackupStore::insert_backup(const BackupRecord& record) {
  std::lock_guard lock(writer_mutex_);
  auto r = in_write_transaction<int>(*writer_, [&] {
    return writer_->run(kInsertBackup, store_detail::backup_record_values(record));
  });
  if (!r) return std::unexpected(r.error().context("recording the backup"));
  return {};
}

Result<void> SqliteBackupStore::export_eligible(Date cutoff, const ExportSink& sink) {
  // One deferred read transaction: both statements read the same WAL snapshot.
  if (auto r = reader_->exec("BEGIN"); !r) return std::unexpected(r.error().context("export"));
  auto body = [&]() -> Result<void> {
    std::vector<SqlValue> params{format_date(cutoff)};
    auto jobs = reader_->run(kExportJobs, params, sink.job);
    if (!jobs) return std::unexpected(jobs.error().context("exporting jobs"));
    if (auto r = sink.jobs_done(); !r) return r;
    auto statuses = reader_->run(kExportStatuses, params, sink.provider_status);
    if (!statuses) return std::unexpected(statuses.error().context("exporting provider statuses"));
    return {};
  };
  Result<void> result = body();
  (void)reader_->exec("COMMIT");
  return result;
}

Result<DeleteCounts> SqliteBackupStore::delete_backed_up(
    const std::vector<ExportedJob>& jobs, const std::vector<ExportedStatus>& statuses) {
  if (jobs.empty()) return DeleteCounts{};
  // The keys are built before taking the lock, so another thread's batch runs meanwhile, and
  // reserved at about their final size (grown by doubling they raised the peak memory).
  std::string job_keys = "[";
  job_keys.reserve(2 + jobs.size() * (jobs.front().id.size() + jobs.front().updated_at.size() + 8));
  for (const ExportedJob& job : jobs) append_json_tuple(job_keys, {job.id, job.updated_at});
  job_keys += ']';
  std::string status_keys = "[";
  if (!statuses.empty()) {
    status_keys.reserve(2 + statuses.size() * (2 * statuses.front().id.size() +
                                               jobs.front().updated_at.size() + 11));
  }
  size_t j = 0;
  for (const ExportedStatus& s : statuses) {  // both in id / job_id order
    while (j < jobs.size() && jobs[j].id < s.job_id) ++j;
    if (j == jobs.size() || jobs[j].id != s.job_id) {
      return fail(ErrorCode::kInternal,
                  "backup batch: provider status " + s.id + " of a job outside the batch");
    }
    append_json_tuple(status_keys, {s.id, s.job_id, jobs[j].updated_at});
  }
  status_keys += ']';

  std::lock_guard lock(writer_mutex_);
  return in_write_transaction<DeleteCounts>(*writer_, [&]() -> Result<DeleteCounts> {
    // BEGIN IMMEDIATE holds the database's write lock: nothing changes under us from here on,
    // so a job's provider-status rows and the job go together or not at all.
    DeleteCounts counts;
    if (!statuses.empty()) {
      auto r = writer_->run(kDeleteStatuses, {status_keys});
      if (!r) return std::unexpected(r.error().context("deleting provider statuses"));
      counts.provider_statuses = *r;
    }
    auto r = writer_->run(kDeleteJobs, {job_keys});
    if (!r) return std::unexpected(r.error().context("deleting jobs"));
    counts.jobs = *r;
    return counts;
  });
}

Result<BackupStore::RestoreCounts> SqliteBackupStore::restore_rows(BackupTable table,
                                                                   const RestoreRows& next) {
  const bool jobs = table == BackupTable::kJobs;
  static const std::string kInsertJob = store_detail::restore_insert_sql(BackupTable::kJobs, '?');
  static const std::string kInsertStatus =
      store_detail::restore_insert_sql(BackupTable::kProviderStatuses, '?');
  // The first row of a chunk (its keys a JSON array in ?1: a job's [id, transfer, sequence], a
  // status row's [id, job, transfer]) that restore_rows' contract refuses, and why: per key,
  // look-ups by primary key or by the (transfer, sequence) unique index.
  static const std::string kCheckJobs =
      "SELECT key, problem FROM (SELECT k.key, CASE"
      " WHEN NOT EXISTS (SELECT 1 FROM recurring_transfer t WHERE t.id = k.value ->> 1)"
      " THEN 'transfer'"
      " WHEN EXISTS (SELECT 1 FROM recurring_transfer_job j WHERE j.id = k.value ->> 0"
      " AND (j.recurring_transfer_id <> k.value ->> 1 OR j.sequence <> k.value ->> 2)) THEN 'id'"
      " WHEN EXISTS (SELECT 1 FROM recurring_transfer_job j WHERE j.recurring_transfer_id ="
      " k.value ->> 1 AND j.sequence = k.value ->> 2 AND j.id <> k.value ->> 0) THEN 'sequence'"
      " END AS problem FROM json_each(?1) AS k) WHERE problem IS NOT NULL ORDER BY key LIMIT 1";
  static const std::string kCheckStatuses =
      "SELECT key, problem FROM (SELECT k.key, CASE"
      " WHEN NOT EXISTS (SELECT 1 FROM recurring_transfer_job j WHERE j.id = k.value ->> 1"
      " AND j.recurring_transfer_id = k.value ->> 2) THEN 'job'"
      " WHEN EXISTS (SELECT 1 FROM recurring_transfer_provider_status s WHERE s.id ="
      " k.value ->> 0 AND (s.job_id <> k.value ->> 1 OR s.recurring_transfer_id <>"
      " k.value ->> 2)) THEN 'id'"
      " END AS problem FROM json_each(?1) AS k) WHERE problem IS NOT NULL ORDER BY key LIMIT 1";
  const std::string& insert = jobs ? kInsertJob : kInsertStatus;
  const std::string& check = jobs ? kCheckJobs : kCheckStatuses;
  const std::string what = "restoring into " + std::string(table_name(table));

  std::lock_guard lock(writer_mutex_);
  return in_write_transaction<RestoreCounts>(*writer_, [&]() -> Result<RestoreCounts> {
    RestoreCounts counts;
    std::vector<RestoreRow> rows;
    std::string keys;
    for (;;) {
      auto more = next(rows);
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
      // The keys are checked values: UUIDs and an integer, nothing to escape.
      keys = "[";
      for (const RestoreRow& row : rows) {
        const auto& v = row.values;
        if (keys.size() > 1) keys += ',';
        keys += "[\"" + std::get<std::string>(v[0]) + "\",\"" + std::get<std::string>(v[1]) +
                (jobs ? "\"," + std::to_string(std::get<int64_t>(v[2]))
                      : "\",\"" + std::get<std::string>(v[2]) + "\"") +
                "]";
      }
      keys += ']';
      std::optional<Error> refused;
      auto checked = writer_->run(check, {keys}, [&](const RowView& found) -> Result<void> {
        const auto& row = rows[static_cast<size_t>(std::stoll(std::string(*found.text(0))))];
        refused = store_detail::restore_refusal(table, row.line, row.values, *found.text(1));
        return {};
      });
      if (!checked) return std::unexpected(checked.error().context(what));
      if (refused) return std::unexpected(*refused);
      for (const RestoreRow& row : rows) {
        auto r = writer_->run(insert, row.values);
        if (!r) {
          Error e = r.error().context("line " + std::to_string(row.line) + ": " + what);
          // A constraint the row breaks (the database's last word after the checks above).
          if (e.code == ErrorCode::kInternal) e.code = ErrorCode::kInvalidArgument;
          return std::unexpected(e);
        }
        counts.inserted += *r;
        counts.skipped += 1 - *r;
      }
    }
    return counts;
  });
}

Result<std::unique_ptr<BackupLock>> SqliteBackupStore::try_lock_run() {
  std::string lock_path = path_ + ".backup-lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(ErrorCode::kUnavailable,
                "opening the backup lock " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return std::unique_ptr<BackupLock>();
    return fail(ErrorCode::kUnavailable, "locking " + lock_path + ": " + std::strerror(err));
  }
  return std::unique_ptr<BackupLock>(new FileLock(fd));
}

Result<std::unique_ptr<BackupLeadership>> SqliteBackupStore::leadership() {
  return std::unique_ptr<BackupLeadership>(new SoleLeader());
}

}  // namespace rtjobs
