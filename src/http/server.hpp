// Server: an HTTP/1.1 server (Boost.Beast, in server.cpp only) on a small fixed pool of IO
// threads, one io_context each. A connection lives on one of them: read one request, hand it to
// the Handler, write the Response the handler passes to its Respond callback (from any thread),
// then read the next request on the same keep-alive connection. No thread per connection, so
// thousands of idle keep-alive connections cost only their sockets and buffers. Answers are
// written by the server itself into a buffer kept per connection, with TCP_NODELAY.
//
// Limits: request bodies over body_limit get 413, headers over header_limit 431, malformed
// requests 400; a connection idle (or slow to send its request) for idle_timeout is closed.
// Failed accepts (EMFILE at the open-file limit) are retried after 10 ms, doubling to 1 s while
// they last, and logged at most once per 10 s with their count; start() raises the soft
// open-file limit to the hard one.
//
// stop() shuts down gracefully: the listener closes, idle connections close, in-flight requests
// finish and get their answer (with "Connection: close"), and whatever is left at the deadline
// is closed. Thread-safe: start() and stop() from one controlling thread; the handler runs on
// the IO threads and must not block them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "http/message.hpp"

namespace rtjobs::http {

struct ServerOptions {
  std::string host = "127.0.0.1";  // an IP address or "localhost"
  uint16_t port = 8080;            // 0: an ephemeral port (see Server::port())
  int io_threads = 2;
  size_t body_limit = 1024 * 1024;
  size_t header_limit = 16 * 1024;
  std::chrono::milliseconds idle_timeout{60000};
  int backlog = 1024;
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // stops (with a short deadline) if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the IO threads. kUnavailable when the address cannot be bound.
  Result<void> start();
  // The bound address and port (the real port when options.port was 0). Valid after start().
  std::string host() const;
  uint16_t port() const;
  // Number of open connections.
  size_t connections() const;

  // Graceful shutdown, waiting at most `deadline` for in-flight requests. Idempotent.
  void stop(std::chrono::milliseconds deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs `f` on the calling IO thread once the handlers already queued there have run: at the
// end of this turn of its event loop, after the other connections that were ready together.
// Work that several of them asked for can then be done once (see JobReads). Off an IO thread,
// runs `f` at once.
void defer_on_io_thread(std::function<void()> f);

}  // namespace rtjobs::http
