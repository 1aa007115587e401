#include "store/sqlite/sqlite_store.hpp"

#include <algorithm>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/events.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/sqlite/sqlite_schema.hpp"
#include "store/transfer_changes.hpp"

namespace rtjobs {

using store_detail::RowView;
using store_detail::SqlValue;
using namespace store_detail::sqlite;

namespace {

// A query-only connection of the reader's own, with no busy wait: under WAL a read is never
// blocked by the writer, and the rare moment the database is locked (WAL recovery) is an error
// the caller answers by taking its ordinary path, rather than a stall of its thread.
class SqliteJobReader final : public JobReader {
 public:
  explicit SqliteJobReader(std::unique_ptr<store_detail::SqliteConnection> conn)
      : conn_(std::move(conn)) {}

  Result<std::vector<std::optional<Job>>> get_jobs(std::span<const std::string> ids) override {
    static const std::string begin = "BEGIN";
    static const std::string commit = "COMMIT";
    static const std::string rollback = "ROLLBACK";
    std::vector<std::optional<Job>> out;
    out.reserve(ids.size());
    // One id reads in its own implicit transaction; more share an explicit one.
    const bool together = ids.size() > 1;
    if (together) {
      if (auto r = conn_->run(begin, {}); !r) return std::unexpected(r.error());
    }
    for (const std::string& id : ids) {
      auto job = select_job(*conn_, store_detail::normalize_id(id));
      if (!job) {
        if (together) (void)conn_->run(rollback, {});
        return std::unexpected(job.error());
      }
      out.push_back(std::move(*job));
    }
    if (together) {
      // A read transaction left open would hold back every checkpoint.
      if (auto r = conn_->run(commit, {}); !r) {
        (void)conn_->run(rollback, {});
        return std::unexpected(r.error());
      }
    }
    return out;
  }

 private:
  std::unique_ptr<store_detail::SqliteConnection> conn_;
};

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  bool in_memory = path == ":memory:";
  auto writer = Connection::open(path, in_memory);
  if (!writer) return std::unexpected(writer.error());
  return std::unique_ptr<SqliteStore>(new SqliteStore(path, in_memory, std::move(*writer)));
}

SqliteStore::SqliteStore(std::string path, bool in_memory, std::unique_ptr<Connection> writer)
    : path_(std::move(path)), in_memory_(in_memory), writer_(std::move(writer)) {
  if (in_memory_) return;
  checkpointer_ = std::make_unique<store_detail::SqliteCheckpointer>(path_);
  writer_->set_wal_hook(
      [checkpointer = checkpointer_.get()](int pages) { return checkpointer->on_commit(pages); });
}

Result<std::unique_ptr<SqliteStore::Connection>> SqliteStore::acquire_reader() {
  std::unique_ptr<Connection> conn;
  {
    std::unique_lock lock(readers_mutex_);
    reader_returned_.wait(lock,
                          [&] { return !idle_readers_.empty() || open_readers_ < kMaxReaders; });
    if (!idle_readers_.empty()) {
      conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return conn;
    }
    ++open_readers_;
  }
  auto opened = Connection::open(path_, false);
  if (opened) {
    if (auto r = (*opened)->exec("PRAGMA query_only=ON"); r) return std::move(*opened);
  }
  std::lock_guard lock(readers_mutex_);
  --open_readers_;
  reader_returned_.notify_one();
  return fail(ErrorCode::kUnavailable, "opening a SQLite read connection to " + path_);
}

void SqliteStore::release_reader(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(readers_mutex_);
    idle_readers_.push_back(std::move(conn));
  }
  reader_returned_.notify_one();
}

std::unique_ptr<JobReader> SqliteStore::open_job_reader() {
  if (in_memory_) return nullptr;
  auto conn = Connection::open(path_, false);
  if (!conn || !(*conn)->exec("PRAGMA query_only=ON; PRAGMA busy_timeout=0")) return nullptr;
  return std::make_unique<SqliteJobReader>(std::move(*conn));
}

Result<MigrationReport> SqliteStore::migrate() {
  auto created = write<bool>([](Connection& c) -> Result<bool> {
    auto r = c.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY NOT NULL, applied_at TEXT NOT NULL) STRICT");
    if (!r) return std::unexpected(r.error());
    return true;
  });
  if (!created) return std::unexpected(created.error().context("migrating SQLite"));
  MigrationReport report;
  for (const auto& m : store_detail::sqlite_migrations()) {
    auto applied = write<bool>([&](Connection& c) -> Result<bool> {
      bool present = false;
      auto r = c.run("SELECT 1 FROM schema_migrations WHERE version = ?1", {int64_t{m.version}},
                     [&](const RowView&) -> Result<void> {
                       present = true;
                       return {};
                     });
      if (!r) return std::unexpected(r.error());
      if (present) return false;
      if (auto e = c.exec(m.sql); !e) return std::unexpected(e.error());
      if (m.bump_schema_version) {
        int64_t version = 0;
        auto v = c.run("PRAGMA schema_version", {}, [&](const RowView& row) -> Result<void> {
          version = std::stoll(std::string(row.text(0).value_or("0")));
          return {};
        });
        if (!v) return std::unexpected(v.error());
        // A pragma takes no parameters; the value is the integer just read.
        const std::string bump_sql = "PRAGMA schema_version = " + std::to_string(version + 1);
        auto bump = c.exec(bump_sql.c_str());
        if (!bump) return std::unexpected(bump.error());
      }
      auto ins = c.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                       {int64_t{m.version}, format_timestamp(SystemClock().now())});
      if (!ins) return std::unexpected(ins.error());
      return true;
    });
    if (!applied) {
      return std::unexpected(
          applied.error().context("applying SQLite migration " + std::to_string(m.version)));
    }
    if (*applied) report.applied.push_back(m.version);
    report.version = m.version;
  }
  return report;
}

Result<void> SqliteStore::ping() {
  return read<void>([](Connection& c) -> Result<void> {
    auto r = c.run("SELECT 1", {});
    if (!r) return std::unexpected(r.error().context("pinging SQLite"));
    return {};
  });
}

Result<CreateTransferResult> SqliteStore::create_transfer(const RecurringTransfer& transfer,
                                                          const std::vector<Job>& jobs,
                                                          std::string_view actor) {
  auto r = write<CreateTransferResult>([&](Connection& c) -> Result<CreateTransferResult> {
    if (transfer.idempotency_key) {
      auto existing =
          query_one<RecurringTransfer>(c, kSelectTransfer + " WHERE idempotency_key = ?1",
                                       {*transfer.idempotency_key}, store_detail::read_transfer);
      if (!existing) return std::unexpected(existing.error());
      if (*existing) return CreateTransferResult{std::move(**existing), false};
    }
    if (auto ins = c.run(kInsertTransfer, store_detail::transfer_values(transfer)); !ins) {
      return std::unexpected(ins.error());
    }
    for (const Job& job : jobs) {
      if (auto ins = c.run(kInsertJob, store_detail::job_values(job)); !ins) {
        return std::unexpected(ins.error().context("job " + std::to_string(job.sequence)));
      }
    }
    auto stored = select_transfer(c, transfer.id);
    if (!stored) return std::unexpected(stored.error());
    if (!*stored) return fail(ErrorCode::kInternal, "transfer vanished after insert");
    auto event = store_detail::transfer_event("transfer.created", **stored, transfer.created_at);
    if (auto ins = insert_events(c, {event}); !ins) return std::unexpected(ins.error());
    auto recorded =
        insert_change(c, store_detail::created_change(**stored, actor, transfer.created_at));
    if (!recorded) return std::unexpected(recorded.error());
    return CreateTransferResult{std::move(**stored), true};
  });
  if (!r) return std::unexpected(r.error().context("creating transfer " + transfer.id));
  return r;
}

Result<std::optional<RecurringTransfer>> SqliteStore::get_transfer(std::string_view id) {
  std::string key = store_detail::normalize_id(id);
  auto r = read<std::optional<RecurringTransfer>>(
      [&](Connection& c) { return select_transfer(c, key); });
  if (!r) return std::unexpected(r.error().context("reading transfer " + key));
  return r;
}

Result<Page<RecurringTransfer>> SqliteStore::list_transfers(const TransferFilter& filter) {
  store_detail::ListQuery q('?', store_detail::kTransferColumns, "recurring_transfer");
  if (filter.status) q.where("status", "=", std::string(to_string(*filter.status)));
  if (filter.external_id) q.where("external_id", "=", *filter.external_id);
  if (filter.account) q.where_either("source_account", "destination_account", *filter.account);
  if (filter.cursor) {
    auto after = store_detail::decode_cursor(*filter.cursor);
    if (!after) return std::unexpected(after.error());
    q.where("id", ">", *after);
  }
  std::string sql = q.sql(filter.limit);
  auto rows = read<std::vector<RecurringTransfer>>([&](Connection& c) {
    return query<RecurringTransfer>(c, sql, q.params(), store_detail::read_transfer);
  });
  if (!rows) return std::unexpected(rows.error().context("listing transfers"));
  return store_detail::finish_page(std::move(*rows), filter.limit);
}

Result<RecurringTransfer> SqliteStore::change_transfer_status(std::string_view id,
                                                              TransferAction action, Timestamp now,
                                                              std::string_view actor) {
  // The state change: ?2/?3 are the states it may start from. Cancelling clears
  // next_occurrence_at, so the horizon extender never looks at the transfer again.
  static const std::string transfer_sql =
      "UPDATE recurring_transfer SET status = ?4, status_reason = NULL, updated_at = ?5,"
      " version = version + 1,"
      " next_occurrence_at = IIF(?4 = 'CANCELLED', NULL, next_occurrence_at)"
      " WHERE id = ?1 AND status IN (?2, ?3) RETURNING " +
      kTransferCols;
  static const std::string jobs_sql =
      "UPDATE recurring_transfer_job SET status = 'CANCELLED', finished_at = ?2, updated_at = ?2"
      " WHERE recurring_transfer_id = ?1 AND " +
      store_detail::cancel_ends_sql("") + " RETURNING " + kJobCols;
  auto [from, also_from, to] = store_detail::transfer_transition(action);
  std::string key = store_detail::normalize_id(id);
  std::string at = format_timestamp(now);
  auto r = write<RecurringTransfer>([&](Connection& c) -> Result<RecurringTransfer> {
    // One writer: the status read here is the one the update changes.
    auto before = select_transfer(c, key);
    if (!before) return std::unexpected(before.error());
    auto changed = query_one<RecurringTransfer>(
        c, transfer_sql,
        {key, std::string(to_string(from)), std::string(to_string(also_from)),
         std::string(to_string(to)), at},
        store_detail::read_transfer);
    if (!changed) return std::unexpected(changed.error());
    if (!*before) return fail(ErrorCode::kNotFound, "no transfer " + key);
    if (!*changed) {
      return std::unexpected(store_detail::invalid_transition(action, (*before)->status));
    }
    // The transfer's event first, then its cancelled jobs' in job order.
    std::vector<Event> events{
        store_detail::transfer_event(store_detail::transfer_event_type(to), **changed, now)};
    if (to == TransferStatus::kCancelled) {
      auto jobs = query<Job>(c, jobs_sql, {key, at}, store_detail::read_job);
      if (!jobs) return std::unexpected(jobs.error().context("cancelling jobs"));
      std::sort(jobs->begin(), jobs->end(),
                [](const Job& a, const Job& b) { return a.sequence < b.sequence; });
      for (const Job& job : *jobs)
        events.push_back(store_detail::job_event("job.cancelled", job, now));
    }
    if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
    auto recorded =
        insert_change(c, store_detail::status_change(**changed, (*before)->status, actor, now));
    if (!recorded) return std::unexpected(recorded.error());
    return std::move(**changed);
  });
  if (!r) return std::unexpected(r.error().context("transfer " + key));
  return r;
}

Result<std::optional<Job>> SqliteStore::get_job(std::string_view id) {
  std::string key = store_detail::normalize_id(id);
  auto r = read<std::optional<Job>>([&](Connection& c) { return select_job(c, key); });
  if (!r) return std::unexpected(r.error().context("reading job " + key));
  return r;
}

Result<Page<Job>> SqliteStore::list_jobs(const JobFilter& filter) {
  store_detail::ListQuery q('?', store_detail::kJobColumns, "recurring_transfer_job");
  if (filter.status) q.where("status", "=", std::string(to_string(*filter.status)));
  if (filter.result) q.where("result", "=", std::string(to_string(*filter.result)));
  if (filter.settlement_status) {
    q.where("settlement_status", "=", std::string(to_string(*filter.settlement_status)));
  }
  if (filter.recurring_transfer_id) {
    q.where("recurring_transfer_id", "=",
            store_detail::normalize_id(*filter.recurring_transfer_id));
  }
  if (filter.cursor) {
    auto after = store_detail::decode_cursor(*filter.cursor);
    if (!after) return std::unexpected(after.error());
    q.where("id", ">", *after);
  }
  std::string sql = q.sql(filter.limit);
  auto rows = read<std::vector<Job>>(
      [&](Connection& c) { return query<Job>(c, sql, q.params(), store_detail::read_job); });
  if (!rows) return std::unexpected(rows.error().context("listing jobs"));
  return store_detail::finish_page(std::move(*rows), filter.limit);
}

Result<std::vector<ProviderStatus>> SqliteStore::list_provider_statuses(std::string_view job_id) {
  static const std::string sql = "SELECT " + kStatusCols +
                                 " FROM recurring_transfer_provider_status WHERE job_id = ?1"
                                 " ORDER BY created_at, id";
  std::string key = store_detail::normalize_id(job_id);
  auto r = read<std::vector<ProviderStatus>>([&](Connection& c) {
    return query<ProviderStatus>(c, sql, {key}, store_detail::read_provider_status);
  });
  if (!r) return std::unexpected(r.error().context("listing provider statuses of job " + key));
  return r;
}

}  // namespace rtjobs
