// The Store conformance suite: every test runs against SQLite (a fresh temporary file) and
// PostgreSQL (RT_TEST_POSTGRES_URL, schema dropped and recreated per test). Without
// RT_TEST_POSTGRES_URL the PostgreSQL instances fail: a store change must pass on both.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/store.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono_literals;

const Timestamp kT0 = *parse_timestamp("2026-03-10T09:00:00.123Z");
const std::string kAwkward = "it's \"quoted\", comma,\nnew line; émoji 💸 ü";

class StoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
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
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Store> open() {
    auto s = open_store(url_);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  RecurringTransfer transfer(TransferStatus status = TransferStatus::kActive,
                             std::optional<std::string> key = std::nullopt) {
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
    t.idempotency_key = std::move(key);
    t.request_hash = "hash";
    t.created_at = kT0;
    t.updated_at = kT0;
    return t;
  }

  Job job(const RecurringTransfer& t, int64_t sequence, Timestamp due,
          JobStatus status = JobStatus::kPending) {
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

  // Creates a transfer with one job per entry of `dues` (sequence 1..n); returns the jobs.
  std::vector<Job> create(RecurringTransfer& t, std::vector<Timestamp> dues,
                          JobStatus status = JobStatus::kPending) {
    std::vector<Job> jobs;
    for (size_t i = 0; i < dues.size(); ++i)
      jobs.push_back(job(t, int64_t(i) + 1, dues[i], status));
    t.last_sequence = int64_t(dues.size());
    auto r = store_->create_transfer(t, jobs);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return jobs;
  }

  ClaimResult claim(const std::string& id, Timestamp now, const std::string& owner = "owner-a",
                    int max_retries = 3, std::chrono::milliseconds lease = 30s) {
    auto r = store_->claim_job({id, owner, now, now + lease, max_retries});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : ClaimResult{};
  }

  CompletionResult complete(Completion c) {
    auto r = store_->complete_job(c);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : CompletionResult{};
  }

  Job get(const std::string& id) {
    auto r = store_->get_job(id);
    EXPECT_TRUE(r && *r);
    return r && *r ? **r : Job{};
  }

  std::vector<Job> jobs_of(const std::string& transfer_id) {
    JobFilter f;
    f.recurring_transfer_id = transfer_id;
    f.limit = 500;
    auto r = store_->list_jobs(f);
    EXPECT_TRUE(r);
    return r ? r->data : std::vector<Job>{};
  }

  static inline std::atomic<int> counter_{0};
  std::filesystem::path dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

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
  EXPECT_EQ(a.last_error, b.last_error);
  EXPECT_EQ(a.lease_owner, b.lease_owner);
  EXPECT_EQ(ts(a.lease_expires_at), ts(b.lease_expires_at));
  EXPECT_EQ(format_timestamp(a.created_at), format_timestamp(b.created_at));
  EXPECT_EQ(format_timestamp(a.updated_at), format_timestamp(b.updated_at));
  EXPECT_EQ(ts(a.finished_at), ts(b.finished_at));
}

// --- Opening and migrating ---

TEST_P(StoreConformance, OpenStoreUrls) {
  auto bad = open_store("mysql://localhost/db");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().field, "RT_DATABASE_URL");
  if (GetParam() == "sqlite") {
    auto mem = open_store("sqlite://:memory:");
    ASSERT_TRUE(mem) << mem.error().message;
    ASSERT_TRUE((*mem)->migrate());
    RecurringTransfer t = transfer();
    ASSERT_TRUE((*mem)->create_transfer(t, {job(t, 1, kT0)}));
    auto got = (*mem)->get_transfer(t.id);
    ASSERT_TRUE(got && *got);
    EXPECT_EQ((*mem)->list_jobs({}).value().data.size(), 1u);  // reads see the writes
  } else {
    auto down = open_store("postgresql://rtjobs:secret-pw@127.0.0.1:1/rtjobs");
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(down.error().message.find("secret-pw"), std::string::npos) << down.error().message;
  }
  EXPECT_EQ(store_->backend(), GetParam());
  EXPECT_TRUE(store_->ping());
}

TEST_P(StoreConformance, MigrateTwiceIsIdempotent) {
  ASSERT_TRUE(store_->migrate());
  auto other = open();
  ASSERT_TRUE(other->migrate());
  RecurringTransfer t = transfer();
  create(t, {kT0});
  EXPECT_TRUE(store_->get_transfer(t.id).value().has_value());
}

// --- Transfers ---

TEST_P(StoreConformance, TransferRoundTripsEveryField) {
  RecurringTransfer t = transfer();
  t.description = kAwkward;
  t.external_id = kAwkward;
  t.source_account = "src,\"x\"\n";
  t.schedule.frequency = Frequency::kYearly;
  t.schedule.interval = 2;
  t.schedule.day_of_week = 7;
  t.schedule.month = 12;
  t.schedule.end_date = parse_date("2030-12-31");
  t.schedule.count = 12;
  t.schedule.timezone = "America/New_York";
  t.schedule.business_day = BusinessDay::kModifiedFollowing;
  t.schedule.calendar = "US_FEDERAL_RESERVE";
  t.idempotency_key = "key-1";
  t.next_occurrence_at = kT0 + 31 * 24h + 1ms;
  t.created_at = kT0 + 7ms;
  t.updated_at = kT0 + 999ms;
  Job j = job(t, 1, kT0 + 1ms);
  j.provider_reference = kAwkward;
  j.last_error = "line1\nline2";
  t.last_sequence = 1;
  auto created = store_->create_transfer(t, {j});
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_TRUE(created->created);
  expect_same(created->transfer, t);
  auto got = store_->get_transfer(t.id);
  ASSERT_TRUE(got && *got);
  expect_same(**got, t);
  auto upper = store_->get_transfer(normalize_upper(t.id));
  ASSERT_TRUE(upper && *upper);
  expect_same(get(j.id), j);

  RecurringTransfer minimal = transfer();
  minimal.external_id.reset();
  minimal.schedule.day_of_month.reset();
  ASSERT_TRUE(store_->create_transfer(minimal, {}));
  expect_same(store_->get_transfer(minimal.id).value().value(), minimal);
}

TEST_P(StoreConformance, UnknownTransferIsAbsent) {
  EXPECT_FALSE(store_->get_transfer(new_uuid_v7(kT0)).value().has_value());
  EXPECT_FALSE(store_->get_transfer("not-a-uuid").value().has_value());
  EXPECT_FALSE(store_->get_job("not-a-uuid").value().has_value());
}

TEST_P(StoreConformance, ListTransfersPagesInIdOrderWithStatusFilter) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    RecurringTransfer t = transfer(i % 2 ? TransferStatus::kPaused : TransferStatus::kActive);
    create(t, {kT0});
    ids.push_back(t.id);
  }
  std::vector<std::string> seen;
  TransferFilter f;
  f.limit = 2;
  for (int page = 0; page < 3; ++page) {
    auto r = store_->list_transfers(f);
    ASSERT_TRUE(r) << r.error().message;
    for (const auto& t : r->data) seen.push_back(t.id);
    EXPECT_EQ(r->data.size(), page < 2 ? 2u : 1u);
    EXPECT_EQ(r->next_cursor.has_value(), page < 2);
    f.cursor = r->next_cursor;
  }
  EXPECT_EQ(seen, ids);

  TransferFilter paused;
  paused.status = TransferStatus::kPaused;
  auto r = store_->list_transfers(paused);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->data.size(), 2u);
  EXPECT_EQ(r->data[0].id, ids[1]);
  EXPECT_EQ(r->data[1].id, ids[3]);
  EXPECT_FALSE(r->next_cursor);

  TransferFilter exact;
  exact.limit = 5;
  EXPECT_FALSE(store_->list_transfers(exact).value().next_cursor);

  TransferFilter bad;
  bad.cursor = "!!not a cursor";
  auto e = store_->list_transfers(bad);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.error().field, "cursor");
}

TEST_P(StoreConformance, IdempotentCreateReturnsTheStoredTransfer) {
  RecurringTransfer first = transfer(TransferStatus::kActive, "idem-key");
  create(first, {kT0, kT0 + 24h});
  RecurringTransfer second = transfer(TransferStatus::kActive, "idem-key");
  second.request_hash = "other";
  auto r = store_->create_transfer(second, {job(second, 1, kT0)});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->created);
  EXPECT_EQ(r->transfer.id, first.id);
  EXPECT_EQ(r->transfer.request_hash, "hash");
  EXPECT_FALSE(store_->get_transfer(second.id).value().has_value());
  EXPECT_TRUE(jobs_of(second.id).empty());
  EXPECT_EQ(jobs_of(first.id).size(), 2u);
}

// --- Jobs ---

TEST_P(StoreConformance, ListJobsFiltersAndPages) {
  RecurringTransfer a = transfer();
  auto ja = create(a, {kT0, kT0 + 24h, kT0 + 48h});
  RecurringTransfer b = transfer();
  auto jb = create(b, {kT0, kT0 + 24h, kT0 + 48h}, JobStatus::kRetry);

  auto of_a = jobs_of(a.id);
  ASSERT_EQ(of_a.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(of_a[i].sequence, i + 1);

  JobFilter retry;
  retry.status = JobStatus::kRetry;
  auto r = store_->list_jobs(retry).value();
  ASSERT_EQ(r.data.size(), 3u);
  EXPECT_EQ(r.data[0].recurring_transfer_id, b.id);

  JobFilter both;
  both.status = JobStatus::kPending;
  both.recurring_transfer_id = b.id;
  EXPECT_TRUE(store_->list_jobs(both).value().data.empty());

  JobFilter paged;
  paged.limit = 4;
  auto p1 = store_->list_jobs(paged).value();
  ASSERT_EQ(p1.data.size(), 4u);
  ASSERT_TRUE(p1.next_cursor);
  paged.cursor = p1.next_cursor;
  auto p2 = store_->list_jobs(paged).value();
  ASSERT_EQ(p2.data.size(), 2u);
  EXPECT_FALSE(p2.next_cursor);
  EXPECT_EQ(p1.data[0].id, ja[0].id);
  EXPECT_EQ(p2.data[1].id, jb[2].id);

  JobFilter bad;
  bad.cursor = "AAAA";
  auto e = store_->list_jobs(bad);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().field, "cursor");
}

// --- Claims ---

TEST_P(StoreConformance, ClaimDuePendingJob) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ClaimResult c = claim(jobs[0].id, kT0 + 5ms, "owner-a", 3, 20s);
  ASSERT_EQ(c.status, ClaimStatus::kClaimed);
  ASSERT_TRUE(c.job && c.transfer);
  EXPECT_EQ(c.job->status, JobStatus::kProcessing);
  EXPECT_EQ(c.job->lease_owner, "owner-a");
  EXPECT_EQ(c.job->lease_expires_at, kT0 + 5ms + 20s);
  EXPECT_EQ(c.job->updated_at, kT0 + 5ms);
  EXPECT_EQ(c.job->retries, 0);
  expect_same(*c.transfer, t);
  expect_same(get(jobs[0].id), *c.job);
}

TEST_P(StoreConformance, ClaimBeforeDueIsNotDue) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0 + 1h});
  ClaimResult c = claim(jobs[0].id, kT0);
  EXPECT_EQ(c.status, ClaimStatus::kNotDue);
  expect_same(get(jobs[0].id), jobs[0]);
}

TEST_P(StoreConformance, RetryIsClaimableFromNextAttemptAt) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a",
                     .now = kT0 + 1s,
                     .status = JobStatus::kRetry,
                     .retries = 1,
                     .next_attempt_at = kT0 + 60s,
                     .last_error = "bank down"});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(claim(jobs[0].id, kT0 + 59s, "owner-b").status, ClaimStatus::kNotDue);
  ClaimResult c = claim(jobs[0].id, kT0 + 60s, "owner-b");
  ASSERT_EQ(c.status, ClaimStatus::kClaimed);
  EXPECT_EQ(c.job->retries, 1);
  EXPECT_EQ(c.job->lease_owner, "owner-b");
}

TEST_P(StoreConformance, HeldLeaseIsInProgressAndExpiredLeaseIsRescued) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0, "a", 2, 30s).status, ClaimStatus::kClaimed);
  ClaimResult held = claim(jobs[0].id, kT0 + 29s, "b", 2);
  EXPECT_EQ(held.status, ClaimStatus::kInProgress);
  EXPECT_EQ(held.job->lease_owner, "a");
  ClaimResult rescued = claim(jobs[0].id, kT0 + 30s, "b", 2, 30s);
  ASSERT_EQ(rescued.status, ClaimStatus::kClaimed);
  EXPECT_EQ(rescued.job->retries, 1);
  EXPECT_EQ(rescued.job->lease_owner, "b");
  EXPECT_EQ(claim(jobs[0].id, kT0 + 60s, "c", 2, 30s).job->retries, 2);
  EXPECT_EQ(claim(jobs[0].id, kT0 + 90s, "d", 2, 30s).job->retries, 2);  // capped at max
}

TEST_P(StoreConformance, TerminalAndUnknownJobs) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = kT0,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded});
  ClaimResult c = claim(jobs[0].id, kT0 + 1h);
  EXPECT_EQ(c.status, ClaimStatus::kTerminal);
  EXPECT_EQ(c.job->status, JobStatus::kFinished);
  EXPECT_EQ(claim(new_uuid_v7(kT0), kT0).status, ClaimStatus::kNotFound);
  EXPECT_EQ(claim("nope", kT0).status, ClaimStatus::kNotFound);
}

TEST_P(StoreConformance, PausedTransferSkipsDueJobsButSeesRetriesThrough) {
  RecurringTransfer t = transfer(TransferStatus::kPaused);
  Job pending = job(t, 1, kT0);
  Job later = job(t, 2, kT0 + 24h);
  Job retry = job(t, 3, kT0, JobStatus::kRetry);
  retry.next_attempt_at = kT0;
  Job expired = job(t, 4, kT0, JobStatus::kProcessing);
  expired.lease_owner = "dead";
  expired.lease_expires_at = kT0 - 1s;
  ASSERT_TRUE(store_->create_transfer(t, {pending, later, retry, expired}));

  ClaimResult s = claim(pending.id, kT0 + 1s);
  EXPECT_EQ(s.status, ClaimStatus::kSkipped);
  EXPECT_EQ(s.job->status, JobStatus::kSkipped);
  EXPECT_EQ(s.job->finished_at, kT0 + 1s);
  EXPECT_EQ(get(pending.id).status, JobStatus::kSkipped);
  EXPECT_EQ(claim(later.id, kT0 + 1s).status, ClaimStatus::kNotDue);
  EXPECT_EQ(claim(retry.id, kT0 + 1s).status, ClaimStatus::kClaimed);
  ClaimResult r = claim(expired.id, kT0 + 1s);
  EXPECT_EQ(r.status, ClaimStatus::kClaimed);
  EXPECT_EQ(r.job->retries, 1);
}

TEST_P(StoreConformance, CancelledTransferCancelsDueJobs) {
  RecurringTransfer t = transfer(TransferStatus::kCancelled);
  auto jobs = create(t, {kT0});
  ClaimResult c = claim(jobs[0].id, kT0);
  EXPECT_EQ(c.status, ClaimStatus::kTerminal);
  EXPECT_EQ(c.job->status, JobStatus::kCancelled);
  EXPECT_EQ(get(jobs[0].id).status, JobStatus::kCancelled);
}

// --- Completions ---

TEST_P(StoreConformance, CompleteSucceeded) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a",
                     .now = kT0 + 250ms,
                     .status = JobStatus::kFinished,
                     .result = JobResult::kSucceeded,
                     .provider_reference = "bank-tx-1"});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  Job j = get(jobs[0].id);
  expect_same(*w.job, j);
  EXPECT_EQ(j.status, JobStatus::kFinished);
  EXPECT_EQ(j.result, JobResult::kSucceeded);
  EXPECT_EQ(j.provider_reference, "bank-tx-1");
  EXPECT_EQ(j.finished_at, kT0 + 250ms);
  EXPECT_EQ(j.updated_at, kT0 + 250ms);
  EXPECT_FALSE(j.lease_owner || j.lease_expires_at || j.next_attempt_at);
  EXPECT_TRUE(store_->list_provider_statuses(j.id).value().empty());
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

TEST_P(StoreConformance, CompleteDeclinedRecordsProviderStatus) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  ProviderStatus p = status_row(jobs[0], 1, kT0 + 3ms, 422);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a",
                     .now = kT0 + 3ms,
                     .status = JobStatus::kFinished,
                     .result = JobResult::kDeclined,
                     .last_error = "insufficient_funds",
                     .provider_status = p});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(w.job->result, JobResult::kDeclined);
  auto rows = store_->list_provider_statuses(jobs[0].id).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id, p.id);
  EXPECT_EQ(rows[0].job_id, p.job_id);
  EXPECT_EQ(rows[0].recurring_transfer_id, p.recurring_transfer_id);
  EXPECT_EQ(rows[0].provider, p.provider);
  EXPECT_EQ(rows[0].attempt, 1);
  EXPECT_EQ(rows[0].http_status, 422);
  EXPECT_EQ(rows[0].code, p.code);
  EXPECT_EQ(rows[0].message, kAwkward);
  EXPECT_EQ(rows[0].response_body, p.response_body);
  EXPECT_EQ(rows[0].created_at, kT0 + 3ms);
}

TEST_P(StoreConformance, CompleteRetryThenFailedAndStatusesOldestFirst) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a",
                     .now = kT0,
                     .status = JobStatus::kRetry,
                     .retries = 1,
                     .next_attempt_at = kT0 + 60s,
                     .last_error = "timeout",
                     .provider_status = status_row(jobs[0], 1, kT0, std::nullopt)});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(w.job->status, JobStatus::kRetry);
  EXPECT_EQ(w.job->retries, 1);
  EXPECT_EQ(w.job->next_attempt_at, kT0 + 60s);
  EXPECT_FALSE(w.job->finished_at);
  EXPECT_FALSE(w.job->lease_owner);

  ASSERT_EQ(claim(jobs[0].id, kT0 + 60s, "owner-b").status, ClaimStatus::kClaimed);
  w = complete({.job_id = jobs[0].id,
                .lease_owner = "owner-b",
                .now = kT0 + 61s,
                .status = JobStatus::kFailed,
                .retries = 1,
                .last_error = "503",
                .provider_status = status_row(jobs[0], 2, kT0 + 61s, 503)});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(w.job->status, JobStatus::kFailed);
  EXPECT_EQ(w.job->finished_at, kT0 + 61s);
  EXPECT_FALSE(w.job->next_attempt_at);
  EXPECT_FALSE(w.job->result);
  auto rows = store_->list_provider_statuses(jobs[0].id).value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].attempt, 1);
  EXPECT_FALSE(rows[0].http_status);
  EXPECT_EQ(rows[1].attempt, 2);
}

TEST_P(StoreConformance, LostLeaseWritesNothing) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0, "a", 3, 10s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[0].id, kT0 + 10s, "b", 3, 10s).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "a",
                     .now = kT0 + 11s,
                     .status = JobStatus::kFinished,
                     .result = JobResult::kSucceeded,
                     .provider_reference = "late",
                     .provider_status = status_row(jobs[0], 1, kT0, 500),
                     .new_jobs = {job(t, 2, kT0 + 24h)},
                     .schedule_exhausted = true});
  EXPECT_EQ(w.status, CompletionStatus::kLeaseLost);
  ASSERT_TRUE(w.job);
  EXPECT_EQ(w.job->status, JobStatus::kProcessing);
  EXPECT_EQ(w.job->lease_owner, "b");
  EXPECT_FALSE(w.job->provider_reference);
  EXPECT_TRUE(store_->list_provider_statuses(jobs[0].id).value().empty());
  EXPECT_EQ(jobs_of(t.id).size(), 1u);
  EXPECT_EQ(store_->get_transfer(t.id).value()->last_sequence, 1);
  // Nor after the job is terminal.
  complete({.job_id = jobs[0].id,
            .lease_owner = "b",
            .now = kT0 + 12s,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded});
  EXPECT_EQ(complete({.job_id = jobs[0].id,
                      .lease_owner = "b",
                      .now = kT0 + 13s,
                      .status = JobStatus::kFailed})
                .status,
            CompletionStatus::kLeaseLost);
  EXPECT_EQ(get(jobs[0].id).status, JobStatus::kFinished);
}

TEST_P(StoreConformance, NewJobsAreInsertedOnceAndAdvanceLastSequence) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0 + 1h});
  Job s3 = job(t, 3, kT0 + 48h);
  Job s4 = job(t, 4, kT0 + 72h);
  Job s3_again = job(t, 3, kT0 + 48h);
  ASSERT_EQ(claim(jobs[0].id, kT0, "a").status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 1h, "b").status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "a",
            .now = kT0 + 2h,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded,
            .new_jobs = {s3}});
  EXPECT_EQ(store_->get_transfer(t.id).value()->last_sequence, 3);
  complete({.job_id = jobs[1].id,
            .lease_owner = "b",
            .now = kT0 + 2h,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded,
            .new_jobs = {s3_again, s4}});
  auto all = jobs_of(t.id);
  ASSERT_EQ(all.size(), 4u);
  expect_same(all[2], s3);
  expect_same(all[3], s4);
  EXPECT_EQ(store_->get_transfer(t.id).value()->last_sequence, 4);
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);
}

TEST_P(StoreConformance, TransferCompletesWhenExhaustedAndAllTerminal) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0 + 1h});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = kT0,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded,
            .schedule_exhausted = true});
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 1h).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[1].id,
            .lease_owner = "owner-a",
            .now = kT0 + 1h,
            .status = JobStatus::kRetry,
            .retries = 1,
            .next_attempt_at = kT0 + 2h,
            .schedule_exhausted = true});
  EXPECT_EQ(store_->get_transfer(t.id).value()->status, TransferStatus::kActive);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 2h).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[1].id,
            .lease_owner = "owner-a",
            .now = kT0 + 2h,
            .status = JobStatus::kFailed,
            .retries = 1,
            .schedule_exhausted = true});
  auto done = store_->get_transfer(t.id).value();
  EXPECT_EQ(done->status, TransferStatus::kCompleted);
  EXPECT_EQ(done->updated_at, kT0 + 2h);

  RecurringTransfer other = transfer();
  auto more = create(other, {kT0});
  ASSERT_EQ(claim(more[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = more[0].id,
            .lease_owner = "owner-a",
            .now = kT0,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded});
  EXPECT_EQ(store_->get_transfer(other.id).value()->status, TransferStatus::kActive);
}

// --- Concurrency ---

TEST_P(StoreConformance, TwentyThreadsClaimOneJobExactlyOneWins) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  std::atomic<int> ready{0}, claimed{0}, in_progress{0}, errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < 20) std::this_thread::yield();
      auto r = store_->claim_job({jobs[0].id, "thread-" + std::to_string(i), kT0, kT0 + 30s, 3});
      if (!r) {
        errors.fetch_add(1);
      } else if (r->status == ClaimStatus::kClaimed) {
        claimed.fetch_add(1);
      } else if (r->status == ClaimStatus::kInProgress) {
        in_progress.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.load(), 1);
  EXPECT_EQ(in_progress.load(), 19);
}

TEST_P(StoreConformance, EightProcessesClaimOneJobExactlyOneWins) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  // No connection may cross fork() (SQLite forbids it): the children open their own stores.
  store_.reset();
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < 8; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // child: its own store, waits for the start signal, reports by exit code
      ::close(go[1]);
      auto s = open_store(url_);
      char c;
      if (::read(go[0], &c, 1) != 0 || !s) ::_exit(3);
      auto r = (*s)->claim_job({jobs[0].id, "proc-" + std::to_string(i), kT0, kT0 + 30s, 3});
      if (!r) ::_exit(4);
      ::_exit(r->status == ClaimStatus::kClaimed      ? 0
              : r->status == ClaimStatus::kInProgress ? 1
                                                      : 2);
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  std::this_thread::sleep_for(200ms);  // let the children open their stores
  ::close(go[1]);                      // EOF releases them all at once
  int winners = 0, losers = 0;
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    EXPECT_TRUE(code == 0 || code == 1) << "child exit code " << code;
    winners += code == 0;
    losers += code == 1;
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(losers, 7);
  store_ = open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(get(jobs[0].id).status, JobStatus::kProcessing);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rtjobs
