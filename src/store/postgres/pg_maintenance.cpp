// PgStore's operations for the built-in loops (src/maintenance): claiming due jobs in batches,
// rescuing expired leases, and extending transfers up to the horizon.
//
// Lock order (no deadlocks). A transfer's next jobs are only ever inserted by a transaction
// that holds the transfer's row lock: complete_jobs locks the transfers it will update first
// (all of them, in id order), then its jobs' rows (in id order), then inserts;
// extend_transfers locks each transfer, then inserts. So inserts of the same (transfer,
// sequence) keys never wait for each other, and two batches of completions take transfer rows,
// then job rows, in the same order. A cancel (change_transfer_status) locks the transfer, then
// its live jobs (PENDING, IN_FLY, RETRY: never the PROCESSING ones a completion writes);
// retry_failed_job locks the transfer (FOR SHARE), then its FAILED job. The batch claims lock
// jobs with SKIP LOCKED, and the transfers of the jobs they skip also with SKIP LOCKED (the
// rest after their COMMIT: store_detail::complete_skipped): they never wait. A single claim
// that skips or cancels its job locks the transfer first.
#include <algorithm>
#include <ranges>
#include <set>
#include <tuple>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/due_index.hpp"
#include "store/events.hpp"
#include "store/postgres/pg_listener.hpp"
#include "store/postgres/pg_outbox.hpp"
#include "store/postgres/pg_rows.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/transfer_changes.hpp"

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

// The claim statement of claim_due_jobs, for one provider ($7) or, with `any_provider`, for
// each provider a due index holds (see due_index.hpp). Due times are judged on the database's
// clock ($2, see db_now); the leases start at that instant and last the request's lease ($3),
// and the jobs' updated_at (finished_at, of those skipped or cancelled) is that instant too.
//
// Each branch walks its partial index in due order, one provider's slice at a time (a LATERAL
// per provider), skipping rows another claimer has locked, and stops after `limit` rows of the
// slice; the merge keeps the `limit` oldest (rows a branch locked beyond them stay unclaimed and
// are released at once, at commit: for any provider, up to two `limit`s per provider). FOR
// UPDATE re-checks each row's state after a concurrent change, so a job is claimed once. The
// CTEs are MATERIALIZED so each selection runs once (see rescue_expired_leases).
// What becomes of each job is decide_claim's rule in SQL (claim_outcome_sql): due jobs of a
// CANCELLED transfer are cancelled, due PENDING/IN_FLY jobs of a PAUSED one skipped, the rest
// claimed. RETRY jobs of a PAUSED transfer wait for its resume: the retrying branch passes over
// them (unlocked), so they never take the place of a claimable job.
std::string due_claim_sql(bool any_provider) {
  const std::string providers =
      any_provider
          ? "WITH RECURSIVE " +
                store_detail::providers_cte("pending_providers", store_detail::kPendingIndex,
                                            false) +
                ", " +
                store_detail::providers_cte("retry_providers", store_detail::kRetryIndex, false)
          : "WITH pending_providers(provider) AS (SELECT $7::text),"
            " retry_providers(provider) AS (SELECT $7::text)";
  const std::string now = store_detail::db_now("$2");
  return providers +
         ", pending AS MATERIALIZED (SELECT x.* FROM pending_providers p CROSS JOIN LATERAL"
         " (SELECT id, status, outcome_unknown, due_at AS at FROM recurring_transfer_job"
         " WHERE $5::boolean"
         " AND status IN ('PENDING', 'IN_FLY') AND provider = p.provider"
         " AND due_at <= " +
         now +
         " ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) x),"
         " retrying AS MATERIALIZED (SELECT x.* FROM retry_providers p CROSS JOIN LATERAL"
         " (SELECT id, status, outcome_unknown, next_attempt_at AS at FROM recurring_transfer_job r"
         " WHERE $6::boolean AND status = 'RETRY' AND provider = p.provider"
         " AND next_attempt_at <= " +
         now + " AND (SELECT " + store_detail::claim_outcome_sql("r", "t") +
         " FROM recurring_transfer t WHERE t.id = r.recurring_transfer_id) IS NOT NULL"
         " ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) x),"
         " due AS MATERIALIZED (SELECT * FROM pending UNION ALL SELECT * FROM retrying"
         " ORDER BY at, id LIMIT $4)"
         " UPDATE recurring_transfer_job j SET status = n.status,"
         " lease_owner = CASE WHEN n.status = 'PROCESSING' THEN $1 END,"
         " lease_expires_at = CASE WHEN n.status = 'PROCESSING' THEN " +
         store_detail::lease_expiry("$2", "$3") +
         " END,"
         " finished_at = CASE WHEN n.status <> 'PROCESSING' THEN " +
         now + " END, updated_at = " + now +
         ", amount = CASE WHEN n.status = 'PROCESSING' THEN COALESCE(j.amount, t.amount)"
         " ELSE j.amount END, description = CASE WHEN n.status = 'PROCESSING'"
         " THEN COALESCE(j.description, t.description) ELSE j.description END"
         " FROM due, recurring_transfer t, LATERAL (SELECT " +
         store_detail::claim_outcome_sql("due", "t") +
         " AS status) n WHERE j.id = due.id AND t.id = j.recurring_transfer_id"
         " AND n.status IS NOT NULL RETURNING due.at, " +
         store_detail::qualified(store_detail::kJobColumns, "j") + ", " +
         store_detail::qualified(store_detail::kPinnedTermColumns, "j") + ", " +
         store_detail::qualified(store_detail::kTransferColumns, "t");
}

}  // namespace

Result<std::vector<ClaimResult>> PgStore::claim_due_jobs(const DueClaimRequest& request) {
  // One statement (see due_claim_sql).
  static const std::string one_provider_sql = due_claim_sql(false);
  static const std::string any_provider_sql = due_claim_sql(true);
  static const std::string begin_sql = "BEGIN";

  auto run = [&]() -> Result<std::vector<ClaimResult>> {
    if (request.limit <= 0 || (!request.pending && !request.retries)) {
      return std::vector<ClaimResult>{};
    }
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    std::vector<SqlValue> params{request.lease_owner,
                                 clock(request.now),
                                 store_detail::lease_ms(request.now, request.lease_expires_at),
                                 int64_t{request.limit},
                                 int64_t{request.pending},
                                 int64_t{request.retries}};
    if (!request.provider.empty()) params.emplace_back(request.provider);
    // A transaction: the jobs it skips or cancels commit with their events (and, for a skipped
    // last occurrence, the transfer's completion with its own), one more round trip per batch.
    auto claimed = store_detail::run_checked(
        **c, {{&begin_sql, {}},
              {request.provider.empty() ? &any_provider_sql : &one_provider_sql, params}});
    if (!claimed) return std::unexpected(claimed.error());
    const PgResult* r = &(*claimed)[1];
    struct Row {
      std::string at;  // same-width UTC text, so it sorts as time
      ClaimResult claim;
    };
    std::vector<Row> rows;
    rows.reserve(static_cast<size_t>(r->rows()));
    std::vector<std::string> skipped_transfers;
    Timestamp skipped_at = request.now;  // the statement's instant, which the skips record
    for (int i = 0; i < r->rows(); ++i) {
      PgRow row(*r, i);
      auto job = store_detail::read_claimed_job(row, 1);
      if (!job) return std::unexpected(job.error());
      ClaimResult claim{ClaimStatus::kClaimed, job->job, std::nullopt};
      if (claim.job->status == JobStatus::kProcessing) {
        auto transfer = store_detail::read_transfer(row, 3 + store_detail::kJobColumnCount);
        if (!transfer) return std::unexpected(transfer.error());
        auto pinned = store_detail::with_pinned_terms(std::move(*transfer), *job);
        if (!pinned) return std::unexpected(pinned.error());
        claim.transfer = std::move(*pinned);
      } else {
        claim.status = claim.job->status == JobStatus::kSkipped ? ClaimStatus::kSkipped
                                                                : ClaimStatus::kTerminal;
        if (claim.status == ClaimStatus::kSkipped) {
          skipped_transfers.push_back(claim.job->recurring_transfer_id);
          skipped_at = claim.job->finished_at.value_or(request.now);
        }
      }
      rows.push_back({std::string(row.text(0).value_or("")), std::move(claim)});
    }
    // RETURNING has no defined order: give the results back oldest due first (and a transfer's
    // events in the order of its jobs).
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      return std::tie(a.at, a.claim.job->id) < std::tie(b.at, b.claim.job->id);
    });
    std::vector<Event> events;
    for (const Row& row : rows) {
      const Job& job = *row.claim.job;
      if (row.claim.status == ClaimStatus::kClaimed) continue;
      events.push_back(
          store_detail::job_event(store_detail::job_event_type(job).value_or("job.cancelled"), job,
                                  job.finished_at.value_or(request.now)));
    }
    // A skipped job may have been its transfer's last occurrence.
    const std::string at = format_timestamp(skipped_at);
    auto busy = store_detail::complete_skipped(**c, skipped_transfers, at, events);
    if (!busy) return std::unexpected(busy.error());
    if (auto done = store_detail::commit_with_events(**c, events); !done) {
      return std::unexpected(done.error());
    }
    // The claims have committed and are the caller's: a failure here is not theirs. It leaves
    // the transfer as a crash would (complete_after_skips).
    (void)store_detail::complete_after_skips(**c, *busy, at);
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
  // meanwhile is left alone). Expiry is judged on the database's clock ($1, see db_now), the
  // clock the claims measured the leases on, and updated_at records that instant.
  static const std::string sql =
      "WITH expired AS MATERIALIZED (SELECT id FROM recurring_transfer_job"
      " WHERE status = 'PROCESSING' AND lease_expires_at <= " +
      store_detail::db_now("$1") +
      " ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED),"
      " rescued AS (UPDATE recurring_transfer_job j SET status = 'RETRY',"
      " next_attempt_at = j.lease_expires_at,"
      " retries = GREATEST(j.retries, LEAST(j.retries + 1, $2::integer)), lease_owner = NULL,"
      " lease_expires_at = NULL, last_error = $4, outcome_unknown = 1, updated_at = " +
      store_detail::db_now("$1") + " FROM expired WHERE j.id = expired.id RETURNING " +
      store_detail::qualified(store_detail::kJobColumns, "j") + ") SELECT " + kJobCols + ", " +
      std::string(store_detail::kNotifyJobsDue) + "::text FROM rescued";
  static const std::string begin_sql = "BEGIN";
  // A transaction: the rescued jobs commit with their job.retrying events.
  auto run = [&]() -> Result<int> {
    if (limit <= 0) return 0;
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = store_detail::run_checked(
        **c,
        {{&begin_sql, {}},
         {&sql, {clock(now), int64_t{max_retries}, int64_t{limit}, std::string(kLeaseExpired)}}});
    if (!r) return std::unexpected(r.error());
    auto jobs = store_detail::rows_of<Job>((*r)[1], store_detail::read_job);
    if (!jobs) return std::unexpected(jobs.error());
    std::sort(jobs->begin(), jobs->end(), [](const Job& a, const Job& b) { return a.id < b.id; });
    std::vector<Event> events;
    events.reserve(jobs->size());
    for (const Job& job : *jobs) {
      events.push_back(store_detail::job_event("job.retrying", job, job.updated_at));
    }
    if (auto done = store_detail::commit_with_events(**c, events); !done) {
      return std::unexpected(done.error());
    }
    return static_cast<int>(jobs->size());
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("rescuing expired leases"));
  return r;
}

Result<Store::DueCounts> PgStore::count_due_jobs(Timestamp now, int64_t cap) {
  // Each count reads the claims' own partial index, one provider's due slice at a time (see
  // due_index.hpp), each slice up to the cap: the sum is exact below the cap, and at least the
  // cap when one slice reaches it. Due on the database's clock ($1, see db_now), as the claims.
  // A retry of a PAUSED transfer is not due: it waits for the resume (decide_claim).
  static const std::string db_now = store_detail::db_now("$1");
  static const std::string sql =
      "WITH RECURSIVE " +
      store_detail::providers_cte("pending_providers", store_detail::kPendingIndex, false) + ", " +
      store_detail::providers_cte("retry_providers", store_detail::kRetryIndex, false) +
      " SELECT LEAST($2::bigint, (SELECT coalesce(sum((SELECT count(*) FROM (SELECT 1"
      " FROM recurring_transfer_job WHERE status IN ('PENDING', 'IN_FLY') AND provider = p.provider"
      " AND due_at <= " +
      db_now +
      " LIMIT $2::bigint) s)), 0)::bigint FROM pending_providers p)),"
      " LEAST($2::bigint, (SELECT coalesce(sum((SELECT count(*) FROM (SELECT 1"
      " FROM recurring_transfer_job WHERE status = 'RETRY' AND provider = p.provider"
      " AND next_attempt_at <= " +
      db_now + std::string(store_detail::kNotPausedTransfer) +
      " LIMIT $2::bigint) s)), 0)::bigint"
      " FROM retry_providers p))";
  auto run = [&]() -> Result<DueCounts> {
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = (*c)->query(sql, {clock(now), std::max<int64_t>(cap, 0)});
    if (!r) return std::unexpected(r.error());
    return DueCounts{std::stoll(std::string(r->text(0, 0).value_or("0"))),
                     std::stoll(std::string(r->text(0, 1).value_or("0")))};
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("counting due jobs"));
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
  // The whole batch in one statement, set-based, for the transfers still ACTIVE or PAUSED (jobs
  // a concurrent cancel misses are cancelled when claimed, as claim_job and claim_due_jobs do):
  // - x: the extensions ($1-$4 and the planned ends after the jobs, one element each);
  // - t locks those transfers whose schedule end is still the planned one (a PATCH may have
  //   changed it since the scan: the next pass plans from the new one), in id order (see the
  //   lock order above), reading each one's last_sequence as it is once the lock is ours;
  // - u moves a transfer forward only: a concurrent completion may have created these
  //   occurrences and more, and then nothing is written (the page the extender reads is often
  //   the one the loops are completing); an exhausted plan (no next occurrence) also clears a
  //   next_occurrence_at left behind, so the transfer can complete;
  // - j inserts each transfer's occurrences after that last_sequence (the ones up to it exist).
  // Answers how many transfers it locked, how many jobs it inserted, and the locked ones.
  constexpr int kPlannedEndParam = 5 + store_detail::kJobColumnCount;
  static const std::string extend_sql =
      "WITH x AS (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[],"
      " $4::timestamptz[], $" +
      std::to_string(kPlannedEndParam) + "::date[], $" + std::to_string(kPlannedEndParam + 1) +
      "::integer[]) AS x(id, last_sequence, next_occurrence_at, written_at, end_date,"
      " sched_count)),"
      " t AS (SELECT r.id, r.last_sequence FROM recurring_transfer r JOIN x ON x.id = r.id"
      " WHERE r.status IN ('ACTIVE', 'PAUSED') AND r.end_date IS NOT DISTINCT FROM x.end_date"
      " AND r.\"count\" IS NOT DISTINCT FROM x.sched_count ORDER BY r.id"
      " FOR NO KEY UPDATE OF r),"
      " u AS (UPDATE recurring_transfer r SET last_sequence = GREATEST(t.last_sequence,"
      " x.last_sequence), next_occurrence_at = x.next_occurrence_at, updated_at = x.written_at"
      " FROM t JOIN x ON x.id = t.id WHERE r.id = t.id AND (t.last_sequence < x.last_sequence"
      " OR x.next_occurrence_at IS NULL) RETURNING 1),"
      " j AS (INSERT INTO recurring_transfer_job (" +
      kJobCols + ") SELECT " + store_detail::qualified(store_detail::kJobColumns, "n") +
      " FROM unnest(" + store_detail::job_unnest_args(5) + ") AS n(" + kJobCols +
      ") JOIN t ON t.id = n.recurring_transfer_id WHERE n.sequence > t.last_sequence"
      " ORDER BY n.recurring_transfer_id, n.sequence"
      " ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING RETURNING 1)"
      " SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM j),"
      " (SELECT string_agg(id::text, ',') FROM t)";
  static const std::string found_sql =
      "SELECT id FROM recurring_transfer WHERE id = ANY($1::uuid[])";

  // In transfer id order, the order in which a batch of outcomes locks them (see above).
  auto sorted = store_detail::sorted_extensions(extensions);
  if (!sorted) return std::unexpected(sorted.error());
  const std::vector<store_detail::ExtensionItem>& items = *sorted;
  for (const store_detail::ExtensionItem& item : items) {
    if (!is_uuid(item.transfer_id)) {
      return fail(ErrorCode::kNotFound, "no transfer " + item.transfer_id);
    }
  }

  auto run = [&]() -> Result<int> {
    if (items.empty()) return 0;
    store_detail::ArrayLiteral ids, last_sequences, next_occurrences, written_at, end_dates, counts;
    std::vector<Job> new_jobs;
    for (const store_detail::ExtensionItem& item : items) {
      const Extension& e = *item.extension;
      int64_t last_sequence = 0;
      for (const Job& job : e.new_jobs) last_sequence = std::max(last_sequence, job.sequence);
      ids.add(item.transfer_id);
      last_sequences.add(SqlValue(last_sequence));
      next_occurrences.add(store_detail::opt_time(e.next_occurrence_at));
      written_at.add(format_timestamp(e.now));
      store_detail::add_planned_end(e.planned_end, end_dates, counts);
      new_jobs.insert(new_jobs.end(), e.new_jobs.begin(), e.new_jobs.end());
    }
    std::vector<SqlValue> params{ids.str(), last_sequences.str(), next_occurrences.str(),
                                 written_at.str()};
    for (SqlValue& column : store_detail::job_arrays(new_jobs)) params.push_back(std::move(column));
    params.emplace_back(end_dates.str());
    params.emplace_back(counts.str());

    std::vector<PgStatement> batch{{&begin_sql, {}}, {&extend_sql, std::move(params)}};
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
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
    const PgResult& extended = (*results)[1];
    const int locked = std::stoi(std::string(extended.text(0, 0).value_or("0")));
    const int inserted = std::stoi(std::string(extended.text(0, 1).value_or("0")));
    if (locked < static_cast<int>(items.size())) {
      // Some are not ACTIVE or PAUSED (nothing was written for them), or unknown: the whole
      // batch is rolled back for an unknown one.
      std::vector<std::string> all;
      all.reserve(items.size());
      for (const store_detail::ExtensionItem& item : items) all.push_back(item.transfer_id);
      auto found = (*c)->query(found_sql, {store_detail::uuid_array(all)});
      if (!found) return rollback(found.error());
      if (found->rows() < static_cast<int>(items.size())) {
        std::vector<std::string_view> known;
        known.reserve(found->rows());
        for (int row = 0; row < found->rows(); ++row) known.push_back(*found->text(row, 0));
        for (const store_detail::ExtensionItem& item : items) {
          if (std::find(known.begin(), known.end(), item.transfer_id) == known.end()) {
            return rollback(Error{ErrorCode::kNotFound, "no transfer " + item.transfer_id, {}, {}});
          }
        }
      }
    }
    // The COMPLETED check of an exhausted schedule comes after the batch (a new statement,
    // hence a new snapshot), so it sees the batch's jobs and every completion of the transfer
    // that committed before the lock; only for the transfers the batch locked (their end is
    // the planned one, and nothing can change them until COMMIT).
    std::set<std::string, std::less<>> locked_ids;
    for (auto part : std::views::split(extended.text(0, 2).value_or(""), ',')) {
      locked_ids.emplace(std::string_view(part));
    }
    std::vector<Event> events;
    for (const store_detail::ExtensionItem& item : items) {
      if (!item.extension->schedule_exhausted || !locked_ids.contains(item.transfer_id)) continue;
      auto done = (*c)->query(
          store_detail::kCompleteIfDoneSql,
          {store_detail::uuid_array({item.transfer_id}), format_timestamp(item.extension->now)});
      if (!done) return rollback(done.error());
      if (auto e = store_detail::add_completed_events(*done, events); !e) {
        return rollback(e.error());
      }
    }
    if (auto r = store_detail::commit_with_events(**c, events); !r) {
      return std::unexpected(r.error());
    }
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
