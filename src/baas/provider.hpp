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
#include <utility>
#include <vector>

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
  // The transfer was cancelled after an attempt whose outcome is unknown: settle what the bank
  // did, never start a payment. A provider with a look-up by key only looks (nothing found:
  // TransferResult::not_at_bank); one without sends the same request under the same key, which
  // the bank replays if it executed the earlier attempt.
  bool look_up_only = false;
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
  // With look_up_only: the bank has no transfer under the key, so none was executed.
  bool not_at_bank = false;
  // On success: kPending when the bank accepted the transfer but has still to settle it (an ACH
  // transfer, a book transfer held for review), so rtjobs follows it (SPEC section 8); absent
  // when the answer is final (a completed book transfer).
  std::optional<SettlementStatus> settlement;
};

// What a bank says of a transfer after the call, from a look-up by the bank's id or a webhook
// that carries the whole object (SPEC section 8, settlement and returns).
struct TransferState {
  std::string reference;  // the bank's transfer id
  Rail rail = Rail::kAch;
  // kPending (still on its way: the bank's pending, submitted, sent-but-not-settled states),
  // kSettled, kReturned, or kCanceled (the bank canceled or rejected it after accepting it:
  // no money moved). Never kUnknown.
  SettlementStatus settlement = SettlementStatus::kPending;
  std::string bank_status;  // as the bank spells it
  // kReturned: the Nacha return code ("R01"); "R??" when the bank's reason has no known code.
  std::optional<std::string> return_code;
  // kCanceled: the bank's reason, normalised as declines are (bank::normalise_reason).
  std::optional<std::string> code;
  std::optional<std::string> message;   // the bank's own words, if any
  std::optional<Timestamp> settled_at;  // kSettled/kReturned: when the bank says it settled
  std::optional<int> http_status;       // of the look-up; absent for a webhook's object
  std::string response_body;            // raw object or answer, at most 64 KiB
};

// One event of a bank's webhook delivery.
struct BankEvent {
  std::string event_id;  // the bank's id, the same on every redelivery: the dedupe key
  std::string type;      // the bank's event type ("ach_transfer.updated")
  // The bank's id of the transfer the event is about; absent for events about anything else
  // (accounts, incoming transfers), which rtjobs accepts and ignores.
  std::optional<std::string> reference;
  std::optional<Rail> rail;  // which of the bank's transfer kinds `reference` is
  // The transfer as the event carries it (Column sends the whole object); absent for thin
  // events (Increase, Unit, Treasury Prime), whose transfer must be fetched.
  std::optional<TransferState> state;
};

// A webhook request as received: header names in lower case, the body's raw bytes.
struct WebhookDelivery {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;
  Timestamp now{};
  // The header's value, or nullopt (`name` in lower case).
  std::optional<std::string_view> header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
};

// What a harmless authenticated read of the bank found (`rtjobs check-config --probe`): the
// bank's HTTP status, or why no answer came.
struct ProbeAnswer {
  bool probed = false;             // false: nothing remote to probe (the in-process sandbox)
  std::optional<int> http_status;  // absent when no answer came
  std::string error;               // without an answer: what went wrong
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

  // --- After the call (SPEC section 8, settlement and returns) ---

  // Whether this provider's accepted transfers can still be pending (and so are followed).
  virtual bool follows_settlement() const { return false; }
  // Looks the transfer up by the bank's id. `done` is called exactly once, possibly on another
  // thread: the transfer's state, or an Error: kNotFound when the bank has no such transfer,
  // kUnavailable when it gave no readable answer (`retry_after` set in the message's stead is
  // not needed: the follower backs off). The default has no look-up (kUnavailable).
  virtual void fetch_transfer(std::string reference, Rail rail,
                              std::function<void(Result<TransferState>)> done);
  // Makes one authenticated read that changes nothing at the bank (a look-up of a transfer id
  // that cannot exist), so the operator sees whether the bank is reachable and takes the
  // credentials. `done` as for fetch_transfer. The default probes nothing (probed false).
  virtual void probe(std::function<void(ProbeAnswer)> done) {
    auto answer = std::move(done);
    answer(ProbeAnswer{});
  }
  // Verifies a webhook delivery with the bank's own scheme and reads its events (several for
  // Unit's batches). kUnauthenticated when no webhook secret is configured or the signature (or
  // Treasury Prime's Basic credentials) is missing, wrong or stale; kInvalidArgument when the
  // verified body is not the bank's event shape. The default takes no webhooks.
  virtual Result<std::vector<BankEvent>> read_webhook(const WebhookDelivery& delivery) const;
};

}  // namespace rtjobs
