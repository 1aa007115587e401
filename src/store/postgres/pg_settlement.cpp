// PgStore's settlement: the inbox of bank webhook events, the follower's claims of pending
// transfers, and applying what banks said (store/settlement_rules.hpp decides, in C++, against
// the rows locked in the transaction).
//
// Times here are the callers' (received_at, next attempts, look-ups): they decide when work is
// tried again, never whether money moves. Two followers that both apply the same news (one's
// claim ran out while it worked) apply it once: the second finds it already applied, under the
// rows' locks, and changes nothing.
#include <map>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/events.hpp"
#include "store/postgres/pg_outbox.hpp"
#include "store/postgres/pg_rows.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/settlement_rules.hpp"

namespace rtjobs {

using store_detail::all_ok;
using store_detail::ArrayLiteral;
using store_detail::PgResult;
using store_detail::PgRow;
using store_detail::PgStatement;
using store_detail::SqlValue;

namespace {

const std::string kJobCols(store_detail::kJobColumns);
const std::string kEventColumns(store_detail::kBankEventColumns);

}  // namespace

Result<std::vector<SettlementResult>> PgStore::apply_settlements(
    std::span<const SettlementUpdate> updates) {
  // Three round trips for the whole batch: lock and read, decide in C++, write and commit. Lock
  // order as everywhere (see pg_maintenance.cpp): the transfers first, in id order, then their
  // jobs in id order, so a cancel (transfer, then jobs) and this wait for each other, never in
  // a cycle.
  static const std::string begin_sql = "BEGIN";
  static const std::string commit_sql = "COMMIT";
  static const std::string matching =
      " WHERE j.id = ANY($1::uuid[]) OR (j.provider, j.provider_reference) IN"
      " (SELECT p, r FROM unnest($2::text[], $3::text[]) AS k(p, r))";
  // The transfers as locked: a pause's transfer.paused event is the row as locked with the
  // pause applied (pause_sql below, which nothing else can change meanwhile).
  static const std::string lock_transfers_sql =
      "SELECT " + std::string(store_detail::kTransferColumns) +
      " FROM recurring_transfer WHERE id IN (SELECT j.recurring_transfer_id"
      " FROM recurring_transfer_job j" +
      matching + ") ORDER BY id FOR NO KEY UPDATE";
  static const std::string read_jobs_sql =
      "SELECT " + store_detail::qualified(store_detail::kJobColumns, "j") +
      ", t.status FROM recurring_transfer_job j JOIN recurring_transfer t"
      " ON t.id = j.recurring_transfer_id" +
      matching + " ORDER BY j.id FOR NO KEY UPDATE OF j";
  static const std::string job_sql = store_detail::settlement_update_sql('$');
  static const std::string status_sql =
      "INSERT INTO recurring_transfer_provider_status (" +
      std::string(store_detail::kProviderStatusColumns) + ") VALUES (" +
      store_detail::placeholders('$', store_detail::kProviderStatusColumnCount) + ")";
  static const std::string pause_sql =
      "UPDATE recurring_transfer SET status = 'PAUSED', status_reason = $2,"
      " updated_at = $3::timestamptz, version = version + 1"
      " WHERE id = $1::uuid AND status = 'ACTIVE'";
  static const std::string event_sql =
      "UPDATE bank_webhook_event SET applied_at = $2::timestamptz, outcome = $3,"
      " last_error = NULL WHERE id = $1::uuid";

  auto run = [&]() -> Result<std::vector<SettlementResult>> {
    std::vector<std::string> ids;
    ArrayLiteral providers;
    ArrayLiteral references;
    for (const SettlementUpdate& u : updates) {
      if (u.job_id) {
        std::string id = store_detail::normalize_id(*u.job_id);
        if (is_uuid(id)) ids.push_back(std::move(id));
      } else {
        providers.add(u.provider);
        references.add(u.reference);
      }
    }
    std::vector<SqlValue> match{store_detail::uuid_array(ids), providers.str(), references.str()};
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto read =
        (*c)->pipeline({{&begin_sql, {}}, {&lock_transfers_sql, match}, {&read_jobs_sql, match}});
    if (!read) return std::unexpected(read.error());
    if (auto ok = all_ok(**c, *read); !ok) return std::unexpected(ok.error());

    // The jobs as locked, updated in memory as the batch goes (one job may be named twice).
    struct Locked {
      Job job;
      TransferStatus transfer;
    };
    std::map<std::string, Locked> jobs;
    std::map<std::pair<std::string, std::string>, std::string> by_reference;
    const PgResult& rows = (*read)[2];
    for (int i = 0; i < rows.rows(); ++i) {
      auto job = store_detail::read_job(PgRow(rows, i), 0);
      if (!job) return std::unexpected(job.error());
      auto transfer =
          parse_transfer_status(rows.text(i, store_detail::kJobColumnCount).value_or(""));
      if (!transfer) return fail(ErrorCode::kInternal, "reading recurring_transfer: bad status");
      if (job->provider_reference) {
        // Ids are UUIDv7 in creation order: the newest job holding a reference wins.
        by_reference[{job->provider, *job->provider_reference}] = job->id;
      }
      std::string id = job->id;
      jobs.emplace(std::move(id), Locked{std::move(*job), *transfer});
    }

    std::map<std::string, RecurringTransfer> transfers;
    auto locked_transfers =
        store_detail::rows_of<RecurringTransfer>((*read)[1], store_detail::read_transfer);
    if (!locked_transfers) return std::unexpected(locked_transfers.error());
    for (RecurringTransfer& t : *locked_transfers) {
      std::string id = t.id;
      transfers.emplace(std::move(id), std::move(t));
    }

    std::vector<SettlementResult> out;
    out.reserve(updates.size());
    std::vector<PgStatement> writes;
    std::vector<Event> events;
    for (const SettlementUpdate& u : updates) {
      Locked* locked = nullptr;
      if (u.job_id) {
        auto it = jobs.find(store_detail::normalize_id(*u.job_id));
        if (it != jobs.end()) locked = &it->second;
      } else if (auto ref = by_reference.find({u.provider, u.reference});
                 ref != by_reference.end()) {
        locked = &jobs.at(ref->second);
      }
      SettlementResult result;
      if (locked) {
        auto d =
            store_detail::decide_settlement(locked->job, locked->transfer, u, new_uuid_v7(u.now));
        result.outcome = d.outcome;
        if (d.job) {
          const Job& j = *d.job;
          writes.push_back({&job_sql, store_detail::settlement_update_values(j)});
          locked->job = j;
        }
        if (d.provider_status) {
          writes.push_back({&status_sql, store_detail::provider_status_values(*d.provider_status)});
        }
        if (d.job) {
          for (Event& e : store_detail::settlement_events(d.outcome, locked->job, u.now)) {
            events.push_back(std::move(e));
          }
        }
        if (d.pause_reason) {
          writes.push_back(
              {&pause_sql,
               {locked->job.recurring_transfer_id, *d.pause_reason, format_timestamp(u.now)}});
          auto t = transfers.find(locked->job.recurring_transfer_id);
          if (t != transfers.end() && t->second.status == TransferStatus::kActive) {
            t->second.status = TransferStatus::kPaused;
            t->second.status_reason = *d.pause_reason;
            t->second.updated_at = u.now;
            ++t->second.version;  // as pause_sql writes it
            events.push_back(store_detail::transfer_event("transfer.paused", t->second, u.now));
          }
          for (auto& [id, other] : jobs) {
            if (other.job.recurring_transfer_id == locked->job.recurring_transfer_id) {
              other.transfer = TransferStatus::kPaused;
            }
          }
        }
        result.job = locked->job;
      }
      if (u.bank_event_id && is_uuid(*u.bank_event_id)) {
        writes.push_back(
            {&event_sql,
             {*u.bank_event_id, format_timestamp(u.now), std::string(to_string(result.outcome))}});
      }
      out.push_back(std::move(result));
    }
    store_detail::add_events(writes, events);
    writes.push_back({&commit_sql, {}});
    auto written = (*c)->pipeline(writes);
    if (!written) return std::unexpected(written.error());
    if (auto ok = all_ok(**c, *written); !ok) return std::unexpected(ok.error());
    return out;
  };
  if (updates.empty()) return std::vector<SettlementResult>{};
  auto r = run();
  if (!r) return std::unexpected(r.error().context("applying settlements"));
  return r;
}

Result<std::vector<bool>> PgStore::accept_bank_events(std::span<const BankEventRecord> events) {
  // One statement for the batch; a (provider, event_id) already stored, or twice in the batch,
  // is inserted once (DO NOTHING skips rows conflicting within the statement too).
  static const std::string sql =
      "INSERT INTO bank_webhook_event (" + kEventColumns +
      ", next_attempt_at) SELECT id, provider, event_id, event_type, reference, rail, payload,"
      " received_at, 0, received_at FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],"
      " $5::text[], $6::text[], $7::text[], $8::timestamptz[]) WITH ORDINALITY AS e(id, provider,"
      " event_id, event_type, reference, rail, payload, received_at, ord) ORDER BY ord"
      " ON CONFLICT (provider, event_id) WHERE event_id <> '' DO NOTHING RETURNING id";
  auto run = [&]() -> Result<std::vector<bool>> {
    std::vector<ArrayLiteral> columns(8);
    for (const BankEventRecord& e : events) {
      columns[0].add(e.id);
      columns[1].add(e.provider);
      columns[2].add(e.event_id);
      columns[3].add(e.event_type);
      e.reference ? columns[4].add(*e.reference) : columns[4].add_null();
      e.rail ? columns[5].add(to_string(*e.rail)) : columns[5].add_null();
      e.payload ? columns[6].add(*e.payload) : columns[6].add_null();
      columns[7].add(format_timestamp(e.received_at));
    }
    std::vector<SqlValue> params;
    params.reserve(columns.size());
    for (const ArrayLiteral& column : columns) params.emplace_back(column.str());
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = (*c)->query(sql, params);
    if (!r) return std::unexpected(r.error());
    std::vector<bool> out(events.size(), false);
    for (int i = 0; i < r->rows(); ++i) {
      std::string_view id = r->text(i, 0).value_or("");
      for (size_t k = 0; k < events.size(); ++k) {
        if (events[k].id == id) out[k] = true;
      }
    }
    return out;
  };
  if (events.empty()) return std::vector<bool>{};
  auto r = run();
  if (!r) return std::unexpected(r.error().context("storing bank webhook events"));
  return r;
}

Result<std::vector<BankEventRecord>> PgStore::claim_bank_events(Timestamp now, Timestamp retry_at,
                                                                int limit) {
  // RETURNING has no defined order: the claimed rows are sorted by when they were due.
  static const std::string sql =
      "WITH due AS (SELECT id, next_attempt_at AS was FROM bank_webhook_event"
      " WHERE applied_at IS NULL AND next_attempt_at <= $1::timestamptz"
      " ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),"
      " claimed AS (UPDATE bank_webhook_event e SET next_attempt_at = $2::timestamptz,"
      " attempts = e.attempts + 1 FROM due WHERE e.id = due.id RETURNING " +
      store_detail::qualified(kEventColumns, "e") + ", due.was) SELECT " + kEventColumns +
      " FROM claimed ORDER BY was, id";
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("claiming bank webhook events"));
  auto r = (*c)->query(sql, {format_timestamp(now), format_timestamp(retry_at), int64_t{limit}});
  if (!r) return std::unexpected(r.error().context("claiming bank webhook events"));
  return store_detail::rows_of<BankEventRecord>(*r, store_detail::read_bank_event);
}

Result<void> PgStore::finish_bank_event(std::string_view id, Timestamp now,
                                        std::string_view outcome, std::optional<std::string> error,
                                        std::optional<Timestamp> retry_at) {
  static const std::string applied_sql =
      "UPDATE bank_webhook_event SET applied_at = $2::timestamptz, outcome = $3, last_error = $4"
      " WHERE id = $1::uuid AND applied_at IS NULL";
  static const std::string retry_sql =
      "UPDATE bank_webhook_event SET next_attempt_at = $2::timestamptz, outcome = $3,"
      " last_error = $4 WHERE id = $1::uuid AND applied_at IS NULL";
  if (!is_uuid(id)) return fail(ErrorCode::kNotFound, "no bank event " + std::string(id));
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("finishing bank webhook event"));
  auto r = (*c)->query(retry_at ? retry_sql : applied_sql,
                       {std::string(id), format_timestamp(retry_at.value_or(now)),
                        std::string(outcome), store_detail::opt_text(error)});
  if (!r) return std::unexpected(r.error().context("finishing bank webhook event"));
  return {};
}

Result<int64_t> PgStore::count_pending_bank_events(int64_t cap) {
  static const std::string sql =
      "SELECT count(*) FROM (SELECT 1 FROM bank_webhook_event WHERE applied_at IS NULL"
      " LIMIT $1) e";
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("counting bank webhook events"));
  auto r = (*c)->query(sql, {cap});
  if (!r) return std::unexpected(r.error().context("counting bank webhook events"));
  return std::stoll(std::string(r->text(0, 0).value_or("0")));
}

Result<int> PgStore::purge_bank_events(Timestamp before, int limit) {
  static const std::string sql =
      "WITH d AS (DELETE FROM bank_webhook_event WHERE id IN (SELECT id FROM bank_webhook_event"
      " WHERE applied_at IS NOT NULL AND applied_at < $1::timestamptz ORDER BY applied_at"
      " LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM d";
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("purging bank webhook events"));
  auto r = (*c)->query(sql, {format_timestamp(before), int64_t{limit}});
  if (!r) return std::unexpected(r.error().context("purging bank webhook events"));
  return std::stoi(std::string(r->text(0, 0).value_or("0")));
}

Result<std::vector<Job>> PgStore::claim_settlement_checks(std::string_view provider, Timestamp now,
                                                          Timestamp check_again_at, int limit) {
  // RETURNING has no defined order: the claimed rows are sorted by when they were due.
  static const std::string sql =
      "WITH due AS (SELECT id, settlement_check_at AS was FROM recurring_transfer_job"
      " WHERE provider = $1 AND settlement_status = 'pending'"
      " AND settlement_check_at <= $2::timestamptz ORDER BY settlement_check_at, id LIMIT $4"
      " FOR UPDATE SKIP LOCKED),"
      " claimed AS (UPDATE recurring_transfer_job j SET settlement_check_at = $3::timestamptz"
      " FROM due WHERE j.id = due.id RETURNING " +
      store_detail::qualified(store_detail::kJobColumns, "j") + ", due.was) SELECT " + kJobCols +
      " FROM claimed ORDER BY was, id";
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("claiming settlement checks"));
  auto r = (*c)->query(sql, {std::string(provider), format_timestamp(now),
                             format_timestamp(check_again_at), int64_t{limit}});
  if (!r) return std::unexpected(r.error().context("claiming settlement checks"));
  return store_detail::rows_of<Job>(*r, store_detail::read_job);
}

}  // namespace rtjobs
