#include "store/settlement_rules.hpp"

#include <array>
#include <chrono>

namespace rtjobs {

std::string_view to_string(SettlementOutcome o) {
  switch (o) {
    case SettlementOutcome::kApplied:
      return "applied";
    case SettlementOutcome::kRepresented:
      return "represented";
    case SettlementOutcome::kTransferPaused:
      return "transfer_paused";
    case SettlementOutcome::kUnchanged:
      return "unchanged";
    case SettlementOutcome::kNotFollowed:
      return "not_followed";
    case SettlementOutcome::kUnknownTransfer:
      return "unknown_transfer";
  }
  return "unchanged";
}

namespace store_detail {
namespace {

// Nacha allows a re-presentment within 180 days of the original entry.
constexpr auto kRepresentWindow = std::chrono::hours(24 * 180);

// Where a job's settlement stands; a later state never gives way to an earlier one.
int rank(const std::optional<SettlementStatus>& s) {
  if (!s) return 2;  // accepted and final at once: as settled
  switch (*s) {
    case SettlementStatus::kPending:
      return 0;
    case SettlementStatus::kUnknown:
      return 1;
    case SettlementStatus::kSettled:
      return 2;
    case SettlementStatus::kReturned:
    case SettlementStatus::kCanceled:
      return 3;
  }
  return 3;
}

std::string describe(const SettlementUpdate& u, std::string_view what) {
  std::string text(what);
  if (!u.bank_status.empty()) text += " (bank status " + u.bank_status + ")";
  if (u.message && !u.message->empty()) text += ": " + *u.message;
  return text;
}

}  // namespace

bool is_representable_return(std::string_view code) { return code == "R01" || code == "R09"; }

bool is_account_return(std::string_view code) {
  constexpr std::array<std::string_view, 5> kCodes{"R02", "R03", "R04", "R16", "R20"};
  for (std::string_view c : kCodes) {
    if (c == code) return true;
  }
  return false;
}

SettlementDecision decide_settlement(const Job& job, TransferStatus transfer,
                                     const SettlementUpdate& update, const std::string& status_id) {
  SettlementDecision d;
  const bool accepted = job.status == JobStatus::kFinished &&
                        (job.result == JobResult::kSucceeded || job.result == JobResult::kReturned);
  if (!accepted) {
    // A job whose settlement was followed and has ended (canceled: DECLINED; returned and
    // presented again: RETRY, or FAILED after it) keeps what it became: later news of that
    // transfer is a duplicate, not a job the bank never accepted.
    d.outcome =
        job.settlement_status ? SettlementOutcome::kUnchanged : SettlementOutcome::kNotFollowed;
    return d;
  }
  if (job.provider_reference != update.reference) return d;  // an earlier presentment's transfer

  Job after = job;
  after.updated_at = update.now;
  if (!update.bank_status.empty()) after.bank_status = update.bank_status;
  if (update.settlement == SettlementStatus::kPending) {
    // Still on its way: only the follower's next look-up moves (and the bank's own status).
    if (job.settlement_status != SettlementStatus::kPending) return d;
    if (update.next_check_at) after.settlement_check_at = update.next_check_at;
    if (after.bank_status == job.bank_status &&
        after.settlement_check_at == job.settlement_check_at) {
      return d;
    }
    d.job = std::move(after);
    return d;
  }
  if (update.settlement == SettlementStatus::kUnknown) {
    if (job.settlement_status != SettlementStatus::kPending) return d;
  } else if (rank(update.settlement) <= rank(job.settlement_status)) {
    return d;
  }

  after.settlement_status = update.settlement;
  after.settlement_check_at.reset();
  d.outcome = SettlementOutcome::kApplied;
  ProviderStatus row{status_id,    job.id,          job.recurring_transfer_id,
                     job.provider, job.retries + 1, update.http_status,
                     std::nullopt, update.message,  update.response_body,
                     update.now};
  switch (update.settlement) {
    case SettlementStatus::kPending:
    case SettlementStatus::kUnknown:
      row.code = "settlement_unknown";
      row.message = "the bank did not say within the follow window whether it settled";
      break;
    case SettlementStatus::kSettled:
      after.settled_at = update.settled_at.value_or(update.now);
      row.code = "settled";
      break;
    case SettlementStatus::kCanceled:
      after.result = JobResult::kDeclined;
      row.code = update.code.value_or("canceled");
      after.last_error = describe(update, "the bank canceled the transfer after accepting it");
      break;
    case SettlementStatus::kReturned: {
      const std::string code = update.return_code.value_or("R??");
      after.result = JobResult::kReturned;
      after.return_code = code;
      if (update.settled_at && !after.settled_at) after.settled_at = update.settled_at;
      row.code = code;
      after.last_error = describe(update, "the transfer was returned " + code);
      if (is_representable_return(code) && job.presentment < update.represent_max &&
          transfer != TransferStatus::kCancelled && update.now < job.due_at + kRepresentWindow) {
        after.status = JobStatus::kRetry;
        after.result.reset();
        after.retries = 0;
        after.presentment = job.presentment + 1;
        after.next_attempt_at = update.now + update.represent_after;
        after.finished_at.reset();
        d.outcome = SettlementOutcome::kRepresented;
      } else if (is_account_return(code) && update.pause_on_account_return &&
                 transfer == TransferStatus::kActive) {
        d.pause_reason = "account_return:" + code;
        d.outcome = SettlementOutcome::kTransferPaused;
      }
      break;
    }
  }
  d.provider_status = std::move(row);
  d.job = std::move(after);
  return d;
}

}  // namespace store_detail
}  // namespace rtjobs
