// Restorer: loads one backup CSV back into the database (`rtjobs restore`). The source is a
// local path, a file:// URL or s3://bucket/key. The table is told by the header row, whose
// names place the fields (a backup made before a column was added restores it as NULL); rows
// already present (same id, or the same unique key) are skipped, so restoring an object twice,
// or two objects holding the same row, is harmless. Rows are inserted in batches, one
// transaction each; the object is streamed, so memory does not grow with its size.
//
// Provider-status rows reference their job: restore a run's recurring_transfer_job object
// before its recurring_transfer_provider_status object.
//
// Thread-safety: one restore at a time per Restorer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

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

// Called as bytes arrive: (bytes read so far, total bytes or -1 when unknown).
using RestoreProgress = std::function<void(int64_t read, int64_t total)>;

class Restorer {
 public:
  Restorer(BackupStore& store, S3Settings s3, size_t batch_rows = 1000)
      : store_(store), s3_(std::move(s3)), batch_rows_(batch_rows) {}

  Result<RestoreResult> restore(const std::string& source, const RestoreProgress& progress);

 private:
  BackupStore& store_;
  const S3Settings s3_;
  const size_t batch_rows_;
};

}  // namespace rtjobs::backup
