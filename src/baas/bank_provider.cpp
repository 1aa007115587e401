#include "baas/bank_provider.hpp"

#include <utility>

#include "baas/bank_answer.hpp"

namespace rtjobs {

Result<void> BankApi::check_transfer(std::string_view provider, const TransferSpec& spec) const {
  return check_book_transfer(provider, spec);
}

BankProvider::BankProvider(std::string name, std::unique_ptr<BankApi> api,
                           std::unique_ptr<HttpTransport> transport,
                           std::chrono::milliseconds timeout)
    : name_(std::move(name)),
      api_(std::move(api)),
      transport_(std::move(transport)),
      attempt_timeout_(api_->lookup_call(TransferRequest{}) ? 2 * timeout : timeout) {}

Result<void> BankProvider::check_transfer(const TransferSpec& spec) const {
  return api_->check_transfer(name_, spec);
}

void BankProvider::execute(TransferRequest request, std::function<void(TransferResult)> done) {
  auto shared = std::make_shared<const TransferRequest>(std::move(request));
  std::optional<HttpCall> lookup;
  if (shared->attempt > 1) lookup = api_->lookup_call(*shared);
  if (!lookup) return create(std::move(shared), std::move(done));
  transport_->send(std::move(*lookup),
                   [this, shared, done = std::move(done)](const HttpAnswer& answer) mutable {
                     if (answer.failure != HttpAnswer::Failure::kNone) {
                       // The bank is out of reach: what the earlier attempt did stays unknown.
                       TransferResult r = bank::no_answer(answer);
                       r.outcome_unknown = true;
                       return done(std::move(r));
                     }
                     if (auto found = api_->read_lookup(*shared, answer))
                       return done(std::move(*found));
                     create(std::move(shared), std::move(done));
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

}  // namespace rtjobs
