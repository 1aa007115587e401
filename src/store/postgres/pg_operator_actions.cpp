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
  // Lock order (pg_maintenance.cpp): the transfer, then the jobs whose old terms are pinned. A
  // completion or a cancel of the transfer waits for the lock; claims take no transfer lock,
  // and pin the terms they read, old or new, in the statement that claims.
  static const std::string begin_sql = "BEGIN";
  static const std::string lock_sql = kSelectTransfer + " WHERE id = $1::uuid FOR NO KEY UPDATE";
  static const std::string pin_sql = "UPDATE recurring_transfer_job SET " +
                                     store_detail::pin_old_terms_sql('$') +
                                     " WHERE recurring_transfer_id = $1::uuid AND " +
                                     std::string(store_detail::kUnpinnedAttempted);
  static const std::string update_sql =
      "UPDATE recurring_transfer SET amount = $2, description = $3, version = version + 1,"
      " updated_at = $4::timestamptz WHERE id = $1::uuid RETURNING " +
      kTransferCols;
  std::string key = store_detail::normalize_id(id);
  auto run = [&]() -> Result<RecurringTransfer> {
    if (!is_uuid(key)) return fail(ErrorCode::kNotFound, "no transfer " + key);
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto locked = store_detail::run_checked(**c, {{&begin_sql, {}}, {&lock_sql, {key}}});
    if (!locked) return std::unexpected(locked.error());
    auto before =
        store_detail::first_of<RecurringTransfer>((*locked)[1], store_detail::read_transfer);
    std::optional<Error> refusal;
    if (!before) {
      refusal = before.error();
    } else if (!*before) {
      refusal = Error{ErrorCode::kNotFound, "no transfer " + key, {}, {}};
    } else {
      refusal = store_detail::patch_refusal(**before, patch);
    }
    RecurringTransfer wanted =
        refusal ? RecurringTransfer{} : store_detail::patched(**before, patch);
    const bool unchanged = !refusal && wanted.amount == (*before)->amount &&
                           wanted.description == (*before)->description;
    if (refusal || unchanged) {
      if (auto r = (*c)->exec("ROLLBACK"); !r) return std::unexpected(r.error());
      if (refusal) return std::unexpected(std::move(*refusal));
      return std::move(**before);
    }
    const std::string at = format_timestamp(now);
    auto written = store_detail::run_checked(
        **c, {{&pin_sql, {key, (*before)->amount, (*before)->description}},
              {&update_sql, {key, wanted.amount, wanted.description, at}}});
    if (!written) return std::unexpected(written.error());
    auto changed = first_of<RecurringTransfer>((*written)[1], store_detail::read_transfer);
    if (!changed) return std::unexpected(changed.error());
    if (!*changed) return fail(ErrorCode::kInternal, "transfer " + key + " was not changed");
    auto change = store_detail::terms_change(**before, **changed, actor, now);
    if (auto done = store_detail::commit_with_events(**c, {}, change); !done) {
      return std::unexpected(done.error());
    }
    return std::move(**changed);
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
