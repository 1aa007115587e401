// BackupRunner: one backup-and-delete run by the seed's rules (SPEC section 6; the rules
// themselves are in backup_rules.hpp).
//
// 1. Take the run lock (another run anywhere: kConflict, reason "backup_in_progress").
// 2. No saved timestamp: this is the first run. Otherwise, unless forced, SKIPPED when fewer
//    than RT_MONTHLY_BACKUP months passed since it.
// 3. Stream the eligible rows from one database snapshot into local spool files (spool_file.hpp):
//    one CSV per table, and each exported row's identity (job: id and updated_at; provider
//    status: id and job_id), so memory does not grow with the row count. The snapshot closes
//    here, before the upload: a long upload (S3 retries and their sleeps) must not hold back
//    PostgreSQL's vacuum or SQLite's checkpoints.
// 4. Upload each table's CSV as one object (a table without rows gets no object), then verify
//    every object (object_store.hpp). Until here nothing was deleted.
// 5. Delete exactly the spooled rows, in batches of one transaction each (provider statuses of
//    a batch's jobs first, then the jobs; backup_store.hpp says which rows are kept because they
//    changed since the export). A few batches run at once, on threads of the run; the first
//    failure stops them all.
// 6. Record the backup row (saves the timestamp): on the first run always, later runs only when
//    something was backed up.
//
// Crash safety: a failure or kill before 5 deletes nothing (a half-written object is never
// visible: temp file / unfinished multipart). A kill during 5 leaves the batches not yet
// deleted in the database; they are in the verified object and the next run exports them again
// into its own object. So the same row may sit in two objects; restore skips rows already
// present, so restoring both is harmless. A kill between 5 and 6 leaves the timestamp unsaved;
// the next due run backs up whatever is eligible then and saves it. The spool files have no name
// from the start, so a failure or a kill at any step leaves none behind.
//
// Thread-safety: run() may be called from any thread; the run lock serialises runs. The store's
// delete_backed_up() is called from several threads at once (one batch each).
#pragma once

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backup/backup_rules.hpp"
#include "backup/export_spool.hpp"
#include "backup/object_store.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "store/backup_store.hpp"

namespace rtjobs::backup {

enum class BackupOutcome { kSkipped, kNothingToBackUp, kBackedUp };
std::string_view to_string(BackupOutcome outcome);

struct BackupObject {
  std::string table;
  std::string url;
  int64_t rows = 0;
  int64_t bytes = 0;
  std::string sha256;
  std::string etag;
};

struct BackupResult {
  BackupOutcome outcome = BackupOutcome::kSkipped;
  bool timestamp_saved = false;
  int64_t job_rows = 0;  // rows written to the objects
  int64_t provider_status_rows = 0;
  std::vector<BackupObject> objects;
  int64_t deleted_job_rows = 0;  // fewer than job_rows only when rows changed since the export
  int64_t deleted_provider_status_rows = 0;
  Timestamp run_at{};
  std::optional<Date> cutoff;  // absent when SKIPPED
  // Wall time of each step, for the log line (operators see where a long run went).
  int64_t export_ms = 0;  // export to the local spool files
  int64_t upload_ms = 0;
  int64_t verify_ms = 0;
  int64_t delete_ms = 0;
};

// The steps of a run, as a run's progress shows them (GET /v1/backups/{id}).
enum class BackupPhase { kStarting, kExport, kUpload, kVerify, kDelete, kRecord, kDone };
std::string_view to_string(BackupPhase phase);

// What a run reports as it goes, and how it is asked to stop. The run's threads write it; any
// thread reads it (BackupRuns writes it to the run's row about once a second).
struct BackupProgress {
  std::atomic<BackupPhase> phase{BackupPhase::kStarting};
  std::atomic<int64_t> job_rows{0};  // exported so far
  std::atomic<int64_t> provider_status_rows{0};
  std::atomic<int64_t> uploaded_bytes{0};  // CSV bytes sent to the object store
  std::atomic<int64_t> deleted_job_rows{0};
  std::atomic<int64_t> deleted_provider_status_rows{0};
  // Set from another thread to end the run early (the server is stopping): it fails at its next
  // row, chunk or deletion batch. Before the deletion nothing was deleted; during it, the rows
  // not deleted yet stay and are in the verified objects (as for any failure, see above).
  std::atomic<bool> stop{false};
};

// The result as POST /v1/backups answers it (SPEC section 4): outcome, timestamp_saved, row
// counts, objects, run_at, cutoff; a JSON object's text.
std::string result_json(const BackupResult& result);

struct BackupRunnerOptions {
  BackupPolicy policy;
  size_t delete_batch = 10000;  // jobs per deletion transaction
  // Deletion transactions run side by side (on PostgreSQL each is a server process of its own,
  // so the deletion uses both of its cores).
  size_t delete_workers = 2;
  // Where each table's CSV and the exported rows' identities are spooled between the export and
  // the upload (spool_file.hpp); empty: the system's temporary directory (TMPDIR, else /tmp).
  std::filesystem::path spool_dir;
};

class BackupRunner {
 public:
  BackupRunner(BackupStore& store, ObjectStore& objects, const Clock& clock,
               BackupRunnerOptions options)
      : store_(store), objects_(objects), clock_(clock), options_(std::move(options)) {}

  // Takes the run lock, then runs.
  Result<BackupResult> run(bool force);
  // Runs for a caller that holds the run lock already (BackupRuns), reporting to `progress`.
  // Logs the outcome or the error.
  Result<BackupResult> run_locked(bool force, BackupProgress& progress);

 private:
  Result<BackupResult> run_steps(bool force, BackupProgress& progress);
  // Step 5: deletes the spooled rows, options_.delete_workers batches at a time.
  Result<DeleteCounts> delete_spooled(ExportSpool& spool, BackupProgress& progress);

  BackupStore& store_;
  ObjectStore& objects_;
  const Clock& clock_;
  const BackupRunnerOptions options_;
};

}  // namespace rtjobs::backup
