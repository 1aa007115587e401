// SqliteStore's live instances (rtjobs_instance), which share each bank's rate limit (SPEC
// section 8, flow control): every process on the database file runs on this machine's clock,
// so the caller's `now` decides who is live.
#include <algorithm>

#include "core/time_format.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs {

using store_detail::RowView;

Result<int> SqliteStore::heartbeat_instance(std::string_view instance_id, Timestamp now,
                                            std::chrono::milliseconds ttl) {
  // ?1 the instance, ?2 now, ?3 its new expiry.
  static const std::string beat_sql =
      "INSERT INTO rtjobs_instance (id, expires_at, started_at) VALUES (?1, ?3, ?2)"
      " ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at";
  static const std::string expired_sql =
      "DELETE FROM rtjobs_instance WHERE expires_at <= ?2 AND id <> ?1";
  static const std::string live_sql =
      "SELECT 1 + count(*) FROM rtjobs_instance WHERE expires_at > ?2 AND id <> ?1";
  const std::string id(instance_id);
  const std::string at = format_timestamp(now);
  const std::string expires = format_timestamp(now + std::max(ttl, std::chrono::milliseconds(0)));
  auto r = write<int>([&](Connection& c) -> Result<int> {
    if (auto w = c.run(beat_sql, {id, at, expires}); !w) return std::unexpected(w.error());
    if (auto d = c.run(expired_sql, {id, at}); !d) return std::unexpected(d.error());
    int live = 1;
    auto counted = c.run(live_sql, {id, at}, [&](const RowView& row) -> Result<void> {
      live = std::stoi(std::string(row.text(0).value_or("1")));
      return {};
    });
    if (!counted) return std::unexpected(counted.error());
    return live;
  });
  if (!r) return std::unexpected(r.error().context("heartbeat of instance " + id));
  return r;
}

Result<void> SqliteStore::leave_instance(std::string_view instance_id) {
  static const std::string sql = "DELETE FROM rtjobs_instance WHERE id = ?1";
  const std::string id(instance_id);
  auto r = write<int>([&](Connection& c) { return c.run(sql, {id}); });
  if (!r) return std::unexpected(r.error().context("instance " + id + " leaving"));
  return {};
}

}  // namespace rtjobs
