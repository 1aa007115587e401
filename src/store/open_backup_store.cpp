// open_backup_store: picks the BackupStore implementation from the database URL, and the
// recurring_transfer_backup row mapping both implementations share.
#include <charconv>

#include "core/time_format.hpp"
#include "store/backup_store.hpp"
#include "store/postgres/pg_backup_store.hpp"
#include "store/sqlite/sqlite_backup_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs {

std::string_view table_name(BackupTable table) {
  return table == BackupTable::kJobs ? "recurring_transfer_job"
                                     : "recurring_transfer_provider_status";
}

std::string store_detail::restore_insert_sql(BackupTable table, char placeholder) {
  bool jobs = table == BackupTable::kJobs;
  std::string_view columns = jobs ? kJobColumns : kProviderStatusColumns;
  int count = jobs ? kJobColumnCount : kProviderStatusColumnCount;
  std::string values;
  for (int i = 1; i <= count; ++i) {
    std::string p = placeholders(placeholder, 1, i);
    // A backup older than the settlement columns has no presentment, nor one older than
    // migration 7/11 an outcome_unknown: the columns' default.
    if (jobs && (i == kJobPresentmentColumn + 1 || i == kJobOutcomeUnknownColumn + 1))
      p = std::string("coalesce(").append(p).append(", 0)");
    if (i > 1) values += ", ";
    values += p;
  }
  // Only a present id is skipped: a clash on another key (a job's transfer and sequence) fails.
  return "INSERT INTO " + std::string(table_name(table)) + " (" + std::string(columns) +
         ") VALUES (" + values + ") ON CONFLICT (id) DO NOTHING";
}

Error store_detail::restore_refusal(BackupTable table, int64_t line,
                                    const std::vector<SqlValue>& values, std::string_view problem) {
  auto text = [&](size_t i) -> std::string {
    if (const auto* s = std::get_if<std::string>(&values[i])) return *s;
    if (const auto* n = std::get_if<int64_t>(&values[i])) return std::to_string(*n);
    return "NULL";
  };
  std::string why;
  if (table == BackupTable::kJobs) {
    if (problem == "transfer") {
      why = "job " + text(0) + ": its transfer " + text(1) + " is not in the database";
    } else if (problem == "id") {
      why = "job " + text(0) +
            ": the database holds a job with this id for another transfer "
            "or sequence";
    } else {
      why = "job " + text(0) + ": sequence " + text(2) + " of transfer " + text(1) +
            " is another job's in the database";
    }
  } else if (problem == "job") {
    why = "provider status " + text(0) + ": its job " + text(1) + " of transfer " + text(2) +
          " is not in the database (restore the job file first)";
  } else {
    why = "provider status " + text(0) +
          ": the database holds a provider status with this id "
          "for another job";
  }
  return Error{ErrorCode::kInvalidArgument,
               "line " + std::to_string(line) + ": " + why,
               std::string(table_name(table)),
               {}};
}

std::optional<BackupTable> parse_backup_table(std::string_view name) {
  if (name == "recurring_transfer_job") return BackupTable::kJobs;
  if (name == "recurring_transfer_provider_status") return BackupTable::kProviderStatuses;
  return std::nullopt;
}

Result<std::unique_ptr<BackupStore>> open_backup_store(std::string_view database_url,
                                                       Store* main_store) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (database_url.starts_with(kSqlite)) {
    std::string path(database_url.substr(kSqlite.size()));
    if (path.empty() || path == ":memory:") {
      return invalid("RT_DATABASE_URL", "backup and restore need an SQLite database file");
    }
    SqliteStore* main = nullptr;
    if (main_store) {
      main = dynamic_cast<SqliteStore*>(main_store);
      if (!main) {
        return fail(ErrorCode::kInternal,
                    "opening the backup store: the main store of an sqlite:// URL is not an "
                    "SqliteStore");
      }
    }
    auto store = SqliteBackupStore::open(path, main);
    if (!store) return std::unexpected(store.error().context("opening the backup store"));
    return std::unique_ptr<BackupStore>(std::move(*store));
  }
  if (database_url.starts_with("postgresql://") || database_url.starts_with("postgres://")) {
    auto store = PgBackupStore::open(std::string(database_url));
    if (!store) return std::unexpected(store.error().context("opening the backup store"));
    return std::unique_ptr<BackupStore>(std::move(*store));
  }
  return invalid("RT_DATABASE_URL", "unsupported database URL for backups");
}

namespace store_detail {

const std::string_view kBackupColumns =
    "id, backup_at, cutoff, job_rows, provider_status_rows, objects, bytes, checksums, created_at";

std::vector<SqlValue> backup_record_values(const BackupRecord& r) {
  return {r.id,
          format_timestamp(r.backup_at),
          format_timestamp(r.cutoff),
          r.job_rows,
          r.provider_status_rows,
          r.objects,
          r.bytes,
          r.checksums,
          format_timestamp(r.created_at)};
}

Result<BackupRecord> read_backup_record(const RowView& row) {
  auto bad = [](std::string_view column) {
    return fail(ErrorCode::kInternal,
                "reading recurring_transfer_backup: bad " + std::string(column));
  };
  auto time = [&](int column) { return parse_timestamp(row.text(column).value_or("")); };
  auto integer = [&](int column) -> std::optional<int64_t> {
    auto text = row.text(column).value_or("");
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
  };
  BackupRecord r;
  r.id = std::string(row.text(0).value_or(""));
  auto backup_at = time(1), cutoff = time(2), created_at = time(8);
  if (!backup_at) return bad("backup_at");
  if (!cutoff) return bad("cutoff");
  if (!created_at) return bad("created_at");
  auto jobs = integer(3), statuses = integer(4), bytes = integer(6);
  if (!jobs || !statuses || !bytes) return bad("row counts");
  r.backup_at = *backup_at;
  r.cutoff = *cutoff;
  r.created_at = *created_at;
  r.job_rows = *jobs;
  r.provider_status_rows = *statuses;
  r.bytes = *bytes;
  r.objects = std::string(row.text(5).value_or("[]"));
  r.checksums = std::string(row.text(7).value_or("{}"));
  return r;
}

}  // namespace store_detail
}  // namespace rtjobs
