// Answers that move no money: the bank refusing the customer's transfer (declined), and the
// answers that are about the operator, not the customer (credentials, rate limits: never
// declined, SPEC section 8).
#include "conformance.hpp"

namespace rtjobs::baas_conformance {
namespace {

TEST_P(BankConformance, EachRefusalIsDeclinedWithItsNormalisedCode) {
  for (Rail r : kRails) {
    for (const Refusal& refusal : bank().refusals) {
      SCOPED_TRACE(std::string(to_string(r)) + " " + std::string(refusal.prefix));
      fake().reset();
      const TransferResult result = run(*provider_, request(r, refusal.prefix));
      EXPECT_EQ(result.outcome, Outcome::kDeclined);
      EXPECT_FALSE(result.outcome_unknown);
      EXPECT_EQ(result.code, refusal.code);
      ASSERT_TRUE(result.message);
      EXPECT_NE(result.message->find(refusal.message), std::string::npos) << *result.message;
      const json attempts = fake().attempts();
      ASSERT_EQ(attempts.size(), 1u);
      EXPECT_EQ(result.http_status, attempts[0]["status"].get<int>());
      ASSERT_TRUE(result.response_body);
      EXPECT_TRUE(json::accept(*result.response_body)) << "the raw body: " << *result.response_body;
      EXPECT_NE(result.response_body->find(refusal.message), std::string::npos)
          << *result.response_body;
      EXPECT_TRUE(fake().transfers().empty());
    }
  }
}

TEST_P(BankConformance, WrongCredentialsAreUnavailableNeverDeclined) {
  auto wrong = provider(5000ms, /*wrong_credentials=*/true);
  ASSERT_NE(wrong, nullptr);
  for (Rail r : kRails) {
    SCOPED_TRACE(std::string(to_string(r)));
    const TransferResult result = run(*wrong, request(r));
    EXPECT_EQ(result.outcome, Outcome::kUnavailable);
    EXPECT_EQ(result.http_status, 401);
    EXPECT_FALSE(result.reference);
  }
  EXPECT_TRUE(fake().transfers().empty());
}

TEST_P(BankConformance, ARateLimitIsUnavailableWithTheBanksRetryAfter) {
  for (Rail r : kRails) {
    SCOPED_TRACE(std::string(to_string(r)));
    const TransferResult result = run(*provider_, request(r, "ratelimit7_"));
    EXPECT_EQ(result.outcome, Outcome::kUnavailable);
    EXPECT_EQ(result.http_status, 429);
    EXPECT_EQ(result.retry_after, std::chrono::seconds(7));
    EXPECT_FALSE(result.outcome_unknown);
  }
  EXPECT_TRUE(fake().transfers().empty());
}

}  // namespace
}  // namespace rtjobs::baas_conformance
