// Test databases for the backup suite: a fresh, migrated SQLite file or PostgreSQL database per
// test, raw row inserts (jobs and provider-status rows in any state, which the Store's API does
// not offer), and table dumps in the backup CSV form for byte-for-byte comparisons.
//
// PostgreSQL comes from RT_TEST_POSTGRES_URL (a test without it fails); the suite works in
// databases of its own on that server (rtjobs_backup_test, rtjobs_backup_restore), recreated
// schema by schema, so it never touches what other suites use.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model.hpp"
#include "store/backup_store.hpp"
#include "store/store.hpp"

namespace rtjobs::backup_test {

enum class Backend { kSqlite, kPostgres };

class TestDb {
 public:
  // `name` tells databases apart within one test ("main", "restore").
  static std::unique_ptr<TestDb> create(Backend backend, const std::string& name);
  ~TestDb();

  const std::string& url() const { return url_; }
  Store& store() { return *store_; }
  BackupStore& backup_store() { return *backup_; }

  RecurringTransfer add_transfer();
  void add_transfer(const RecurringTransfer& t);  // the same transfer, in another database
  Job add_job(const RecurringTransfer& t, int64_t sequence, JobStatus status,
              std::string_view scheduled_for);
  ProviderStatus add_status(const Job& job, int attempt, std::optional<std::string> body);

  // Runs one statement (placeholders '?' on SQLite, '$' on PostgreSQL, numbered from 1).
  void exec(const std::string& sql, const std::vector<store_detail::SqlValue>& params = {});
  // The same, for a statement that may fail: its error.
  Result<void> try_exec(const std::string& sql,
                        const std::vector<store_detail::SqlValue>& params = {});
  int64_t count(std::string_view table);
  // The table as the backup would write it (header, rows in export order).
  std::string dump(BackupTable table);
  char placeholder_style() const;

 private:
  struct Impl;
  TestDb() = default;

  Backend backend_{};
  std::string url_;
  std::string path_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BackupStore> backup_;
  std::unique_ptr<Impl> impl_;
  int64_t clock_ms_ = 1'780'000'000'000;  // ids and created_at move forward per row
};

// The PostgreSQL URL of RT_TEST_POSTGRES_URL with another database name.
std::optional<std::string> postgres_url(const std::string& database);

std::string read_file(const std::string& path);

}  // namespace rtjobs::backup_test
