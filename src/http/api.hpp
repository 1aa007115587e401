// Api: the rtjobs HTTP API of SPEC section 4 as one Handler for the Server. Every request goes
// through the same pipeline: request id (the client's X-Request-Id when sane, else a new one,
// echoed back), routing (404/405), bearer-token check (all routes but /healthz and /readyz),
// the route's handler, then one JSON log line (method, path, status, duration_ms, request_id,
// the caller's name; never the Authorization header) and the request metrics.
//
// Handlers never block the IO threads: database work runs on `blocking`, job processing is
// asynchronous. Thread-safe; the dependencies must outlive the Api.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/executor.hpp"
#include "http/message.hpp"

namespace rtjobs {
class Store;
class JobProcessor;
class TransferService;
class BankWebhookIntake;
class SettlementMetrics;
class WebhookMetrics;
namespace backup {
class BackupService;
}
}  // namespace rtjobs

namespace rtjobs::http {

struct ApiDependencies {
  Store& store;
  JobProcessor& processor;
  TransferService& transfers;
  const Clock& clock;
  Executor blocking;
  std::optional<std::string> api_token;      // none: no authentication (loopback only)
  backup::BackupService* backups = nullptr;  // none: /v1/backups answers 404
  // none: /v1/bank-webhooks/{provider} is not served
  BankWebhookIntake* bank_webhooks = nullptr;
  SettlementMetrics* settlement_metrics = nullptr;  // none: not in /metrics
  // Events to the main API: endpoints on loopback or private addresses accepted
  // (RT_WEBHOOK_ALLOW_PRIVATE); the dispatcher woken for a replay; its metrics (none: not in
  // /metrics).
  bool webhook_allow_private = false;
  std::function<void()> wake_webhooks;
  WebhookMetrics* webhook_metrics = nullptr;
  // RT_API_TOKENS: (caller name, token) pairs accepted beside api_token (caller "default").
  std::vector<std::pair<std::string, std::string>> named_tokens;
};

class Api {
 public:
  explicit Api(ApiDependencies deps);
  ~Api();

  void handle(Request request, Respond respond) const;
  // For the Server: a Handler that calls handle().
  Handler handler() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The X-Request-Id of a request when it is 1-128 characters of [A-Za-z0-9._:-], else nullopt.
std::optional<std::string> sane_request_id(std::string_view value);

}  // namespace rtjobs::http
