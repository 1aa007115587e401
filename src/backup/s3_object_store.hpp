// S3ObjectStore: objects in an S3 bucket under a key prefix (s3://bucket/prefix).
//
// A writer keeps at most one part in memory (S3Settings::part_size, 8 MiB by default). An
// object that fits in one part is one PUT; a larger one is a multipart upload
// (CreateMultipartUpload, UploadPart per full part, CompleteMultipartUpload), aborted
// (AbortMultipartUpload) when the writer fails or is dropped unfinished. A process killed
// mid-upload leaves an incomplete multipart upload that S3 never shows as an object; a bucket
// lifecycle rule (AbortIncompleteMultipartUpload) reclaims its storage.
//
// verify() HEADs the object: Content-Length must equal the bytes written and the ETag the MD5
// computed while writing (for multipart, MD5 of the parts' binary MD5s, "-N" with N parts; some
// S3-compatible servers, s3rver among them, give the whole content's MD5, also accepted).
// Objects are never replaced: create() fails with kConflict when the key exists.
//
// Thread-safety: the store may be shared; each writer is used by one thread.
#pragma once

#include "backup/object_store.hpp"
#include "backup/s3_client.hpp"

namespace rtjobs::backup {

class S3ObjectStore final : public ObjectStore {
 public:
  S3ObjectStore(std::string bucket, std::string prefix, S3Settings settings)
      : client_(std::move(bucket), std::move(settings)), prefix_(std::move(prefix)) {}

  std::string url(std::string_view key) const override;
  Result<std::unique_ptr<ObjectWriter>> create(std::string_view key) override;
  Result<std::optional<ObjectInfo>> head(std::string_view key) override;
  Result<void> verify(const ObjectInfo& written) override;
  Result<void> get(std::string_view key, const ChunkSink& sink) override;
  Result<std::vector<ObjectInfo>> list(std::string_view prefix) override;

 private:
  std::string full_key(std::string_view key) const;

  S3Client client_;
  const std::string prefix_;  // without leading or trailing '/'; may be empty
};

}  // namespace rtjobs::backup
