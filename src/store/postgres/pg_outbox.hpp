// The outbox's one write (internal to src/store/postgres): the events of a change, inserted by
// the change's own transaction as one statement whatever their number (one array parameter per
// column), so no change commits without its events and a rolled-back one leaves none. Callers
// pipeline it with their COMMIT: the events are built (store/events.hpp) from the rows as the
// transaction's earlier statements returned them.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "core/time_format.hpp"
#include "store/events.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/postgres/pg_rows.hpp"
#include "store/store.hpp"
#include "store/transfer_changes.hpp"

namespace rtjobs::store_detail {

// The insert, its event_arrays parameters from $first on (for a statement of its own, 1). The
// events are born fanned out when no webhook endpoint is enabled (migration 13: the function
// runs once a statement and synchronises with an endpoint being enabled, so none is missed).
inline std::string insert_events_sql(int first) {
  // Appended piece by piece: GCC 12 at -O3 warns falsely (-Wrestrict, GCC bug 105329) on
  // "x" + std::string, which inserts the literal at the front of the temporary.
  auto p = [&](int i, std::string_view type) {
    std::string param = "$";
    param.append(std::to_string(first + i)).append("::").append(type).append("[]");
    return param;
  };
  return "INSERT INTO event (id, type, recurring_transfer_id, job_id, created_at, data,"
         " fanned_out) SELECT *, (SELECT rtjobs_event_born_fanned_out()) FROM unnest(" +
         p(0, "uuid") + ", " + p(1, "text") + ", " + p(2, "uuid") + ", " + p(3, "uuid") + ", " +
         p(4, "timestamptz") + ", " + p(5, "text") + ")";
}
inline const std::string kInsertEventsSql = insert_events_sql(1);

// The parameters of insert_events_sql: one array per column.
inline std::vector<SqlValue> event_arrays(const std::vector<Event>& events) {
  std::vector<ArrayLiteral> columns(6);
  for (const Event& e : events) {
    columns[0].add(e.id);
    columns[1].add(e.type);
    columns[2].add(opt_text(e.transfer_id));
    columns[3].add(opt_text(e.job_id));
    columns[4].add(format_timestamp(e.created_at));
    columns[5].add(e.data);
  }
  std::vector<SqlValue> out;
  out.reserve(columns.size());
  for (const ArrayLiteral& column : columns) out.emplace_back(column.str());
  return out;
}

// Appends the insert of `events` to a pipeline (nothing when there are none).
inline void add_events(std::vector<PgStatement>& batch, const std::vector<Event>& events) {
  if (!events.empty()) batch.push_back({&kInsertEventsSql, event_arrays(events)});
}

// The statements of a pipeline all succeeded; otherwise the transaction is rolled back and the
// first failure returned (kUnavailable: the batch can be tried again).
inline Result<void> all_ok(PgConnection& c, const std::vector<PgResult>& results) {
  for (size_t s = 0; s < results.size(); ++s) {
    const PgResult& r = results[s];
    if (r.ok()) continue;
    (void)c.exec("ROLLBACK");
    return fail(ErrorCode::kUnavailable, "statement " + std::to_string(s + 1) + ": " +
                                             r.error_message() + " (SQLSTATE " + r.sqlstate() +
                                             ")");
  }
  return {};
}

// Runs `batch` in one round trip and checks it (see all_ok).
inline Result<std::vector<PgResult>> run_checked(PgConnection& c,
                                                 const std::vector<PgStatement>& batch) {
  auto results = c.pipeline(batch);
  if (!results) return std::unexpected(results.error());
  if (auto ok = all_ok(c, *results); !ok) return std::unexpected(ok.error());
  return results;
}

// The insert of a client's change into its transfer's history (store/transfer_changes.hpp).
inline const std::string kInsertChangeSql = "INSERT INTO recurring_transfer_change (" +
                                            std::string(kChangeColumns) + ") VALUES (" +
                                            placeholders('$', kChangeColumnCount) + ")";

// Ends the transaction open on `c`: its events, the change it records (if any), then COMMIT,
// in one round trip.
inline Result<void> commit_with_events(PgConnection& c, const std::vector<Event>& events,
                                       const std::optional<TransferChange>& change = {}) {
  static const std::string commit_sql = "COMMIT";
  std::vector<PgStatement> batch;
  add_events(batch, events);
  if (change) batch.push_back({&kInsertChangeSql, change_values(*change)});
  batch.push_back({&commit_sql, {}});
  auto done = run_checked(c, batch);
  if (!done) return std::unexpected(done.error());
  return {};
}

// As above, for a transaction that answered its id (kTransactionIdSql) in an earlier round
// trip: when the connection is lost before the COMMIT's answer, the server is asked whether it
// committed, so a commit that landed is reported as one (not as a failure, whose retry would
// find its own write and call it a lost lease). A COMMIT that did not land, or whose outcome
// cannot be learned, is the commit's error.
inline Result<void> commit_with_events(PgLease& lease, PgPool& pool, const std::string& xid,
                                       const std::vector<Event>& events) {
  auto done = commit_with_events(*lease, events);
  if (done || lease->connected()) return done;
  lease.give_back();  // the pool may have no other connection to ask with
  auto committed = transaction_committed(pool, xid, std::chrono::seconds(10));
  if (!committed) return std::unexpected(done.error().context(committed.error().message));
  if (*committed) return {};
  return done;
}

// transfer.completed for each transfer kCompleteIfDoneSql returned.
inline Result<void> add_completed_events(const PgResult& completed, std::vector<Event>& events) {
  auto transfers = rows_of<RecurringTransfer>(completed, read_transfer);
  if (!transfers) return std::unexpected(transfers.error());
  for (const RecurringTransfer& t : *transfers) {
    events.push_back(transfer_event("transfer.completed", t, t.updated_at));
  }
  return {};
}

// A claim's skips may have ended their transfers' last occurrences (SPEC section 3); `skipped`
// names those transfers, `at` is the skips' instant. The claim's transaction holds the skipped
// jobs' rows, so it locks only the transfers that are free (kTryLockTransfersSql), completes
// those that are done (a later statement: it sees every job written under the lock) and adds
// their transfer.completed events. Returns the transfers it could not lock, for
// complete_after_skips once the claim has committed.
inline Result<std::vector<std::string>> complete_skipped(PgConnection& c,
                                                         const std::vector<std::string>& skipped,
                                                         const std::string& at,
                                                         std::vector<Event>& events) {
  std::vector<std::string> busy;
  if (skipped.empty()) return busy;
  auto locked = c.query(kTryLockTransfersSql, {uuid_array(skipped)});
  if (!locked) return std::unexpected(locked.error());
  std::vector<std::string> mine;
  mine.reserve(static_cast<size_t>(locked->rows()));
  for (int i = 0; i < locked->rows(); ++i) mine.emplace_back(locked->text(i, 0).value_or(""));
  for (const std::string& id : skipped) {
    if (std::find(mine.begin(), mine.end(), id) == mine.end()) busy.push_back(id);
  }
  if (mine.empty()) return busy;
  auto done = c.query(kCompleteIfDoneSql, {uuid_array(mine), at});
  if (!done) return std::unexpected(done.error());
  if (auto e = add_completed_events(*done, events); !e) return std::unexpected(e.error());
  return busy;
}

// The transfers complete_skipped could not lock, in a transaction of their own after the
// claim's COMMIT: it holds no job, so it waits for their locks. A crash in between leaves such
// a transfer PAUSED with nothing left to run, never COMPLETED while an occurrence is pending.
inline Result<void> complete_after_skips(PgConnection& c, const std::vector<std::string>& busy,
                                         const std::string& at) {
  if (busy.empty()) return {};
  static const std::string begin_sql = "BEGIN";
  auto done = run_checked(c, {{&begin_sql, {}},
                              {&kLockTransfersSql, {uuid_array(busy)}},
                              {&kCompleteIfDoneSql, {uuid_array(busy), at}}});
  if (!done) return std::unexpected(done.error());
  std::vector<Event> events;
  if (auto e = add_completed_events((*done)[2], events); !e) return std::unexpected(e.error());
  return commit_with_events(c, events);
}

}  // namespace rtjobs::store_detail
