// SqliteConnection: one libsqlite3 connection with its prepared statements cached by SQL text.
// Statements are only ever prepared from constant SQL; values are always bound parameters.
// Not thread-safe: the SqliteStore hands a connection to one thread at a time.
#pragma once

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "store/record_codec.hpp"

namespace rtjobs::store_detail {

class SqliteConnection {
 public:
  using RowFn = std::function<Result<void>(const RowView&)>;

  // Opens (creating if missing) the database at `path` ("file::memory:?..." URIs accepted) with
  // a 5 s busy timeout, foreign keys on and, for files, WAL with synchronous=FULL.
  static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path, bool in_memory);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // Runs SQL without parameters (pragmas, DDL, transaction control); may hold several statements.
  Result<void> exec(const char* sql);
  // Runs one cached statement with `params` bound as ?1.., calling `on_row` per row. Returns the
  // number of rows changed.
  Result<int> run(const std::string& sql, const std::vector<SqlValue>& params,
                  const RowFn& on_row = {});
  // After each commit on this connection, instead of SQLite's automatic checkpoint: calls
  // `hook` with the pages in the WAL, and checkpoints here (PASSIVE) when it answers true.
  void set_wal_hook(std::function<bool(int wal_pages)> hook);
  // A PASSIVE checkpoint: copies what it can of the WAL into the database file without waiting
  // for the writer or the readers.
  Result<void> checkpoint();

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  Result<sqlite3_stmt*> prepared(const std::string& sql);
  Error error(std::string_view what) const;

  static int call_wal_hook(void* self, sqlite3* db, const char* name, int wal_pages);

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  std::function<bool(int)> wal_hook_;
};

// BEGIN IMMEDIATE on construction (call begin()); ROLLBACK on destruction unless committed.
class SqliteTransaction {
 public:
  explicit SqliteTransaction(SqliteConnection& conn) : conn_(conn) {}
  ~SqliteTransaction();
  Result<void> begin();
  Result<void> commit();

 private:
  SqliteConnection& conn_;
  bool open_ = false;
};

}  // namespace rtjobs::store_detail
