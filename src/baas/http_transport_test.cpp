// HttpTransport's connect-time refusal of private addresses (refuse_private_addresses): the
// webhook dispatcher's guard against a DNS answer that changed after the URL was checked.
#include "baas/http_transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>

namespace rtjobs {
namespace {

// A loopback socket that listens and never answers; its port.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) {
      ADD_FAILURE() << "socket() failed";
      return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  int port() const { return port_; }
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

}  // namespace
}  // namespace rtjobs
