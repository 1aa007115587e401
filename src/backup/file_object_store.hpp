// FileObjectStore: objects as files under a root directory (file://dir). A writer writes to a
// temporary file beside the target, and finish() fsyncs it, renames it into place without ever
// replacing an existing file (renameat2 RENAME_NOREPLACE) and fsyncs the directory, so after
// finish() the object survives a power loss. verify() re-reads the file: size and SHA-256.
//
// Thread-safe (no shared state besides the root path).
#pragma once

#include <filesystem>

#include "backup/object_store.hpp"

namespace rtjobs::backup {

class FileObjectStore final : public ObjectStore {
 public:
  explicit FileObjectStore(std::filesystem::path root) : root_(std::move(root)) {}

  std::string url(std::string_view key) const override;
  Result<std::unique_ptr<ObjectWriter>> create(std::string_view key) override;
  Result<std::optional<ObjectInfo>> head(std::string_view key) override;
  Result<void> verify(const ObjectInfo& written) override;
  Result<void> get(std::string_view key, const ChunkSink& sink) override;
  Result<std::vector<ObjectInfo>> list(std::string_view prefix) override;

  // Reads a file at any path (restore of a local file), in chunks.
  static Result<void> read_file(const std::filesystem::path& path, const ChunkSink& sink);

 private:
  std::filesystem::path path_of(std::string_view key) const { return root_ / key; }

  const std::filesystem::path root_;
};

}  // namespace rtjobs::backup
