#include "store/transfer_changes.hpp"

#include <nlohmann/json.hpp>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/column_reader.hpp"

namespace rtjobs::store_detail {
namespace {

using nlohmann::json;

json change(json before, json after) {
  return {{"before", std::move(before)}, {"after", std::move(after)}};
}

TransferChange record(std::string_view transfer_id, std::string_view action,
                      std::optional<std::string> job_id, std::string_view actor,
                      const json& changes, Timestamp now) {
  TransferChange c;
  c.id = new_uuid_v7(now);
  c.recurring_transfer_id = std::string(transfer_id);
  c.job_id = std::move(job_id);
  c.action = std::string(action);
  if (!actor.empty()) c.actor = std::string(actor);
  c.changes = changes.dump(-1, ' ', false, json::error_handler_t::replace);
  c.created_at = now;
  return c;
}

std::string_view status_action(TransferStatus after) {
  switch (after) {
    case TransferStatus::kPaused:
      return "paused";
    case TransferStatus::kCancelled:
      return "cancelled";
    default:
      return "resumed";
  }
}

}  // namespace

TransferChange created_change(const RecurringTransfer& t, std::string_view actor, Timestamp now) {
  json changes = {{"status", change(nullptr, to_string(t.status))},
                  {"amount", change(nullptr, t.amount)},
                  {"description", change(nullptr, t.description)}};
  return record(t.id, "created", std::nullopt, actor, changes, now);
}

TransferChange status_change(const RecurringTransfer& after, TransferStatus before,
                             std::string_view actor, Timestamp now) {
  json changes = {{"status", change(to_string(before), to_string(after.status))}};
  return record(after.id, status_action(after.status), std::nullopt, actor, changes, now);
}

TransferChange terms_change(const RecurringTransfer& before, const RecurringTransfer& after,
                            std::string_view actor, Timestamp now) {
  json changes = json::object();
  if (before.amount != after.amount) changes["amount"] = change(before.amount, after.amount);
  if (before.description != after.description) {
    changes["description"] = change(before.description, after.description);
  }
  auto date = [](const std::optional<Date>& d) -> json {
    return d ? json(format_date(*d)) : json(nullptr);
  };
  auto count = [](const std::optional<int>& n) -> json { return n ? json(*n) : json(nullptr); };
  if (before.schedule.end_date != after.schedule.end_date) {
    changes["schedule.end_date"] =
        change(date(before.schedule.end_date), date(after.schedule.end_date));
  }
  if (before.schedule.count != after.schedule.count) {
    changes["schedule.count"] = change(count(before.schedule.count), count(after.schedule.count));
  }
  if (before.status != after.status) {
    changes["status"] = change(to_string(before.status), to_string(after.status));
  }
  changes["version"] = change(before.version, after.version);
  return record(after.id, "updated", std::nullopt, actor, changes, now);
}

TransferChange job_change(std::string_view action, const Job& job, JobStatus before,
                          std::string_view actor, Timestamp now) {
  json changes = {{"status", change(to_string(before), to_string(job.status))}};
  return record(job.recurring_transfer_id, action, job.id, actor, changes, now);
}

std::optional<Error> patch_refusal(const RecurringTransfer& current, const TransferPatch& patch) {
  if (current.version != patch.expected_version) {
    return Error{ErrorCode::kPreconditionFailed,
                 "the transfer is at version " + std::to_string(current.version) + ", not " +
                     std::to_string(patch.expected_version) + ": read it again",
                 "If-Match", "version_mismatch"};
  }
  if (current.status == TransferStatus::kCancelled ||
      current.status == TransferStatus::kCompleted) {
    return Error{ErrorCode::kConflict,
                 "a " + std::string(to_string(current.status)) + " transfer cannot be changed",
                 "id", "transfer_final"};
  }
  return std::nullopt;
}

RecurringTransfer patched(RecurringTransfer transfer, const TransferPatch& patch) {
  if (patch.amount) transfer.amount = *patch.amount;
  if (patch.description) transfer.description = *patch.description;
  if (patch.end_date) transfer.schedule.end_date = *patch.end_date;
  if (patch.count) transfer.schedule.count = *patch.count;
  return transfer;
}

bool same_terms(const RecurringTransfer& a, const RecurringTransfer& b) {
  return a.amount == b.amount && a.description == b.description &&
         schedule_end(a.schedule) == schedule_end(b.schedule);
}

std::optional<Error> past_end_refusal(const TransferPatch& patch, int64_t sequence,
                                      JobStatus status, bool attempted) {
  if (status == JobStatus::kPending && !attempted) return std::nullopt;
  std::string field = patch.end_date && patch.count ? "schedule"
                      : patch.count                 ? "schedule.count"
                                                    : "schedule.end_date";
  return Error{ErrorCode::kConflict,
               "occurrence " + std::to_string(sequence) + " is past the new end and its job is " +
                   std::string(to_string(status)) +
                   (status == JobStatus::kPending ? " after an attempt" : "") +
                   ": the schedule cannot end before an occurrence that was acted on",
               field, "occurrence_past_end"};
}

std::string pin_old_terms_sql(char style) {
  std::string amount = placeholders(style, 1, 2);
  std::string description = placeholders(style, 1, 3);
  return "amount = COALESCE(amount, " + amount + "), description = COALESCE(description, " +
         description + ")";
}

Result<ClaimedJob> read_claimed_job(const RowView& row, int first) {
  auto job = read_job(row, first);
  if (!job) return std::unexpected(job.error());
  ColumnReader r(row, first + kJobColumnCount, "recurring_transfer_job");
  ClaimedJob c{std::move(*job), r.opt_int(), r.opt_text()};
  if (auto st = r.status(); !st) return std::unexpected(st.error());
  return c;
}

Result<RecurringTransfer> with_pinned_terms(RecurringTransfer transfer, const ClaimedJob& claimed) {
  if (!claimed.amount || !claimed.description) {
    return fail(ErrorCode::kInternal, "job " + claimed.job.id + " was claimed without its terms");
  }
  transfer.amount = *claimed.amount;
  transfer.description = *claimed.description;
  return transfer;
}

std::vector<SqlValue> change_values(const TransferChange& c) {
  return {c.id,      c.recurring_transfer_id,       opt_text(c.job_id), c.action, opt_text(c.actor),
          c.changes, format_timestamp(c.created_at)};
}

Result<TransferChange> read_change(const RowView& row, int first) {
  ColumnReader r(row, first, "recurring_transfer_change");
  TransferChange c;
  c.id = r.text();
  c.recurring_transfer_id = r.text();
  c.job_id = r.opt_text();
  c.action = r.text();
  c.actor = r.opt_text();
  c.changes = r.text();
  c.created_at = r.time();
  if (auto st = r.status(); !st) return std::unexpected(st.error());
  return c;
}

}  // namespace rtjobs::store_detail
