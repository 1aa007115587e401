// The backup_run row mapping both BackupStore implementations share (backup_store.hpp, the
// backup runs block).
#include <charconv>

#include "core/time_format.hpp"
#include "store/backup_store.hpp"

namespace rtjobs::store_detail {

const std::string_view kBackupRunColumns =
    "id, status, phase, forced, job_rows, provider_status_rows, uploaded_bytes, "
    "deleted_job_rows, deleted_provider_status_rows, started_at, finished_at, result, error";

std::vector<SqlValue> backup_run_values(const BackupRunRecord& r) {
  return {r.id,
          r.status,
          r.phase,
          int64_t{r.force ? 1 : 0},
          r.job_rows,
          r.provider_status_rows,
          r.uploaded_bytes,
          r.deleted_job_rows,
          r.deleted_provider_status_rows,
          format_timestamp(r.started_at),
          opt_time(r.finished_at),
          opt_text(r.result),
          opt_text(r.error)};
}

std::vector<SqlValue> backup_run_update_values(const BackupRunRecord& r) {
  return {r.id,
          r.status,
          r.phase,
          r.job_rows,
          r.provider_status_rows,
          r.uploaded_bytes,
          r.deleted_job_rows,
          r.deleted_provider_status_rows,
          opt_time(r.finished_at),
          opt_text(r.result),
          opt_text(r.error)};
}

Result<BackupRunRecord> read_backup_run(const RowView& row) {
  auto bad = [](std::string_view column) {
    return fail(ErrorCode::kInternal, "reading backup_run: bad " + std::string(column));
  };
  auto integer = [&](int column) -> std::optional<int64_t> {
    auto text = row.text(column).value_or("");
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
  };
  auto flag = [&](int column) {
    auto text = row.text(column).value_or("");
    return text == "t" || text == "true" || text == "1";
  };
  auto optional_time = [&](int column, std::optional<Timestamp>& out) {
    auto text = row.text(column);
    if (!text) return true;
    out = parse_timestamp(*text);
    return out.has_value();
  };
  auto optional_text = [&](int column) -> std::optional<std::string> {
    auto text = row.text(column);
    return text ? std::optional<std::string>(*text) : std::nullopt;
  };
  BackupRunRecord r;
  r.id = std::string(row.text(0).value_or(""));
  r.status = std::string(row.text(1).value_or(""));
  r.phase = std::string(row.text(2).value_or(""));
  r.force = flag(3);
  int64_t* counts[] = {&r.job_rows, &r.provider_status_rows, &r.uploaded_bytes, &r.deleted_job_rows,
                       &r.deleted_provider_status_rows};
  for (int i = 0; i < 5; ++i) {
    auto v = integer(4 + i);
    if (!v) return bad("counts");
    *counts[i] = *v;
  }
  auto started = parse_timestamp(row.text(9).value_or(""));
  if (!started) return bad("started_at");
  r.started_at = *started;
  if (!optional_time(10, r.finished_at)) return bad("finished_at");
  r.result = optional_text(11);
  r.error = optional_text(12);
  if (!optional_time(kBackupRunColumnCount, r.heartbeat_at)) return bad("heartbeat_at");
  r.heartbeat_stale = flag(kBackupRunColumnCount + 1);
  return r;
}

}  // namespace rtjobs::store_detail
