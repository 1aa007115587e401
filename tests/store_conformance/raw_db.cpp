#include "raw_db.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "conformance.hpp"
#include "store/postgres/pg_schema.hpp"
#include "store/sqlite/sqlite_schema.hpp"

namespace rtjobs::store_conformance {

using store_detail::SqlValue;

RawDb::RawDb(const std::string& url) {
  if (url.starts_with("sqlite://")) {
    auto c = store_detail::SqliteConnection::open(url.substr(9), false);
    EXPECT_TRUE(c) << c.error().message;
    if (c) sqlite_ = std::move(*c);
  } else {
    auto c = store_detail::PgConnection::connect(url);
    EXPECT_TRUE(c) << c.error().message;
    if (c) pg_ = std::move(*c);
  }
}

Result<void> RawDb::run(const std::string& sql, const std::vector<SqlValue>& params) {
  if (sqlite_) {
    auto r = sqlite_->run(sql, params);
    if (!r) return std::unexpected(r.error());
    return {};
  }
  auto r = pg_->query(sql, params);
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> RawDb::script(const char* sql) {
  return sqlite_ ? sqlite_->exec(sql) : pg_->exec(sql);
}

bool RawDb::saw_lock_wait(const std::atomic<bool>& done) {
  while (!done.load()) {
    auto waiting =
        text("SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted");
    EXPECT_TRUE(waiting) << waiting.error().message;
    if (!waiting) return false;
    if (waiting->value_or("0") != "0") return true;
    std::this_thread::yield();
  }
  return false;
}

Result<std::optional<std::string>> RawDb::text(const std::string& sql,
                                               const std::vector<SqlValue>& params) {
  std::optional<std::string> out;
  if (sqlite_) {
    bool first = true;
    auto r = sqlite_->run(sql, params, [&](const store_detail::RowView& row) -> Result<void> {
      if (first) {
        if (auto v = row.text(0)) out = std::string(*v);
      }
      first = false;
      return {};
    });
    if (!r) return std::unexpected(r.error());
    return out;
  }
  auto r = pg_->query(sql, params);
  if (!r) return std::unexpected(r.error());
  if (r->rows() > 0) {
    if (auto v = r->text(0, 0)) out = std::string(*v);
  }
  return out;
}

void RawDb::migrate_before(int version) {
  if (sqlite_) {
    ASSERT_TRUE(
        script("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL,"
               " applied_at TEXT NOT NULL) STRICT"));
    for (const auto& m : store_detail::sqlite_migrations()) {
      if (m.version < version) apply(m.version, m.sql);
    }
  } else {
    ASSERT_TRUE(
        script("CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
               " applied_at timestamptz NOT NULL)"));
    for (const auto& m : store_detail::pg_migrations()) {
      if (m.version < version) apply(m.version, m.sql);
    }
  }
}

namespace {

// "a, b, c" cut after its first `count` names.
std::string leading_columns(std::string_view columns, int count) {
  size_t end = 0;
  for (int i = 0; i < count; ++i) end = columns.find(',', end + (i > 0 ? 1 : 0));
  return std::string(columns.substr(0, end));
}

}  // namespace

void RawDb::insert_leading(const RecurringTransfer& t, const std::vector<Job>& jobs,
                           int transfer_columns, int job_columns) {
  auto values = store_detail::transfer_values(t);
  values.resize(size_t(transfer_columns));
  auto r = run("INSERT INTO recurring_transfer (" +
                   leading_columns(store_detail::kTransferColumns, transfer_columns) +
                   ") VALUES (" + store_detail::placeholders(style(), transfer_columns) + ")",
               values);
  ASSERT_TRUE(r) << r.error().message;
  for (const Job& j : jobs) {
    auto job_values = store_detail::job_values(j);
    job_values.resize(size_t(job_columns));
    r = run("INSERT INTO recurring_transfer_job (" +
                leading_columns(store_detail::kJobColumns, job_columns) + ") VALUES (" +
                store_detail::placeholders(style(), job_columns) + ")",
            job_values);
    ASSERT_TRUE(r) << r.error().message;
  }
}

void RawDb::apply(int version, const char* sql) {
  auto r = script(sql);
  ASSERT_TRUE(r) << "migration " << version << ": " << r.error().message;
  r = run(std::string("INSERT INTO schema_migrations (version, applied_at) VALUES (") + style() +
              "1, " + style() + "2)",
          {int64_t{version}, format_timestamp(kT0)});
  ASSERT_TRUE(r) << r.error().message;
}

}  // namespace rtjobs::store_conformance
