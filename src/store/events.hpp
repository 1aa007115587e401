// The events of SPEC section 8 ("Events to the main API"): their types, and each event built
// from a row as the change wrote it, for both stores to insert in that change's transaction.
// Pure; thread-safe.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/model.hpp"
#include "store/store.hpp"

namespace rtjobs::store_detail {

// Every type, SPEC section 8's and the endpoint's own "webhook_endpoint.disabled".
std::span<const std::string_view> event_types();
bool is_event_type(std::string_view type);

// The event a job's new state gives: FINISHED by its result (job.succeeded, job.declined,
// job.returned), RETRY job.retrying, FAILED job.failed, SKIPPED job.skipped, CANCELLED
// job.cancelled; none for PENDING, IN_FLY, PROCESSING.
std::optional<std::string_view> job_event_type(const Job& job);
// transfer.paused, transfer.resumed (ACTIVE), transfer.cancelled, transfer.completed.
std::string_view transfer_event_type(TransferStatus status);

// An event with a new UUIDv7 id at `now` and the row's JSON (core/object_json.hpp) as data.
Event job_event(std::string_view type, const Job& job, Timestamp now);
Event transfer_event(std::string_view type, const RecurringTransfer& transfer, Timestamp now);
Event endpoint_disabled_event(const WebhookEndpoint& endpoint, Timestamp now);

// The events of an applied settlement, in order, from the job as written: job.settled,
// job.returned (and job.retrying when presented again), job.declined for a canceled transfer;
// none for kUnchanged, kNotFollowed, kUnknownTransfer, nor for a settlement that became
// unknown (no type says so; the job's settlement_status does). A paused transfer's event is the
// caller's (transfer_event with the transfer as written).
std::vector<Event> settlement_events(SettlementOutcome outcome, const Job& job, Timestamp now);

// An endpoint as the API shows it: never its secrets.
nlohmann::json to_json(const WebhookEndpoint& endpoint);
nlohmann::json to_json(const WebhookDeliveryRecord& delivery);

}  // namespace rtjobs::store_detail
