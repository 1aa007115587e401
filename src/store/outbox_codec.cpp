#include "store/outbox_codec.hpp"

#include "core/log.hpp"
#include "core/time_format.hpp"
#include "store/column_reader.hpp"

namespace rtjobs::store_detail {

const std::string_view kEventColumns = "id, type, recurring_transfer_id, job_id, created_at, data";
const std::string_view kEndpointColumns =
    "id, url, description, event_types, secret, previous_secret, previous_secret_expires_at, "
    "status, failing_since, disabled_at, created_at, updated_at";
const std::string_view kDeliveryColumns =
    "id, event_id, endpoint_id, event_type, recurring_transfer_id, status, attempts, "
    "next_attempt_at, last_attempt_at, last_http_status, last_error, replay_of, created_at, "
    "finished_at";

namespace {

std::optional<EndpointStatus> parse_endpoint_status(std::string_view s) {
  if (s == "enabled") return EndpointStatus::kEnabled;
  if (s == "disabled") return EndpointStatus::kDisabled;
  return std::nullopt;
}

std::optional<DeliveryStatus> parse_delivery_status(std::string_view s) {
  for (auto status :
       {DeliveryStatus::kPending, DeliveryStatus::kDelivered, DeliveryStatus::kFailed}) {
    if (to_string(status) == s) return status;
  }
  return std::nullopt;
}

}  // namespace

void append_json_text(std::string& out, std::optional<std::string_view> value) {
  if (!value) {
    out += "null";
    return;
  }
  out += '"';
  log::append_json_escaped(out, *value);
  out += '"';
}

std::vector<SqlValue> endpoint_values(const WebhookEndpoint& e) {
  return {e.id,
          e.url,
          opt_text(e.description),
          join_event_types(e.event_types),
          e.secret,
          opt_text(e.previous_secret),
          opt_time(e.previous_secret_expires_at),
          std::string(to_string(e.status)),
          opt_time(e.failing_since),
          opt_time(e.disabled_at),
          format_timestamp(e.created_at),
          format_timestamp(e.updated_at)};
}

Result<Event> read_event(const RowView& row, int first) {
  ColumnReader r(row, first, "event");
  Event e;
  e.id = r.text();
  e.type = r.text();
  e.transfer_id = r.opt_text();
  e.job_id = r.opt_text();
  e.created_at = r.time();
  e.data = r.text();
  if (auto st = r.status(); !st) return std::unexpected(st.error());
  return e;
}

Result<WebhookEndpoint> read_endpoint(const RowView& row, int first) {
  ColumnReader r(row, first, "webhook_endpoint");
  WebhookEndpoint e;
  e.id = r.text();
  e.url = r.text();
  e.description = r.opt_text();
  e.event_types = split_event_types(r.text());
  e.secret = r.text();
  e.previous_secret = r.opt_text();
  e.previous_secret_expires_at = r.opt_time();
  e.status = r.named(parse_endpoint_status);
  e.failing_since = r.opt_time();
  e.disabled_at = r.opt_time();
  e.created_at = r.time();
  e.updated_at = r.time();
  if (auto st = r.status(); !st) return std::unexpected(st.error());
  return e;
}

Result<WebhookDeliveryRecord> read_delivery(const RowView& row, int first) {
  ColumnReader r(row, first, "webhook_delivery");
  WebhookDeliveryRecord d;
  d.id = r.text();
  d.event_id = r.text();
  d.endpoint_id = r.text();
  d.event_type = r.text();
  d.transfer_id = r.opt_text();
  d.status = r.named(parse_delivery_status);
  d.attempts = static_cast<int>(r.integer());
  d.next_attempt_at = r.time();
  d.last_attempt_at = r.opt_time();
  d.last_http_status = r.opt_small();
  d.last_error = r.opt_text();
  d.replay_of = r.opt_text();
  d.created_at = r.time();
  d.finished_at = r.opt_time();
  if (auto st = r.status(); !st) return std::unexpected(st.error());
  return d;
}

std::string join_event_types(const std::vector<std::string>& types) {
  std::string out;
  for (const std::string& type : types) {
    if (!out.empty()) out += ',';
    out += type;
  }
  return out;
}

std::vector<std::string> split_event_types(std::string_view stored) {
  std::vector<std::string> out;
  while (!stored.empty()) {
    size_t comma = stored.find(',');
    out.emplace_back(stored.substr(0, comma));
    stored = comma == std::string_view::npos ? std::string_view() : stored.substr(comma + 1);
  }
  return out;
}

}  // namespace rtjobs::store_detail
