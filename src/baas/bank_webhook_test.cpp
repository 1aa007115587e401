// Each bank's webhook verification and reading (SPEC section 8): the published test vectors,
// good and bad signatures, the ±5 minute window where the bank signs a time, missing headers,
// and the events' shapes. No clock is read: every delivery carries its own `now`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "baas/bank_test_support.hpp"
#include "baas/banks.hpp"
#include "baas/http_provider.hpp"
#include "baas/webhook_signature.hpp"

namespace rtjobs {
namespace {

using nlohmann::json;
using std::chrono::seconds;

using bank_test::kUrl;

Timestamp unix_time(int64_t s) { return Timestamp(seconds(s)); }

WebhookDelivery delivery(std::vector<std::pair<std::string, std::string>> headers,
                         std::string_view body, Timestamp now) {
  WebhookDelivery d;
  d.headers = std::move(headers);
  d.body = body;
  d.now = now;
  return d;
}

// Standard Webhooks headers signing `body` with `key` at Unix time `ts`.
std::vector<std::pair<std::string, std::string>> standard_headers(std::string_view key,
                                                                  std::string id, int64_t ts,
                                                                  std::string_view body) {
  const std::string content = id + "." + std::to_string(ts) + "." + std::string(body);
  return {{"webhook-id", id},
          {"webhook-timestamp", std::to_string(ts)},
          {"webhook-signature", "v1," + bank::base64_encode(bank::hmac_sha256(key, content))}};
}

ErrorCode error_of(const Result<std::vector<BankEvent>>& r) {
  EXPECT_FALSE(r.has_value());
  return r ? ErrorCode::kInternal : r.error().code;
}

// --- Increase ---

constexpr std::string_view kIncreaseEvent =
    R"({"id":"event_1","created_at":"2026-03-02T15:04:05Z","category":"ach_transfer.updated",)"
    R"("associated_object_type":"ach_transfer","associated_object_id":"ach_1","type":"event"})";

TEST(IncreaseWebhook, StandardWebhooksVectorVerifiesWithTheDecodedWhsecKey) {
  auto api = make_increase_api(kUrl, "token");
  const std::string_view body = R"({"test": 2432232314})";
  const auto d =
      delivery({{"webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
                {"webhook-timestamp", "1614265330"},
                {"webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}},
               body, unix_time(1614265330));
  // Verified: only the body is not an Increase event.
  EXPECT_EQ(error_of(api->read_webhook(d, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(error_of(api->read_webhook(d, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
            ErrorCode::kUnauthenticated);
}

TEST(IncreaseWebhook, RawSharedSecretReadsAThinEvent) {
  auto api = make_increase_api(kUrl, "token");
  const int64_t ts = 1772463845;
  const auto d = delivery(standard_headers("raw-shared-secret", "msg_1", ts, kIncreaseEvent),
                          kIncreaseEvent, unix_time(ts + 299));
  auto events = api->read_webhook(d, "raw-shared-secret");
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1u);
  const BankEvent& e = (*events)[0];
  EXPECT_EQ(e.event_id, "event_1");
  EXPECT_EQ(e.type, "ach_transfer.updated");
  EXPECT_EQ(e.reference, "ach_1");
  EXPECT_EQ(e.rail, Rail::kAch);
  EXPECT_FALSE(e.state);
}

TEST(IncreaseWebhook, StaleFutureTamperedAndUnsignedAreRejected) {
  auto api = make_increase_api(kUrl, "token");
  const std::string secret = "raw-shared-secret";
  const int64_t ts = 1772463845;
  const auto headers = standard_headers(secret, "msg_1", ts, kIncreaseEvent);
  EXPECT_EQ(
      error_of(api->read_webhook(delivery(headers, kIncreaseEvent, unix_time(ts + 301)), secret)),
      ErrorCode::kUnauthenticated);
  EXPECT_EQ(
      error_of(api->read_webhook(delivery(headers, kIncreaseEvent, unix_time(ts - 301)), secret)),
      ErrorCode::kUnauthenticated);
  const std::string tampered = std::string(kIncreaseEvent) + " ";
  auto bad = api->read_webhook(delivery(headers, tampered, unix_time(ts)), secret);
  EXPECT_EQ(error_of(bad), ErrorCode::kUnauthenticated);
  EXPECT_EQ(bad.error().message.find(secret), std::string::npos);
  EXPECT_EQ(bad.error().message.find(headers[2].second.substr(3)), std::string::npos);
  EXPECT_EQ(error_of(api->read_webhook(delivery({}, kIncreaseEvent, unix_time(ts)), secret)),
            ErrorCode::kUnauthenticated);
}

TEST(IncreaseWebhook, LegacySignatureVectorAndWindow) {
  auto api = make_increase_api(kUrl, "token");
  const std::string_view body = R"({"id":"event_123abc","created_at":"2020-01-31T23:59:59Z"})";
  const std::string secret = "whsec_zlFsbBZ8Xcodlpcu6NDTdSzZRLSdhkst";
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"increase-webhook-signature",
       "t=2022-01-31T23:59:59Z,v1="
       "3f9c3dcc820ca3adfae8e196d05b09dfef63b91db5ce5ac1407090f2aa424a6f"}};
  const Timestamp t = *bank::parse_rfc3339("2022-01-31T23:59:59Z");
  // Verified: the vector's body has no category, so it is not an event.
  EXPECT_EQ(error_of(api->read_webhook(delivery(headers, body, t + seconds(60)), secret)),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(error_of(api->read_webhook(delivery(headers, body, t + seconds(301)), secret)),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(error_of(api->read_webhook(delivery(headers, body, t - seconds(301)), secret)),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(error_of(api->read_webhook(delivery(headers, body, t), "whsec_other")),
            ErrorCode::kUnauthenticated);
}

TEST(IncreaseWebhook, EventsAboutOtherObjectsHaveNoReference) {
  auto api = make_increase_api(kUrl, "token");
  const std::string body =
      R"({"id":"event_2","category":"account.created","associated_object_type":"account",)"
      R"("associated_object_id":"account_1","type":"event"})";
  auto events = api->read_webhook(
      delivery(standard_headers("s", "msg_2", 1000, body), body, unix_time(1000)), "s");
  ASSERT_TRUE(events);
  EXPECT_EQ((*events)[0].event_id, "event_2");
  EXPECT_FALSE((*events)[0].reference);
}

// --- Column ---

std::vector<std::pair<std::string, std::string>> column_headers(std::string_view secret,
                                                                std::string_view body) {
  std::string hex;
  for (unsigned char c : bank::hmac_sha256(secret, body)) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return {{"column-signature", hex}};
}

TEST(ColumnWebhook, ReadsTheWholeTransferLikeALookUp) {
  auto api = make_column_api(kUrl, "api-key");
  const json data = {{"id", "acht_1"},
                     {"status", "RETURNED"},
                     {"return_details", {{{"return_code", "R02"}, {"description", "closed"}}}}};
  const std::string body =
      json{{"id", "evnt_1"}, {"type", "ach.outgoing_transfer.returned"}, {"data", data}}.dump();
  auto events = api->read_webhook(delivery(column_headers("sec", body), body, {}), "sec");
  ASSERT_TRUE(events) << events.error().message;
  const BankEvent& e = (*events)[0];
  EXPECT_EQ(e.event_id, "evnt_1");
  EXPECT_EQ(e.reference, "acht_1");
  EXPECT_EQ(e.rail, Rail::kAch);
  ASSERT_TRUE(e.state);
  EXPECT_EQ(e.state->settlement, SettlementStatus::kReturned);
  EXPECT_EQ(e.state->return_code, "R02");
  EXPECT_FALSE(e.state->http_status);
  EXPECT_EQ(e.state->response_body, data.dump());
}

TEST(ColumnWebhook, BadOrMissingSignatureAndShapes) {
  auto api = make_column_api(kUrl, "api-key");
  const std::string body =
      R"({"id":"evnt_2","type":"book.transfer.completed","data":{"id":"book_1","status":"COMPLETED"}})";
  auto ok = api->read_webhook(delivery(column_headers("sec", body), body, {}), "sec");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0].rail, Rail::kBook);
  EXPECT_EQ((*ok)[0].state->settlement, SettlementStatus::kSettled);
  EXPECT_EQ(error_of(api->read_webhook(delivery(column_headers("other", body), body, {}), "sec")),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(error_of(api->read_webhook(delivery({{"column-signature", "zz"}}, body, {}), "sec")),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(error_of(api->read_webhook(delivery({}, body, {}), "sec")),
            ErrorCode::kUnauthenticated);
  const std::string other = R"({"id":"evnt_3","type":"bank_account.created","data":{"id":"b"}})";
  auto ignored = api->read_webhook(delivery(column_headers("sec", other), other, {}), "sec");
  ASSERT_TRUE(ignored);
  EXPECT_FALSE((*ignored)[0].reference);
  const std::string empty = R"({"id":"evnt_4","type":"ach.outgoing_transfer.settled"})";
  EXPECT_EQ(error_of(api->read_webhook(delivery(column_headers("sec", empty), empty, {}), "sec")),
            ErrorCode::kInvalidArgument);
}

// --- Unit ---

std::vector<std::pair<std::string, std::string>> unit_headers(std::string_view token,
                                                              std::string_view body) {
  return {{"x-unit-signature", bank::base64_encode(bank::hmac_sha1(token, body))}};
}

TEST(UnitWebhook, PublishedVectorVerifies) {
  auto api = make_unit_api(kUrl, "token");
  const std::string_view body =
      R"({"data":[{"id":"46306092","type":"application.approved","attributes":{"createdAt":"2025-08-05T06:48:38.957Z","tags":{"key":"another-tag","test":"webhook-tag","number":"111"}},"relationships":{"application":{"data":{"id":"3895367","type":"individualApplication"}},"customer":{"data":{"id":"3310133","type":"individualCustomer"}}}}]})";
  const auto d = delivery({{"x-unit-signature", "UUNz8ch1Ovjg+ijXUEwlAlWEktU="}}, body, {});
  auto events = api->read_webhook(d, "OB2HL5E3B4HJ7IVXRNL4YQKYIQIVJK36ZZLPZEFWZVSDSC7LLFJQ====");
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].event_id, "46306092");
  EXPECT_FALSE((*events)[0].reference);
  EXPECT_EQ(error_of(api->read_webhook(d, "another-token")), ErrorCode::kUnauthenticated);
  EXPECT_EQ(error_of(api->read_webhook(delivery({}, body, {}), "t")), ErrorCode::kUnauthenticated);
}

TEST(UnitWebhook, ABatchOfTwoPaymentEvents) {
  auto api = make_unit_api(kUrl, "token");
  const json body = {
      {"data",
       {{{"id", "4132"},
         {"type", "payment.sent"},
         {"attributes", {{"status", "Sent"}}},
         {"relationships", {{"payment", {{"data", {{"id", "6"}, {"type", "achPayment"}}}}}}}},
        {{"id", "4133"},
         {"type", "payment.returned"},
         {"relationships", {{"payment", {{"data", {{"id", "7"}, {"type", "bookPayment"}}}}}}}}}}};
  const std::string text = body.dump();
  auto events = api->read_webhook(delivery(unit_headers("tok", text), text, {}), "tok");
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].event_id, "4132");
  EXPECT_EQ((*events)[0].type, "payment.sent");
  EXPECT_EQ((*events)[0].reference, "6");
  EXPECT_EQ((*events)[0].rail, Rail::kAch);
  EXPECT_FALSE((*events)[0].state);
  EXPECT_EQ((*events)[1].reference, "7");
  EXPECT_EQ((*events)[1].rail, Rail::kBook);
  const std::string not_a_batch = R"({"data":{"id":"1","type":"payment.sent"}})";
  EXPECT_EQ(error_of(api->read_webhook(delivery(unit_headers("tok", not_a_batch), not_a_batch, {}),
                                       "tok")),
            ErrorCode::kInvalidArgument);
}

// --- Treasury Prime ---

TEST(TreasuryPrimeWebhook, BasicCredentialsInsteadOfASignature) {
  auto api = make_treasury_prime_api(kUrl, "key-id", "secret");
  const std::string body =
      R"({"event":"ach.update","op":"update","id":"ach_01123456789","url":"https://x/ach/ach_01123456789"})";
  const std::string good = "Basic " + bank::base64_encode("hook_user:hook_pass");
  auto events =
      api->read_webhook(delivery({{"authorization", good}}, body, {}), "hook_user:hook_pass");
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_EQ((*events)[0].event_id, "");
  EXPECT_EQ((*events)[0].type, "ach.update");
  EXPECT_EQ((*events)[0].reference, "ach_01123456789");
  EXPECT_EQ((*events)[0].rail, Rail::kAch);
  const std::string wrong = "Basic " + bank::base64_encode("hook_user:other");
  auto bad =
      api->read_webhook(delivery({{"authorization", wrong}}, body, {}), "hook_user:hook_pass");
  EXPECT_EQ(error_of(bad), ErrorCode::kUnauthenticated);
  EXPECT_EQ(bad.error().message.find("hook_pass"), std::string::npos);
  EXPECT_EQ(error_of(api->read_webhook(delivery({{"authorization", "Bearer x"}}, body, {}), "u:p")),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(error_of(api->read_webhook(delivery({}, body, {}), "u:p")),
            ErrorCode::kUnauthenticated);
  const std::string other = R"({"event":"incoming_ach.create","op":"create","id":"iach_1"})";
  auto ignored =
      api->read_webhook(delivery({{"authorization", good}}, other, {}), "hook_user:hook_pass");
  ASSERT_TRUE(ignored);
  EXPECT_FALSE((*ignored)[0].reference);
  EXPECT_EQ(error_of(api->read_webhook(delivery({{"authorization", good}}, "[]", {}),
                                       "hook_user:hook_pass")),
            ErrorCode::kInvalidArgument);
}

// --- the rtjobs protocol (type "http") ---

constexpr std::string_view kRtjobsEvent =
    R"({"type":"transfer.updated","timestamp":"2026-03-02T15:04:05Z",)"
    R"("data":{"id":"tr_1","status":"returned","return_code":"R01","reason":"nsf"}})";

TEST(RtjobsWebhook, StandardWebhooksWithAWhsecSecret) {
  auto api = make_rtjobs_api(kUrl, "token");
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const std::string key = *bank::base64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  const int64_t ts = 1772463845;
  const auto headers = standard_headers(key, "msg_9", ts, kRtjobsEvent);
  auto events = api->read_webhook(delivery(headers, kRtjobsEvent, unix_time(ts)), secret);
  ASSERT_TRUE(events) << events.error().message;
  const BankEvent& e = (*events)[0];
  EXPECT_EQ(e.event_id, "msg_9");
  EXPECT_EQ(e.type, "transfer.updated");
  EXPECT_EQ(e.reference, "tr_1");
  ASSERT_TRUE(e.state);
  EXPECT_EQ(e.state->settlement, SettlementStatus::kReturned);
  EXPECT_EQ(e.state->return_code, "R01");
  // The whsec_ text itself is not the key of this protocol.
  EXPECT_EQ(error_of(api->read_webhook(delivery(standard_headers(secret, "msg_9", ts, kRtjobsEvent),
                                                kRtjobsEvent, unix_time(ts)),
                                       secret)),
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(
      error_of(api->read_webhook(delivery(headers, kRtjobsEvent, unix_time(ts + 301)), secret)),
      ErrorCode::kUnauthenticated);
  EXPECT_EQ(
      error_of(api->read_webhook(delivery(headers, kRtjobsEvent, unix_time(ts - 301)), secret)),
      ErrorCode::kUnauthenticated);
  EXPECT_EQ(error_of(api->read_webhook(delivery({}, kRtjobsEvent, unix_time(ts)), secret)),
            ErrorCode::kUnauthenticated);
}

TEST(RtjobsWebhook, PlainSecretOtherTypesAndBadShapes) {
  auto api = make_rtjobs_api(kUrl, "token");
  const std::string other = R"({"type":"account.updated","timestamp":"x","data":{}})";
  auto ignored = api->read_webhook(
      delivery(standard_headers("plain", "msg_1", 50, other), other, unix_time(50)), "plain");
  ASSERT_TRUE(ignored) << ignored.error().message;
  EXPECT_FALSE((*ignored)[0].reference);
  const std::string bad = R"({"type":"transfer.updated","data":{"status":"settled"}})";
  EXPECT_EQ(
      error_of(api->read_webhook(
          delivery(standard_headers("plain", "msg_2", 50, bad), bad, unix_time(50)), "plain")),
      ErrorCode::kInvalidArgument);
  // Several signatures (a key rotation): one matching is enough.
  auto rotated = standard_headers("plain", "msg_1", 50, other);
  rotated[2].second = "v1,AAAA " + rotated[2].second;
  EXPECT_TRUE(api->read_webhook(delivery(rotated, other, unix_time(50)), "plain"));
}

// --- the primitives ---

TEST(WebhookSignature, Rfc3339AndEncodings) {
  EXPECT_FALSE(bank::parse_rfc3339("2026-02-30T00:00:00Z"));
  EXPECT_FALSE(bank::parse_rfc3339("2026-03-02 15:04:05"));
  EXPECT_EQ(bank::parse_rfc3339("1970-01-01T00:00:01.5Z"),
            Timestamp(std::chrono::milliseconds(1500)));
  EXPECT_EQ(bank::parse_rfc3339("1970-01-01T01:00:00+01:00"), Timestamp());
  EXPECT_EQ(bank::base64_decode(bank::base64_encode("ab")), "ab");
  EXPECT_EQ(bank::base64_decode(bank::base64_encode("abcd")), "abcd");
  EXPECT_FALSE(bank::base64_decode("abc"));
  EXPECT_FALSE(bank::base64_decode("ab!="));
  EXPECT_EQ(bank::hex_decode("0aFf"), std::string("\x0a\xff", 2));
  EXPECT_FALSE(bank::hex_decode("0g"));
  EXPECT_TRUE(bank::same_bytes("abc", "abc"));
  EXPECT_FALSE(bank::same_bytes("abc", "abd"));
  EXPECT_FALSE(bank::same_bytes("abc", "ab"));
}

// The Standard Webhooks reference libraries' signing vector (libraries/go/webhook_test.go,
// TestWebhookSign): a sender's signature must be exactly this.
TEST(WebhookSignature, SignsTheStandardWebhooksVector) {
  const auto key = bank::standard_webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key);
  EXPECT_EQ(bank::sign_standard_webhook(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                                        R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSignature, WhatIsSignedVerifies) {
  const std::string current = "current-key", previous = "previous-key";
  const std::string body = R"({"type":"job.succeeded"})";
  const std::string header = bank::sign_standard_webhook(current, "evt_1", "1772463845", body) +
                             " " +
                             bank::sign_standard_webhook(previous, "evt_1", "1772463845", body);
  const auto d = delivery(
      {{"webhook-id", "evt_1"}, {"webhook-timestamp", "1772463845"}, {"webhook-signature", header}},
      body, unix_time(1772463845));
  EXPECT_TRUE(bank::verify_standard_webhook(d, std::vector<std::string>{current}));
  EXPECT_TRUE(bank::verify_standard_webhook(d, std::vector<std::string>{previous}));
  EXPECT_FALSE(bank::verify_standard_webhook(d, std::vector<std::string>{"another-key"}));
}

}  // namespace
}  // namespace rtjobs
