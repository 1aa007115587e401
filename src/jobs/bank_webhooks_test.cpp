#include "jobs/bank_webhooks.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jobs/test_fixture.hpp"

namespace rtjobs::jobs_test {
namespace {

using namespace std::chrono_literals;

// A bank whose webhooks verify when they carry the header "signature: good", and then read as
// the scripted events.
class WebhookBank final : public Provider {
 public:
  std::string_view name() const override { return "bank"; }
  std::chrono::milliseconds timeout() const override { return 1s; }
  void execute(TransferRequest /*request*/, std::function<void(TransferResult)> done) override {
    done(TransferResult{});
  }
  bool follows_settlement() const override { return true; }
  Result<std::vector<BankEvent>> read_webhook(const WebhookDelivery& delivery) const override {
    if (delivery.header("signature") != "good") {
      return fail(ErrorCode::kUnauthenticated, "the signature did not verify");
    }
    return events;
  }

  std::vector<BankEvent> events;  // set before the deliveries
};

TransferState full_state() {
  TransferState s;
  s.reference = "tr_1";
  s.rail = Rail::kAch;
  s.settlement = SettlementStatus::kReturned;
  s.bank_status = "returned";
  s.return_code = "R01";
  s.code = "insufficient_funds";
  s.message = "NSF \"quoted\" \u00e9";
  s.settled_at = kT0 + 90min + 123ms;
  s.http_status = 200;
  s.response_body = R"({"id":"tr_1","status":"returned"})";
  return s;
}

void expect_same(const TransferState& a, const TransferState& b) {
  EXPECT_EQ(a.reference, b.reference);
  EXPECT_EQ(a.rail, b.rail);
  EXPECT_EQ(a.settlement, b.settlement);
  EXPECT_EQ(a.bank_status, b.bank_status);
  EXPECT_EQ(a.return_code, b.return_code);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.settled_at, b.settled_at);
  EXPECT_EQ(a.http_status, b.http_status);
  EXPECT_EQ(a.response_body, b.response_body);
}

class BankWebhookIntakeTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    bank_ = add_provider(std::make_unique<WebhookBank>());
    BankEvent thin;
    thin.event_id = "evt_1";
    thin.type = "ach_transfer.updated";
    thin.reference = "tr_1";
    thin.rail = Rail::kAch;
    BankEvent full;
    full.event_id = "evt_2";
    full.type = "ach.outgoing_transfer.settled";
    full.reference = "tr_1";
    full.rail = Rail::kAch;
    full.state = full_state();
    bank_->events = {thin, full};
    intake_ =
        std::make_unique<BankWebhookIntake>(*store_, providers_, clock_, 1, [this] { ++woken_; });
  }
  void TearDown() override { intake_.reset(); }

  Result<WebhookAccepted> deliver(std::string_view provider, std::string signature) {
    WebhookDelivery delivery;
    delivery.headers = {{"signature", std::move(signature)}};
    delivery.body = "{}";
    delivery.now = clock_.now();
    std::promise<Result<WebhookAccepted>> answer;
    intake_->accept(provider, delivery,
                    [&](Result<WebhookAccepted> r) { answer.set_value(std::move(r)); });
    return answer.get_future().get();
  }
  int64_t pending() {
    auto n = store_->count_pending_bank_events(100);
    EXPECT_TRUE(n);
    return n.value_or(-1);
  }

  WebhookBank* bank_ = nullptr;
  std::atomic<int> woken_{0};
  std::unique_ptr<BankWebhookIntake> intake_;
};

TEST_F(BankWebhookIntakeTest, AVerifiedDeliveryIsStoredAndWakesTheFollower) {
  auto accepted = deliver("bank", "good");
  ASSERT_TRUE(accepted) << accepted.error().message;
  EXPECT_EQ(accepted->events, 2);
  EXPECT_EQ(accepted->duplicates, 0);
  EXPECT_EQ(pending(), 2);
  EXPECT_EQ(woken_.load(), 1);

  auto stored = store_->claim_bank_events(clock_.now(), clock_.now() + 1min, 10);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 2u);
  const BankEventRecord* thin = nullptr;
  const BankEventRecord* full = nullptr;
  for (const BankEventRecord& e : *stored) (e.event_id == "evt_1" ? thin : full) = &e;
  ASSERT_TRUE(thin && full);
  EXPECT_EQ(thin->provider, "bank");
  EXPECT_EQ(thin->event_type, "ach_transfer.updated");
  EXPECT_EQ(thin->reference, "tr_1");
  EXPECT_EQ(thin->rail, Rail::kAch);
  EXPECT_FALSE(thin->payload);
  EXPECT_EQ(thin->received_at, kT0);
  EXPECT_EQ(full->event_id, "evt_2");
  EXPECT_EQ(full->event_type, "ach.outgoing_transfer.settled");
  ASSERT_TRUE(full->payload);
  auto state = parse_transfer_state(*full->payload);
  ASSERT_TRUE(state) << state.error().message;
  expect_same(*state, full_state());
}

TEST_F(BankWebhookIntakeTest, ARedeliveryIsStoredOnceAndWakesNothing) {
  ASSERT_TRUE(deliver("bank", "good"));
  clock_.advance(1min);
  auto again = deliver("bank", "good");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->events, 2);
  EXPECT_EQ(again->duplicates, 2);
  EXPECT_EQ(pending(), 2);
  EXPECT_EQ(woken_.load(), 1);

  BankEvent fresh = bank_->events.front();
  fresh.event_id = "evt_3";
  bank_->events.push_back(fresh);  // one new among the redelivered
  auto mixed = deliver("bank", "good");
  ASSERT_TRUE(mixed) << mixed.error().message;
  EXPECT_EQ(mixed->events, 3);
  EXPECT_EQ(mixed->duplicates, 2);
  EXPECT_EQ(pending(), 3);
  EXPECT_EQ(woken_.load(), 2);
}

TEST_F(BankWebhookIntakeTest, AnUnverifiedDeliveryStoresNothing) {
  auto refused = deliver("bank", "forged");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(pending(), 0);
  EXPECT_EQ(woken_.load(), 0);
}

TEST_F(BankWebhookIntakeTest, AnUnknownProviderIsNotFound) {
  auto unknown = deliver("nobank", "good");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(pending(), 0);
  EXPECT_EQ(woken_.load(), 0);
}

TEST_F(BankWebhookIntakeTest, ADeliveryWithoutEventsStoresNothing) {
  bank_->events.clear();
  auto accepted = deliver("bank", "good");
  ASSERT_TRUE(accepted) << accepted.error().message;
  EXPECT_EQ(accepted->events, 0);
  EXPECT_EQ(accepted->duplicates, 0);
  EXPECT_EQ(pending(), 0);
  EXPECT_EQ(woken_.load(), 0);
}

TEST(TransferStateJson, EveryFieldRoundTrips) {
  const TransferState full = full_state();
  auto back = parse_transfer_state(transfer_state_json(full));
  ASSERT_TRUE(back) << back.error().message;
  expect_same(*back, full);

  TransferState bare;
  bare.reference = "tr_2";
  bare.rail = Rail::kBook;
  bare.settlement = SettlementStatus::kPending;
  auto bare_back = parse_transfer_state(transfer_state_json(bare));
  ASSERT_TRUE(bare_back) << bare_back.error().message;
  expect_same(*bare_back, bare);
  EXPECT_FALSE(bare_back->return_code);
  EXPECT_FALSE(bare_back->code);
  EXPECT_FALSE(bare_back->message);
  EXPECT_FALSE(bare_back->settled_at);
  EXPECT_FALSE(bare_back->http_status);

  for (SettlementStatus s : {SettlementStatus::kPending, SettlementStatus::kSettled,
                             SettlementStatus::kReturned, SettlementStatus::kCanceled}) {
    TransferState t = bare;
    t.settlement = s;
    auto r = parse_transfer_state(transfer_state_json(t));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->settlement, s);
  }
}

TEST(TransferStateJson, UnreadableTextIsAnError) {
  EXPECT_FALSE(parse_transfer_state("not json"));
  EXPECT_FALSE(parse_transfer_state("[]"));
  EXPECT_FALSE(parse_transfer_state(R"({"rail":"ach","settlement":"pending"})"));
  EXPECT_FALSE(parse_transfer_state(R"({"reference":"tr","rail":"ach","settlement":"maybe"})"));
}

}  // namespace
}  // namespace rtjobs::jobs_test
