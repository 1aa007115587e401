#include "backup/file_object_store.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "backup/digest.hpp"

namespace rtjobs::backup {
namespace fs = std::filesystem;

namespace {

Error io_error(std::string_view what, const fs::path& path, int err) {
  return Error{ErrorCode::kUnavailable,
               std::string(what) + " " + path.string() + ": " + std::strerror(err),
               {},
               {}};
}

Result<void> fsync_path(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return std::unexpected(io_error("opening", path, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return std::unexpected(io_error("syncing", path, err));
  return {};
}

class FileWriter final : public ObjectWriter {
 public:
  FileWriter(std::string key, fs::path target, fs::path temp, int fd)
      : key_(std::move(key)), target_(std::move(target)), temp_(std::move(temp)), fd_(fd) {}
  ~FileWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!finished_) ::unlink(temp_.c_str());
  }

  Result<void> write(std::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::unexpected(io_error("writing", temp_, errno));
      bytes.remove_prefix(static_cast<size_t>(n));
      size_ += n;
    }
    return {};
  }

  Result<ObjectInfo> finish() override {
    if (::fsync(fd_) != 0) return std::unexpected(io_error("syncing", temp_, errno));
    ::close(fd_);
    fd_ = -1;
    if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, target_.c_str(), RENAME_NOREPLACE) != 0) {
      int err = errno;
      if (err == EEXIST) return fail(ErrorCode::kConflict, "object exists: " + target_.string());
      return std::unexpected(io_error("renaming into", target_, err));
    }
    finished_ = true;
    if (auto r = fsync_path(target_.parent_path(), O_RDONLY | O_DIRECTORY); !r) {
      return std::unexpected(r.error());
    }
    return ObjectInfo{key_, size_, {}, {}};
  }

 private:
  std::string key_;
  fs::path target_;
  fs::path temp_;
  int fd_;
  int64_t size_ = 0;
  bool finished_ = false;
};

// Adds the SHA-256 and MD5 of the stream to a FileWriter's result.
class DigestingWriter final : public ObjectWriter {
 public:
  explicit DigestingWriter(std::unique_ptr<ObjectWriter> inner) : inner_(std::move(inner)) {}
  Result<void> write(std::string_view bytes) override {
    sha_.update(bytes);
    md5_.update(bytes);
    return inner_->write(bytes);
  }
  Result<ObjectInfo> finish() override {
    auto info = inner_->finish();
    if (!info) return info;
    info->sha256 = sha_.finish_hex();
    info->etag = md5_.finish_hex();
    info->md5 = info->etag;
    return info;
  }

 private:
  std::unique_ptr<ObjectWriter> inner_;
  Digest sha_{Digest::Kind::kSha256};
  Digest md5_{Digest::Kind::kMd5};
};

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

std::string FileObjectStore::url(std::string_view key) const {
  std::error_code ec;
  fs::path abs = fs::absolute(path_of(key), ec);
  return "file://" + (ec ? path_of(key) : abs).lexically_normal().string();
}

Result<std::unique_ptr<ObjectWriter>> FileObjectStore::create(std::string_view key) {
  fs::path target = path_of(key);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec)
    return fail(ErrorCode::kUnavailable,
                "creating " + target.parent_path().string() + ": " + ec.message());
  if (fs::exists(target)) return fail(ErrorCode::kConflict, "object exists: " + target.string());
  fs::path temp = target;
  temp += ".tmp-" + random_suffix();
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return std::unexpected(io_error("creating", temp, errno));
  return std::unique_ptr<ObjectWriter>(
      new DigestingWriter(std::make_unique<FileWriter>(std::string(key), target, temp, fd)));
}

Result<std::optional<ObjectInfo>> FileObjectStore::head(std::string_view key) {
  std::error_code ec;
  auto size = fs::file_size(path_of(key), ec);
  if (ec == std::errc::no_such_file_or_directory) return std::nullopt;
  if (ec)
    return fail(ErrorCode::kUnavailable, "reading " + path_of(key).string() + ": " + ec.message());
  return ObjectInfo{std::string(key), static_cast<int64_t>(size), {}, {}};
}

Result<void> FileObjectStore::verify(const ObjectInfo& written) {
  Digest sha(Digest::Kind::kSha256);
  int64_t size = 0;
  auto r = read_file(path_of(written.key), [&](std::string_view chunk) -> Result<void> {
    sha.update(chunk);
    size += static_cast<int64_t>(chunk.size());
    return {};
  });
  if (!r) return std::unexpected(r.error().context("verifying " + url(written.key)));
  if (size != written.size) {
    return fail(ErrorCode::kInternal, "verifying " + url(written.key) + ": size " +
                                          std::to_string(size) + ", wrote " +
                                          std::to_string(written.size));
  }
  if (std::string hex = sha.finish_hex(); hex != written.sha256) {
    return fail(ErrorCode::kInternal,
                "verifying " + url(written.key) + ": SHA-256 " + hex + ", wrote " + written.sha256);
  }
  return {};
}

Result<void> FileObjectStore::read_file(const fs::path& path, const ChunkSink& sink) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return fail(ErrorCode::kNotFound, "no such file: " + path.string());
    return std::unexpected(io_error("opening", path, err));
  }
  std::string buf(256 * 1024, '\0');
  Result<void> result;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result = std::unexpected(io_error("reading", path, errno));
      break;
    }
    if (n == 0) break;
    if (result = sink(std::string_view(buf.data(), static_cast<size_t>(n))); !result) break;
  }
  ::close(fd);
  return result;
}

Result<void> FileObjectStore::get(std::string_view key, const ChunkSink& sink) {
  return read_file(path_of(key), sink);
}

Result<std::vector<ObjectInfo>> FileObjectStore::list(std::string_view prefix) {
  std::vector<ObjectInfo> out;
  std::error_code ec;
  if (!fs::exists(root_, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(root_, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string key = it->path().lexically_relative(root_).string();
    if (!key.starts_with(prefix) || key.find(".tmp-") != std::string::npos) continue;
    out.push_back({key, static_cast<int64_t>(it->file_size()), {}, {}});
  }
  if (ec) return fail(ErrorCode::kUnavailable, "listing " + root_.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.key < b.key; });
  return out;
}

}  // namespace rtjobs::backup
