#include "store/postgres/pg_connection.hpp"

#include <chrono>
#include <thread>
#include <variant>

namespace rtjobs::store_detail {
namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// libpq wants parallel arrays of C strings; NULL stands for SQL NULL.
struct ParamArrays {
  std::vector<std::string> storage;
  std::vector<const char*> values;

  explicit ParamArrays(const std::vector<SqlValue>& params) {
    storage.reserve(params.size());
    for (const SqlValue& p : params) {
      if (const auto* s = std::get_if<std::string>(&p)) {
        storage.push_back(*s);
      } else if (const auto* n = std::get_if<int64_t>(&p)) {
        storage.push_back(std::to_string(*n));
      } else {
        storage.emplace_back();
      }
    }
    for (size_t i = 0; i < params.size(); ++i) {
      values.push_back(std::holds_alternative<std::monostate>(params[i]) ? nullptr
                                                                         : storage[i].c_str());
    }
  }
};

}  // namespace

std::optional<std::string_view> PgResult::text(int row, int column) const {
  if (PQgetisnull(r_.get(), row, column)) return std::nullopt;
  return std::string_view(PQgetvalue(r_.get(), row, column),
                          static_cast<size_t>(PQgetlength(r_.get(), row, column)));
}

std::string PgResult::sqlstate() const {
  const char* s = PQresultErrorField(r_.get(), PG_DIAG_SQLSTATE);
  return s ? s : "";
}

std::string PgResult::error_message() const { return trimmed(PQresultErrorMessage(r_.get())); }

Result<std::unique_ptr<PgConnection>> PgConnection::connect(const std::string& url) {
  // Keywords after the expanded URL would override it; these come first, as defaults.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", "rtjobs", url.c_str(), nullptr};
  PGconn* raw = PQconnectdbParams(keywords, values, 1);
  std::unique_ptr<PgConnection> conn(new PgConnection(raw));
  if (!raw || PQstatus(raw) != CONNECTION_OK) {
    return fail(ErrorCode::kUnavailable, "connecting to PostgreSQL: " +
                                             trimmed(raw ? PQerrorMessage(raw) : "out of memory"));
  }
  if (auto r = conn->exec(
          "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET client_min_messages = warning");
      !r) {
    return std::unexpected(r.error().context("configuring PostgreSQL session"));
  }
  return conn;
}

Error PgConnection::error(std::string_view what, const PGresult* result) const {
  std::string state;
  std::string message = trimmed(PQerrorMessage(conn_));
  if (result && *PQresultErrorMessage(result) != '\0') {
    const char* s = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    state = s ? s : "";
    message = trimmed(PQresultErrorMessage(result));
  }
  // The database cannot answer (connection, resources, shutdown, contention) versus a statement
  // the database refused, which is a bug of ours.
  bool unavailable = PQstatus(conn_) != CONNECTION_OK || state.empty() || state.starts_with("08") ||
                     state.starts_with("53") || state.starts_with("57") || state == "40001" ||
                     state == "40P01";
  std::string text = std::string(what) + ": " + message;
  if (!state.empty()) text += " (SQLSTATE " + state + ")";
  return Error{unavailable ? ErrorCode::kUnavailable : ErrorCode::kInternal, text, {}, {}};
}

Result<void> PgConnection::exec(const char* sql) {
  PgResult r(PQexec(conn_, sql));
  if (!r.ok()) return std::unexpected(error("PostgreSQL", r.raw()));
  return {};
}

Result<std::string> PgConnection::prepared(const std::string& sql, size_t param_count) {
  if (auto it = statement_names_.find(sql); it != statement_names_.end()) return it->second;
  std::string name = "rt" + std::to_string(statement_names_.size() + 1);
  PgResult r(PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(param_count), nullptr));
  if (!r.ok()) return std::unexpected(error("preparing PostgreSQL statement", r.raw()));
  statement_names_.emplace(sql, name);
  return name;
}

Result<PgResult> PgConnection::query(const std::string& sql, const std::vector<SqlValue>& params) {
  auto name = prepared(sql, params.size());
  if (!name) return std::unexpected(name.error());
  ParamArrays p(params);
  PgResult r(PQexecPrepared(conn_, name->c_str(), static_cast<int>(params.size()), p.values.data(),
                            nullptr, nullptr, 0));
  if (!r.ok()) return std::unexpected(error("PostgreSQL", r.raw()));
  return r;
}

Result<std::vector<PgResult>> PgConnection::pipeline(const std::vector<PgStatement>& statements) {
  std::vector<std::string> names;
  for (const PgStatement& s : statements) {
    auto name = prepared(*s.sql, s.params.size());
    if (!name) return std::unexpected(name.error());
    names.push_back(std::move(*name));
  }
  if (PQenterPipelineMode(conn_) != 1) {
    return std::unexpected(error("entering PostgreSQL pipeline mode"));
  }
  for (size_t i = 0; i < statements.size(); ++i) {
    ParamArrays p(statements[i].params);
    if (PQsendQueryPrepared(conn_, names[i].c_str(), static_cast<int>(p.values.size()),
                            p.values.data(), nullptr, nullptr, 0) != 1) {
      Error e = error("sending PostgreSQL pipeline");
      PQfinish(conn_);  // the protocol state is unknown: never reuse this connection
      conn_ = nullptr;
      return std::unexpected(e);
    }
  }
  if (PQpipelineSync(conn_) != 1) return std::unexpected(error("syncing PostgreSQL pipeline"));
  std::vector<PgResult> results;
  for (size_t i = 0; i < statements.size(); ++i) {
    PGresult* r = PQgetResult(conn_);
    if (!r) return std::unexpected(error("reading PostgreSQL pipeline"));
    results.emplace_back(r);
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);  // up to the NULL ending it
  }
  for (;;) {  // up to the sync point
    PGresult* r = PQgetResult(conn_);
    if (!r) return std::unexpected(error("reading PostgreSQL pipeline sync"));
    bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (sync) break;
  }
  if (PQexitPipelineMode(conn_) != 1) return std::unexpected(error("leaving pipeline mode"));
  return results;
}

Result<void> PgConnection::copy_out(const std::string& sql, const CopyRowSink& on_row) {
  PgResult start(PQexec(conn_, sql.c_str()));
  if (start.status() != PGRES_COPY_OUT)
    return std::unexpected(error("PostgreSQL COPY", start.raw()));
  Result<void> sunk;
  for (;;) {
    char* row = nullptr;
    int n = PQgetCopyData(conn_, &row, 0);
    if (n < 0) break;  // -1: the COPY ended (its status follows); -2: an error (likewise)
    if (sunk) {
      sunk = on_row(std::string_view(row, static_cast<size_t>(n)));
      if (!sunk) {  // stop the server; the rows it already sent are read and dropped below
        if (PGcancel* cancel = PQgetCancel(conn_)) {
          char reason[256];
          (void)PQcancel(cancel, reason, sizeof reason);
          PQfreeCancel(cancel);
        }
      }
    }
    PQfreemem(row);
  }
  Result<void> ended;
  while (PGresult* raw = PQgetResult(conn_)) {
    PgResult r(raw);
    if (ended && !r.ok()) ended = std::unexpected(error("PostgreSQL COPY", r.raw()));
  }
  if (!sunk) return sunk;
  return ended;
}

bool PgConnection::reusable() const {
  return conn_ && PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE &&
         PQpipelineStatus(conn_) == PQ_PIPELINE_OFF;
}

PgLease::~PgLease() { give_back(); }

void PgLease::give_back() {
  if (pool_ && conn_) pool_->release(std::move(conn_));
}

Result<PgLease> PgPool::acquire() {
  std::unique_lock lock(mutex_);
  bool ready = returned_.wait_for(lock, std::chrono::seconds(5),
                                  [&] { return !idle_.empty() || open_ < size_; });
  if (!ready) return fail(ErrorCode::kUnavailable, "all PostgreSQL connections are busy");
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return PgLease(this, std::move(conn));
  }
  ++open_;
  lock.unlock();
  auto conn = PgConnection::connect(url_);
  if (!conn) {
    lock.lock();
    --open_;
    returned_.notify_one();
    return std::unexpected(conn.error());
  }
  return PgLease(this, std::move(*conn));
}

void PgPool::release(std::unique_ptr<PgConnection> conn) {
  std::lock_guard lock(mutex_);
  if (conn->reusable()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;  // broken or left inside a transaction: discard, a new one replaces it lazily
  }
  returned_.notify_one();
}

Result<bool> transaction_committed(PgPool& pool, const std::string& xid,
                                   std::chrono::milliseconds patience) {
  static const std::string status_sql = "SELECT pg_xact_status($1::xid8)";
  const auto deadline = std::chrono::steady_clock::now() + patience;
  auto pause = std::chrono::milliseconds(20);
  Error last{ErrorCode::kUnavailable, "not asked", {}, {}};
  for (;;) {
    auto c = pool.acquire();
    if (c) {
      auto r = (*c)->query(status_sql, {xid});
      if (r) {
        std::string status(r->text(0, 0).value_or(""));
        if (status == "committed") return true;
        if (status == "aborted") return false;
        last = Error{ErrorCode::kUnavailable,
                     "transaction " + xid + " is " + (status.empty() ? "unknown" : status),
                     {},
                     {}};
      } else {
        last = r.error();
      }
    } else {
      last = c.error();
    }
    if (std::chrono::steady_clock::now() + pause > deadline) {
      return std::unexpected(
          last.context("looking up the outcome of a COMMIT whose answer was lost"));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

}  // namespace rtjobs::store_detail
