// S3's XML answers as the backup reads them (s3_client.hpp): error details and ListObjectsV2
// pages, from hand-written answers.
#include "backup/s3_client.hpp"

#include <gtest/gtest.h>

namespace rtjobs::backup {
namespace {

TEST(S3Answers, ErrorDetailNamesStatusCodeAndMessage) {
  EXPECT_EQ(error_detail(503,
                         "<Error><Code>SlowDown</Code><Message>Reduce &amp; retry"
                         "</Message></Error>"),
            "HTTP 503 SlowDown: Reduce & retry");
  EXPECT_EQ(error_detail(500, "<html>bad gateway</html>"), "HTTP 500");
  EXPECT_NE(error_detail(403, "").find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

TEST(S3Answers, ListPageReadsEachObjectAndTheToken) {
  const ListPage page = parse_list_page(
      "<ListBucketResult><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>1ue/X=</NextContinuationToken>"
      "<Contents><Key>prod/jobs/2026-10.csv</Key><ETag>&quot;9b2c&quot;</ETag>"
      "<Size>1048576</Size></Contents>"
      "<Contents><Key>prod/jobs/2026-11.csv</Key><ETag>\"d41d-3\"</ETag><Size>x</Size></Contents>"
      "</ListBucketResult>",
      5);
  ASSERT_EQ(page.objects.size(), 2u);
  EXPECT_EQ(page.objects[0].key, "jobs/2026-10.csv");
  EXPECT_EQ(page.objects[0].etag, "9b2c");
  EXPECT_EQ(page.objects[0].size, 1048576);
  EXPECT_EQ(page.objects[1].etag, "d41d-3");
  EXPECT_EQ(page.objects[1].size, 0);  // an unreadable size stays 0
  EXPECT_EQ(page.next_token, "1ue/X=");

  EXPECT_FALSE(parse_list_page("<IsTruncated>false</IsTruncated><NextContinuationToken>t"
                               "</NextContinuationToken>",
                               0)
                   .next_token);
  EXPECT_FALSE(parse_list_page("<IsTruncated>true</IsTruncated>", 0).next_token);
}

// Found by fuzzing: a <Contents> element was unescaped, then each of its children again, so
// "&amp;lt;" in a key read as "<", and an escaped "</Key>" in a key ended the key early.
TEST(S3Answers, ListPageUnescapesEachKeyOnce) {
  const ListPage page = parse_list_page(
      "<ListBucketResult><Contents><Key>a&amp;lt;b</Key><ETag>&quot;&amp;amp;&quot;</ETag>"
      "</Contents><Contents><Key>x&lt;/Key&gt;y</Key><Size>7</Size></Contents>"
      "</ListBucketResult>",
      0);
  ASSERT_EQ(page.objects.size(), 2u);
  EXPECT_EQ(page.objects[0].key, "a&lt;b");
  EXPECT_EQ(page.objects[0].etag, "&amp;");
  EXPECT_EQ(page.objects[1].key, "x</Key>y");
  EXPECT_EQ(page.objects[1].size, 7);
}

}  // namespace
}  // namespace rtjobs::backup
