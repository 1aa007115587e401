// The pieces every bank's webhook verification is built from (SPEC section 8): HMACs, the
// encodings banks put signatures in, a constant-time comparison, the ±5 minute replay window and
// Standard Webhooks (https://www.standardwebhooks.com). Pure functions, thread-safe.
//
// Errors never carry a secret, a key or the signature a delivery should have had: only which
// check failed.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "baas/provider.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"

namespace rtjobs::bank {

// How far a signed timestamp may be from the receiver's clock, either way (too old: a replay;
// too new: a clock that cannot be trusted). The Standard Webhooks libraries' 5 minutes.
inline constexpr std::chrono::seconds kSignatureTolerance{300};

// Raw HMAC bytes.
std::string hmac_sha256(std::string_view key, std::string_view message);
std::string hmac_sha1(std::string_view key, std::string_view message);

std::string base64_encode(std::string_view bytes);
// Standard base64 with padding; nullopt when `text` is not that.
std::optional<std::string> base64_decode(std::string_view text);
// Hex of either case; nullopt when `text` is not an even run of hex digits.
std::optional<std::string> hex_decode(std::string_view text);

// Whether `a` and `b` are the same bytes, in time independent of where they differ (the
// lengths of signatures are public).
bool same_bytes(std::string_view a, std::string_view b);

// kUnauthenticated with `message` (which must hold no secret).
std::unexpected<Error> unauthenticated(std::string message);

// Whether `signed_at` is within kSignatureTolerance of `now`.
bool within_tolerance(Timestamp signed_at, Timestamp now);

// An RFC 3339 date-time ("2020-01-31T23:59:59Z", "2021-10-06T22:05:01.123456+02:00"), to the
// millisecond; nullopt when it is not one.
std::optional<Timestamp> parse_rfc3339(std::string_view text);

// A signature of the raw body alone, without a timestamp (Column, Unit): header `header` (lower
// case) must decode with `decode` to `expected`, the HMAC the secret gives the body. `shown` is
// the header's name as messages spell it.
Result<void> verify_body_signature(const WebhookDelivery& delivery, std::string_view header,
                                   std::string_view shown,
                                   std::optional<std::string> (*decode)(std::string_view),
                                   std::string_view expected);

// Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds, within the tolerance of
// delivery.now) and `webhook-signature` (space-separated `v1,<base64>` entries), one of which
// must be HMAC-SHA256(key, id + "." + timestamp + "." + body) for one of `keys`.
Result<void> verify_standard_webhook(const WebhookDelivery& delivery,
                                     std::span<const std::string> keys);

// The `webhook-signature` entry a sender puts on a Standard Webhooks message: "v1," + base64 of
// HMAC-SHA256(key, id + "." + timestamp + "." + body); `key` as standard_webhook_key gives it.
std::string sign_standard_webhook(std::string_view key, std::string_view id,
                                  std::string_view timestamp, std::string_view body);

// The HMAC key of a Standard Webhooks secret: a `whsec_<base64>` secret's decoded bytes, any
// other secret's own bytes. nullopt when a `whsec_` secret is not base64.
std::optional<std::string> standard_webhook_key(std::string_view secret);

}  // namespace rtjobs::bank
