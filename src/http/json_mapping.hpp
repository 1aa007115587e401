// JSON mapping of the API (SPEC sections 1, 3, 4): the records' JSON (core/object_json.hpp),
// and create-transfer request bodies to NewTransfer with strict validation: unknown fields,
// wrong types and out-of-range values are kInvalidArgument errors naming the field
// ("schedule.day_of_month"). Only http/*.cpp include this header. Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/model.hpp"
#include "core/object_json.hpp"
#include "jobs/transfer_service.hpp"

namespace rtjobs::http {

// The records' JSON lives in core (events carry it too); the API's names for it.
using rtjobs::dump;
using rtjobs::job_json;
using rtjobs::to_json;

// The largest provider_options accepted, as compact JSON.
inline constexpr size_t kMaxProviderOptionsBytes = 16 * 1024;

// Parses a create-transfer body. Schedule fields not given keep the defaults of SPEC section 3;
// day_of_week, day_of_month and month stay unset (the schedule engine derives them from
// start_date). rail defaults to book; provider_options (an object, at most
// kMaxProviderOptionsBytes compact) is kept as its compact text, absent or null as none.
// idempotency_key and request_hash are left for the caller.
Result<NewTransfer> parse_new_transfer(std::string_view body);
// The body of PATCH /v1/recurring-transfers/{id}: `amount` and `description`, each optional,
// checked as at creation; any other field is refused naming it (the schedule, the accounts,
// the provider and the rail never change). expected_version is left for the caller.
Result<TransferPatch> parse_transfer_patch(std::string_view body);

// Parses a JSON body that must be an object; errors name "body", or the field whose string holds
// U+0000, invalid UTF-8 or an unescaped control character (http/text.hpp). Every request body
// the API maps is read through here.
Result<nlohmann::json> parse_json_object(std::string_view body);

// The body of POST /v1/webhook-endpoints: {"url", "event_types"?, "description"?}, strict. The
// url is checked only as text here (check_webhook_url resolves it).
inline constexpr size_t kMaxWebhookUrl = 2048;
inline constexpr size_t kMaxWebhookDescription = 255;
struct WebhookEndpointBody {
  std::string url;
  std::vector<std::string> event_types;  // known types, each once; empty: every type
  std::optional<std::string> description;
};
Result<WebhookEndpointBody> parse_webhook_endpoint(std::string_view body);

}  // namespace rtjobs::http
