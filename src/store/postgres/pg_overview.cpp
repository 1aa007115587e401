// PgStore's reads for the operator console's overview (store.hpp, the overview block).
#include "core/time_format.hpp"
#include "store/overview_rows.hpp"
#include "store/postgres/pg_store.hpp"

namespace rtjobs {

using store_detail::PgRow;

Result<std::vector<Store::OutcomeCount>> PgStore::count_outcomes(Timestamp since) {
  // The hour as the text the SQLite store writes, so one reader reads both.
  static const std::string sql =
      "SELECT to_char(date_trunc('hour', finished_at AT TIME ZONE 'UTC'),"
      " 'YYYY-MM-DD\"T\"HH24\":00:00.000Z\"') AS hour, status, result, count(*)"
      " FROM recurring_transfer_job WHERE finished_at >= $1::timestamptz"
      " GROUP BY hour, status, result ORDER BY hour, status, result";
  auto run = [&]() -> Result<std::vector<OutcomeCount>> {
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = (*c)->query(sql, {format_timestamp(since)});
    if (!r) return std::unexpected(r.error());
    std::vector<OutcomeCount> out;
    for (int i = 0; i < r->rows(); ++i) {
      auto count = store_detail::read_outcome_count(PgRow(*r, i));
      if (!count) return std::unexpected(count.error());
      out.push_back(*count);
    }
    return out;
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("counting outcomes"));
  return r;
}

Result<int64_t> PgStore::count_in_flight(int64_t cap) {
  static const std::string sql =
      "SELECT count(*) FROM (SELECT 1 FROM recurring_transfer_job WHERE status = 'PROCESSING'"
      " LIMIT $1) j";
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("counting jobs in flight"));
  auto r = (*c)->query(sql, {cap});
  if (!r) return std::unexpected(r.error().context("counting jobs in flight"));
  return std::stoll(std::string(r->text(0, 0).value_or("0")));
}

}  // namespace rtjobs
