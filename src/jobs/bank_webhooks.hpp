// BankWebhookIntake: the receiving end of the banks' webhooks (SPEC section 8,
// POST /v1/bank-webhooks/{provider}). A delivery is verified with the bank's own scheme
// (Provider::read_webhook), its events stored in the inbox (Store::accept_bank_events, group
// committed: many deliveries a transaction under load), and only then answered, so an accepted
// event survives a crash; the work it asks for (fetching the transfer, applying its news) is
// the SettlementFollower's, woken by `on_new`. A repeated event id is stored once.
//
// Thread-safe: accept() may be called from any thread (the HTTP IO threads: verification is an
// HMAC, the store write is queued).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "baas/provider.hpp"
#include "baas/registry.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "jobs/group_commit.hpp"
#include "store/store.hpp"

namespace rtjobs {

struct WebhookAccepted {
  int events = 0;      // events in the delivery
  int duplicates = 0;  // of them, already stored earlier (a bank's redelivery)
};

// The TransferState an event carried, as the inbox keeps it (JSON text), and back.
std::string transfer_state_json(const TransferState& state);
Result<TransferState> parse_transfer_state(std::string_view json);

class BankWebhookIntake {
 public:
  // `writers` as for CompletionWriter (1 for SQLite).
  BankWebhookIntake(Store& store, const ProviderRegistry& providers, const Clock& clock,
                    int writers, std::function<void()> on_new);

  // `done` once the delivery's events are committed, or with the error: kNotFound (no such
  // provider), kUnauthenticated (the signature did not verify: nothing stored),
  // kInvalidArgument (a verified body that is not the bank's event shape), kUnavailable (the
  // database; the bank delivers again).
  void accept(std::string_view provider, const WebhookDelivery& delivery,
              std::function<void(Result<WebhookAccepted>)> done);

 private:
  Store& store_;
  const ProviderRegistry& providers_;
  const Clock& clock_;
  std::function<void()> on_new_;
  GroupCommit<std::vector<BankEventRecord>, std::vector<bool>> writer_;
};

}  // namespace rtjobs
