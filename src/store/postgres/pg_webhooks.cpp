// PgStore's events to the main API: TRANSITIONAL stubs, replaced by the implementation.
#include "store/postgres/pg_store.hpp"

namespace rtjobs {

Result<WebhookEndpoint> PgStore::create_webhook_endpoint(const WebhookEndpoint& /*endpoint*/) {
  return fail(ErrorCode::kInternal, "create_webhook_endpoint: not implemented");
}

Result<std::optional<WebhookEndpoint>> PgStore::get_webhook_endpoint(std::string_view /*id*/) {
  return fail(ErrorCode::kInternal, "get_webhook_endpoint: not implemented");
}

Result<Page<WebhookEndpoint>> PgStore::list_webhook_endpoints(
    int /*limit*/, std::optional<std::string> /*cursor*/) {
  return fail(ErrorCode::kInternal, "list_webhook_endpoints: not implemented");
}

Result<void> PgStore::delete_webhook_endpoint(std::string_view /*id*/) {
  return fail(ErrorCode::kInternal, "delete_webhook_endpoint: not implemented");
}

Result<WebhookEndpoint> PgStore::rotate_webhook_secret(std::string_view /*id*/,
                                                       std::string /*secret*/,
                                                       Timestamp /*previous_expires_at*/,
                                                       Timestamp /*now*/) {
  return fail(ErrorCode::kInternal, "rotate_webhook_secret: not implemented");
}

Result<WebhookEndpoint> PgStore::enable_webhook_endpoint(std::string_view /*id*/,
                                                         Timestamp /*now*/) {
  return fail(ErrorCode::kInternal, "enable_webhook_endpoint: not implemented");
}

Result<int> PgStore::fan_out_events(Timestamp /*now*/, int /*limit*/) {
  return fail(ErrorCode::kInternal, "fan_out_events: not implemented");
}

Result<std::vector<DeliveryTask>> PgStore::claim_webhook_deliveries(Timestamp /*now*/,
                                                                    std::string_view /*lease*/,
                                                                    Timestamp /*lease_until*/,
                                                                    int /*limit*/) {
  return fail(ErrorCode::kInternal, "claim_webhook_deliveries: not implemented");
}

Result<std::vector<DeliveryOutcome>> PgStore::finish_webhook_deliveries(
    std::span<const DeliveryAttempt> /*attempts*/, std::chrono::seconds /*disable_after*/) {
  return fail(ErrorCode::kInternal, "finish_webhook_deliveries: not implemented");
}

Result<Page<WebhookDeliveryRecord>> PgStore::list_webhook_deliveries(
    const DeliveryFilter& /*filter*/) {
  return fail(ErrorCode::kInternal, "list_webhook_deliveries: not implemented");
}

Result<std::optional<WebhookDeliveryRecord>> PgStore::get_webhook_delivery(
    std::string_view /*id*/) {
  return fail(ErrorCode::kInternal, "get_webhook_delivery: not implemented");
}

Result<WebhookDeliveryRecord> PgStore::replay_webhook_delivery(std::string_view /*id*/,
                                                               Timestamp /*now*/) {
  return fail(ErrorCode::kInternal, "replay_webhook_delivery: not implemented");
}

Result<int> PgStore::purge_events(Timestamp /*before*/, int /*limit*/) {
  return fail(ErrorCode::kInternal, "purge_events: not implemented");
}

Result<EventBacklog> PgStore::event_backlog(int64_t /*cap*/) {
  return fail(ErrorCode::kInternal, "event_backlog: not implemented");
}

Result<std::vector<Event>> PgStore::list_events(std::optional<std::string> /*after*/,
                                                int /*limit*/) {
  return fail(ErrorCode::kInternal, "list_events: not implemented");
}

}  // namespace rtjobs
