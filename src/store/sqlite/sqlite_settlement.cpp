// SqliteStore's settlement: the inbox of bank webhook events, the follower's claims of pending
// transfers, and applying what banks said (store/settlement_rules.hpp decides).
#include <algorithm>
#include <unordered_map>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/events.hpp"
#include "store/settlement_rules.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs {

using store_detail::RowView;
using store_detail::SqlValue;
using namespace store_detail::sqlite;

namespace {

using Connection = store_detail::SqliteConnection;

const std::string kEventColumns(store_detail::kBankEventColumns);

// Claims, in one write transaction, the rows `select_sql` picks (their ids, in its order):
// `update_sql` (?1 the ids as a JSON array, then `update_params`) moves them and returns them.
// RETURNING has no defined order: they come back in the order selected.
template <class T>
Result<std::vector<T>> claim_in_order(Connection& c, const std::string& select_sql,
                                      const std::vector<SqlValue>& select_params,
                                      const std::string& update_sql,
                                      std::vector<SqlValue> update_params,
                                      Result<T> (*read)(const RowView&, int)) {
  std::vector<std::string> ids;
  auto selected = c.run(select_sql, select_params, [&](const RowView& row) -> Result<void> {
    ids.emplace_back(row.text(0).value_or(""));
    return {};
  });
  if (!selected) return std::unexpected(selected.error());
  if (ids.empty()) return std::vector<T>{};
  update_params.insert(update_params.begin(), json_array(ids));
  auto rows = query<T>(c, update_sql, update_params, read);
  if (!rows) return std::unexpected(rows.error());
  std::unordered_map<std::string, size_t> position;
  for (size_t i = 0; i < ids.size(); ++i) position.emplace(ids[i], i);
  std::sort(rows->begin(), rows->end(),
            [&](const T& a, const T& b) { return position[a.id] < position[b.id]; });
  return rows;
}

// The job an update is about, with its transfer's status.
Result<std::optional<std::pair<Job, TransferStatus>>> find_job(Connection& c,
                                                               const SettlementUpdate& u) {
  static const std::string by_id_sql =
      "SELECT " + store_detail::qualified(store_detail::kJobColumns, "j") +
      ", t.status FROM recurring_transfer_job j JOIN recurring_transfer t"
      " ON t.id = j.recurring_transfer_id WHERE j.id = ?1";
  static const std::string by_reference_sql =
      "SELECT " + store_detail::qualified(store_detail::kJobColumns, "j") +
      ", t.status FROM recurring_transfer_job j JOIN recurring_transfer t"
      " ON t.id = j.recurring_transfer_id WHERE j.provider = ?1 AND j.provider_reference = ?2"
      " ORDER BY j.id DESC LIMIT 1";
  std::optional<std::pair<Job, TransferStatus>> found;
  auto read = [&](const RowView& row) -> Result<void> {
    auto job = store_detail::read_job(row, 0);
    if (!job) return std::unexpected(job.error());
    auto status = parse_transfer_status(row.text(store_detail::kJobColumnCount).value_or(""));
    if (!status) return fail(ErrorCode::kInternal, "reading recurring_transfer: bad status");
    found.emplace(std::move(*job), *status);
    return {};
  };
  auto r = u.job_id ? c.run(by_id_sql, {store_detail::normalize_id(*u.job_id)}, read)
                    : c.run(by_reference_sql, {u.provider, u.reference}, read);
  if (!r) return std::unexpected(r.error());
  return found;
}

// Applies one update inside the batch's transaction and adds its events to `events`.
Result<SettlementResult> apply_one(Connection& c, const SettlementUpdate& u,
                                   std::vector<Event>& events) {
  static const std::string job_sql = store_detail::settlement_update_sql('?');
  static const std::string pause_sql =
      "UPDATE recurring_transfer SET status = 'PAUSED', status_reason = ?2, updated_at = ?3,"
      " version = version + 1"
      " WHERE id = ?1 AND status = 'ACTIVE' RETURNING " +
      kTransferCols;
  static const std::string event_sql =
      "UPDATE bank_webhook_event SET applied_at = ?2, outcome = ?3, last_error = NULL"
      " WHERE id = ?1";
  auto found = find_job(c, u);
  if (!found) return std::unexpected(found.error());
  SettlementResult out;
  if (*found) {
    const auto& [job, transfer_status] = **found;
    auto d = store_detail::decide_settlement(job, transfer_status, u, new_uuid_v7(u.now));
    out.outcome = d.outcome;
    if (d.job) {
      auto up = c.run(job_sql, store_detail::settlement_update_values(*d.job));
      if (!up) return std::unexpected(up.error());
    }
    if (d.provider_status) {
      auto ins = c.run(kInsertStatus, store_detail::provider_status_values(*d.provider_status));
      if (!ins) return std::unexpected(ins.error().context("inserting provider status"));
    }
    if (d.job) {
      for (Event& e : store_detail::settlement_events(d.outcome, *d.job, u.now)) {
        events.push_back(std::move(e));
      }
    }
    if (d.pause_reason) {
      auto paused = query_one<RecurringTransfer>(
          c, pause_sql, {job.recurring_transfer_id, *d.pause_reason, format_timestamp(u.now)},
          store_detail::read_transfer);
      if (!paused) return std::unexpected(paused.error().context("pausing transfer"));
      if (*paused)
        events.push_back(store_detail::transfer_event("transfer.paused", **paused, u.now));
    }
    out.job = d.job ? std::move(d.job) : std::optional<Job>(job);
  }
  if (u.bank_event_id) {
    auto up = c.run(event_sql, {*u.bank_event_id, format_timestamp(u.now),
                                std::string(to_string(out.outcome))});
    if (!up) return std::unexpected(up.error().context("marking bank event applied"));
  }
  return out;
}

}  // namespace

Result<std::vector<SettlementResult>> SqliteStore::apply_settlements(
    std::span<const SettlementUpdate> updates) {
  if (updates.empty()) return std::vector<SettlementResult>{};
  auto r = write<std::vector<SettlementResult>>(
      [&](Connection& c) -> Result<std::vector<SettlementResult>> {
        std::vector<SettlementResult> out;
        out.reserve(updates.size());
        std::vector<Event> events;
        for (const SettlementUpdate& u : updates) {
          auto applied = apply_one(c, u, events);
          if (!applied) return std::unexpected(applied.error().context("transfer " + u.reference));
          out.push_back(std::move(*applied));
        }
        if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
        return out;
      });
  if (!r) return std::unexpected(r.error().context("applying settlements"));
  return r;
}

Result<std::vector<bool>> SqliteStore::accept_bank_events(std::span<const BankEventRecord> events) {
  static const std::string sql =
      "INSERT INTO bank_webhook_event (" + kEventColumns +
      ", next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?8)"
      " ON CONFLICT (provider, event_id) WHERE event_id <> '' DO NOTHING";
  if (events.empty()) return std::vector<bool>{};
  auto r = write<std::vector<bool>>([&](Connection& c) -> Result<std::vector<bool>> {
    std::vector<bool> out;
    out.reserve(events.size());
    for (const BankEventRecord& e : events) {
      auto ins = c.run(
          sql, {e.id, e.provider, e.event_id, e.event_type, store_detail::opt_text(e.reference),
                e.rail ? SqlValue(std::string(to_string(*e.rail))) : SqlValue(),
                store_detail::opt_text(e.payload), format_timestamp(e.received_at)});
      if (!ins) return std::unexpected(ins.error());
      out.push_back(*ins > 0);
    }
    return out;
  });
  if (!r) return std::unexpected(r.error().context("storing bank webhook events"));
  return r;
}

Result<std::vector<BankEventRecord>> SqliteStore::claim_bank_events(Timestamp now,
                                                                    Timestamp retry_at, int limit) {
  static const std::string select_sql =
      "SELECT id FROM bank_webhook_event WHERE applied_at IS NULL AND next_attempt_at <= ?1"
      " ORDER BY next_attempt_at, id LIMIT ?2";
  static const std::string update_sql =
      "UPDATE bank_webhook_event SET next_attempt_at = ?2, attempts = attempts + 1"
      " WHERE id IN (SELECT value FROM json_each(?1)) RETURNING " +
      kEventColumns;
  auto r = write<std::vector<BankEventRecord>>(
      [&](Connection& c) -> Result<std::vector<BankEventRecord>> {
        return claim_in_order<BankEventRecord>(
            c, select_sql, {format_timestamp(now), int64_t{limit}}, update_sql,
            {format_timestamp(retry_at)}, store_detail::read_bank_event);
      });
  if (!r) return std::unexpected(r.error().context("claiming bank webhook events"));
  return r;
}

Result<void> SqliteStore::finish_bank_event(std::string_view id, Timestamp now,
                                            std::string_view outcome,
                                            std::optional<std::string> error,
                                            std::optional<Timestamp> retry_at) {
  static const std::string applied_sql =
      "UPDATE bank_webhook_event SET applied_at = ?2, outcome = ?3, last_error = ?4"
      " WHERE id = ?1 AND applied_at IS NULL";
  static const std::string retry_sql =
      "UPDATE bank_webhook_event SET next_attempt_at = ?2, outcome = ?3, last_error = ?4"
      " WHERE id = ?1 AND applied_at IS NULL";
  auto r = write<void>([&](Connection& c) -> Result<void> {
    auto up = c.run(retry_at ? retry_sql : applied_sql,
                    {std::string(id), format_timestamp(retry_at.value_or(now)),
                     std::string(outcome), store_detail::opt_text(error)});
    if (!up) return std::unexpected(up.error());
    return {};
  });
  if (!r) return std::unexpected(r.error().context("finishing bank webhook event"));
  return r;
}

Result<int64_t> SqliteStore::count_pending_bank_events(int64_t cap) {
  static const std::string sql =
      "SELECT count(*) FROM (SELECT 1 FROM bank_webhook_event WHERE applied_at IS NULL LIMIT ?1)";
  auto r = read<int64_t>([&](Connection& c) { return query_count(c, sql, {cap}); });
  if (!r) return std::unexpected(r.error().context("counting bank webhook events"));
  return r;
}

Result<int> SqliteStore::purge_bank_events(Timestamp before, int limit) {
  static const std::string sql =
      "DELETE FROM bank_webhook_event WHERE id IN (SELECT id FROM bank_webhook_event"
      " WHERE applied_at IS NOT NULL AND applied_at < ?1 ORDER BY applied_at LIMIT ?2)";
  auto r = write<int>([&](Connection& c) -> Result<int> {
    auto d = c.run(sql, {format_timestamp(before), int64_t{limit}});
    if (!d) return std::unexpected(d.error());
    return *d;
  });
  if (!r) return std::unexpected(r.error().context("purging bank webhook events"));
  return r;
}

Result<std::vector<Job>> SqliteStore::claim_settlement_checks(std::string_view provider,
                                                              Timestamp now,
                                                              Timestamp check_again_at, int limit) {
  static const std::string select_sql =
      "SELECT id FROM recurring_transfer_job WHERE provider = ?1 AND settlement_status = 'pending'"
      " AND settlement_check_at <= ?2 ORDER BY settlement_check_at, id LIMIT ?3";
  static const std::string update_sql =
      "UPDATE recurring_transfer_job SET settlement_check_at = ?2"
      " WHERE id IN (SELECT value FROM json_each(?1)) RETURNING " +
      kJobCols;
  auto r = write<std::vector<Job>>([&](Connection& c) -> Result<std::vector<Job>> {
    return claim_in_order<Job>(
        c, select_sql, {std::string(provider), format_timestamp(now), int64_t{limit}}, update_sql,
        {format_timestamp(check_again_at)}, store_detail::read_job);
  });
  if (!r) return std::unexpected(r.error().context("claiming settlement checks"));
  return r;
}

}  // namespace rtjobs
