// ExportSpool: the identities of the rows a backup exported, kept in an unlinked temporary file
// (tmpfile(3)) rather than in memory, and read back in batches for deletion: each batch of jobs
// with the provider-status rows of those jobs (both were exported in job id order). About 70
// bytes of disk per row; the file disappears with the process.
//
// Not thread-safe: one run uses it.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "store/backup_store.hpp"

namespace rtjobs::backup {

class ExportSpool {
 public:
  static Result<ExportSpool> create();

  Result<void> add_job(std::string_view id, std::string_view updated_at);
  Result<void> add_status(std::string_view id, std::string_view job_id);

  // Starts reading from the beginning (after the export wrote everything).
  Result<void> rewind();
  // The next up to `max_jobs` jobs and their provider-status rows; empty jobs at the end.
  Result<void> next_batch(size_t max_jobs, std::vector<ExportedJob>& jobs,
                          std::vector<ExportedStatus>& statuses);

 private:
  using File = std::unique_ptr<FILE, int (*)(FILE*)>;
  ExportSpool(File jobs, File statuses) : jobs_(std::move(jobs)), statuses_(std::move(statuses)) {}

  File jobs_;
  File statuses_;
  std::optional<ExportedStatus> lookahead_;  // read, belongs to a later batch
};

}  // namespace rtjobs::backup
