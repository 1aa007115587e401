// Provider's defaults: check_transfer takes what the sandbox and the generic http protocol
// carry; a provider that settles at once has no look-up and takes no webhooks.
#include "baas/provider.hpp"

#include <utility>

namespace rtjobs {

Result<void> check_book_transfer(std::string_view provider, const TransferSpec& spec) {
  if (spec.rail != Rail::kBook) {
    return invalid("rail", "provider " + std::string(provider) + " carries only book transfers");
  }
  if (!spec.provider_options.empty()) {
    return invalid("provider_options",
                   "provider " + std::string(provider) + " takes no provider_options");
  }
  return {};
}

Result<void> Provider::check_transfer(const TransferSpec& spec) const {
  return check_book_transfer(name(), spec);
}

void Provider::fetch_transfer(std::string reference, Rail /*rail*/,
                              std::function<void(Result<TransferState>)> done) {
  std::string message = std::move(reference);
  message.insert(0, "provider " + std::string(name()) + " has no look-up of transfer ");
  auto answer = std::move(done);  // called once, as every provider's `done`
  answer(fail(ErrorCode::kUnavailable, std::move(message)));
}

Result<std::vector<BankEvent>> Provider::read_webhook(const WebhookDelivery& /*delivery*/) const {
  return fail(ErrorCode::kUnauthenticated,
              "provider " + std::string(name()) + " takes no webhooks");
}

}  // namespace rtjobs
