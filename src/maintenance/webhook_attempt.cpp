#include "maintenance/webhook_attempt.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "baas/webhook_signature.hpp"
#include "core/time_format.hpp"

namespace rtjobs {
namespace {

// The outcome of a try that was not delivered: again after the backoff, or failed for good.
DeliveryAttempt not_delivered(const WebhookDeliveryRecord& delivery, std::string lease,
                              Timestamp now, const RetryRule& rule, double jitter) {
  DeliveryAttempt a;
  a.delivery_id = delivery.id;
  a.lease = std::move(lease);
  a.now = now;
  const Timestamp next = now + retry_delay(delivery.attempts, rule, jitter);
  if (next <= delivery.created_at + rule.window) a.next_attempt_at = next;
  return a;
}

}  // namespace

std::string webhook_body(const Event& event) {
  std::string body = R"({"type":)";
  body += nlohmann::json(event.type).dump();
  body += R"(,"timestamp":")";
  append_timestamp(body, event.created_at);
  body += R"(","data":)";
  body += event.data;
  body += '}';
  return body;
}

Result<HttpCall> webhook_call(const DeliveryTask& task, Timestamp now,
                              std::string_view user_agent) {
  const std::string timestamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  HttpCall call;
  call.method = "POST";
  call.url = task.url;
  call.body = webhook_body(task.event);
  std::string signatures;
  for (const std::string& secret : task.secrets) {
    auto key = bank::standard_webhook_key(secret);
    if (!key) continue;  // a whsec_ secret that is not base64: it cannot sign
    if (!signatures.empty()) signatures += ' ';
    signatures += bank::sign_standard_webhook(*key, task.event.id, timestamp, call.body);
  }
  if (signatures.empty()) {
    return invalid("secret", "the endpoint has no usable secret (whsec_ followed by base64)");
  }
  if (!is_header_safe(task.event.id) || !is_header_safe(user_agent)) {
    return invalid("webhook-id", "the event id or user agent is not a safe header value");
  }
  call.headers = {
      "content-type: application/json",
      "user-agent: " + std::string(user_agent),
      "webhook-id: " + task.event.id,
      "webhook-timestamp: " + timestamp,
      "webhook-signature: " + signatures,
      "Expect:",  // no "Expect: 100-continue" wait before a large body
  };
  return call;
}

std::chrono::milliseconds retry_delay(int attempts, const RetryRule& rule, double jitter) {
  const int shift = std::clamp(attempts - 1, 0, 30);
  const auto max = std::max(rule.max, std::chrono::milliseconds(1));
  // base << shift without overflow: stop doubling once past the cap.
  auto delay = rule.base;
  for (int i = 0; i < shift && delay < max; ++i) delay *= 2;
  delay = std::min(delay, max);
  const double factor = 0.8 + 0.4 * std::clamp(jitter, 0.0, 1.0);
  return std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(delay.count()) * factor));
}

DeliveryAttempt judge_answer(const WebhookDeliveryRecord& delivery, std::string lease,
                             const HttpAnswer& answer, Timestamp now, const RetryRule& rule,
                             double jitter) {
  const bool answered = answer.failure == HttpAnswer::Failure::kNone;
  if (answered && answer.status >= 200 && answer.status < 300) {
    DeliveryAttempt a;
    a.delivery_id = delivery.id;
    a.lease = std::move(lease);
    a.now = now;
    a.delivered = true;
    a.http_status = answer.status;
    return a;
  }
  DeliveryAttempt a = not_delivered(delivery, std::move(lease), now, rule, jitter);
  if (answered) {
    a.http_status = answer.status;
    std::string error = "HTTP " + std::to_string(answer.status);
    if (!answer.body.empty()) error += ": " + answer.body.substr(0, kMaxAttemptError);
    a.error = printable_prefix(error);
  } else {
    a.error = printable_prefix(answer.error.empty() ? "no answer" : answer.error);
  }
  return a;
}

std::string printable_prefix(std::string_view text) {
  std::string out(text.substr(0, kMaxAttemptError));
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return out;
}

}  // namespace rtjobs
