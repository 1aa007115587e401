// PgStore's job transitions: claiming a job and writing a processing outcome (the two hot
// paths), and an operator's retry of a FAILED job.
#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/postgres/pg_listener.hpp"
#include "store/postgres/pg_store.hpp"

namespace rtjobs {

using store_detail::ClaimAction;
using store_detail::PgResult;
using store_detail::PgRow;
using store_detail::PgStatement;
using store_detail::SqlValue;

namespace {

const std::string kJobCols(store_detail::kJobColumns);
const std::string kTerminal = "('FINISHED', 'FAILED', 'SKIPPED', 'CANCELLED')";

// The custom SQLSTATE rtjobs_require_lease() raises (see pg_schema.cpp).
constexpr std::string_view kLeaseLostState = "RTL01";

Result<std::optional<Job>> job_at(const PgResult& r, int first = 0) {
  if (r.rows() == 0) return std::nullopt;
  auto job = store_detail::read_job(PgRow(r, 0), first);
  if (!job) return std::unexpected(job.error());
  return std::move(*job);
}

}  // namespace

Result<ClaimResult> PgStore::claim_job(const ClaimRequest& request) {
  // The claim itself: one UPDATE whose WHERE is the claimable condition. Concurrent claimers
  // queue on the row lock and re-check the condition against the winner's row, so exactly one
  // matches. The transfer comes back in the same round trip.
  static const std::string claim_sql =
      "UPDATE recurring_transfer_job j SET status = 'PROCESSING', lease_owner = $2,"
      " lease_expires_at = $3::timestamptz, updated_at = $4::timestamptz,"
      " retries = CASE WHEN j.status = 'PROCESSING'"
      " THEN GREATEST(j.retries, LEAST(j.retries + 1, $5::integer)) ELSE j.retries END"
      " FROM recurring_transfer t WHERE j.id = $1::uuid AND t.id = j.recurring_transfer_id AND ("
      " (j.status IN ('PENDING', 'IN_FLY') AND j.due_at <= $4::timestamptz"
      "  AND t.status NOT IN ('PAUSED', 'CANCELLED'))"
      " OR (j.status = 'RETRY' AND (j.next_attempt_at IS NULL"
      "  OR j.next_attempt_at <= $4::timestamptz))"
      " OR (j.status = 'PROCESSING' AND (j.lease_expires_at IS NULL"
      "  OR j.lease_expires_at <= $4::timestamptz)))"
      " RETURNING " +
      store_detail::qualified(store_detail::kJobColumns, "j") + ", " +
      store_detail::qualified(store_detail::kTransferColumns, "t");
  static const std::string inspect_sql =
      "SELECT " + store_detail::qualified(store_detail::kJobColumns, "j") +
      ", t.status FROM recurring_transfer_job j JOIN recurring_transfer t"
      " ON t.id = j.recurring_transfer_id WHERE j.id = $1::uuid";
  // A due job of a PAUSED transfer is skipped; of a CANCELLED one, cancelled.
  static const std::string finish_sql =
      "UPDATE recurring_transfer_job j SET status = CASE WHEN t.status = 'PAUSED'"
      " THEN 'SKIPPED' ELSE 'CANCELLED' END, finished_at = $2::timestamptz,"
      " updated_at = $2::timestamptz FROM recurring_transfer t"
      " WHERE j.id = $1::uuid AND t.id = j.recurring_transfer_id"
      " AND j.status IN ('PENDING', 'IN_FLY') AND j.due_at <= $2::timestamptz"
      " AND t.status IN ('PAUSED', 'CANCELLED') RETURNING " +
      store_detail::qualified(store_detail::kJobColumns, "j");

  std::string id = store_detail::normalize_id(request.job_id);
  auto run = [&]() -> Result<ClaimResult> {
    if (!is_uuid(id)) return ClaimResult{ClaimStatus::kNotFound, {}, {}};
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    std::string now = format_timestamp(request.now);
    std::optional<Job> last_seen;
    // The state can change between the statements below; a few rounds settle any race.
    for (int round = 0; round < 3; ++round) {
      auto claimed = (*c)->query(
          claim_sql, {id, request.lease_owner, format_timestamp(request.lease_expires_at), now,
                      int64_t{request.max_retries}});
      if (!claimed) return std::unexpected(claimed.error());
      if (claimed->rows() == 1) {
        auto job = store_detail::read_job(PgRow(*claimed, 0), 0);
        if (!job) return std::unexpected(job.error());
        auto transfer =
            store_detail::read_transfer(PgRow(*claimed, 0), store_detail::kJobColumnCount);
        if (!transfer) return std::unexpected(transfer.error());
        return ClaimResult{ClaimStatus::kClaimed, std::move(*job), std::move(*transfer)};
      }
      auto inspected = (*c)->query(inspect_sql, {id});
      if (!inspected) return std::unexpected(inspected.error());
      auto job = job_at(*inspected);
      if (!job) return std::unexpected(job.error());
      if (!*job) return ClaimResult{ClaimStatus::kNotFound, {}, {}};
      auto transfer_status =
          parse_transfer_status(inspected->text(0, store_detail::kJobColumnCount).value_or(""));
      if (!transfer_status) return fail(ErrorCode::kInternal, "bad transfer status");
      last_seen = **job;
      switch (store_detail::decide_claim(**job, *transfer_status, request.now)) {
        case ClaimAction::kNotDue:
          return ClaimResult{ClaimStatus::kNotDue, std::move(*job), {}};
        case ClaimAction::kInProgress:
          return ClaimResult{ClaimStatus::kInProgress, std::move(*job), {}};
        case ClaimAction::kTerminal:
          return ClaimResult{ClaimStatus::kTerminal, std::move(*job), {}};
        case ClaimAction::kClaim:
          continue;  // it became claimable meanwhile
        case ClaimAction::kSkip:
        case ClaimAction::kCancel:
          break;
      }
      auto finished = (*c)->query(finish_sql, {id, now});
      if (!finished) return std::unexpected(finished.error());
      auto done = job_at(*finished);
      if (!done) return std::unexpected(done.error());
      if (*done) {
        ClaimStatus status =
            (*done)->status == JobStatus::kSkipped ? ClaimStatus::kSkipped : ClaimStatus::kTerminal;
        return ClaimResult{status, std::move(*done), {}};
      }
    }
    return ClaimResult{ClaimStatus::kInProgress, std::move(last_seen), {}};
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("claiming job " + id));
  return r;
}

Result<CompletionResult> PgStore::complete_job(const Completion& completion) {
  static const std::string select_job_sql =
      "SELECT " + kJobCols + " FROM recurring_transfer_job WHERE id = $1::uuid";
  static const std::string begin_sql = "BEGIN";
  static const std::string commit_sql = "COMMIT";
  // The lease check: when no row matches, rtjobs_require_lease raises, and the server skips
  // everything after it in the pipeline, so nothing else is written. The LEFT JOIN keeps the
  // check on the outer side, where it is always evaluated.
  static const std::string update_sql =
      "WITH upd AS (UPDATE recurring_transfer_job SET status = $3, result = $4,"
      " retries = $5::integer, next_attempt_at = $6::timestamptz,"
      " provider_reference = COALESCE($7, provider_reference), last_error = $8,"
      " finished_at = $9::timestamptz, lease_owner = NULL, lease_expires_at = NULL,"
      " updated_at = $10::timestamptz"
      " WHERE id = $1::uuid AND status = 'PROCESSING' AND lease_owner = $2 RETURNING " +
      kJobCols +
      ") SELECT u.* FROM (SELECT rtjobs_require_lease(count(*)) AS held FROM upd) h"
      " LEFT JOIN upd u ON h.held";
  static const std::string status_sql =
      "INSERT INTO recurring_transfer_provider_status (" +
      std::string(store_detail::kProviderStatusColumns) + ") VALUES (" +
      store_detail::placeholders('$', store_detail::kProviderStatusColumnCount) + ")";
  static const std::string jobs_sql =
      "INSERT INTO recurring_transfer_job (" + kJobCols + ") SELECT " + kJobCols +
      " FROM json_populate_recordset(NULL::recurring_transfer_job, $1::json) ORDER BY sequence"
      " ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING";
  // Also takes the transfer's row lock, so the COMPLETED check below (a new statement, hence
  // a new snapshot) sees every other completion of this transfer that committed before it.
  static const std::string sequence_sql =
      "UPDATE recurring_transfer SET last_sequence = GREATEST(last_sequence, $2::bigint),"
      " next_occurrence_at = CASE WHEN $2::bigint > last_sequence THEN $4::timestamptz"
      " ELSE next_occurrence_at END,"
      " updated_at = CASE WHEN $2::bigint > last_sequence THEN $3::timestamptz"
      " ELSE updated_at END"
      " WHERE id = (SELECT recurring_transfer_id FROM recurring_transfer_job WHERE id = $1::uuid)";
  static const std::string completed_sql =
      "UPDATE recurring_transfer t SET status = 'COMPLETED', updated_at = $2::timestamptz"
      " WHERE t.id = (SELECT recurring_transfer_id FROM recurring_transfer_job"
      " WHERE id = $1::uuid) AND t.status = 'ACTIVE' AND NOT EXISTS (SELECT 1"
      " FROM recurring_transfer_job o WHERE o.recurring_transfer_id = t.id"
      " AND o.status NOT IN " +
      kTerminal + ")";

  // Skipped with the rest of the pipeline when the lease check fails; delivered at COMMIT.
  static const std::string notify_sql = "SELECT " + std::string(store_detail::kNotifyJobsDue);

  const Completion& k = completion;
  std::string id = store_detail::normalize_id(k.job_id);
  auto run = [&]() -> Result<CompletionResult> {
    if (!is_uuid(id)) return CompletionResult{CompletionStatus::kLeaseLost, {}};
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    std::string now = format_timestamp(k.now);
    std::vector<PgStatement> batch;
    batch.push_back({&begin_sql, {}});
    batch.push_back(
        {&update_sql,
         {id, k.lease_owner, std::string(to_string(k.status)),
          k.result ? SqlValue(std::string(to_string(*k.result))) : SqlValue(), int64_t{k.retries},
          k.status == JobStatus::kRetry ? store_detail::opt_time(k.next_attempt_at) : SqlValue(),
          store_detail::opt_text(k.provider_reference), store_detail::opt_text(k.last_error),
          is_terminal(k.status) ? SqlValue(now) : SqlValue(), now}});
    if (k.provider_status) {
      batch.push_back({&status_sql, store_detail::provider_status_values(*k.provider_status)});
    }
    int64_t last_sequence = 0;
    for (const Job& job : k.new_jobs) last_sequence = std::max(last_sequence, job.sequence);
    if (!k.new_jobs.empty()) batch.push_back({&jobs_sql, {store_detail::jobs_as_json(k.new_jobs)}});
    if (!k.new_jobs.empty() || k.schedule_exhausted) {
      batch.push_back(
          {&sequence_sql, {id, last_sequence, now, store_detail::opt_time(k.next_occurrence_at)}});
    }
    if (k.schedule_exhausted) batch.push_back({&completed_sql, {id, now}});
    bool retry_now =
        k.status == JobStatus::kRetry && k.next_attempt_at && *k.next_attempt_at <= k.now;
    if (retry_now || store_detail::any_due(k.new_jobs, k.now)) batch.push_back({&notify_sql, {}});
    batch.push_back({&commit_sql, {}});

    auto results = (*c)->pipeline(batch);
    if (!results) return std::unexpected(results.error());
    const PgResult& update = (*results)[1];
    if (update.status() == PGRES_FATAL_ERROR && update.sqlstate() == kLeaseLostState) {
      if (auto r = (*c)->exec("ROLLBACK"); !r) return std::unexpected(r.error());
      auto found = (*c)->query(select_job_sql, {id});
      if (!found) return std::unexpected(found.error());
      auto job = job_at(*found);
      if (!job) return std::unexpected(job.error());
      return CompletionResult{CompletionStatus::kLeaseLost, std::move(*job)};
    }
    for (const PgResult& r : *results) {
      if (!r.ok()) {
        (void)(*c)->exec("ROLLBACK");
        return fail(ErrorCode::kUnavailable,
                    r.error_message() + " (SQLSTATE " + r.sqlstate() + ")");
      }
    }
    auto job = job_at(update);
    if (!job) return std::unexpected(job.error());
    if (!*job) return fail(ErrorCode::kInternal, "lease check passed without a row");
    return CompletionResult{CompletionStatus::kWritten, std::move(*job)};
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("completing job " + id));
  return r;
}

Result<Job> PgStore::retry_failed_job(std::string_view job_id, Timestamp now) {
  // FAILED is terminal, so finished_at goes back to NULL: the job is live again, and due now.
  static const std::string sql =
      "UPDATE recurring_transfer_job SET status = 'RETRY', retries = 0,"
      " next_attempt_at = $2::timestamptz, finished_at = NULL, updated_at = $2::timestamptz"
      " WHERE id = $1::uuid AND status = 'FAILED' RETURNING " +
      kJobCols + ", " + std::string(store_detail::kNotifyJobsDue) + "::text";
  static const std::string status_sql =
      "SELECT status FROM recurring_transfer_job WHERE id = $1::uuid";
  std::string id = store_detail::normalize_id(job_id);
  auto run = [&]() -> Result<Job> {
    if (!is_uuid(id)) return fail(ErrorCode::kNotFound, "no job " + id);
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = (*c)->query(sql, {id, format_timestamp(now)});
    if (!r) return std::unexpected(r.error());
    auto job = job_at(*r);
    if (!job) return std::unexpected(job.error());
    if (*job) return std::move(**job);
    auto found = (*c)->query(status_sql, {id});
    if (!found) return std::unexpected(found.error());
    if (found->rows() == 0) return fail(ErrorCode::kNotFound, "no job " + id);
    return std::unexpected(Error{ErrorCode::kConflict,
                                 "job " + id + " is " +
                                     std::string(found->text(0, 0).value_or("")) +
                                     ", only a FAILED job can be retried",
                                 {},
                                 "job_not_failed"});
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("retrying job " + id));
  return r;
}

}  // namespace rtjobs
