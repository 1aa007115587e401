#include "conformance.hpp"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>

#include "baas/registry.hpp"
#include "config/config.hpp"

namespace rtjobs::baas_conformance {

// What each bank's fake and adapter look like from outside (tools/fake_banks/README.md).
const std::vector<BankProfile> kBanks = {
    {
        .type = "treasury_prime",
        .credentials = {{"key_id_env", "--key-id", "tp-key-id-61e2c0"},
                        {"secret_env", "--secret", "tp-secret-9a4f7d"}},
        .source = "acct_src0001",
        .book = {"acct_dst0001", "", "pending"},
        .ach = {"cp_0001", R"({"sec_code":"ccd"})", "pending"},
        .amount_format = AmountFormat::kDecimalString,
        .key_pointer = "",
        .job_id_pointer = "/userdata/rtjobs_job_id",
        .looks_up_by_key = false,
        .refusals = {{"decline_", "insufficient_funds", "Insufficient funds"},
                     {"closed_", "account_closed", "Account closed"},
                     {"frozen_", "account_frozen", "Account frozen"},
                     {"missing_", "account_not_found", "Not found"}},
        .missing_ach_option = "provider_options.sec_code",
    },
    {
        .type = "increase",
        .credentials = {{"token_env", "--token", "inc-token-3f8a1c5e"}},
        .source = "account_src0001",
        .book = {"account_dst0001", "", "complete"},
        .ach = {"external_account_cp0001", R"({"statement_descriptor":"rtjobs"})",
                "pending_submission"},
        .amount_format = AmountFormat::kIntegerCents,
        .key_pointer = "",
        .job_id_pointer = "",
        .looks_up_by_key = true,
        .refusals = {{"decline_", "insufficient_funds", "insufficient balance"},
                     {"closed_", "account_closed", "The account is closed."},
                     {"frozen_", "account_frozen", "The account is frozen."},
                     {"missing_", "account_not_found", "No Account with the ID"}},
        .missing_ach_option = "provider_options.statement_descriptor",
    },
    {
        .type = "column",
        .credentials = {{"api_key_env", "--api-key", "col-api-key-27d9e4b1"}},
        .source = "bacc_src0001",
        .book = {"bacc_dst0001", "", "COMPLETED"},
        .ach = {"cpty_0001", R"({"entry_class_code":"CCD"})", "INITIATED"},
        .amount_format = AmountFormat::kIntegerCents,
        .key_pointer = "",
        .job_id_pointer = "",
        .looks_up_by_key = false,
        // Column has no frozen code: a frozen account answers bank_account_closed with a
        // message saying frozen, and the adapter goes by the code.
        .refusals = {{"decline_", "insufficient_funds", "insufficient available balance"},
                     {"closed_", "account_closed", "The bank account is closed."},
                     {"frozen_", "account_closed", "frozen"},
                     {"missing_", "account_not_found", "does not exist"}},
        .missing_ach_option = "provider_options.entry_class_code",
    },
    {
        .type = "unit",
        .credentials = {{"token_env", "--token", "unit-token-5b0c7a92"}},
        .source = "1000001",
        .book = {"1000002", "", "Sent"},
        .ach = {"2000001", "", "Pending"},
        .amount_format = AmountFormat::kIntegerCents,
        .key_pointer = "/data/attributes/idempotencyKey",
        .job_id_pointer = "/data/attributes/tags/rtjobs_job_id",
        .looks_up_by_key = true,
        .refusals = {{"decline_", "insufficient_funds", "InsufficientFunds"},
                     {"closed_", "account_closed", "AccountClosed"},
                     {"frozen_", "account_frozen", "AccountFrozen"},
                     {"missing_", "account_not_found", "not found"}},
        .missing_ach_option = "provider_options.company_entry_description",
    },
};

INSTANTIATE_TEST_SUITE_P(Banks, BankConformance,
                         ::testing::Values(&kBanks[0], &kBanks[1], &kBanks[2], &kBanks[3]),
                         [](const auto& info) { return std::string(info.param->type); });

namespace {

std::atomic<int> counter{0};

// The fakes outlive single tests (starting node per test would dominate the suite's time);
// each test resets its bank's fake first.
std::map<std::string_view, std::unique_ptr<FakeBank>>& fakes() {
  static std::map<std::string_view, std::unique_ptr<FakeBank>> running;
  return running;
}

std::string env_name(std::string_view table_key) {
  std::string name = "RTJOBS_CONFORMANCE_";
  for (char c : table_key) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::string wrong(std::string_view value) { return "wrong-" + std::string(value); }

}  // namespace

void BankConformance::TearDownTestSuite() { fakes().clear(); }

void BankConformance::SetUp() {
  auto& fake = fakes()[bank().type];
  if (!fake || !fake->running()) {
    std::vector<std::string> args;
    for (const auto& c : bank().credentials) {
      args.emplace_back(c.fake_flag);
      args.emplace_back(c.value);
    }
    fake = std::make_unique<FakeBank>(std::string(bank().type), std::move(args));
    if (auto error = fake->start()) FAIL() << *error;
  }
  fake->reset();
  provider_ = provider();
  ASSERT_NE(provider_, nullptr);
}

FakeBank& BankConformance::fake() const { return *fakes().at(bank().type); }

std::shared_ptr<Provider> BankConformance::provider(std::chrono::milliseconds timeout,
                                                    bool wrong_credentials) const {
  const auto path = std::filesystem::temp_directory_path() /
                    ("rtjobs-baas-conformance-" + std::to_string(getpid()) + "-" +
                     std::to_string(counter++) + ".toml");
  std::map<std::string, std::string> env;
  {
    std::ofstream toml(path);
    toml << "[providers.bank]\ntype = \"" << bank().type << "\"\nbase_url = \"" << fake().url()
         << "\"\ntimeout_ms = " << timeout.count() << "\n";
    for (const auto& c : bank().credentials) {
      toml << c.table_key << " = \"" << env_name(c.table_key) << "\"\n";
      env[env_name(c.table_key)] = wrong_credentials ? wrong(c.value) : std::string(c.value);
    }
  }
  auto config = load_config(path.string(), [&](const std::string& name) {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  });
  std::filesystem::remove(path);
  if (!config) {
    ADD_FAILURE() << config.error().field << ": " << config.error().message;
    return nullptr;
  }
  auto registry = ProviderRegistry::from_config(*config);
  if (!registry) {
    ADD_FAILURE() << registry.error().field << ": " << registry.error().message;
    return nullptr;
  }
  std::shared_ptr<ProviderRegistry> owner(std::move(*registry));
  Provider* found = owner->find("bank");
  if (found == nullptr) ADD_FAILURE() << "no provider \"bank\" in the registry";
  return found == nullptr ? nullptr : std::shared_ptr<Provider>(owner, found);
}

TransferRequest BankConformance::request(Rail r, std::string_view behaviour, int64_t amount) const {
  const int n = counter++;
  TransferRequest t;
  t.idempotency_key = "conf-" + std::string(bank().type) + "-" + std::to_string(getpid()) + "-" +
                      std::to_string(n) + "-k";  // no key is a part of another
  t.reference = "job-" + std::to_string(n);
  t.amount = amount;
  t.currency = "USD";
  t.source_account = std::string(behaviour) + std::string(bank().source);
  t.destination_account = rail(r).destination;
  t.description = "rent";
  t.rail = r;
  t.provider_options = rail(r).options;
  return t;
}

TransferSpec BankConformance::spec(const TransferRequest& request) const {
  return TransferSpec{request.rail,       request.provider_options, request.amount,
                      request.currency,   request.source_account,   request.destination_account,
                      request.description};
}

TransferResult BankConformance::run(Provider& provider, TransferRequest request) {
  return run_all(provider, {std::move(request)}).front();
}

std::vector<TransferResult> BankConformance::run_all(Provider& provider,
                                                     std::vector<TransferRequest> requests) {
  std::vector<std::future<TransferResult>> answers;
  for (auto& r : requests) {
    // Shared, so that an answer arriving after a failed wait still has somewhere to go.
    auto promise = std::make_shared<std::promise<TransferResult>>();
    answers.push_back(promise->get_future());
    provider.execute(std::move(r),
                     [promise](TransferResult result) { promise->set_value(std::move(result)); });
  }
  std::vector<TransferResult> results;
  for (auto& answer : answers) {
    if (answer.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within 30 s";
      results.emplace_back();
      continue;
    }
    results.push_back(answer.get());
  }
  return results;
}

json BankConformance::attempts_of(std::string_view key) const {
  json mine = json::array();
  for (const auto& a : fake().attempts()) {
    const bool in_key = a["idempotency_key"].is_string() && a["idempotency_key"] == key;
    const bool in_query = a["path"].get<std::string>().find(key) != std::string::npos;
    if (in_key || in_query) mine.push_back(a);
  }
  return mine;
}

bool BankConformance::wait_for_transfers(size_t count) const {
  return wait_until(
      [&] { return fake().transfers().size() == count && fake().stats()["in_flight"] == 0; }, 10s);
}

std::string raw_amount(std::string_view body) {
  constexpr std::string_view kKey = "\"amount\":";
  const size_t at = body.find(kKey);
  if (at == std::string_view::npos) return "";
  const size_t from = at + kKey.size();
  const size_t to = body.find_first_of(",}", from);
  return std::string(body.substr(from, to == std::string_view::npos ? to : to - from));
}

std::vector<std::string> secrets_of(const BankProfile& bank, const json& attempts) {
  std::vector<std::string> secrets;
  for (const auto& c : bank.credentials) {
    secrets.emplace_back(c.value);
    secrets.push_back(wrong(c.value));
  }
  for (const auto& a : attempts) {
    if (!a["authorization"].is_string()) continue;
    const std::string header = a["authorization"];
    secrets.push_back(header.substr(header.find(' ') + 1));  // the token or base64 Basic form
  }
  return secrets;
}

}  // namespace rtjobs::baas_conformance
