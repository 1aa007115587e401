#include "backup/s3_object_store.hpp"

#include <algorithm>
#include <iterator>
#include <set>

#include "backup/digest.hpp"
#include "core/log.hpp"

namespace rtjobs::backup {
namespace {

std::string unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

class S3Writer final : public ObjectWriter {
 public:
  S3Writer(const S3Client& client, std::string relative_key, std::string key)
      : client_(client), relative_key_(std::move(relative_key)), key_(std::move(key)) {
    buffer_.reserve(client_.part_size());
  }

  ~S3Writer() override {
    if (!upload_id_.empty() && !finished_) abort();
  }

  Result<void> write(std::string_view bytes) override {
    sha_.update(bytes);
    md5_.update(bytes);
    size_ += static_cast<int64_t>(bytes.size());
    while (!bytes.empty()) {
      size_t n = std::min(bytes.size(), client_.part_size() - buffer_.size());
      buffer_.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      if (buffer_.size() == client_.part_size()) {
        if (auto r = upload_part(); !r) return r;
      }
    }
    return {};
  }

  Result<ObjectInfo> finish() override {
    std::string etag;
    if (upload_id_.empty()) {  // fits in one part: a single PUT
      etag = md5_hex(buffer_);
      auto r = client_.send({.method = "PUT",
                             .key = key_,
                             .body = buffer_,
                             .headers = {"Content-Type: text/csv; charset=utf-8"}});
      if (!r) return std::unexpected(r.error());
    } else {
      if (!buffer_.empty()) {
        if (auto r = upload_part(); !r) return std::unexpected(r.error());
      }
      std::string xml = "<CompleteMultipartUpload>";
      for (size_t i = 0; i < part_etags_.size(); ++i) {
        xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>\"" +
               part_etags_[i] + "\"</ETag></Part>";
      }
      xml += "</CompleteMultipartUpload>";
      auto r = client_.send({.method = "POST",
                             .key = key_,
                             .query = {{"uploadId", upload_id_}},
                             .body = xml,
                             .headers = {"Content-Type: application/xml"}});
      if (!r) return std::unexpected(r.error().context("completing the multipart upload"));
      // A 200 may still carry an <Error> (S3 reports late failures in the body).
      if (r->body.find("<Error>") != std::string::npos) {
        return fail(ErrorCode::kUnavailable,
                    "completing the multipart upload of s3://" + client_.bucket() + "/" + key_ +
                        ": " + xml_value(r->body, "Code") + " " + xml_value(r->body, "Message"));
      }
      etag = md5_of_parts_.finish_hex() + "-" + std::to_string(part_etags_.size());
    }
    finished_ = true;
    return ObjectInfo{relative_key_, size_, etag, sha_.finish_hex(), md5_.finish_hex()};
  }

 private:
  Result<void> upload_part() {
    if (upload_id_.empty()) {
      auto r = client_.send({.method = "POST",
                             .key = key_,
                             .query = {{"uploads", ""}},
                             .headers = {"Content-Type: text/csv; charset=utf-8"}});
      if (!r) return std::unexpected(r.error().context("starting a multipart upload"));
      upload_id_ = xml_value(r->body, "UploadId");
      if (upload_id_.empty()) {
        return fail(ErrorCode::kUnavailable,
                    "S3 gave no UploadId for s3://" + client_.bucket() + "/" + key_);
      }
    }
    const int part = static_cast<int>(part_etags_.size()) + 1;
    Digest md5(Digest::Kind::kMd5);
    md5.update(buffer_);
    std::string raw = md5.finish_raw();
    auto r =
        client_.send({.method = "PUT",
                      .key = key_,
                      .query = {{"partNumber", std::to_string(part)}, {"uploadId", upload_id_}},
                      .body = buffer_});
    if (!r) return std::unexpected(r.error().context("uploading part " + std::to_string(part)));
    std::string etag = unquote(r->headers["etag"]);
    if (etag != to_hex(raw)) {
      return fail(ErrorCode::kUnavailable, "part " + std::to_string(part) + " of s3://" +
                                               client_.bucket() + "/" + key_ + ": ETag " + etag +
                                               ", expected " + to_hex(raw));
    }
    md5_of_parts_.update(raw);
    part_etags_.push_back(etag);
    buffer_.clear();
    return {};
  }

  void abort() {
    auto r = client_.send({.method = "DELETE", .key = key_, .query = {{"uploadId", upload_id_}}});
    if (!r) {
      log::warn("could not abort a multipart upload",
                {{"key", key_}, {"error", r.error().message}});
    }
  }

  const S3Client& client_;
  const std::string relative_key_;
  const std::string key_;
  std::string buffer_;  // the part being filled
  std::string upload_id_;
  std::vector<std::string> part_etags_;
  Digest md5_of_parts_{Digest::Kind::kMd5};
  Digest sha_{Digest::Kind::kSha256};
  Digest md5_{Digest::Kind::kMd5};
  int64_t size_ = 0;
  bool finished_ = false;
};

}  // namespace

std::string S3ObjectStore::full_key(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : prefix_ + "/" + std::string(key);
}

std::string S3ObjectStore::url(std::string_view key) const {
  return "s3://" + client_.bucket() + "/" + full_key(key);
}

Result<std::unique_ptr<ObjectWriter>> S3ObjectStore::create(std::string_view key) {
  auto existing = head(key);
  if (!existing) return std::unexpected(existing.error());
  if (*existing) return fail(ErrorCode::kConflict, "object exists: " + url(key));
  return std::unique_ptr<ObjectWriter>(new S3Writer(client_, std::string(key), full_key(key)));
}

Result<std::optional<ObjectInfo>> S3ObjectStore::head(std::string_view key) {
  auto r = client_.send({.method = "HEAD", .key = full_key(key)});
  if (!r) return std::unexpected(r.error());
  if (r->status == 404) return std::nullopt;
  ObjectInfo info{std::string(key), 0, unquote(r->headers["etag"]), {}};
  try {
    info.size = std::stoll(r->headers["content-length"]);
  } catch (const std::exception&) {
    return fail(ErrorCode::kUnavailable, "S3 HEAD " + url(key) + ": no Content-Length");
  }
  return info;
}

Result<void> S3ObjectStore::verify(const ObjectInfo& written) {
  auto stored = head(written.key);
  if (!stored) return std::unexpected(stored.error().context("verifying " + url(written.key)));
  if (!*stored) return fail(ErrorCode::kUnavailable, "verifying " + url(written.key) + ": missing");
  if ((*stored)->size != written.size) {
    return fail(ErrorCode::kUnavailable, "verifying " + url(written.key) + ": Content-Length " +
                                             std::to_string((*stored)->size) + ", wrote " +
                                             std::to_string(written.size));
  }
  // AWS gives a multipart object the MD5-of-MD5s "-N" ETag; some S3-compatible servers (s3rver)
  // give the whole content's MD5. Both are digests of exactly the bytes written.
  if ((*stored)->etag != written.etag && (*stored)->etag != written.md5) {
    return fail(ErrorCode::kUnavailable, "verifying " + url(written.key) + ": ETag " +
                                             (*stored)->etag + ", expected " + written.etag);
  }
  return {};
}

Result<void> S3ObjectStore::get(std::string_view key, const ChunkSink& sink) {
  auto r = client_.send({.method = "GET", .key = full_key(key), .sink = &sink});
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::vector<ObjectInfo>> S3ObjectStore::list(std::string_view prefix) {
  std::vector<ObjectInfo> out;
  std::string token;
  std::set<std::string> tokens;  // seen: a server repeating one would have us list forever
  const std::string full_prefix = full_key(prefix);
  const size_t strip = prefix_.empty() ? 0 : prefix_.size() + 1;
  for (;;) {
    S3Request request{.method = "GET", .query = {{"list-type", "2"}, {"prefix", full_prefix}}};
    if (!token.empty()) request.query.emplace_back("continuation-token", token);
    auto r = client_.send(request);
    if (!r) return std::unexpected(r.error().context("listing " + url(prefix)));
    ListPage page = parse_list_page(r->body, strip);
    std::move(page.objects.begin(), page.objects.end(), std::back_inserter(out));
    if (!page.next_token) break;
    if (!tokens.insert(*page.next_token).second) {
      return fail(ErrorCode::kUnavailable, "listing " + url(prefix) +
                                               ": the object store returned continuation token \"" +
                                               *page.next_token + "\" twice");
    }
    token = std::move(*page.next_token);
  }
  return out;
}

}  // namespace rtjobs::backup
