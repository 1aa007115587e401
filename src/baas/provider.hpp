// Provider: one configured Banking-as-a-Service adapter (SPEC section 5). The processor hands it
// a transfer and gets back exactly one classified answer. Adapters for real banks implement this
// interface; the processor never changes for them.
//
// execute() must not block for the bank's answer: `done` is called exactly once, possibly on
// another thread (the HTTP adapter completes on its transfer thread; the sandbox completes
// inline). Many executions may be in flight at once. Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rtjobs {

struct TransferRequest {
  std::string idempotency_key;  // the job's key: the same on every attempt
  std::string reference;        // the job id
  int64_t amount = 0;           // minor units
  std::string currency;
  std::string source_account;
  std::string destination_account;
  std::string description;
};

// How SPEC section 2 classifies a BaaS answer.
enum class Outcome {
  kSucceeded,    // 2xx
  kDeclined,     // 4xx other than 408/429: final, not retried
  kUnavailable,  // 5xx, 408, 429, any other status, timeout, connection failure: retried
};

struct TransferResult {
  Outcome outcome = Outcome::kUnavailable;
  std::optional<int> http_status;        // absent when no HTTP answer came
  std::optional<std::string> reference;  // the provider's transfer id, on success
  std::optional<std::string> code;       // e.g. "insufficient_funds", "timeout"
  std::optional<std::string> message;
  std::optional<std::string> response_body;  // raw, truncated to 64 KiB
};

// Classifies an HTTP status per SPEC section 2.
Outcome classify_http_status(int status);

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;
  // The longest a call may take; leases are sized from it.
  virtual std::chrono::milliseconds timeout() const = 0;
  virtual void execute(TransferRequest request, std::function<void(TransferResult)> done) = 0;
};

}  // namespace rtjobs
