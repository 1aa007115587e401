// S3ObjectStore against a loopback server of the test's own that misbehaves: a listing whose
// continuation token comes back again ends with an error instead of listing forever.
#include "backup/s3_object_store.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "core/loopback_test_support.hpp"

namespace rtjobs::backup {
namespace {

// Answers every HTTP request on loopback with a ListObjectsV2 page whose next token is always
// "again", up to `pages` answers; any request after those gets a 500. Counts the requests.
class RepeatingListServer {
 public:
  explicit RepeatingListServer(int pages) : pages_(pages) {
    const test_support::LoopbackSocket s = test_support::listen_on_loopback();
    fd_ = s.fd;
    port_ = s.port;
    if (fd_ < 0) return;
    thread_ = std::thread([this] { serve(); });
  }
  ~RepeatingListServer() {
    if (fd_ < 0) return;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  RepeatingListServer(const RepeatingListServer&) = delete;
  RepeatingListServer& operator=(const RepeatingListServer&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void serve() {
    for (;;) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;  // closed by the destructor
      answer_all(c);
      ::close(c);
    }
  }

  // Every request of one connection (keep-alive): a GET has no body, so each ends at its
  // blank line.
  void answer_all(int c) {
    std::string in;
    char buf[4096];
    for (;;) {
      size_t end = in.find("\r\n\r\n");
      while (end == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        in.append(buf, static_cast<size_t>(n));
        end = in.find("\r\n\r\n");
      }
      in.erase(0, end + 4);
      const int n = ++requests_;
      const std::string body = n <= pages_
                                   ? "<ListBucketResult><IsTruncated>true</IsTruncated>"
                                     "<NextContinuationToken>again</NextContinuationToken>"
                                     "<Contents><Key>jobs/page" +
                                         std::to_string(n) +
                                         ".csv</Key><ETag>\"e\"</ETag><Size>1</Size></Contents>"
                                         "</ListBucketResult>"
                                   : "<Error><Code>InternalError</Code></Error>";
      std::string out =
          std::string(n <= pages_ ? "HTTP/1.1 200 OK" : "HTTP/1.1 500 Error") +
          "\r\nContent-Type: application/xml\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n\r\n" + body;
      if (::send(c, out.data(), out.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  int pages_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

TEST(S3ObjectStoreTest, AListingWhoseTokenComesBackAgainFailsInsteadOfLoopingForever) {
  RepeatingListServer server(50);
  S3Settings settings;
  settings.endpoint = server.endpoint();
  settings.access_key_id = "test";
  settings.secret_access_key = "test";
  S3ObjectStore store("bucket", "", settings);
  auto listed = store.list("jobs/");
  ASSERT_FALSE(listed);
  EXPECT_NE(listed.error().message.find("continuation token \"again\" twice"), std::string::npos)
      << listed.error().message;
  EXPECT_EQ(server.requests(), 2);  // the first page, then the one that repeated the token
}

}  // namespace
}  // namespace rtjobs::backup
