#include "backup_test_db.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backup/backup_tables.hpp"
#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/sqlite/sqlite_connection.hpp"

namespace rtjobs::backup_test {

using store_detail::RowView;
using store_detail::SqlValue;

struct TestDb::Impl {
  std::unique_ptr<store_detail::SqliteConnection> sqlite;
  std::unique_ptr<store_detail::PgConnection> pg;
};

std::optional<std::string> postgres_url(const std::string& database) {
  const char* base = std::getenv("RT_TEST_POSTGRES_URL");
  if (!base || !*base) return std::nullopt;
  std::string url = base;
  size_t query = url.find('?');
  std::string tail = query == std::string::npos ? "" : url.substr(query);
  url = url.substr(0, query);
  size_t slash = url.rfind('/');
  if (slash == std::string::npos || slash < url.find("//") + 2) return url + "/" + database + tail;
  return url.substr(0, slash + 1) + database + tail;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<TestDb> TestDb::create(Backend backend, const std::string& name) {
  std::unique_ptr<TestDb> db(new TestDb());
  db->backend_ = backend;
  db->impl_ = std::make_unique<Impl>();
  if (backend == Backend::kSqlite) {
    auto dir = std::filesystem::temp_directory_path() /
               ("rtjobs-backup-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    db->path_ = (dir / (name + ".db")).string();
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db->path_ + suffix);
    db->url_ = "sqlite://" + db->path_;
  } else {
    auto admin = postgres_url("postgres");
    if (!admin) {
      ADD_FAILURE() << "RT_TEST_POSTGRES_URL is not set: the PostgreSQL backup tests need it";
      return nullptr;
    }
    std::string database = "rtjobs_backup_" + name;
    auto conn = store_detail::PgConnection::connect(*admin);
    if (!conn) {
      ADD_FAILURE() << conn.error().message;
      return nullptr;
    }
    (void)(*conn)->exec(("CREATE DATABASE " + database).c_str());  // exists already: fine
    db->url_ = *postgres_url(database);
    auto target = store_detail::PgConnection::connect(db->url_);
    if (!target) {
      ADD_FAILURE() << target.error().message;
      return nullptr;
    }
    auto reset = (*target)->exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
    EXPECT_TRUE(reset) << reset.error().message;
    db->impl_->pg = std::move(*target);
  }
  auto store = open_store(db->url_);
  if (!store) {
    ADD_FAILURE() << store.error().message;
    return nullptr;
  }
  db->store_ = std::move(*store);
  auto migrated = db->store_->migrate();
  EXPECT_TRUE(migrated) << migrated.error().message;
  auto backup = open_backup_store(db->url_);
  if (!backup) {
    ADD_FAILURE() << backup.error().message;
    return nullptr;
  }
  db->backup_ = std::move(*backup);
  if (backend == Backend::kSqlite) {
    auto conn = store_detail::SqliteConnection::open(db->path_, false);
    EXPECT_TRUE(conn);
    db->impl_->sqlite = std::move(*conn);
  }
  return db;
}

TestDb::~TestDb() = default;

char TestDb::placeholder_style() const { return backend_ == Backend::kSqlite ? '?' : '$'; }

void TestDb::exec(const std::string& sql, const std::vector<SqlValue>& params) {
  auto r = try_exec(sql, params);
  ASSERT_TRUE(r) << sql << ": " << r.error().message;
}

Result<void> TestDb::try_exec(const std::string& sql, const std::vector<SqlValue>& params) {
  if (impl_->sqlite) {
    auto r = impl_->sqlite->run(sql, params);
    if (!r) return std::unexpected(r.error());
    return {};
  }
  auto r = impl_->pg->query(sql, params);
  if (!r) return std::unexpected(r.error());
  return {};
}

int64_t TestDb::count(std::string_view table) {
  std::string sql = "SELECT count(*) FROM " + std::string(table);
  if (impl_->sqlite) {
    int64_t n = -1;
    auto r = impl_->sqlite->run(sql, {}, [&](const RowView& row) -> Result<void> {
      n = std::stoll(std::string(*row.text(0)));
      return {};
    });
    EXPECT_TRUE(r);
    return n;
  }
  auto r = impl_->pg->query(sql, {});
  EXPECT_TRUE(r);
  return r ? std::stoll(std::string(*r->text(0, 0))) : -1;
}

std::string TestDb::dump(BackupTable table) {
  const auto& spec = backup::table_spec(table);
  bool jobs = table == BackupTable::kJobs;
  std::string sql =
      "SELECT " +
      std::string(jobs ? store_detail::kJobColumns : store_detail::kProviderStatusColumns) +
      " FROM " + std::string(spec.name) + (jobs ? " ORDER BY id" : " ORDER BY job_id, id");
  std::string out;
  backup::append_header(spec, out);
  if (impl_->sqlite) {
    auto r = impl_->sqlite->run(
        sql, {}, [&](const RowView& row) { return backup::append_row(spec, row, out); });
    EXPECT_TRUE(r) << r.error().message;
  } else {
    auto r = impl_->pg->query(sql, {});
    EXPECT_TRUE(r) << r.error().message;
    for (int i = 0; r && i < r->rows(); ++i) {
      EXPECT_TRUE(backup::append_row(spec, store_detail::PgRow(*r, i), out));
    }
  }
  return out;
}

RecurringTransfer TestDb::add_transfer() {
  Timestamp now{std::chrono::milliseconds(clock_ms_ += 1000)};
  RecurringTransfer t;
  t.id = new_uuid_v7(now);
  t.provider = "sandbox";
  t.source_account = "acc_src";
  t.destination_account = "acc_dst";
  t.amount = 5000;
  t.currency = "USD";
  t.description = "rent";
  t.schedule.start_date = *parse_date("2025-01-01");
  t.request_hash = "hash";
  t.created_at = t.updated_at = now;
  add_transfer(t);
  return t;
}

void TestDb::add_transfer(const RecurringTransfer& t) {
  auto r = store_->create_transfer(t, {});
  EXPECT_TRUE(r) << r.error().message;
}

Job TestDb::add_job(const RecurringTransfer& t, int64_t sequence, JobStatus status,
                    std::string_view scheduled_for) {
  Timestamp now{std::chrono::milliseconds(clock_ms_ += 7)};
  Job j;
  j.id = new_uuid_v7(now);
  j.recurring_transfer_id = t.id;
  j.sequence = sequence;
  j.scheduled_for = *parse_date(scheduled_for);
  j.due_at = Timestamp{j.scheduled_for} + std::chrono::hours(9);
  j.status = status;
  if (status == JobStatus::kFinished) {
    j.result = JobResult::kSucceeded;
    j.provider_reference = "ref-" + std::to_string(sequence);
    j.bank_status = "Sent, \"settled\" — ✓";
    j.finished_at = now;
    // Every settlement column filled, so the CSV round trips carry them.
    j.settlement_status = SettlementStatus::kSettled;
    j.settled_at = now + std::chrono::milliseconds(1);
    j.return_code = "R01";
    j.presentment = 1;
  }
  if (status == JobStatus::kFailed) j.last_error = "bank said: \"no\", twice\r\nthen hung up";
  j.retries = status == JobStatus::kFailed ? 3 : 0;
  j.provider = t.provider;
  j.idempotency_key = t.id + ":" + std::to_string(sequence);
  j.created_at = now;
  j.updated_at = now + std::chrono::milliseconds(3);
  std::string sql = "INSERT INTO recurring_transfer_job (" +
                    std::string(store_detail::kJobColumns) + ") VALUES (" +
                    store_detail::placeholders(placeholder_style(), store_detail::kJobColumnCount) +
                    ")";
  exec(sql, store_detail::job_values(j));
  return j;
}

ProviderStatus TestDb::add_status(const Job& job, int attempt, std::optional<std::string> body) {
  Timestamp now{std::chrono::milliseconds(clock_ms_ += 5)};
  ProviderStatus p;
  p.id = new_uuid_v7(now);
  p.job_id = job.id;
  p.recurring_transfer_id = job.recurring_transfer_id;
  p.provider = job.provider;
  p.attempt = attempt;
  p.http_status = attempt % 2 ? std::optional<int>(422) : std::nullopt;
  p.code = "insufficient_funds";
  p.message = attempt % 2 ? std::optional<std::string>("") : std::nullopt;
  p.response_body = std::move(body);
  p.created_at = now;
  std::string sql =
      "INSERT INTO recurring_transfer_provider_status (" +
      std::string(store_detail::kProviderStatusColumns) + ") VALUES (" +
      store_detail::placeholders(placeholder_style(), store_detail::kProviderStatusColumnCount) +
      ")";
  exec(sql, store_detail::provider_status_values(p));
  return p;
}

}  // namespace rtjobs::backup_test
