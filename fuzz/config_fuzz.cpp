// The TOML configuration (config/config.hpp): a fuzzed file read by load_config, with an
// environment that holds a credential for every variable a provider names (and no RT_ setting,
// so the file decides). Invariants:
//   - a refusal names the setting at fault and never shows a credential;
//   - an accepted configuration holds what load_config validates: each provider under its own
//     name, of a known type, with an http(s) base URL unless it is the sandbox, a timeout of 1 ms
//     to 10 minutes, limits within range, every credential it names resolved;
//   - the providers written back as TOML load as the same providers.
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "fuzz_check.hpp"

namespace {

constexpr std::string_view kSecretMark = "cr3d-";

// Every variable outside RT_ holds a credential that shows where it came from.
std::optional<std::string> fake_env(const std::string& name) {
  if (name.starts_with("RT_") || name.empty()) return std::nullopt;
  return std::string(kSecretMark) + name;
}

// Loads `text` as the configuration file, through an in-memory file.
rtjobs::Result<rtjobs::Config> load(std::string_view text) {
  static const int fd = memfd_create("rtjobs-fuzz-config", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
  return rtjobs::load_config("/proc/self/fd/" + std::to_string(fd), fake_env);
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04X", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// The providers as a configuration file of their own.
std::string providers_toml(const rtjobs::Config& c) {
  std::string out = "concurrency = " + std::to_string(c.concurrency) + "\n";
  for (const auto& [name, p] : c.providers) {
    out += "[providers." + toml_string(name) + "]\ntype = " + toml_string(p.type) + "\n";
    if (p.type != "sandbox") out += "base_url = " + toml_string(p.base_url) + "\n";
    for (auto [key, value] :
         {std::pair{"token_env", &p.token_env}, std::pair{"api_key_env", &p.api_key_env},
          std::pair{"key_id_env", &p.key_id_env}, std::pair{"secret_env", &p.secret_env},
          std::pair{"webhook_secret_env", &p.webhook_secret_env}}) {
      if (!value->empty()) out += std::string(key) + " = " + toml_string(*value) + "\n";
    }
    out += "timeout_ms = " + std::to_string(p.timeout.count()) + "\n";
    if (p.max_rps) {
      char number[64];
      std::snprintf(number, sizeof number, "%.17e", *p.max_rps);
      out += "max_rps = " + std::string(number) + "\n";
    }
    if (p.max_in_flight) out += "max_in_flight = " + std::to_string(*p.max_in_flight) + "\n";
  }
  return out;
}

bool same(const rtjobs::ProviderConfig& a, const rtjobs::ProviderConfig& b) {
  return a.name == b.name && a.type == b.type && a.base_url == b.base_url &&
         a.token_env == b.token_env && a.token == b.token && a.api_key_env == b.api_key_env &&
         a.api_key == b.api_key && a.key_id_env == b.key_id_env && a.key_id == b.key_id &&
         a.secret_env == b.secret_env && a.secret == b.secret &&
         a.webhook_secret_env == b.webhook_secret_env && a.webhook_secret == b.webhook_secret &&
         a.timeout == b.timeout && a.max_rps == b.max_rps && a.max_in_flight == b.max_in_flight;
}

void check_config(const rtjobs::Config& c) {
  FUZZ_CHECK(c.providers.contains("sandbox"));
  FUZZ_CHECK(c.settlement_poll_max >= c.settlement_poll);
  for (const auto& [name, p] : c.providers) {
    FUZZ_CHECK(p.name == name);
    FUZZ_CHECK(p.type == "sandbox" || p.type == "http" || p.type == "treasury_prime" ||
               p.type == "increase" || p.type == "column" || p.type == "unit");
    FUZZ_CHECK(p.type == "sandbox" || p.base_url.starts_with("http://") ||
               p.base_url.starts_with("https://"));
    FUZZ_CHECK(p.timeout.count() >= 1 && p.timeout.count() <= 600000);
    FUZZ_CHECK(!p.max_rps || (std::isfinite(*p.max_rps) && *p.max_rps > 0));
    FUZZ_CHECK(!p.max_in_flight || (*p.max_in_flight >= 1 && *p.max_in_flight <= c.concurrency));
    for (auto [variable, value] :
         {std::pair{&p.token_env, &p.token}, std::pair{&p.api_key_env, &p.api_key},
          std::pair{&p.key_id_env, &p.key_id}, std::pair{&p.secret_env, &p.secret},
          std::pair{&p.webhook_secret_env, &p.webhook_secret}}) {
      FUZZ_CHECK(variable->empty() ? value->empty() : *value == *fake_env(*variable));
    }
  }

  auto again = load(providers_toml(c));
  if (!again) {
    std::fprintf(stderr, "providers written back refused: %s\n", again.error().message.c_str());
  }
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->providers.size() == c.providers.size());
  for (const auto& [name, p] : c.providers) {
    FUZZ_CHECK(again->providers.contains(name) && same(p, again->providers.at(name)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = load(text);
  if (!c) {
    FUZZ_CHECK(!c.error().field.empty());
    // A credential's mark can only come from the environment, unless the file wrote it itself.
    FUZZ_CHECK(c.error().message.find(kSecretMark) == std::string::npos ||
               text.find(kSecretMark) != std::string_view::npos);
    return 0;
  }
  check_config(*c);
  return 0;
}
