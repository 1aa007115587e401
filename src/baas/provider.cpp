// Provider::check_transfer's default: what the sandbox and the generic http protocol carry.
#include "baas/provider.hpp"

namespace rtjobs {

Result<void> Provider::check_transfer(const TransferSpec& spec) const {
  if (spec.rail != Rail::kBook) {
    return invalid("rail", "provider " + std::string(name()) + " carries only book transfers");
  }
  if (!spec.provider_options.empty()) {
    return invalid("provider_options",
                   "provider " + std::string(name()) + " takes no provider_options");
  }
  return {};
}

}  // namespace rtjobs
