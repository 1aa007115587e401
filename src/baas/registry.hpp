// ProviderRegistry: the configured BaaS providers by name, built once at start-up from the
// configuration (SPEC section 5). Immutable after construction, so lookups are thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "baas/provider.hpp"
#include "config/config.hpp"
#include "core/error.hpp"

namespace rtjobs {

class ProviderRegistry {
 public:
  ProviderRegistry() = default;
  // Builds every provider of config.providers; an unusable entry is an Error naming it
  // (field "providers.NAME.base_url" and so on).
  static Result<std::unique_ptr<ProviderRegistry>> from_config(const Config& config);

  void add(std::unique_ptr<Provider> provider);
  // nullptr when no provider has that name.
  Provider* find(std::string_view name) const;
  // Every provider's name, in order.
  std::vector<std::string> names() const;
  // The longest attempt any provider may take (zero without providers): leases are sized on it.
  std::chrono::milliseconds longest_timeout() const;

 private:
  std::map<std::string, std::unique_ptr<Provider>, std::less<>> providers_;
};

}  // namespace rtjobs
