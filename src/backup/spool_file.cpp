#include "backup/spool_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace rtjobs::backup {
namespace fs = std::filesystem;

namespace {

Error io_error(std::string_view what, const fs::path& dir, int err) {
  return Error{
      ErrorCode::kUnavailable,
      "backup spool in " + dir.string() + ": " + std::string(what) + ": " + std::strerror(err),
      {},
      {}};
}

// An unlinked file in `dir`: O_TMPFILE where the file system has it, else a unique name
// removed at once. -1 with errno set on failure.
int open_unlinked(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
  std::string name = (dir / "rtjobs-backup-spool-XXXXXX").string();
  std::vector<char> buf(name.begin(), name.end());
  buf.push_back('\0');
  fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd >= 0) ::unlink(buf.data());
  return fd;
}

}  // namespace

fs::path spool_directory(const fs::path& dir) {
  if (!dir.empty()) return dir;
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  return ec ? fs::path("/tmp") : tmp;
}

Result<SpoolFile> SpoolFile::create(const fs::path& dir, std::string what) {
  int fd = open_unlinked(dir);
  if (fd < 0) return std::unexpected(io_error("creating a temporary file for " + what, dir, errno));
  return SpoolFile(fd, dir, std::move(what));
}

SpoolFile::SpoolFile(SpoolFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      dir_(std::move(other.dir_)),
      what_(std::move(other.what_)),
      size_(other.size_) {}

SpoolFile& SpoolFile::operator=(SpoolFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    dir_ = std::move(other.dir_);
    what_ = std::move(other.what_);
    size_ = other.size_;
  }
  return *this;
}

SpoolFile::~SpoolFile() {
  if (fd_ >= 0) ::close(fd_);
}

Error SpoolFile::write_error(int err, const fs::path& dir, std::string_view what, int64_t written) {
  std::string message = "backup spool: writing " + std::string(what) + " to a temporary file in " +
                        dir.string() + " failed after " + std::to_string(written) +
                        " bytes: " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
    message +=
        " (the backup writes each table's CSV there before uploading it, so it needs about the "
        "size of the backup objects free there: free some space, or point TMPDIR at a larger "
        "directory; nothing was deleted)";
  }
  return Error{ErrorCode::kUnavailable, std::move(message), {}, {}};
}

Result<void> SpoolFile::append(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(write_error(errno, dir_, what_, size_));
    bytes.remove_prefix(static_cast<size_t>(n));
    size_ += n;
  }
  return {};
}

Result<size_t> SpoolFile::read(std::span<char> buffer) {
  for (;;) {
    ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(io_error("reading back " + what_, dir_, errno));
    return static_cast<size_t>(n);
  }
}

Result<void> SpoolFile::rewind() {
  if (::lseek(fd_, 0, SEEK_SET) < 0) {
    return std::unexpected(io_error("rewinding " + what_, dir_, errno));
  }
  return {};
}

int SpoolFile::release() { return std::exchange(fd_, -1); }

}  // namespace rtjobs::backup
