// PgStore's job transitions: claiming a job and writing a processing outcome (the two hot
// paths), and an operator's retry of a FAILED job.
#include <algorithm>
#include <charconv>
#include <ranges>
#include <set>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
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
  // The claim itself: one UPDATE whose WHERE is the claimable condition (decide_claim's kClaim,
  // in SQL). Concurrent claimers queue on the row lock and re-check the condition against the
  // winner's row, so exactly one matches. The transfer comes back in the same round trip. The
  // transfer row is not locked: a cancel locks the transfer and then its live jobs, so a claim
  // that read the transfer before the cancel committed either took the job first (the cancel
  // then leaves it at the bank, as any job claimed before it) or finds it CANCELLED on re-check;
  // a lease-expired job, which a cancel leaves alone, was claimed from the state before it.
  // Due and expired are judged on the database's clock ($5, see db_now); the lease starts at
  // that instant and lasts the request's lease ($3), and updated_at is that instant too, so
  // the job records when it was claimed on the clock its lease runs on.
  static const std::string claim_sql =
      "UPDATE recurring_transfer_job j SET status = 'PROCESSING', lease_owner = $2,"
      " lease_expires_at = " +
      store_detail::lease_expiry("$5", "$3") + ", updated_at = " + store_detail::db_now("$5") +
      ", retries = CASE WHEN j.status = 'PROCESSING'"
      " THEN GREATEST(j.retries, LEAST(j.retries + 1, $4::integer)) ELSE j.retries END,"
      " outcome_unknown = CASE WHEN j.status = 'PROCESSING' THEN 1 ELSE j.outcome_unknown END,"
      " amount = COALESCE(j.amount, t.amount),"
      " description = COALESCE(j.description, t.description)"
      " FROM recurring_transfer t WHERE j.id = $1::uuid AND t.id = j.recurring_transfer_id AND " +
      store_detail::claim_due_sql("j", store_detail::db_now("$5")) + " AND " +
      store_detail::claim_outcome_sql("j", "t") + " = 'PROCESSING' RETURNING " +
      store_detail::qualified(store_detail::kJobColumns, "j") + ", " +
      store_detail::qualified(store_detail::kPinnedTermColumns, "j") + ", " +
      store_detail::qualified(store_detail::kTransferColumns, "t");
  // With the instant the database judges by, for decide_claim to judge as the claim did.
  static const std::string inspect_sql = "SELECT " +
                                         store_detail::qualified(store_detail::kJobColumns, "j") +
                                         ", t.status, " + store_detail::db_now("$2") +
                                         " FROM recurring_transfer_job j JOIN recurring_transfer t"
                                         " ON t.id = j.recurring_transfer_id WHERE j.id = $1::uuid";
  // A due job of a PAUSED transfer is skipped; of a CANCELLED one, cancelled (a lease-expired
  // one loses its lease). Due on the database's clock ($2), which the job's finished_at and
  // updated_at record, as the claim's. The transfer is locked first (lock_sql, the lock order
  // of pg_maintenance.cpp), so its completion (kCompleteIfDoneSql) sees every job written.
  static const std::string lock_sql =
      "SELECT t.id FROM recurring_transfer t WHERE t.id = (SELECT recurring_transfer_id"
      " FROM recurring_transfer_job WHERE id = $1::uuid) FOR NO KEY UPDATE";
  static const std::string finish_sql =
      "UPDATE recurring_transfer_job j SET status = " + store_detail::claim_outcome_sql("j", "t") +
      ", finished_at = " + store_detail::db_now("$2") +
      ", updated_at = " + store_detail::db_now("$2") +
      ", lease_owner = NULL,"
      " lease_expires_at = NULL FROM recurring_transfer t"
      " WHERE j.id = $1::uuid AND t.id = j.recurring_transfer_id AND " +
      store_detail::claim_due_sql("j", store_detail::db_now("$2")) + " AND " +
      store_detail::claim_outcome_sql("j", "t") + " IN ('SKIPPED', 'CANCELLED') RETURNING " +
      store_detail::qualified(store_detail::kJobColumns, "j");

  static const std::string begin_sql = "BEGIN";
  std::string id = store_detail::normalize_id(request.job_id);
  auto run = [&]() -> Result<ClaimResult> {
    if (!is_uuid(id)) return ClaimResult{ClaimStatus::kNotFound, {}, {}};
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    const SqlValue clock_now = clock(request.now);
    std::optional<Job> last_seen;
    // The state can change between the statements below; a few rounds settle any race.
    for (int round = 0; round < 3; ++round) {
      auto claimed =
          (*c)->query(claim_sql, {id, request.lease_owner,
                                  store_detail::lease_ms(request.now, request.lease_expires_at),
                                  int64_t{request.max_retries}, clock_now});
      if (!claimed) return std::unexpected(claimed.error());
      if (claimed->rows() == 1) {
        auto job = store_detail::read_claimed_job(PgRow(*claimed, 0), 0);
        if (!job) return std::unexpected(job.error());
        auto transfer =
            store_detail::read_transfer(PgRow(*claimed, 0), store_detail::kJobColumnCount + 2);
        if (!transfer) return std::unexpected(transfer.error());
        auto pinned = store_detail::with_pinned_terms(std::move(*transfer), *job);
        if (!pinned) return std::unexpected(pinned.error());
        return ClaimResult{ClaimStatus::kClaimed, std::move(job->job), std::move(*pinned)};
      }
      auto inspected = (*c)->query(inspect_sql, {id, clock_now});
      if (!inspected) return std::unexpected(inspected.error());
      auto job = job_at(*inspected);
      if (!job) return std::unexpected(job.error());
      if (!*job) return ClaimResult{ClaimStatus::kNotFound, {}, {}};
      auto transfer_status =
          parse_transfer_status(inspected->text(0, store_detail::kJobColumnCount).value_or(""));
      if (!transfer_status) return fail(ErrorCode::kInternal, "bad transfer status");
      auto db_now =
          parse_timestamp(inspected->text(0, store_detail::kJobColumnCount + 1).value_or(""));
      if (!db_now) return fail(ErrorCode::kInternal, "bad database time");
      last_seen = **job;
      switch (decide_claim(**job, *transfer_status, *db_now)) {
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
      // A transaction: the skip or cancel, perhaps the transfer's completion, and their events.
      auto finished = store_detail::run_checked(
          **c, {{&begin_sql, {}}, {&lock_sql, {id}}, {&finish_sql, {id, clock_now}}});
      if (!finished) return std::unexpected(finished.error());
      auto done = job_at((*finished)[2]);
      if (!done) return std::unexpected(done.error());
      if (!*done) {
        if (auto r = (*c)->exec("COMMIT"); !r) return std::unexpected(r.error());
        continue;
      }
      const Job& ended = **done;
      const Timestamp at = ended.finished_at.value_or(request.now);
      std::vector<Event> events{store_detail::job_event(
          store_detail::job_event_type(ended).value_or("job.cancelled"), ended, at)};
      ClaimStatus status =
          ended.status == JobStatus::kSkipped ? ClaimStatus::kSkipped : ClaimStatus::kTerminal;
      if (status == ClaimStatus::kSkipped) {  // perhaps the transfer's last occurrence
        // Completed at the instant its job was skipped.
        auto completed = (*c)->query(
            store_detail::kCompleteIfDoneSql,
            {store_detail::uuid_array({ended.recurring_transfer_id}), format_timestamp(at)});
        if (!completed) return std::unexpected(completed.error());
        if (auto e = store_detail::add_completed_events(*completed, events); !e) {
          return std::unexpected(e.error());
        }
      }
      if (auto r = store_detail::commit_with_events(**c, events); !r) {
        return std::unexpected(r.error());
      }
      return ClaimResult{status, std::move(*done), {}};
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
  // Lock order (see pg_maintenance.cpp): the transfers whose rows a completion will update
  // (new jobs, or a COMPLETED check) are locked first, in id order, before any job row; their
  // new jobs are inserted under that lock. The ids come from the jobs, server-side.
  static const std::string lock_transfers_sql =
      "SELECT 1 FROM recurring_transfer WHERE id = ANY(ARRAY(SELECT recurring_transfer_id"
      " FROM recurring_transfer_job WHERE id = ANY($1::uuid[]))) ORDER BY id FOR NO KEY UPDATE";
  // The batch statement's plan must not depend on the batch: planned once per connection
  // (generic), it is a nested loop over the completions in id order with one index lookup per
  // job (its primary key), whatever the size of the arrays. A custom plan
  // would be re-planned on every call (the whole CTE statement: it halved batches of one) and,
  // from the statistics, could as well hash-join a scan of every PROCESSING job.
  static const std::string generic_plans_sql = "SET LOCAL plan_cache_mode = force_generic_plan";
  // The whole batch in one statement, set-based: one array parameter per column, unnested WITH
  // ORDINALITY (the ordinality is the completion's position in job id order). Every write is
  // conditional on the guarded UPDATE (upd): a completion whose lease was lost matches no row,
  // so it writes nothing and returns no row, and the rest of the batch goes on. The guard is
  // the lease owner alone: it is set only while the job is PROCESSING (a constraint says so),
  // and a status test here would let the planner scan the partial index of every PROCESSING
  // job for each completion (it did, with statistics taken while none was).
  // - upd: a job named twice with the same lease (a duplicate outcome) is written once, by the
  //   first of them, as one statement per completion did (DISTINCT ON); the source comes in job
  //   id order, so the job rows are locked in id order (nested loop, one index lookup each).
  // - st: the provider statuses (a NULL id where the completion has none), of written jobs only.
  // - nj: the new jobs of every written completion, flattened (one array per job column + the
  //   index of the completion of each), inserted in (transfer, sequence) order; a (transfer,
  //   sequence) that exists, or comes twice in the batch, is inserted once (the first
  //   completion's).
  // - tr: one row per transfer (UPDATE ... FROM with several matches would apply an arbitrary
  //   one): the greatest new last_sequence and the next_occurrence_at of the first completion
  //   giving it, only forward.
  //   nj and tr write only for a transfer still ACTIVE or PAUSED whose schedule end is the one
  //   the completion planned with: one cancelled while its job was at the bank gets no new
  //   occurrence, nor one whose end a PATCH changed since the claim (the transfer row is locked
  //   since the start, so the status and end read are the ones the cancel or PATCH left).
  //   tr answers the transfers it moved (once, in the first row: a test per row against tr
  //   rescans it for each, quadratic in the batch); a completion with new jobs whose transfer
  //   it did not move is "unplanned", and its transfer is checked for completion as the
  //   database has it (kCompleteIfDoneSql).
  // pg_notify (once per transaction whatever the number of calls) fires only for a written
  // completion that is RETRY due now or created a job due now.
  // The planned ends come after the new jobs' columns and their parents.
  constexpr int kPlannedEndParam = 28 + store_detail::kJobColumnCount + 1;
  static const std::string completion_sql =
      "WITH upd AS (UPDATE recurring_transfer_job j SET status = c.status, result = c.result,"
      " retries = c.retries, next_attempt_at = c.next_attempt_at,"
      " provider_reference = COALESCE(c.provider_reference, j.provider_reference),"
      " last_error = c.last_error, finished_at = c.finished_at, lease_owner = NULL,"
      " lease_expires_at = NULL, updated_at = c.written_at,"
      " bank_status = COALESCE(c.bank_status, j.bank_status),"
      " settlement_status = CASE WHEN c.status = 'FINISHED' THEN c.settlement_status"
      " ELSE j.settlement_status END,"
      " settlement_check_at = CASE WHEN c.status = 'FINISHED' THEN c.settlement_check_at"
      " ELSE j.settlement_check_at END,"
      " settled_at = CASE WHEN c.status = 'FINISHED' THEN NULL ELSE j.settled_at END,"
      " return_code = CASE WHEN c.status = 'FINISHED' THEN NULL ELSE j.return_code END,"
      " outcome_unknown = c.outcome_unknown"
      " FROM (SELECT DISTINCT ON (job_id, owner) * FROM unnest($1::uuid[], $2::text[],"
      " $3::text[], $4::text[], $5::integer[], $6::timestamptz[], $7::text[], $8::text[],"
      " $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::timestamptz[],"
      " $13::boolean[], $14::text[], $15::text[], $16::timestamptz[], $17::integer[], $" +
      std::to_string(kPlannedEndParam) + "::date[], $" + std::to_string(kPlannedEndParam + 1) +
      "::integer[])"
      " WITH ORDINALITY AS u(job_id, owner, status, result, retries, next_attempt_at,"
      " provider_reference, last_error, finished_at, written_at, new_sequence,"
      " next_occurrence_at, notify, bank_status, settlement_status, settlement_check_at,"
      " outcome_unknown, end_date, sched_count, ord) ORDER BY job_id, owner, ord) c"
      " WHERE j.id = c.job_id AND j.lease_owner = c.owner"
      " RETURNING " +
      store_detail::qualified(store_detail::kJobColumns, "j") +
      ", c.ord, c.written_at, c.new_sequence, c.next_occurrence_at, c.notify, c.end_date,"
      " c.sched_count),"
      " st AS (INSERT INTO recurring_transfer_provider_status (" +
      std::string(store_detail::kProviderStatusColumns) + ") SELECT " +
      store_detail::qualified(store_detail::kProviderStatusColumns, "s") +
      " FROM unnest($18::uuid[], $19::uuid[], $20::uuid[], $21::text[], $22::integer[],"
      " $23::integer[], $24::text[], $25::text[], $26::text[], $27::timestamptz[])"
      " WITH ORDINALITY AS s(" +
      std::string(store_detail::kProviderStatusColumns) +
      ", ord) JOIN upd ON upd.ord = s.ord WHERE s.id IS NOT NULL ORDER BY s.ord),"
      " nj AS (INSERT INTO recurring_transfer_job (" +
      kJobCols + ") SELECT " + store_detail::qualified(store_detail::kJobColumns, "n") +
      " FROM unnest(" + store_detail::job_unnest_args(28) + ", $" +
      std::to_string(28 + store_detail::kJobColumnCount) + "::bigint[]) AS n(" + kJobCols +
      ", parent) JOIN upd ON upd.ord = n.parent JOIN recurring_transfer l"
      " ON l.id = n.recurring_transfer_id AND l.status IN ('ACTIVE', 'PAUSED')"
      " AND l.end_date IS NOT DISTINCT FROM upd.end_date"
      " AND l.\"count\" IS NOT DISTINCT FROM upd.sched_count"
      " ORDER BY n.recurring_transfer_id, n.sequence,"
      " n.parent ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING),"
      " tr AS (UPDATE recurring_transfer t SET last_sequence = a.new_sequence,"
      " next_occurrence_at = a.next_occurrence_at, updated_at = a.written_at"
      " FROM (SELECT DISTINCT ON (recurring_transfer_id) recurring_transfer_id, new_sequence,"
      " next_occurrence_at, written_at, end_date, sched_count FROM upd WHERE new_sequence > 0"
      " ORDER BY recurring_transfer_id, new_sequence DESC, ord) a"
      " WHERE t.id = a.recurring_transfer_id AND a.new_sequence > t.last_sequence"
      " AND t.status IN ('ACTIVE', 'PAUSED') AND t.end_date IS NOT DISTINCT FROM a.end_date"
      " AND t.\"count\" IS NOT DISTINCT FROM a.sched_count RETURNING t.id)"
      " SELECT ord, CASE WHEN notify THEN " +
      std::string(store_detail::kNotifyJobsDue) +
      "::text END, CASE WHEN ord = (SELECT min(ord) FROM upd)"
      " THEN (SELECT string_agg(id::text, ',') FROM tr) END";
  // The batch as above, answering with each written job: its event is built from it, and the
  // callers that want it (return_job) get it.
  static const std::string completion_jobs_sql = completion_sql + ", " + kJobCols + " FROM upd";
  // A separate statement, after the batch's writes: it sees them all (one statement sees a
  // single snapshot, not its own updates), and, the transfer being locked since the start,
  // every completion of the transfer that committed before. For the exhausted completions and
  // the terminal ones without new jobs (whose plan may predate a PATCH that ended the
  // schedule), and only when this transaction wrote the job (xmin). Exhausted as the database
  // has it (next_occurrence_at NULL), not as the plan said: a PATCH may have moved the end
  // since. One row per transfer: the first completion (in job id order) gives updated_at, as
  // when they were checked one by one.
  static const std::string completed_sql =
      "UPDATE recurring_transfer t SET status = 'COMPLETED', updated_at = e.written_at,"
      " version = t.version + 1"
      " FROM (SELECT DISTINCT ON (j.recurring_transfer_id) j.recurring_transfer_id, x.written_at"
      " FROM unnest($1::uuid[], $2::timestamptz[]) WITH ORDINALITY AS x(job_id, written_at, ord)"
      " JOIN recurring_transfer_job j ON j.id = x.job_id"
      " AND j.xmin = pg_current_xact_id()::xid ORDER BY j.recurring_transfer_id, x.ord) e"
      " WHERE t.id = e.recurring_transfer_id AND t.status IN ('ACTIVE', 'PAUSED')"
      " AND t.next_occurrence_at IS NULL AND NOT EXISTS (SELECT 1"
      " FROM recurring_transfer_job o WHERE o.recurring_transfer_id = t.id"
      " AND o.status NOT IN " +
      kTerminal + ") RETURNING " + store_detail::qualified(store_detail::kTransferColumns, "t");
  static const std::string select_jobs_sql =
      "SELECT " + kJobCols + " FROM recurring_transfer_job WHERE id = ANY($1::uuid[])";

  auto run = [&]() -> Result<std::vector<CompletionResult>> {
    using store_detail::ArrayLiteral;
    std::vector<CompletionResult> out(completions.size());
    std::vector<std::string> ids;
    ids.reserve(completions.size());
    // Jobs in id order, so two batches sharing a job (a stale lease and its successor) lock
    // their job rows in the same order and cannot wait for each other in a cycle.
    std::vector<size_t> order;
    for (size_t i = 0; i < completions.size(); ++i) {
      ids.push_back(store_detail::normalize_id(completions[i].job_id));
      out[i].status = CompletionStatus::kLeaseLost;  // until the statement returns the job
      if (is_uuid(ids[i])) order.push_back(i);       // else no such job: nothing to write
    }
    if (order.empty()) return out;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return ids[a] < ids[b]; });

    std::vector<std::string> locked_via;
    // One array per column of the completions, of their provider statuses, and the new jobs.
    constexpr int kCompletionColumns = 17;
    std::vector<ArrayLiteral> columns(kCompletionColumns +
                                      store_detail::kProviderStatusColumnCount);
    std::vector<Job> new_jobs;
    ArrayLiteral parents;
    ArrayLiteral planned_end_dates;
    ArrayLiteral planned_counts;
    bool any_end = false;        // else both arrays go empty: unnest pads them with NULLs
    ArrayLiteral exhausted_ids;  // the completions completed_sql checks
    ArrayLiteral exhausted_at;
    bool any_exhausted = false;
    for (size_t n = 0; n < order.size(); ++n) {
      const Completion& k = completions[order[n]];
      const std::string& id = ids[order[n]];
      std::string now = format_timestamp(k.now);
      int64_t last_sequence = 0;
      for (const Job& job : k.new_jobs) {
        last_sequence = std::max(last_sequence, job.sequence);
        new_jobs.push_back(job);
        parents.add(std::to_string(n + 1));
      }
      const bool check_done = k.schedule_exhausted || (k.new_jobs.empty() && is_terminal(k.status));
      if (last_sequence > 0 || check_done) locked_via.push_back(id);
      if (check_done) {
        exhausted_ids.add(id);
        exhausted_at.add(now);
        any_exhausted = true;
      }
      bool retry_now =
          k.status == JobStatus::kRetry && k.next_attempt_at && *k.next_attempt_at <= k.now;
      auto add = [&](int col, const std::optional<std::string>& value) {
        if (value) {
          columns[col].add(*value);
        } else {
          columns[col].add_null();
        }
      };
      auto when = [](bool condition, const std::optional<std::string>& value) {
        return condition ? value : std::nullopt;
      };
      std::optional<std::string> next_attempt_at;
      if (k.next_attempt_at) next_attempt_at = format_timestamp(*k.next_attempt_at);
      std::optional<std::string> next_occurrence_at;
      if (k.next_occurrence_at) next_occurrence_at = format_timestamp(*k.next_occurrence_at);
      std::optional<std::string> result;
      if (k.result) result = std::string(to_string(*k.result));
      add(0, id);
      add(1, k.lease_owner);
      add(2, std::string(to_string(k.status)));
      add(3, result);
      add(4, std::to_string(k.retries));
      add(5, when(k.status == JobStatus::kRetry, next_attempt_at));
      add(6, k.provider_reference);
      add(7, k.last_error);
      add(8, when(is_terminal(k.status), now));
      add(9, now);
      add(10, std::to_string(last_sequence));
      add(11, next_occurrence_at);
      add(12, std::string(retry_now || store_detail::any_due(k.new_jobs, k.now) ? "t" : "f"));
      add(13, k.bank_status);
      std::optional<std::string> settlement;
      if (k.settlement_status) settlement = std::string(to_string(*k.settlement_status));
      std::optional<std::string> check_at;
      if (k.settlement_check_at) check_at = format_timestamp(*k.settlement_check_at);
      add(14, settlement);
      add(15, check_at);
      add(16, std::string(k.status == JobStatus::kRetry && k.outcome_unknown ? "1" : "0"));
      store_detail::add_planned_end(k.planned_end, planned_end_dates, planned_counts);
      any_end = any_end || k.planned_end != ScheduleEnd{};
      if (k.provider_status) {
        auto status = store_detail::provider_status_values(*k.provider_status);
        for (int col = 0; col < store_detail::kProviderStatusColumnCount; ++col) {
          columns[kCompletionColumns + col].add(status[col]);
        }
      } else {
        for (int col = 0; col < store_detail::kProviderStatusColumnCount; ++col) {
          columns[kCompletionColumns + col].add_null();
        }
      }
    }
    std::vector<SqlValue> params;
    params.reserve(columns.size() + store_detail::kJobColumnCount + 1);
    for (const ArrayLiteral& column : columns) params.emplace_back(column.str());
    for (SqlValue& column : store_detail::job_arrays(new_jobs)) params.push_back(std::move(column));
    params.emplace_back(parents.str());
    params.emplace_back(any_end ? planned_end_dates.str() : "{}");
    params.emplace_back(any_end ? planned_counts.str() : "{}");

    std::vector<PgStatement> batch;
    batch.push_back({&begin_sql, {}});
    batch.push_back({&generic_plans_sql, {}});
    batch.push_back({&lock_transfers_sql, {store_detail::uuid_array(locked_via)}});
    batch.push_back({&completion_jobs_sql, std::move(params)});
    if (any_exhausted) {
      batch.push_back({&completed_sql, {exhausted_ids.str(), exhausted_at.str()}});
    }
    batch.push_back({&store_detail::kTransactionIdSql, {}});

    // Two round trips for the whole batch: the writes, answering with the rows as written;
    // then their events (built here from those rows) with the COMMIT.
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto results = store_detail::run_checked(**c, batch);
    if (!results) return std::unexpected(results.error());
    const PgResult& written = (*results)[3];
    std::vector<std::optional<Job>> after(order.size());  // by position in job id order
    std::set<std::string, std::less<>> moved;             // the transfers tr moved
    for (int row = 0; row < written.rows(); ++row) {
      for (auto id : std::views::split(written.text(row, 2).value_or(""), ',')) {
        moved.emplace(std::string_view(id));
      }
    }
    std::vector<std::string> unplanned;  // transfers, for kCompleteIfDoneSql
    Timestamp unplanned_at{};
    for (int row = 0; row < written.rows(); ++row) {
      auto ord = written.text(row, 0);
      size_t n = 0;
      if (ord) std::from_chars(ord->data(), ord->data() + ord->size(), n);
      if (n < 1 || n > order.size()) return fail(ErrorCode::kInternal, "bad completion index");
      auto job = store_detail::read_job(PgRow(written, row), 3);
      if (!job) return std::unexpected(job.error());
      if (!completions[order[n - 1]].new_jobs.empty() &&
          !moved.contains(job->recurring_transfer_id)) {
        unplanned.push_back(job->recurring_transfer_id);
        unplanned_at = completions[order[n - 1]].now;
      }
      after[n - 1] = std::move(*job);
    }
    std::vector<Event> events;
    events.reserve(order.size());
    for (size_t n = 0; n < order.size(); ++n) {
      if (!after[n]) continue;
      const Completion& k = completions[order[n]];
      auto type = store_detail::job_event_type(*after[n]);
      if (type) events.push_back(store_detail::job_event(*type, *after[n], k.now));
      CompletionResult& result = out[order[n]];
      result.status = CompletionStatus::kWritten;
      if (k.return_job) result.job = std::move(after[n]);
    }
    if (any_exhausted) {
      if (auto e = store_detail::add_completed_events((*results)[4], events); !e) {
        return std::unexpected(e.error());
      }
    }
    if (!unplanned.empty()) {  // rare: the end changed since the claim (locked since the start)
      auto done =
          (*c)->query(store_detail::kCompleteIfDoneSql,
                      {store_detail::uuid_array(unplanned), format_timestamp(unplanned_at)});
      if (!done) return std::unexpected(done.error());
      if (auto e = store_detail::add_completed_events(*done, events); !e) {
        return std::unexpected(e.error());
      }
    }
    std::string xid(results->back().text(0, 0).value_or(""));
    if (auto done = store_detail::commit_with_events(*c, pool_, xid, events); !done) {
      return std::unexpected(done.error());
    }
    std::vector<std::string> lost;
    for (size_t i : order) {
      if (out[i].status == CompletionStatus::kLeaseLost) lost.push_back(ids[i]);
    }
    if (lost.empty()) return out;
    // The jobs as found, for the completions whose lease was lost (rare: one more read), on
    // another connection if the commit's was lost.
    std::optional<store_detail::PgLease> other;
    if (!c->held()) {
      auto again = pool_.acquire();
      if (!again) return std::unexpected(again.error());
      other.emplace(std::move(*again));
    }
    store_detail::PgConnection& reader = other ? **other : **c;
    auto found = reader.query(select_jobs_sql, {store_detail::uuid_array(lost)});
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

Result<Job> PgStore::retry_failed_job(std::string_view job_id, Timestamp now,
                                      std::string_view actor) {
  // One transaction. The transfer row is locked first (FOR SHARE), which a cancel's lock on it
  // (change_transfer_status: the transfer, then its live jobs) waits for, and which waits for a
  // cancel's: the cancel is wholly before the retry (which then finds the transfer CANCELLED and
  // writes nothing) or wholly after it (and cancels the RETRY job with the others).
  static const std::string begin_sql = "BEGIN";
  static const std::string lock_sql =
      "SELECT j.status, t.status FROM recurring_transfer_job j JOIN recurring_transfer t"
      " ON t.id = j.recurring_transfer_id WHERE j.id = $1::uuid FOR SHARE OF t";
  // FAILED is terminal, so finished_at goes back to NULL: the job is live again, and due now:
  // by the database's clock ($3, see db_now), which judges it, and by the caller's ($2).
  static const std::string retry_sql =
      "UPDATE recurring_transfer_job j SET status = 'RETRY', retries = 0,"
      " next_attempt_at = LEAST($2::timestamptz, " +
      store_detail::db_now("$3") +
      "), finished_at = NULL, updated_at = $2::timestamptz"
      " FROM recurring_transfer t WHERE j.id = $1::uuid AND j.status = 'FAILED'"
      " AND t.id = j.recurring_transfer_id AND t.status <> 'CANCELLED' RETURNING " +
      store_detail::qualified(store_detail::kJobColumns, "j") + ", " +
      std::string(store_detail::kNotifyJobsDue) + "::text";
  std::string id = store_detail::normalize_id(job_id);
  auto run = [&]() -> Result<Job> {
    if (!is_uuid(id)) return fail(ErrorCode::kNotFound, "no job " + id);
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    // The retry, then its job.retrying event with the COMMIT.
    auto results =
        store_detail::run_checked(**c, {{&begin_sql, {}},
                                        {&lock_sql, {id}},
                                        {&retry_sql, {id, format_timestamp(now), clock(now)}}});
    if (!results) return std::unexpected(results.error());
    auto job = job_at((*results)[2]);
    if (!job) return std::unexpected(job.error());
    std::vector<Event> events;
    std::optional<TransferChange> change;
    if (*job) {
      events.push_back(store_detail::job_event("job.retrying", **job, now));
      change = store_detail::job_change("job_retried", **job, JobStatus::kFailed, actor, now);
    }
    if (auto done = store_detail::commit_with_events(**c, events, change); !done) {
      return std::unexpected(done.error());
    }
    if (*job) return std::move(**job);
    const PgResult& found = (*results)[1];
    if (found.rows() == 0) return fail(ErrorCode::kNotFound, "no job " + id);
    auto status = parse_job_status(found.text(0, 0).value_or(""));
    auto transfer_status = parse_transfer_status(found.text(0, 1).value_or(""));
    if (!status || !transfer_status) return fail(ErrorCode::kInternal, "bad status");
    return std::unexpected(store_detail::retry_refusal(id, *status, *transfer_status));
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("retrying job " + id));
  return r;
}

}  // namespace rtjobs
