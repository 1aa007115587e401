// The rows of the outbox (SPEC section 8, "Events to the main API"): tables event,
// webhook_endpoint and webhook_delivery have the same names and columns on SQLite and
// PostgreSQL, so their column lists and the record <-> row mapping live here once, as
// record_codec.hpp does for the jobs' tables. Values travel as record_codec's do (instants as
// text, ids as lower-case UUID text, states as their names). Stateless and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "store/record_codec.hpp"
#include "store/store.hpp"

namespace rtjobs::store_detail {

// Column lists as Event, WebhookEndpoint and WebhookDeliveryRecord read them (the delivery's
// lease columns and the event's fanned_out are the stores' own, never read into a record).
extern const std::string_view kEventColumns;
extern const std::string_view kEndpointColumns;
extern const std::string_view kDeliveryColumns;
inline constexpr int kEventColumnCount = 6;
inline constexpr int kEndpointColumnCount = 12;
inline constexpr int kDeliveryColumnCount = 14;

// Parameters in kEndpointColumns order.
std::vector<SqlValue> endpoint_values(const WebhookEndpoint& e);

// Reads a record from the columns starting at `first`.
Result<Event> read_event(const RowView& row, int first = 0);
Result<WebhookEndpoint> read_endpoint(const RowView& row, int first = 0);
Result<WebhookDeliveryRecord> read_delivery(const RowView& row, int first = 0);

// An endpoint's event_types as stored: the types joined by commas (no type holds one), "" for
// every type. A filter matches a type when ("," + stored + ",") holds ("," + type + ",").
std::string join_event_types(const std::vector<std::string>& types);
std::vector<std::string> split_event_types(std::string_view stored);

// Appends `value` as a JSON string, or null when absent: for the statements' JSON parameters.
void append_json_text(std::string& out, std::optional<std::string_view> value);

}  // namespace rtjobs::store_detail
