// HttpTransport: the one HTTP client every bank adapter shares (libcurl multi). It sends a
// request and reports exactly one answer: the bank's status and body, or why none came and
// whether the request may have reached the bank before it went wrong.
//
// Threading: one transfer thread per transport drives a curl multi handle, so hundreds of calls
// are in flight without a thread each and connections are reused. send() only queues the call
// and wakes that thread. `done` runs exactly once per send(), on the transfer thread; it must
// not block and must not destroy the transport (it may call send() again). Destroying the
// transport stops the thread and answers every call still queued or in flight with kShutdown.
// send() is thread-safe; the destructor must not race with it. Header values (credentials) are
// never logged. libcurl's proxy environment variables (https_proxy, no_proxy) apply.
//
// Redirects are never followed (no CURLOPT_FOLLOWLOCATION): a 3xx is an answer like any other.
// A bank must not move a payment call elsewhere, and a webhook receiver must not send rtjobs to
// an address the URL checks never saw.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace rtjobs {

struct HttpCall {
  std::string method = "POST";       // "GET" or "POST"
  std::string url;                   // absolute
  std::vector<std::string> headers;  // "Name: value", no CR/LF
  std::string body;                  // POST only
};

struct HttpAnswer {
  enum class Failure {
    kNone,        // the bank answered: status and body are set
    kNotSent,     // no connection was made: the bank never saw the request
    kTimeout,     // no complete answer within the timeout
    kConnection,  // the connection failed after it was made
    kShutdown,    // the transport stopped first
    kInternal,
  };
  Failure failure = Failure::kNone;
  int status = 0;
  std::string body;  // at most max_body (HttpTransportOptions) bytes; the rest is read and dropped
  std::optional<std::string> retry_after;  // the Retry-After header's value
  bool replayed = false;                   // Idempotent-Replayed: true
  // With a failure: whether the request may have reached the bank (its outcome is unknown).
  bool maybe_sent = false;
  std::string error;  // with a failure: what went wrong

  static constexpr size_t kMaxBody = 64 * 1024;  // SPEC section 1: response_body cap
};

struct HttpTransportOptions {
  std::chrono::milliseconds timeout{10000};         // the whole call
  std::chrono::milliseconds connect_timeout{5000};  // capped at `timeout`
  // Connections kept to the bank at most; calls beyond it wait for a free connection (their
  // wait counts toward `timeout`).
  int max_connections = 256;
  // Refuse to connect to an address that is not public (core/net_address.hpp), judged at
  // connect time on the address actually dialled, so a DNS answer that changed after the URL was
  // checked cannot reach a private range. Such a call fails kNotSent with an error naming the
  // refusal. Through a proxy (https_proxy) it is the proxy's address that is judged. For webhook
  // endpoints (RT_WEBHOOK_ALLOW_PRIVATE=false); the banks' URLs are the operator's own.
  bool refuse_private_addresses = false;
  // The most of an answer's body kept: a bank's answer is stored capped (SPEC section 1); the
  // operator CLI reads whole pages of the API.
  size_t max_body = HttpAnswer::kMaxBody;
  std::string thread_name = "rt-baas";  // the transfer thread's name (at most 15 characters)
};

class HttpTransport {
 public:
  static Result<std::unique_ptr<HttpTransport>> create(const HttpTransportOptions& options);
  ~HttpTransport();

  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  void send(HttpCall call, std::function<void(HttpAnswer)> done);
  // Runs `task` on the transfer thread, like a send()'s `done` (an answer given without a call
  // keeps the same threading). At shutdown it still runs, on the stopping thread.
  void post(std::function<void()> task);

 private:
  class Engine;  // the transfer thread and the curl state; http_transport.cpp
  explicit HttpTransport(std::unique_ptr<Engine> engine);
  std::unique_ptr<Engine> engine_;
};

// Characters that may appear in a header value (printable ASCII: no CR/LF/NUL injection).
bool is_header_safe(std::string_view s);

}  // namespace rtjobs
