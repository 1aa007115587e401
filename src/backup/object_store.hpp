// ObjectStore: where backup objects go, behind one interface: a directory (file://dir) or an S3
// bucket (s3://bucket/prefix, any S3-compatible endpoint). Keys are relative to the store's
// root (the directory, or the URL's prefix).
//
// Writing streams: create() returns an ObjectWriter that takes bytes in chunks and holds at
// most one part (S3) or nothing (file) in memory. An object becomes visible only when finish()
// succeeds, and never replaces an existing object. finish() returns what was written (size,
// the expected ETag and SHA-256); verify() then checks the stored object against it, and the
// backup deletes rows only after that.
//
// Thread-safety: an ObjectStore may be used from several threads; an ObjectWriter by one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace rtjobs::backup {

struct ObjectInfo {
  std::string key;
  int64_t size = 0;
  std::string etag;    // S3's form: MD5 hex, or for multipart MD5-of-part-MD5s hex "-N"
  std::string sha256;  // hex; set by writers (not by head/list)
  std::string md5;     // hex MD5 of the whole content; set by writers
};

class ObjectWriter {
 public:
  // Destroying an unfinished writer discards what it wrote (temp file, multipart upload).
  virtual ~ObjectWriter() = default;
  virtual Result<void> write(std::string_view bytes) = 0;
  virtual Result<ObjectInfo> finish() = 0;
};

using ChunkSink = std::function<Result<void>(std::string_view chunk)>;

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // The object's URL, e.g. "s3://bucket/prefix/key" or "file:///abs/dir/key".
  virtual std::string url(std::string_view key) const = 0;

  // kConflict when `key` exists already.
  virtual Result<std::unique_ptr<ObjectWriter>> create(std::string_view key) = 0;
  // nullopt when the object does not exist.
  virtual Result<std::optional<ObjectInfo>> head(std::string_view key) = 0;
  // Checks the stored object against what its writer reported (size and ETag; the file store
  // re-reads it and compares the SHA-256). kUnavailable/kInternal naming the difference.
  virtual Result<void> verify(const ObjectInfo& written) = 0;
  // Streams the object's bytes to `sink`.
  virtual Result<void> get(std::string_view key, const ChunkSink& sink) = 0;
  // Objects whose key starts with `prefix`, in key order.
  virtual Result<std::vector<ObjectInfo>> list(std::string_view prefix) = 0;
};

// S3 settings beside the URL, from RT_S3_ENDPOINT, RT_S3_REGION/AWS_REGION and the standard
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
struct S3Settings {
  std::optional<std::string> endpoint;  // e.g. "http://127.0.0.1:4569": path-style addressing
  std::string region = "us-east-1";
  std::string access_key_id;
  std::string secret_access_key;             // never logged
  std::optional<std::string> session_token;  // never logged
  size_t part_size = 8 * 1024 * 1024;  // multipart above one part; S3 wants >= 5 MiB but the last
};

// Reads S3Settings from the environment (`env` returns a variable's value, if set).
S3Settings s3_settings_from_env(const std::function<std::optional<std::string>(const char*)>& env,
                                const std::optional<std::string>& endpoint,
                                const std::optional<std::string>& region);

// Opens "file://dir" (relative to the working directory, or file:///abs) or
// "s3://bucket[/prefix]". Anything else is kInvalidArgument with field "RT_BACKUP_URL".
Result<std::unique_ptr<ObjectStore>> open_object_store(std::string_view url, const S3Settings& s3);

}  // namespace rtjobs::backup
