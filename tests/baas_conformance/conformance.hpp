// The bank adapter conformance suite: every test runs against each real bank's adapter
// (treasury_prime, increase, column, unit) talking to that bank's fake (tools/fake_banks), as
// the store conformance suite runs against every store. Providers are built the way production
// builds them: a TOML [providers.NAME] table with credentials named by environment variables,
// through load_config and ProviderRegistry::from_config.
//
// What differs between banks is in one table, kBanks (conformance.cpp): a BankProfile per bank.
// Tests read it and never branch on the bank's name. The fixture is instantiated once, in
// conformance.cpp, as Banks/BankConformance.<Test>/<bank>; a test file only adds TEST_Ps. The
// fixture lives in a named namespace so every file's TEST_Ps share one fixture type.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "baas/provider.hpp"
#include "fake_bank.hpp"

namespace rtjobs::baas_conformance {

using nlohmann::json;
using namespace std::chrono_literals;

// One credential: the key of the provider table naming its environment variable, the fake's
// command-line flag, and the value both are given.
struct Credential {
  std::string_view table_key;  // "token_env", "api_key_env", "key_id_env", "secret_env"
  std::string_view fake_flag;  // "--token", "--api-key", "--key-id", "--secret"
  std::string_view value;
};

// A refusal the fake gives for a source-account prefix, and how the adapter reports it.
struct Refusal {
  std::string_view prefix;   // "decline_", "closed_", "frozen_", "missing_"
  std::string_view code;     // the normalised code (SPEC section 8)
  std::string_view message;  // a part of the bank's own reason, found in `message`
};

struct RailProfile {
  std::string_view destination;  // the bank's id of the receiving account or counterparty
  std::string_view options;      // provider_options the rail needs ("" = none)
  std::string_view bank_status;  // what the bank calls a transfer it just accepted
};

enum class AmountFormat {
  kIntegerCents,   // "amount":12345678901
  kDecimalString,  // "amount":"123456789.01"
};

struct BankProfile {
  std::string_view type;  // the provider type, and the fake's --bank
  std::vector<Credential> credentials;
  // An account id of the bank's shape; a behaviour prefix ("decline_") goes in front of it.
  std::string_view source;
  RailProfile book;
  RailProfile ach;
  AmountFormat amount_format;
  // JSON pointers into the create request's body; "" where the bank has no such place (the
  // key then travels in a header, which the fake reads into the attempt's idempotency_key).
  std::string_view key_pointer;
  std::string_view job_id_pointer;
  bool looks_up_by_key;  // a re-attempt first asks the bank for the transfer under its key
  std::vector<Refusal> refusals;
  // The field check_transfer names for an ACH without provider_options and with a description
  // of more than 10 characters.
  std::string_view missing_ach_option;
};

extern const std::vector<BankProfile> kBanks;

// gtest names a failing test's parameter by the bank, not by the profile's address.
inline void PrintTo(const BankProfile* bank, std::ostream* os) { *os << bank->type; }

inline constexpr Rail kRails[] = {Rail::kBook, Rail::kAch};

class BankConformance : public ::testing::TestWithParam<const BankProfile*> {
 protected:
  static void TearDownTestSuite();  // stops every bank's fake
  void SetUp() override;            // starts this bank's fake once, resets it, builds provider_
  void TearDown() override { provider_.reset(); }

  const BankProfile& bank() const { return *GetParam(); }
  const RailProfile& rail(Rail r) const { return r == Rail::kBook ? bank().book : bank().ach; }
  FakeBank& fake() const;

  // A provider built from a TOML table naming this bank's fake; `wrong_credentials` gives every
  // credential a value the fake does not take.
  // The provider keeps its registry alive.
  std::shared_ptr<Provider> provider(std::chrono::milliseconds timeout = 5000ms,
                                     bool wrong_credentials = false) const;
  // A transfer on `r` from the bank's source account with `behaviour` ("decline_", ...) in
  // front of it, under a fresh idempotency key and job id.
  TransferRequest request(Rail r, std::string_view behaviour = "", int64_t amount = 5000) const;
  TransferSpec spec(const TransferRequest& request) const;

  // One attempt, waited for.
  static TransferResult run(Provider& provider, TransferRequest request);
  // The attempts all started at once, then waited for; results in the order given.
  static std::vector<TransferResult> run_all(Provider& provider,
                                             std::vector<TransferRequest> requests);

  // The fake's requests that carried `key` (in a header, the body or a look-up's query).
  json attempts_of(std::string_view key) const;
  // Waits until the fake holds `count` transfers and has answered every request.
  bool wait_for_transfers(size_t count) const;

  std::shared_ptr<Provider> provider_;
};

// The text of `"amount":` in a JSON body as sent, e.g. `12345678901` or `"0.01"`.
std::string raw_amount(std::string_view body);

// Every credential of `bank`, and the Authorization header values the fake received, for the
// tests that no secret leaks.
std::vector<std::string> secrets_of(const BankProfile& bank, const json& attempts);

}  // namespace rtjobs::baas_conformance
