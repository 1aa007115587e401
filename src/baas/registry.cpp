// ProviderRegistry::from_config: one provider per [providers.NAME] table. The configuration
// already checked each table's keys and resolved its credentials (config.cpp); this builds the
// adapter of its type over its own HTTP transport.
#include "baas/registry.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

#include "baas/banks.hpp"
#include "baas/http_provider.hpp"
#include "baas/sandbox_provider.hpp"

namespace rtjobs {
namespace {

// Each adapter keeps at least this many connections, and more if more calls may be in flight.
constexpr int kMinHttpConnections = 256;

// A credential must fit in a header: no CR/LF (header injection) and, for bearer tokens, no
// space.
Result<void> check_credential(const std::string& value, const std::string& field) {
  if (!is_header_safe(value) || value.find(' ') != std::string::npos) {
    return invalid(field, "the credential holds characters not allowed in an HTTP header");
  }
  return {};
}

Result<std::unique_ptr<BankApi>> bank_api(const ProviderConfig& p, const std::string& prefix,
                                          std::string base_url) {
  for (auto [field, variable, value] : {std::tuple{"token_env", &p.token_env, &p.token},
                                        std::tuple{"api_key_env", &p.api_key_env, &p.api_key},
                                        std::tuple{"key_id_env", &p.key_id_env, &p.key_id},
                                        std::tuple{"secret_env", &p.secret_env, &p.secret}}) {
    // A bank reached without its credentials would refuse every call: stop at start-up.
    if (!variable->empty() && value->empty()) {
      return invalid(prefix + field, "environment variable " + *variable + " is unset or empty");
    }
    if (auto ok = check_credential(*value, prefix + field); !ok) {
      return std::unexpected(ok.error());
    }
  }
  if (p.type == "http") return make_rtjobs_api(std::move(base_url), p.token);
  if (p.type == "treasury_prime") {
    return make_treasury_prime_api(std::move(base_url), p.key_id, p.secret);
  }
  if (p.type == "increase") return make_increase_api(std::move(base_url), p.token);
  if (p.type == "column") return make_column_api(std::move(base_url), p.api_key);
  if (p.type == "unit") return make_unit_api(std::move(base_url), p.token);
  return invalid(prefix + "type", "unknown provider type \"" + p.type + "\"");
}

bool is_bank_type(std::string_view type) {
  return type == "http" || type == "treasury_prime" || type == "increase" || type == "column" ||
         type == "unit";
}

Result<std::unique_ptr<Provider>> build(const std::string& name, const ProviderConfig& provider,
                                        const Config& config) {
  if (provider.type == "sandbox") return std::make_unique<SandboxProvider>(name);
  const std::string prefix = "providers." + name + ".";
  if (!is_bank_type(provider.type)) {
    return invalid(prefix + "type", "unknown provider type \"" + provider.type + "\"");
  }
  auto url = checked_base_url(provider.base_url);
  if (!url) return invalid(prefix + "base_url", url.error().message);
  auto api = bank_api(provider, prefix, std::move(*url));
  if (!api) return std::unexpected(std::move(api.error()));
  HttpTransportOptions options;
  options.timeout = provider.timeout;
  options.max_connections = std::max(kMinHttpConnections, config.concurrency);
  auto transport = HttpTransport::create(options);
  if (!transport) {
    Error error = std::move(transport.error());
    if (!error.field.empty()) error.field = prefix + error.field;
    return std::unexpected(std::move(error).context("provider " + name));
  }
  return std::unique_ptr<Provider>(std::make_unique<BankProvider>(
      name, std::move(*api), std::move(*transport), provider.timeout, provider.webhook_secret));
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

std::vector<std::string> ProviderRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(providers_.size());
  for (const auto& [name, provider] : providers_) out.push_back(name);
  return out;
}

std::chrono::milliseconds ProviderRegistry::longest_timeout() const {
  std::chrono::milliseconds longest{0};
  for (const auto& [name, provider] : providers_) longest = std::max(longest, provider->timeout());
  return longest;
}

Provider* ProviderRegistry::find(std::string_view name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : it->second.get();
}

}  // namespace rtjobs
