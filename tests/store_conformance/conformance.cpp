// The fixtures' set-up and helpers (conformance.hpp), and the one instantiation of each fixture
// on both backends.
#include "conformance.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include "core/uuid.hpp"
#include "raw_db.hpp"
#include "store/postgres/pg_schema.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/sqlite/sqlite_schema.hpp"

namespace rtjobs::store_conformance {

using namespace std::chrono_literals;

// --- StoreConformance ---

void StoreConformance::SetUp() {
  if (GetParam() == "sqlite") {
    dir_ = std::filesystem::temp_directory_path() /
           ("rtjobs-store-" + std::to_string(::getpid()) + "-" + std::to_string(++counter_));
    std::filesystem::create_directories(dir_);
    url_ = "sqlite://" + (dir_ / "test.db").string();
  } else {
    const char* env = std::getenv("RT_TEST_POSTGRES_URL");
    ASSERT_NE(env, nullptr) << "RT_TEST_POSTGRES_URL is not set: the PostgreSQL store tests "
                               "need a server (scripts/pg.sh start prints a URL)";
    url_ = env;
    PGconn* raw = PQconnectdb(url_.c_str());
    ASSERT_EQ(PQstatus(raw), CONNECTION_OK) << PQerrorMessage(raw);
    PGresult* r = PQexec(raw,
                         "SET client_min_messages = warning;"
                         "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(raw);
    ASSERT_TRUE(ok) << err;
  }
  store_ = open();
  ASSERT_NE(store_, nullptr);
  auto m = store_->migrate();
  ASSERT_TRUE(m) << m.error().message;
  first_migration_ = *m;
}

void StoreConformance::TearDown() {
  store_.reset();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

Result<std::unique_ptr<Store>> open_test_store(const std::string& url) {
  if (url.starts_with("sqlite://")) return open_store(url);
  auto s = PgStore::open(url, PgStore::TimeSource::kCaller);
  if (!s) return std::unexpected(s.error());
  return std::unique_ptr<Store>(std::move(*s));
}

std::unique_ptr<Store> StoreConformance::open() {
  auto s = open_test_store(url_);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

std::unique_ptr<Store> StoreConformance::open_on_server_clock() {
  auto s = open_store(url_);
  EXPECT_TRUE(s) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

RecurringTransfer StoreConformance::transfer(TransferStatus status,
                                             std::optional<std::string> key) {
  RecurringTransfer t;
  t.id = new_uuid_v7(kT0);
  t.external_id = "ext-" + t.id.substr(0, 8);
  t.provider = "sandbox";
  t.source_account = "acct-src";
  t.destination_account = "acct-dst";
  t.amount = 5000;
  t.currency = "USD";
  t.description = "rent";
  t.schedule.frequency = Frequency::kMonthly;
  t.schedule.day_of_month = -1;
  t.schedule.start_date = parse_date("2026-03-31").value();
  t.schedule.execution_minutes = 9 * 60 + 30;
  t.status = status;
  t.last_sequence = 0;
  // More occurrences to come, as for any transfer whose schedule is not exhausted: a test of an
  // exhausted schedule resets it (the stores complete a transfer only when it is NULL).
  t.next_occurrence_at = kT0 + 24h * 400;
  t.idempotency_key = std::move(key);
  t.request_hash = "hash";
  t.created_at = kT0;
  t.updated_at = kT0;
  return t;
}

Job StoreConformance::job(const RecurringTransfer& t, int64_t sequence, Timestamp due,
                          JobStatus status) {
  Job j;
  j.id = new_uuid_v7(kT0);
  j.recurring_transfer_id = t.id;
  j.sequence = sequence;
  j.scheduled_for = std::chrono::floor<std::chrono::days>(due);
  j.due_at = due;
  j.status = status;
  j.provider = t.provider;
  j.idempotency_key = "idem-" + j.id;
  j.created_at = kT0;
  j.updated_at = kT0;
  return j;
}

std::vector<Job> StoreConformance::create(RecurringTransfer& t, std::vector<Timestamp> dues,
                                          JobStatus status) {
  std::vector<Job> jobs;
  jobs.reserve(dues.size());
  for (size_t i = 0; i < dues.size(); ++i) jobs.push_back(job(t, int64_t(i) + 1, dues[i], status));
  t.last_sequence = int64_t(dues.size());
  auto r = store_->create_transfer(t, jobs);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return jobs;
}

ClaimResult StoreConformance::claim(const std::string& id, Timestamp now, const std::string& owner,
                                    int max_retries, std::chrono::milliseconds lease) {
  auto r = store_->claim_job({id, owner, now, now + lease, max_retries});
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : ClaimResult{};
}

CompletionResult StoreConformance::complete(const Completion& c) {
  auto r = store_->complete_job(c);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : CompletionResult{};
}

Job StoreConformance::get(const std::string& id) {
  auto r = store_->get_job(id);
  EXPECT_TRUE(r && *r);
  return r && *r ? **r : Job{};
}

std::vector<Job> StoreConformance::jobs_of(const std::string& transfer_id) {
  JobFilter f;
  f.recurring_transfer_id = transfer_id;
  f.limit = 500;
  auto r = store_->list_jobs(f);
  EXPECT_TRUE(r);
  return r ? r->data : std::vector<Job>{};
}

std::set<std::string> StoreConformance::create_due_jobs(int transfers, int per_transfer) {
  std::set<std::string> ids;
  for (int i = 0; i < transfers; ++i) {
    RecurringTransfer t = transfer();
    std::vector<Timestamp> dues(size_t(per_transfer), kT0);
    for (const Job& j : create(t, dues)) ids.insert(j.id);
  }
  return ids;
}

std::string StoreConformance::database_before(int version) {
  store_.reset();
  std::string url = url_;
  if (GetParam() == "sqlite") {
    url = "sqlite://" + (dir_ / ("before-" + std::to_string(version) + ".db")).string();
  } else {
    RawDb admin(url);
    EXPECT_TRUE(
        admin.script("SET client_min_messages = warning;"
                     "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"));
  }
  RawDb(url).migrate_before(version);
  return url;
}

std::vector<int> StoreConformance::migrate_store(const std::string& url) {
  auto opened = open_test_store(url);
  EXPECT_TRUE(opened) << opened.error().message;
  if (!opened) return {};
  store_ = std::move(*opened);
  auto report = store_->migrate();
  EXPECT_TRUE(report) << report.error().message;
  return report ? report->applied : std::vector<int>{};
}

std::vector<int> StoreConformance::migrations_from(int version) {
  std::vector<int> out;
  auto add = [&](const auto& migrations) {
    for (const auto& m : migrations) {
      if (m.version >= version) out.push_back(m.version);
    }
  };
  if (GetParam() == "sqlite") {
    add(store_detail::sqlite_migrations());
  } else {
    add(store_detail::pg_migrations());
  }
  return out;
}

// --- DueClaims ---

DueScene DueClaims::scene() {
  DueScene s;
  RecurringTransfer active = transfer();
  s.p0 = job(active, 1, kT0);
  s.in_fly = job(active, 2, kT0 + 1s, JobStatus::kInFly);
  s.later = job(active, 3, kT0 + 1h);
  insert(active, {s.p0, s.in_fly, s.later});
  RecurringTransfer retrying = transfer();
  s.retry = retry_job(retrying, 1, kT0 + 500ms);
  s.retry_later = retry_job(retrying, 2, kT0 + 2h);
  insert(retrying, {s.retry, s.retry_later});
  RecurringTransfer paused = transfer(TransferStatus::kPaused);
  s.paused_pending = job(paused, 1, kT0 + 200ms);
  s.paused_retry = retry_job(paused, 2, kT0 + 300ms);
  insert(paused, {s.paused_pending, s.paused_retry});
  RecurringTransfer cancelled = transfer(TransferStatus::kCancelled);
  s.cancelled = job(cancelled, 1, kT0 + 100ms);
  insert(cancelled, {s.cancelled});
  return s;
}

TwoBanks DueClaims::two_banks() {
  TwoBanks s;
  RecurringTransfer a = transfer();
  a.provider = "bank-a";
  s.a0 = job(a, 1, kT0);
  s.a_retry = retry_job(a, 2, kT0 + 1s);
  s.a2 = job(a, 3, kT0 + 2s);
  s.a_later = job(a, 4, kT0 + 1h);
  insert(a, {s.a0, s.a_retry, s.a2, s.a_later});
  RecurringTransfer b = transfer();
  b.provider = "bank-b";
  s.b0 = job(b, 1, kT0 - 1s);
  s.b_retry = retry_job(b, 2, kT0 - 500ms);
  insert(b, {s.b0, s.b_retry});
  return s;
}

Job DueClaims::retry_job(const RecurringTransfer& t, int64_t sequence, Timestamp next_attempt_at) {
  Job j = job(t, sequence, kT0 - 24h, JobStatus::kRetry);
  j.retries = 1;
  j.next_attempt_at = next_attempt_at;
  return j;
}

void DueClaims::insert(RecurringTransfer& t, const std::vector<Job>& jobs) {
  t.last_sequence = int64_t(jobs.size());
  auto r = store_->create_transfer(t, jobs);
  ASSERT_TRUE(r) << r.error().message;
}

std::vector<ClaimResult> DueClaims::claim_due(Timestamp now, int limit, bool pending, bool retries,
                                              const std::string& owner,
                                              const std::string& provider) {
  auto r = store_->claim_due_jobs({owner, now, now + 30s, limit, pending, retries, 3, provider});
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : std::vector<ClaimResult>{};
}

void DueClaims::expect_claimed(const ClaimResult& c, const Job& expected, Timestamp now) {
  ASSERT_EQ(c.status, ClaimStatus::kClaimed);
  ASSERT_TRUE(c.job && c.transfer);
  EXPECT_EQ(c.job->id, expected.id);
  EXPECT_EQ(c.job->status, JobStatus::kProcessing);
  EXPECT_EQ(c.job->lease_owner, "batch-1");
  EXPECT_EQ(c.job->lease_expires_at, now + 30s);
  EXPECT_EQ(c.job->updated_at, now);
  EXPECT_EQ(c.job->retries, expected.retries);
  EXPECT_FALSE(c.job->finished_at);
  EXPECT_EQ(c.transfer->id, expected.recurring_transfer_id);
  expect_same(get(expected.id), *c.job);
}

void DueClaims::expect_claimed_all(const std::vector<ClaimResult>& got,
                                   const std::vector<Job>& expected, Timestamp now) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) expect_claimed(got[i], expected[i], now);
}

void DueClaims::expect_finished(const ClaimResult& c, const Job& expected, ClaimStatus status,
                                JobStatus job_status, Timestamp now) {
  EXPECT_EQ(c.status, status);
  ASSERT_TRUE(c.job);
  EXPECT_EQ(c.job->id, expected.id);
  EXPECT_EQ(c.job->status, job_status);
  EXPECT_EQ(c.job->finished_at, now);
  EXPECT_FALSE(c.job->lease_owner || c.job->lease_expires_at);
  EXPECT_FALSE(c.transfer);
  expect_same(get(expected.id), *c.job);
}

// --- Shared helpers ---

std::string normalize_upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

void expect_same(const RecurringTransfer& a, const RecurringTransfer& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.external_id, b.external_id);
  EXPECT_EQ(a.provider, b.provider);
  EXPECT_EQ(a.source_account, b.source_account);
  EXPECT_EQ(a.destination_account, b.destination_account);
  EXPECT_EQ(a.amount, b.amount);
  EXPECT_EQ(a.currency, b.currency);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.rail, b.rail);
  EXPECT_EQ(a.provider_options, b.provider_options);
  EXPECT_EQ(a.schedule.frequency, b.schedule.frequency);
  EXPECT_EQ(a.schedule.interval, b.schedule.interval);
  EXPECT_EQ(a.schedule.day_of_week, b.schedule.day_of_week);
  EXPECT_EQ(a.schedule.day_of_month, b.schedule.day_of_month);
  EXPECT_EQ(a.schedule.month, b.schedule.month);
  EXPECT_EQ(a.schedule.start_date, b.schedule.start_date);
  EXPECT_EQ(a.schedule.end_date, b.schedule.end_date);
  EXPECT_EQ(a.schedule.count, b.schedule.count);
  EXPECT_EQ(a.schedule.timezone, b.schedule.timezone);
  EXPECT_EQ(a.schedule.execution_minutes, b.schedule.execution_minutes);
  EXPECT_EQ(a.schedule.business_day, b.schedule.business_day);
  EXPECT_EQ(a.schedule.calendar, b.schedule.calendar);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.last_sequence, b.last_sequence);
  EXPECT_EQ(a.next_occurrence_at, b.next_occurrence_at);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.request_hash, b.request_hash);
  EXPECT_EQ(format_timestamp(a.created_at), format_timestamp(b.created_at));
  EXPECT_EQ(format_timestamp(a.updated_at), format_timestamp(b.updated_at));
  EXPECT_EQ(a.status_reason, b.status_reason);
}

void expect_same(const Job& a, const Job& b) {
  auto ts = [](const std::optional<Timestamp>& t) { return t ? format_timestamp(*t) : "null"; };
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.recurring_transfer_id, b.recurring_transfer_id);
  EXPECT_EQ(a.sequence, b.sequence);
  EXPECT_EQ(a.scheduled_for, b.scheduled_for);
  EXPECT_EQ(format_timestamp(a.due_at), format_timestamp(b.due_at));
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.result, b.result);
  EXPECT_EQ(a.retries, b.retries);
  EXPECT_EQ(ts(a.next_attempt_at), ts(b.next_attempt_at));
  EXPECT_EQ(a.provider, b.provider);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.provider_reference, b.provider_reference);
  EXPECT_EQ(a.bank_status, b.bank_status);
  EXPECT_EQ(a.last_error, b.last_error);
  EXPECT_EQ(a.lease_owner, b.lease_owner);
  EXPECT_EQ(ts(a.lease_expires_at), ts(b.lease_expires_at));
  EXPECT_EQ(format_timestamp(a.created_at), format_timestamp(b.created_at));
  EXPECT_EQ(format_timestamp(a.updated_at), format_timestamp(b.updated_at));
  EXPECT_EQ(ts(a.finished_at), ts(b.finished_at));
  EXPECT_EQ(a.settlement_status, b.settlement_status);
  EXPECT_EQ(ts(a.settled_at), ts(b.settled_at));
  EXPECT_EQ(a.return_code, b.return_code);
  EXPECT_EQ(a.presentment, b.presentment);
  EXPECT_EQ(ts(a.settlement_check_at), ts(b.settlement_check_at));
  EXPECT_EQ(a.outcome_unknown, b.outcome_unknown);
}

ProviderStatus status_row(const Job& j, int attempt, Timestamp at, std::optional<int> http) {
  ProviderStatus p;
  p.id = new_uuid_v7(at);
  p.job_id = j.id;
  p.recurring_transfer_id = j.recurring_transfer_id;
  p.provider = j.provider;
  p.attempt = attempt;
  p.http_status = http;
  if (http) p.code = "insufficient_funds";
  p.message = kAwkward;
  p.response_body = "{\"error\": {\"code\": \"x\", \"message\": \"a,b\\n\"}}";
  p.created_at = at;
  return p;
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Backends, DueClaims, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace rtjobs::store_conformance
