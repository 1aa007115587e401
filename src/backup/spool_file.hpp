// SpoolFile: a local temporary file holding what a backup run carries from the database to the
// object store (each table's CSV) or to the deletion (the exported rows' identities), so the
// export's snapshot can close before the upload starts and memory stays flat.
//
// The file is created already unlinked in its directory (O_TMPFILE, or a unique name removed at
// once), so the kernel frees its space when it is closed: nothing is left behind after a
// success, a failure or a kill. Write errors name the directory, what was being spooled and how
// much was written; a full disk (ENOSPC, EDQUOT, EFBIG) says what to do about it.
//
//   auto f = SpoolFile::create(spool_directory({}), "the CSV of recurring_transfer_job");
//   f->append(bytes);  ...  f->rewind();  while (n = *f->read(buf)) ...
//
// Not thread-safe: one run uses it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace rtjobs::backup {

// Where spool files go: `dir`, or the system's temporary directory (TMPDIR, else /tmp) when
// `dir` is empty.
std::filesystem::path spool_directory(const std::filesystem::path& dir);

class SpoolFile {
 public:
  // `what` names the content in errors ("the CSV of recurring_transfer_job").
  static Result<SpoolFile> create(const std::filesystem::path& dir, std::string what);

  SpoolFile(SpoolFile&& other) noexcept;
  SpoolFile& operator=(SpoolFile&& other) noexcept;
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;
  ~SpoolFile();

  // Appends at the end (unbuffered: callers write in chunks).
  Result<void> append(std::string_view bytes);
  // Reads from the current position: call rewind() after the writes. 0 at the end.
  Result<size_t> read(std::span<char> buffer);
  Result<void> rewind();

  int64_t size() const { return size_; }
  // The descriptor, given up to the caller (e.g. for fdopen); the file is gone when it closes.
  int release();

  // The error of a failed write of `what` to `dir` after `written` bytes (errno value `err`).
  static Error write_error(int err, const std::filesystem::path& dir, std::string_view what,
                           int64_t written);

 private:
  SpoolFile(int fd, std::filesystem::path dir, std::string what)
      : fd_(fd), dir_(std::move(dir)), what_(std::move(what)) {}

  int fd_ = -1;
  std::filesystem::path dir_;
  std::string what_;
  int64_t size_ = 0;
};

}  // namespace rtjobs::backup
