// PgStore's job transitions: claiming a job and writing a processing outcome (the two hot
// paths), and an operator's retry of a FAILED job.
#include <algorithm>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/postgres/pg_listener.hpp"
#include "store/postgres/pg_rows.hpp"
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

Result<std::vector<CompletionResult>> PgStore::complete_jobs(
    std::span<const Completion> completions) {
  static const std::string begin_sql = "BEGIN";
  static const std::string commit_sql = "COMMIT";
  // Lock order (see pg_maintenance.cpp): the transfers whose rows a completion will update
  // (new jobs, or a COMPLETED check) are locked first, in id order, before any job row; their
  // new jobs are inserted under that lock. The ids come from the jobs, server-side.
  static const std::string lock_transfers_sql =
      "SELECT 1 FROM recurring_transfer WHERE id IN (SELECT recurring_transfer_id"
      " FROM recurring_transfer_job WHERE id = ANY($1::uuid[])) ORDER BY id FOR NO KEY UPDATE";
  // One statement per completion. Every write is conditional on the guarded UPDATE (upd): when
  // the lease was lost it matches no row, the statement writes nothing and returns no row, and
  // the rest of the batch goes on. pg_notify (once per transaction whatever the number of
  // calls) fires only when the job was written.
  static const std::string completion_sql =
      "WITH upd AS (UPDATE recurring_transfer_job SET status = $3, result = $4,"
      " retries = $5::integer, next_attempt_at = $6::timestamptz,"
      " provider_reference = COALESCE($7, provider_reference), last_error = $8,"
      " finished_at = $9::timestamptz, lease_owner = NULL, lease_expires_at = NULL,"
      " updated_at = $10::timestamptz"
      " WHERE id = $1::uuid AND status = 'PROCESSING' AND lease_owner = $2 RETURNING " +
      kJobCols + "), st AS (INSERT INTO recurring_transfer_provider_status (" +
      std::string(store_detail::kProviderStatusColumns) +
      ") SELECT $11::uuid, $12::uuid, $13::uuid, $14, $15::integer, $16::integer, $17, $18, $19,"
      " $20::timestamptz WHERE $11 IS NOT NULL AND EXISTS (SELECT 1 FROM upd)),"
      " nj AS (INSERT INTO recurring_transfer_job (" +
      kJobCols + ") SELECT " + kJobCols +
      " FROM json_populate_recordset(NULL::recurring_transfer_job, $21::json)"
      " WHERE EXISTS (SELECT 1 FROM upd) ORDER BY sequence"
      " ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING),"
      " tr AS (UPDATE recurring_transfer t SET last_sequence = $22::bigint,"
      " next_occurrence_at = $23::timestamptz, updated_at = $10::timestamptz FROM upd"
      " WHERE t.id = upd.recurring_transfer_id AND $22::bigint > t.last_sequence)"
      " SELECT " +
      kJobCols + ", CASE WHEN $24::boolean THEN " + std::string(store_detail::kNotifyJobsDue) +
      "::text END FROM upd";
  // A separate statement, after every completion of the batch: it sees them all (one
  // statement sees a single snapshot, not its own updates), and, the transfer being locked
  // since the start, every completion of the transfer that committed before. Only when this
  // transaction wrote the job (xmin): a completion that lost its lease inserted no jobs, so its
  // "exhausted" may not hold.
  static const std::string completed_sql =
      "UPDATE recurring_transfer t SET status = 'COMPLETED', updated_at = $2::timestamptz"
      " FROM recurring_transfer_job j WHERE j.id = $1::uuid AND j.xmin = pg_current_xact_id()::xid"
      " AND t.id = j.recurring_transfer_id AND t.status = 'ACTIVE' AND NOT EXISTS (SELECT 1"
      " FROM recurring_transfer_job o WHERE o.recurring_transfer_id = t.id"
      " AND o.status NOT IN " +
      kTerminal + ")";
  static const std::string select_jobs_sql =
      "SELECT " + kJobCols + " FROM recurring_transfer_job WHERE id = ANY($1::uuid[])";

  auto run = [&]() -> Result<std::vector<CompletionResult>> {
    std::vector<CompletionResult> out(completions.size());
    std::vector<std::string> ids;
    ids.reserve(completions.size());
    // Jobs in id order, so two batches sharing a job (a stale lease and its successor) lock
    // their job rows in the same order and cannot wait for each other in a cycle.
    std::vector<size_t> order;
    for (size_t i = 0; i < completions.size(); ++i) {
      ids.push_back(store_detail::normalize_id(completions[i].job_id));
      out[i].status = CompletionStatus::kLeaseLost;  // until its statement returns the job
      if (is_uuid(ids[i])) order.push_back(i);       // else no such job: nothing to write
    }
    if (order.empty()) return out;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return ids[a] < ids[b]; });

    std::vector<std::string> locked_via;
    std::vector<PgStatement> batch;
    batch.reserve(order.size() + 4);
    batch.push_back({&begin_sql, {}});
    batch.push_back({&lock_transfers_sql, {}});  // parameters set below
    for (size_t i : order) {
      const Completion& k = completions[i];
      std::string now = format_timestamp(k.now);
      int64_t last_sequence = 0;
      for (const Job& job : k.new_jobs) last_sequence = std::max(last_sequence, job.sequence);
      if (last_sequence > 0 || k.schedule_exhausted) locked_via.push_back(ids[i]);
      bool retry_now =
          k.status == JobStatus::kRetry && k.next_attempt_at && *k.next_attempt_at <= k.now;
      std::vector<SqlValue> params{
          ids[i],
          k.lease_owner,
          std::string(to_string(k.status)),
          k.result ? SqlValue(std::string(to_string(*k.result))) : SqlValue(),
          int64_t{k.retries},
          k.status == JobStatus::kRetry ? store_detail::opt_time(k.next_attempt_at) : SqlValue(),
          store_detail::opt_text(k.provider_reference),
          store_detail::opt_text(k.last_error),
          is_terminal(k.status) ? SqlValue(now) : SqlValue(),
          now};
      if (k.provider_status) {
        auto status = store_detail::provider_status_values(*k.provider_status);
        params.insert(params.end(), status.begin(), status.end());
      } else {
        params.resize(params.size() + store_detail::kProviderStatusColumnCount);
      }
      params.push_back(store_detail::jobs_as_json(k.new_jobs));
      params.push_back(last_sequence);
      params.push_back(store_detail::opt_time(k.next_occurrence_at));
      params.push_back(int64_t{retry_now || store_detail::any_due(k.new_jobs, k.now)});
      batch.push_back({&completion_sql, std::move(params)});
    }
    for (size_t i : order) {
      if (completions[i].schedule_exhausted) {
        batch.push_back({&completed_sql, {ids[i], format_timestamp(completions[i].now)}});
      }
    }
    batch.push_back({&commit_sql, {}});
    batch[1].params = {store_detail::uuid_array(locked_via)};

    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto results = (*c)->pipeline(batch);
    if (!results) return std::unexpected(results.error());
    for (size_t s = 0; s < results->size(); ++s) {
      const PgResult& r = (*results)[s];
      if (r.ok()) continue;
      (void)(*c)->exec("ROLLBACK");
      std::string what = s >= 2 && s < 2 + order.size()
                             ? "writing job " + ids[order[s - 2]]
                             : "statement " + std::to_string(s + 1) + " of the batch";
      return fail(ErrorCode::kUnavailable,
                  what + ": " + r.error_message() + " (SQLSTATE " + r.sqlstate() + ")");
    }
    std::vector<std::string> lost;
    for (size_t n = 0; n < order.size(); ++n) {
      size_t i = order[n];
      auto job = job_at((*results)[2 + n]);
      if (!job) return std::unexpected(job.error());
      if (*job) {
        out[i] = CompletionResult{CompletionStatus::kWritten, std::move(*job)};
      } else {
        lost.push_back(ids[i]);
      }
    }
    if (lost.empty()) return out;
    // The jobs as found, for the completions whose lease was lost (rare: one more read).
    auto found = (*c)->query(select_jobs_sql, {store_detail::uuid_array(lost)});
    if (!found) return std::unexpected(found.error().context("reading jobs whose lease was lost"));
    auto jobs = store_detail::rows_of<Job>(*found, store_detail::read_job);
    if (!jobs) return std::unexpected(jobs.error());
    for (size_t i : order) {
      if (out[i].status != CompletionStatus::kLeaseLost) continue;
      for (const Job& job : *jobs) {
        if (job.id == ids[i]) out[i].job = job;
      }
    }
    return out;
  };
  if (completions.empty()) return std::vector<CompletionResult>{};
  auto r = run();
  if (!r) {
    return std::unexpected(
        r.error().context("writing " + std::to_string(completions.size()) + " job outcomes"));
  }
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
