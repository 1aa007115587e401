// One try of a webhook delivery (SPEC section 8, Standard Webhooks): the request it sends and
// what its answer makes of the delivery. Pure functions (the dispatcher brings the clock and the
// jitter), thread-safe.
//
// The request: POST to the endpoint's URL with `content-type: application/json`, `user-agent`,
// `webhook-id` (the event's id: the same on every try of every delivery of it),
// `webhook-timestamp` (Unix seconds when sent) and `webhook-signature` (one `v1,<base64>` per
// secret, the current first, space-separated); the body `{"type","timestamp","data"}` with the
// event's created_at and its data verbatim, so every try sends the same bytes.
//
// The answer: a 2xx is delivered; anything else (another status, a timeout, no connection) is
// tried again after base * 2^(attempts - 1), at most `max`, within ±20% jitter; or, when that
// would be past the delivery's created_at + window, the delivery has failed for good.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "baas/http_transport.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "store/store.hpp"

namespace rtjobs {

struct RetryRule {
  std::chrono::milliseconds base{std::chrono::seconds(5)};
  std::chrono::milliseconds max{std::chrono::hours(1)};
  std::chrono::milliseconds window{std::chrono::hours(72)};  // from the delivery's created_at
};

// The most of an answer's body (or a transport error) kept in last_error.
inline constexpr size_t kMaxAttemptError = 512;

// `{"type":...,"timestamp":"2026-03-10T09:00:00.000Z","data":...}`.
std::string webhook_body(const Event& event);

// The request of one try at `now`. An error (kInvalidArgument, naming no secret) when none of
// the task's secrets gives a key (a `whsec_` secret that is not base64).
Result<HttpCall> webhook_call(const DeliveryTask& task, Timestamp now, std::string_view user_agent);

// The wait before try number attempts + 1, after `attempts` (>= 1) tries: base * 2^(attempts-1),
// at most `max`, times (0.8 + 0.4 * jitter) with `jitter` in [0, 1).
std::chrono::milliseconds retry_delay(int attempts, const RetryRule& rule, double jitter);

// What to write for a try of `delivery` (as claimed: `attempts` counts this try) that got
// `answer` at `now`.
DeliveryAttempt judge_answer(const WebhookDeliveryRecord& delivery, std::string lease,
                             const HttpAnswer& answer, Timestamp now, const RetryRule& rule,
                             double jitter);

// `text` cut to kMaxAttemptError bytes, every byte that is not printable ASCII replaced by '?'
// (answers are the receiver's bytes; last_error goes out in API JSON).
std::string printable_prefix(std::string_view text);

}  // namespace rtjobs
