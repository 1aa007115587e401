#include "backup/backup_runs.hpp"

#include <condition_variable>

#include "core/log.hpp"
#include "core/thread_name.hpp"
#include "core/uuid.hpp"

namespace rtjobs::backup {
namespace {

// Copies what `progress` says so far into `record`.
void apply(const BackupProgress& progress, BackupRunRecord& record) {
  record.phase = std::string(to_string(progress.phase.load()));
  record.job_rows = progress.job_rows.load();
  record.provider_status_rows = progress.provider_status_rows.load();
  record.uploaded_bytes = progress.uploaded_bytes.load();
  record.deleted_job_rows = progress.deleted_job_rows.load();
  record.deleted_provider_status_rows = progress.deleted_provider_status_rows.load();
}

bool same_progress(const BackupRunRecord& a, const BackupRunRecord& b) {
  return a.phase == b.phase && a.job_rows == b.job_rows &&
         a.provider_status_rows == b.provider_status_rows && a.uploaded_bytes == b.uploaded_bytes &&
         a.deleted_job_rows == b.deleted_job_rows &&
         a.deleted_provider_status_rows == b.deleted_provider_status_rows;
}

}  // namespace

BackupRuns::BackupRuns(BackupStore& store, BackupRunner& runner, const Clock& clock,
                       BackupRunsOptions options)
    : store_(store), runner_(runner), clock_(clock), options_(options) {}

Result<BackupRuns::Claim> BackupRuns::claim(bool force, std::string* in_progress) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return fail(ErrorCode::kUnavailable, "the server is stopping");
  }
  auto lock = store_.try_lock_run();
  if (!lock) return std::unexpected(lock.error().context("backup run"));
  if (!*lock) {
    Error e{ErrorCode::kConflict, "another backup run is in progress", {}, "backup_in_progress"};
    auto running = store_.running_backup_run(options_.stale_after);
    if (running && *running) {
      e.message += ": " + (*running)->id;
      if (in_progress) *in_progress = (*running)->id;
    }
    return std::unexpected(e);
  }
  const Timestamp now = clock_.now();
  BackupRunRecord record;
  record.id = new_uuid_v7(now);
  record.status = "running";
  record.phase = std::string(to_string(BackupPhase::kStarting));
  record.force = force;
  record.started_at = now;
  if (auto r = store_.begin_backup_run(record); !r) return std::unexpected(r.error());
  log::info("backup run started", {{"run_id", record.id}, {"force", force}});
  return Claim{std::move(*lock), std::move(record)};
}

Result<BackupRunRecord> BackupRuns::start(bool force, Done done, std::string* in_progress) {
  auto claimed = claim(force, in_progress);
  if (!claimed) return std::unexpected(claimed.error());
  BackupRunRecord record = claimed->record;
  std::unique_lock lock(mutex_);
  if (stopping_) {  // stop() came in meanwhile: the run ends at once, recorded as stopped
    lock.unlock();
    (void)execute(std::move(*claimed), {});
    return fail(ErrorCode::kUnavailable, "the server is stopping");
  }
  // The previous run's thread is past its run lock (we hold it now): at most its `done` left.
  if (thread_.joinable()) thread_.join();
  thread_ = std::thread([this, claimed = std::move(*claimed), done = std::move(done)]() mutable {
    name_this_thread("backup_run");
    (void)execute(std::move(claimed), done);
  });
  return record;
}

Result<BackupResult> BackupRuns::run(bool force, std::string* in_progress) {
  auto claimed = claim(force, in_progress);
  if (!claimed) return std::unexpected(claimed.error());
  return execute(std::move(*claimed), {});
}

Result<BackupResult> BackupRuns::execute(Claim claim, const Done& done) {
  BackupRunRecord& record = claim.record;
  BackupProgress progress;
  {
    std::lock_guard lock(mutex_);
    current_ = &progress;
    if (stopping_) progress.stop = true;
  }

  // The reporter: progress when it changed (at most every report_every), a heartbeat at least
  // every `heartbeat`.
  std::mutex reporter_mutex;
  std::condition_variable reporter_wake;
  bool finished = false;  // guarded by reporter_mutex
  std::thread reporter([&] {
    name_this_thread("backup_report");
    BackupRunRecord written = record;
    auto last_write = std::chrono::steady_clock::now();
    std::unique_lock lock(reporter_mutex);
    while (!reporter_wake.wait_for(lock, options_.report_every, [&] { return finished; })) {
      lock.unlock();
      BackupRunRecord now = record;
      apply(progress, now);
      const auto elapsed = std::chrono::steady_clock::now() - last_write;
      if (!same_progress(now, written) || elapsed >= options_.heartbeat) {
        if (auto r = store_.update_backup_run(now); !r) {
          log::warn("backup run: progress not written",
                    {{"run_id", record.id}, {"error", r.error().message}});
        } else {
          written = now;
          last_write = std::chrono::steady_clock::now();
        }
      }
      lock.lock();
    }
  });

  auto result = runner_.run_locked(record.force, progress);
  {
    std::lock_guard lock(reporter_mutex);
    finished = true;
  }
  reporter_wake.notify_all();
  reporter.join();

  apply(progress, record);
  record.finished_at = clock_.now();
  if (result) {
    record.status = "succeeded";
    record.job_rows = result->job_rows;
    record.provider_status_rows = result->provider_status_rows;
    record.deleted_job_rows = result->deleted_job_rows;
    record.deleted_provider_status_rows = result->deleted_provider_status_rows;
    record.result = result_json(*result);
  } else {
    record.status = "failed";
    record.error = result.error().message;
  }
  // The end is written before the run lock goes, so a reader never sees a finished run
  // "running" with its lock free. If the database does not take it, the row keeps its last
  // heartbeat and reads as interrupted once stale.
  for (int attempt = 1;; ++attempt) {
    auto r = store_.update_backup_run(record);
    if (r) break;
    if (attempt == 3) {
      log::error("backup run: its end could not be recorded",
                 {{"run_id", record.id}, {"status", record.status}, {"error", r.error().message}});
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500 * attempt));
  }
  log::info("backup run ended", {{"run_id", record.id}, {"status", record.status}});
  {
    std::lock_guard lock(mutex_);
    current_ = nullptr;
  }
  claim.lock.reset();  // the next run may start
  if (done) done(result);
  return result;
}

Result<std::optional<BackupRunRecord>> BackupRuns::get(std::string_view id) {
  auto found = store_.get_backup_run(id, options_.stale_after);
  if (!found) return std::unexpected(found.error().context("reading backup run"));
  if (*found && (*found)->status == "running" && (*found)->heartbeat_stale) {
    BackupRunRecord& run = **found;
    run.status = "failed";
    run.error = std::string(store_detail::kInterruptedRun);
    run.finished_at = run.heartbeat_at;
  }
  return found;
}

void BackupRuns::stop() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (current_) current_->stop = true;
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

}  // namespace rtjobs::backup
