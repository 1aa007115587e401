// Restorer: loads one backup CSV back into the database (`rtjobs restore`). The source is a
// local path, a file:// URL or s3://bucket/key. The table is told by the header row, whose
// names place the fields (a backup made before a column was added restores it as NULL).
//
// All or nothing, in two passes over the file:
// 1. Check: every record is read and checked before anything is written (backup_tables.hpp's
//    restore_row: each value's syntax and range, the same on both databases; job rows only as
//    a backup holds them: terminal, settlement not pending). A backup lists each row once in
//    its export order (jobs by id, provider-status rows by job_id then id), so a row out of that
//    order, or listed twice, is refused too. The first refusal stops the restore, naming its
//    line and column; the database is not touched.
// 2. Load: the file is read again and every row goes into the database in ONE transaction
//    (BackupStore::restore_rows). A row whose id is already present is skipped (restoring an
//    object twice is harmless); a row the database refuses (its parent missing, a clash with
//    another row) rolls everything back, naming its line.
// An s3:// object is first spooled to a local temporary file (spool_file.hpp: unlinked, so
// nothing stays behind), so both passes read the disk and memory does not grow with the size.
//
// Provider-status rows reference their job: restore a run's recurring_transfer_job object
// before its recurring_transfer_provider_status object.
//
// Thread-safety: one restore at a time per Restorer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "backup/object_store.hpp"
#include "core/error.hpp"
#include "store/backup_store.hpp"

namespace rtjobs::backup {

struct RestoreResult {
  std::string table;
  int64_t rows_read = 0;
  int64_t rows_inserted = 0;
  int64_t rows_skipped = 0;  // already present
  int64_t bytes = 0;
};

enum class RestorePhase { kDownloading, kChecking, kLoading };
std::string_view to_string(RestorePhase phase);  // "downloading", "checking", "loading"

// Called as bytes are read in each phase: (phase, bytes so far, total bytes or -1 if unknown).
using RestoreProgress = std::function<void(RestorePhase phase, int64_t read, int64_t total)>;

class Restorer {
 public:
  // `batch_rows`: rows handed to the database at a time (one statement pipeline on PostgreSQL).
  Restorer(BackupStore& store, S3Settings s3, size_t batch_rows = 1000)
      : store_(store), s3_(std::move(s3)), batch_rows_(batch_rows) {}

  Result<RestoreResult> restore(const std::string& source, const RestoreProgress& progress);

 private:
  BackupStore& store_;
  const S3Settings s3_;
  const size_t batch_rows_;
};

}  // namespace rtjobs::backup
