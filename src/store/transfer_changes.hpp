// A transfer's history (Store::list_transfer_changes): each change a client makes, built from
// the rows as the change found and wrote them, for both stores to insert in that change's
// transaction, and read back. Pure; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "core/model.hpp"
#include "store/record_codec.hpp"
#include "store/store.hpp"

namespace rtjobs::store_detail {

// "created": the transfer's terms and status, each with "before" null.
TransferChange created_change(const RecurringTransfer& transfer, std::string_view actor,
                              Timestamp now);
// "paused", "resumed" or "cancelled" (by after.status): {"status": {before, after}}.
TransferChange status_change(const RecurringTransfer& after, TransferStatus before,
                             std::string_view actor, Timestamp now);
// "updated": the terms (and schedule end, and status when the change completed the transfer)
// that differ between `before` and `after`, and the version.
TransferChange terms_change(const RecurringTransfer& before, const RecurringTransfer& after,
                            std::string_view actor, Timestamp now);
// "job_skipped" or "job_retried" of `job` as written, from the status `before`.
TransferChange job_change(std::string_view action, const Job& job, JobStatus before,
                          std::string_view actor, Timestamp now);

// A claim pins the job's terms (Store::patch_transfer), and the transfer it answers with
// carries them. A claimed row: kJobColumns, then kPinnedTermColumns.
inline constexpr std::string_view kPinnedTermColumns = "amount, description";
struct ClaimedJob {
  Job job;
  std::optional<int64_t> amount;  // NULL until the job's first claim
  std::optional<std::string> description;
};
Result<ClaimedJob> read_claimed_job(const RowView& row, int first = 0);
// `transfer` with the claimed job's pinned terms; kInternal when the claim pinned none.
Result<RecurringTransfer> with_pinned_terms(RecurringTransfer transfer, const ClaimedJob& claimed);

// Store::patch_transfer's rules, for both stores: the refusal of a patch of `current` (a
// stale version: kPreconditionFailed; a CANCELLED or COMPLETED transfer: kConflict), or none;
// and the transfer with the patch's terms.
std::optional<Error> patch_refusal(const RecurringTransfer& current, const TransferPatch& patch);
RecurringTransfer patched(RecurringTransfer transfer, const TransferPatch& patch);
// The patch changes nothing: same terms, same schedule end.
bool same_terms(const RecurringTransfer& a, const RecurringTransfer& b);
// The refusal of a new schedule end that would remove job `sequence` (past the end): none for
// a PENDING job never claimed (`attempted` false), which the patch deletes.
std::optional<Error> past_end_refusal(const TransferPatch& patch, int64_t sequence,
                                      JobStatus status, bool attempted);
// Pinning the old terms on jobs a binary older than the claim's pinning claimed: the SET
// clause (parameters 2, the old amount, and 3, the old description, in `style`), and the jobs
// it is for, those whose attempts may repeat under their key (a retry, an operator's retry of a
// FAILED job, a presentment of a FINISHED one) and that hold no terms yet.
std::string pin_old_terms_sql(char style);
inline constexpr std::string_view kUnpinnedAttempted =
    "status IN ('PROCESSING', 'RETRY', 'FAILED', 'FINISHED')"
    " AND (amount IS NULL OR description IS NULL)";

// The columns of recurring_transfer_change, in table order.
inline constexpr std::string_view kChangeColumns =
    "id, recurring_transfer_id, job_id, action, actor, changes, created_at";
inline constexpr int kChangeColumnCount = 7;
std::vector<SqlValue> change_values(const TransferChange& change);
Result<TransferChange> read_change(const RowView& row, int first = 0);

}  // namespace rtjobs::store_detail
