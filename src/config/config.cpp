// Loading order: defaults, then the TOML file (RT_CONFIG or --config), then the environment.
// Every value, wherever it came from, goes through the same validator, so an error always names
// the environment variable of the setting, whichever source supplied the bad value. Checks that
// join two settings (a provider's max_in_flight against RT_CONCURRENCY) run last, once every
// source is read.
#include "config/config.hpp"

#include <arpa/inet.h>

#include <toml++/toml.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string_view>
#include <tuple>
#include <vector>

namespace rtjobs {
namespace {

// One scalar setting: its environment variable, its TOML key, and where it goes.
struct Setting {
  std::string_view env;
  std::string_view key;
  std::function<Result<void>(Config&, const std::string&)> apply;
};

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Hides the user-info of a URL (postgresql://user:password@host/db) before it goes in a message.
std::string redact_url(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  auto at = url.find('@', scheme_end + 3);
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, scheme_end + 3)) + "***" + std::string(url.substr(at));
}

std::optional<long long> parse_int(std::string_view s) {
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

auto int_setting(std::string_view env, long long lo, long long hi,
                 const std::function<void(Config&, long long)>& set) {
  return [env, lo, hi, set](Config& c, const std::string& raw) -> Result<void> {
    auto v = parse_int(raw);
    if (!v || *v < lo || *v > hi) {
      return invalid(std::string(env), std::string(env) + " must be an integer between " +
                                           std::to_string(lo) + " and " + std::to_string(hi) +
                                           ", got " + quoted(raw));
    }
    set(c, *v);
    return {};
  };
}

auto bool_setting(std::string_view env, bool Config::*member) {
  return [env, member](Config& c, const std::string& raw) -> Result<void> {
    if (raw == "true" || raw == "1") {
      c.*member = true;
    } else if (raw == "false" || raw == "0") {
      c.*member = false;
    } else {
      return invalid(std::string(env),
                     std::string(env) + " must be true, false, 1 or 0, got " + quoted(raw));
    }
    return {};
  };
}

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

Result<void> apply_listen(Config& c, const std::string& raw) {
  auto bad = [&](const std::string& why) {
    return invalid("RT_LISTEN",
                   "RT_LISTEN must be host:port with an IPv4 address, [IPv6] or "
                   "localhost and a port 0-65535 (" +
                       why + "), got " + quoted(raw));
  };
  auto colon = raw.rfind(':');
  if (colon == std::string::npos) return bad("missing port");
  std::string host = raw.substr(0, colon);
  std::string port = raw.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (!is_ipv6(host)) return bad("invalid IPv6 address");
  } else if (host != "localhost" && !is_ipv4(host)) {
    return bad("invalid host");
  }
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
    return bad("invalid port");
  }
  auto p = parse_int(port);
  if (!p || *p > 65535) return bad("port out of range");
  c.listen_host = host;
  c.listen_port = static_cast<uint16_t>(*p);
  return {};
}

Result<void> apply_database_url(Config& c, const std::string& raw) {
  for (std::string_view scheme : {"sqlite://", "postgresql://", "postgres://"}) {
    if (raw.starts_with(scheme) && raw.size() > scheme.size()) {
      c.database_url = raw;
      return {};
    }
  }
  return invalid("RT_DATABASE_URL",
                 "RT_DATABASE_URL must be sqlite://PATH, postgresql://... or postgres://..., got " +
                     quoted(redact_url(raw)));
}

Result<void> apply_backup_url(Config& c, const std::string& raw) {
  if (raw.starts_with("s3://")) {
    std::string_view rest = std::string_view(raw).substr(5);
    std::string_view bucket = rest.substr(0, rest.find('/'));
    bool ok = bucket.size() >= 3 && bucket.size() <= 63 &&
              bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") ==
                  std::string_view::npos;
    if (ok) {
      c.backup_url = raw;
      return {};
    }
  } else if (raw.starts_with("file://") && raw.size() > 7) {
    c.backup_url = raw;
    return {};
  }
  return invalid("RT_BACKUP_URL",
                 "RT_BACKUP_URL must be s3://bucket[/prefix] (bucket: 3-63 lower-case letters, "
                 "digits, '.', '-') or file://DIR, got " +
                     quoted(raw));
}

Result<void> apply_backup_schedule(Config& c, const std::string& raw) {
  std::istringstream in(raw);
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  bool ok = fields.size() == 5;
  for (const auto& f : fields) {
    ok = ok && f.find_first_not_of(
                   "0123456789*,/-?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                   "vwxyz") == std::string::npos;
  }
  if (!ok) {
    return invalid("RT_BACKUP_SCHEDULE",
                   "RT_BACKUP_SCHEDULE must be a cron expression of 5 fields "
                   "(minute hour day-of-month month day-of-week), got " +
                       quoted(raw));
  }
  c.backup_schedule = raw;
  return {};
}

Result<void> apply_non_empty(std::string_view env, std::string& out, const std::string& raw) {
  if (raw.empty() || raw.find_first_of(" \t\r\n") != std::string::npos) {
    return invalid(std::string(env), std::string(env) +
                                         " must be a non-empty value without "
                                         "spaces, got " +
                                         quoted(raw));
  }
  out = raw;
  return {};
}

// RT_API_TOKENS: "name:token" pairs separated by commas; empty for none. Messages name the
// pair by its position and name, never the token.
Result<void> apply_api_tokens(Config& c, const std::string& raw) {
  constexpr std::string_view kEnv = "RT_API_TOKENS";
  c.api_tokens.clear();
  if (raw.empty()) return {};
  size_t start = 0;
  for (int n = 1;; ++n) {
    size_t end = raw.find(',', start);
    std::string_view pair = std::string_view(raw).substr(start, end - start);
    size_t colon = pair.find(':');
    std::string where(kEnv);
    where.append(" pair ").append(std::to_string(n));
    if (colon == std::string_view::npos) {
      return invalid(std::string(kEnv), where + " must be name:token");
    }
    std::string name(pair.substr(0, colon));
    std::string token(pair.substr(colon + 1));
    bool name_ok = !name.empty() && name.size() <= 64 &&
                   name.find_first_not_of(
                       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789._-") == std::string::npos;
    if (!name_ok) {
      return invalid(std::string(kEnv), where + ": the name must be 1 to 64 of A-Z a-z 0-9 . _ -");
    }
    if (name == "default") {
      return invalid(std::string(kEnv), where + ": the name 'default' is RT_API_TOKEN's caller");
    }
    where.append(" (").append(name).append(")");
    if (token.empty() || token.find_first_of(" \t\r\n") != std::string::npos) {
      return invalid(std::string(kEnv),
                     where + ": the token must be non-empty, without whitespace");
    }
    for (const ApiToken& t : c.api_tokens) {
      if (t.name == name) return invalid(std::string(kEnv), where + ": the name is repeated");
      if (t.token == token) {
        return invalid(std::string(kEnv), where.append(": the same token as ").append(t.name));
      }
    }
    c.api_tokens.push_back({std::move(name), std::move(token)});
    if (end == std::string::npos) return {};
    start = end + 1;
  }
}

std::vector<Setting> settings() {
  return {
      {"RT_DATABASE_URL", "database_url", apply_database_url},
      {"RT_LISTEN", "listen", apply_listen},
      {"RT_API_TOKEN", "api_token",
       [](Config& c, const std::string& raw) -> Result<void> {
         // An empty token means "no token" (then only loopback is allowed); a token is never
         // echoed in a message.
         if (raw.empty()) {
           c.api_token.reset();
           return {};
         }
         if (raw.find_first_of(" \t\r\n") != std::string::npos) {
           return invalid("RT_API_TOKEN", "RT_API_TOKEN must not contain whitespace");
         }
         c.api_token = raw;
         return {};
       }},
      {"RT_API_TOKENS", "api_tokens", apply_api_tokens},
      {"RT_MAX_RETRIES", "max_retries",
       int_setting("RT_MAX_RETRIES", 0, 100,
                   [](Config& c, long long v) { c.max_retries = static_cast<int>(v); })},
      {"RT_RETRY_BACKOFF", "retry_backoff",
       int_setting("RT_RETRY_BACKOFF", 0, 86400,
                   [](Config& c, long long v) { c.retry_backoff = std::chrono::seconds(v); })},
      {"RT_CONCURRENCY", "concurrency",
       int_setting("RT_CONCURRENCY", 1, 10000,
                   [](Config& c, long long v) { c.concurrency = static_cast<int>(v); })},
      {"RT_HORIZON_MONTHS", "horizon_months",
       int_setting("RT_HORIZON_MONTHS", 1, 120,
                   [](Config& c, long long v) { c.horizon_months = static_cast<int>(v); })},
      {"RT_MONTHLY_BACKUP", "monthly_backup",
       int_setting("RT_MONTHLY_BACKUP", 1, 120,
                   [](Config& c, long long v) { c.monthly_backup = static_cast<int>(v); })},
      {"RT_BACKUP_BEFORE_MONTHS", "backup_before_months",
       int_setting("RT_BACKUP_BEFORE_MONTHS", 0, 1200,
                   [](Config& c, long long v) { c.backup_before_months = static_cast<int>(v); })},
      {"RT_BACKUP_SCHEDULE", "backup_schedule", apply_backup_schedule},
      {"RT_BACKUP_TIMEZONE", "backup_timezone",
       [](Config& c, const std::string& raw) {
         return apply_non_empty("RT_BACKUP_TIMEZONE", c.backup_timezone, raw);
       }},
      {"RT_BACKUP_URL", "backup_url", apply_backup_url},
      {"RT_S3_ENDPOINT", "s3_endpoint",
       [](Config& c, const std::string& raw) -> Result<void> {
         if (raw.empty()) return {};
         if (!raw.starts_with("http://") && !raw.starts_with("https://")) {
           return invalid(
               "RT_S3_ENDPOINT",
               "RT_S3_ENDPOINT must be an http:// or https:// URL, got " + quoted(redact_url(raw)));
         }
         c.s3_endpoint = raw;
         return {};
       }},
      {"RT_S3_REGION", "s3_region",
       [](Config& c, const std::string& raw) -> Result<void> {
         if (raw.empty()) return {};
         std::string v;
         if (auto r = apply_non_empty("RT_S3_REGION", v, raw); !r) return r;
         c.s3_region = v;
         return {};
       }},
      {"RT_SCHEDULER_ENABLED", "scheduler_enabled",
       bool_setting("RT_SCHEDULER_ENABLED", &Config::scheduler_enabled)},
      {"RT_RETRIES_ENABLED", "retries_enabled",
       bool_setting("RT_RETRIES_ENABLED", &Config::retries_enabled)},
      {"RT_BACKUP_ENABLED", "backup_enabled",
       bool_setting("RT_BACKUP_ENABLED", &Config::backup_enabled)},
      {"RT_REPRESENT_MAX", "represent_max",
       int_setting("RT_REPRESENT_MAX", 0, 2,
                   [](Config& c, long long v) { c.represent_max = static_cast<int>(v); })},
      {"RT_REPRESENT_AFTER_DAYS", "represent_after_days",
       int_setting("RT_REPRESENT_AFTER_DAYS", 0, 179,
                   [](Config& c, long long v) { c.represent_after_days = static_cast<int>(v); })},
      {"RT_PAUSE_ON_ACCOUNT_RETURN", "pause_on_account_return",
       bool_setting("RT_PAUSE_ON_ACCOUNT_RETURN", &Config::pause_on_account_return)},
      {"RT_SETTLEMENT_POLL_SECONDS", "settlement_poll_seconds",
       int_setting("RT_SETTLEMENT_POLL_SECONDS", 1, 86400,
                   [](Config& c, long long v) { c.settlement_poll = std::chrono::seconds(v); })},
      {"RT_SETTLEMENT_POLL_MAX_SECONDS", "settlement_poll_max_seconds",
       int_setting(
           "RT_SETTLEMENT_POLL_MAX_SECONDS", 1, 604800,
           [](Config& c, long long v) { c.settlement_poll_max = std::chrono::seconds(v); })},
      {"RT_SETTLEMENT_FOLLOW_DAYS", "settlement_follow_days",
       int_setting("RT_SETTLEMENT_FOLLOW_DAYS", 1, 180,
                   [](Config& c, long long v) { c.settlement_follow_days = static_cast<int>(v); })},
      {"RT_WEBHOOKS_ENABLED", "webhooks_enabled",
       bool_setting("RT_WEBHOOKS_ENABLED", &Config::webhooks_enabled)},
      {"RT_WEBHOOK_ALLOW_PRIVATE", "webhook_allow_private",
       bool_setting("RT_WEBHOOK_ALLOW_PRIVATE", &Config::webhook_allow_private)},
      {"RT_WEBHOOK_TIMEOUT_SECONDS", "webhook_timeout_seconds",
       int_setting("RT_WEBHOOK_TIMEOUT_SECONDS", 1, 60,
                   [](Config& c, long long v) { c.webhook_timeout = std::chrono::seconds(v); })},
      {"RT_WEBHOOK_RETRY_HOURS", "webhook_retry_hours",
       int_setting("RT_WEBHOOK_RETRY_HOURS", 1, 24 * 30,
                   [](Config& c, long long v) { c.webhook_retry_window = std::chrono::hours(v); })},
      {"RT_WEBHOOK_BACKOFF_MS", "webhook_backoff_ms",
       int_setting(
           "RT_WEBHOOK_BACKOFF_MS", 10, 3600000,
           [](Config& c, long long v) { c.webhook_backoff = std::chrono::milliseconds(v); })},
      {"RT_WEBHOOK_BACKOFF_MAX_SECONDS", "webhook_backoff_max_seconds",
       int_setting(
           "RT_WEBHOOK_BACKOFF_MAX_SECONDS", 1, 86400,
           [](Config& c, long long v) { c.webhook_backoff_max = std::chrono::seconds(v); })},
      {"RT_WEBHOOK_DISABLE_AFTER_HOURS", "webhook_disable_after_hours",
       int_setting(
           "RT_WEBHOOK_DISABLE_AFTER_HOURS", 1, 24 * 90,
           [](Config& c, long long v) { c.webhook_disable_after = std::chrono::hours(v); })},
      {"RT_WEBHOOK_CONCURRENCY", "webhook_concurrency",
       int_setting("RT_WEBHOOK_CONCURRENCY", 1, 1000,
                   [](Config& c, long long v) { c.webhook_concurrency = static_cast<int>(v); })},
      {"RT_WEBHOOK_BUSY_RATE", "webhook_busy_rate",
       int_setting("RT_WEBHOOK_BUSY_RATE", 0, 100000,
                   [](Config& c, long long v) { c.webhook_busy_rate = static_cast<int>(v); })},
      {"RT_EVENT_RETENTION_DAYS", "event_retention_days",
       int_setting("RT_EVENT_RETENTION_DAYS", 1, 365,
                   [](Config& c, long long v) { c.event_retention_days = static_cast<int>(v); })},
      {"RT_LOG_LEVEL", "log_level",
       [](Config& c, const std::string& raw) -> Result<void> {
         for (std::string_view l : {"debug", "info", "warn", "error"}) {
           if (raw == l) {
             c.log_level = raw;
             return {};
           }
         }
         return invalid("RT_LOG_LEVEL",
                        "RT_LOG_LEVEL must be debug, info, warn or error, got " + quoted(raw));
       }},
  };
}

// The text of a TOML scalar, as the environment would spell it.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto s = node.as_string()) return s->get();
  if (auto i = node.as_integer()) return std::to_string(i->get());
  if (auto b = node.as_boolean()) return b->get() ? "true" : "false";
  if (auto f = node.as_floating_point()) {
    std::ostringstream out;
    out << f->get();
    return out.str();
  }
  return std::nullopt;
}

Result<std::string> string_key(const toml::table& t, std::string_view key,
                               const std::string& field) {
  const toml::node* n = t.get(key);
  if (!n) return std::string();
  if (auto s = n->as_string()) return s->get();
  return invalid(field, field + " must be a string");
}

bool is_name(std::string_view s) {
  return !s.empty() &&
         s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
             std::string_view::npos;
}

// The keys every provider type takes: its type, the timeout of one call, and the bank's limits.
const std::vector<std::string_view>& common_provider_keys() {
  static const std::vector<std::string_view> keys{"type", "timeout_ms", "max_rps", "max_in_flight",
                                                  "webhook_secret_env"};
  return keys;
}

// The keys each provider type takes, the credentials it requires, and its default base URL.
struct ProviderType {
  std::string_view type;
  std::vector<std::string_view> keys;      // besides common_provider_keys()
  std::vector<std::string_view> required;  // credentials that must be set
  std::string_view default_base_url;       // empty: base_url is required
};

const std::vector<ProviderType>& provider_types() {
  static const std::vector<ProviderType> types{
      {"sandbox", {}, {}, ""},
      {"http", {"base_url", "token_env"}, {}, ""},
      {"treasury_prime",
       {"base_url", "key_id_env", "secret_env"},
       {"key_id_env", "secret_env"},
       "https://api.sandbox.treasuryprime.com"},
      {"increase", {"base_url", "token_env"}, {"token_env"}, "https://sandbox.increase.com"},
      {"column", {"base_url", "api_key_env"}, {"api_key_env"}, "https://api.column.com"},
      {"unit", {"base_url", "token_env"}, {"token_env"}, "https://api.s.unit.sh"},
  };
  return types;
}

std::string joined(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

// Reads the environment variable named by `key` into `value`; an unset or empty one is an error
// naming the key (a bank reached without credentials would refuse every call).
Result<void> resolve_secret(const toml::table& t, std::string_view key, const std::string& prefix,
                            const EnvLookup& env, std::string& variable, std::string& value) {
  const std::string field = prefix + "." + std::string(key);
  auto name = string_key(t, key, field);
  if (!name) return std::unexpected(name.error());
  variable = *name;
  if (variable.empty()) return {};
  auto found = env(variable);
  if (!found || found->empty()) {
    return invalid(field,
                   field + " names the environment variable " + variable + ", which is not set");
  }
  value = *found;
  return {};
}

// ", got VALUE" for a scalar as TOML spells it (2.0 stays 2.0; a string says so, since '5' is
// not 5), so a message shows what the file said; nothing for an array or a table.
std::string got(const toml::node& node) {
  std::ostringstream text;
  node.visit([&](const auto& v) {
    if constexpr (toml::is_value<decltype(v)>) text << v;
  });
  if (text.str().empty()) return {};
  return std::string(", got ") + (node.is_string() ? "the string " : "") + text.str();
}

// max_rps and max_in_flight (SPEC section 8). max_in_flight is checked against RT_CONCURRENCY in
// load_config, once the environment is read too.
Result<void> parse_limits(const toml::table& t, const std::string& prefix, ProviderConfig& p) {
  if (const toml::node* n = t.get("max_rps")) {
    std::optional<double> rps;
    if (auto i = n->as_integer()) rps = static_cast<double>(i->get());
    if (auto f = n->as_floating_point()) rps = f->get();
    if (!rps || !std::isfinite(*rps) || *rps <= 0) {
      return invalid(
          prefix + ".max_rps",
          prefix + ".max_rps must be a finite number of requests a second above 0" + got(*n));
    }
    p.max_rps = rps;
  }
  if (const toml::node* n = t.get("max_in_flight")) {
    auto i = n->as_integer();
    if (!i || i->get() < 1 || i->get() > std::numeric_limits<int>::max()) {
      return invalid(prefix + ".max_in_flight", prefix +
                                                    ".max_in_flight must be an integer between 1 "
                                                    "and RT_CONCURRENCY" +
                                                    got(*n));
    }
    p.max_in_flight = static_cast<int>(i->get());
  }
  return {};
}

Result<ProviderConfig> parse_provider(const std::string& name, const toml::node& node,
                                      const EnvLookup& env) {
  const std::string prefix = "providers." + name;
  if (!is_name(name)) {
    return invalid(prefix, "provider names are letters, digits, '_' and '-', got " + quoted(name));
  }
  const toml::table* t = node.as_table();
  if (!t) return invalid(prefix, prefix + " must be a table");
  ProviderConfig p;
  p.name = name;
  auto type = string_key(*t, "type", prefix + ".type");
  if (!type) return std::unexpected(type.error());
  p.type = *type;
  const auto& types = provider_types();
  auto kind = std::find_if(types.begin(), types.end(),
                           [&](const ProviderType& k) { return k.type == p.type; });
  if (kind == types.end()) {
    std::vector<std::string_view> names;
    names.reserve(types.size());
    for (const auto& k : types) names.push_back(k.type);
    return invalid(prefix + ".type",
                   prefix + ".type must be one of " + joined(names) + ", got " + quoted(p.type));
  }
  const auto& common = common_provider_keys();
  for (auto&& [k, v] : *t) {
    std::string_view key = k.str();
    if (std::find(common.begin(), common.end(), key) == common.end() &&
        std::find(kind->keys.begin(), kind->keys.end(), key) == kind->keys.end()) {
      std::vector<std::string_view> known = common;
      known.insert(known.end(), kind->keys.begin(), kind->keys.end());
      return invalid(prefix + "." + std::string(key), "unknown key " + quoted(key) + " in [" +
                                                          prefix + "] of type " + p.type +
                                                          " (known: " + joined(known) + ")");
    }
  }
  for (std::string_view key : kind->required) {
    // An empty name is no variable: the bank would be called without its credential.
    const toml::node* n = t->get(key);
    if (!n || (n->is_string() && n->as_string()->get().empty())) {
      return invalid(prefix + "." + std::string(key),
                     "[" + prefix + "] of type " + p.type + " needs " + std::string(key) +
                         " (the name of the environment variable holding the credential)");
    }
  }
  auto base_url = string_key(*t, "base_url", prefix + ".base_url");
  if (!base_url) return std::unexpected(base_url.error());
  p.base_url = base_url->empty() ? std::string(kind->default_base_url) : *base_url;
  if (const toml::node* n = t->get("timeout_ms")) {
    auto i = n->as_integer();
    if (!i || i->get() < 1 || i->get() > 600000) {
      return invalid(prefix + ".timeout_ms",
                     prefix + ".timeout_ms must be an integer between 1 and 600000");
    }
    p.timeout = std::chrono::milliseconds(i->get());
  }
  if (auto r = parse_limits(*t, prefix, p); !r) return std::unexpected(r.error());
  if (p.type != "sandbox" && !p.base_url.starts_with("http://") &&
      !p.base_url.starts_with("https://")) {
    return invalid(prefix + ".base_url", prefix +
                                             ".base_url must be an http:// or https:// URL, got " +
                                             quoted(redact_url(p.base_url)));
  }
  for (auto [key, variable, value] :
       {std::tuple{"token_env", &p.token_env, &p.token},
        std::tuple{"api_key_env", &p.api_key_env, &p.api_key},
        std::tuple{"key_id_env", &p.key_id_env, &p.key_id},
        std::tuple{"secret_env", &p.secret_env, &p.secret},
        std::tuple{"webhook_secret_env", &p.webhook_secret_env, &p.webhook_secret}}) {
    if (auto r = resolve_secret(*t, key, prefix, env, *variable, *value); !r) {
      return std::unexpected(r.error());
    }
  }
  return p;
}

Result<void> apply_file(Config& c, const std::string& path, const EnvLookup& env,
                        std::map<std::string, std::string>& raw) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "cannot load configuration file " << quoted(path) << ": " << e.description();
    if (e.source().begin) msg << " (line " << e.source().begin.line << ")";
    return invalid("RT_CONFIG", msg.str());
  }
  std::map<std::string_view, std::string_view> env_of;
  for (const Setting& s : settings()) env_of[s.key] = s.env;
  for (auto&& [k, v] : doc) {
    std::string key(k.str());
    if (key == "providers") {
      const toml::table* t = v.as_table();
      if (!t) return invalid("providers", "providers must be a table of [providers.NAME] tables");
      for (auto&& [name, node] : *t) {
        auto p = parse_provider(std::string(name.str()), node, env);
        if (!p) return std::unexpected(p.error());
        c.providers[p->name] = std::move(*p);
      }
    } else if (key == "calendars") {
      const toml::table* t = v.as_table();
      if (!t) return invalid("calendars", "calendars must be a table of NAME = \"path\"");
      for (auto&& [name, node] : *t) {
        std::string n(name.str());
        std::string field = "calendars." + n;
        if (!is_name(n)) return invalid(field, "calendar names are letters, digits, '_' and '-'");
        if (n == "WEEKENDS" || n == "US_FEDERAL_RESERVE") {
          return invalid(field, n + " is a built-in calendar and cannot be redefined");
        }
        auto s = node.as_string();
        if (!s || s->get().empty()) return invalid(field, field + " must be a file path");
        c.calendars[n] = s->get();
      }
    } else if (auto it = env_of.find(key); it != env_of.end()) {
      auto text = scalar_text(v);
      if (!text) {
        return invalid(std::string(it->second), std::string(it->second) + " (key " + key + " in " +
                                                    quoted(path) +
                                                    ") must be a string, integer or boolean");
      }
      raw[std::string(it->second)] = *text;
    } else {
      // An empty key ("" = ...) is named as TOML writes it, so the error still names a setting.
      return invalid(key.empty() ? std::string("\"\"") : key,
                     "unknown key " + quoted(key) + " in configuration file " + quoted(path));
    }
  }
  return {};
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

Result<Config> load_config(const std::optional<std::string>& config_file, const EnvLookup& env) {
  Config c;
  ProviderConfig sandbox;
  sandbox.name = "sandbox";
  sandbox.type = "sandbox";
  sandbox.timeout = std::chrono::milliseconds(1000);  // answers inline; keeps leases short
  c.providers["sandbox"] = sandbox;

  // Raw values by environment variable name: the file's first, then the environment's.
  std::map<std::string, std::string> raw;
  std::optional<std::string> path = config_file;
  if (!path) path = env("RT_CONFIG");
  if (path && path->empty()) {
    return invalid("RT_CONFIG", "RT_CONFIG must name a TOML configuration file");
  }
  if (path) {
    if (auto r = apply_file(c, *path, env, raw); !r) return std::unexpected(r.error());
  }
  const auto all = settings();
  for (const Setting& s : all) {
    if (auto v = env(std::string(s.env))) raw[std::string(s.env)] = *v;
  }
  for (const Setting& s : all) {
    auto it = raw.find(std::string(s.env));
    if (it == raw.end()) continue;
    if (auto r = s.apply(c, it->second); !r) return std::unexpected(r.error());
  }
  for (const auto& [name, p] : c.providers) {
    if (p.max_in_flight && *p.max_in_flight > c.concurrency) {
      const std::string field = "providers." + name + ".max_in_flight";
      return invalid(field, field + " must be at most RT_CONCURRENCY (" +
                                std::to_string(c.concurrency) + "), got " +
                                std::to_string(*p.max_in_flight));
    }
  }
  // The longest wait between look-ups follows a first wait set above its default, unless it is
  // set too (then a smaller one is an error).
  if (!raw.contains("RT_SETTLEMENT_POLL_MAX_SECONDS")) {
    c.settlement_poll_max = std::max(c.settlement_poll_max, c.settlement_poll);
  }
  if (c.settlement_poll_max < c.settlement_poll) {
    return invalid("RT_SETTLEMENT_POLL_MAX_SECONDS",
                   "RT_SETTLEMENT_POLL_MAX_SECONDS must be at least RT_SETTLEMENT_POLL_SECONDS (" +
                       std::to_string(c.settlement_poll.count()) + "), got " +
                       std::to_string(c.settlement_poll_max.count()));
  }
  return c;
}

bool is_loopback_host(const std::string& host) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h == "localhost") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) {
    return (ntohl(a4.s_addr) >> 24) == 127;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) return a6.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace rtjobs
