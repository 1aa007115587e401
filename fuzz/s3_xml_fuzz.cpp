// S3's XML answers as the backup reads them (backup/s3_client.hpp): error bodies (<Code>,
// <Message>), CreateMultipartUpload's <UploadId> and ListObjectsV2 pages. The fuzzed bytes are
// read as an answer, and also used as the text of keys and tokens in an answer built around
// them. Invariants:
//   - xml_value of an escaped text is the text (escape, then unescape, is the identity);
//   - a page lists at most one object per <Contents>, and a (non-empty) continuation token only
//     when <IsTruncated> is true;
//   - a page built from known objects lists exactly those objects;
//   - an error detail starts with "HTTP <status>".
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backup/s3_client.hpp"
#include "fuzz_check.hpp"

namespace {

using rtjobs::backup::ObjectInfo;

std::string escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

size_t count(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// The bytes as an answer of each kind.
void read_as_answer(std::string_view body, size_t strip, long status) {
  const std::string detail = rtjobs::backup::error_detail(status, body);
  FUZZ_CHECK(detail.starts_with("HTTP " + std::to_string(status)));
  (void)rtjobs::backup::xml_value(body, "UploadId");

  const rtjobs::backup::ListPage page = rtjobs::backup::parse_list_page(body, strip);
  FUZZ_CHECK(page.objects.size() <= count(body, "<Contents>"));
  FUZZ_CHECK(!page.next_token || rtjobs::backup::xml_value(body, "IsTruncated") == "true");
  FUZZ_CHECK(!page.next_token || !page.next_token->empty());
}

// A page of objects whose keys, ETags and sizes come from the fuzzer, as S3 writes it.
void read_built_page(FuzzedDataProvider& in) {
  const std::string prefix = "backups/";
  std::vector<ObjectInfo> objects(in.ConsumeIntegralInRange<size_t>(0, 4));
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>";
  for (ObjectInfo& o : objects) {
    o.key = in.ConsumeRandomLengthString(64);
    o.etag = in.ConsumeRandomLengthString(34);
    o.size = in.ConsumeIntegralInRange<int64_t>(0, INT64_MAX);
    xml += "<Contents><Key>" + escaped(prefix + o.key) + "</Key><ETag>&quot;" + escaped(o.etag) +
           "&quot;</ETag><Size>" + std::to_string(o.size) + "</Size></Contents>";
  }
  const std::string token = in.ConsumeRandomLengthString(64);
  xml += "<IsTruncated>true</IsTruncated><NextContinuationToken>" + escaped(token) +
         "</NextContinuationToken></ListBucketResult>";

  const rtjobs::backup::ListPage page = rtjobs::backup::parse_list_page(xml, prefix.size());
  FUZZ_CHECK(page.objects.size() == objects.size());
  for (size_t i = 0; i < objects.size(); ++i) {
    FUZZ_CHECK(page.objects[i].key == objects[i].key);
    FUZZ_CHECK(page.objects[i].etag == objects[i].etag);
    FUZZ_CHECK(page.objects[i].size == objects[i].size);
  }
  FUZZ_CHECK(page.next_token == (token.empty() ? std::nullopt : std::optional(token)));

  const std::string message = in.ConsumeRandomLengthString(200);
  const std::string error =
      "<Error><Code>SlowDown</Code><Message>" + escaped(message) + "</Message></Error>";
  FUZZ_CHECK(rtjobs::backup::xml_value(error, "Message") == message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  FuzzedDataProvider in(data, size);
  read_as_answer(body, in.ConsumeIntegralInRange<size_t>(0, 16),
                 in.ConsumeIntegralInRange<long>(100, 599));
  read_built_page(in);
  return 0;
}
