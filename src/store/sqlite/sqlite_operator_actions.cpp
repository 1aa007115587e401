// SqliteStore's operator actions on one occurrence: skipping a PENDING job.
#include "core/time_format.hpp"
#include "store/events.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs {

using namespace store_detail::sqlite;

Result<Job> SqliteStore::skip_job(std::string_view job_id, Timestamp now) {
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
    return std::move(**skipped);
  });
  if (!r) return std::unexpected(r.error().context("skipping job " + id));
  return r;
}

}  // namespace rtjobs
