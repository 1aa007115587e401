// S3Client: single S3 REST requests over libcurl, signed with libcurl's built-in AWS SigV4
// (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"). Path-style URLs ({endpoint}/{bucket}/{key}), which
// every S3-compatible server accepts; AWS itself is reached at https://s3.REGION.amazonaws.com.
//
// What curl 7.88's signer leaves to us, done here: the x-amz-content-sha256 header (the
// payload's SHA-256), query parameters sent already sorted and percent-encoded as SigV4's
// canonical query wants, key path segments percent-encoded, and the session token as the
// x-amz-security-token header. Credentials never appear in errors or logs.
//
// Transient failures (connection errors, 5xx, 429) are retried twice with a short backoff.
//
// Thread-safety: a request creates its own curl handle; S3Client is immutable after
// construction and may be shared.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backup/object_store.hpp"

namespace rtjobs::backup {

struct S3Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // unless streamed to a sink
};

struct S3Request {
  std::string method;                                      // GET, PUT, POST, HEAD, DELETE
  std::string key;                                         // empty for bucket-level requests
  std::vector<std::pair<std::string, std::string>> query;  // sorted by the client
  std::string_view body;
  std::vector<std::string> headers;  // extra "Name: value" lines
  const ChunkSink* sink = nullptr;   // streams a 2xx body here
};

class S3Client {
 public:
  S3Client(std::string bucket, S3Settings settings);

  const std::string& bucket() const { return bucket_; }
  size_t part_size() const { return settings_.part_size; }

  // Sends the request. A non-2xx answer is an error naming the method, the object, the HTTP
  // status and S3's <Code>/<Message>, except 404 on HEAD (status 404 returned).
  Result<S3Response> send(const S3Request& request) const;

  static std::string uri_encode(std::string_view s, bool keep_slash);

 private:
  Result<S3Response> send_once(const S3Request& request, bool* retryable) const;
  std::string url_for(const S3Request& request) const;

  std::string bucket_;
  S3Settings settings_;
  std::string endpoint_;  // without a trailing slash
};

// The text of the first <tag>...</tag> in `xml` (S3's answers are small and flat), unescaped.
std::string xml_value(std::string_view xml, std::string_view tag, size_t* pos = nullptr);

// What an error answer says after "HTTP <status>": S3's <Code> and <Message> when present.
std::string error_detail(long status, std::string_view body);

// One page of a ListObjectsV2 answer: its objects (key, size, ETag unquoted; `strip` bytes of
// the store's prefix cut from each key that has them; a size that is not a number stays 0), and
// the continuation token when the listing is truncated and names one.
struct ListPage {
  std::vector<ObjectInfo> objects;
  std::optional<std::string> next_token;
};
ListPage parse_list_page(std::string_view xml, size_t strip);

}  // namespace rtjobs::backup
