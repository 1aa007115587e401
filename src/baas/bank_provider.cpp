#include "baas/bank_provider.hpp"

#include <utility>

#include "baas/bank_answer.hpp"

namespace rtjobs {

Result<void> BankApi::check_transfer(std::string_view provider, const TransferSpec& spec) const {
  return check_book_transfer(provider, spec);
}

Result<TransferState> BankApi::read_fetched(std::string_view reference, Rail /*rail*/,
                                            const HttpAnswer& /*answer*/) const {
  return fail(ErrorCode::kUnavailable, "no look-up of transfer " + std::string(reference));
}

Result<std::vector<BankEvent>> BankApi::read_webhook(const WebhookDelivery& /*delivery*/,
                                                     std::string_view /*secret*/) const {
  return fail(ErrorCode::kUnauthenticated, "this bank's webhooks are not read");
}

BankProvider::BankProvider(std::string name, std::unique_ptr<BankApi> api,
                           std::unique_ptr<HttpTransport> transport,
                           std::chrono::milliseconds timeout, std::string webhook_secret)
    : name_(std::move(name)),
      api_(std::move(api)),
      transport_(std::move(transport)),
      attempt_timeout_(api_->lookup_call(TransferRequest{}) ? 2 * timeout : timeout),
      webhook_secret_(std::move(webhook_secret)) {}

Result<void> BankProvider::check_transfer(const TransferSpec& spec) const {
  return api_->check_transfer(name_, spec);
}

void BankProvider::execute(TransferRequest request, std::function<void(TransferResult)> done) {
  auto shared = std::make_shared<const TransferRequest>(std::move(request));
  std::optional<HttpCall> lookup;
  if (shared->attempt > 1 || shared->look_up_only) lookup = api_->lookup_call(*shared);
  if (!lookup) return create(std::move(shared), std::move(done));
  transport_->send(
      std::move(*lookup), [this, shared, done = std::move(done)](const HttpAnswer& answer) mutable {
        if (answer.failure != HttpAnswer::Failure::kNone) {
          // The bank is out of reach: what the earlier attempt did stays unknown.
          TransferResult r = bank::no_answer(answer);
          r.outcome_unknown = true;
          return done(std::move(r));
        }
        LookUp found = api_->read_lookup(*shared, answer);
        if (found.found == LookUp::Found::kTransfer) return done(std::move(found.answer));
        if (!shared->look_up_only) return create(std::move(shared), std::move(done));
        if (found.found == LookUp::Found::kNone)
          return done(bank::not_at_bank(answer, shared->idempotency_key));
        TransferResult r =
            bank::unavailable(answer, "unreadable_look_up",
                              "the bank's look-up by key answered HTTP " +
                                  std::to_string(answer.status) + " without a list of transfers");
        r.outcome_unknown = true;
        done(std::move(r));
      });
}

void BankProvider::create(std::shared_ptr<const TransferRequest> request,
                          std::function<void(TransferResult)> done) {
  auto call = api_->create_call(*request);
  if (!call) {
    TransferResult r;
    r.outcome = Outcome::kUnavailable;
    r.code = "invalid_transfer";
    r.message = "not sent: " + (call.error().field.empty() ? "" : call.error().field + ": ") +
                call.error().message;
    transport_->post([r = std::move(r), done = std::move(done)]() mutable { done(std::move(r)); });
    return;
  }
  transport_->send(std::move(*call), [this, request = std::move(request),
                                      done = std::move(done)](const HttpAnswer& answer) {
    done(answer.failure == HttpAnswer::Failure::kNone ? api_->read_answer(*request, answer)
                                                      : bank::no_answer(answer));
  });
}

void BankProvider::fetch_transfer(std::string reference, Rail rail,
                                  std::function<void(Result<TransferState>)> done) {
  auto call = api_->fetch_call(reference, rail);
  if (!call) {
    // Answered on the transfer thread, as a look-up's answer would be.
    transport_->post([this, reference = std::move(reference), done = std::move(done)]() mutable {
      done(fail(ErrorCode::kUnavailable,
                "provider " + name_ + " has no look-up of transfer " + reference));
    });
    return;
  }
  transport_->send(std::move(*call), [this, reference = std::move(reference), rail,
                                      done = std::move(done)](const HttpAnswer& answer) {
    if (answer.failure != HttpAnswer::Failure::kNone) {
      return done(fail(ErrorCode::kUnavailable, "provider " + name_ + ": looking up transfer " +
                                                    reference + ": " + answer.error));
    }
    done(api_->read_fetched(reference, rail, answer));
  });
}

void BankProvider::probe(std::function<void(ProbeAnswer)> done) {
  auto call = api_->fetch_call("rtjobs-probe-no-such-transfer", Rail::kBook);
  if (!call) {
    transport_->post([this, done = std::move(done)] {
      done(ProbeAnswer{true, std::nullopt, "provider " + name_ + " has no look-up to probe"});
    });
    return;
  }
  transport_->send(std::move(*call), [done = std::move(done)](const HttpAnswer& answer) {
    if (answer.failure != HttpAnswer::Failure::kNone) {
      return done(ProbeAnswer{true, std::nullopt, answer.error});
    }
    done(ProbeAnswer{true, answer.status, {}});
  });
}

Result<std::vector<BankEvent>> BankProvider::read_webhook(const WebhookDelivery& delivery) const {
  if (webhook_secret_.empty()) {
    return fail(ErrorCode::kUnauthenticated,
                "provider " + name_ + " has no webhook_secret_env configured");
  }
  return api_->read_webhook(delivery, webhook_secret_);
}

}  // namespace rtjobs
