// Each bank's read_answer on hand-made answers: SPEC section 8's classification, without a
// network or a fake (tests/baas_conformance runs the adapters against the fakes).
#include "baas/banks.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "baas/bank_test_support.hpp"

namespace rtjobs {
namespace {

using bank_test::answer;
using bank_test::kUrl;
using bank_test::request;

struct NamedApi {
  const char* bank;
  std::unique_ptr<BankApi> api;
};

std::vector<NamedApi> all_banks() {
  std::vector<NamedApi> banks;
  banks.push_back({"treasury_prime", make_treasury_prime_api(kUrl, "key-id", "secret")});
  banks.push_back({"increase", make_increase_api(kUrl, "token")});
  banks.push_back({"column", make_column_api(kUrl, "api-key")});
  banks.push_back({"unit", make_unit_api(kUrl, "token")});
  return banks;
}

// Increase's error shape: {type, status, title, detail, ...extra}.
HttpAnswer increase_error(int status, std::string_view type, nlohmann::json detail,
                          nlohmann::json extra = nlohmann::json::object()) {
  extra.update({{"type", type}, {"status", status}, {"title", "t"}, {"detail", detail}});
  return answer(status, extra.dump());
}

// Column's error shape: {type, code, message, documentation_url, details}.
HttpAnswer column_error(int status, std::string_view type, std::string_view code,
                        std::string_view message) {
  const nlohmann::json body = {{"type", type},
                               {"code", code},
                               {"message", message},
                               {"documentation_url", ""},
                               {"details", nullptr}};
  return answer(status, body.dump());
}

TEST(IncreaseAnswers, InvalidOperationIsTheOneDeclining409) {
  auto api = make_increase_api(kUrl, "token");
  const HttpAnswer refused = increase_error(409, "invalid_operation_error",
                                            "There's an insufficient balance in the account.");
  const TransferResult r = api->read_answer(request(), refused);
  EXPECT_EQ(r.outcome, Outcome::kDeclined);
  EXPECT_EQ(r.code, "insufficient_funds");
  EXPECT_EQ(r.message, "There's an insufficient balance in the account.");
  EXPECT_EQ(r.response_body, refused.body);
  EXPECT_EQ(r.http_status, 409);
}

TEST(IncreaseAnswers, AReusedKeyIsUnavailable) {
  auto api = make_increase_api(kUrl, "token");
  const TransferResult r =
      api->read_answer(request(), increase_error(409, "idempotency_key_already_used_error", nullptr,
                                                 {{"resource_id", "account_transfer_1"}}));
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_EQ(r.code, "idempotency_key_already_used_error");
}

// Found by fuzzing: {"type": ""} was read as Increase's error shape, and a 4xx declined the
// transfer with an empty code.
TEST(IncreaseAnswers, AnEmptyErrorTypeIsNotIncreasesShape) {
  auto api = make_increase_api(kUrl, "token");
  for (int status : {400, 404, 422}) {
    const TransferResult r = api->read_answer(request(), increase_error(status, "", "d"));
    EXPECT_EQ(r.outcome, Outcome::kUnavailable) << status;
    EXPECT_EQ(r.code, "http_" + std::to_string(status));
  }
}

TEST(IncreaseAnswers, ARateLimitBodysRetryAfterCountsWithoutTheHeader) {
  auto api = make_increase_api(kUrl, "token");
  HttpAnswer limited = increase_error(429, "rate_limited_error", nullptr, {{"retry_after", 12}});
  const TransferResult r = api->read_answer(request(), limited);
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_EQ(r.retry_after, std::chrono::seconds(12));
  limited.retry_after = "3";  // the header, when there is one, wins
  EXPECT_EQ(api->read_answer(request(), limited).retry_after, std::chrono::seconds(3));
}

TEST(ColumnAnswers, AnIdempotencyCodeIsUnavailable) {
  auto api = make_column_api(kUrl, "api-key");
  const TransferResult r = api->read_answer(
      request(), column_error(400, "invalid_request_error", "idempotency_key_reused", "reused"));
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_EQ(r.code, "idempotency_key_reused");
}

// A wrong base_url's path reaches the bank, which answers that it has no such route: the
// operator's mistake, not a refusal of the customer's transfer. (Unit's and Treasury Prime's
// answers to an unknown route look like their missing-account answers.)
TEST(UnknownRoutes, AreUnavailableWhileAMissingAccountIsDeclined) {
  struct Case {
    const char* bank;
    std::unique_ptr<BankApi> api;
    HttpAnswer route;
    HttpAnswer missing;
  };
  Case cases[] = {
      {"increase", make_increase_api(kUrl, "token"),
       increase_error(404, "api_method_not_found_error", nullptr),
       increase_error(404, "object_not_found_error", "No Account with the ID src")},
      {"column", make_column_api(kUrl, "api-key"),
       column_error(404, "invalid_request_error", "not_found", "No route POST /x."),
       column_error(404, "bank_account_error", "bank_account_not_found", "no account")},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.api->read_answer(request(), c.route).outcome, Outcome::kUnavailable) << c.bank;
    const TransferResult missing = c.api->read_answer(request(), c.missing);
    EXPECT_EQ(missing.outcome, Outcome::kDeclined) << c.bank;
    EXPECT_EQ(missing.code, "account_not_found") << c.bank;
  }
}

TEST(UnitAnswers, ARejectedPaymentIsDeclinedWithItsReference) {
  auto api = make_unit_api(kUrl, "token");
  const TransferResult r = api->read_answer(
      request(),
      answer(201, R"({"data":{"type":"bookPayment","id":"4711","attributes":)"
                  R"({"amount":5000,"status":"Rejected","reason":"InsufficientFunds"}}})"));
  EXPECT_EQ(r.outcome, Outcome::kDeclined);
  EXPECT_EQ(r.code, "insufficient_funds");
  EXPECT_EQ(r.reference, "4711");
  EXPECT_EQ(r.bank_status, "Rejected");
  ASSERT_TRUE(r.message);
  EXPECT_NE(r.message->find("InsufficientFunds"), std::string::npos);
}

TEST(TreasuryPrimeAnswers, AnErrorStatusIsDeclined) {
  auto api = make_treasury_prime_api(kUrl, "key-id", "secret");
  const TransferResult r = api->read_answer(
      request(), answer(200, R"({"id":"book_1","status":"error","error":"Insufficient funds"})"));
  EXPECT_EQ(r.outcome, Outcome::kDeclined);
  EXPECT_EQ(r.code, "insufficient_funds");
  EXPECT_EQ(r.message, "Insufficient funds");
  EXPECT_EQ(r.reference, "book_1");
  EXPECT_EQ(r.bank_status, "error");
}

// Treasury Prime completes what it took once its core is back: the outcome is unknown.
TEST(TreasuryPrimeAnswers, A502LeavesTheOutcomeUnknown) {
  auto api = make_treasury_prime_api(kUrl, "key-id", "secret");
  const TransferResult r =
      api->read_answer(request(), answer(502, R"({"error":"Bank core is offline"})"));
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_TRUE(r.outcome_unknown);
  EXPECT_EQ(r.http_status, 502);
}

TEST(EveryBank, A404WithAnHtmlBodyIsUnavailable) {
  for (const auto& [bank, api] : all_banks()) {
    for (Rail rail : {Rail::kBook, Rail::kAch}) {
      const TransferResult r = api->read_answer(
          request(rail), answer(404, "<html><body><h1>404 Not Found</h1></body></html>"));
      EXPECT_EQ(r.outcome, Outcome::kUnavailable) << bank;
      EXPECT_EQ(r.http_status, 404) << bank;
    }
  }
}

TEST(EveryBank, ASuccessWithoutAnIdHasAnUnknownOutcome) {
  for (const auto& [bank, api] : all_banks()) {
    for (const char* body :
         {"{}", R"({"status":"pending"})", R"({"data":{"attributes":{}}})", "accepted", ""}) {
      const TransferResult r = api->read_answer(request(), answer(200, body));
      EXPECT_EQ(r.outcome, Outcome::kUnavailable) << bank << ": " << body;
      EXPECT_TRUE(r.outcome_unknown) << bank << ": " << body;
    }
  }
}

// Whatever its HTTP status, a bank's error about the idempotency key (reused, in use,
// unprocessable) is never the customer's transfer refused.
TEST(EveryBank, AnErrorAboutTheIdempotencyKeyIsNeverDeclined) {
  const struct {
    std::unique_ptr<BankApi> api;
    HttpAnswer answer;
  } cases[] = {
      {make_treasury_prime_api(kUrl, "key-id", "secret"),
       answer(400, R"({"error":"Idempotency key reused with another body"})")},
      {make_unit_api(kUrl, "token"),
       answer(400, R"({"errors":[{"status":"400","code":"idempotency_key_reused"}]})")},
      {make_increase_api(kUrl, "token"),
       increase_error(422, "idempotency_unprocessable_error", "try again")},
      {make_column_api(kUrl, "api-key"),
       column_error(400, "invalid_request_error", "idempotency_key_reused", "reused")},
  };
  for (const auto& c : cases) {
    const TransferResult r = c.api->read_answer(request(), c.answer);
    EXPECT_EQ(r.outcome, Outcome::kUnavailable) << c.answer.body;
  }
}

}  // namespace
}  // namespace rtjobs
