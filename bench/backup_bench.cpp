// backup_bench: backs up N job rows and N/5 provider-status rows to file:// on SQLite and on
// PostgreSQL, printing the run's wall time and the peak resident memory of the process that
// ran it, for two sizes, to show that memory does not grow with the row count. Not part of
// ctest.
//
//   build-backup/backup_bench [jobs...]         default: 100000 1000000
//   RT_BENCH_POSTGRES_URL (default postgresql://rtjobs@127.0.0.1:54329/rtjobs_backup)
//
// Data is generated inside the database (one INSERT ... SELECT); each backup runs in a forked
// child, so its peak RSS (wait4's ru_maxrss) is that of the backup alone.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "backup/backup_runner.hpp"
#include "backup/file_object_store.hpp"
#include "core/time_format.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/sqlite/sqlite_connection.hpp"
#include "store/store.hpp"

namespace fs = std::filesystem;
using namespace rtjobs;

namespace {

const std::string kTransferId = "0190c0de-0000-7000-8000-000000000000";

void check(const Result<void>& r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().message.c_str());
    std::exit(1);
  }
}

std::string job_select(bool pg) {
  std::string id =
      pg ? "(lpad(to_hex(i), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid"
         : "printf('%08x-0000-7000-8000-%012x', i, i)";
  std::string key = pg ? "$1 || ':' || i::text" : "?1 || ':' || i";
  return "SELECT " + id + ", " + (pg ? "$1::uuid" : "?1") + ", i, '2025-01-01', " +
         "'2025-01-01T09:00:00.000Z', 'FINISHED', 'SUCCEEDED', 0, NULL, 'sandbox', " + key +
         ", 'ref-' || i, NULL, NULL, NULL, '2025-01-01T09:00:00.000Z', "
         "'2025-01-01T09:00:01.000Z', '2025-01-01T09:00:01.000Z', "
         // bank_status, settlement_status, settled_at, return_code, presentment,
         // settlement_check_at, outcome_unknown
         "NULL, NULL, NULL, NULL, 0, NULL, 0";
}

std::string status_select(bool pg) {
  std::string id =
      pg ? "(lpad(to_hex(i), 8, '0') || '-0000-7000-9000-' || lpad(to_hex(i), 12, '0'))::uuid"
         : "printf('%08x-0000-7000-9000-%012x', i, i)";
  std::string job = pg ? "(lpad(to_hex(i * 5), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(i * "
                         "5), 12, '0'))::uuid"
                       : "printf('%08x-0000-7000-8000-%012x', i * 5, i * 5)";
  return "SELECT " + id + ", " + job + (pg ? ", $1::uuid" : ", ?1") +
         ", 'sandbox', 1, 422, 'insufficient_funds', 'balance too low', "
         "'{\"error\":{\"code\":\"insufficient_funds\",\"message\":\"balance, too "
         "\"\"low\"\"\"}}', "
         "'2025-01-01T09:00:00.500Z'";
}

// Creates the schema, one transfer, `jobs` terminal jobs and jobs / 5 provider-status rows.
void populate(const std::string& url, bool pg, int64_t jobs) {
  if (pg) {
    auto c = store_detail::PgConnection::connect(url);
    if (!c) check(std::unexpected(c.error()), "connecting");
    check((*c)->exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"), "resetting");
  }
  auto store = open_store(url);
  if (!store) check(std::unexpected(store.error()), "opening");
  if (auto m = (*store)->migrate(); !m) check(std::unexpected(m.error()), "migrating");
  RecurringTransfer t;
  t.id = kTransferId;
  t.provider = "sandbox";
  t.source_account = "a";
  t.destination_account = "b";
  t.amount = 100;
  t.currency = "USD";
  t.description = "bench";
  t.schedule.start_date = *parse_date("2025-01-01");
  t.request_hash = "h";
  auto created = (*store)->create_transfer(t, {});
  if (!created) check(std::unexpected(created.error()), "creating the transfer");
  std::string job_sql =
      "INSERT INTO recurring_transfer_job (" + std::string(store_detail::kJobColumns) + ") ";
  std::string status_sql = "INSERT INTO recurring_transfer_provider_status (" +
                           std::string(store_detail::kProviderStatusColumns) + ") ";
  if (pg) {
    auto c = store_detail::PgConnection::connect(url);
    auto r1 = (*c)->query(job_sql + job_select(true) + " FROM generate_series(1, $2) AS i",
                          {kTransferId, jobs});
    if (!r1) check(std::unexpected(r1.error()), "generating jobs");
    auto r2 = (*c)->query(status_sql + status_select(true) + " FROM generate_series(1, $2) AS i",
                          {kTransferId, jobs / 5});
    if (!r2) check(std::unexpected(r2.error()), "generating statuses");
    check((*c)->exec("ANALYZE"), "analyze");
  } else {
    auto c = store_detail::SqliteConnection::open(url.substr(9), false);
    std::string series =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) ";
    auto r1 = (*c)->run(series + job_sql + job_select(false) + " FROM n", {kTransferId, jobs});
    if (!r1) check(std::unexpected(r1.error()), "generating jobs");
    auto r2 =
        (*c)->run(series + status_sql + status_select(false) + " FROM n", {kTransferId, jobs / 5});
    if (!r2) check(std::unexpected(r2.error()), "generating statuses");
  }
}

void backup_child(const std::string& url, const fs::path& dir) {
  auto store = open_backup_store(url);
  if (!store) check(std::unexpected(store.error()), "opening the backup store");
  backup::FileObjectStore objects(dir);
  ManualClock clock(*parse_timestamp("2026-11-28T00:00:00.000Z"));
  backup::BackupRunner runner(**store, objects, clock, {});
  auto start = std::chrono::steady_clock::now();
  auto r = runner.run(false);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!r) check(std::unexpected(r.error()), "backup");
  int64_t bytes = 0;
  for (const auto& o : r->objects) bytes += o.bytes;
  std::printf("  %-10s jobs %8lld  statuses %7lld  deleted %8lld  objects %6.1f MiB  %7.1f s",
              std::string((*store)->backend()).c_str(), static_cast<long long>(r->job_rows),
              static_cast<long long>(r->provider_status_rows),
              static_cast<long long>(r->deleted_job_rows), static_cast<double>(bytes) / 1048576.0,
              secs);
  std::fprintf(stderr, "  %-10s export %lld ms, upload %lld ms, verify %lld ms, delete %lld ms\n",
               std::string((*store)->backend()).c_str(), static_cast<long long>(r->export_ms),
               static_cast<long long>(r->upload_ms), static_cast<long long>(r->verify_ms),
               static_cast<long long>(r->delete_ms));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) sizes = {100000, 1000000};
  const char* pg_env = std::getenv("RT_BENCH_POSTGRES_URL");
  std::string pg_url = pg_env ? pg_env : "postgresql://rtjobs@127.0.0.1:54329/rtjobs_backup";
  fs::path work = fs::temp_directory_path() / ("rtjobs-backup-bench-" + std::to_string(::getpid()));
  std::printf("backup_bench: file:// objects, N jobs and N/5 provider-status rows\n");
  for (int64_t n : sizes) {
    for (bool pg : {false, true}) {
      fs::remove_all(work);
      fs::create_directories(work);
      std::string url = pg ? pg_url : "sqlite://" + (work / "bench.db").string();
      populate(url, pg, n);
      std::fflush(stdout);
      pid_t child = ::fork();
      if (child == 0) {
        backup_child(url, work / "objects");
        std::_Exit(0);
      }
      int status = 0;
      struct rusage usage {};
      ::wait4(child, &status, 0, &usage);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
      std::printf("  peak RSS %6.1f MiB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
    }
  }
  fs::remove_all(work);
  return 0;
}
