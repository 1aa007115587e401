// SqliteStore's reads for the operator console's overview (store.hpp, the overview block).
#include "core/time_format.hpp"
#include "store/overview_rows.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs {

using store_detail::RowView;
using store_detail::sqlite::query_count;

Result<std::vector<Store::OutcomeCount>> SqliteStore::count_outcomes(Timestamp since) {
  // Instants are "YYYY-MM-DDTHH:MM:SS.mmmZ" text: the first 13 characters are the hour.
  static const std::string sql =
      "SELECT substr(finished_at, 1, 13) || ':00:00.000Z' AS hour, status, result, count(*)"
      " FROM recurring_transfer_job WHERE finished_at >= ?1"
      " GROUP BY hour, status, result ORDER BY hour, status, result";
  auto r = read<std::vector<OutcomeCount>>([&](Connection& c) -> Result<std::vector<OutcomeCount>> {
    std::vector<OutcomeCount> out;
    auto q = c.run(sql, {format_timestamp(since)}, [&](const RowView& row) -> Result<void> {
      auto count = store_detail::read_outcome_count(row);
      if (!count) return std::unexpected(count.error());
      out.push_back(*count);
      return {};
    });
    if (!q) return std::unexpected(q.error());
    return out;
  });
  if (!r) return std::unexpected(r.error().context("counting outcomes"));
  return r;
}

Result<int64_t> SqliteStore::count_in_flight(int64_t cap) {
  static const std::string sql =
      "SELECT count(*) FROM (SELECT 1 FROM recurring_transfer_job"
      " INDEXED BY recurring_transfer_job_lease_idx WHERE status = 'PROCESSING' LIMIT ?1)";
  auto r = read<int64_t>([&](Connection& c) { return query_count(c, sql, {cap}); });
  if (!r) return std::unexpected(r.error().context("counting jobs in flight"));
  return r;
}

}  // namespace rtjobs
