#include "store/sqlite/sqlite_store.hpp"

#include <algorithm>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/sqlite/sqlite_schema.hpp"

namespace rtjobs {

using store_detail::ClaimAction;
using store_detail::RowView;
using store_detail::SqlValue;

namespace {

using Connection = store_detail::SqliteConnection;

const std::string kTransferCols(store_detail::kTransferColumns);
const std::string kJobCols(store_detail::kJobColumns);
const std::string kStatusCols(store_detail::kProviderStatusColumns);

const std::string kSelectTransfer = "SELECT " + kTransferCols + " FROM recurring_transfer";
const std::string kSelectJob = "SELECT " + kJobCols + " FROM recurring_transfer_job";
const std::string kInsertTransfer =
    "INSERT INTO recurring_transfer (" + kTransferCols + ") VALUES (" +
    store_detail::placeholders('?', store_detail::kTransferColumnCount) + ")";
const std::string kInsertJob = "INSERT INTO recurring_transfer_job (" + kJobCols + ") VALUES (" +
                               store_detail::placeholders('?', store_detail::kJobColumnCount) +
                               ") ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING";
const std::string kInsertStatus =
    "INSERT INTO recurring_transfer_provider_status (" + kStatusCols + ") VALUES (" +
    store_detail::placeholders('?', store_detail::kProviderStatusColumnCount) + ")";

template <class T>
Result<std::vector<T>> query(Connection& c, const std::string& sql,
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

template <class T>
Result<std::optional<T>> query_one(Connection& c, const std::string& sql,
                                   const std::vector<SqlValue>& params,
                                   Result<T> (*read)(const RowView&, int)) {
  auto rows = query<T>(c, sql, params, read);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::nullopt;
  return std::move(rows->front());
}

Result<std::optional<RecurringTransfer>> select_transfer(Connection& c, const std::string& id) {
  return query_one<RecurringTransfer>(c, kSelectTransfer + " WHERE id = ?1", {id},
                                      store_detail::read_transfer);
}

Result<std::optional<Job>> select_job(Connection& c, const std::string& id) {
  return query_one<Job>(c, kSelectJob + " WHERE id = ?1", {id}, store_detail::read_job);
}

// The job with its transfer's status, read together.
struct JobAndTransferStatus {
  Job job;
  TransferStatus transfer_status;
};

Result<std::optional<JobAndTransferStatus>> select_job_for_claim(Connection& c,
                                                                 const std::string& id) {
  static const std::string sql =
      "SELECT " + store_detail::qualified(store_detail::kJobColumns, "j") +
      ", t.status FROM recurring_transfer_job j JOIN recurring_transfer t"
      " ON t.id = j.recurring_transfer_id WHERE j.id = ?1";
  std::optional<JobAndTransferStatus> found;
  auto r = c.run(sql, {id}, [&](const RowView& row) -> Result<void> {
    auto job = store_detail::read_job(row, 0);
    if (!job) return std::unexpected(job.error());
    auto status = parse_transfer_status(row.text(store_detail::kJobColumnCount).value_or(""));
    if (!status) return fail(ErrorCode::kInternal, "reading recurring_transfer: bad status");
    found = JobAndTransferStatus{std::move(*job), *status};
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return found;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  bool in_memory = path == ":memory:";
  auto writer = Connection::open(path, in_memory);
  if (!writer) return std::unexpected(writer.error());
  return std::unique_ptr<SqliteStore>(new SqliteStore(path, in_memory, std::move(*writer)));
}

template <class T>
Result<T> SqliteStore::write(const std::function<Result<T>(Connection&)>& body) {
  std::lock_guard lock(write_mutex_);
  store_detail::SqliteTransaction txn(*writer_);
  if (auto r = txn.begin(); !r) return std::unexpected(r.error());
  Result<T> result = body(*writer_);
  if (!result) return result;  // the transaction rolls back
  if (auto r = txn.commit(); !r) return std::unexpected(r.error());
  return result;
}

template <class T>
Result<T> SqliteStore::read(const std::function<Result<T>(Connection&)>& body) {
  if (in_memory_) {
    std::lock_guard lock(write_mutex_);
    return body(*writer_);
  }
  std::unique_ptr<Connection> conn;
  {
    std::unique_lock lock(readers_mutex_);
    reader_returned_.wait(lock,
                          [&] { return !idle_readers_.empty() || open_readers_ < kMaxReaders; });
    if (!idle_readers_.empty()) {
      conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    } else {
      ++open_readers_;
    }
  }
  if (!conn) {
    auto opened = Connection::open(path_, false);
    if (opened) {
      if (auto r = (*opened)->exec("PRAGMA query_only=ON"); r) conn = std::move(*opened);
    }
    if (!conn) {
      std::lock_guard lock(readers_mutex_);
      --open_readers_;
      reader_returned_.notify_one();
      return fail(ErrorCode::kUnavailable, "opening a SQLite read connection to " + path_);
    }
  }
  Result<T> result = body(*conn);
  {
    std::lock_guard lock(readers_mutex_);
    idle_readers_.push_back(std::move(conn));
  }
  reader_returned_.notify_one();
  return result;
}

Result<void> SqliteStore::migrate() {
  auto created = write<bool>([](Connection& c) -> Result<bool> {
    auto r = c.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY NOT NULL, applied_at TEXT NOT NULL) STRICT");
    if (!r) return std::unexpected(r.error());
    return true;
  });
  if (!created) return std::unexpected(created.error().context("migrating SQLite"));
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
      auto ins = c.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                       {int64_t{m.version}, format_timestamp(SystemClock().now())});
      if (!ins) return std::unexpected(ins.error());
      return true;
    });
    if (!applied) {
      return std::unexpected(
          applied.error().context("applying SQLite migration " + std::to_string(m.version)));
    }
  }
  return {};
}

Result<void> SqliteStore::ping() {
  return read<void>([](Connection& c) -> Result<void> {
    auto r = c.run("SELECT 1", {});
    if (!r) return std::unexpected(r.error().context("pinging SQLite"));
    return {};
  });
}

Result<CreateTransferResult> SqliteStore::create_transfer(const RecurringTransfer& transfer,
                                                          const std::vector<Job>& jobs) {
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

Result<std::optional<Job>> SqliteStore::get_job(std::string_view id) {
  std::string key = store_detail::normalize_id(id);
  auto r = read<std::optional<Job>>([&](Connection& c) { return select_job(c, key); });
  if (!r) return std::unexpected(r.error().context("reading job " + key));
  return r;
}

Result<Page<Job>> SqliteStore::list_jobs(const JobFilter& filter) {
  store_detail::ListQuery q('?', store_detail::kJobColumns, "recurring_transfer_job");
  if (filter.status) q.where("status", "=", std::string(to_string(*filter.status)));
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

Result<ClaimResult> SqliteStore::claim_job(const ClaimRequest& request) {
  static const std::string claim_sql =
      "UPDATE recurring_transfer_job SET status = 'PROCESSING', lease_owner = ?2,"
      " lease_expires_at = ?3, updated_at = ?4,"
      " retries = CASE WHEN status = 'PROCESSING' THEN MAX(retries, MIN(retries + 1, ?5))"
      " ELSE retries END WHERE id = ?1 RETURNING " +
      kJobCols;
  static const std::string finish_sql =
      "UPDATE recurring_transfer_job SET status = ?2, finished_at = ?3, updated_at = ?3"
      " WHERE id = ?1 RETURNING " +
      kJobCols;
  std::string id = store_detail::normalize_id(request.job_id);
  std::string now = format_timestamp(request.now);
  auto r = write<ClaimResult>([&](Connection& c) -> Result<ClaimResult> {
    auto found = select_job_for_claim(c, id);
    if (!found) return std::unexpected(found.error());
    if (!*found) return ClaimResult{ClaimStatus::kNotFound, std::nullopt, std::nullopt};
    Job& job = (*found)->job;
    ClaimAction action = store_detail::decide_claim(job, (*found)->transfer_status, request.now);
    switch (action) {
      case ClaimAction::kNotDue:
        return ClaimResult{ClaimStatus::kNotDue, std::move(job), {}};
      case ClaimAction::kInProgress:
        return ClaimResult{ClaimStatus::kInProgress, std::move(job), {}};
      case ClaimAction::kTerminal:
        return ClaimResult{ClaimStatus::kTerminal, std::move(job), {}};
      case ClaimAction::kSkip:
      case ClaimAction::kCancel: {
        // A due job of a PAUSED transfer is skipped; of a CANCELLED one, cancelled.
        bool skip = action == ClaimAction::kSkip;
        std::string status = skip ? "SKIPPED" : "CANCELLED";
        auto done = query_one<Job>(c, finish_sql, {id, status, now}, store_detail::read_job);
        if (!done) return std::unexpected(done.error());
        return ClaimResult{
            skip ? ClaimStatus::kSkipped : ClaimStatus::kTerminal, std::move(*done), {}};
      }
      case ClaimAction::kClaim:
        break;
    }
    auto claimed =
        query_one<Job>(c, claim_sql,
                       {id, request.lease_owner, format_timestamp(request.lease_expires_at), now,
                        int64_t{request.max_retries}},
                       store_detail::read_job);
    if (!claimed) return std::unexpected(claimed.error());
    auto transfer = select_transfer(c, job.recurring_transfer_id);
    if (!transfer) return std::unexpected(transfer.error());
    return ClaimResult{ClaimStatus::kClaimed, std::move(*claimed), std::move(*transfer)};
  });
  if (!r) return std::unexpected(r.error().context("claiming job " + id));
  return r;
}

Result<CompletionResult> SqliteStore::complete_job(const Completion& completion) {
  static const std::string update_sql =
      "UPDATE recurring_transfer_job SET status = ?3, result = ?4, retries = ?5,"
      " next_attempt_at = ?6, provider_reference = COALESCE(?7, provider_reference),"
      " last_error = ?8, finished_at = ?9, lease_owner = NULL, lease_expires_at = NULL,"
      " updated_at = ?10 WHERE id = ?1 AND status = 'PROCESSING' AND lease_owner = ?2"
      " RETURNING " +
      kJobCols;
  static const std::string sequence_sql =
      "UPDATE recurring_transfer SET last_sequence = ?2, updated_at = ?3"
      " WHERE id = ?1 AND last_sequence < ?2";
  static const std::string completed_sql =
      "UPDATE recurring_transfer SET status = 'COMPLETED', updated_at = ?2"
      " WHERE id = ?1 AND status = 'ACTIVE' AND NOT EXISTS (SELECT 1 FROM recurring_transfer_job"
      " WHERE recurring_transfer_id = ?1"
      " AND status NOT IN ('FINISHED', 'FAILED', 'SKIPPED', 'CANCELLED'))";
  const Completion& k = completion;
  std::string id = store_detail::normalize_id(k.job_id);
  std::string now = format_timestamp(k.now);
  auto r = write<CompletionResult>([&](Connection& c) -> Result<CompletionResult> {
    auto updated = query_one<Job>(
        c, update_sql,
        {id, k.lease_owner, std::string(to_string(k.status)),
         k.result ? SqlValue(std::string(to_string(*k.result))) : SqlValue(), int64_t{k.retries},
         k.status == JobStatus::kRetry ? store_detail::opt_time(k.next_attempt_at) : SqlValue(),
         store_detail::opt_text(k.provider_reference), store_detail::opt_text(k.last_error),
         is_terminal(k.status) ? SqlValue(now) : SqlValue(), now},
        store_detail::read_job);
    if (!updated) return std::unexpected(updated.error());
    if (!*updated) {
      auto found = select_job(c, id);
      if (!found) return std::unexpected(found.error());
      return CompletionResult{CompletionStatus::kLeaseLost, std::move(*found)};
    }
    const std::string& transfer_id = (*updated)->recurring_transfer_id;
    if (k.provider_status) {
      auto ins = c.run(kInsertStatus, store_detail::provider_status_values(*k.provider_status));
      if (!ins) return std::unexpected(ins.error().context("inserting provider status"));
    }
    int64_t last_sequence = 0;
    for (const Job& job : k.new_jobs) {
      auto ins = c.run(kInsertJob, store_detail::job_values(job));
      if (!ins) return std::unexpected(ins.error().context("inserting next job"));
      last_sequence = std::max(last_sequence, job.sequence);
    }
    if (last_sequence > 0) {
      auto up = c.run(sequence_sql, {transfer_id, last_sequence, now});
      if (!up) return std::unexpected(up.error().context("updating last_sequence"));
    }
    if (k.schedule_exhausted) {
      auto up = c.run(completed_sql, {transfer_id, now});
      if (!up) return std::unexpected(up.error().context("completing transfer"));
    }
    return CompletionResult{CompletionStatus::kWritten, std::move(*updated)};
  });
  if (!r) return std::unexpected(r.error().context("completing job " + id));
  return r;
}

}  // namespace rtjobs
