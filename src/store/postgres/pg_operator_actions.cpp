// PgStore's operator actions on one occurrence: skipping a PENDING job.
#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/events.hpp"
#include "store/postgres/pg_outbox.hpp"
#include "store/postgres/pg_rows.hpp"
#include "store/postgres/pg_store.hpp"

namespace rtjobs {

Result<Job> PgStore::skip_job(std::string_view job_id, Timestamp now) {
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
    if (auto done = store_detail::commit_with_events(**c, events); !done) {
      return std::unexpected(done.error());
    }
    return std::move(*job);
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("skipping job " + id));
  return r;
}

}  // namespace rtjobs
