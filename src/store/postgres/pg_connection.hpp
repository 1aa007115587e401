// Thin RAII wrappers over libpq: PgResult owns a PGresult, PgConnection owns a PGconn with its
// prepared statements (PQprepare'd once per connection, keyed by their constant SQL text), and
// PgPool hands connections to threads. Values always travel as parameters, never inside SQL.
//
// Sessions run with TimeZone=UTC and DateStyle=ISO, so instants read back as
// "YYYY-MM-DD HH:MM:SS.mmm+00" and dates as "YYYY-MM-DD" (both parsed by core/time_format).
//
// Thread-safety: a PgConnection is used by one thread at a time; PgPool is thread-safe.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "store/record_codec.hpp"

namespace rtjobs::store_detail {

class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}
  ExecStatusType status() const { return PQresultStatus(r_.get()); }
  bool ok() const { return status() == PGRES_COMMAND_OK || status() == PGRES_TUPLES_OK; }
  int rows() const { return PQntuples(r_.get()); }
  std::optional<std::string_view> text(int row, int column) const;
  std::string sqlstate() const;
  std::string error_message() const;
  const PGresult* raw() const { return r_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

// One row of a PgResult as a RowView.
class PgRow final : public RowView {
 public:
  PgRow(const PgResult& result, int row) : result_(result), row_(row) {}
  std::optional<std::string_view> text(int column) const override {
    return result_.text(row_, column);
  }

 private:
  const PgResult& result_;
  int row_;
};

struct PgStatement {
  const std::string* sql;  // constant SQL with $1.. placeholders
  std::vector<SqlValue> params;
};

class PgConnection {
 public:
  // Connects with the libpq URI `url`; errors name libpq's reason (which never holds the
  // password) but not the URL.
  static Result<std::unique_ptr<PgConnection>> connect(const std::string& url);
  ~PgConnection() { PQfinish(conn_); }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs SQL without parameters (DDL, transaction control); may hold several statements.
  Result<void> exec(const char* sql);
  // Runs one prepared statement; SQL errors come back as errors carrying the SQLSTATE.
  Result<PgResult> query(const std::string& sql, const std::vector<SqlValue>& params);
  // Sends all statements in one round trip (libpq pipeline mode) and returns one result per
  // statement. After a failed statement the server skips the rest (PGRES_PIPELINE_ABORTED).
  Result<std::vector<PgResult>> pipeline(const std::vector<PgStatement>& statements);
  // Runs `sql`, a COPY ... TO STDOUT (which takes no parameters: pass values with set_config()
  // earlier in the transaction), and hands each data row as the server sent it (text format:
  // one row, '\n'-terminated) to `on_row`. When on_row fails, the COPY is cancelled and its
  // error returned; the transaction is then aborted.
  using CopyRowSink = std::function<Result<void>(std::string_view row)>;
  Result<void> copy_out(const std::string& sql, const CopyRowSink& on_row);

  // Connected and outside any transaction: safe to hand to the next user.
  bool reusable() const;
  // False once the connection to the server is lost (the outcome of a statement sent but not
  // answered is then unknown).
  bool connected() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  Result<std::string> prepared(const std::string& sql, size_t param_count);
  Error error(std::string_view what, const PGresult* result = nullptr) const;

  PGconn* conn_;
  std::unordered_map<std::string, std::string> statement_names_;
};

class PgPool;

// A connection borrowed from the pool; returned (or discarded if broken) on destruction.
class PgLease {
 public:
  PgLease(PgPool* pool, std::unique_ptr<PgConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
  PgLease(PgLease&&) = default;
  ~PgLease();
  PgConnection* operator->() { return conn_.get(); }
  PgConnection& operator*() { return *conn_; }
  // Gives the connection back now (a broken one is discarded), e.g. to borrow another.
  void give_back();
  bool held() const { return conn_ != nullptr; }

 private:
  PgPool* pool_;
  std::unique_ptr<PgConnection> conn_;
};

// Up to `size` connections, opened lazily; a caller waits (at most 5 s) when all are in use.
class PgPool {
 public:
  PgPool(std::string url, int size) : url_(std::move(url)), size_(size) {}
  Result<PgLease> acquire();

 private:
  friend class PgLease;
  void release(std::unique_ptr<PgConnection> conn);

  const std::string url_;
  const int size_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mutex_
  int open_ = 0;                                     // guarded by mutex_
};

// A transaction's id, for asking after a COMMIT whose answer was lost: pipelined inside the
// transaction, it answers one row with the id as text.
inline const std::string kTransactionIdSql = "SELECT pg_current_xact_id()::text";

// Whether transaction `xid` (kTransactionIdSql) committed, asked of the server on a connection
// of `pool` (pg_xact_status) after the connection that sent its COMMIT was lost. While the server
// still has it in progress (its backend has not yet seen the connection end), asks again, for up
// to `patience`. An error when the server cannot say: the outcome stays unknown.
Result<bool> transaction_committed(PgPool& pool, const std::string& xid,
                                   std::chrono::milliseconds patience);

}  // namespace rtjobs::store_detail
