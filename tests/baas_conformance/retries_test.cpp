// Attempts of one job under the same idempotency key: after an outage, after a timeout the bank
// had already executed, and many at once. Money moves once whatever the order (SPEC section 8).
#include "conformance.hpp"

namespace rtjobs::baas_conformance {
namespace {

// The transfers of the fake's ledger made under `key`.
json transfers_of(const json& transfers, const std::string& key) {
  json mine = json::array();
  for (const auto& t : transfers) {
    if (t["idempotency_key"] == key) mine.push_back(t);
  }
  return mine;
}

TEST_P(BankConformance, AnOutageThenASecondAttemptSucceedsOnce) {
  for (Rail r : kRails) {
    SCOPED_TRACE(std::string(to_string(r)));
    fake().reset();
    TransferRequest t = request(r, "flaky1_");
    const TransferResult first = run(*provider_, t);
    EXPECT_EQ(first.outcome, Outcome::kUnavailable);
    ASSERT_TRUE(first.http_status);
    EXPECT_GE(*first.http_status, 500);
    EXPECT_TRUE(fake().transfers().empty());

    t.attempt = 2;
    const TransferResult second = run(*provider_, t);
    ASSERT_EQ(second.outcome, Outcome::kSucceeded) << second.message.value_or("");
    const json transfers = fake().transfers();
    ASSERT_EQ(transfers.size(), 1u);
    EXPECT_EQ(second.reference, transfers[0]["id"].get<std::string>());
  }
}

TEST_P(BankConformance, ATimeoutAfterTheBankExecutedIsSettledByTheNextAttempt) {
  // The fake executes at once and answers after 1.5 s; the provider waits 300 ms.
  auto impatient = provider(300ms);
  ASSERT_NE(impatient, nullptr);
  std::vector<TransferRequest> requests;
  for (Rail r : kRails) requests.push_back(request(r, "slow1500_"));
  const std::vector<TransferResult> first = run_all(*impatient, requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(std::string(to_string(requests[i].rail)));
    EXPECT_EQ(first[i].outcome, Outcome::kUnavailable);
    EXPECT_TRUE(first[i].outcome_unknown);
    EXPECT_EQ(first[i].code, "timeout");
    EXPECT_FALSE(first[i].http_status);
  }
  // Until the fake has answered, a replay of the key would be refused as a concurrent duplicate.
  ASSERT_TRUE(wait_for_transfers(requests.size())) << fake().transfers().dump();

  for (auto& t : requests) t.attempt = 2;
  const std::vector<TransferResult> second = run_all(*impatient, requests);
  const json transfers = fake().transfers();
  EXPECT_EQ(transfers.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const TransferRequest& t = requests[i];
    SCOPED_TRACE(std::string(to_string(t.rail)));
    ASSERT_EQ(second[i].outcome, Outcome::kSucceeded) << second[i].message.value_or("");
    const json mine = transfers_of(transfers, t.idempotency_key);
    ASSERT_EQ(mine.size(), 1u);
    EXPECT_EQ(second[i].reference, mine[0]["id"].get<std::string>());
    const json attempts = attempts_of(t.idempotency_key);
    ASSERT_GE(attempts.size(), 2u);
    EXPECT_EQ(attempts[0]["method"], "POST");
    // A bank with a look-up by key is asked first; the others get the create again, same key.
    EXPECT_EQ(attempts[1]["method"], bank().looks_up_by_key ? "GET" : "POST");
    if (bank().looks_up_by_key) {
      EXPECT_EQ(attempts.size(), 2u) << "the look-up found the transfer: no second create";
    }
  }
}

// A cancelled transfer's job whose earlier attempt is in doubt (TransferRequest::look_up_only):
// the attempt settles what the bank did and never starts a payment where the bank can be asked.
TEST_P(BankConformance, ALookUpOnlyAttemptSettlesWhatTheBankDid) {
  auto impatient = provider(300ms);
  ASSERT_NE(impatient, nullptr);
  for (Rail r : kRails) {
    SCOPED_TRACE(std::string(to_string(r)));
    fake().reset();
    // Executed by the bank after the attempt timed out: found, the same transfer.
    TransferRequest executed = request(r, "slow1500_");
    ASSERT_TRUE(run(*impatient, executed).outcome_unknown);
    ASSERT_TRUE(wait_for_transfers(1)) << fake().transfers().dump();
    executed.attempt = 2;
    executed.look_up_only = true;
    const TransferResult found = run(*impatient, executed);
    ASSERT_EQ(found.outcome, Outcome::kSucceeded) << found.message.value_or("");
    EXPECT_EQ(found.reference, fake().transfers()[0]["id"].get<std::string>());
    EXPECT_FALSE(found.not_at_bank);

    // Never executed (the earlier attempt never arrived).
    TransferRequest lost = request(r);
    lost.attempt = 2;
    lost.look_up_only = true;
    const TransferResult settled = run(*provider_, lost);
    const json attempts = attempts_of(lost.idempotency_key);
    if (bank().looks_up_by_key) {
      // Asked, not sent: nothing under the key, so nothing was paid and nothing will be.
      EXPECT_EQ(settled.outcome, Outcome::kUnavailable);
      EXPECT_TRUE(settled.not_at_bank);
      EXPECT_FALSE(settled.outcome_unknown);
      ASSERT_EQ(attempts.size(), 1u);
      EXPECT_EQ(attempts[0]["method"], "GET");
      EXPECT_EQ(fake().transfers().size(), 1u);
    } else {
      // No way to ask: the same request under the same key, which the bank executes once.
      EXPECT_EQ(settled.outcome, Outcome::kSucceeded) << settled.message.value_or("");
      ASSERT_EQ(attempts.size(), 1u);
      EXPECT_EQ(attempts[0]["method"], "POST");
    }
  }
}

TEST_P(BankConformance, TwentyConcurrentAttemptsOfOneJobMoveMoneyOnce) {
  for (Rail r : kRails) {
    SCOPED_TRACE(std::string(to_string(r)));
    fake().reset();
    // Every answer is 50 ms late, so the attempts overlap at the bank.
    fake().control("POST", "/_control/latency", R"({"ms":50})");
    const TransferRequest t = request(r);
    std::vector<TransferRequest> attempts(20, t);
    for (size_t i = 0; i < attempts.size(); ++i) attempts[i].attempt = 1 + static_cast<int>(i % 2);
    const std::vector<TransferResult> results = run_all(*provider_, attempts);

    const json transfers = fake().transfers();
    ASSERT_EQ(transfers.size(), 1u);
    const std::string id = transfers[0]["id"];
    int succeeded = 0;
    for (const TransferResult& result : results) {
      EXPECT_NE(result.outcome, Outcome::kDeclined)
          << result.code.value_or("") << ": " << result.message.value_or("");
      if (result.outcome == Outcome::kSucceeded) {
        ++succeeded;
        EXPECT_EQ(result.reference, id);
      }
    }
    EXPECT_GE(succeeded, 1);
  }
}

}  // namespace
}  // namespace rtjobs::baas_conformance
