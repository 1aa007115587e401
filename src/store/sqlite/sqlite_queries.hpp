// SQL text and row helpers shared by the SqliteStore's source files (internal to src/store/sqlite).
// Every statement is constant SQL with ?N placeholders, prepared once per connection.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/model.hpp"
#include "store/record_codec.hpp"
#include "store/sqlite/sqlite_connection.hpp"
#include "store/store.hpp"

namespace rtjobs::store_detail::sqlite {

inline const std::string kTransferCols(kTransferColumns);
inline const std::string kJobCols(kJobColumns);
inline const std::string kStatusCols(kProviderStatusColumns);

inline const std::string kSelectTransfer = "SELECT " + kTransferCols + " FROM recurring_transfer";
inline const std::string kSelectJob = "SELECT " + kJobCols + " FROM recurring_transfer_job";
inline const std::string kInsertTransfer = "INSERT INTO recurring_transfer (" + kTransferCols +
                                           ") VALUES (" + placeholders('?', kTransferColumnCount) +
                                           ")";
// Never a duplicate (transfer, sequence): an existing occurrence is left as it is.
inline const std::string kInsertJob = "INSERT INTO recurring_transfer_job (" + kJobCols +
                                      ") VALUES (" + placeholders('?', kJobColumnCount) +
                                      ") ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING";
inline const std::string kInsertStatus = "INSERT INTO recurring_transfer_provider_status (" +
                                         kStatusCols + ") VALUES (" +
                                         placeholders('?', kProviderStatusColumnCount) + ")";
// SPEC section 3: a transfer whose last occurrence is terminal becomes COMPLETED, paused or not
// (a PAUSED transfer's last occurrence ends SKIPPED). Exhausted as the row has it: no next
// occurrence is left to create (next_occurrence_at NULL), whatever a plan made before a change
// of the schedule's end said. ?1 the transfer, ?2 now. Returns the transfer when it was
// completed (see complete_transfer).
inline const std::string kCompleteIfDone =
    "UPDATE recurring_transfer SET status = 'COMPLETED', updated_at = ?2, version = version + 1"
    " WHERE id = ?1 AND status IN ('ACTIVE', 'PAUSED') AND next_occurrence_at IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM recurring_transfer_job WHERE recurring_transfer_id = ?1"
    " AND status NOT IN ('FINISHED', 'FAILED', 'SKIPPED', 'CANCELLED')) RETURNING " +
    kTransferCols;

// Every row of `sql`, read with `read`.
template <class T>
Result<std::vector<T>> query(SqliteConnection& c, const std::string& sql,
                             const std::vector<SqlValue>& params,
                             Result<T> (*read)(const RowView&, int)) {
  std::vector<T> out;
  auto r = c.run(sql, params, [&](const RowView& row) -> Result<void> {
    auto v = read(row, 0);
    if (!v) return std::unexpected(v.error());
    out.push_back(std::move(*v));
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

// The first row of `sql`, if any.
template <class T>
Result<std::optional<T>> query_one(SqliteConnection& c, const std::string& sql,
                                   const std::vector<SqlValue>& params,
                                   Result<T> (*read)(const RowView&, int)) {
  auto rows = query<T>(c, sql, params, read);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::nullopt;
  return std::move(rows->front());
}

// The integer in the first column of the first row of `sql` (a count); 0 without a row.
Result<int64_t> query_count(SqliteConnection& c, const std::string& sql,
                            const std::vector<SqlValue>& params);

Result<std::optional<RecurringTransfer>> select_transfer(SqliteConnection& c,
                                                         const std::string& id);
Result<std::optional<Job>> select_job(SqliteConnection& c, const std::string& id);

// A JSON array of strings, for "IN (SELECT value FROM json_each(?N))" (one statement for any
// number of ids).
std::string json_array(const std::vector<std::string>& values);

// The row's schedule end columns (end_date, then "count", from `first`) are `end`.
bool has_end(const RowView& row, int first, const ScheduleEnd& end);

// Runs kCompleteIfDone (`sql`) for the transfer at `now`; when it became
// COMPLETED, adds its transfer.completed event to `events`.
Result<void> complete_transfer(SqliteConnection& c, const std::string& sql,
                               const std::string& transfer_id, Timestamp now,
                               std::vector<Event>& events);

// Inserts a client's change into the transfer's history (store/transfer_changes.hpp).
Result<void> insert_change(SqliteConnection& c, const TransferChange& change);

// A claim pins the job's terms (Store::patch_transfer): the SET clause reading them from the
// transfer once, while the job has none, for a claim UPDATE of recurring_transfer_job whose
// transfer id is `transfer_id` (a column reference).
std::string pin_terms_sql(const std::string& transfer_id);

// Inserts a change's events in its transaction, all with one statement (none when empty): the
// outbox (store/events.hpp).
Result<void> insert_events(SqliteConnection& c, const std::vector<Event>& events);

}  // namespace rtjobs::store_detail::sqlite
