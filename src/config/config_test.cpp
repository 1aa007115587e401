#include "config/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace rtjobs {
namespace {

EnvLookup env_of(const std::map<std::string, std::string>& vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/rtjobs_config_testXXXXXX";
    int fd = mkstemp(name);
    ::close(fd);
    path_ = name;
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Config, Defaults) {
  auto c = load_config(std::nullopt, env_of({}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->database_url, "sqlite://rtjobs.db");
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 8080);
  EXPECT_FALSE(c->api_token);
  EXPECT_EQ(c->max_retries, 3);
  EXPECT_EQ(c->retry_backoff, std::chrono::seconds(60));
  EXPECT_EQ(c->concurrency, 64);
  EXPECT_EQ(c->horizon_months, 2);
  EXPECT_EQ(c->backup_schedule, "0 0 * * *");
  EXPECT_EQ(c->backup_url, "file://./backups");
  EXPECT_TRUE(c->scheduler_enabled);
  ASSERT_EQ(c->providers.count("sandbox"), 1u);
  EXPECT_EQ(c->providers.at("sandbox").type, "sandbox");
}

TEST(Config, EnvironmentWinsOverFile) {
  TempFile f("max_retries = 5\nconcurrency = 7\nlisten = \"0.0.0.0:9000\"\n");
  auto c = load_config(f.path(), env_of({{"RT_MAX_RETRIES", "9"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->max_retries, 9);
  EXPECT_EQ(c->concurrency, 7);
  EXPECT_EQ(c->listen_host, "0.0.0.0");
  EXPECT_EQ(c->listen_port, 9000);
}

TEST(Config, RtConfigNamesTheFile) {
  TempFile f("horizon_months = 4\n");
  auto c = load_config(std::nullopt, env_of({{"RT_CONFIG", f.path()}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->horizon_months, 4);
}

TEST(Config, MissingOrBrokenFileNamesRtConfig) {
  auto c = load_config("/nonexistent/rtjobs.toml", env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_CONFIG");
  TempFile f("max_retries = = 3\n");
  c = load_config(f.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_CONFIG");
}

TEST(Config, UnknownKeysAreNamed) {
  TempFile f("max_retry = 3\n");
  auto c = load_config(f.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "max_retry");
  TempFile g("[providers.bank]\ntype = \"http\"\nbase_url = \"http://x\"\nretries = 3\n");
  c = load_config(g.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "providers.bank.retries");
  // An empty key (found by the config fuzzer) is still named.
  TempFile h("\"\" = \"\"\n");
  c = load_config(h.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "\"\"");
}

struct BadValue {
  std::string env;
  std::string value;
};

class InvalidSetting : public testing::TestWithParam<BadValue> {};

TEST_P(InvalidSetting, ErrorNamesTheSetting) {
  const BadValue& b = GetParam();
  auto c = load_config(std::nullopt, env_of({{b.env, b.value}}));
  ASSERT_FALSE(c) << b.env << "=" << b.value;
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(c.error().field, b.env);
  EXPECT_NE(c.error().message.find(b.env), std::string::npos) << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    AllSettings, InvalidSetting,
    testing::Values(BadValue{"RT_DATABASE_URL", "bogus://x"},
                    BadValue{"RT_DATABASE_URL", "sqlite://"}, BadValue{"RT_LISTEN", "8080"},
                    BadValue{"RT_LISTEN", "example.com:80"},
                    BadValue{"RT_LISTEN", "127.0.0.1:65536"}, BadValue{"RT_LISTEN", "1.2.3:80"},
                    BadValue{"RT_LISTEN", "[zz]:80"}, BadValue{"RT_LISTEN", "127.0.0.1:-1"},
                    BadValue{"RT_MAX_RETRIES", "abc"}, BadValue{"RT_MAX_RETRIES", "101"},
                    BadValue{"RT_MAX_RETRIES", "-1"}, BadValue{"RT_MAX_RETRIES", "3.5"},
                    BadValue{"RT_RETRY_BACKOFF", "86401"}, BadValue{"RT_CONCURRENCY", "0"},
                    BadValue{"RT_HORIZON_MONTHS", "0"}, BadValue{"RT_HORIZON_MONTHS", "121"},
                    BadValue{"RT_MONTHLY_BACKUP", "0"}, BadValue{"RT_BACKUP_BEFORE_MONTHS", "1201"},
                    BadValue{"RT_BACKUP_SCHEDULE", "0 0 * *"},
                    BadValue{"RT_BACKUP_SCHEDULE", "0 0 * * * *"},
                    BadValue{"RT_BACKUP_TIMEZONE", ""}, BadValue{"RT_BACKUP_URL", "ftp://x"},
                    BadValue{"RT_BACKUP_URL", "s3://"}, BadValue{"RT_BACKUP_URL", "file://"},
                    BadValue{"RT_S3_ENDPOINT", "minio:9000"},
                    BadValue{"RT_SCHEDULER_ENABLED", "yes"}, BadValue{"RT_RETRIES_ENABLED", "2"},
                    BadValue{"RT_BACKUP_ENABLED", "TRUE"}, BadValue{"RT_LOG_LEVEL", "verbose"},
                    BadValue{"RT_API_TOKEN", "a b"}, BadValue{"RT_API_TOKENS", "ops"}));

TEST(Config, MessagesAreClear) {
  auto c = load_config(std::nullopt, env_of({{"RT_MAX_RETRIES", "abc"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "RT_MAX_RETRIES must be an integer between 0 and 100, got 'abc'");
}

TEST(Config, BadValueInFileNamesTheSetting) {
  TempFile f("max_retries = 1000\n");
  auto c = load_config(f.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_MAX_RETRIES");
  TempFile g("scheduler_enabled = 3.5\n");
  c = load_config(g.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_SCHEDULER_ENABLED");
}

TEST(Config, ValidValues) {
  auto c = load_config(std::nullopt, env_of({{"RT_LISTEN", "[::1]:0"},
                                             {"RT_DATABASE_URL", "postgres://u:p@h/db"},
                                             {"RT_BACKUP_URL", "s3://my-bucket/some/prefix"},
                                             {"RT_SCHEDULER_ENABLED", "0"},
                                             {"RT_BACKUP_ENABLED", "false"},
                                             {"RT_RETRY_BACKOFF", "0"},
                                             {"RT_LOG_LEVEL", "debug"},
                                             {"RT_API_TOKEN", "s3cret"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->listen_host, "::1");
  EXPECT_EQ(c->listen_port, 0);
  EXPECT_FALSE(c->scheduler_enabled);
  EXPECT_FALSE(c->backup_enabled);
  EXPECT_EQ(c->retry_backoff.count(), 0);
  EXPECT_EQ(c->api_token, "s3cret");
  c = load_config(std::nullopt, env_of({{"RT_LISTEN", "localhost:8081"}}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen_host, "localhost");
}

TEST(Config, NamedApiTokens) {
  auto c = load_config(std::nullopt, env_of({{"RT_API_TOKENS", "ops:tok-1,console.web:tok:2"}}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->api_tokens.size(), 2u);
  EXPECT_EQ(c->api_tokens[0].name, "ops");
  EXPECT_EQ(c->api_tokens[0].token, "tok-1");
  EXPECT_EQ(c->api_tokens[1].name, "console.web");
  EXPECT_EQ(c->api_tokens[1].token, "tok:2");  // the first colon separates
  c = load_config(std::nullopt, env_of({{"RT_API_TOKENS", ""}}));
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->api_tokens.empty());
  for (const char* bad :
       {"ops", "ops:", ":hunter2", "ops:hunter2,", "ops:hunter2,ops:other", "ops:hunter2,b:hunter2",
        "default:hunter2", "o ps:hunter2", "ops:hun ter2", "ops:hunter2,,b:x"}) {
    auto r = load_config(std::nullopt, env_of({{"RT_API_TOKENS", bad}}));
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().field, "RT_API_TOKENS") << bad;
    EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos) << r.error().message;
  }
}

TEST(Config, PasswordsAreNotEchoed) {
  auto c = load_config(std::nullopt, env_of({{"RT_DATABASE_URL", "mysql://user:hunter2@h/db"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message.find("hunter2"), std::string::npos) << c.error().message;
}

TEST(Config, ProvidersAndCalendars) {
  TempFile f(
      "[providers.bank]\ntype = \"http\"\nbase_url = \"http://127.0.0.1:9090\"\n"
      "token_env = \"BANK_TOKEN\"\ntimeout_ms = 2500\n"
      "[calendars]\nLONDON = \"/etc/holidays.txt\"\n");
  auto c = load_config(f.path(), env_of({{"BANK_TOKEN", "tok-123"}}));
  ASSERT_TRUE(c) << c.error().message;
  const ProviderConfig& p = c->providers.at("bank");
  EXPECT_EQ(p.type, "http");
  EXPECT_EQ(p.base_url, "http://127.0.0.1:9090");
  EXPECT_EQ(p.token, "tok-123");
  EXPECT_EQ(p.timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(c->providers.count("sandbox"), 1u);
  EXPECT_EQ(c->calendars.at("LONDON"), "/etc/holidays.txt");
}

TEST(Config, ProviderErrorsNameTheKeyAndHideTheToken) {
  TempFile missing_token(
      "[providers.bank]\ntype = \"http\"\nbase_url = \"http://x\"\ntoken_env = \"NOPE\"\n");
  auto c = load_config(missing_token.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "providers.bank.token_env");

  TempFile bad_type("[providers.bank]\ntype = \"smtp\"\n");
  c = load_config(bad_type.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "providers.bank.type");

  TempFile bad_url("[providers.bank]\ntype = \"http\"\nbase_url = \"x\"\ntoken_env = \"T\"\n");
  c = load_config(bad_url.path(), env_of({{"T", "supersecret"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "providers.bank.base_url");
  EXPECT_EQ(c.error().message.find("supersecret"), std::string::npos);

  TempFile bad_timeout(
      "[providers.bank]\ntype = \"http\"\nbase_url = \"http://x\"\ntimeout_ms = 0\n");
  c = load_config(bad_timeout.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "providers.bank.timeout_ms");
}

TEST(Config, RealBanksTakeTheirCredentialsByVariableAndDefaultToTheirSandbox) {
  TempFile f(
      "[providers.tp]\ntype = \"treasury_prime\"\nkey_id_env = \"TP_ID\"\n"
      "secret_env = \"TP_SECRET\"\n"
      "[providers.inc]\ntype = \"increase\"\ntoken_env = \"INC_TOKEN\"\ntimeout_ms = 4000\n"
      "[providers.col]\ntype = \"column\"\napi_key_env = \"COL_KEY\"\n"
      "[providers.unit]\ntype = \"unit\"\ntoken_env = \"UNIT_TOKEN\"\n"
      "base_url = \"http://127.0.0.1:7000/\"\n");
  auto c = load_config(f.path(), env_of({{"TP_ID", "key-id"},
                                         {"TP_SECRET", "key-secret"},
                                         {"INC_TOKEN", "inc-tok"},
                                         {"COL_KEY", "col-key"},
                                         {"UNIT_TOKEN", "unit-tok"}}));
  ASSERT_TRUE(c) << c.error().message;
  const ProviderConfig& tp = c->providers.at("tp");
  EXPECT_EQ(tp.base_url, "https://api.sandbox.treasuryprime.com");
  EXPECT_EQ(tp.key_id, "key-id");
  EXPECT_EQ(tp.secret, "key-secret");
  EXPECT_EQ(c->providers.at("inc").base_url, "https://sandbox.increase.com");
  EXPECT_EQ(c->providers.at("inc").token, "inc-tok");
  EXPECT_EQ(c->providers.at("inc").timeout, std::chrono::milliseconds(4000));
  EXPECT_EQ(c->providers.at("col").base_url, "https://api.column.com");
  EXPECT_EQ(c->providers.at("col").api_key, "col-key");
  EXPECT_EQ(c->providers.at("unit").base_url, "http://127.0.0.1:7000/");
  EXPECT_EQ(c->providers.at("unit").token, "unit-tok");
}

TEST(Config, ARealBankWithoutItsCredentialsOrWithAnotherTypesKeyStopsStartUp) {
  const struct {
    const char* table;
    const char* field;
  } cases[] = {
      {"type = \"increase\"\n", "providers.bank.token_env"},
      {"type = \"unit\"\ntoken_env = \"UNSET\"\n", "providers.bank.token_env"},
      {"type = \"column\"\ntoken_env = \"SET\"\n", "providers.bank.token_env"},
      {"type = \"increase\"\ntoken_env = \"\"\n", "providers.bank.token_env"},
      {"type = \"column\"\n", "providers.bank.api_key_env"},
      {"type = \"treasury_prime\"\nkey_id_env = \"SET\"\nsecret_env = \"\"\n",
       "providers.bank.secret_env"},
      {"type = \"treasury_prime\"\nkey_id_env = \"SET\"\n", "providers.bank.secret_env"},
      {"type = \"treasury_prime\"\nkey_id_env = \"SET\"\nsecret_env = \"EMPTY\"\n",
       "providers.bank.secret_env"},
      {"type = \"increase\"\ntoken_env = \"SET\"\nbase_url = \"ftp://x\"\n",
       "providers.bank.base_url"},
      {"type = \"increase\"\ntoken_env = \"SET\"\nkey_id_env = \"SET\"\n",
       "providers.bank.key_id_env"},
      {"type = \"sandbox\"\nbase_url = \"http://x\"\n", "providers.bank.base_url"},
      {"type = \"wire\"\n", "providers.bank.type"},
  };
  for (const auto& k : cases) {
    TempFile f(std::string("[providers.bank]\n") + k.table);
    auto c = load_config(f.path(), env_of({{"SET", "s3cr3t-value"}, {"EMPTY", ""}}));
    ASSERT_FALSE(c) << k.table;
    EXPECT_EQ(c.error().field, k.field) << k.table << c.error().message;
    EXPECT_EQ(c.error().message.find("s3cr3t-value"), std::string::npos);
  }
}

TEST(Config, EveryProviderTypeTakesTheBanksLimits) {
  TempFile f(
      "[providers.inc]\ntype = \"increase\"\ntoken_env = \"SET\"\nmax_rps = 5\n"
      "max_in_flight = 64\n"
      "[providers.bank]\ntype = \"http\"\nbase_url = \"http://x\"\nmax_rps = 0.5\n"
      "[providers.sandbox]\ntype = \"sandbox\"\nmax_in_flight = 1\n"
      "[providers.open]\ntype = \"http\"\nbase_url = \"http://y\"\n");
  auto c = load_config(f.path(), env_of({{"SET", "tok"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->providers.at("inc").max_rps, 5.0);
  EXPECT_EQ(c->providers.at("inc").max_in_flight, 64);  // RT_CONCURRENCY's default
  EXPECT_EQ(c->providers.at("bank").max_rps, 0.5);
  EXPECT_FALSE(c->providers.at("bank").max_in_flight);
  EXPECT_FALSE(c->providers.at("sandbox").max_rps);
  EXPECT_EQ(c->providers.at("sandbox").max_in_flight, 1);
  EXPECT_FALSE(c->providers.at("open").max_rps);  // unlimited: learnt from the bank's 429s
  EXPECT_FALSE(c->providers.at("open").max_in_flight);

  c = load_config(std::nullopt, env_of({}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->providers.at("sandbox").max_rps);
  EXPECT_FALSE(c->providers.at("sandbox").max_in_flight);
}

TEST(Config, ABadLimitStopsStartUpNamingTheKey) {
  const struct {
    const char* line;
    const char* field;
  } cases[] = {
      {"max_rps = 0", "providers.bank.max_rps"},
      {"max_rps = 0.0", "providers.bank.max_rps"},
      {"max_rps = -1", "providers.bank.max_rps"},
      {"max_rps = -0.5", "providers.bank.max_rps"},
      {"max_rps = \"5\"", "providers.bank.max_rps"},
      {"max_rps = true", "providers.bank.max_rps"},
      {"max_rps = nan", "providers.bank.max_rps"},
      {"max_rps = inf", "providers.bank.max_rps"},
      {"max_rps = -inf", "providers.bank.max_rps"},
      {"max_rps = [5]", "providers.bank.max_rps"},
      {"max_in_flight = 0", "providers.bank.max_in_flight"},
      {"max_in_flight = -3", "providers.bank.max_in_flight"},
      {"max_in_flight = 2.0", "providers.bank.max_in_flight"},
      {"max_in_flight = 1.5", "providers.bank.max_in_flight"},
      {"max_in_flight = \"4\"", "providers.bank.max_in_flight"},
      {"max_in_flight = true", "providers.bank.max_in_flight"},
      {"max_in_flight = 65", "providers.bank.max_in_flight"},  // above RT_CONCURRENCY's 64
      {"max_in_flight = 9999999999", "providers.bank.max_in_flight"},
  };
  for (const auto& k : cases) {
    for (const char* table : {"type = \"http\"\nbase_url = \"http://x\"\n", "type = \"sandbox\"\n",
                              "type = \"unit\"\ntoken_env = \"SET\"\n"}) {
      TempFile f(std::string("[providers.bank]\n") + table + k.line + "\n");
      auto c = load_config(f.path(), env_of({{"SET", "tok"}}));
      ASSERT_FALSE(c) << table << k.line;
      EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
      EXPECT_EQ(c.error().field, k.field) << k.line << ": " << c.error().message;
      EXPECT_NE(c.error().message.find(k.field), std::string::npos) << c.error().message;
    }
  }
}

TEST(Config, ABadLimitSaysWhatTheFileSaid) {
  TempFile rps("[providers.bank]\ntype = \"sandbox\"\nmax_rps = \"5\"\n");
  auto c = load_config(rps.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "providers.bank.max_rps must be a finite number of requests a second above 0, got the "
            "string '5'");
  TempFile in_flight("[providers.bank]\ntype = \"sandbox\"\nmax_in_flight = 2.0\n");
  c = load_config(in_flight.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(
      c.error().message,
      "providers.bank.max_in_flight must be an integer between 1 and RT_CONCURRENCY, got 2.0");
}

TEST(Config, MaxInFlightIsCheckedAgainstRtConcurrencyFromEitherSource) {
  // RT_CONCURRENCY from the environment is known only after the file is read.
  TempFile f("concurrency = 4\n[providers.bank]\ntype = \"sandbox\"\nmax_in_flight = 10\n");
  auto c = load_config(f.path(), env_of({}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "providers.bank.max_in_flight");
  EXPECT_EQ(c.error().message,
            "providers.bank.max_in_flight must be at most RT_CONCURRENCY (4), got 10");

  c = load_config(f.path(), env_of({{"RT_CONCURRENCY", "10"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->providers.at("bank").max_in_flight, 10);

  TempFile g("[providers.bank]\ntype = \"sandbox\"\nmax_in_flight = 10\n");
  c = load_config(g.path(), env_of({{"RT_CONCURRENCY", "8"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "providers.bank.max_in_flight");
  EXPECT_EQ(c.error().message,
            "providers.bank.max_in_flight must be at most RT_CONCURRENCY (8), got 10");

  // A bad RT_CONCURRENCY is named first: it is the value the limit is measured against.
  c = load_config(g.path(), env_of({{"RT_CONCURRENCY", "0"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_CONCURRENCY");
}

TEST(Config, SandboxCanBeRedefined) {
  TempFile f("[providers.sandbox]\ntype = \"sandbox\"\ntimeout_ms = 100\n");
  auto c = load_config(f.path(), env_of({}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->providers.at("sandbox").timeout, std::chrono::milliseconds(100));
}

TEST(Config, Loopback) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
}

TEST(Config, SettlementSettings) {
  auto c = load_config(std::nullopt, env_of({}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->represent_max, 0);
  EXPECT_EQ(c->represent_after_days, 3);
  EXPECT_TRUE(c->pause_on_account_return);
  EXPECT_EQ(c->settlement_poll, std::chrono::seconds(900));
  EXPECT_EQ(c->settlement_poll_max, std::chrono::seconds(21600));
  EXPECT_EQ(c->settlement_follow_days, 10);

  c = load_config(std::nullopt, env_of({{"RT_REPRESENT_MAX", "2"},
                                        {"RT_REPRESENT_AFTER_DAYS", "0"},
                                        {"RT_PAUSE_ON_ACCOUNT_RETURN", "false"},
                                        {"RT_SETTLEMENT_POLL_SECONDS", "5"},
                                        {"RT_SETTLEMENT_POLL_MAX_SECONDS", "5"},
                                        {"RT_SETTLEMENT_FOLLOW_DAYS", "60"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->represent_max, 2);
  EXPECT_EQ(c->represent_after_days, 0);
  EXPECT_FALSE(c->pause_on_account_return);
  EXPECT_EQ(c->settlement_poll, std::chrono::seconds(5));
  EXPECT_EQ(c->settlement_follow_days, 60);

  // Nacha allows at most two re-presentments.
  c = load_config(std::nullopt, env_of({{"RT_REPRESENT_MAX", "3"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_REPRESENT_MAX");
  // A first wait above the default longest one raises it, unless that is set too.
  c = load_config(std::nullopt, env_of({{"RT_SETTLEMENT_POLL_SECONDS", "86400"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->settlement_poll_max, std::chrono::seconds(86400));
  c = load_config(std::nullopt, env_of({{"RT_SETTLEMENT_POLL_SECONDS", "600"},
                                        {"RT_SETTLEMENT_POLL_MAX_SECONDS", "60"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_SETTLEMENT_POLL_MAX_SECONDS");
}

TEST(Config, EventSettings) {
  auto c = load_config(std::nullopt, env_of({}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->webhooks_enabled);
  EXPECT_FALSE(c->webhook_allow_private);
  EXPECT_EQ(c->webhook_timeout, std::chrono::seconds(15));
  EXPECT_EQ(c->webhook_retry_window, std::chrono::hours(72));
  EXPECT_EQ(c->webhook_disable_after, std::chrono::hours(120));
  EXPECT_EQ(c->event_retention_days, 7);
  EXPECT_EQ(c->webhook_busy_rate, 400);

  c = load_config(std::nullopt, env_of({{"RT_WEBHOOKS_ENABLED", "false"},
                                        {"RT_WEBHOOK_BUSY_RATE", "0"},
                                        {"RT_WEBHOOK_ALLOW_PRIVATE", "true"},
                                        {"RT_WEBHOOK_BACKOFF_MS", "50"},
                                        {"RT_WEBHOOK_BACKOFF_MAX_SECONDS", "2"},
                                        {"RT_EVENT_RETENTION_DAYS", "30"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(c->webhooks_enabled);
  EXPECT_TRUE(c->webhook_allow_private);
  EXPECT_EQ(c->webhook_backoff, std::chrono::milliseconds(50));
  EXPECT_EQ(c->webhook_backoff_max, std::chrono::seconds(2));
  EXPECT_EQ(c->event_retention_days, 30);
  EXPECT_EQ(c->webhook_busy_rate, 0);

  // A timeout above the Standard Webhooks' 15 s is still bounded.
  c = load_config(std::nullopt, env_of({{"RT_WEBHOOK_TIMEOUT_SECONDS", "600"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_WEBHOOK_TIMEOUT_SECONDS");
  c = load_config(std::nullopt, env_of({{"RT_EVENT_RETENTION_DAYS", "0"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_EVENT_RETENTION_DAYS");
  c = load_config(std::nullopt, env_of({{"RT_WEBHOOK_BUSY_RATE", "-1"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "RT_WEBHOOK_BUSY_RATE");
}

TEST(Config, WebhookSecretIsReadFromItsVariable) {
  TempFile f(
      "[providers.inc]\ntype = \"increase\"\ntoken_env = \"INC_TOKEN\"\n"
      "webhook_secret_env = \"INC_HOOK\"\n");
  auto c = load_config(f.path(), env_of({{"INC_TOKEN", "t"}, {"INC_HOOK", "whsec_abc"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->providers.at("inc").webhook_secret, "whsec_abc");
  c = load_config(f.path(), env_of({{"INC_TOKEN", "t"}}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().field, "providers.inc.webhook_secret_env");
}

}  // namespace
}  // namespace rtjobs
