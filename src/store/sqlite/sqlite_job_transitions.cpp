// SqliteStore's job transitions: claiming one job, writing a processing outcome, and an
// operator's retry of a FAILED job.
#include <algorithm>
#include <unordered_map>

#include "core/time_format.hpp"
#include "store/events.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/transfer_changes.hpp"

namespace rtjobs {

using store_detail::RowView;
using store_detail::SqlValue;
using namespace store_detail::sqlite;

namespace {

using Connection = store_detail::SqliteConnection;

// The job with its transfer's status, read together.
struct JobAndTransferStatus {
  Job job;
  TransferStatus transfer_status;
};

Result<std::optional<JobAndTransferStatus>> select_job_for_claim(Connection& c,
                                                                 const std::string& id) {
  static const std::string sql =
      "SELECT " + store_detail::qualified(store_detail::kJobColumns, "j") +
      ", t.status FROM recurring_transfer_job j JOIN recurring_transfer t"
      " ON t.id = j.recurring_transfer_id WHERE j.id = ?1";
  std::optional<JobAndTransferStatus> found;
  auto r = c.run(sql, {id}, [&](const RowView& row) -> Result<void> {
    auto job = store_detail::read_job(row, 0);
    if (!job) return std::unexpected(job.error());
    auto status = parse_transfer_status(row.text(store_detail::kJobColumnCount).value_or(""));
    if (!status) return fail(ErrorCode::kInternal, "reading recurring_transfer: bad status");
    found = JobAndTransferStatus{std::move(*job), *status};
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return found;
}

}  // namespace

Result<void> SqliteStore::with_claimed_transfers(ClaimedBatch& batch) {
  static const std::string sql = kSelectTransfer + " WHERE id IN (SELECT value FROM json_each(?1))";
  if (claim_committed_) claim_committed_();
  if (batch.claimed.empty()) return {};
  std::vector<std::string> ids;
  ids.reserve(batch.claimed.size());
  for (const auto& [index, claimed] : batch.claimed) {
    ids.push_back(claimed.job.recurring_transfer_id);
  }
  auto rows = read<std::vector<RecurringTransfer>>([&](Connection& c) {
    return query<RecurringTransfer>(c, sql, {json_array(ids)}, store_detail::read_transfer);
  });
  if (!rows) return std::unexpected(rows.error().context("reading the claimed jobs' transfers"));
  std::unordered_map<std::string_view, const RecurringTransfer*> by_id;
  for (const RecurringTransfer& t : *rows) by_id.emplace(t.id, &t);
  for (auto& [index, claimed] : batch.claimed) {
    auto t = by_id.find(claimed.job.recurring_transfer_id);
    if (t == by_id.end()) return fail(ErrorCode::kInternal, "claimed job's transfer");
    auto pinned = store_detail::with_pinned_terms(*t->second, claimed);
    if (!pinned) return std::unexpected(pinned.error());
    batch.results[index] = {ClaimStatus::kClaimed, std::move(claimed.job), std::move(*pinned)};
  }
  return {};
}

Result<ClaimResult> SqliteStore::claim_job(const ClaimRequest& request) {
  static const std::string claim_sql =
      "UPDATE recurring_transfer_job SET status = 'PROCESSING', lease_owner = ?2,"
      " lease_expires_at = ?3, updated_at = ?4,"
      " retries = CASE WHEN status = 'PROCESSING' THEN MAX(retries, MIN(retries + 1, ?5))"
      " ELSE retries END,"
      " outcome_unknown = CASE WHEN status = 'PROCESSING' THEN 1 ELSE outcome_unknown END, " +
      pin_terms_sql("recurring_transfer_id") + " WHERE id = ?1 RETURNING " + kJobCols + ", " +
      std::string(store_detail::kPinnedTermColumns);
  static const std::string finish_sql =
      "UPDATE recurring_transfer_job SET status = ?2, finished_at = ?3, updated_at = ?3,"
      " lease_owner = NULL, lease_expires_at = NULL WHERE id = ?1 RETURNING " +
      kJobCols;
  std::string id = store_detail::normalize_id(request.job_id);
  std::string now = format_timestamp(request.now);
  // Repeated deliveries mostly find the job terminal, not due or held: answer those from a read
  // connection, so they never queue for the single writer. The write below decides again.
  auto peek =
      read<std::optional<ClaimResult>>([&](Connection& c) -> Result<std::optional<ClaimResult>> {
        auto found = select_job_for_claim(c, id);
        if (!found) return std::unexpected(found.error());
        if (!*found) return ClaimResult{ClaimStatus::kNotFound, std::nullopt, std::nullopt};
        Job& job = (*found)->job;
        switch (decide_claim(job, (*found)->transfer_status, request.now)) {
          case ClaimAction::kNotDue:
            return ClaimResult{ClaimStatus::kNotDue, std::move(job), {}};
          case ClaimAction::kInProgress:
            return ClaimResult{ClaimStatus::kInProgress, std::move(job), {}};
          case ClaimAction::kTerminal:
            return ClaimResult{ClaimStatus::kTerminal, std::move(job), {}};
          default:
            return std::optional<ClaimResult>{};
        }
      });
  if (!peek) return std::unexpected(peek.error().context("claiming job " + id));
  if (*peek) return std::move(**peek);
  auto answered = [](ClaimResult result) {
    ClaimedBatch batch;
    batch.results.push_back(std::move(result));
    return batch;
  };
  auto r = write<ClaimedBatch>([&](Connection& c) -> Result<ClaimedBatch> {
    auto found = select_job_for_claim(c, id);
    if (!found) return std::unexpected(found.error());
    if (!*found) return answered({ClaimStatus::kNotFound, std::nullopt, std::nullopt});
    Job& job = (*found)->job;
    ClaimAction action = decide_claim(job, (*found)->transfer_status, request.now);
    switch (action) {
      case ClaimAction::kNotDue:
        return answered({ClaimStatus::kNotDue, std::move(job), {}});
      case ClaimAction::kInProgress:
        return answered({ClaimStatus::kInProgress, std::move(job), {}});
      case ClaimAction::kTerminal:
        return answered({ClaimStatus::kTerminal, std::move(job), {}});
      case ClaimAction::kSkip:
      case ClaimAction::kCancel: {
        // A due job of a PAUSED transfer is skipped; of a CANCELLED one, cancelled (a
        // lease-expired one loses its lease).
        bool skip = action == ClaimAction::kSkip;
        std::string status = skip ? "SKIPPED" : "CANCELLED";
        auto done = query_one<Job>(c, finish_sql, {id, status, now}, store_detail::read_job);
        if (!done) return std::unexpected(done.error());
        if (!*done) return fail(ErrorCode::kInternal, "job " + id + " vanished");
        std::vector<Event> events{
            store_detail::job_event(skip ? "job.skipped" : "job.cancelled", **done, request.now)};
        if (skip) {  // perhaps the transfer's last occurrence
          auto up = complete_transfer(c, kCompleteIfDone, (*done)->recurring_transfer_id,
                                      request.now, events);
          if (!up) return std::unexpected(up.error());
        }
        if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
        return answered(
            {skip ? ClaimStatus::kSkipped : ClaimStatus::kTerminal, std::move(*done), {}});
      }
      case ClaimAction::kClaim:
        break;
    }
    auto claimed = query_one<store_detail::ClaimedJob>(
        c, claim_sql,
        {id, request.lease_owner, format_timestamp(request.lease_expires_at), now,
         int64_t{request.max_retries}},
        store_detail::read_claimed_job);
    if (!claimed) return std::unexpected(claimed.error());
    if (!*claimed) return fail(ErrorCode::kInternal, "job " + id + " vanished");
    ClaimedBatch batch = answered({ClaimStatus::kClaimed, std::nullopt, std::nullopt});
    batch.claimed.emplace_back(0, std::move(**claimed));  // its transfer read after the commit
    return batch;
  });
  if (!r) return std::unexpected(r.error().context("claiming job " + id));
  if (auto read = with_claimed_transfers(*r); !read) {
    return std::unexpected(read.error().context("claiming job " + id));
  }
  return std::move(r->results.front());
}

namespace {

// Applies one completion inside the caller's transaction and adds its event to `events`;
// `transfer_id` receives the job's transfer when the write was done, and `unplanned` whether
// it had new jobs for a transfer whose schedule end is no longer the planned one. The guarded
// UPDATE of the job comes first, returning the job as written (the event's data); when it changes
// no row the lease was lost and nothing else is written. The statements after it cannot fail for
// this completion alone (only an I/O or a constraint error, which fails the whole batch), so no
// savepoint is needed.
Result<CompletionResult> apply_completion(Connection& c, const Completion& k, const std::string& id,
                                          std::string& transfer_id, bool& unplanned,
                                          std::vector<Event>& events) {
  static const std::string update_sql =
      "UPDATE recurring_transfer_job SET status = ?3, result = ?4, retries = ?5,"
      " next_attempt_at = ?6, provider_reference = COALESCE(?7, provider_reference),"
      " last_error = ?8, finished_at = ?9, lease_owner = NULL, lease_expires_at = NULL,"
      " updated_at = ?10, bank_status = COALESCE(?11, bank_status),"
      " settlement_status = IIF(?3 = 'FINISHED', ?12, settlement_status),"
      " settlement_check_at = IIF(?3 = 'FINISHED', ?13, settlement_check_at),"
      " settled_at = IIF(?3 = 'FINISHED', NULL, settled_at),"
      " return_code = IIF(?3 = 'FINISHED', NULL, return_code), outcome_unknown = ?14"
      " WHERE id = ?1 AND status = 'PROCESSING' AND lease_owner = ?2"
      " RETURNING " +
      kJobCols;
  static const std::string sequence_sql =
      "UPDATE recurring_transfer SET last_sequence = ?2, next_occurrence_at = ?4, updated_at = ?3"
      " WHERE id = ?1 AND last_sequence < ?2";
  // A transfer cancelled while its job was at the bank gets no new occurrence, nor one whose
  // schedule end a PATCH changed since the claim.
  static const std::string live_sql =
      "SELECT end_date, \"count\" FROM recurring_transfer WHERE id = ?1"
      " AND status IN ('ACTIVE', 'PAUSED')";
  std::string now = format_timestamp(k.now);
  std::vector<SqlValue> values{
      id,
      k.lease_owner,
      std::string(to_string(k.status)),
      k.result ? SqlValue(std::string(to_string(*k.result))) : SqlValue(),
      int64_t{k.retries},
      k.status == JobStatus::kRetry ? store_detail::opt_time(k.next_attempt_at) : SqlValue(),
      store_detail::opt_text(k.provider_reference),
      store_detail::opt_text(k.last_error),
      is_terminal(k.status) ? SqlValue(now) : SqlValue(),
      now,
      store_detail::opt_text(k.bank_status),
      k.settlement_status ? SqlValue(std::string(to_string(*k.settlement_status))) : SqlValue(),
      store_detail::opt_time(k.settlement_check_at),
      int64_t{k.status == JobStatus::kRetry && k.outcome_unknown ? 1 : 0}};
  transfer_id.clear();
  unplanned = false;
  auto updated = query_one<Job>(c, update_sql, values, store_detail::read_job);
  if (!updated) return std::unexpected(updated.error());
  if (!*updated) {
    auto found = select_job(c, id);
    if (!found) return std::unexpected(found.error());
    return CompletionResult{CompletionStatus::kLeaseLost, std::move(*found)};
  }
  const Job& job = **updated;
  transfer_id = job.recurring_transfer_id;
  if (auto type = store_detail::job_event_type(job)) {
    events.push_back(store_detail::job_event(*type, job, k.now));
  }
  if (k.provider_status) {
    auto ins = c.run(kInsertStatus, store_detail::provider_status_values(*k.provider_status));
    if (!ins) return std::unexpected(ins.error().context("inserting provider status"));
  }
  int64_t last_sequence = 0;
  bool live = false;
  if (!k.new_jobs.empty()) {
    auto found = c.run(live_sql, {transfer_id}, [&](const RowView& row) -> Result<void> {
      live = has_end(row, 0, k.planned_end);
      unplanned = !live;
      return {};
    });
    if (!found) return std::unexpected(found.error().context("reading the transfer's status"));
  }
  for (const Job& next : k.new_jobs) {
    if (!live) break;
    auto ins = c.run(kInsertJob, store_detail::job_values(next));
    if (!ins) return std::unexpected(ins.error().context("inserting next job"));
    last_sequence = std::max(last_sequence, next.sequence);
  }
  if (last_sequence > 0) {
    auto up = c.run(sequence_sql, {transfer_id, last_sequence, now,
                                   store_detail::opt_time(k.next_occurrence_at)});
    if (!up) return std::unexpected(up.error().context("updating last_sequence"));
  }
  CompletionResult out{CompletionStatus::kWritten, std::nullopt};
  if (k.return_job) out.job = std::move(**updated);
  return out;
}

}  // namespace

Result<std::vector<CompletionResult>> SqliteStore::complete_jobs(
    std::span<const Completion> completions) {
  if (completions.empty()) return std::vector<CompletionResult>{};
  auto r = write<std::vector<CompletionResult>>(
      [&](Connection& c) -> Result<std::vector<CompletionResult>> {
        std::vector<CompletionResult> out;
        out.reserve(completions.size());
        std::vector<std::string> transfer_ids(completions.size());
        std::vector<char> unplanned(completions.size());
        std::vector<Event> events;
        events.reserve(completions.size());
        for (size_t i = 0; i < completions.size(); ++i) {
          std::string id = store_detail::normalize_id(completions[i].job_id);
          bool changed_end = false;
          auto written =
              apply_completion(c, completions[i], id, transfer_ids[i], changed_end, events);
          unplanned[i] = changed_end ? 1 : 0;
          if (!written) return std::unexpected(written.error().context("completing job " + id));
          out.push_back(std::move(*written));
        }
        // After every job of the batch is written, so the last two jobs of a transfer completed
        // in one batch see each other as terminal. Only for completions that held their lease,
        // as Store::Completion says, and exhausted as the database has it (a PATCH may have
        // moved the end since the claim).
        for (size_t i = 0; i < completions.size(); ++i) {
          const Completion& k = completions[i];
          const bool check =
              k.schedule_exhausted || unplanned[i] || (k.new_jobs.empty() && is_terminal(k.status));
          if (!check || out[i].status != CompletionStatus::kWritten) continue;
          auto up = complete_transfer(c, kCompleteIfDone, transfer_ids[i], k.now, events);
          if (!up)
            return std::unexpected(up.error().context("completing transfer " + transfer_ids[i]));
        }
        if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
        return out;
      });
  if (!r) {
    return std::unexpected(
        r.error().context("writing " + std::to_string(completions.size()) + " job outcomes"));
  }
  return r;
}

Result<Job> SqliteStore::retry_failed_job(std::string_view job_id, Timestamp now,
                                          std::string_view actor) {
  // FAILED is terminal, so finished_at goes back to NULL: the job is live again. The transfer's
  // status is read in the same write transaction as the update (one writer: a cancel is wholly
  // before or after it).
  static const std::string sql =
      "UPDATE recurring_transfer_job SET status = 'RETRY', retries = 0, next_attempt_at = ?2,"
      " finished_at = NULL, updated_at = ?2 WHERE id = ?1 AND status = 'FAILED' RETURNING " +
      kJobCols;
  std::string id = store_detail::normalize_id(job_id);
  auto r = write<Job>([&](Connection& c) -> Result<Job> {
    auto found = select_job_for_claim(c, id);
    if (!found) return std::unexpected(found.error());
    if (!*found) return fail(ErrorCode::kNotFound, "no job " + id);
    const JobAndTransferStatus& current = **found;
    if (current.job.status != JobStatus::kFailed ||
        current.transfer_status == TransferStatus::kCancelled) {
      return std::unexpected(
          store_detail::retry_refusal(id, current.job.status, current.transfer_status));
    }
    auto retried = query_one<Job>(c, sql, {id, format_timestamp(now)}, store_detail::read_job);
    if (!retried) return std::unexpected(retried.error());
    if (!*retried) return fail(ErrorCode::kInternal, "job " + id + " was not retried");
    auto ins = insert_events(c, {store_detail::job_event("job.retrying", **retried, now)});
    if (!ins) return std::unexpected(ins.error());
    auto recorded = insert_change(
        c, store_detail::job_change("job_retried", **retried, JobStatus::kFailed, actor, now));
    if (!recorded) return std::unexpected(recorded.error());
    return std::move(**retried);
  });
  if (!r) return std::unexpected(r.error().context("retrying job " + id));
  return r;
}

}  // namespace rtjobs
