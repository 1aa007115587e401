// Accepted transfers: what the adapter reports, what the bank received, and amounts to the byte.
#include "conformance.hpp"

namespace rtjobs::baas_conformance {
namespace {

TEST_P(BankConformance, ASuccessReportsTheBanksIdAndStatusAndMovesMoneyOnce) {
  for (Rail r : kRails) {
    SCOPED_TRACE(std::string(to_string(r)));
    fake().reset();
    const TransferRequest t = request(r);
    const TransferResult result = run(*provider_, t);
    ASSERT_EQ(result.outcome, Outcome::kSucceeded) << result.message.value_or("");
    EXPECT_FALSE(result.outcome_unknown);
    EXPECT_EQ(result.bank_status, rail(r).bank_status);
    ASSERT_TRUE(result.http_status);
    EXPECT_GE(*result.http_status, 200);
    EXPECT_LE(*result.http_status, 299);

    const json transfers = fake().transfers();
    ASSERT_EQ(transfers.size(), 1u);
    EXPECT_EQ(result.reference, transfers[0]["id"].get<std::string>());
    EXPECT_EQ(transfers[0]["idempotency_key"], t.idempotency_key);
    EXPECT_EQ(transfers[0]["kind"], std::string(to_string(r)));
    EXPECT_EQ(transfers[0]["source"], t.source_account);
    EXPECT_EQ(transfers[0]["destination"], t.destination_account);

    // One request, carrying the key where the bank reads it (the fake's attempt records the key
    // from the bank's own place: its header, or Unit's attributes.idempotencyKey) and the job id
    // where the bank has room for it.
    const json attempts = fake().attempts();
    ASSERT_EQ(attempts.size(), 1u);
    EXPECT_EQ(attempts[0]["method"], "POST");
    EXPECT_EQ(attempts[0]["idempotency_key"], t.idempotency_key);
    const json body = json::parse(attempts[0]["body"].get<std::string>());
    if (!bank().key_pointer.empty()) {
      EXPECT_EQ(body.value(json::json_pointer(std::string(bank().key_pointer)), ""),
                t.idempotency_key);
    }
    if (!bank().job_id_pointer.empty()) {
      EXPECT_EQ(body.value(json::json_pointer(std::string(bank().job_id_pointer)), ""),
                t.reference);
    }
  }
}

struct AmountCase {
  int64_t minor;
  std::string_view cents;    // AmountFormat::kIntegerCents
  std::string_view decimal;  // AmountFormat::kDecimalString
};

TEST_P(BankConformance, AmountsReachTheBankExactlyInItsFormat) {
  constexpr AmountCase kCases[] = {{1, "1", "\"0.01\""},
                                   {99, "99", "\"0.99\""},
                                   {100, "100", "\"1.00\""},
                                   {12345678901, "12345678901", "\"123456789.01\""}};
  for (Rail r : kRails) {
    for (const AmountCase& c : kCases) {
      SCOPED_TRACE(std::string(to_string(r)) + " " + std::to_string(c.minor));
      fake().reset();
      const TransferResult result = run(*provider_, request(r, "", c.minor));
      ASSERT_EQ(result.outcome, Outcome::kSucceeded) << result.message.value_or("");
      const std::string_view expected =
          bank().amount_format == AmountFormat::kIntegerCents ? c.cents : c.decimal;
      const json attempts = fake().attempts();
      ASSERT_EQ(attempts.size(), 1u);
      EXPECT_EQ(raw_amount(attempts[0]["body"].get<std::string>()), expected);
      const json transfers = fake().transfers();
      ASSERT_EQ(transfers.size(), 1u);
      EXPECT_EQ(transfers[0]["amount"].dump(), expected) << "the fake's ledger";
    }
  }
}

// Every one of these banks moves US dollars only. The decimal text of a zero-exponent currency
// is core/money's, tested in src/core/money_test.cpp.
TEST_P(BankConformance, AnotherCurrencyThanUsdIsRefusedAtCreation) {
  for (Rail r : kRails) {
    SCOPED_TRACE(std::string(to_string(r)));
    TransferRequest t = request(r, "", 12345);
    t.currency = "JPY";
    const auto checked = provider_->check_transfer(spec(t));
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().field, "currency");
  }
}

}  // namespace
}  // namespace rtjobs::baas_conformance
