// Each bank's look-up by id after the call (SPEC section 8, settlement and returns): the GET it
// sends, how its answer maps to a TransferState, and which create answers leave the transfer
// pending. Hand-made answers, no network; BankProvider's own paths over a real transport.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <memory>

#include <nlohmann/json.hpp>

#include "baas/bank_test_support.hpp"
#include "baas/banks.hpp"
#include "baas/http_provider.hpp"

namespace rtjobs {
namespace {

using nlohmann::json;

using bank_test::answer;
using bank_test::kUrl;
using bank_test::request;

// The id of the transfer in a look-up's answer (Unit's in "data"): the one a look-up asks for.
std::string id_in(const json& body) {
  const json& object = body.contains("data") ? body["data"] : body;
  return object.value("id", "t_1");
}

// Reads `body` as a 200 look-up answer of `rail` for its transfer; fails the test on an error.
TransferState fetched(const BankApi& api, Rail rail, const json& body) {
  auto state = api.read_fetched(id_in(body), rail, answer(200, body.dump()));
  EXPECT_TRUE(state.has_value()) << (state ? "" : state.error().message);
  return state ? *state : TransferState{};
}

ErrorCode fetch_error(const BankApi& api, int status, std::string body) {
  auto state = api.read_fetched("t_1", Rail::kAch, answer(status, std::move(body)));
  EXPECT_FALSE(state.has_value());
  return state ? ErrorCode::kInternal : state.error().code;
}

// A look-up answering another transfer than the one asked for, for every bank: unavailable
// (asked again later), never that transfer's state read as this one's (found by fuzzing).
TEST(EveryBankLookUp, AnotherTransfersAnswerIsUnavailable) {
  const struct {
    std::unique_ptr<BankApi> api;
    json body;
  } cases[] = {
      {make_increase_api(kUrl, "token"), {{"id", "ach_2"}, {"status", "returned"}}},
      {make_column_api(kUrl, "key"), {{"id", "acht_2"}, {"status", "returned"}}},
      {make_treasury_prime_api(kUrl, "id", "secret"), {{"id", "ach_2"}, {"status", "returned"}}},
      {make_unit_api(kUrl, "token"),
       {{"data", {{"type", "achPayment"}, {"id", "2"}, {"attributes", {{"status", "Returned"}}}}}}},
      {make_rtjobs_api(kUrl, "token"), {{"id", "tr_2"}, {"status", "returned"}}},
  };
  for (const auto& c : cases) {
    EXPECT_TRUE(c.api->read_fetched(id_in(c.body), Rail::kAch, answer(200, c.body.dump())));
    auto other = c.api->read_fetched("t_1", Rail::kAch, answer(200, c.body.dump()));
    ASSERT_FALSE(other) << c.body;
    EXPECT_EQ(other.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(other.error().message.find("another transfer, " + id_in(c.body)), std::string::npos)
        << other.error().message;
  }
}

// --- Increase ---

TEST(IncreaseLookUp, GetsTheTransferByIdWithTheToken) {
  auto api = make_increase_api(kUrl, "token");
  auto call = api->fetch_call("ach/1 x", Rail::kAch);
  ASSERT_TRUE(call);
  EXPECT_EQ(call->method, "GET");
  EXPECT_EQ(call->url, "https://bank.test/ach_transfers/ach%2F1%20x");
  EXPECT_NE(std::find(call->headers.begin(), call->headers.end(), "Authorization: Bearer token"),
            call->headers.end());
  EXPECT_EQ(api->fetch_call("account_transfer_1", Rail::kBook)->url,
            "https://bank.test/account_transfers/account_transfer_1");
  EXPECT_TRUE(api->follows_settlement());
}

TEST(IncreaseLookUp, SubmittedIsSettledOnlyOnceSettledAtIsSet) {
  auto api = make_increase_api(kUrl, "token");
  EXPECT_EQ(
      fetched(*api, Rail::kAch, {{"id", "ach_1"}, {"status", "pending_submission"}}).settlement,
      SettlementStatus::kPending);
  EXPECT_EQ(
      fetched(*api, Rail::kAch, {{"id", "ach_1"}, {"status", "submitted"}, {"settlement", nullptr}})
          .settlement,
      SettlementStatus::kPending);
  const json settled = {{"id", "ach_1"},
                        {"status", "submitted"},
                        {"settlement", {{"settled_at", "2026-03-02T15:04:05Z"}}}};
  const TransferState s = fetched(*api, Rail::kAch, settled);
  EXPECT_EQ(s.settlement, SettlementStatus::kSettled);
  EXPECT_EQ(s.reference, "ach_1");
  EXPECT_EQ(s.bank_status, "submitted");
  ASSERT_TRUE(s.settled_at);
  EXPECT_EQ(*s.settled_at,
            Timestamp(std::chrono::sys_days(std::chrono::year(2026) / std::chrono::March / 2)) +
                std::chrono::hours(15) + std::chrono::minutes(4) + std::chrono::seconds(5));
  EXPECT_EQ(s.http_status, 200);
  EXPECT_EQ(s.response_body, settled.dump());
}

TEST(IncreaseLookUp, ReturnsCarryTheRawCodeElseTheMappedReason) {
  auto api = make_increase_api(kUrl, "token");
  const TransferState raw =
      fetched(*api, Rail::kAch,
              {{"id", "ach_1"},
               {"status", "returned"},
               {"return",
                {{"raw_return_reason_code", "R09"}, {"return_reason_code", "uncollected_funds"}}}});
  EXPECT_EQ(raw.settlement, SettlementStatus::kReturned);
  EXPECT_EQ(raw.return_code, "R09");
  EXPECT_EQ(raw.message, "uncollected_funds");
  EXPECT_EQ(fetched(*api, Rail::kAch,
                    {{"id", "ach_1"},
                     {"status", "returned"},
                     {"return", {{"return_reason_code", "account_closed"}}}})
                .return_code,
            "R02");
  EXPECT_EQ(fetched(*api, Rail::kAch,
                    {{"id", "ach_1"},
                     {"status", "returned"},
                     {"return", {{"return_reason_code", "something_new"}}}})
                .return_code,
            "R??");
}

TEST(IncreaseLookUp, CanceledAndRejectedAreCanceledAndBookCompleteIsSettled) {
  auto api = make_increase_api(kUrl, "token");
  const TransferState canceled =
      fetched(*api, Rail::kAch, {{"id", "ach_1"}, {"status", "canceled"}});
  EXPECT_EQ(canceled.settlement, SettlementStatus::kCanceled);
  EXPECT_EQ(canceled.code, "canceled");
  EXPECT_EQ(fetched(*api, Rail::kAch, {{"id", "ach_1"}, {"status", "rejected"}}).settlement,
            SettlementStatus::kCanceled);
  EXPECT_EQ(fetched(*api, Rail::kBook, {{"id", "at_1"}, {"status", "complete"}}).settlement,
            SettlementStatus::kSettled);
  EXPECT_EQ(fetched(*api, Rail::kBook, {{"id", "at_1"}, {"status", "pending_approval"}}).settlement,
            SettlementStatus::kPending);
}

TEST(IncreaseLookUp, NotFoundOnlyInIncreasesShape) {
  auto api = make_increase_api(kUrl, "token");
  EXPECT_EQ(fetch_error(*api, 404,
                        R"({"type":"object_not_found_error","status":404,"title":"Not found"})"),
            ErrorCode::kNotFound);
  EXPECT_EQ(fetch_error(*api, 404, "<html>nginx</html>"), ErrorCode::kUnavailable);
  EXPECT_EQ(fetch_error(*api, 500, R"({"type":"internal_server_error","status":500})"),
            ErrorCode::kUnavailable);
  EXPECT_EQ(fetch_error(*api, 200, "not json"), ErrorCode::kUnavailable);
  EXPECT_EQ(fetch_error(*api, 200, R"({"id":"ach_1"})"), ErrorCode::kUnavailable);
}

TEST(IncreaseCreate, AchIsPendingAndACompleteBookTransferIsFinal) {
  auto api = make_increase_api(kUrl, "token");
  const auto ach = api->read_answer(request(Rail::kAch),
                                    answer(200, R"({"id":"ach_1","status":"pending_approval"})"));
  EXPECT_EQ(ach.outcome, Outcome::kSucceeded);
  EXPECT_EQ(ach.settlement, SettlementStatus::kPending);
  const auto book =
      api->read_answer(request(Rail::kBook), answer(200, R"({"id":"at_1","status":"complete"})"));
  EXPECT_FALSE(book.settlement);
  const auto held = api->read_answer(request(Rail::kBook),
                                     answer(200, R"({"id":"at_1","status":"pending_approval"})"));
  EXPECT_EQ(held.settlement, SettlementStatus::kPending);
}

// --- Column ---

TEST(ColumnLookUp, MapsEachStatus) {
  auto api = make_column_api(kUrl, "api-key");
  EXPECT_EQ(api->fetch_call("acht_1", Rail::kAch)->url, "https://bank.test/transfers/ach/acht_1");
  EXPECT_EQ(api->fetch_call("book_1", Rail::kBook)->url, "https://bank.test/transfers/book/book_1");
  EXPECT_EQ(fetched(*api, Rail::kAch, {{"id", "acht_1"}, {"status", "SUBMITTED"}}).settlement,
            SettlementStatus::kPending);
  const TransferState settled = fetched(
      *api, Rail::kAch,
      {{"id", "acht_1"}, {"status", "SETTLED"}, {"settled_at", "2026-03-02T15:04:05.123456Z"}});
  EXPECT_EQ(settled.settlement, SettlementStatus::kSettled);
  ASSERT_TRUE(settled.settled_at);
  EXPECT_EQ(settled.settled_at->time_since_epoch().count() % 1000, 123);
  EXPECT_EQ(fetched(*api, Rail::kAch, {{"id", "acht_1"}, {"status", "COMPLETED"}}).settlement,
            SettlementStatus::kSettled);
  const TransferState returned =
      fetched(*api, Rail::kAch,
              {{"id", "acht_1"},
               {"status", "RETURNED"},
               {"return_details", {{{"return_code", "R01"}, {"description", "NSF"}}}}});
  EXPECT_EQ(returned.settlement, SettlementStatus::kReturned);
  EXPECT_EQ(returned.return_code, "R01");
  EXPECT_EQ(returned.message, "NSF");
  EXPECT_EQ(fetched(*api, Rail::kAch, {{"id", "acht_1"}, {"status", "RETURNED"}}).return_code,
            "R??");
  EXPECT_EQ(fetched(*api, Rail::kAch, {{"id", "acht_1"}, {"status", "CANCELED"}}).settlement,
            SettlementStatus::kCanceled);
  EXPECT_EQ(
      fetched(*api, Rail::kAch, {{"id", "acht_1"}, {"status", "RETURN_DISHONORED"}}).settlement,
      SettlementStatus::kPending);
  EXPECT_EQ(fetched(*api, Rail::kBook, {{"id", "book_1"}, {"status", "HOLD"}}).settlement,
            SettlementStatus::kPending);
}

TEST(ColumnLookUp, NotFoundOnlyInColumnsShape) {
  auto api = make_column_api(kUrl, "api-key");
  EXPECT_EQ(fetch_error(*api, 404,
                        R"({"type":"invalid_request_error","code":"not_found","message":"x"})"),
            ErrorCode::kNotFound);
  EXPECT_EQ(fetch_error(*api, 404, ""), ErrorCode::kUnavailable);
  EXPECT_EQ(fetch_error(*api, 503, R"({"type":"api_error","code":"unavailable"})"),
            ErrorCode::kUnavailable);
}

TEST(ColumnCreate, AchIsPendingBookCompletedIsFinalHoldIsPending) {
  auto api = make_column_api(kUrl, "api-key");
  EXPECT_EQ(
      api->read_answer(request(Rail::kAch), answer(200, R"({"id":"acht_1","status":"INITIATED"})"))
          .settlement,
      SettlementStatus::kPending);
  EXPECT_FALSE(
      api->read_answer(request(Rail::kBook), answer(200, R"({"id":"book_1","status":"COMPLETED"})"))
          .settlement);
  EXPECT_EQ(
      api->read_answer(request(Rail::kBook), answer(200, R"({"id":"book_1","status":"HOLD"})"))
          .settlement,
      SettlementStatus::kPending);
}

// --- Unit ---

json unit_payment(std::string_view status, json extra = json::object()) {
  extra["status"] = status;
  return {{"data", {{"type", "achPayment"}, {"id", "6"}, {"attributes", extra}}}};
}

TEST(UnitLookUp, MapsEachStatusAndTheReturnReason) {
  auto api = make_unit_api(kUrl, "token");
  EXPECT_EQ(api->fetch_call("6", Rail::kAch)->url, "https://bank.test/payments/6");
  EXPECT_EQ(fetched(*api, Rail::kAch, unit_payment("Pending")).settlement,
            SettlementStatus::kPending);
  EXPECT_EQ(fetched(*api, Rail::kAch, unit_payment("Clearing")).settlement,
            SettlementStatus::kPending);
  const TransferState sent =
      fetched(*api, Rail::kAch, unit_payment("Sent", {{"settlementDate", "2026-03-02"}}));
  EXPECT_EQ(sent.settlement, SettlementStatus::kSettled);
  EXPECT_EQ(sent.reference, "6");
  EXPECT_EQ(sent.settled_at,
            Timestamp(std::chrono::sys_days(std::chrono::year(2026) / std::chrono::March / 2)));
  const TransferState returned =
      fetched(*api, Rail::kAch, unit_payment("Returned", {{"reason", "InsufficientFunds"}}));
  EXPECT_EQ(returned.settlement, SettlementStatus::kReturned);
  EXPECT_EQ(returned.return_code, "R01");
  EXPECT_EQ(fetched(*api, Rail::kAch, unit_payment("Returned", {{"reason", "UncollectedFunds"}}))
                .return_code,
            "R09");
  EXPECT_EQ(fetched(*api, Rail::kAch, unit_payment("Returned")).return_code, "R??");
  const TransferState rejected =
      fetched(*api, Rail::kAch, unit_payment("Rejected", {{"reason", "InsufficientFunds"}}));
  EXPECT_EQ(rejected.settlement, SettlementStatus::kCanceled);
  EXPECT_EQ(rejected.code, "insufficient_funds");
  EXPECT_EQ(fetched(*api, Rail::kAch, unit_payment("Canceled")).settlement,
            SettlementStatus::kCanceled);
}

TEST(UnitLookUp, NotFoundOnlyInUnitsShape) {
  auto api = make_unit_api(kUrl, "token");
  EXPECT_EQ(fetch_error(*api, 404, R"({"errors":[{"status":"404","title":"Not Found"}]})"),
            ErrorCode::kNotFound);
  EXPECT_EQ(fetch_error(*api, 404, "{}"), ErrorCode::kUnavailable);
  EXPECT_EQ(fetch_error(*api, 503, R"({"errors":[{"status":"503"}]})"), ErrorCode::kUnavailable);
}

TEST(UnitCreate, AchIsPendingBookSentIsFinal) {
  auto api = make_unit_api(kUrl, "token");
  EXPECT_EQ(
      api->read_answer(request(Rail::kAch), answer(201, unit_payment("Pending").dump())).settlement,
      SettlementStatus::kPending);
  EXPECT_FALSE(
      api->read_answer(request(Rail::kBook), answer(201, unit_payment("Sent").dump())).settlement);
  EXPECT_EQ(
      api->read_answer(request(Rail::kBook), answer(201, unit_payment("PendingReview").dump()))
          .settlement,
      SettlementStatus::kPending);
}

// --- Treasury Prime ---

TEST(TreasuryPrimeLookUp, MapsEachStatus) {
  auto api = make_treasury_prime_api(kUrl, "key-id", "secret");
  EXPECT_EQ(api->fetch_call("ach_1", Rail::kAch)->url, "https://bank.test/ach/ach_1");
  EXPECT_EQ(api->fetch_call("book_1", Rail::kBook)->url, "https://bank.test/book/book_1");
  EXPECT_EQ(fetched(*api, Rail::kAch, {{"id", "ach_1"}, {"status", "processing"}}).settlement,
            SettlementStatus::kPending);
  EXPECT_EQ(fetched(*api, Rail::kAch, {{"id", "ach_1"}, {"status", "sent"}}).settlement,
            SettlementStatus::kSettled);
  const TransferState returned =
      fetched(*api, Rail::kAch, {{"id", "ach_1"}, {"status", "returned"}, {"error", "R01"}});
  EXPECT_EQ(returned.settlement, SettlementStatus::kReturned);
  EXPECT_EQ(returned.return_code, "R01");
  const TransferState error = fetched(
      *api, Rail::kAch, {{"id", "ach_1"}, {"status", "error"}, {"error", "Insufficient funds"}});
  EXPECT_EQ(error.settlement, SettlementStatus::kCanceled);
  EXPECT_EQ(error.code, "insufficient_funds");
  EXPECT_EQ(fetched(*api, Rail::kBook, {{"id", "book_1"}, {"status", "canceled"}}).settlement,
            SettlementStatus::kCanceled);
}

TEST(TreasuryPrimeLookUp, NotFoundOnlyInTreasuryPrimesShape) {
  auto api = make_treasury_prime_api(kUrl, "key-id", "secret");
  EXPECT_EQ(fetch_error(*api, 404, R"({"error":"Not found"})"), ErrorCode::kNotFound);
  EXPECT_EQ(fetch_error(*api, 404, "Not found"), ErrorCode::kUnavailable);
  EXPECT_EQ(fetch_error(*api, 502, R"({"error":"core offline"})"), ErrorCode::kUnavailable);
}

TEST(TreasuryPrimeCreate, AchIsPendingBookSentIsFinal) {
  auto api = make_treasury_prime_api(kUrl, "key-id", "secret");
  EXPECT_EQ(
      api->read_answer(request(Rail::kAch), answer(201, R"({"id":"ach_1","status":"pending"})"))
          .settlement,
      SettlementStatus::kPending);
  EXPECT_FALSE(
      api->read_answer(request(Rail::kBook), answer(201, R"({"id":"book_1","status":"sent"})"))
          .settlement);
}

// --- the rtjobs protocol (type "http") ---

TEST(RtjobsLookUp, MapsEachStatus) {
  auto api = make_rtjobs_api(kUrl, "token");
  EXPECT_EQ(api->fetch_call("tr 1", Rail::kBook)->url, "https://bank.test/transfers/tr%201");
  EXPECT_EQ(fetched(*api, Rail::kBook, {{"id", "tr_1"}, {"status", "pending"}}).settlement,
            SettlementStatus::kPending);
  const TransferState settled =
      fetched(*api, Rail::kBook,
              {{"id", "tr_1"}, {"status", "settled"}, {"settled_at", "2026-03-02T15:04:05+01:00"}});
  EXPECT_EQ(settled.settlement, SettlementStatus::kSettled);
  EXPECT_EQ(settled.settled_at,
            Timestamp(std::chrono::sys_days(std::chrono::year(2026) / std::chrono::March / 2)) +
                std::chrono::hours(14) + std::chrono::minutes(4) + std::chrono::seconds(5));
  const TransferState returned = fetched(
      *api, Rail::kBook,
      {{"id", "tr_1"}, {"status", "returned"}, {"return_code", "R02"}, {"reason", "closed"}});
  EXPECT_EQ(returned.return_code, "R02");
  EXPECT_EQ(returned.message, "closed");
  EXPECT_EQ(fetched(*api, Rail::kBook, {{"id", "tr_1"}, {"status", "returned"}}).return_code,
            "R??");
  const TransferState canceled = fetched(
      *api, Rail::kBook, {{"id", "tr_1"}, {"status", "canceled"}, {"reason", "account frozen"}});
  EXPECT_EQ(canceled.settlement, SettlementStatus::kCanceled);
  EXPECT_EQ(canceled.code, "account_frozen");
  EXPECT_EQ(fetch_error(*api, 404, R"({"error":{"code":"not_found","message":"no"}})"),
            ErrorCode::kNotFound);
  EXPECT_EQ(fetch_error(*api, 404, "gone"), ErrorCode::kUnavailable);
  EXPECT_EQ(fetch_error(*api, 503, R"({"error":{"code":"down","message":"x"}})"),
            ErrorCode::kUnavailable);
}

TEST(RtjobsCreate, OnlyAPendingStatusIsFollowed) {
  auto api = make_rtjobs_api(kUrl, "token");
  const TransferRequest r = request(Rail::kBook);
  EXPECT_EQ(api->read_answer(r, answer(201, R"({"id":"tr_1","status":"pending"})")).settlement,
            SettlementStatus::kPending);
  EXPECT_FALSE(api->read_answer(r, answer(201, R"({"id":"tr_1","status":"executed"})")).settlement);
  EXPECT_FALSE(api->read_answer(r, answer(201, R"({"id":"tr_1"})")).settlement);
}

// --- BankProvider ---

// A bank without a look-up by id or webhooks: BankApi's defaults.
class BareApi final : public BankApi {
 public:
  Result<HttpCall> create_call(const TransferRequest& /*request*/) const override {
    return HttpCall{};
  }
  TransferResult read_answer(const TransferRequest& /*request*/,
                             const HttpAnswer& a) const override {
    return TransferResult{.outcome = Outcome::kSucceeded, .http_status = a.status};
  }
};

std::unique_ptr<HttpTransport> transport() {
  auto t =
      HttpTransport::create({std::chrono::milliseconds(2000), std::chrono::milliseconds(2000)});
  EXPECT_TRUE(t.has_value());
  return std::move(*t);
}

Result<TransferState> fetch(Provider& provider, std::string reference) {
  std::promise<Result<TransferState>> promise;
  auto future = promise.get_future();
  provider.fetch_transfer(std::move(reference), Rail::kAch,
                          [&](Result<TransferState> r) { promise.set_value(std::move(r)); });
  return future.get();
}

TEST(BankProviderSettlement, WithoutALookUpFetchIsUnavailable) {
  BankProvider provider("bare", std::make_unique<BareApi>(), transport(),
                        std::chrono::milliseconds(2000));
  EXPECT_FALSE(provider.follows_settlement());
  auto r = fetch(provider, "t_1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("t_1"), std::string::npos);
}

TEST(BankProviderSettlement, NoAnswerIsUnavailableWithTheTransportsReason) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  BankProvider provider("increase", make_increase_api("http://127.0.0.1:1", "token"), transport(),
                        std::chrono::milliseconds(2000), "secret");
  EXPECT_TRUE(provider.follows_settlement());
  auto r = fetch(provider, "ach_1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("ach_1"), std::string::npos);
}

TEST(BankProviderSettlement, WebhooksNeedASecret) {
  BankProvider without("increase", make_increase_api(kUrl, "token"), transport(),
                       std::chrono::milliseconds(2000));
  WebhookDelivery delivery;
  delivery.body = "{}";
  auto r = without.read_webhook(delivery);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(r.error().message.find("webhook_secret_env"), std::string::npos);
  BankProvider bare("bare", std::make_unique<BareApi>(), transport(),
                    std::chrono::milliseconds(2000), "secret");
  auto b = bare.read_webhook(delivery);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, ErrorCode::kUnauthenticated);
}

}  // namespace
}  // namespace rtjobs
