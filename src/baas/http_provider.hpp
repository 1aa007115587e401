// HttpProvider: the generic REST adapter of SPEC section 5, speaking the rtjobs BaaS protocol
// over libcurl: POST {base_url}/transfers with the bearer token and the Idempotency-Key header.
//
// Answers are classified per SPEC section 2 (classify_http_status): 2xx -> succeeded with the
// body's "id" as reference; other 4xx -> declined with the body's {"error":{"code","message"}};
// 5xx/408/429 -> unavailable; no answer within `timeout` -> unavailable, code "timeout";
// connection failure -> unavailable, code "connection_failed". The raw body is kept, truncated
// to 64 KiB (no more than that is ever buffered per call).
//
// Threading: one transfer thread per provider drives a curl multi handle, so hundreds of calls
// are in flight without a thread each and connections are reused. execute() only queues the
// call and wakes that thread. `done` runs exactly once per execute(), on the transfer thread; it
// must not block and must not destroy the provider (it may call execute() again). Destroying
// the provider stops the thread and completes every call still queued or in flight with
// unavailable / code "shutdown". execute() is thread-safe; the destructor must not race with
// it. The token is never logged. libcurl's proxy environment variables (https_proxy, no_proxy)
// apply.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "baas/provider.hpp"
#include "core/error.hpp"

namespace rtjobs {

struct HttpProviderOptions {
  std::string name;
  std::string base_url;                             // http:// or https://; "/transfers" is appended
  std::string token;                                // empty: no Authorization header is sent
  std::chrono::milliseconds timeout{10000};         // the whole call
  std::chrono::milliseconds connect_timeout{5000};  // capped at `timeout`
  // Connections kept to the bank at most; calls beyond it wait for a free connection (their
  // wait counts toward `timeout`). Set it to at least the calls the caller keeps in flight.
  int max_connections = 256;
};

class HttpProvider final : public Provider {
 public:
  // Validates the options (base_url scheme, positive timeout) and starts the transfer thread.
  static Result<std::unique_ptr<HttpProvider>> create(HttpProviderOptions options);
  ~HttpProvider() override;

  HttpProvider(const HttpProvider&) = delete;
  HttpProvider& operator=(const HttpProvider&) = delete;

  std::string_view name() const override { return name_; }
  std::chrono::milliseconds timeout() const override { return timeout_; }
  void execute(TransferRequest request, std::function<void(TransferResult)> done) override;

 private:
  class Engine;  // the transfer thread and the curl state; http_provider.cpp
  HttpProvider(std::string name, std::chrono::milliseconds timeout, std::unique_ptr<Engine> engine);

  std::string name_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace rtjobs
