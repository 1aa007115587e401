#include "store/postgres/pg_backup_store.hpp"

#include <cctype>
#include <functional>

#include "core/time_format.hpp"

namespace rtjobs {

using store_detail::PgConnection;
using store_detail::PgResult;
using store_detail::PgRow;
using store_detail::SqlValue;

namespace {

const std::string kTerminal(store_detail::kTerminalStatuses);
// SPEC section 8: a job whose settlement is still followed (pending) is not eligible: its
// transfer may still be returned, and the follower must find it.
const std::string kStillFollowed(store_detail::kNotFollowed);
const std::string kStillFollowedJ = " AND coalesce(j.settlement_status, '') <> 'pending'";
// COPY takes no parameters: the cutoff goes in with set_config() (local to the export's
// transaction) and is read back once per statement (an InitPlan), not per row.
const std::string kSetCutoff = "SELECT set_config('rtjobs.backup_cutoff', $1, true)";
const std::string kCutoff = "(SELECT current_setting('rtjobs.backup_cutoff')::date)";
const std::string kExportJobs = "COPY (SELECT " + std::string(store_detail::kJobColumns) +
                                " FROM recurring_transfer_job WHERE status IN " + kTerminal +
                                kStillFollowed + " AND scheduled_for < " + kCutoff +
                                " ORDER BY id) TO STDOUT";
const std::string kExportStatuses =
    "COPY (SELECT " + store_detail::qualified(store_detail::kProviderStatusColumns, "ps") +
    " FROM recurring_transfer_provider_status ps JOIN recurring_transfer_job j"
    " ON j.id = ps.job_id WHERE j.status IN " +
    kTerminal + kStillFollowedJ + " AND j.scheduled_for < " + kCutoff +
    " ORDER BY ps.job_id, ps.id) TO STDOUT";
// One batch's deletion, in one statement. The batch's jobs travel as arrays of their exported
// (id, updated_at) ($1, $2) with the batch's first and last job id ($3, $4): the id range keeps
// the plan on the primary key (and the status table's (job_id, id) index) whatever the table's
// size, where a join with the arrays alone may scan the whole table per batch. $5 holds the ids
// of the batch's exported status rows.
// - dj: the jobs still as exported and terminal, and whose every status row was exported;
// - ds: the status rows of those jobs (all exported, by dj's condition).
// A job changed since the export stays, with all its rows. A status row inserted meanwhile has
// locked its job first (migration 5's trigger): the delete waits for it, and then the trigger
// on the deletion finds the row and fails the batch, which deletes nothing.
const std::string kDeleteBatch =
    "WITH dj AS (DELETE FROM recurring_transfer_job j USING unnest($1::uuid[], "
    "$2::timestamptz[]) AS k(id, updated_at) WHERE j.id BETWEEN $3::uuid AND $4::uuid AND j.id "
    "= k.id AND j.updated_at = k.updated_at AND j.status IN " +
    kTerminal + kStillFollowedJ +
    " AND NOT EXISTS (SELECT 1 FROM recurring_transfer_provider_status ps WHERE ps.job_id = j.id"
    " AND ps.id NOT IN (SELECT unnest($5::uuid[]))) RETURNING j.id),"
    " ds AS (DELETE FROM recurring_transfer_provider_status ps USING dj WHERE ps.job_id BETWEEN"
    " $3::uuid AND $4::uuid AND ps.job_id = dj.id RETURNING 1)"
    " SELECT (SELECT count(*) FROM dj), (SELECT count(*) FROM ds)";
// A deletion's commit does not wait for its WAL to reach the disk (the WAL writer flushes it
// while the next batch runs). A database crash may then undo the last deletions, each batch
// whole: those rows stay, are in the verified objects, and the next run backs them up again.
// The backup row is inserted with a normal commit, which makes every deletion before it durable.
constexpr const char* kBeginDelete = "BEGIN; SET LOCAL synchronous_commit = off";
const std::string kLastBackup = "SELECT max(backup_at) FROM recurring_transfer_backup";
const std::string kListBackups = "SELECT " + std::string(store_detail::kBackupColumns) +
                                 " FROM recurring_transfer_backup ORDER BY backup_at DESC, id "
                                 "DESC LIMIT $1";
const std::string kInsertBackup = "INSERT INTO recurring_transfer_backup (" +
                                  std::string(store_detail::kBackupColumns) + ") VALUES (" +
                                  store_detail::placeholders('$', 9) + ")";
const std::string kTryLock = "SELECT pg_try_advisory_lock($1)";
const std::string kPing = "SELECT 1";

// A PostgreSQL array literal of `field` of each item, every element quoted (an instant as
// PostgreSQL prints it holds a space).
template <class T, class F>
std::string array_literal(const std::vector<T>& items, F&& field) {
  std::string out = "{";
  for (const T& item : items) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : std::string_view(field(item))) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// One data row of COPY ... TO STDOUT in text format as a RowView: fields separated by tabs, \N
// for NULL, backslash escapes decoded (a field without one is viewed in place, not copied).
class CopyTextRow final : public store_detail::RowView {
 public:
  Result<void> parse(std::string_view line, size_t columns) {
    if (line.ends_with('\n')) line.remove_suffix(1);
    fields_.clear();
    decoded_.clear();
    decoded_.reserve(line.size());  // decoding never grows a field: views stay valid
    size_t start = 0;
    for (;;) {
      size_t end = line.find('\t', start);
      std::string_view field =
          line.substr(start, end == std::string_view::npos ? end : end - start);
      if (field == "\\N") {
        fields_.emplace_back(std::nullopt);
      } else if (field.find('\\') == std::string_view::npos) {
        fields_.emplace_back(field);
      } else {
        fields_.emplace_back(decode(field));
      }
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
    if (fields_.size() != columns) {
      return fail(ErrorCode::kInternal, "COPY row of " + std::to_string(fields_.size()) +
                                            " fields, expected " + std::to_string(columns));
    }
    return {};
  }

  std::optional<std::string_view> text(int column) const override {
    return fields_[static_cast<size_t>(column)];
  }

 private:
  // PostgreSQL's COPY text escapes: \b \f \n \r \t \v, octal \NNN, hex \xHH, and \c for any
  // other c (\\ among them).
  std::string_view decode(std::string_view field) {
    const size_t first = decoded_.size();
    for (size_t i = 0; i < field.size(); ++i) {
      char c = field[i];
      if (c != '\\' || i + 1 == field.size()) {
        decoded_ += c;
        continue;
      }
      c = field[++i];
      if (c >= '0' && c <= '7') {
        int v = c - '0';
        for (int n = 1; n < 3 && i + 1 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '7';
             ++n) {
          v = v * 8 + (field[++i] - '0');
        }
        decoded_ += static_cast<char>(v);
      } else if (c == 'x' && i + 1 < field.size() &&
                 std::isxdigit(static_cast<unsigned char>(field[i + 1]))) {
        int v = 0;
        for (int n = 0; n < 2 && i + 1 < field.size() &&
                        std::isxdigit(static_cast<unsigned char>(field[i + 1]));
             ++n) {
          char h = field[++i];
          v = v * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        decoded_ += static_cast<char>(v);
      } else {
        switch (c) {
          case 'b':
            c = '\b';
            break;
          case 'f':
            c = '\f';
            break;
          case 'n':
            c = '\n';
            break;
          case 'r':
            c = '\r';
            break;
          case 't':
            c = '\t';
            break;
          case 'v':
            c = '\v';
            break;
          default:
            break;
        }
        decoded_ += c;
      }
    }
    return std::string_view(decoded_).substr(first);
  }

  std::vector<std::optional<std::string_view>> fields_;
  std::string decoded_;
};

// Streams one COPY's rows to `sink`.
Result<void> copy_rows(PgConnection& conn, const std::string& sql, size_t columns,
                       const std::function<Result<void>(const store_detail::RowView&)>& sink) {
  CopyTextRow row;
  return conn.copy_out(sql, [&](std::string_view line) -> Result<void> {
    if (auto r = row.parse(line, columns); !r) return r;
    return sink(row);
  });
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
  return in_transaction<void>(
      **c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&]() -> Result<void> {
        if (auto r = (*c)->query(kSetCutoff, {format_date(cutoff)}); !r) {
          return std::unexpected(r.error().context("exporting"));
        }
        if (auto r = copy_rows(**c, kExportJobs, store_detail::kJobColumnCount, sink.job); !r) {
          return std::unexpected(r.error().context("exporting jobs"));
        }
        if (auto w = sink.jobs_done(); !w) return w;
        if (auto r = copy_rows(**c, kExportStatuses, store_detail::kProviderStatusColumnCount,
                               sink.provider_status);
            !r) {
          return std::unexpected(r.error().context("exporting provider statuses"));
        }
        return {};
      });
}

Result<DeleteCounts> PgBackupStore::delete_backed_up(const std::vector<ExportedJob>& jobs,
                                                     const std::vector<ExportedStatus>& statuses) {
  if (jobs.empty()) return DeleteCounts{};
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("deleting backed-up rows"));
  auto id = [](const auto& row) -> std::string_view { return row.id; };
  auto updated_at = [](const ExportedJob& j) -> std::string_view { return j.updated_at; };
  const SqlValue first = jobs.front().id;
  const SqlValue last = jobs.back().id;
  return in_transaction<DeleteCounts>(**c, kBeginDelete, [&]() -> Result<DeleteCounts> {
    auto r = (*c)->query(kDeleteBatch, {array_literal(jobs, id), array_literal(jobs, updated_at),
                                        first, last, array_literal(statuses, id)});
    if (!r) return std::unexpected(r.error().context("deleting backed-up rows"));
    return DeleteCounts{.jobs = std::stoll(std::string(r->text(0, 0).value_or("0"))),
                        .provider_statuses = std::stoll(std::string(r->text(0, 1).value_or("0")))};
  });
}

Result<BackupStore::RestoreCounts> PgBackupStore::restore_rows(BackupTable table,
                                                               const RestoreRows& next) {
  const bool jobs = table == BackupTable::kJobs;
  static const std::string kInsertJob = store_detail::restore_insert_sql(BackupTable::kJobs, '$');
  static const std::string kInsertStatus =
      store_detail::restore_insert_sql(BackupTable::kProviderStatuses, '$');
  // The first row of a chunk (its keys as arrays: a job's id, transfer and sequence; a status
  // row's id, job and transfer) that restore_rows' contract refuses, and why (as SQLite's).
  static const std::string kCheckJobs =
      "SELECT i - 1, problem FROM (SELECT k.i, CASE"
      " WHEN NOT EXISTS (SELECT 1 FROM recurring_transfer t WHERE t.id = k.tid) THEN 'transfer'"
      " WHEN EXISTS (SELECT 1 FROM recurring_transfer_job j WHERE j.id = k.id"
      " AND (j.recurring_transfer_id <> k.tid OR j.sequence <> k.seq)) THEN 'id'"
      " WHEN EXISTS (SELECT 1 FROM recurring_transfer_job j WHERE j.recurring_transfer_id = k.tid"
      " AND j.sequence = k.seq AND j.id <> k.id) THEN 'sequence' END AS problem"
      " FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) WITH ORDINALITY AS k(id, tid, seq, i))"
      " AS x WHERE problem IS NOT NULL ORDER BY i LIMIT 1";
  static const std::string kCheckStatuses =
      "SELECT i - 1, problem FROM (SELECT k.i, CASE"
      " WHEN NOT EXISTS (SELECT 1 FROM recurring_transfer_job j WHERE j.id = k.job_id"
      " AND j.recurring_transfer_id = k.tid) THEN 'job'"
      " WHEN EXISTS (SELECT 1 FROM recurring_transfer_provider_status s WHERE s.id = k.id"
      " AND (s.job_id <> k.job_id OR s.recurring_transfer_id <> k.tid)) THEN 'id' END AS problem"
      " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) WITH ORDINALITY AS k(id, job_id, tid, i))"
      " AS x WHERE problem IS NOT NULL ORDER BY i LIMIT 1";
  const std::string& insert = jobs ? kInsertJob : kInsertStatus;
  const std::string& check = jobs ? kCheckJobs : kCheckStatuses;
  const std::string what = "restoring into " + std::string(table_name(table));
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context(what));
  return in_transaction<RestoreCounts>(**c, "BEGIN", [&]() -> Result<RestoreCounts> {
    RestoreCounts counts;
    std::vector<RestoreRow> rows;
    std::vector<store_detail::PgStatement> statements;
    for (;;) {
      auto more = next(rows);
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
      // The keys are checked values (UUIDs, an integer): array literals need no quoting.
      auto column = [&](size_t i) {
        std::string out = "{";
        for (const RestoreRow& row : rows) {
          if (out.size() > 1) out += ',';
          const auto& v = row.values[i];
          if (const auto* n = std::get_if<int64_t>(&v)) {
            out += std::to_string(*n);
          } else {
            out += std::get<std::string>(v);
          }
        }
        return out + "}";
      };
      auto checked = (*c)->query(check, {column(0), column(1), column(2)});
      if (!checked) return std::unexpected(checked.error().context(what));
      if (checked->rows() > 0) {
        const RestoreRow& row = rows[std::stoull(std::string(*checked->text(0, 0)))];
        return std::unexpected(
            store_detail::restore_refusal(table, row.line, row.values, *checked->text(0, 1)));
      }
      statements.clear();
      for (const RestoreRow& row : rows) statements.push_back({&insert, row.values});
      auto results = (*c)->pipeline(statements);
      if (!results) return std::unexpected(results.error().context(what));
      for (size_t i = 0; i < results->size(); ++i) {
        const PgResult& r = (*results)[i];
        if (!r.ok()) {
          // The first failure; the server skipped the statements after it.
          return fail(ErrorCode::kInvalidArgument, "line " + std::to_string(rows[i].line) + ": " +
                                                       what + ": " + r.error_message());
        }
        int64_t n = std::stoll(PQcmdTuples(const_cast<PGresult*>(r.raw())));
        counts.inserted += n;
        counts.skipped += 1 - n;
      }
    }
    return counts;
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
