#include "backup/backup_runner.hpp"

#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "backup/backup_tables.hpp"
#include "backup/spool_file.hpp"
#include "core/log.hpp"
#include "core/time_format.hpp"
#include "core/uuid.hpp"

namespace rtjobs::backup {
namespace {

constexpr size_t kFlushBytes = 256 * 1024;

// Milliseconds since `start`, restarting it.
int64_t lap_ms(std::chrono::steady_clock::time_point& start) {
  auto now = std::chrono::steady_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count();
  start = now;
  return static_cast<int64_t>(ms);
}

// The run's answer to a stop request (BackupProgress::stop), checked between rows, chunks and
// deletion batches.
Result<void> check_stop(const BackupProgress& progress) {
  if (!progress.stop.load(std::memory_order_relaxed)) return {};
  return fail(ErrorCode::kUnavailable, "stopped: the server is shutting down");
}

// One table's CSV: spooled to a local file while the export's snapshot is open (add, end),
// uploaded after it closed (upload). Spooled in chunks of about kFlushBytes.
class TableSpool {
 public:
  TableSpool(BackupTable table, SpoolFile file)
      : spec_(table_spec(table)), file_(std::move(file)) {}

  Result<void> add(const store_detail::RowView& row) {
    if (rows_ == 0) append_header(spec_, buffer_);
    if (auto r = append_row(spec_, row, buffer_); !r) return r;
    ++rows_;
    if (buffer_.size() >= kFlushBytes) return flush();
    return {};
  }

  // After the table's last row.
  Result<void> end() { return flush(); }

  // Writes the spooled CSV to `key` (nothing when no row came), reading it back in chunks;
  // `progress` counts the bytes sent, and its stop flag ends the upload.
  Result<void> upload(ObjectStore& objects, const std::string& key, BackupProgress& progress) {
    if (rows_ == 0) return {};
    const std::string url = objects.url(key);
    auto writer = objects.create(key);
    if (!writer) return std::unexpected(writer.error().context("creating " + url));
    if (auto r = file_.rewind(); !r) return r;
    std::string chunk(kFlushBytes, '\0');
    for (;;) {
      auto n = file_.read(chunk);
      if (!n) return std::unexpected(n.error());
      if (*n == 0) break;
      if (auto r = check_stop(progress); !r) return r;
      if (auto r = (*writer)->write(std::string_view(chunk).substr(0, *n)); !r) {
        return std::unexpected(r.error().context("writing " + url));
      }
      progress.uploaded_bytes.fetch_add(static_cast<int64_t>(*n), std::memory_order_relaxed);
    }
    auto info = (*writer)->finish();
    if (!info) return std::unexpected(info.error().context("writing " + url));
    info_ = std::move(*info);
    return {};
  }

  int64_t rows() const { return rows_; }
  const std::optional<ObjectInfo>& info() const { return info_; }
  std::string_view table() const { return spec_.name; }

 private:
  Result<void> flush() {
    auto r = file_.append(buffer_);
    buffer_.clear();
    return r;
  }

  const TableSpec& spec_;
  SpoolFile file_;
  std::string buffer_;
  int64_t rows_ = 0;
  std::optional<ObjectInfo> info_;
};

// A TableSpool of `table` with its file in `dir`.
Result<TableSpool> table_spool(BackupTable table, const std::filesystem::path& dir) {
  auto file = SpoolFile::create(dir, "the CSV of " + std::string(table_name(table)));
  if (!file) return std::unexpected(file.error());
  return TableSpool(table, std::move(*file));
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  log::append_json_escaped(out, s);
  return out + "\"";
}

}  // namespace

std::string_view to_string(BackupOutcome outcome) {
  switch (outcome) {
    case BackupOutcome::kSkipped:
      return "SKIPPED";
    case BackupOutcome::kNothingToBackUp:
      return "NOTHING_TO_BACK_UP";
    case BackupOutcome::kBackedUp:
      return "BACKED_UP";
  }
  return "?";
}

std::string_view to_string(BackupPhase phase) {
  switch (phase) {
    case BackupPhase::kStarting:
      return "starting";
    case BackupPhase::kExport:
      return "export";
    case BackupPhase::kUpload:
      return "upload";
    case BackupPhase::kVerify:
      return "verify";
    case BackupPhase::kDelete:
      return "delete";
    case BackupPhase::kRecord:
      return "record";
    case BackupPhase::kDone:
      return "done";
  }
  return "?";
}

std::string result_json(const BackupResult& r) {
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& o : r.objects) {
    objects.push_back({{"table", o.table},
                       {"url", o.url},
                       {"rows", o.rows},
                       {"bytes", o.bytes},
                       {"sha256", o.sha256}});
  }
  nlohmann::json doc = {
      {"outcome", to_string(r.outcome)},
      {"timestamp_saved", r.timestamp_saved},
      {"job_rows", r.job_rows},
      {"provider_status_rows", r.provider_status_rows},
      {"objects", objects},
      {"run_at", format_timestamp(r.run_at)},
      {"cutoff", r.cutoff ? nlohmann::json(format_date(*r.cutoff)) : nlohmann::json(nullptr)}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<BackupResult> BackupRunner::run(bool force) {
  auto lock = store_.try_lock_run();
  if (!lock) return std::unexpected(lock.error().context("backup run"));
  if (!*lock) {
    Error e{ErrorCode::kConflict, "another backup run is in progress", {}, "backup_in_progress"};
    return std::unexpected(e);
  }
  BackupProgress progress;
  return run_locked(force, progress);
}

Result<BackupResult> BackupRunner::run_locked(bool force, BackupProgress& progress) {
  auto result = run_steps(force, progress);
  if (!result) {
    log::error("backup run failed", {{"error", result.error().message}});
  } else {
    log::info("backup run", {{"outcome", to_string(result->outcome)},
                             {"timestamp_saved", result->timestamp_saved},
                             {"job_rows", result->job_rows},
                             {"provider_status_rows", result->provider_status_rows},
                             {"deleted_job_rows", result->deleted_job_rows},
                             {"export_ms", result->export_ms},
                             {"upload_ms", result->upload_ms},
                             {"verify_ms", result->verify_ms},
                             {"delete_ms", result->delete_ms}});
  }
  return result;
}

Result<BackupResult> BackupRunner::run_steps(bool force, BackupProgress& progress) {
  if (auto r = check_stop(progress); !r) return std::unexpected(r.error());
  BackupResult result;
  const Timestamp now = clock_.now();
  result.run_at = now;
  auto last = store_.last_backup_at();
  if (!last) return std::unexpected(last.error().context("backup run"));
  const bool first = !last->has_value();
  if (!first && !force && !months_passed(**last, now, options_.policy.monthly_backup)) {
    result.outcome = BackupOutcome::kSkipped;
    progress.phase = BackupPhase::kDone;
    return result;
  }
  const Date cutoff = cutoff_date(now, options_.policy.backup_before_months);
  result.cutoff = cutoff;

  // Export: the eligible rows from one snapshot into local spool files (each table's CSV, and
  // the rows' identities). The snapshot closes when export_eligible() returns, before anything
  // is uploaded: an upload may take long (S3 retries and their sleeps), and an open snapshot
  // holds back PostgreSQL's vacuum and SQLite's checkpoints for as long as it lasts.
  progress.phase = BackupPhase::kExport;
  auto lap = std::chrono::steady_clock::now();
  const std::filesystem::path dir = spool_directory(options_.spool_dir);
  auto spool = ExportSpool::create(dir);
  if (!spool) return std::unexpected(spool.error().context("backup export"));
  auto jobs = table_spool(BackupTable::kJobs, dir);
  if (!jobs) return std::unexpected(jobs.error().context("backup export"));
  auto statuses = table_spool(BackupTable::kProviderStatuses, dir);
  if (!statuses) return std::unexpected(statuses.error().context("backup export"));
  ExportSink sink{
      .job = [&](const store_detail::RowView& row) -> Result<void> {
        if (auto r = check_stop(progress); !r) return r;
        if (auto r = jobs->add(row); !r) return r;
        progress.job_rows.fetch_add(1, std::memory_order_relaxed);
        // columns: 0 id, 16 updated_at (record_codec's kJobColumns order)
        return spool->add_job(row.text(0).value_or(""), row.text(16).value_or(""));
      },
      .jobs_done = [&] { return jobs->end(); },
      .provider_status = [&](const store_detail::RowView& row) -> Result<void> {
        if (auto r = check_stop(progress); !r) return r;
        if (auto r = statuses->add(row); !r) return r;
        progress.provider_status_rows.fetch_add(1, std::memory_order_relaxed);
        return spool->add_status(row.text(0).value_or(""), row.text(1).value_or(""));
      },
  };
  if (auto r = store_.export_eligible(cutoff, sink); !r) {
    return std::unexpected(r.error().context("backup export"));
  }
  if (auto r = statuses->end(); !r) return std::unexpected(r.error().context("backup export"));
  result.job_rows = jobs->rows();
  result.provider_status_rows = statuses->rows();
  result.export_ms = lap_ms(lap);

  // Upload, then verify; nothing is deleted before every object is verified.
  progress.phase = BackupPhase::kUpload;
  for (TableSpool* t : {&*jobs, &*statuses}) {
    if (auto r = t->upload(objects_, object_key(t->table(), now), progress); !r) {
      return std::unexpected(r.error().context("backup upload (no row deleted)"));
    }
  }
  result.upload_ms = lap_ms(lap);

  BackupRecord record;
  record.backup_at = now;
  record.cutoff = Timestamp{cutoff};
  record.job_rows = result.job_rows;
  record.provider_status_rows = result.provider_status_rows;
  record.objects = "[";
  record.checksums = "{";
  progress.phase = BackupPhase::kVerify;
  for (const TableSpool* t : {&*jobs, &*statuses}) {
    if (!t->info()) continue;
    const ObjectInfo& info = *t->info();
    if (auto r = objects_.verify(info); !r) {
      return std::unexpected(r.error().context("backup verification (no row deleted)"));
    }
    BackupObject object{std::string(t->table()),
                        objects_.url(info.key),
                        t->rows(),
                        info.size,
                        info.sha256,
                        info.etag};
    if (!result.objects.empty()) {
      record.objects += ",";
      record.checksums += ",";
    }
    record.objects += json_string(object.url);
    record.checksums += json_string(object.url) + ":" + json_string("sha256:" + object.sha256);
    record.bytes += object.bytes;
    result.objects.push_back(std::move(object));
  }
  record.objects += "]";
  record.checksums += "}";
  result.verify_ms = lap_ms(lap);

  // Delete what the verified objects hold, batch by batch.
  progress.phase = BackupPhase::kDelete;
  if (auto r = spool->rewind(); !r) return std::unexpected(r.error());
  auto deleted = delete_spooled(*spool, progress);
  if (!deleted) {
    return std::unexpected(deleted.error().context(
        "deleting backed-up rows (the rows not yet deleted stay, and are in the verified "
        "objects)"));
  }
  result.deleted_job_rows = deleted->jobs;
  result.deleted_provider_status_rows = deleted->provider_statuses;
  result.delete_ms = lap_ms(lap);

  result.outcome = result.job_rows > 0 ? BackupOutcome::kBackedUp : BackupOutcome::kNothingToBackUp;
  if (first || result.outcome == BackupOutcome::kBackedUp) {
    progress.phase = BackupPhase::kRecord;
    record.id = new_uuid_v7(now);
    record.created_at = now;
    if (auto r = store_.insert_backup(record); !r) {
      return std::unexpected(r.error().context("saving the backup timestamp"));
    }
    result.timestamp_saved = true;
  }
  progress.phase = BackupPhase::kDone;
  return result;
}

Result<DeleteCounts> BackupRunner::delete_spooled(ExportSpool& spool, BackupProgress& progress) {
  std::mutex mutex;
  Result<void> status;  // the first failure; guarded by mutex, like the spool and `total`
  DeleteCounts total;
  auto work = [&] {
    std::vector<ExportedJob> jobs;
    std::vector<ExportedStatus> statuses;
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (!status) return;
        if (auto r = check_stop(progress); !r) {
          status = std::unexpected(r.error());
          return;
        }
        if (auto r = spool.next_batch(options_.delete_batch, jobs, statuses); !r) {
          status = std::unexpected(r.error());
          return;
        }
        if (jobs.empty()) return;
      }
      auto deleted = store_.delete_backed_up(jobs, statuses);
      std::lock_guard lock(mutex);
      if (!deleted) {
        if (status) status = std::unexpected(deleted.error());
        return;
      }
      total.jobs += deleted->jobs;
      total.provider_statuses += deleted->provider_statuses;
      progress.deleted_job_rows.fetch_add(deleted->jobs, std::memory_order_relaxed);
      progress.deleted_provider_status_rows.fetch_add(deleted->provider_statuses,
                                                      std::memory_order_relaxed);
    }
  };
  {
    std::vector<std::jthread> helpers;
    for (size_t i = 1; i < options_.delete_workers; ++i) helpers.emplace_back(work);
    work();
  }  // joins the helpers
  if (!status) return std::unexpected(status.error());
  return total;
}

}  // namespace rtjobs::backup
