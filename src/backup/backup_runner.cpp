#include "backup/backup_runner.hpp"

#include <chrono>
#include <mutex>
#include <thread>

#include "backup/backup_tables.hpp"
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

// One table's object: created at its first row, fed in chunks of about kFlushBytes.
class TableExport {
 public:
  TableExport(ObjectStore& objects, BackupTable table, Timestamp now)
      : objects_(objects), spec_(table_spec(table)), key_(object_key(spec_.name, now)) {}

  Result<void> add(const store_detail::RowView& row) {
    if (!writer_) {
      auto writer = objects_.create(key_);
      if (!writer) return std::unexpected(writer.error().context("creating " + objects_.url(key_)));
      writer_ = std::move(*writer);
      append_header(spec_, buffer_);
    }
    if (auto r = append_row(spec_, row, buffer_); !r) return r;
    ++rows_;
    if (buffer_.size() >= kFlushBytes) return flush();
    return {};
  }

  // Completes the object (nothing when no row came).
  Result<void> finish() {
    if (!writer_) return {};
    if (auto r = flush(); !r) return r;
    auto info = writer_->finish();
    if (!info) return std::unexpected(info.error().context("writing " + objects_.url(key_)));
    info_ = std::move(*info);
    writer_.reset();
    return {};
  }

  int64_t rows() const { return rows_; }
  const std::optional<ObjectInfo>& info() const { return info_; }
  std::string_view table() const { return spec_.name; }

 private:
  Result<void> flush() {
    auto r = writer_->write(buffer_);
    buffer_.clear();
    if (!r) return std::unexpected(r.error().context("writing " + objects_.url(key_)));
    return {};
  }

  ObjectStore& objects_;
  const TableSpec& spec_;
  const std::string key_;
  std::unique_ptr<ObjectWriter> writer_;
  std::string buffer_;
  int64_t rows_ = 0;
  std::optional<ObjectInfo> info_;
};

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

Result<BackupResult> BackupRunner::run(bool force) {
  auto lock = store_.try_lock_run();
  if (!lock) return std::unexpected(lock.error().context("backup run"));
  if (!*lock) {
    Error e{ErrorCode::kConflict, "another backup run is in progress", {}, "backup_in_progress"};
    return std::unexpected(e);
  }
  auto result = run_locked(force);
  if (!result) {
    log::error("backup run failed", {{"error", result.error().message}});
  } else {
    log::info("backup run", {{"outcome", to_string(result->outcome)},
                             {"timestamp_saved", result->timestamp_saved},
                             {"job_rows", result->job_rows},
                             {"provider_status_rows", result->provider_status_rows},
                             {"deleted_job_rows", result->deleted_job_rows},
                             {"export_ms", result->export_ms},
                             {"verify_ms", result->verify_ms},
                             {"delete_ms", result->delete_ms}});
  }
  return result;
}

Result<BackupResult> BackupRunner::run_locked(bool force) {
  BackupResult result;
  const Timestamp now = clock_.now();
  result.run_at = now;
  auto last = store_.last_backup_at();
  if (!last) return std::unexpected(last.error().context("backup run"));
  const bool first = !last->has_value();
  if (!first && !force && !months_passed(**last, now, options_.policy.monthly_backup)) {
    result.outcome = BackupOutcome::kSkipped;
    return result;
  }
  const Date cutoff = cutoff_date(now, options_.policy.backup_before_months);
  result.cutoff = cutoff;

  // Export and upload; nothing is deleted before every object is verified.
  auto lap = std::chrono::steady_clock::now();
  auto spool = ExportSpool::create();
  if (!spool) return std::unexpected(spool.error());
  TableExport jobs(objects_, BackupTable::kJobs, now);
  TableExport statuses(objects_, BackupTable::kProviderStatuses, now);
  ExportSink sink{
      .job = [&](const store_detail::RowView& row) -> Result<void> {
        if (auto r = jobs.add(row); !r) return r;
        // columns: 0 id, 16 updated_at (record_codec's kJobColumns order)
        return spool->add_job(row.text(0).value_or(""), row.text(16).value_or(""));
      },
      .jobs_done = [&] { return jobs.finish(); },
      .provider_status = [&](const store_detail::RowView& row) -> Result<void> {
        if (auto r = statuses.add(row); !r) return r;
        return spool->add_status(row.text(0).value_or(""), row.text(1).value_or(""));
      },
  };
  if (auto r = store_.export_eligible(cutoff, sink); !r) {
    return std::unexpected(r.error().context("backup export"));
  }
  if (auto r = statuses.finish(); !r) return std::unexpected(r.error().context("backup export"));
  result.job_rows = jobs.rows();
  result.provider_status_rows = statuses.rows();
  result.export_ms = lap_ms(lap);

  BackupRecord record;
  record.backup_at = now;
  record.cutoff = Timestamp{cutoff};
  record.job_rows = result.job_rows;
  record.provider_status_rows = result.provider_status_rows;
  record.objects = "[";
  record.checksums = "{";
  for (const TableExport* t : {&jobs, &statuses}) {
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
  if (auto r = spool->rewind(); !r) return std::unexpected(r.error());
  auto deleted = delete_spooled(*spool);
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
    record.id = new_uuid_v7(now);
    record.created_at = now;
    if (auto r = store_.insert_backup(record); !r) {
      return std::unexpected(r.error().context("saving the backup timestamp"));
    }
    result.timestamp_saved = true;
  }
  return result;
}

Result<DeleteCounts> BackupRunner::delete_spooled(ExportSpool& spool) {
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
