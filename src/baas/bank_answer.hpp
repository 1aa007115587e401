// What every bank adapter shares when it builds a request or reads an answer (SPEC section 8's
// classification). Adapters differ in their banks' shapes; these rules hold for all of them:
//   - no HTTP answer: unavailable, outcome unknown when the request may have been sent;
//   - 401, 403, 408, 409, 429, 5xx: never declined (credentials, a key in use or reused, a rate
//     limit and a server fault do not refuse the customer's transfer);
//   - a 4xx is declined only when its body is the bank's own error shape: a 404 from a wrong
//     base_url or a proxy's HTML page is not the bank refusing anything;
//   - a 2xx the adapter cannot read is unavailable with an unknown outcome: the next attempt
//     replays it under the same key.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "baas/http_transport.hpp"
#include "baas/provider.hpp"
#include "core/error.hpp"

namespace rtjobs::bank {

// An attempt without an HTTP answer.
TransferResult no_answer(const HttpAnswer& answer);
// Answered calls: http_status, response_body and retry_after filled from `answer`.
TransferResult succeeded(const HttpAnswer& answer, std::string reference, std::string bank_status);
TransferResult declined(const HttpAnswer& answer, std::string code, std::string message);
TransferResult unavailable(const HttpAnswer& answer, std::string code, std::string message);
// A transfer object the bank created in a refused state (Unit "Rejected", a rejected or canceled
// transfer): declined, its id kept as the reference and its status as the bank's.
TransferResult declined_transfer(const HttpAnswer& answer, std::string id, std::string status,
                                 std::string code, std::string message);
// A 2xx without the transfer the adapter expects in it.
TransferResult unreadable(const HttpAnswer& answer, std::string_view what);

// 401, 403, 408, 409, 429, and everything that is neither 2xx nor 4xx.
bool never_declined(int status);
// A bank's error code or type about the idempotency key (a key reused or in use): never a
// refusal of the transfer, whatever its HTTP status.
bool is_key_conflict(std::string_view reason);

// Retry-After as delay-seconds or an HTTP date (RFC 9110), relative to `now`; nullopt when absent
// or unreadable. A date in the past is zero seconds.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

// A bank's refusal reason as SPEC section 8's common code where it has that meaning
// (insufficient_funds, account_closed, account_not_found, account_frozen, limit_exceeded);
// otherwise the reason in snake_case ("SuspectedFraud" -> "suspected_fraud").
std::string normalise_reason(std::string_view reason);

// RFC 3986 percent-encoding of everything but unreserved characters.
std::string percent_encode(std::string_view s);
// "Authorization: Basic base64(user:password)".
std::string basic_auth_header(std::string_view user, std::string_view password);

// A POST of `body` as JSON (invalid UTF-8 replaced, never thrown on) with `headers`.
HttpCall json_post(std::string url, const nlohmann::json& body, std::vector<std::string> headers);
// The one object of a 2xx list answer {"data": [object]}; nullopt when the answer is not a 2xx
// or its list does not hold exactly one object (a look-up that found nothing for sure).
std::optional<nlohmann::json> only_listed(const HttpAnswer& answer);
// A 2xx list answer {"data": []}: a look-up by key that found nothing under the key.
bool listed_none(const HttpAnswer& answer);
// The answer to a look_up_only attempt whose look-up found nothing under `key`.
TransferResult not_at_bank(const HttpAnswer& answer, std::string_view key);

// Parses a JSON body without throwing: a discarded value when it is not JSON.
nlohmann::json parse_json(std::string_view body);
// The string member `key` of an object, or nullopt.
std::optional<std::string> string_field(const nlohmann::json& object, std::string_view key);

// One key a bank's provider_options may hold.
struct OptionField {
  enum class Kind { kString, kBool };
  std::string_view name;
  Kind kind = Kind::kString;
  bool required = false;
  size_t max_length = 0;                  // strings: 0 = no limit besides 1 KiB
  std::vector<std::string_view> allowed;  // strings: empty = any
};

// Parses the transfer's provider_options (empty text = {}) against `fields`: an unknown key, a
// missing required one, a wrong type, length or value is an Error naming
// "provider_options.<key>".
Result<nlohmann::json> parse_options(std::string_view text, std::span<const OptionField> fields,
                                     std::string_view what);

// parse_options without the parsed value.
Result<void> check_options(std::string_view text, std::span<const OptionField> fields,
                           std::string_view what);

// Checks the idempotency key against the bank's limit: printable ASCII, 1..max_length.
Result<void> check_key(std::string_view key, size_t max_length);

}  // namespace rtjobs::bank
