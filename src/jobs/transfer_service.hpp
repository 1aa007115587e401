// TransferService: creating recurring transfers and changing their status (SPEC sections 3
// and 4). Creation computes the occurrences due within the horizon and stores them with the
// transfer in one transaction; an Idempotency-Key makes a repeated request return the same
// transfer (same body) or fail with kUnprocessable (another body). Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "baas/registry.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/model.hpp"
#include "schedule/calendar.hpp"
#include "schedule/recurrence.hpp"
#include "store/store.hpp"

namespace rtjobs {

struct NewTransfer {
  std::optional<std::string> external_id;
  std::string provider;
  std::string source_account;
  std::string destination_account;
  int64_t amount = 0;
  std::string currency;
  std::string description;
  Rail rail = Rail::kBook;
  // The adapter-specific fields: a JSON object's compact text, checked by the provider.
  std::optional<std::string> provider_options;
  Schedule schedule;  // defaults of SPEC section 3 already applied by the caller
  std::optional<std::string> idempotency_key;
  std::string request_hash;  // fingerprint of the request body, for idempotency
};

class TransferService {
 public:
  TransferService(Store& store, const ProviderRegistry& providers, const CalendarSet& calendars,
                  const Clock& clock, int horizon_months);

  // Errors: kInvalidArgument naming the field (unknown provider, bad schedule, a rail or
  // provider_options the provider refuses: its Provider::check_transfer error, unchanged),
  // kUnprocessable when the idempotency key was used with another body.
  // `actor` (the caller's name) is recorded in the transfer's history, as by every change below.
  Result<CreateTransferResult> create(const NewTransfer& request, std::string_view actor = {});

  // Pause (ACTIVE -> PAUSED), resume (PAUSED -> ACTIVE) or cancel (ACTIVE or PAUSED ->
  // CANCELLED; its PENDING, IN_FLY and RETRY jobs become CANCELLED). Errors: kNotFound;
  // kConflict (reason "invalid_transition") from any other status.
  Result<RecurringTransfer> change_status(std::string_view id, TransferAction action,
                                          std::string_view actor = {});

  // Changes the terms of future attempts (Store::patch_transfer), once the transfer's provider
  // accepts them (its check_transfer, as at creation: kInvalidArgument naming the field).
  Result<RecurringTransfer> patch(std::string_view id, const TransferPatch& patch,
                                  std::string_view actor);

  // An operator skips one occurrence: its PENDING job becomes SKIPPED (Store::skip_job).
  // Errors: kNotFound; kConflict (reason "job_not_pending") once it is claimed or final.
  Result<Job> skip_job(std::string_view job_id, std::string_view actor = {});

  // The transfer's next `count` occurrences after now, computed from its schedule and not
  // stored (upcoming_occurrences: none once it is CANCELLED or COMPLETED). kNotFound for an
  // unknown transfer.
  Result<std::vector<Occurrence>> upcoming(std::string_view id, int count);

  // Called after jobs were created or made runnable again (create, resume), so the built-in
  // scheduler runs a job due now at once. Set once before use.
  void on_jobs_ready(std::function<void()> callback) { on_jobs_ready_ = std::move(callback); }

 private:
  Store& store_;
  const ProviderRegistry& providers_;
  const CalendarSet& calendars_;
  const Clock& clock_;
  int horizon_months_;
  std::function<void()> on_jobs_ready_;
};

}  // namespace rtjobs
