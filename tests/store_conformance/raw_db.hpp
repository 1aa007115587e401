// RawDb: a connection of a test's own to its database, as an older binary (or an operator)
// would use it: SQL text, no Store. The migration tests build with it the schema a database had
// before a migration, and write rows the way a binary of that time did.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/record_codec.hpp"
#include "store/sqlite/sqlite_connection.hpp"

namespace rtjobs::store_conformance {

class RawDb {
 public:
  // "sqlite://path" or a PostgreSQL URL; a failure to connect is a gtest failure.
  explicit RawDb(const std::string& url);

  // The placeholder style: '?' (SQLite) or '$' (PostgreSQL).
  char style() const { return sqlite_ ? '?' : '$'; }
  // One statement with parameters.
  Result<void> run(const std::string& sql, const std::vector<store_detail::SqlValue>& params = {});
  // Several statements without parameters.
  Result<void> script(const char* sql);
  // The first column of the first row as text; nullopt when there is no row or it is NULL.
  Result<std::optional<std::string>> text(const std::string& sql,
                                          const std::vector<store_detail::SqlValue>& params = {});

  // PostgreSQL: polls pg_locks until some transaction waits for another's (a row lock) or
  // `done` is set; true when it saw a wait. A failed poll is a gtest failure.
  bool saw_lock_wait(const std::atomic<bool>& done);

  // The schema as the migrations before `version` left it, recorded as the stores record them.
  void migrate_before(int version);

  // Inserts a transfer and its jobs naming only the first `transfer_columns` and `job_columns`
  // of the current column lists (record_codec.hpp): what a binary built before the columns
  // after them were appended wrote. A failure is a gtest failure.
  void insert_leading(const RecurringTransfer& t, const std::vector<Job>& jobs,
                      int transfer_columns, int job_columns);

 private:
  void apply(int version, const char* sql);

  std::unique_ptr<store_detail::SqliteConnection> sqlite_;
  std::unique_ptr<store_detail::PgConnection> pg_;
};

}  // namespace rtjobs::store_conformance
