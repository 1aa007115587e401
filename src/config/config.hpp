// Config: every setting of SPEC section 7, read from the environment and an optional TOML file
// (RT_CONFIG or --config; the environment wins), validated as a whole at start-up. An invalid
// value is an Error whose `field` names the setting (e.g. "RT_MAX_RETRIES").
//
// TOML keys are the variable names in lower case without the RT_ prefix (max_retries = 5), and
// providers are tables: [providers.NAME] type = "http", base_url, token_env, timeout_ms, max_rps,
// max_in_flight (the keys each type takes: provider_types() in config.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace rtjobs {

// One [providers.NAME] table (SPEC sections 5 and 8). Credentials are named by environment
// variables in the file and resolved at load time; the resolved values are never logged.
struct ProviderConfig {
  std::string name;
  // "sandbox", "http", "treasury_prime", "increase", "column" or "unit"
  std::string type;
  std::string base_url;   // the bank's sandbox URL when the table does not set it
  std::string token_env;  // http (optional), increase, unit: the bearer token
  std::string token;
  std::string api_key_env;  // column: HTTP Basic with a blank user name
  std::string api_key;
  std::string key_id_env;  // treasury_prime: HTTP Basic key id and secret
  std::string key_id;
  std::string secret_env;
  std::string secret;
  // The secret the bank's webhooks are verified with (SPEC section 8): Increase's shared_secret
  // ("whsec_..." or raw), Column's endpoint secret, Unit's webhook token, or for Treasury Prime
  // the "basic_user:basic_secret" it sends as HTTP Basic. Unset: the provider takes no webhooks
  // and its pending transfers are followed by polling alone.
  std::string webhook_secret_env;
  std::string webhook_secret;
  std::chrono::milliseconds timeout{10000};
  // The bank's requests a second, shared by all instances on one PostgreSQL; unset: unlimited.
  std::optional<double> max_rps;
  // The bank's calls at once, shared by all instances on one PostgreSQL; unset: up to concurrency.
  std::optional<int> max_in_flight;
};

// A named API token (RT_API_TOKENS = "name:token,..."): the name says who called.
struct ApiToken {
  std::string name;  // 1-64 of [A-Za-z0-9._-], unique, not "default" (RT_API_TOKEN's)
  std::string token;
};

struct Config {
  std::string database_url = "sqlite://rtjobs.db";
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  std::optional<std::string> api_token;  // never logged; its caller is named "default"
  // RT_API_TOKENS: more tokens, each with the caller's name (logged; the token never is).
  std::vector<ApiToken> api_tokens;
  int max_retries = 3;
  std::chrono::seconds retry_backoff{60};
  int concurrency = 64;
  int horizon_months = 2;
  int monthly_backup = 1;
  int backup_before_months = 3;
  std::string backup_schedule = "0 0 * * *";
  std::string backup_timezone = "UTC";
  std::string backup_url = "file://./backups";
  std::optional<std::string> s3_endpoint;
  std::optional<std::string> s3_region;
  bool scheduler_enabled = true;
  bool retries_enabled = true;
  bool backup_enabled = true;
  std::string log_level = "info";  // RT_LOG_LEVEL
  // SPEC section 8, settlement and returns.
  int represent_max = 0;                            // RT_REPRESENT_MAX, 0..2
  int represent_after_days = 3;                     // RT_REPRESENT_AFTER_DAYS
  bool pause_on_account_return = true;              // RT_PAUSE_ON_ACCOUNT_RETURN
  std::chrono::seconds settlement_poll{900};        // RT_SETTLEMENT_POLL_SECONDS: first look-up
  std::chrono::seconds settlement_poll_max{21600};  // RT_SETTLEMENT_POLL_MAX_SECONDS
  int settlement_follow_days = 10;                  // RT_SETTLEMENT_FOLLOW_DAYS
  // SPEC section 8, events to the main API.
  bool webhooks_enabled = true;              // RT_WEBHOOKS_ENABLED: this instance delivers events
  bool webhook_allow_private = false;        // RT_WEBHOOK_ALLOW_PRIVATE: loopback/private endpoints
  std::chrono::seconds webhook_timeout{15};  // RT_WEBHOOK_TIMEOUT_SECONDS
  std::chrono::hours webhook_retry_window{72};      // RT_WEBHOOK_RETRY_HOURS
  std::chrono::milliseconds webhook_backoff{5000};  // RT_WEBHOOK_BACKOFF_MS: the first retry
  std::chrono::seconds webhook_backoff_max{3600};   // RT_WEBHOOK_BACKOFF_MAX_SECONDS
  std::chrono::hours webhook_disable_after{120};    // RT_WEBHOOK_DISABLE_AFTER_HOURS
  int webhook_concurrency = 64;                     // RT_WEBHOOK_CONCURRENCY
  int webhook_busy_rate = 400;   // RT_WEBHOOK_BUSY_RATE: deliveries a second while jobs wait
  int event_retention_days = 7;  // RT_EVENT_RETENTION_DAYS
  // Always holds "sandbox" (type sandbox) unless the file redefines it.
  std::map<std::string, ProviderConfig> providers;
  // Operator holiday calendars: name -> path of a file with one YYYY-MM-DD per line.
  std::map<std::string, std::string> calendars;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment.
EnvLookup process_env();

// Loads and validates the configuration. `config_file` overrides RT_CONFIG when given.
Result<Config> load_config(const std::optional<std::string>& config_file, const EnvLookup& env);

// True when host is a loopback address or "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace rtjobs
