#include "baas/registry.hpp"

#include <gtest/gtest.h>

#include "baas/sandbox_provider.hpp"

namespace rtjobs {
namespace {

ProviderConfig http_provider(std::string url, std::string token_env = "BANK_TOKEN",
                             std::string token = "secret") {
  ProviderConfig p;
  p.type = "http";
  p.base_url = std::move(url);
  p.token_env = std::move(token_env);
  p.token = std::move(token);
  p.timeout = std::chrono::milliseconds(2500);
  return p;
}

TEST(ProviderRegistry, BuildsSandboxAndHttpProviders) {
  Config config;
  config.providers["sandbox"].type = "sandbox";
  config.providers["acme"] = http_provider("https://bank.example/api/");
  auto registry = ProviderRegistry::from_config(config);
  ASSERT_TRUE(registry) << registry.error().message;
  Provider* sandbox = (*registry)->find("sandbox");
  ASSERT_NE(sandbox, nullptr);
  EXPECT_EQ(sandbox->name(), "sandbox");
  Provider* acme = (*registry)->find("acme");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->name(), "acme");
  EXPECT_EQ(acme->timeout(), std::chrono::milliseconds(2500));
  EXPECT_EQ((*registry)->find("nope"), nullptr);
}

TEST(ProviderRegistry, AnEmptyTokenEnvMeansNoToken) {
  Config config;
  config.providers["local"] = http_provider("http://127.0.0.1:9090", "", "");
  auto registry = ProviderRegistry::from_config(config);
  ASSERT_TRUE(registry) << registry.error().message;
  EXPECT_NE((*registry)->find("local"), nullptr);
}

void expect_invalid(const Config& config, const std::string& field) {
  auto registry = ProviderRegistry::from_config(config);
  ASSERT_FALSE(registry);
  EXPECT_EQ(registry.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry.error().field, field) << registry.error().message;
}

TEST(ProviderRegistry, RejectsUnusableEntriesNamingTheSetting) {
  for (const char* url : {"ftp://bank", "bank.example", "", "http://", "https://", "http://a b"}) {
    Config config;
    config.providers["acme"] = http_provider(url);
    expect_invalid(config, "providers.acme.base_url");
  }
  Config no_token;
  no_token.providers["acme"] = http_provider("https://bank.example", "ACME_TOKEN", "");
  expect_invalid(no_token, "providers.acme.token_env");
  Config bad_token;
  bad_token.providers["acme"] = http_provider("https://bank.example", "ACME_TOKEN", "a\r\nX: y");
  expect_invalid(bad_token, "providers.acme.token_env");
  Config bad_timeout;
  bad_timeout.providers["acme"] = http_provider("https://bank.example");
  bad_timeout.providers["acme"].timeout = std::chrono::milliseconds(0);
  expect_invalid(bad_timeout, "providers.acme.timeout_ms");
  Config bad_type;
  bad_type.providers["acme"].type = "soap";
  expect_invalid(bad_type, "providers.acme.type");
}

TEST(ProviderRegistry, AddReplacesAProviderOfTheSameName) {
  ProviderRegistry registry;
  auto first = std::make_unique<SandboxProvider>("demo");
  Provider* first_ptr = first.get();
  registry.add(std::move(first));
  EXPECT_EQ(registry.find("demo"), first_ptr);
  auto second = std::make_unique<SandboxProvider>("demo");
  Provider* second_ptr = second.get();
  registry.add(std::move(second));
  EXPECT_EQ(registry.find("demo"), second_ptr);
}

}  // namespace
}  // namespace rtjobs
