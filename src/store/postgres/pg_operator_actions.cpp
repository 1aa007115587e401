// PgStore's operator actions: skipping a PENDING job, changing a transfer's terms, and the
// history those changes leave.
#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/events.hpp"
#include "store/postgres/pg_outbox.hpp"
#include "store/postgres/pg_rows.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/transfer_changes.hpp"

namespace rtjobs {

namespace {
using store_detail::SqlValue;
const std::string kTransferCols(store_detail::kTransferColumns);
const std::string kSelectTransfer = "SELECT " + kTransferCols + " FROM recurring_transfer";
}  // namespace

Result<Job> PgStore::skip_job(std::string_view job_id, Timestamp now, std::string_view actor) {
  // Lock order (pg_maintenance.cpp): the transfer first (it may become COMPLETED), then the job.
  static const std::string begin_sql = "BEGIN";
  static const std::string lock_sql =
      "SELECT j.status FROM recurring_transfer_job j JOIN recurring_transfer t"
      " ON t.id = j.recurring_transfer_id WHERE j.id = $1::uuid FOR NO KEY UPDATE OF t";
  // The state machine's rule (operator_may_skip) is the WHERE: a claim that took the job first
  // (READ COMMITTED re-checks the row after its lock) leaves it unmatched.
  static const std::string skip_sql =
      "UPDATE recurring_transfer_job SET status = 'SKIPPED', finished_at = $2::timestamptz,"
      " updated_at = $2::timestamptz WHERE id = $1::uuid AND status = 'PENDING' RETURNING " +
      std::string(store_detail::kJobColumns);
  static const std::string status_sql =
      "SELECT status FROM recurring_transfer_job WHERE id = $1::uuid";
  std::string id = store_detail::normalize_id(job_id);
  auto run = [&]() -> Result<Job> {
    if (!is_uuid(id)) return fail(ErrorCode::kNotFound, "no job " + id);
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    const std::string at = format_timestamp(now);
    auto results = store_detail::run_checked(
        **c, {{&begin_sql, {}}, {&lock_sql, {id}}, {&skip_sql, {id, at}}});
    if (!results) return std::unexpected(results.error());
    const store_detail::PgResult& updated = (*results)[2];
    if (updated.rows() == 0) {
      if (auto r = (*c)->exec("ROLLBACK"); !r) return std::unexpected(r.error());
      if ((*results)[1].rows() == 0) return fail(ErrorCode::kNotFound, "no job " + id);
      // The status that refused it: read again, since the lock's read may predate the claim
      // that took the job meanwhile.
      auto found = (*c)->query(status_sql, {id});
      if (!found) return std::unexpected(found.error());
      if (found->rows() == 0) return fail(ErrorCode::kNotFound, "no job " + id);
      auto status = parse_job_status(found->text(0, 0).value_or(""));
      if (!status) return fail(ErrorCode::kInternal, "bad job status");
      return std::unexpected(store_detail::skip_refusal(id, *status));
    }
    auto job = store_detail::read_job(store_detail::PgRow(updated, 0), 0);
    if (!job) return std::unexpected(job.error());
    std::vector<Event> events{store_detail::job_event("job.skipped", *job, now)};
    // Perhaps the transfer's last occurrence.
    auto completed = (*c)->query(store_detail::kCompleteIfDoneSql,
                                 {store_detail::uuid_array({job->recurring_transfer_id}), at});
    if (!completed) return std::unexpected(completed.error());
    if (auto e = store_detail::add_completed_events(*completed, events); !e) {
      return std::unexpected(e.error());
    }
    auto change = store_detail::job_change("job_skipped", *job, JobStatus::kPending, actor, now);
    if (auto done = store_detail::commit_with_events(**c, events, change); !done) {
      return std::unexpected(done.error());
    }
    return std::move(*job);
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("skipping job " + id));
  return r;
}

Result<RecurringTransfer> PgStore::patch_transfer(std::string_view id, const TransferPatch& patch,
                                                  Timestamp now, std::string_view actor) {
  // Lock order (pg_maintenance.cpp): the transfer, then its jobs. A completion, an extension or
  // a cancel of the transfer waits for the lock (and a completion or an extension planned
  // before it writes no occurrence under the old end: see Completion::planned_end); claims
  // take no transfer lock, and pin the terms they read, old or new, in the statement that
  // claims.
  static const std::string begin_sql = "BEGIN";
  static const std::string lock_sql = kSelectTransfer + " WHERE id = $1::uuid FOR NO KEY UPDATE";
  static const std::string pin_sql = "UPDATE recurring_transfer_job SET " +
                                     store_detail::pin_old_terms_sql('$') +
                                     " WHERE recurring_transfer_id = $1::uuid AND " +
                                     std::string(store_detail::kUnpinnedAttempted);
  // The jobs past the new end, locked: a claim that took one commits first and is seen (READ
  // COMMITTED returns the row as its lock finds it), or waits and then finds it deleted.
  static const std::string past_end_sql =
      "SELECT sequence, status, amount IS NOT NULL FROM recurring_transfer_job"
      " WHERE recurring_transfer_id = $1::uuid AND sequence > $2 ORDER BY id FOR UPDATE";
  static const std::string delete_sql =
      "DELETE FROM recurring_transfer_job WHERE recurring_transfer_id = $1::uuid"
      " AND sequence > $2";
  static const std::string insert_sql =
      "INSERT INTO recurring_transfer_job (" + std::string(store_detail::kJobColumns) +
      ") SELECT * FROM unnest(" + store_detail::job_unnest_args(1) +
      ") ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING";
  static const std::string update_sql =
      "UPDATE recurring_transfer SET amount = $2, description = $3, end_date = $5::date,"
      " \"count\" = $6::integer, last_sequence = $7, next_occurrence_at = $8::timestamptz,"
      " version = version + 1, updated_at = $4::timestamptz WHERE id = $1::uuid RETURNING " +
      kTransferCols;
  std::string key = store_detail::normalize_id(id);
  auto run = [&]() -> Result<RecurringTransfer> {
    if (!is_uuid(key)) return fail(ErrorCode::kNotFound, "no transfer " + key);
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto rollback = [&](Error error) -> Result<RecurringTransfer> {
      if (auto r = (*c)->exec("ROLLBACK"); !r) return std::unexpected(r.error());
      return std::unexpected(std::move(error));
    };
    auto locked = store_detail::run_checked(**c, {{&begin_sql, {}}, {&lock_sql, {key}}});
    if (!locked) return std::unexpected(locked.error());
    auto before =
        store_detail::first_of<RecurringTransfer>((*locked)[1], store_detail::read_transfer);
    if (!before) return rollback(before.error());
    if (!*before) return rollback(Error{ErrorCode::kNotFound, "no transfer " + key, {}, {}});
    if (auto refusal = store_detail::patch_refusal(**before, patch)) return rollback(*refusal);
    RecurringTransfer wanted = store_detail::patched(**before, patch);
    if (store_detail::same_terms(wanted, **before)) {
      if (auto r = (*c)->exec("ROLLBACK"); !r) return std::unexpected(r.error());
      return std::move(**before);
    }
    const std::string at = format_timestamp(now);
    std::vector<store_detail::PgStatement> writes;
    writes.push_back({&pin_sql, {key, (*before)->amount, (*before)->description}});
    std::optional<OccurrencePlan> plan;
    if (schedule_end(wanted.schedule) != schedule_end((*before)->schedule)) {
      if (!patch.plan) return rollback(Error{ErrorCode::kInternal, "no occurrence plan", {}, {}});
      auto planned = patch.plan(wanted);
      if (!planned) return rollback(planned.error());
      plan = std::move(*planned);
      auto past = (*c)->query(past_end_sql, {key, plan->kept});
      if (!past) return std::unexpected(past.error());
      for (int row = 0; row < past->rows(); ++row) {
        auto status = parse_job_status(past->text(row, 1).value_or(""));
        if (!status) return rollback(Error{ErrorCode::kInternal, "bad job status", {}, {}});
        int64_t sequence = std::stoll(std::string(past->text(row, 0).value_or("0")));
        if (auto refusal = store_detail::past_end_refusal(patch, sequence, *status,
                                                          past->text(row, 2) == "t")) {
          return rollback(*refusal);
        }
      }
      wanted.last_sequence = plan->kept;
      for (const Job& job : plan->new_jobs) {
        wanted.last_sequence = std::max(wanted.last_sequence, job.sequence);
      }
      wanted.next_occurrence_at = plan->next_occurrence_at;
      writes.push_back({&delete_sql, {key, plan->kept}});
      if (!plan->new_jobs.empty()) {
        writes.push_back({&insert_sql, store_detail::job_arrays(plan->new_jobs)});
      }
    }
    writes.push_back(
        {&update_sql,
         {key, wanted.amount, wanted.description, at,
          wanted.schedule.end_date ? SqlValue(format_date(*wanted.schedule.end_date)) : SqlValue(),
          wanted.schedule.count ? SqlValue(int64_t{*wanted.schedule.count}) : SqlValue(),
          wanted.last_sequence, store_detail::opt_time(wanted.next_occurrence_at)}});
    // A new statement, after the deletions and insertions, with the transfer locked since the
    // start: the new end may be reached already.
    if (plan && plan->exhausted) {
      writes.push_back({&store_detail::kCompleteIfDoneSql, {store_detail::uuid_array({key}), at}});
    }
    auto written = store_detail::run_checked(**c, writes);
    if (!written) return std::unexpected(written.error());
    const size_t updated_at = plan && plan->exhausted ? written->size() - 2 : written->size() - 1;
    auto changed = first_of<RecurringTransfer>((*written)[updated_at], store_detail::read_transfer);
    if (!changed) return std::unexpected(changed.error());
    if (!*changed) return fail(ErrorCode::kInternal, "transfer " + key + " was not changed");
    RecurringTransfer after = std::move(**changed);
    std::vector<Event> events;
    if (plan && plan->exhausted) {
      auto completed = first_of<RecurringTransfer>(written->back(), store_detail::read_transfer);
      if (!completed) return std::unexpected(completed.error());
      if (*completed) after = std::move(**completed);
      if (auto e = store_detail::add_completed_events(written->back(), events); !e) {
        return std::unexpected(e.error());
      }
    }
    auto change = store_detail::terms_change(**before, after, actor, now);
    if (auto done = store_detail::commit_with_events(**c, events, change); !done) {
      return std::unexpected(done.error());
    }
    return after;
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("changing transfer " + key));
  return r;
}

Result<Page<TransferChange>> PgStore::list_transfer_changes(std::string_view transfer_id, int limit,
                                                            std::optional<std::string> cursor) {
  auto transfer = get_transfer(transfer_id);
  if (!transfer) return std::unexpected(transfer.error());
  if (!*transfer) return fail(ErrorCode::kNotFound, "no recurring transfer with this id");
  store_detail::ListQuery q('$', store_detail::kChangeColumns, "recurring_transfer_change");
  q.where("recurring_transfer_id", "=", (*transfer)->id);
  return store_detail::list_page<TransferChange>(pool_, q, cursor, limit, store_detail::read_change,
                                                 "listing the changes of a transfer", true);
}

}  // namespace rtjobs
