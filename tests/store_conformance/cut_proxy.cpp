#include "cut_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace rtjobs::store_conformance {
namespace {

int connect_to(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

uint32_t read_length(const std::string& buffer, size_t at) {
  uint32_t n = 0;
  std::memcpy(&n, buffer.data() + at, 4);
  return ntohl(n);
}

}  // namespace

CutProxy::CutProxy(const std::string& server_url) {
  // postgresql://[user@]host:port/database[?options]
  size_t scheme = server_url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t slash = server_url.find('/', start);
  std::string authority = server_url.substr(start, slash - start);
  size_t at = authority.rfind('@');
  std::string user = at == std::string::npos ? "" : authority.substr(0, at + 1);
  std::string host_port = at == std::string::npos ? authority : authority.substr(at + 1);
  size_t colon = host_port.rfind(':');
  host_ = host_port.substr(0, colon);
  port_ = colon == std::string::npos ? 5432 : std::stoi(host_port.substr(colon + 1));
  if (host_ == "localhost") host_ = "127.0.0.1";

  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener_ < 0) throw std::runtime_error("CutProxy: no socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("CutProxy: cannot listen");
  }
  std::string rest = slash == std::string::npos ? "/" : server_url.substr(slash);
  url_ = server_url.substr(0, start) + user + "127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) +
         rest + (rest.find('?') == std::string::npos ? "?" : "&") +
         "sslmode=disable&gssencmode=disable";
  acceptor_ = std::thread([this] { accept_loop(); });
}

CutProxy::~CutProxy() {
  stopping_ = true;
  acceptor_.join();
  ::close(listener_);
  std::lock_guard lock(mutex_);
  for (auto& t : connections_) t.join();
}

void CutProxy::accept_loop() {
  while (!stopping_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) continue;
    std::lock_guard lock(mutex_);
    connections_.emplace_back([this, client] { pump(client); });
  }
}

void CutProxy::pump(int client) {
  int server = connect_to(host_, port_);
  if (server < 0) {
    ::close(client);
    return;
  }
  std::string from_server;  // bytes not yet forwarded: at most one incomplete message
  bool cut_on_client_data = false;
  bool cut = false;
  char chunk[16384];
  while (!stopping_ && !cut) {
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(fds, 2, 50) <= 0) continue;
    if (fds[0].revents != 0) {
      ssize_t n = ::recv(client, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      if (cut_on_client_data) {
        cut = true;
        break;
      }
      if (!write_all(server, chunk, static_cast<size_t>(n))) break;
    }
    if (fds[1].revents != 0) {
      ssize_t n = ::recv(server, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      from_server.append(chunk, static_cast<size_t>(n));
      size_t done = 0;  // complete messages checked, to forward
      while (from_server.size() - done >= 5) {
        size_t size = 1 + read_length(from_server, done + 1);
        if (from_server.size() - done < size) break;
        char type = from_server[done];
        std::string_view payload(from_server.data() + done + 5, size - 5);
        Cut expected = armed_.load();
        if (expected == Cut::kAfterCommit && type == 'C' && payload.starts_with("COMMIT") &&
            armed_.compare_exchange_strong(expected, Cut::kNone)) {
          cut = true;
          break;
        }
        done += size;
        if (expected == Cut::kBeforeNextRoundTrip && type == 'Z' && payload == "T" &&
            armed_.compare_exchange_strong(expected, Cut::kNone)) {
          cut_on_client_data = true;
        }
      }
      if (!write_all(client, from_server.data(), done)) break;
      from_server.erase(0, done);
    }
  }
  if (cut) ++cuts_;
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(server, SHUT_RDWR);
  ::close(client);
  ::close(server);
}

}  // namespace rtjobs::store_conformance
