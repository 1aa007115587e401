// Provider::check_transfer's default: what the sandbox and the generic http protocol carry.
#include "baas/provider.hpp"

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

}  // namespace rtjobs
