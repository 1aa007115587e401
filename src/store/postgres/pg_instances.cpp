// PgStore's live instances (rtjobs_instance), which share each bank's rate limit (SPEC section
// 8, flow control). Every time is the database server's (now(), see db_now), so instances whose
// clocks disagree still agree on who is live; the caller's `now` is used only by a store opened
// with TimeSource::kCaller (tests).
#include <algorithm>

#include "store/postgres/pg_rows.hpp"
#include "store/postgres/pg_store.hpp"

namespace rtjobs {

Result<int> PgStore::heartbeat_instance(std::string_view instance_id, Timestamp now,
                                        std::chrono::milliseconds ttl) {
  // One transaction in one round trip (a pipeline), so now() is one instant for all of it. The
  // instance's own row first, then the others: the delete skips rows another heartbeat holds
  // (that instance writing its row, or deleting it), so it never waits, and a heartbeat waits
  // at most for the one deleting its row, which is past its own write by then. (In one
  // statement the order of the two writes is not defined, and two late instances deleting each
  // other's rows while writing their own deadlock.) The count adds the caller to the others
  // alive.
  static const std::string begin_sql = "BEGIN";
  static const std::string beat_sql =
      "INSERT INTO rtjobs_instance (id, expires_at, started_at)"
      " VALUES ($1, " +
      store_detail::db_now("$3") + " + $2::bigint * interval '1 millisecond', " +
      store_detail::db_now("$3") +
      ")"
      " ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at";
  static const std::string live_sql =
      "WITH expired AS (DELETE FROM rtjobs_instance WHERE id IN (SELECT id FROM rtjobs_instance"
      " WHERE expires_at <= " +
      store_detail::db_now("$2") +
      " AND id <> $1 FOR UPDATE SKIP LOCKED))"
      " SELECT 1 + count(*) FROM rtjobs_instance WHERE expires_at > " +
      store_detail::db_now("$2") + " AND id <> $1";
  static const std::string commit_sql = "COMMIT";
  const std::string id(instance_id);
  auto run = [&]() -> Result<int> {
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto results =
        (*c)->pipeline({{&begin_sql, {}},
                        {&beat_sql, {id, int64_t{std::max<int64_t>(ttl.count(), 0)}, clock(now)}},
                        {&live_sql, {id, clock(now)}},
                        {&commit_sql, {}}});
    if (!results) return std::unexpected(results.error());
    for (const store_detail::PgResult& r : *results) {
      if (!r.ok()) {
        (void)(*c)->exec("ROLLBACK");
        return fail(ErrorCode::kUnavailable,
                    r.error_message() + " (SQLSTATE " + r.sqlstate() + ")");
      }
    }
    return std::stoi(std::string((*results)[2].text(0, 0).value_or("1")));
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("heartbeat of instance " + id));
  return r;
}

Result<void> PgStore::leave_instance(std::string_view instance_id) {
  static const std::string sql = "DELETE FROM rtjobs_instance WHERE id = $1";
  auto c = pool_.acquire();
  if (!c)
    return std::unexpected(c.error().context("instance " + std::string(instance_id) + " leaving"));
  if (auto r = (*c)->query(sql, {std::string(instance_id)}); !r) {
    return std::unexpected(r.error().context("instance " + std::string(instance_id) + " leaving"));
  }
  return {};
}

}  // namespace rtjobs
