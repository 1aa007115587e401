#include "store/postgres/pg_store.hpp"

#include <algorithm>
#include <optional>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/events.hpp"
#include "store/postgres/pg_listener.hpp"
#include "store/postgres/pg_outbox.hpp"
#include "store/postgres/pg_rows.hpp"
#include "store/postgres/pg_schema.hpp"

namespace rtjobs {

using store_detail::first_of;
using store_detail::rows_of;
using store_detail::SqlValue;

namespace {

const std::string kTransferCols(store_detail::kTransferColumns);
const std::string kJobCols(store_detail::kJobColumns);
const std::string kStatusCols(store_detail::kProviderStatusColumns);

const std::string kSelectTransfer = "SELECT " + kTransferCols + " FROM recurring_transfer";
const std::string kSelectJob = "SELECT " + kJobCols + " FROM recurring_transfer_job";

Result<std::optional<Job>> select_job(store_detail::PgConnection& c, const std::string& id) {
  static const std::string sql = kSelectJob + " WHERE id = $1";
  auto r = c.query(sql, {id});
  if (!r) return std::unexpected(r.error());
  return first_of<Job>(*r, store_detail::read_job);
}

}  // namespace

Result<std::unique_ptr<PgStore>> PgStore::open(const std::string& url, TimeSource time) {
  std::unique_ptr<PgStore> store(new PgStore(url, time));
  if (auto r = store->ping(); !r) return std::unexpected(r.error());
  return store;
}

SqlValue PgStore::clock(Timestamp now) const {
  if (time_ == TimeSource::kCaller) return format_timestamp(now);
  return std::monostate{};
}

Result<MigrationReport> PgStore::migrate() {
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("migrating PostgreSQL"));
  static const std::string lock_sql = "SELECT pg_advisory_xact_lock($1)";
  static const std::string applied_sql = "SELECT 1 FROM schema_migrations WHERE version = $1";
  static const std::string record_sql =
      "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())";
  MigrationReport report;
  for (const auto& m : store_detail::pg_migrations()) {
    auto apply = [&]() -> Result<void> {
      if (auto r = (*c)->exec("BEGIN"); !r) return r;
      if (auto r = (*c)->query(lock_sql, {store_detail::kMigrationLockKey}); !r) {
        return std::unexpected(r.error());
      }
      auto r = (*c)->exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version integer PRIMARY KEY, applied_at timestamptz NOT NULL)");
      if (!r) return r;
      auto applied = (*c)->query(applied_sql, {int64_t{m.version}});
      if (!applied) return std::unexpected(applied.error());
      bool apply_now = applied->rows() == 0;
      if (apply_now) {
        if (auto e = (*c)->exec(m.sql); !e) return e;
        if (auto e = (*c)->query(record_sql, {int64_t{m.version}}); !e) {
          return std::unexpected(e.error());
        }
      }
      if (auto e = (*c)->exec("COMMIT"); !e) return e;
      if (apply_now) report.applied.push_back(m.version);
      return {};
    };
    if (auto r = apply(); !r) {
      (void)(*c)->exec("ROLLBACK");
      return std::unexpected(
          r.error().context("applying PostgreSQL migration " + std::to_string(m.version)));
    }
    report.version = m.version;
  }
  return report;
}

Result<void> PgStore::ping() {
  static const std::string sql = "SELECT 1";
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error());
  if (auto r = (*c)->query(sql, {}); !r) return std::unexpected(r.error());
  return {};
}

Result<CreateTransferResult> PgStore::create_transfer(const RecurringTransfer& transfer,
                                                      const std::vector<Job>& jobs,
                                                      std::string_view actor) {
  // One statement: the transfer, its jobs and its transfer.created event commit together, and
  // the jobs, the event and the history's first row are only inserted when the transfer was (an
  // existing idempotency key inserts nothing). The event is built from the transfer as given, which
  // is the row as written: the insert stores it as it is.
  constexpr int kFlag = store_detail::kTransferColumnCount + store_detail::kJobColumnCount + 1;
  static const std::string insert_sql =
      "WITH t AS (INSERT INTO recurring_transfer (" + kTransferCols + ") VALUES (" +
      store_detail::placeholders('$', store_detail::kTransferColumnCount) +
      ") ON CONFLICT (idempotency_key) DO NOTHING RETURNING " + kTransferCols +
      "), j AS (INSERT INTO recurring_transfer_job (" + kJobCols + ") SELECT " + kJobCols +
      " FROM unnest(" + store_detail::job_unnest_args(store_detail::kTransferColumnCount + 1) +
      ") AS n(" + kJobCols + ") WHERE EXISTS (SELECT 1 FROM t)), e AS (" +
      store_detail::insert_events_sql(kFlag + 1) +
      " WHERE EXISTS (SELECT 1 FROM t)), h AS (INSERT INTO recurring_transfer_change (" +
      std::string(store_detail::kChangeColumns) + ") SELECT " +
      store_detail::placeholders('$', store_detail::kChangeColumnCount, kFlag + 7) +
      " WHERE EXISTS (SELECT 1 FROM t)) SELECT " + kTransferCols + ", CASE WHEN $" +
      std::to_string(kFlag) + "::boolean THEN " + std::string(store_detail::kNotifyJobsDue) +
      "::text END FROM t";
  static const std::string by_key_sql = kSelectTransfer + " WHERE idempotency_key = $1";
  auto run = [&]() -> Result<CreateTransferResult> {
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    std::vector<SqlValue> params = store_detail::transfer_values(transfer);
    for (SqlValue& column : store_detail::job_arrays(jobs)) params.push_back(std::move(column));
    params.push_back(int64_t{store_detail::any_due(jobs, transfer.created_at)});
    for (SqlValue& column : store_detail::event_arrays(
             {store_detail::transfer_event("transfer.created", transfer, transfer.created_at)})) {
      params.push_back(std::move(column));
    }
    for (SqlValue& value : store_detail::change_values(
             store_detail::created_change(transfer, actor, transfer.created_at))) {
      params.push_back(std::move(value));
    }
    auto r = (*c)->query(insert_sql, params);
    if (!r) return std::unexpected(r.error());
    auto inserted = first_of<RecurringTransfer>(*r, store_detail::read_transfer);
    if (!inserted) return std::unexpected(inserted.error());
    if (*inserted) return CreateTransferResult{std::move(**inserted), true};
    // The key exists (a concurrent insert with it has committed by now: ON CONFLICT waited).
    auto existing = (*c)->query(by_key_sql, {transfer.idempotency_key.value_or("")});
    if (!existing) return std::unexpected(existing.error());
    auto found = first_of<RecurringTransfer>(*existing, store_detail::read_transfer);
    if (!found) return std::unexpected(found.error());
    if (!*found) return fail(ErrorCode::kInternal, "insert skipped but no transfer has its key");
    return CreateTransferResult{std::move(**found), false};
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("creating transfer " + transfer.id));
  return r;
}

Result<std::optional<RecurringTransfer>> PgStore::get_transfer(std::string_view id) {
  static const std::string sql = kSelectTransfer + " WHERE id = $1";
  if (!is_uuid(id)) return std::nullopt;
  std::string key = store_detail::normalize_id(id);
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("reading transfer " + key));
  auto r = (*c)->query(sql, {key});
  if (!r) return std::unexpected(r.error().context("reading transfer " + key));
  return first_of<RecurringTransfer>(*r, store_detail::read_transfer);
}

Result<Page<RecurringTransfer>> PgStore::list_transfers(const TransferFilter& filter) {
  store_detail::ListQuery q('$', store_detail::kTransferColumns, "recurring_transfer");
  if (filter.status) q.where("status", "=", std::string(to_string(*filter.status)));
  if (filter.external_id) q.where("external_id", "=", *filter.external_id);
  if (filter.account) q.where_either("source_account", "destination_account", *filter.account);
  return store_detail::list_page<RecurringTransfer>(
      pool_, q, filter.cursor, filter.limit, store_detail::read_transfer, "listing transfers");
}

Result<RecurringTransfer> PgStore::change_transfer_status(std::string_view id,
                                                          TransferAction action, Timestamp now,
                                                          std::string_view actor) {
  // The transfer moves from $2 or $3 to $4. Cancelling clears next_occurrence_at, so the
  // horizon extender never looks at the transfer again; resuming wakes the schedulers for the
  // jobs that are due.
  static const std::string transfer_sql =
      "UPDATE recurring_transfer SET status = $4, status_reason = NULL, updated_at = "
      "$5::timestamptz, version = version + 1,"
      " next_occurrence_at = CASE WHEN $4 = 'CANCELLED' THEN NULL ELSE next_occurrence_at END"
      " WHERE id = $1::uuid AND status IN ($2, $3) RETURNING " +
      kTransferCols + ", CASE WHEN $4 = 'ACTIVE' THEN " +
      std::string(store_detail::kNotifyJobsDue) + "::text END";
  // A cancel first locks the transfer, then takes the live jobs (waiting for a claimer's row
  // lock, then skipping the job it claimed), then changes the transfer. Locking the transfer
  // first orders the cancel against retry_failed_job (which locks it FOR SHARE): the jobs
  // statement then sees a job that retry made RETRY. The order is that of complete_jobs and
  // extend_transfers (transfers, then jobs; see pg_maintenance.cpp); no claim waits for a
  // transfer row while it holds a job's, so none can wait in a cycle with a cancel.
  static const std::string lock_sql =
      "SELECT status FROM recurring_transfer WHERE id = $1::uuid FOR NO KEY UPDATE";
  static const std::string cancel_jobs_sql =
      "UPDATE recurring_transfer_job SET status = 'CANCELLED', finished_at = $2::timestamptz,"
      " updated_at = $2::timestamptz WHERE recurring_transfer_id = $1::uuid"
      " AND " +
      store_detail::cancel_ends_sql("") +
      " AND EXISTS (SELECT 1 FROM recurring_transfer"
      " WHERE id = $1::uuid AND status IN ('ACTIVE', 'PAUSED')) RETURNING " +
      kJobCols;
  static const std::string begin_sql = "BEGIN";
  static const std::string commit_sql = "COMMIT";
  static const std::string status_sql = "SELECT status FROM recurring_transfer WHERE id = $1";
  std::string key = store_detail::normalize_id(id);
  auto run = [&]() -> Result<RecurringTransfer> {
    if (!is_uuid(key)) return fail(ErrorCode::kNotFound, "no transfer " + key);
    auto [from, also_from, to] = store_detail::transfer_transition(action);
    std::string at = format_timestamp(now);
    std::vector<SqlValue> params{key, std::string(to_string(from)),
                                 std::string(to_string(also_from)), std::string(to_string(to)), at};
    // One transaction, two round trips: the change, then its events (from the rows as written)
    // with the COMMIT.
    std::vector<store_detail::PgStatement> batch{{&begin_sql, {}}};
    if (action == TransferAction::kCancel) {
      batch.push_back({&lock_sql, {key}});
      batch.push_back({&cancel_jobs_sql, {key, at}});
    }
    batch.push_back({&transfer_sql, params});
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto results = store_detail::run_checked(**c, batch);
    if (!results) return std::unexpected(results.error());
    auto changed = first_of<RecurringTransfer>(results->back(), store_detail::read_transfer);
    if (!changed) return std::unexpected(changed.error());
    std::vector<Event> events;
    if (*changed) {
      events.push_back(store_detail::transfer_event(
          store_detail::transfer_event_type((*changed)->status), **changed, now));
    }
    if (action == TransferAction::kCancel) {
      auto cancelled = rows_of<Job>((*results)[2], store_detail::read_job);
      if (!cancelled) return std::unexpected(cancelled.error());
      std::sort(cancelled->begin(), cancelled->end(),
                [](const Job& a, const Job& b) { return a.id < b.id; });
      for (const Job& job : *cancelled) {
        events.push_back(store_detail::job_event("job.cancelled", job, now));
      }
    }
    std::vector<store_detail::PgStatement> finish;
    store_detail::add_events(finish, events);
    if (*changed) {
      // The status it changed from: the one its lock read for a cancel (ACTIVE or PAUSED), the
      // only one it changes from otherwise.
      TransferStatus before = from;
      if (action == TransferAction::kCancel) {
        auto locked = parse_transfer_status((*results)[1].text(0, 0).value_or(""));
        if (!locked) return fail(ErrorCode::kInternal, "reading recurring_transfer: bad status");
        before = *locked;
      }
      finish.push_back(
          {&store_detail::kInsertChangeSql, store_detail::change_values(store_detail::status_change(
                                                **changed, before, actor, now))});
    }
    finish.push_back({&commit_sql, {}});
    if (auto done = store_detail::run_checked(**c, finish); !done) {
      return std::unexpected(done.error());
    }
    if (*changed) return std::move(**changed);
    auto found = (*c)->query(status_sql, {key});
    if (!found) return std::unexpected(found.error());
    if (found->rows() == 0) return fail(ErrorCode::kNotFound, "no transfer " + key);
    auto current = parse_transfer_status(found->text(0, 0).value_or(""));
    if (!current) return fail(ErrorCode::kInternal, "reading recurring_transfer: bad status");
    return std::unexpected(store_detail::invalid_transition(action, *current));
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("transfer " + key));
  return r;
}

std::unique_ptr<Subscription> PgStore::subscribe_jobs_due(std::function<void()> on_jobs_due) {
  return std::make_unique<store_detail::PgJobsDueListener>(url_, std::move(on_jobs_due));
}

Result<std::optional<Job>> PgStore::get_job(std::string_view id) {
  if (!is_uuid(id)) return std::nullopt;
  std::string key = store_detail::normalize_id(id);
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("reading job " + key));
  auto r = select_job(**c, key);
  if (!r) return std::unexpected(r.error().context("reading job " + key));
  return r;
}

Result<Page<Job>> PgStore::list_jobs(const JobFilter& filter) {
  store_detail::ListQuery q('$', store_detail::kJobColumns, "recurring_transfer_job");
  if (filter.status) q.where("status", "=", std::string(to_string(*filter.status)));
  if (filter.result) q.where("result", "=", std::string(to_string(*filter.result)));
  if (filter.settlement_status) {
    q.where("settlement_status", "=", std::string(to_string(*filter.settlement_status)));
  }
  if (filter.recurring_transfer_id) {
    if (!is_uuid(*filter.recurring_transfer_id)) return Page<Job>{};  // as SQLite: no match
    q.where("recurring_transfer_id", "=",
            store_detail::normalize_id(*filter.recurring_transfer_id));
  }
  return store_detail::list_page<Job>(pool_, q, filter.cursor, filter.limit, store_detail::read_job,
                                      "listing jobs");
}

Result<std::vector<ProviderStatus>> PgStore::list_provider_statuses(std::string_view job_id) {
  static const std::string sql = "SELECT " + kStatusCols +
                                 " FROM recurring_transfer_provider_status WHERE job_id = $1"
                                 " ORDER BY created_at, id";
  if (!is_uuid(job_id)) return std::vector<ProviderStatus>{};
  std::string key = store_detail::normalize_id(job_id);
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("listing provider statuses of job " + key));
  auto r = (*c)->query(sql, {key});
  if (!r) return std::unexpected(r.error().context("listing provider statuses of job " + key));
  return rows_of<ProviderStatus>(*r, store_detail::read_provider_status);
}

}  // namespace rtjobs
