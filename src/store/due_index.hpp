// The partial indexes the built-in loops read due jobs through, and the SQL both dialects share
// to walk them. Each index holds only the jobs of its states, keyed (provider, the time they
// fall due): a claim for one provider reads that provider's due jobs in due order and stops at
// the first one not due yet, whatever the other providers' backlogs (SPEC section 8, flow
// control: a rate-limited provider's jobs must not hold up the others').
//
// A statement about every provider cannot read such an index in due order, and neither
// PostgreSQL 15 nor SQLite (without statistics) skips through an index by its leading column on
// its own. So those statements (count_due_jobs, a claim for any provider) first list the
// providers an index holds, one index probe each (providers_cte), then read each provider's
// slice: the cost grows with the number of providers, never with the jobs not yet due.
#pragma once

#include <string>
#include <string_view>

namespace rtjobs::store_detail {

struct DueIndex {
  std::string_view name;
  std::string_view states;  // the index's WHERE: a scan must repeat it to use the index
};

// PENDING and IN_FLY jobs by (provider, due_at); RETRY jobs by (provider, next_attempt_at).
inline constexpr DueIndex kPendingIndex{"recurring_transfer_job_due_idx",
                                        "status IN ('PENDING', 'IN_FLY')"};
inline constexpr DueIndex kRetryIndex{"recurring_transfer_job_retry_idx", "status = 'RETRY'"};

// Appended to a read of recurring_transfer_job through kRetryIndex: a retry of a PAUSED transfer
// waits for the resume (decide_claim), so it is not due work.
inline constexpr std::string_view kNotPausedTransfer =
    " AND NOT EXISTS (SELECT 1 FROM recurring_transfer t"
    " WHERE t.id = recurring_transfer_job.recurring_transfer_id AND t.status = 'PAUSED')";

// "<cte>(provider) AS (...)", one element of a WITH RECURSIVE: the distinct providers `index`
// holds, in order, each found by one probe of the index past the previous one, then a NULL row
// (which the reader skips, or matches nothing with). `indexed_by` names the index in the probes
// (SQLite's INDEXED BY, which would otherwise read a state's jobs through another index).
std::string providers_cte(std::string_view cte, const DueIndex& index, bool indexed_by);

}  // namespace rtjobs::store_detail
