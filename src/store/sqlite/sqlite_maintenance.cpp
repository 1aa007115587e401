// SqliteStore's operations for the built-in loops (src/maintenance): claiming due jobs in
// batches, rescuing expired leases, and extending transfers up to the horizon. Each is one
// BEGIN IMMEDIATE transaction on the write connection, which also serialises them against other
// processes on the same file, so no two callers ever claim the same job.
//
// The scans name their partial index (INDEXED BY): without statistics SQLite would rather read
// every job of a state through (status, id) and sort them, which grows with the backlog; the
// partial index reads only the `limit` first due rows, and a missing index fails at prepare time.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/time_format.hpp"
#include "store/due_index.hpp"
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

constexpr std::string_view kLeaseExpired =
    "lease expired: the process holding the job stopped before recording an outcome";

}  // namespace

Result<std::vector<ClaimResult>> SqliteStore::claim_due_jobs(const DueClaimRequest& request) {
  // One provider's due jobs (?5): each branch walks that provider's slice of its partial index
  // in due order and stops after `limit` rows; the merge keeps the `limit` oldest of both.
  static const std::string select_sql =
      "SELECT id, at FROM (SELECT id, due_at AS at FROM recurring_transfer_job"
      " INDEXED BY recurring_transfer_job_due_idx WHERE ?1 AND status IN ('PENDING', 'IN_FLY')"
      " AND provider = ?5 AND due_at <= ?3 ORDER BY due_at LIMIT ?4)"
      " UNION ALL SELECT id, at FROM (SELECT id, next_attempt_at AS at FROM recurring_transfer_job"
      " AS r INDEXED BY recurring_transfer_job_retry_idx WHERE ?2 AND status = 'RETRY'"
      " AND provider = ?5 AND next_attempt_at <= ?3 AND (SELECT " +
      store_detail::claim_outcome_sql("r", "t") +
      " FROM recurring_transfer t WHERE t.id = r.recurring_transfer_id) IS NOT NULL"
      " ORDER BY next_attempt_at LIMIT ?4) ORDER BY at, id LIMIT ?4";
  // For any provider: the providers either index holds (see due_index.hpp), each then selected
  // as above.
  static const std::string providers_sql =
      "WITH RECURSIVE " +
      store_detail::providers_cte("pending_providers", store_detail::kPendingIndex, true) + ", " +
      store_detail::providers_cte("retry_providers", store_detail::kRetryIndex, true) +
      " SELECT provider FROM pending_providers WHERE provider IS NOT NULL"
      " UNION SELECT provider FROM retry_providers WHERE provider IS NOT NULL";
  // What becomes of each job is decide_claim's rule in SQL (claim_outcome_sql): due jobs of a
  // CANCELLED transfer are cancelled, due PENDING/IN_FLY jobs of a PAUSED one skipped, the rest
  // claimed. RETRY jobs of a PAUSED transfer wait for its resume: the selection passes over
  // them, so they never take the place of a claimable job.
  static const std::string update_sql =
      "UPDATE recurring_transfer_job AS j SET status = d.next_status,"
      " lease_owner = IIF(d.next_status = 'PROCESSING', ?2, NULL),"
      " lease_expires_at = IIF(d.next_status = 'PROCESSING', ?3, NULL),"
      " finished_at = IIF(d.next_status = 'PROCESSING', NULL, ?4), updated_at = ?4,"
      " amount = IIF(d.next_status = 'PROCESSING', COALESCE(j.amount, d.amount), j.amount),"
      " description = IIF(d.next_status = 'PROCESSING', COALESCE(j.description, d.description),"
      " j.description)"
      " FROM (SELECT o.id AS id, t.amount AS amount, t.description AS description, " +
      store_detail::claim_outcome_sql("o", "t") +
      " AS next_status FROM recurring_transfer_job o"
      " JOIN recurring_transfer t ON t.id = o.recurring_transfer_id"
      " WHERE o.id IN (SELECT value FROM json_each(?1))) AS d"
      " WHERE j.id = d.id AND d.next_status IS NOT NULL RETURNING " +
      kJobCols + ", " + std::string(store_detail::kPinnedTermColumns);

  std::string now = format_timestamp(request.now);
  auto r = write<ClaimedBatch>([&](Connection& c) -> Result<ClaimedBatch> {
    std::vector<std::string> providers{request.provider};
    if (request.provider.empty()) {
      providers.clear();
      auto listed = c.run(providers_sql, {}, [&](const RowView& row) -> Result<void> {
        providers.emplace_back(row.text(0).value_or(""));
        return {};
      });
      if (!listed) return std::unexpected(listed.error());
    }
    const int limit = std::max(request.limit, 0);
    std::vector<std::pair<std::string, std::string>> due;  // at, id
    for (const std::string& provider : providers) {
      auto selected =
          c.run(select_sql,
                {int64_t{request.pending}, int64_t{request.retries}, now, int64_t{limit}, provider},
                [&](const RowView& row) -> Result<void> {
                  due.emplace_back(row.text(1).value_or(""), row.text(0).value_or(""));
                  return {};
                });
      if (!selected) return std::unexpected(selected.error());
    }
    // The oldest of all providers' (same-width UTC text sorts as time).
    std::sort(due.begin(), due.end());
    if (due.size() > static_cast<size_t>(limit)) due.resize(static_cast<size_t>(limit));
    if (due.empty()) return ClaimedBatch{};
    std::vector<std::string> ids;
    ids.reserve(due.size());
    for (auto& [at, id] : due) ids.push_back(std::move(id));

    auto jobs = query<store_detail::ClaimedJob>(
        c, update_sql,
        {json_array(ids), request.lease_owner, format_timestamp(request.lease_expires_at), now},
        store_detail::read_claimed_job);
    if (!jobs) return std::unexpected(jobs.error());

    // RETURNING has no defined order: give the results back in due order, as selected.
    std::unordered_map<std::string, size_t> position;
    for (size_t i = 0; i < ids.size(); ++i) position.emplace(ids[i], i);
    std::sort(jobs->begin(), jobs->end(),
              [&](const store_detail::ClaimedJob& a, const store_detail::ClaimedJob& b) {
                return position[a.job.id] < position[b.job.id];
              });
    ClaimedBatch batch;
    std::vector<Event> events;
    for (store_detail::ClaimedJob& claimed : *jobs) {
      Job& job = claimed.job;
      switch (job.status) {
        case JobStatus::kProcessing:  // its transfer is read after the commit
          batch.results.push_back({ClaimStatus::kClaimed, std::nullopt, std::nullopt});
          batch.claimed.emplace_back(batch.results.size() - 1, std::move(claimed));
          break;
        case JobStatus::kSkipped: {  // perhaps its transfer's last occurrence
          events.push_back(store_detail::job_event("job.skipped", job, request.now));
          auto up =
              complete_transfer(c, kCompleteIfDone, job.recurring_transfer_id, request.now, events);
          if (!up) return std::unexpected(up.error());
          batch.results.push_back({ClaimStatus::kSkipped, std::move(job), std::nullopt});
          break;
        }
        default:  // CANCELLED with its transfer
          events.push_back(store_detail::job_event("job.cancelled", job, request.now));
          batch.results.push_back({ClaimStatus::kTerminal, std::move(job), std::nullopt});
          break;
      }
    }
    if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
    return batch;
  });
  if (!r) return std::unexpected(r.error().context("claiming due jobs"));
  if (auto read = with_claimed_transfers(*r); !read) {
    return std::unexpected(read.error().context("claiming due jobs"));
  }
  return std::move(r->results);
}

Result<int> SqliteStore::rescue_expired_leases(Timestamp now, int max_retries, int limit) {
  static const std::string sql =
      "UPDATE recurring_transfer_job SET status = 'RETRY', next_attempt_at = lease_expires_at,"
      " retries = MAX(retries, MIN(retries + 1, ?2)), lease_owner = NULL,"
      " lease_expires_at = NULL, last_error = ?4, updated_at = ?1, outcome_unknown = 1"
      " WHERE id IN (SELECT id FROM recurring_transfer_job"
      " INDEXED BY recurring_transfer_job_lease_idx WHERE status = 'PROCESSING'"
      " AND lease_expires_at <= ?1 ORDER BY lease_expires_at LIMIT ?3) RETURNING " +
      kJobCols;
  auto r = write<int>([&](Connection& c) -> Result<int> {
    auto rescued = query<Job>(c, sql,
                              {format_timestamp(now), int64_t{max_retries},
                               int64_t{std::max(limit, 0)}, std::string(kLeaseExpired)},
                              store_detail::read_job);
    if (!rescued) return std::unexpected(rescued.error());
    // RETURNING has no defined order: the events go in job order (a transfer's in sequence).
    std::sort(rescued->begin(), rescued->end(),
              [](const Job& a, const Job& b) { return a.id < b.id; });
    std::vector<Event> events;
    events.reserve(rescued->size());
    for (const Job& job : *rescued)
      events.push_back(store_detail::job_event("job.retrying", job, now));
    if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
    return static_cast<int>(rescued->size());
  });
  if (!r) return std::unexpected(r.error().context("rescuing expired leases"));
  return r;
}

Result<Store::DueCounts> SqliteStore::count_due_jobs(Timestamp now, int64_t cap) {
  // As on PostgreSQL (the sum of each provider's due slice of the claims' index, each up to
  // the cap, without the retries that wait for their transfer's resume), with every read
  // naming its index.
  static const std::string sql =
      "WITH RECURSIVE " +
      store_detail::providers_cte("pending_providers", store_detail::kPendingIndex, true) + ", " +
      store_detail::providers_cte("retry_providers", store_detail::kRetryIndex, true) +
      " SELECT min(?2, (SELECT coalesce(sum((SELECT count(*) FROM (SELECT 1"
      " FROM recurring_transfer_job INDEXED BY recurring_transfer_job_due_idx"
      " WHERE status IN ('PENDING', 'IN_FLY') AND provider = p.provider AND due_at <= ?1"
      " LIMIT ?2))), 0) FROM pending_providers AS p)),"
      " min(?2, (SELECT coalesce(sum((SELECT count(*) FROM (SELECT 1"
      " FROM recurring_transfer_job INDEXED BY recurring_transfer_job_retry_idx"
      " WHERE status = 'RETRY' AND provider = p.provider AND next_attempt_at <= ?1" +
      std::string(store_detail::kNotPausedTransfer) +
      " LIMIT ?2))), 0) FROM retry_providers AS p))";
  DueCounts counts;
  auto r = read<int>([&](Connection& c) {
    return c.run(sql, {format_timestamp(now), std::max<int64_t>(cap, 0)},
                 [&](const RowView& row) -> Result<void> {
                   counts.pending = std::stoll(std::string(row.text(0).value_or("0")));
                   counts.retry = std::stoll(std::string(row.text(1).value_or("0")));
                   return {};
                 });
  });
  if (!r) return std::unexpected(r.error().context("counting due jobs"));
  return counts;
}

Result<std::vector<RecurringTransfer>> SqliteStore::transfers_to_extend(Timestamp until,
                                                                        int limit) {
  static const std::string sql =
      kSelectTransfer +
      " INDEXED BY recurring_transfer_extend_idx"
      " WHERE status IN ('ACTIVE', 'PAUSED') AND next_occurrence_at <= ?1"
      " ORDER BY next_occurrence_at, id LIMIT ?2";
  auto r = read<std::vector<RecurringTransfer>>([&](Connection& c) {
    return query<RecurringTransfer>(c, sql, {format_timestamp(until), int64_t{std::max(limit, 0)}},
                                    store_detail::read_transfer);
  });
  if (!r) return std::unexpected(r.error().context("listing transfers to extend"));
  return r;
}

Result<int> SqliteStore::extend_transfers(std::span<const Extension> extensions) {
  static const std::string status_sql =
      "SELECT status, last_sequence, end_date, \"count\" FROM recurring_transfer WHERE id = ?1";
  // Forward only: a concurrent completion may have created these occurrences and more. An
  // exhausted plan (?3 NULL) also clears a next_occurrence_at left behind, so it can complete.
  static const std::string sequence_sql =
      "UPDATE recurring_transfer SET last_sequence = MAX(last_sequence, ?2),"
      " next_occurrence_at = ?3, updated_at = ?4 WHERE id = ?1"
      " AND (last_sequence < ?2 OR ?3 IS NULL)";
  auto sorted = store_detail::sorted_extensions(extensions);
  if (!sorted) return std::unexpected(sorted.error());
  std::vector<Event> events;  // the transfers it completes
  // One extension, inside the batch's transaction.
  auto extend = [&](Connection& c, const std::string& id, const Extension& e) -> Result<int> {
    std::string now = format_timestamp(e.now);
    std::optional<std::string> status;
    int64_t created_up_to = 0;  // the occurrences up to the transfer's last_sequence exist
    bool planned = false;
    auto found = c.run(status_sql, {id}, [&](const RowView& row) -> Result<void> {
      status = std::string(row.text(0).value_or(""));
      created_up_to = std::stoll(std::string(row.text(1).value_or("0")));
      planned = has_end(row, 2, e.planned_end);
      return {};
    });
    if (!found) return std::unexpected(found.error());
    if (!status) return fail(ErrorCode::kNotFound, "no transfer " + id);
    // A transfer cancelled or completed since it was listed gets no new occurrences, nor one
    // whose schedule end changed (the next pass plans from the new one).
    if ((*status != "ACTIVE" && *status != "PAUSED") || !planned) return 0;
    int inserted = 0;
    int64_t last_sequence = 0;
    for (const Job& job : e.new_jobs) {
      if (job.sequence <= created_up_to) continue;  // a completion created it meanwhile
      auto ins = c.run(kInsertJob, store_detail::job_values(job));
      if (!ins) return std::unexpected(ins.error().context("job " + std::to_string(job.sequence)));
      inserted += *ins;
      last_sequence = std::max(last_sequence, job.sequence);
    }
    if (last_sequence > 0 || !e.next_occurrence_at) {
      auto up = c.run(sequence_sql,
                      {id, last_sequence, store_detail::opt_time(e.next_occurrence_at), now});
      if (!up) return std::unexpected(up.error().context("updating last_sequence"));
    }
    if (e.schedule_exhausted) {
      auto up = complete_transfer(c, kCompleteIfDone, id, e.now, events);
      if (!up) return std::unexpected(up.error().context("completing transfer"));
    }
    return inserted;
  };
  auto r = write<int>([&](Connection& c) -> Result<int> {
    int inserted = 0;
    events.clear();
    for (const store_detail::ExtensionItem& item : *sorted) {
      auto n = extend(c, item.transfer_id, *item.extension);
      if (!n) return std::unexpected(n.error().context("transfer " + item.transfer_id));
      inserted += *n;
    }
    if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
    return inserted;
  });
  if (!r) {
    return std::unexpected(
        r.error().context("extending " + std::to_string(extensions.size()) + " transfers"));
  }
  return r;
}

}  // namespace rtjobs
