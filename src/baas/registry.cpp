// ProviderRegistry::from_config: one provider per [providers.NAME] table.
//
// An http provider whose token_env is set but resolves to an empty token is an error naming
// "providers.NAME.token_env": every call would be refused as unauthorized, which SPEC section 2
// reads as a final DECLINED, so it must stop the server at start-up. An empty token_env means
// "this bank takes no token" (a local fake, a bank behind mTLS): no Authorization header is sent.
#include "baas/registry.hpp"

#include <algorithm>
#include <utility>

#include "baas/http_provider.hpp"
#include "baas/sandbox_provider.hpp"

namespace rtjobs {
namespace {

// The http adapter keeps at least this many connections, and more if more calls may be in flight.
constexpr int kMinHttpConnections = 256;

Result<std::unique_ptr<Provider>> build(const std::string& name, const ProviderConfig& provider,
                                        const Config& config) {
  const std::string prefix = "providers." + name + ".";
  if (provider.type == "sandbox") {
    return std::make_unique<SandboxProvider>(name);
  }
  if (provider.type != "http") {
    return invalid(prefix + "type", "unknown provider type \"" + provider.type +
                                        "\" (expected \"sandbox\" or \"http\")");
  }
  if (!provider.token_env.empty() && provider.token.empty()) {
    return invalid(prefix + "token_env",
                   "environment variable " + provider.token_env + " is unset or empty");
  }
  HttpProviderOptions options;
  options.name = name;
  options.base_url = provider.base_url;
  options.token = provider.token;
  options.timeout = provider.timeout;
  options.max_connections = std::max(kMinHttpConnections, config.concurrency);
  auto http = HttpProvider::create(std::move(options));
  if (!http) {
    Error error = std::move(http.error());
    if (error.field == "token") {
      error.field = prefix + "token_env";
    } else if (!error.field.empty()) {
      error.field = prefix + error.field;
    }
    return std::unexpected(std::move(error).context("provider " + name));
  }
  return std::unique_ptr<Provider>(std::move(*http));
}

}  // namespace

Result<std::unique_ptr<ProviderRegistry>> ProviderRegistry::from_config(const Config& config) {
  auto registry = std::make_unique<ProviderRegistry>();
  for (const auto& [name, provider] : config.providers) {
    auto built = build(name, provider, config);
    if (!built) return std::unexpected(std::move(built.error()));
    registry->add(std::move(*built));
  }
  return registry;
}

void ProviderRegistry::add(std::unique_ptr<Provider> provider) {
  std::string name(provider->name());
  providers_.insert_or_assign(std::move(name), std::move(provider));
}

Provider* ProviderRegistry::find(std::string_view name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : it->second.get();
}

}  // namespace rtjobs
