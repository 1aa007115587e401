// For unit tests: a TCP socket listening on 127.0.0.1 on a port the kernel picks, to stand in
// for a server (one that never answers, or one a test answers by hand). Header-only, tests only.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rtjobs::test_support {

struct LoopbackSocket {
  int fd = -1;  // -1 (with a gtest failure recorded) when it could not be opened
  int port = 0;
};

inline LoopbackSocket listen_on_loopback() {
  LoopbackSocket s;
  s.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s.fd < 0) {
    ADD_FAILURE() << "socket() failed";
    return s;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s.fd, 8) != 0 ||
      ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "could not listen on loopback";
    ::close(s.fd);
    s.fd = -1;
    return s;
  }
  s.port = ntohs(addr.sin_port);
  return s;
}

}  // namespace rtjobs::test_support
