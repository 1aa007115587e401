// BankApi and BankProvider: the one adapter shape for banks spoken to over HTTP (SPEC sections 5
// and 8). A BankApi is a bank's protocol as pure functions: how a transfer becomes a request,
// how the bank's answer is classified, and, where the bank can list transfers by idempotency
// key, how to look up what an earlier attempt did. BankProvider runs a BankApi over the shared
// HttpTransport:
//
//   attempt 1:  create
//   attempt >1: look up by key (if the bank has a look-up) -> found: that transfer's answer
//                                                           -> none: create, same key
//                                                           -> no answer: unavailable, unknown
//   look_up_only (the transfer was cancelled after an attempt whose outcome is unknown):
//               look up by key (if the bank has a look-up) -> found: that transfer's answer
//                                                           -> none: not_at_bank
//                                                           -> else: unavailable, unknown
//               without a look-up: create, same key (the bank replays an executed attempt)
//
// Every attempt carries the job's idempotency key, so a create the bank already executed is
// replayed, not repeated. Thread-safe: BankApi implementations are immutable.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "baas/http_transport.hpp"
#include "baas/provider.hpp"
#include "core/error.hpp"

namespace rtjobs {

// What a look-up by key found: the one transfer under the key (`answer` is then the attempt's
// answer), for sure none, or nothing readable (a refusal, an error, a list of several).
struct LookUp {
  enum class Found { kTransfer, kNone, kUnreadable };
  Found found = Found::kUnreadable;
  TransferResult answer;
};

class BankApi {
 public:
  virtual ~BankApi() = default;
  // Provider::check_transfer for this bank.
  virtual Result<void> check_transfer(std::string_view provider, const TransferSpec& spec) const;
  // The request that creates the transfer. An Error means it cannot be sent (the transfer no
  // longer fits the bank, e.g. after a configuration change): the attempt fails unsent.
  virtual Result<HttpCall> create_call(const TransferRequest& request) const = 0;
  virtual TransferResult read_answer(const TransferRequest& request,
                                     const HttpAnswer& answer) const = 0;
  // The look-up of the transfer an earlier attempt created under the request's key; none when
  // the bank offers no such look-up.
  virtual std::optional<HttpCall> lookup_call(const TransferRequest& /*request*/) const {
    return std::nullopt;
  }
  // The look-up's answer. Unless a transfer is found, the create is sent (the key still keeps
  // it from executing twice); for a look_up_only request, none is not_at_bank and an unreadable
  // answer leaves the outcome unknown.
  virtual LookUp read_lookup(const TransferRequest& /*request*/,
                             const HttpAnswer& /*answer*/) const {
    return {};
  }

  // --- After the call (SPEC section 8, settlement and returns) ---

  // Provider::follows_settlement for this bank.
  virtual bool follows_settlement() const { return false; }
  // The GET of the bank's transfer `reference` of `rail`; none when the bank has no look-up by
  // id.
  virtual std::optional<HttpCall> fetch_call(std::string_view /*reference*/, Rail /*rail*/) const {
    return std::nullopt;
  }
  // The fetch's answer (Provider::fetch_transfer's errors).
  virtual Result<TransferState> read_fetched(std::string_view reference, Rail rail,
                                             const HttpAnswer& answer) const;
  // Provider::read_webhook for this bank, with the provider's webhook secret (empty: none
  // configured, so every delivery is kUnauthenticated).
  virtual Result<std::vector<BankEvent>> read_webhook(const WebhookDelivery& delivery,
                                                      std::string_view secret) const;
};

class BankProvider final : public Provider {
 public:
  // `timeout` bounds each HTTP call; a call-for-call look-up doubles what an attempt may take.
  // `webhook_secret`: the provider's webhook_secret_env value (empty: takes no webhooks).
  BankProvider(std::string name, std::unique_ptr<BankApi> api,
               std::unique_ptr<HttpTransport> transport, std::chrono::milliseconds timeout,
               std::string webhook_secret = {});

  std::string_view name() const override { return name_; }
  std::chrono::milliseconds timeout() const override { return attempt_timeout_; }
  Result<void> check_transfer(const TransferSpec& spec) const override;
  void execute(TransferRequest request, std::function<void(TransferResult)> done) override;
  bool follows_settlement() const override { return api_->follows_settlement(); }
  void fetch_transfer(std::string reference, Rail rail,
                      std::function<void(Result<TransferState>)> done) override;
  Result<std::vector<BankEvent>> read_webhook(const WebhookDelivery& delivery) const override;
  // The look-up by id (fetch_call) of a book transfer id no bank issues.
  void probe(std::function<void(ProbeAnswer)> done) override;

 private:
  void create(std::shared_ptr<const TransferRequest> request,
              std::function<void(TransferResult)> done);

  std::string name_;
  std::unique_ptr<BankApi> api_;
  std::unique_ptr<HttpTransport> transport_;
  std::chrono::milliseconds attempt_timeout_;
  std::string webhook_secret_;  // never logged
};

}  // namespace rtjobs
