#include "store/events.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "core/object_json.hpp"
#include "core/time_format.hpp"
#include "core/uuid.hpp"

namespace rtjobs {

std::string_view to_string(EndpointStatus s) {
  return s == EndpointStatus::kEnabled ? "enabled" : "disabled";
}

std::string_view to_string(DeliveryStatus s) {
  switch (s) {
    case DeliveryStatus::kPending:
      return "pending";
    case DeliveryStatus::kDelivered:
      return "delivered";
    case DeliveryStatus::kFailed:
      return "failed";
  }
  return "pending";
}

namespace store_detail {
namespace {

constexpr std::array<std::string_view, 14> kEventTypes = {
    "job.succeeded",      "job.declined",
    "job.retrying",       "job.failed",
    "job.skipped",        "job.cancelled",
    "job.settled",        "job.returned",
    "transfer.created",   "transfer.paused",
    "transfer.resumed",   "transfer.cancelled",
    "transfer.completed", "webhook_endpoint.disabled",
};

Event make_event(std::string_view type, std::optional<std::string> transfer_id,
                 std::optional<std::string> job_id, std::string data, Timestamp now) {
  return Event{new_uuid_v7(now), std::string(type), std::move(transfer_id), std::move(job_id), now,
               std::move(data)};
}

nlohmann::json optional_time(const std::optional<Timestamp>& t) {
  return t ? nlohmann::json(format_timestamp(*t)) : nlohmann::json(nullptr);
}

}  // namespace

std::span<const std::string_view> event_types() { return kEventTypes; }

bool is_event_type(std::string_view type) {
  return std::find(kEventTypes.begin(), kEventTypes.end(), type) != kEventTypes.end();
}

std::optional<std::string_view> job_event_type(const Job& job) {
  switch (job.status) {
    case JobStatus::kFinished:
      if (job.result == JobResult::kDeclined) return "job.declined";
      if (job.result == JobResult::kReturned) return "job.returned";
      return "job.succeeded";
    case JobStatus::kRetry:
      return "job.retrying";
    case JobStatus::kFailed:
      return "job.failed";
    case JobStatus::kSkipped:
      return "job.skipped";
    case JobStatus::kCancelled:
      return "job.cancelled";
    default:
      return std::nullopt;
  }
}

std::string_view transfer_event_type(TransferStatus status) {
  switch (status) {
    case TransferStatus::kActive:
      return "transfer.resumed";
    case TransferStatus::kPaused:
      return "transfer.paused";
    case TransferStatus::kCancelled:
      return "transfer.cancelled";
    case TransferStatus::kCompleted:
      return "transfer.completed";
  }
  return "transfer.resumed";
}

Event job_event(std::string_view type, const Job& job, Timestamp now) {
  return make_event(type, job.recurring_transfer_id, job.id, job_json(job), now);
}

Event transfer_event(std::string_view type, const RecurringTransfer& transfer, Timestamp now) {
  return make_event(type, transfer.id, std::nullopt, transfer_json(transfer), now);
}

Event endpoint_disabled_event(const WebhookEndpoint& endpoint, Timestamp now) {
  return make_event("webhook_endpoint.disabled", std::nullopt, std::nullopt,
                    dump(to_json(endpoint)), now);
}

std::vector<Event> settlement_events(SettlementOutcome outcome, const Job& job, Timestamp now) {
  std::vector<Event> out;
  switch (outcome) {
    case SettlementOutcome::kApplied:
      if (job.settlement_status == SettlementStatus::kSettled) {
        out.push_back(job_event("job.settled", job, now));
      } else if (job.settlement_status == SettlementStatus::kReturned) {
        out.push_back(job_event("job.returned", job, now));
      } else if (job.settlement_status == SettlementStatus::kCanceled) {
        out.push_back(job_event("job.declined", job, now));
      }
      break;
    case SettlementOutcome::kRepresented:
      out.push_back(job_event("job.returned", job, now));
      out.push_back(job_event("job.retrying", job, now));
      break;
    case SettlementOutcome::kTransferPaused:
      out.push_back(job_event("job.returned", job, now));
      break;
    default:
      break;
  }
  return out;
}

nlohmann::json to_json(const WebhookEndpoint& e) {
  return nlohmann::json{
      {"id", e.id},
      {"url", e.url},
      {"description", e.description ? nlohmann::json(*e.description) : nlohmann::json(nullptr)},
      {"event_types", e.event_types},
      {"status", to_string(e.status)},
      {"failing_since", optional_time(e.failing_since)},
      {"disabled_at", optional_time(e.disabled_at)},
      {"previous_secret_expires_at", optional_time(e.previous_secret_expires_at)},
      {"created_at", format_timestamp(e.created_at)},
      {"updated_at", format_timestamp(e.updated_at)},
  };
}

nlohmann::json to_json(const WebhookDeliveryRecord& d) {
  auto text = [](const std::optional<std::string>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  const bool waiting =
      d.status == DeliveryStatus::kPending && d.next_attempt_at == kDeliveryWaiting;
  return nlohmann::json{
      {"id", d.id},
      {"event_id", d.event_id},
      {"event_type", d.event_type},
      {"endpoint_id", d.endpoint_id},
      {"recurring_transfer_id", text(d.transfer_id)},
      {"status", to_string(d.status)},
      {"attempts", d.attempts},
      // Waiting: held back by an earlier delivery of its transfer, or its endpoint disabled.
      {"waiting", waiting},
      {"next_attempt_at", d.status == DeliveryStatus::kPending && !waiting
                              ? nlohmann::json(format_timestamp(d.next_attempt_at))
                              : nlohmann::json(nullptr)},
      {"last_attempt_at", optional_time(d.last_attempt_at)},
      {"last_http_status",
       d.last_http_status ? nlohmann::json(*d.last_http_status) : nlohmann::json(nullptr)},
      {"last_error", text(d.last_error)},
      {"replay_of", text(d.replay_of)},
      {"created_at", format_timestamp(d.created_at)},
      {"finished_at", optional_time(d.finished_at)},
  };
}

}  // namespace store_detail
}  // namespace rtjobs
