#include "store/sqlite/sqlite_connection.hpp"

#include <variant>

namespace rtjobs::store_detail {
namespace {

class StatementRow final : public RowView {
 public:
  explicit StatementRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  std::optional<std::string_view> text(int column) const override {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    int n = sqlite3_column_bytes(stmt_, column);
    return std::string_view(p ? p : "", static_cast<size_t>(n));
  }

 private:
  sqlite3_stmt* stmt_;
};

// Resets the statement (and clears its bindings) however run() leaves.
struct ResetGuard {
  sqlite3_stmt* stmt;
  ~ResetGuard() {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
};

// Before SQLite's first use in the process: no memory statistics (every allocation and free
// would take SQLite's one global mutex for them, shared by all threads).
void configure_sqlite_once() {
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)configured;  // SQLITE_MISUSE if something used SQLite first: only the statistics stay
}

}  // namespace

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(const std::string& path,
                                                                 bool in_memory) {
  configure_sqlite_once();
  sqlite3* db = nullptr;
  // NOMUTEX: the store guarantees one thread per connection at a time.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return fail(ErrorCode::kUnavailable, "opening SQLite database " + path + ": " + msg);
  }
  std::unique_ptr<SqliteConnection> conn(new SqliteConnection(db));
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  // WAL lets readers run beside the one writer. synchronous=FULL also syncs the WAL at every
  // commit: NORMAL would be crash-safe but could lose the last commits on power loss, and a
  // lost "FINISHED" or a lost 201-acknowledged transfer is money we cannot account for.
  const char* pragmas = in_memory ? "PRAGMA foreign_keys=ON;"
                                  : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                    "PRAGMA foreign_keys=ON; "
                                    // An 8 MiB page cache per connection (SQLite's default is
                                    // 2 MiB) keeps the hot pages of a burn-down off read()
                                    // copies while memory stays bounded; no mmap, whose pages
                                    // would count as the process's resident memory.
                                    "PRAGMA cache_size=-8192;";
  if (auto r = conn->exec(pragmas); !r) return std::unexpected(r.error());
  return conn;
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Error SqliteConnection::error(std::string_view what) const {
  int code = sqlite3_extended_errcode(db_);
  ErrorCode kind = ErrorCode::kInternal;
  if ((code & 0xFF) == SQLITE_BUSY || (code & 0xFF) == SQLITE_LOCKED ||
      (code & 0xFF) == SQLITE_IOERR || (code & 0xFF) == SQLITE_FULL ||
      (code & 0xFF) == SQLITE_CANTOPEN) {
    kind = ErrorCode::kUnavailable;
  }
  return Error{kind, std::string(what) + ": " + sqlite3_errmsg(db_), {}, {}};
}

Result<void> SqliteConnection::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : "unknown error";
    sqlite3_free(msg);
    Error e = error("SQLite");
    e.message = "SQLite: " + text;
    return std::unexpected(e);
  }
  return {};
}

Result<sqlite3_stmt*> SqliteConnection::prepared(const std::string& sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return std::unexpected(error("preparing SQLite statement"));
  }
  statements_.emplace(sql, stmt);
  return stmt;
}

Result<int> SqliteConnection::run(const std::string& sql, const std::vector<SqlValue>& params,
                                  const RowFn& on_row) {
  auto stmt = prepared(sql);
  if (!stmt) return std::unexpected(stmt.error());
  ResetGuard guard{*stmt};
  for (size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i) + 1;
    int rc = SQLITE_OK;
    if (const auto* s = std::get_if<std::string>(&params[i])) {
      // STATIC, not a copy: `params` outlives the statement's use of it, since the guard
      // clears the bindings before run() returns.
      rc = sqlite3_bind_text(*stmt, index, s->data(), static_cast<int>(s->size()), SQLITE_STATIC);
    } else if (const auto* n = std::get_if<int64_t>(&params[i])) {
      rc = sqlite3_bind_int64(*stmt, index, *n);
    } else {
      rc = sqlite3_bind_null(*stmt, index);
    }
    if (rc != SQLITE_OK) return std::unexpected(error("binding SQLite parameter"));
  }
  StatementRow row(*stmt);
  Result<void> row_result;
  for (;;) {
    int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return std::unexpected(error("running SQLite statement"));
    // Keep stepping after a mapping failure so the statement completes its writes consistently.
    if (on_row && row_result) row_result = on_row(row);
  }
  if (!row_result) return std::unexpected(row_result.error());
  return sqlite3_changes(db_);
}

void SqliteConnection::set_wal_hook(std::function<bool(int wal_pages)> hook) {
  wal_hook_ = std::move(hook);
  sqlite3_wal_hook(db_, wal_hook_ ? &SqliteConnection::call_wal_hook : nullptr, this);
}

int SqliteConnection::call_wal_hook(void* self, sqlite3* db, const char* name, int wal_pages) {
  auto* conn = static_cast<SqliteConnection*>(self);
  if (conn->wal_hook_(wal_pages)) {
    // As SQLite's automatic checkpoint does, errors left to the next one.
    (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
  return SQLITE_OK;
}

Result<void> SqliteConnection::checkpoint() {
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  // BUSY: another connection is checkpointing now, which does the same work.
  if (rc != SQLITE_OK && (rc & 0xFF) != SQLITE_BUSY) {
    return std::unexpected(error("checkpointing SQLite"));
  }
  return {};
}

SqliteTransaction::~SqliteTransaction() {
  if (open_) (void)conn_.exec("ROLLBACK");
}

// BEGIN and COMMIT are prepared once per connection, like every other statement.
Result<void> SqliteTransaction::begin() {
  // IMMEDIATE takes the write lock now (waiting up to the busy timeout), so a transaction never
  // fails half-way on a lock upgrade.
  static const std::string sql = "BEGIN IMMEDIATE";
  if (auto r = conn_.run(sql, {}); !r) return std::unexpected(r.error());
  open_ = true;
  return {};
}

Result<void> SqliteTransaction::commit() {
  static const std::string sql = "COMMIT";
  if (auto r = conn_.run(sql, {}); !r) return std::unexpected(r.error());
  open_ = false;
  return {};
}

}  // namespace rtjobs::store_detail
