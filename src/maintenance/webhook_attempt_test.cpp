// One try of a webhook delivery: the exact body and headers, signatures a receiver verifies
// (both secrets after a rotation), the backoff with its jitter bounds, the retry window, what
// last_error keeps; and the metrics' text.
#include "maintenance/webhook_attempt.hpp"

#include <gtest/gtest.h>

#include "baas/webhook_signature.hpp"
#include "core/time_format.hpp"
#include "maintenance/webhook_metrics.hpp"

namespace rtjobs {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Timestamp kT0 = *parse_timestamp("2026-03-10T09:00:00.000Z");
// 2026-03-10T09:00:07Z in Unix seconds.
constexpr int64_t kSentAt = 1773133207;

Event event() {
  Event e;
  e.id = "01950000-0000-7000-8000-000000000001";
  e.type = "job.succeeded";
  e.transfer_id = "t1";
  e.created_at = kT0 + milliseconds(123);
  e.data = R"({"id":"j1","amount":5000,"note":"caf\u00e9 \"x\""})";
  return e;
}

DeliveryTask task(std::vector<std::string> secrets) {
  DeliveryTask t;
  t.delivery.id = "d1";
  t.delivery.event_id = event().id;
  t.delivery.endpoint_id = "e1";
  t.delivery.attempts = 1;
  t.delivery.created_at = kT0;
  t.event = event();
  t.url = "https://receiver.example/hooks?token=abc";
  t.secrets = std::move(secrets);
  return t;
}

std::string header(const HttpCall& call, std::string_view name) {
  for (const std::string& h : call.headers) {
    if (h.starts_with(std::string(name) + ": ")) return h.substr(name.size() + 2);
  }
  return "<none>";
}

// What a receiver gets: the call's webhook headers and body at `now`.
WebhookDelivery received(const HttpCall& call, Timestamp now) {
  WebhookDelivery d;
  for (const char* name : {"webhook-id", "webhook-timestamp", "webhook-signature"}) {
    d.headers.emplace_back(name, header(call, name));
  }
  d.body = call.body;
  d.now = now;
  return d;
}

const Timestamp kNow = Timestamp(seconds(kSentAt));

TEST(WebhookBodyTest, IsTypeTimestampAndTheDataVerbatim) {
  EXPECT_EQ(webhook_body(event()),
            R"({"type":"job.succeeded","timestamp":"2026-03-10T09:00:00.123Z",)"
            R"("data":{"id":"j1","amount":5000,"note":"caf\u00e9 \"x\""}})");
}

TEST(WebhookCallTest, PostsTheBodyWithTheStandardWebhooksHeaders) {
  auto call = webhook_call(task({"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}), kNow, "rtjobs");
  ASSERT_TRUE(call) << call.error().message;
  EXPECT_EQ(call->method, "POST");
  EXPECT_EQ(call->url, "https://receiver.example/hooks?token=abc");
  EXPECT_EQ(call->body, webhook_body(event()));
  const std::string key = *bank::standard_webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  const std::vector<std::string> expected = {
      "content-type: application/json",
      "user-agent: rtjobs",
      "webhook-id: 01950000-0000-7000-8000-000000000001",
      "webhook-timestamp: 1773133207",
      "webhook-signature: " +
          bank::sign_standard_webhook(key, event().id, "1773133207", webhook_body(event())),
      "Expect:",
  };
  EXPECT_EQ(call->headers, expected);
  const std::vector<std::string> keys = {key};
  EXPECT_TRUE(bank::verify_standard_webhook(received(*call, kNow), keys));
}

TEST(WebhookCallTest, EveryTrySendsTheSameIdAndBody) {
  auto first = webhook_call(task({"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}), kNow, "rtjobs");
  auto later =
      webhook_call(task({"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}), kNow + hours(5), "rtjobs");
  ASSERT_TRUE(first && later);
  EXPECT_EQ(first->body, later->body);
  EXPECT_EQ(header(*first, "webhook-id"), header(*later, "webhook-id"));
  EXPECT_EQ(header(*later, "webhook-timestamp"), std::to_string(kSentAt + 5 * 3600));
}

TEST(WebhookCallTest, AfterARotationBothSecretsSignAndEachVerifies) {
  const std::string current = "whsec_" + bank::base64_encode("the-current-secret-24-byt");
  const std::string previous = "whsec_" + bank::base64_encode("the-previous-secret-24-by");
  auto call = webhook_call(task({current, previous}), kNow, "rtjobs");
  ASSERT_TRUE(call);
  const std::string signatures = header(*call, "webhook-signature");
  EXPECT_EQ(std::count(signatures.begin(), signatures.end(), ' '), 1) << signatures;
  EXPECT_TRUE(signatures.starts_with("v1,"));
  const WebhookDelivery d = received(*call, kNow);
  for (const std::string& secret : {current, previous}) {
    const std::vector<std::string> keys = {*bank::standard_webhook_key(secret)};
    EXPECT_TRUE(bank::verify_standard_webhook(d, keys)) << secret;
  }
  const std::vector<std::string> other = {"another"};
  EXPECT_FALSE(bank::verify_standard_webhook(d, other));
  // The secrets themselves are nowhere in the request.
  for (const std::string& h : call->headers) {
    EXPECT_EQ(h.find(current.substr(6)), std::string::npos);
    EXPECT_EQ(h.find(previous.substr(6)), std::string::npos);
  }
}

TEST(WebhookCallTest, ASecretThatCannotSignIsSkippedAndNoneIsAnError) {
  auto one = webhook_call(task({"whsec_not base64!", "raw-secret"}), kNow, "rtjobs");
  ASSERT_TRUE(one);
  EXPECT_EQ(header(*one, "webhook-signature").find(' '), std::string::npos);
  auto none = webhook_call(task({"whsec_not base64!"}), kNow, "rtjobs");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message.find("not base64"), std::string::npos);
  EXPECT_FALSE(webhook_call(task({}), kNow, "rtjobs"));
}

TEST(RetryDelayTest, DoublesFromTheBaseToTheCapWithin20PercentJitter) {
  const RetryRule rule{seconds(5), hours(1), hours(72)};
  EXPECT_EQ(retry_delay(1, rule, 0.5), seconds(5));
  EXPECT_EQ(retry_delay(2, rule, 0.5), seconds(10));
  EXPECT_EQ(retry_delay(3, rule, 0.5), seconds(20));
  EXPECT_EQ(retry_delay(10, rule, 0.5), seconds(2560));
  EXPECT_EQ(retry_delay(11, rule, 0.5), hours(1));
  EXPECT_EQ(retry_delay(10000, rule, 0.5), hours(1));  // no overflow
  EXPECT_EQ(retry_delay(0, rule, 0.5), seconds(5));    // never below the first
  EXPECT_EQ(retry_delay(1, rule, 0.0), seconds(4));
  EXPECT_EQ(retry_delay(1, rule, 0.999999), milliseconds(5999));
  EXPECT_EQ(retry_delay(11, rule, 0.0), seconds(2880));
  EXPECT_LE(retry_delay(11, rule, 0.999999), seconds(4320));
  for (int attempts = 1; attempts < 40; ++attempts) {
    for (double jitter : {0.0, 0.25, 0.5, 0.75, 0.9999}) {
      const auto d = retry_delay(attempts, rule, jitter);
      EXPECT_GE(d, seconds(4));
      EXPECT_LE(d, seconds(4320));
    }
  }
}

// The answer of a try of the task's delivery (attempts 1, created at kT0) at `now`.
DeliveryAttempt judge(const HttpAnswer& answer, Timestamp now = kT0 + seconds(1),
                      int attempts = 1) {
  WebhookDeliveryRecord d = task({}).delivery;
  d.attempts = attempts;
  return judge_answer(d, "lease-1", answer, now, RetryRule{seconds(5), hours(1), hours(72)}, 0.5);
}

HttpAnswer status(int code, std::string body = "") {
  HttpAnswer a;
  a.status = code;
  a.body = std::move(body);
  return a;
}

TEST(JudgeAnswerTest, A2xxIsDelivered) {
  for (int code : {200, 201, 202, 204, 299}) {
    const DeliveryAttempt a = judge(status(code, "ok"));
    EXPECT_TRUE(a.delivered) << code;
    EXPECT_EQ(a.http_status, code);
    EXPECT_FALSE(a.error);
    EXPECT_FALSE(a.next_attempt_at);
    EXPECT_EQ(a.delivery_id, "d1");
    EXPECT_EQ(a.lease, "lease-1");
    EXPECT_EQ(a.now, kT0 + seconds(1));
  }
}

TEST(JudgeAnswerTest, AnyOtherStatusIsTriedAgainAfterTheBackoff) {
  for (int code : {100, 199, 301, 302, 400, 404, 410, 429, 500, 503}) {
    const DeliveryAttempt a = judge(status(code, "nope"));
    EXPECT_FALSE(a.delivered) << code;
    EXPECT_EQ(a.http_status, code);
    EXPECT_EQ(a.error, "HTTP " + std::to_string(code) + ": nope");
    EXPECT_EQ(a.next_attempt_at, kT0 + seconds(6));
  }
  EXPECT_EQ(judge(status(500)).error, "HTTP 500");
  EXPECT_EQ(judge(status(500), kT0 + seconds(100), 4).next_attempt_at, kT0 + seconds(140));
}

TEST(JudgeAnswerTest, NoAnswerIsTriedAgainWithTheTransportsError) {
  HttpAnswer timeout;
  timeout.failure = HttpAnswer::Failure::kTimeout;
  timeout.error = "Operation timed out after 15000 milliseconds";
  const DeliveryAttempt a = judge(timeout);
  EXPECT_FALSE(a.delivered);
  EXPECT_FALSE(a.http_status);
  EXPECT_EQ(a.error, "Operation timed out after 15000 milliseconds");
  EXPECT_EQ(a.next_attempt_at, kT0 + seconds(6));
  HttpAnswer refused;
  refused.failure = HttpAnswer::Failure::kNotSent;
  EXPECT_EQ(judge(refused).error, "no answer");
}

TEST(JudgeAnswerTest, PastTheRetryWindowTheDeliveryFails) {
  // Created at kT0, window 72 h: a next try at kT0 + 72 h is still allowed, later is not.
  const Timestamp edge = kT0 + hours(72) - seconds(5);
  EXPECT_EQ(judge(status(500), edge).next_attempt_at, kT0 + hours(72));
  const DeliveryAttempt failed = judge(status(500, "down"), edge + milliseconds(1));
  EXPECT_FALSE(failed.delivered);
  EXPECT_FALSE(failed.next_attempt_at);
  EXPECT_EQ(failed.http_status, 500);
  EXPECT_EQ(failed.error, "HTTP 500: down");
  // A 2xx is delivered however late.
  EXPECT_TRUE(judge(status(200), kT0 + hours(100)).delivered);
}

TEST(JudgeAnswerTest, TheErrorKeeps512PrintableBytes) {
  const DeliveryAttempt a = judge(status(500, std::string(70000, 'x')));
  ASSERT_TRUE(a.error);
  EXPECT_EQ(a.error->size(), kMaxAttemptError);
  EXPECT_TRUE(a.error->starts_with("HTTP 500: xxx"));
  EXPECT_EQ(printable_prefix("a\r\nb\x01\xc3\xa9z"), "a??b???z");
}

TEST(WebhookMetricsTest, CountsByEndpointAndResultAndShowsTheBacklog) {
  WebhookMetrics m;
  m.delivery("e1", "delivered");
  m.delivery("e1", "delivered");
  m.delivery("e1", "retry");
  m.delivery("e\"2", "failed");
  const std::string text = m.render(EventBacklog{12, kT0}, kT0 + seconds(90) + milliseconds(900));
  EXPECT_NE(text.find("rtjobs_webhook_deliveries_total{endpoint=\"e1\",result=\"delivered\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("rtjobs_webhook_deliveries_total{endpoint=\"e1\",result=\"retry\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("{endpoint=\"e\\\"2\",result=\"failed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE rtjobs_webhook_backlog gauge\nrtjobs_webhook_backlog 12\n"),
            std::string::npos);
  EXPECT_NE(text.find("rtjobs_webhook_oldest_undelivered_seconds 90\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE rtjobs_webhook_yielding gauge\nrtjobs_webhook_yielding 0\n"),
            std::string::npos);
  m.yielding(true);
  EXPECT_NE(m.render(std::nullopt, kT0).find("rtjobs_webhook_yielding 1\n"), std::string::npos);
  const std::string empty = m.render(EventBacklog{0, std::nullopt}, kT0);
  EXPECT_NE(empty.find("rtjobs_webhook_oldest_undelivered_seconds 0\n"), std::string::npos);
  const std::string unknown = m.render(std::nullopt, kT0);
  EXPECT_EQ(unknown.find("rtjobs_webhook_backlog"), std::string::npos);
  EXPECT_NE(unknown.find("rtjobs_webhook_deliveries_total"), std::string::npos);
}

}  // namespace
}  // namespace rtjobs
