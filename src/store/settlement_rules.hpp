// What a bank's word about a followed transfer does to its job (SPEC section 8, settlement and
// returns): the one decision both stores apply inside their transaction, against the job and
// its transfer as they are there. Pure; thread-safe.
//
//   - Settlement only moves forward: pending < unknown < settled < returned, canceled. A late
//     or repeated event, or one that arrives out of order, changes nothing (a settled never
//     overwrites a returned); a return may follow a settlement (ACH returns come days after).
//   - Only a job the bank accepted is followed: FINISHED with SUCCEEDED or RETURNED (a
//     SUCCEEDED job without a settlement status settled at once). The update must name the
//     job's current transfer at the bank (a re-presented job has a new one).
//   - canceled: the bank dropped the transfer after accepting it: no money moved, the job
//     becomes DECLINED (never reported paid).
//   - returned: the job becomes RETURNED with the return code, then
//       R01/R09, fewer than represent_max re-presentments, its transfer not CANCELLED, and
//       within 180 days of the occurrence's due date (Nacha: of the original entry; the due
//       date is never later, so this is the stricter bound): RETRY after represent_after,
//       presentment + 1, retries 0 (the next attempt goes out under "{key}:r{n}");
//       R02, R03, R04, R16, R20 (the account is gone or frozen): the transfer is PAUSED with
//       status_reason "account_return:Rnn", when pause_on_account_return and it is ACTIVE.
#pragma once

#include <optional>
#include <string>

#include "core/model.hpp"
#include "store/store.hpp"

namespace rtjobs::store_detail {

struct SettlementDecision {
  SettlementOutcome outcome = SettlementOutcome::kUnchanged;
  // Write `job` (the row after the update) when set; absent: nothing to write.
  std::optional<Job> job;
  // A provider-status row recording the bank's answer (every change of settlement).
  std::optional<ProviderStatus> provider_status;
  // Pause the transfer with this status_reason.
  std::optional<std::string> pause_reason;
};

// `status_id` is the id the provider-status row gets.
SettlementDecision decide_settlement(const Job& job, TransferStatus transfer,
                                     const SettlementUpdate& update, const std::string& status_id);

// Nacha's return codes that may be presented again (insufficient or uncollected funds).
bool is_representable_return(std::string_view code);
// The return codes that say the account cannot take entries (closed, missing, invalid, frozen,
// non-transaction).
bool is_account_return(std::string_view code);

}  // namespace rtjobs::store_detail
