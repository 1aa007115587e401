#include "jobs/transfer_service.hpp"

#include "core/log.hpp"
#include "core/uuid.hpp"
#include "jobs/occurrences.hpp"

namespace rtjobs {

TransferService::TransferService(Store& store, const ProviderRegistry& providers,
                                 const CalendarSet& calendars, const Clock& clock,
                                 int horizon_months)
    : store_(store),
      providers_(providers),
      calendars_(calendars),
      clock_(clock),
      horizon_months_(horizon_months) {}

Result<CreateTransferResult> TransferService::create(const NewTransfer& request,
                                                     std::string_view actor) {
  const Provider* provider = providers_.find(request.provider);
  if (!provider) {
    return invalid("provider", "no provider named '" + request.provider + "' is configured");
  }
  // The adapter names the field at fault ("rail", "provider_options.<name>"): passed on as is.
  auto carried = provider->check_transfer(TransferSpec{
      .rail = request.rail,
      .provider_options =
          request.provider_options ? std::string_view(*request.provider_options) : "",
      .amount = request.amount,
      .currency = request.currency,
      .source_account = request.source_account,
      .destination_account = request.destination_account,
      .description = request.description,
  });
  if (!carried) return std::unexpected(carried.error());
  auto recurrence = Recurrence::make(request.schedule, calendars_);
  if (!recurrence) return std::unexpected(recurrence.error());
  Timestamp now = clock_.now();
  // A start in the past would execute every missed occurrence at once: refuse it.
  if (request.schedule.start_date < recurrence->local_date(now)) {
    return invalid("schedule.start_date", "must be today or later in the schedule's time zone");
  }
  if (!recurrence->at(1)) {
    return invalid("schedule", "has no occurrence between start_date and end_date");
  }

  RecurringTransfer transfer;
  transfer.id = new_uuid_v7(now);
  transfer.external_id = request.external_id;
  transfer.provider = request.provider;
  transfer.source_account = request.source_account;
  transfer.destination_account = request.destination_account;
  transfer.amount = request.amount;
  transfer.currency = request.currency;
  transfer.description = request.description;
  transfer.rail = request.rail;
  transfer.provider_options = request.provider_options;
  transfer.schedule = request.schedule;
  transfer.status = TransferStatus::kActive;
  transfer.idempotency_key = request.idempotency_key;
  transfer.request_hash = request.request_hash;
  transfer.created_at = now;
  transfer.updated_at = now;

  auto next = next_occurrences(transfer, calendars_, now, horizon_months_);
  if (!next) return std::unexpected(next.error());
  if (!next->jobs.empty()) transfer.last_sequence = next->jobs.back().sequence;
  transfer.next_occurrence_at = next->next_due_at;

  auto created = store_.create_transfer(transfer, next->jobs, actor);
  if (!created) return std::unexpected(std::move(created.error()).context("creating transfer"));
  if (!created->created && created->transfer.request_hash != request.request_hash) {
    return std::unexpected(Error{ErrorCode::kUnprocessable,
                                 "this Idempotency-Key was used with another request body",
                                 "Idempotency-Key", "idempotency_key_reused"});
  }
  if (created->created) {
    log::info("transfer created",
              {{"transfer_id", transfer.id}, {"jobs", static_cast<long>(next->jobs.size())}});
    if (on_jobs_ready_) on_jobs_ready_();
  }
  return created;
}

Result<RecurringTransfer> TransferService::change_status(std::string_view id, TransferAction action,
                                                         std::string_view actor) {
  auto changed = store_.change_transfer_status(id, action, clock_.now(), actor);
  if (!changed)
    return std::unexpected(std::move(changed.error()).context("transfer " + std::string(id)));
  log::info("transfer status changed",
            {{"transfer_id", changed->id}, {"status", to_string(changed->status)}});
  if (action == TransferAction::kResume && on_jobs_ready_) on_jobs_ready_();
  return changed;
}

Result<RecurringTransfer> TransferService::patch(std::string_view id, const TransferPatch& patch,
                                                 std::string_view actor) {
  auto current = store_.get_transfer(id);
  if (!current) return std::unexpected(std::move(current.error()).context("reading transfer"));
  if (!*current) return fail(ErrorCode::kNotFound, "no recurring transfer with this id");
  const RecurringTransfer& t = **current;
  // The rail, accounts and options never change: the provider judges the new terms with them.
  if (const Provider* provider = providers_.find(t.provider)) {
    auto carried = provider->check_transfer(TransferSpec{
        .rail = t.rail,
        .provider_options = t.provider_options ? std::string_view(*t.provider_options) : "",
        .amount = patch.amount.value_or(t.amount),
        .currency = t.currency,
        .source_account = t.source_account,
        .destination_account = t.destination_account,
        .description = patch.description ? std::string_view(*patch.description)
                                         : std::string_view(t.description),
    });
    if (!carried) return std::unexpected(carried.error());
  }
  Timestamp now = clock_.now();
  TransferPatch planned = patch;
  if (patch.changes_end()) {
    // The start never changes, so the new end is judged against the schedule as stored; the
    // store re-plans under its lock, from the transfer as it is then.
    Schedule schedule = t.schedule;
    if (patch.end_date) schedule.end_date = *patch.end_date;
    if (patch.count) schedule.count = *patch.count;
    if (schedule.end_date && *schedule.end_date < schedule.start_date) {
      return invalid("schedule.end_date", "schedule.end_date must not be before start_date");
    }
    auto recurrence = Recurrence::make(schedule, calendars_);
    if (!recurrence) return std::unexpected(recurrence.error());
    if (!recurrence->at(1)) {
      return invalid("schedule.end_date", "the schedule would have no occurrence up to end_date");
    }
    planned.plan = [this, now](const RecurringTransfer& transfer) {
      return replan_occurrences(transfer, calendars_, now, horizon_months_);
    };
  }
  auto changed = store_.patch_transfer(id, planned, now, actor);
  if (!changed) return std::unexpected(std::move(changed.error()));
  log::info("transfer changed", {{"transfer_id", changed->id}, {"version", changed->version}});
  return changed;
}

Result<Job> TransferService::skip_job(std::string_view job_id, std::string_view actor) {
  auto skipped = store_.skip_job(job_id, clock_.now(), actor);
  if (!skipped) return std::unexpected(std::move(skipped.error()));
  log::info("job skipped",
            {{"job_id", skipped->id}, {"transfer_id", skipped->recurring_transfer_id}});
  return skipped;
}

Result<std::vector<Occurrence>> TransferService::upcoming(std::string_view id, int count) {
  auto transfer = store_.get_transfer(id);
  if (!transfer) return std::unexpected(std::move(transfer.error()).context("reading transfer"));
  if (!*transfer) return fail(ErrorCode::kNotFound, "no recurring transfer with this id");
  return upcoming_occurrences(**transfer, calendars_, clock_.now(), count);
}

}  // namespace rtjobs
