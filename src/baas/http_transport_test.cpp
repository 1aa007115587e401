// HttpTransport's connect-time refusal of private addresses (refuse_private_addresses): the
// webhook dispatcher's guard against a DNS answer that changed after the URL was checked. And
// the cap on an answer's body (max_body): a bank's answer is kept to kMaxBody by default.
#include "baas/http_transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <optional>
#include <string>
#include <thread>

#include "core/loopback_test_support.hpp"

namespace rtjobs {
namespace {

// A loopback socket that listens and never answers; its port.
class Listener {
 public:
  Listener() {
    const test_support::LoopbackSocket s = test_support::listen_on_loopback();
    fd_ = s.fd;
    port_ = s.port;
    if (fd_ >= 0) ::fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  int port() const { return port_; }
  int fd() const { return fd_; }
  // Whether a connection came (accepted and closed at once).
  bool connected() const {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return false;
    ::close(c);
    return true;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

HttpAnswer call(HttpTransport& transport, const std::string& url) {
  std::promise<HttpAnswer> answer;
  HttpCall c;
  c.url = url;
  c.body = "{}";
  transport.send(std::move(c), [&](HttpAnswer a) { answer.set_value(std::move(a)); });
  return answer.get_future().get();
}

TEST(HttpTransportTest, RefusesToConnectToAPrivateAddressWhenAsked) {
  Listener listener;
  HttpTransportOptions options;
  options.timeout = std::chrono::milliseconds(2000);
  options.refuse_private_addresses = true;
  auto transport = HttpTransport::create(options);
  ASSERT_TRUE(transport);
  const HttpAnswer a =
      call(**transport, "http://127.0.0.1:" + std::to_string(listener.port()) + "/hook");
  EXPECT_EQ(a.failure, HttpAnswer::Failure::kNotSent);
  EXPECT_FALSE(a.maybe_sent);
  EXPECT_NE(a.error.find("refused to connect to a private address (127.0.0.1"), std::string::npos)
      << a.error;
  EXPECT_FALSE(listener.connected());
}

TEST(HttpTransportTest, ConnectsToAPrivateAddressByDefault) {
  Listener listener;
  HttpTransportOptions options;
  options.timeout = std::chrono::milliseconds(300);  // nobody answers: a timeout
  auto transport = HttpTransport::create(options);
  ASSERT_TRUE(transport);
  const HttpAnswer a =
      call(**transport, "http://127.0.0.1:" + std::to_string(listener.port()) + "/hook");
  EXPECT_EQ(a.failure, HttpAnswer::Failure::kTimeout) << a.error;
  EXPECT_TRUE(listener.connected());
}

// Answers one connection to the listening socket `listen_fd`: 200 with `size` bytes of body.
void answer_once(int listen_fd, size_t size) {
  const int c = ::accept(listen_fd, nullptr, nullptr);
  ASSERT_GE(c, 0);
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::read(c, buf, sizeof buf);
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) +
                             "\r\nConnection: close\r\n\r\n" + std::string(size, 'x');
  size_t sent = 0;
  while (sent < answer.size()) {
    const ssize_t n = ::write(c, answer.data() + sent, answer.size() - sent);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::close(c);
}

size_t body_size_with(std::optional<size_t> max_body, size_t size) {
  Listener listener;
  ::fcntl(listener.fd(), F_SETFL, 0);  // the answering thread waits in accept()
  std::thread server([fd = listener.fd(), size] { answer_once(fd, size); });
  HttpTransportOptions options;
  if (max_body) options.max_body = *max_body;
  auto transport = HttpTransport::create(options);
  EXPECT_TRUE(transport);
  if (!transport) {
    ::shutdown(listener.fd(), SHUT_RDWR);  // ends the accept()
    server.join();
    return 0;
  }
  const HttpAnswer a = call(**transport, "http://127.0.0.1:" + std::to_string(listener.port()));
  server.join();
  EXPECT_EQ(a.failure, HttpAnswer::Failure::kNone) << a.error;
  EXPECT_EQ(a.status, 200);
  return a.body.size();
}

TEST(HttpTransportTest, KeepsAtMostMaxBodyBytesOfAnAnswer) {
  const size_t big = 3 * HttpAnswer::kMaxBody;
  EXPECT_EQ(body_size_with(std::nullopt, big), HttpAnswer::kMaxBody);
  EXPECT_EQ(body_size_with(4 * HttpAnswer::kMaxBody, big), big);
  EXPECT_EQ(body_size_with(100, big), 100u);
}

}  // namespace
}  // namespace rtjobs
