// SqliteStore's operator actions: skipping a PENDING job, changing a transfer's terms, and the
// history those changes leave.
#include "core/time_format.hpp"
#include "store/events.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/transfer_changes.hpp"

namespace rtjobs {

using namespace store_detail::sqlite;

Result<Job> SqliteStore::skip_job(std::string_view job_id, Timestamp now, std::string_view actor) {
  // The state machine's rule (operator_may_skip) is the WHERE: one writer, one statement.
  static const std::string skip_sql =
      "UPDATE recurring_transfer_job SET status = 'SKIPPED', finished_at = ?2, updated_at = ?2"
      " WHERE id = ?1 AND status = 'PENDING' RETURNING " +
      kJobCols;
  std::string id = store_detail::normalize_id(job_id);
  auto r = write<Job>([&](store_detail::SqliteConnection& c) -> Result<Job> {
    auto skipped = query_one<Job>(c, skip_sql, {id, format_timestamp(now)}, store_detail::read_job);
    if (!skipped) return std::unexpected(skipped.error());
    if (!*skipped) {
      auto found = select_job(c, id);
      if (!found) return std::unexpected(found.error());
      if (!*found) return fail(ErrorCode::kNotFound, "no job " + id);
      return std::unexpected(store_detail::skip_refusal(id, (*found)->status));
    }
    std::vector<Event> events{store_detail::job_event("job.skipped", **skipped, now)};
    // Perhaps the transfer's last occurrence.
    auto up = complete_transfer(c, kCompleteIfDone, (*skipped)->recurring_transfer_id, now, events);
    if (!up) return std::unexpected(up.error());
    if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
    auto recorded = insert_change(
        c, store_detail::job_change("job_skipped", **skipped, JobStatus::kPending, actor, now));
    if (!recorded) return std::unexpected(recorded.error());
    return std::move(**skipped);
  });
  if (!r) return std::unexpected(r.error().context("skipping job " + id));
  return r;
}

Result<RecurringTransfer> SqliteStore::patch_transfer(std::string_view id,
                                                      const TransferPatch& patch, Timestamp now,
                                                      std::string_view actor) {
  static const std::string update_sql =
      "UPDATE recurring_transfer SET amount = ?2, description = ?3, end_date = ?6,"
      " \"count\" = ?7, last_sequence = ?8, next_occurrence_at = ?9, version = version + 1,"
      " updated_at = ?4 WHERE id = ?1 AND version = ?5 RETURNING " +
      kTransferCols;
  static const std::string pin_sql =
      "UPDATE recurring_transfer_job SET " + store_detail::pin_old_terms_sql('?') +
      " WHERE recurring_transfer_id = ?1 AND " + std::string(store_detail::kUnpinnedAttempted);
  static const std::string past_end_sql =
      "SELECT sequence, status, amount IS NOT NULL FROM recurring_transfer_job"
      " WHERE recurring_transfer_id = ?1 AND sequence > ?2 ORDER BY sequence";
  static const std::string delete_sql =
      "DELETE FROM recurring_transfer_job WHERE recurring_transfer_id = ?1 AND sequence > ?2";
  std::string key = store_detail::normalize_id(id);
  auto r = write<RecurringTransfer>([&](Connection& c) -> Result<RecurringTransfer> {
    // One writer: the transfer read here is the one the update changes.
    auto before = select_transfer(c, key);
    if (!before) return std::unexpected(before.error());
    if (!*before) return fail(ErrorCode::kNotFound, "no transfer " + key);
    auto refused = store_detail::patch_refusal(**before, patch);
    if (refused) return std::unexpected(std::move(*refused));
    RecurringTransfer wanted = store_detail::patched(**before, patch);
    if (store_detail::same_terms(wanted, **before)) return std::move(**before);
    auto pinned = c.run(pin_sql, {key, (*before)->amount, (*before)->description});
    if (!pinned) return std::unexpected(pinned.error().context("pinning the jobs' terms"));
    std::vector<Event> events;
    std::optional<OccurrencePlan> plan;
    if (schedule_end(wanted.schedule) != schedule_end((*before)->schedule)) {
      if (!patch.plan) return fail(ErrorCode::kInternal, "no occurrence plan");
      auto planned = patch.plan(wanted);
      if (!planned) return std::unexpected(planned.error());
      plan = std::move(*planned);
      std::optional<Error> refusal;
      auto past = c.run(past_end_sql, {key, plan->kept},
                        [&](const store_detail::RowView& row) -> Result<void> {
                          auto status = parse_job_status(row.text(1).value_or(""));
                          if (!status) return fail(ErrorCode::kInternal, "bad job status");
                          if (!refusal) {
                            refusal = store_detail::past_end_refusal(
                                patch, std::stoll(std::string(row.text(0).value_or("0"))), *status,
                                row.text(2) == "1");
                          }
                          return {};
                        });
      if (!past) return std::unexpected(past.error());
      if (refusal) return std::unexpected(std::move(*refusal));
      auto deleted = c.run(delete_sql, {key, plan->kept});
      if (!deleted) return std::unexpected(deleted.error().context("removing occurrences"));
      wanted.last_sequence = plan->kept;
      for (const Job& job : plan->new_jobs) {
        auto ins = c.run(kInsertJob, store_detail::job_values(job));
        if (!ins) return std::unexpected(ins.error().context("inserting occurrences"));
        wanted.last_sequence = std::max(wanted.last_sequence, job.sequence);
      }
      wanted.next_occurrence_at = plan->next_occurrence_at;
    }
    auto changed = query_one<RecurringTransfer>(
        c, update_sql,
        {key, wanted.amount, wanted.description, format_timestamp(now), patch.expected_version,
         wanted.schedule.end_date ? store_detail::SqlValue(format_date(*wanted.schedule.end_date))
                                  : store_detail::SqlValue(),
         wanted.schedule.count ? store_detail::SqlValue(int64_t{*wanted.schedule.count})
                               : store_detail::SqlValue(),
         wanted.last_sequence, store_detail::opt_time(wanted.next_occurrence_at)},
        store_detail::read_transfer);
    if (!changed) return std::unexpected(changed.error());
    if (!*changed) return fail(ErrorCode::kInternal, "transfer " + key + " was not changed");
    RecurringTransfer after = std::move(**changed);
    if (plan && plan->exhausted) {  // the new end may be reached already
      auto done = complete_transfer(c, kCompleteIfDone, key, now, events);
      if (!done) return std::unexpected(done.error());
      if (!events.empty()) {
        auto completed = select_transfer(c, key);
        if (!completed) return std::unexpected(completed.error());
        if (*completed) after = std::move(**completed);
      }
    }
    auto recorded = insert_change(c, store_detail::terms_change(**before, after, actor, now));
    if (!recorded) return std::unexpected(recorded.error());
    if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
    return after;
  });
  if (!r) return std::unexpected(r.error().context("changing transfer " + key));
  return r;
}

Result<Page<TransferChange>> SqliteStore::list_transfer_changes(std::string_view transfer_id,
                                                                int limit,
                                                                std::optional<std::string> cursor) {
  std::string key = store_detail::normalize_id(transfer_id);
  store_detail::ListQuery q('?', store_detail::kChangeColumns, "recurring_transfer_change");
  q.where("recurring_transfer_id", "=", key);
  q.newest_first();
  if (cursor) {
    auto before = store_detail::decode_cursor(*cursor);
    if (!before) return std::unexpected(before.error());
    q.where("id", "<", *before);
  }
  std::string sql = q.sql(limit);
  auto rows = read<std::optional<std::vector<TransferChange>>>(
      [&](Connection& c) -> Result<std::optional<std::vector<TransferChange>>> {
        auto transfer = select_transfer(c, key);
        if (!transfer) return std::unexpected(transfer.error());
        if (!*transfer) return std::nullopt;
        return query<TransferChange>(c, sql, q.params(), store_detail::read_change);
      });
  if (!rows) return std::unexpected(rows.error().context("listing the changes of " + key));
  if (!*rows) return fail(ErrorCode::kNotFound, "no recurring transfer with this id");
  return store_detail::finish_page(std::move(**rows), limit);
}

}  // namespace rtjobs
