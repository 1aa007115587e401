// Provider: one configured Banking-as-a-Service adapter (SPEC sections 5 and 8). The processor
// hands it a transfer and gets back exactly one classified answer. Every bank's adapter
// implements this interface; the processor never changes for them.
//
// execute() must not block for the bank's answer: `done` is called exactly once, possibly on
// another thread (the HTTP adapters complete on their transfer thread; the sandbox completes
// inline). Many executions may be in flight at once. Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/model.hpp"

namespace rtjobs {

struct TransferRequest {
  std::string idempotency_key;  // the job's key: the same on every attempt
  std::string reference;        // the job id
  int64_t amount = 0;           // minor units
  std::string currency;
  std::string source_account;
  std::string destination_account;
  std::string description;
  Rail rail = Rail::kBook;
  std::string provider_options;  // the transfer's JSON object text; empty when it has none
  int attempt = 1;               // 1-based: > 1 when an earlier attempt may have reached the bank
};

// What a transfer asks of its provider, checked when the transfer is created.
struct TransferSpec {
  Rail rail = Rail::kBook;
  std::string_view provider_options;  // JSON object text; empty when the transfer has none
  int64_t amount = 0;
  std::string_view currency;
  std::string_view source_account;
  std::string_view destination_account;
  std::string_view description;
};

// How SPEC sections 2 and 8 classify a BaaS answer.
enum class Outcome {
  kSucceeded,    // the bank accepted the transfer
  kDeclined,     // the bank refused the customer's transfer: final, not retried
  kUnavailable,  // no final answer (5xx, 408, 429, 401/403, key conflicts, timeouts): retried
};

struct TransferResult {
  Outcome outcome = Outcome::kUnavailable;
  std::optional<int> http_status;        // absent when no HTTP answer came
  std::optional<std::string> reference;  // the provider's transfer id, on success
  std::optional<std::string> code;       // e.g. "insufficient_funds", "timeout"
  std::optional<std::string> message;
  std::optional<std::string> response_body;  // raw, truncated to 64 KiB
  std::optional<std::string> bank_status;    // the bank's own transfer status, as it spells it
  // The bank asked to wait this long before calling again (Retry-After or its own field).
  std::optional<std::chrono::seconds> retry_after;
  // Unavailable, but the bank may have acted on the request (a timeout or a connection lost after
  // it was sent): only an attempt with the same idempotency key can tell.
  bool outcome_unknown = false;
};

// The check of a provider that carries book transfers without provider_options (the sandbox,
// the generic http protocol): Provider::check_transfer's default.
Result<void> check_book_transfer(std::string_view provider, const TransferSpec& spec);

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;
  // The longest a call may take; leases are sized from it.
  virtual std::chrono::milliseconds timeout() const = 0;
  // Whether this provider can carry the transfer: an Error (kInvalidArgument) names the field
  // at fault ("rail", "currency", "provider_options.statement_descriptor", ...). The default
  // takes book transfers without provider_options.
  virtual Result<void> check_transfer(const TransferSpec& spec) const;
  virtual void execute(TransferRequest request, std::function<void(TransferResult)> done) = 0;
  // Whether execute() always calls `done` before it returns (the sandbox): such a call never
  // holds a call slot past the loop that starts it.
  virtual bool answers_inline() const { return false; }
};

}  // namespace rtjobs
