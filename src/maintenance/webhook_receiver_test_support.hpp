// A webhook receiver for the dispatcher's tests (*_test.cpp only): a plain-socket HTTP/1.1
// server on 127.0.0.1 that records every request and answers each with the next status of its
// script (200 once the script is used up; a 3xx points to /elsewhere), closing the connection
// after each answer. One thread,
// one connection at a time. Tests wait on it with deadlines, never with sleeps.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rtjobs::webhook_test {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

class Receiver {
 public:
  // Listens on `port` (0: any free one).
  explicit Receiver(int port = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  bool listening() const { return fd_ >= 0; }
  int port() const { return port_; }
  std::string url(const std::string& path = "/hooks") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  // The statuses of the next answers, in order.
  void script(std::vector<int> statuses) {
    std::lock_guard lock(mutex_);
    script_.assign(statuses.begin(), statuses.end());
  }
  // Requests seen so far.
  std::vector<ReceivedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // True once `n` requests came, false at the deadline.
  bool wait_for(size_t n, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, deadline, [&] { return requests_.size() >= n; });
  }

 private:
  void serve() {
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;  // wakes to see stopping_
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      handle(c);
      ::close(c);
    }
  }

  // Reads one request from `c` and answers it.
  void handle(int c) {
    std::string in;
    size_t header_end = std::string::npos;
    char buf[4096];
    while (header_end == std::string::npos) {
      if (!read_some(c, buf, sizeof buf, in)) return;
      header_end = in.find("\r\n\r\n");
    }
    ReceivedRequest r;
    const std::string head = in.substr(0, header_end);
    size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    r.method = request_line.substr(0, request_line.find(' '));
    const size_t t = request_line.find(' ') + 1;
    r.target = request_line.substr(t, request_line.find(' ', t) - t);
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    const size_t length =
        r.headers.contains("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    r.body = in.substr(header_end + 4);
    while (r.body.size() < length) {
      if (!read_some(c, buf, sizeof buf, r.body)) return;
    }
    int status = 200;
    {
      std::lock_guard lock(mutex_);
      if (!script_.empty()) {
        status = script_.front();
        script_.pop_front();
      }
      requests_.push_back(std::move(r));
    }
    arrived_.notify_all();
    const std::string body = "status " + std::to_string(status);
    const std::string out =
        "HTTP/1.1 " + std::to_string(status) +
        " X\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n" +
        (status / 100 == 3 ? "Location: " + url("/elsewhere") + "\r\n" : "") + "\r\n" + body;
    (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
  }

  bool read_some(int c, char* buf, size_t size, std::string& into) {
    pollfd p{c, POLLIN, 0};
    while (!stopping_) {
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(c, buf, size, 0);
      if (n <= 0) return false;
      into.append(buf, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_ = false;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<int> script_;                 // guarded by mutex_
  std::vector<ReceivedRequest> requests_;  // guarded by mutex_
};

// A loopback port nothing listens on (bound, read back, closed): connections to it are refused.
inline int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(s);
  return port;
}

}  // namespace rtjobs::webhook_test
