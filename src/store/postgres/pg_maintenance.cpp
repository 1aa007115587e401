// PgStore's operations for the built-in loops (src/maintenance): claiming due jobs in batches,
// rescuing expired leases, and extending transfers up to the horizon.
//
// Lock order (no deadlocks). A transfer's next jobs are only ever inserted by a transaction
// that holds the transfer's row lock: complete_jobs locks the transfers it will update first
// (all of them, in id order), then its jobs' rows (in id order), then inserts;
// extend_transfer updates its transfer, then inserts. So inserts of the same (transfer,
// sequence) keys never wait for each other, and two batches of completions take transfer rows,
// then job rows, in the same order. A cancel (change_transfer_status) locks the transfer's live
// jobs (PENDING, IN_FLY, RETRY: never the PROCESSING ones a completion writes) then the
// transfer; the claims lock only jobs (the batch claims with SKIP LOCKED: they never wait).
#include <algorithm>
#include <tuple>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/postgres/pg_listener.hpp"
#include "store/postgres/pg_rows.hpp"
#include "store/postgres/pg_store.hpp"

namespace rtjobs {

using store_detail::PgResult;
using store_detail::PgRow;
using store_detail::PgStatement;
using store_detail::SqlValue;

namespace {

const std::string kTransferCols(store_detail::kTransferColumns);
const std::string kJobCols(store_detail::kJobColumns);

constexpr std::string_view kLeaseExpired =
    "lease expired: the process holding the job stopped before recording an outcome";

}  // namespace

Result<std::vector<ClaimResult>> PgStore::claim_due_jobs(const DueClaimRequest& request) {
  // One statement. Each branch walks its partial index in due order, skipping rows another
  // claimer has locked, and stops after `limit` rows; the merge keeps the `limit` oldest (rows a
  // branch locked beyond them stay unclaimed and are released at once, at commit). FOR UPDATE
  // re-checks each row's state after a concurrent change, so a job is claimed once. The CTEs
  // are MATERIALIZED so each selection runs once (see rescue_expired_leases).
  // Due PENDING/IN_FLY jobs of a PAUSED transfer are skipped, of a CANCELLED one cancelled (as
  // claim_job does); RETRY jobs are claimed whatever their transfer's status.
  static const std::string sql =
      "WITH pending AS MATERIALIZED (SELECT id, due_at AS at, true AS pending FROM "
      "recurring_transfer_job"
      " WHERE $5::boolean AND status IN ('PENDING', 'IN_FLY') AND due_at <= $2::timestamptz"
      " ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED),"
      " retrying AS MATERIALIZED (SELECT id, next_attempt_at AS at, false AS pending"
      " FROM recurring_transfer_job WHERE $6::boolean AND status = 'RETRY'"
      " AND next_attempt_at <= $2::timestamptz ORDER BY next_attempt_at LIMIT $4"
      " FOR UPDATE SKIP LOCKED),"
      " due AS MATERIALIZED (SELECT * FROM pending UNION ALL SELECT * FROM retrying ORDER BY at, "
      "id LIMIT $4)"
      " UPDATE recurring_transfer_job j SET status = n.status,"
      " lease_owner = CASE WHEN n.status = 'PROCESSING' THEN $1 END,"
      " lease_expires_at = CASE WHEN n.status = 'PROCESSING' THEN $3::timestamptz END,"
      " finished_at = CASE WHEN n.status <> 'PROCESSING' THEN $2::timestamptz END,"
      " updated_at = $2::timestamptz"
      " FROM due, recurring_transfer t, LATERAL (SELECT CASE WHEN NOT due.pending"
      " THEN 'PROCESSING' WHEN t.status = 'PAUSED' THEN 'SKIPPED'"
      " WHEN t.status = 'CANCELLED' THEN 'CANCELLED' ELSE 'PROCESSING' END AS status) n"
      " WHERE j.id = due.id AND t.id = j.recurring_transfer_id RETURNING due.at, " +
      store_detail::qualified(store_detail::kJobColumns, "j") + ", " +
      store_detail::qualified(store_detail::kTransferColumns, "t");

  auto run = [&]() -> Result<std::vector<ClaimResult>> {
    if (request.limit <= 0 || (!request.pending && !request.retries)) {
      return std::vector<ClaimResult>{};
    }
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = (*c)->query(sql, {request.lease_owner, format_timestamp(request.now),
                               format_timestamp(request.lease_expires_at), int64_t{request.limit},
                               int64_t{request.pending}, int64_t{request.retries}});
    if (!r) return std::unexpected(r.error());
    struct Row {
      std::string at;  // same-width UTC text, so it sorts as time
      ClaimResult claim;
    };
    std::vector<Row> rows;
    rows.reserve(static_cast<size_t>(r->rows()));
    std::vector<std::string> skipped_transfers;
    for (int i = 0; i < r->rows(); ++i) {
      PgRow row(*r, i);
      auto job = store_detail::read_job(row, 1);
      if (!job) return std::unexpected(job.error());
      ClaimResult claim{ClaimStatus::kClaimed, std::move(*job), std::nullopt};
      if (claim.job->status == JobStatus::kProcessing) {
        auto transfer = store_detail::read_transfer(row, 1 + store_detail::kJobColumnCount);
        if (!transfer) return std::unexpected(transfer.error());
        claim.transfer = std::move(*transfer);
      } else {
        claim.status = claim.job->status == JobStatus::kSkipped ? ClaimStatus::kSkipped
                                                                : ClaimStatus::kTerminal;
        if (claim.status == ClaimStatus::kSkipped) {
          skipped_transfers.push_back(claim.job->recurring_transfer_id);
        }
      }
      rows.push_back({std::string(row.text(0).value_or("")), std::move(claim)});
    }
    // A skipped job may have been its transfer's last occurrence (a statement of its own, which
    // sees the skip).
    if (!skipped_transfers.empty()) {
      auto done =
          (*c)->query(store_detail::kCompleteIfDoneSql,
                      {store_detail::uuid_array(skipped_transfers), format_timestamp(request.now)});
      if (!done) return std::unexpected(done.error());
    }
    // RETURNING has no defined order: give the results back oldest due first.
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      return std::tie(a.at, a.claim.job->id) < std::tie(b.at, b.claim.job->id);
    });
    std::vector<ClaimResult> out;
    out.reserve(rows.size());
    for (Row& row : rows) out.push_back(std::move(row.claim));
    return out;
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("claiming due jobs"));
  return r;
}

Result<int> PgStore::rescue_expired_leases(Timestamp now, int max_retries, int limit) {
  // MATERIALIZED: the locked rows are picked once. Were the selection inlined into a join, it
  // could be re-scanned, skip the rows this statement just updated, and exceed the limit.
  // FOR UPDATE re-checks the conditions on a row changed since the snapshot (a job completed
  // meanwhile is left alone).
  static const std::string sql =
      "WITH expired AS MATERIALIZED (SELECT id FROM recurring_transfer_job"
      " WHERE status = 'PROCESSING' AND lease_expires_at <= $1::timestamptz"
      " ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED),"
      " rescued AS (UPDATE recurring_transfer_job j SET status = 'RETRY',"
      " next_attempt_at = $1::timestamptz,"
      " retries = GREATEST(j.retries, LEAST(j.retries + 1, $2::integer)), lease_owner = NULL,"
      " lease_expires_at = NULL, last_error = $4, updated_at = $1::timestamptz"
      " FROM expired WHERE j.id = expired.id RETURNING 1)"
      " SELECT count(*), CASE WHEN count(*) > 0 THEN " +
      std::string(store_detail::kNotifyJobsDue) + "::text END FROM rescued";
  auto run = [&]() -> Result<int> {
    if (limit <= 0) return 0;
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = (*c)->query(sql, {format_timestamp(now), int64_t{max_retries}, int64_t{limit},
                               std::string(kLeaseExpired)});
    if (!r) return std::unexpected(r.error());
    return std::stoi(std::string(r->text(0, 0).value_or("0")));
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("rescuing expired leases"));
  return r;
}

Result<std::vector<RecurringTransfer>> PgStore::transfers_to_extend(Timestamp until, int limit) {
  static const std::string sql =
      "SELECT " + kTransferCols +
      " FROM recurring_transfer WHERE status IN ('ACTIVE', 'PAUSED')"
      " AND next_occurrence_at <= $1::timestamptz ORDER BY next_occurrence_at, id LIMIT $2";
  auto run = [&]() -> Result<std::vector<RecurringTransfer>> {
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = (*c)->query(sql, {format_timestamp(until), int64_t{std::max(limit, 0)}});
    if (!r) return std::unexpected(r.error());
    return store_detail::rows_of<RecurringTransfer>(*r, store_detail::read_transfer);
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("listing transfers to extend"));
  return r;
}

Result<int> PgStore::extend_transfers(std::span<const Extension> extensions) {
  static const std::string begin_sql = "BEGIN";
  // Only for a transfer still ACTIVE or PAUSED (jobs a concurrent cancel misses are cancelled
  // when claimed, as claim_job and claim_due_jobs do). After sequence_sql, so under the
  // transfer's row lock (see the lock order above).
  static const std::string jobs_sql =
      "INSERT INTO recurring_transfer_job (" + kJobCols + ") SELECT " + kJobCols + " FROM unnest(" +
      store_detail::job_unnest_args(2) + ") AS n(" + kJobCols +
      ")"
      " WHERE EXISTS (SELECT 1 FROM recurring_transfer WHERE id = $1::uuid"
      " AND status IN ('ACTIVE', 'PAUSED')) ORDER BY sequence"
      " ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING RETURNING 1";
  // Forward only: a concurrent completion may have created these occurrences and more. First:
  // it takes the transfer's row lock, under which the jobs are inserted, and so the COMPLETED
  // check (a new statement, hence a new snapshot) sees every completion of this transfer that
  // committed before it.
  static const std::string sequence_sql =
      "UPDATE recurring_transfer SET last_sequence = GREATEST(last_sequence, $2::bigint),"
      " next_occurrence_at = CASE WHEN $2::bigint > last_sequence THEN $3::timestamptz"
      " ELSE next_occurrence_at END,"
      " updated_at = CASE WHEN $2::bigint > last_sequence THEN $4::timestamptz ELSE updated_at END"
      " WHERE id = $1::uuid AND status IN ('ACTIVE', 'PAUSED') RETURNING id";
  static const std::string exists_sql = "SELECT 1 FROM recurring_transfer WHERE id = $1::uuid";

  // In transfer id order, the order in which a batch of outcomes locks them (see above).
  struct Item {
    std::string id;
    const Extension* extension;
    size_t sequence_step = 0;  // index of its sequence_sql result in the pipeline
  };
  std::vector<Item> items;
  for (const Extension& e : extensions) {
    std::string id = store_detail::normalize_id(e.transfer_id);
    if (!is_uuid(id)) return fail(ErrorCode::kNotFound, "no transfer " + id);
    for (const Job& job : e.new_jobs) {
      if (store_detail::normalize_id(job.recurring_transfer_id) != id) {
        return invalid("new_jobs", "job " + job.id + " belongs to another transfer");
      }
    }
    items.push_back({std::move(id), &e});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.id < b.id; });

  auto run = [&]() -> Result<int> {
    if (items.empty()) return 0;
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    // One round trip for every transfer's statements (its jobs_sql right after its
    // sequence_sql), then the commit once each transfer is known to exist (an unknown one rolls
    // the whole batch back).
    std::vector<PgStatement> batch;
    batch.push_back({&begin_sql, {}});
    for (Item& item : items) {
      const Extension& e = *item.extension;
      int64_t last_sequence = 0;
      for (const Job& job : e.new_jobs) last_sequence = std::max(last_sequence, job.sequence);
      std::string now = format_timestamp(e.now);
      item.sequence_step = batch.size();
      batch.push_back(
          {&sequence_sql,
           {item.id, last_sequence, store_detail::opt_time(e.next_occurrence_at), now}});
      std::vector<SqlValue> job_params{item.id};
      for (SqlValue& column : store_detail::job_arrays(e.new_jobs)) {
        job_params.push_back(std::move(column));
      }
      batch.push_back({&jobs_sql, std::move(job_params)});
      if (e.schedule_exhausted) {
        batch.push_back(
            {&store_detail::kCompleteTransfersSql, {store_detail::uuid_array({item.id}), now}});
      }
    }
    auto results = (*c)->pipeline(batch);
    if (!results) return std::unexpected(results.error());
    auto rollback = [&](Error error) -> Result<int> {
      (void)(*c)->exec("ROLLBACK");
      return std::unexpected(std::move(error));
    };
    for (const PgResult& r : *results) {
      if (!r.ok()) {
        return rollback(Error{ErrorCode::kUnavailable,
                              r.error_message() + " (SQLSTATE " + r.sqlstate() + ")",
                              {},
                              {}});
      }
    }
    int inserted = 0;
    for (const Item& item : items) {
      inserted += (*results)[item.sequence_step + 1].rows();
      if ((*results)[item.sequence_step].rows() > 0) continue;
      // Not ACTIVE or PAUSED (nothing was written for it), or unknown.
      auto found = (*c)->query(exists_sql, {item.id});
      if (!found) return rollback(found.error());
      if (found->rows() == 0) {
        return rollback(Error{ErrorCode::kNotFound, "no transfer " + item.id, {}, {}});
      }
    }
    if (auto r = (*c)->exec("COMMIT"); !r) return std::unexpected(r.error());
    return inserted;
  };
  auto r = run();
  if (!r) {
    return std::unexpected(
        r.error().context("extending " + std::to_string(items.size()) + " transfers"));
  }
  return r;
}

}  // namespace rtjobs
