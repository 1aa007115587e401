// ExportSpool: the identities of the rows a backup exported, kept in unlinked temporary files
// (spool_file.hpp) rather than in memory, and read back in batches for deletion: each batch of
// jobs with the provider-status rows of those jobs (both were exported in job id order). About
// 70 bytes of disk per row; the files disappear when the spool is destroyed (or the process
// ends).
//
// Not thread-safe: one run uses it.
#pragma once

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "store/backup_store.hpp"

namespace rtjobs::backup {

class ExportSpool {
 public:
  // Spools to `dir` (spool_directory() gives the default).
  static Result<ExportSpool> create(const std::filesystem::path& dir);

  Result<void> add_job(std::string_view id, std::string_view updated_at);
  Result<void> add_status(std::string_view id, std::string_view job_id);

  // Starts reading from the beginning (after the export wrote everything).
  Result<void> rewind();
  // The next up to `max_jobs` jobs and their provider-status rows; empty jobs at the end.
  Result<void> next_batch(size_t max_jobs, std::vector<ExportedJob>& jobs,
                          std::vector<ExportedStatus>& statuses);

 private:
  using File = std::unique_ptr<FILE, int (*)(FILE*)>;
  ExportSpool(std::filesystem::path dir, File jobs, File statuses)
      : dir_(std::move(dir)), jobs_(std::move(jobs)), statuses_(std::move(statuses)) {}
  Result<void> write_pair(FILE* f, std::string_view a, std::string_view b);

  std::filesystem::path dir_;
  int64_t written_ = 0;  // bytes, for errors
  File jobs_;
  File statuses_;
  std::optional<ExportedStatus> lookahead_;  // read, belongs to a later batch
};

}  // namespace rtjobs::backup
