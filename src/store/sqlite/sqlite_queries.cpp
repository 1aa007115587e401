#include "store/sqlite/sqlite_queries.hpp"

#include "core/log.hpp"
#include "core/time_format.hpp"
#include "store/events.hpp"
#include "store/outbox_codec.hpp"
#include "store/transfer_changes.hpp"

namespace rtjobs::store_detail::sqlite {

Result<std::optional<RecurringTransfer>> select_transfer(SqliteConnection& c,
                                                         const std::string& id) {
  static const std::string sql = kSelectTransfer + " WHERE id = ?1";
  return query_one<RecurringTransfer>(c, sql, {id}, read_transfer);
}

Result<std::optional<Job>> select_job(SqliteConnection& c, const std::string& id) {
  static const std::string sql = kSelectJob + " WHERE id = ?1";
  return query_one<Job>(c, sql, {id}, read_job);
}

Result<int64_t> query_count(SqliteConnection& c, const std::string& sql,
                            const std::vector<SqlValue>& params) {
  int64_t n = 0;
  auto r = c.run(sql, params, [&](const RowView& row) -> Result<void> {
    n = std::stoll(std::string(row.text(0).value_or("0")));
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return n;
}

std::string json_array(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    log::append_json_escaped(out, v);
    out += '"';
  }
  return out + "]";
}

bool has_end(const RowView& row, int first, const ScheduleEnd& end) {
  auto end_date = row.text(first);
  auto count = row.text(first + 1);
  return end_date == (end.end_date ? std::optional(format_date(*end.end_date)) : std::nullopt) &&
         count == (end.count ? std::optional(std::to_string(*end.count)) : std::nullopt);
}

Result<void> complete_transfer(SqliteConnection& c, const std::string& sql,
                               const std::string& transfer_id, Timestamp now,
                               std::vector<Event>& events) {
  auto completed =
      query_one<RecurringTransfer>(c, sql, {transfer_id, format_timestamp(now)}, read_transfer);
  if (!completed) return std::unexpected(completed.error());
  if (*completed) events.push_back(transfer_event("transfer.completed", **completed, now));
  return {};
}

Result<void> insert_change(SqliteConnection& c, const TransferChange& change) {
  static const std::string sql = "INSERT INTO recurring_transfer_change (" +
                                 std::string(kChangeColumns) + ") VALUES (" +
                                 placeholders('?', kChangeColumnCount) + ")";
  auto r = c.run(sql, change_values(change));
  if (!r) return std::unexpected(r.error().context("recording the transfer's change"));
  return {};
}

std::string pin_terms_sql(const std::string& transfer_id) {
  return "amount = COALESCE(amount, (SELECT p.amount FROM recurring_transfer p WHERE p.id = " +
         transfer_id +
         ")), description = COALESCE(description, (SELECT p.description FROM recurring_transfer"
         " p WHERE p.id = " +
         transfer_id + "))";
}

Result<void> insert_events(SqliteConnection& c, const std::vector<Event>& events) {
  // Born fanned out when no webhook endpoint is enabled: nobody to go to, so the fan-out never
  // reads or updates them. The one writer sees every endpoint committed before this statement,
  // and an endpoint created or enabled after it commits after these events. One statement an
  // event, its values bound: no JSON to write and parse again for the event's data.
  static const std::string sql =
      "INSERT INTO event (" + std::string(kEventColumns) +
      ", fanned_out) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
      " NOT EXISTS (SELECT 1 FROM webhook_endpoint WHERE status = 'enabled'))";
  for (const Event& e : events) {
    auto r = c.run(sql, {e.id, e.type, opt_text(e.transfer_id), opt_text(e.job_id),
                         format_timestamp(e.created_at), e.data});
    if (!r) return std::unexpected(r.error().context("inserting events"));
  }
  return {};
}

}  // namespace rtjobs::store_detail::sqlite
