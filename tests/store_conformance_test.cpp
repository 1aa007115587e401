// The Store conformance suite: every test runs against SQLite (a fresh temporary file) and
// PostgreSQL (RT_TEST_POSTGRES_URL, schema dropped and recreated per test). Without
// RT_TEST_POSTGRES_URL the PostgreSQL instances fail: a store change must pass on both.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
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

  // Creates `transfers` transfers of `per_transfer` jobs each, all due at kT0; returns the ids.
  std::set<std::string> create_due_jobs(int transfers, int per_transfer) {
    std::set<std::string> ids;
    for (int i = 0; i < transfers; ++i) {
      RecurringTransfer t = transfer();
      std::vector<Timestamp> dues(size_t(per_transfer), kT0);
      for (const Job& j : create(t, dues)) ids.insert(j.id);
    }
    return ids;
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

// The IO threads' reader (SQLite files only) reads what is committed now: a FAILED job moved
// back to RETRY by an operator, an unknown id. PostgreSQL offers none (its reads are round trips).
TEST_P(StoreConformance, JobReaderSeesTheCommittedJob) {
  auto reader = store_->open_job_reader();
  if (GetParam() != "sqlite") {
    EXPECT_EQ(reader, nullptr);
    return;
  }
  ASSERT_NE(reader, nullptr);
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  EXPECT_EQ(reader->get_job(jobs[0].id).value()->status, JobStatus::kPending);
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = kT0,
            .status = JobStatus::kFailed,
            .retries = 3,
            .last_error = "503"});
  auto failed = reader->get_job(jobs[0].id).value();
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, JobStatus::kFailed);
  EXPECT_EQ(failed->retries, 3);
  ASSERT_TRUE(store_->retry_failed_job(jobs[0].id, kT0 + 1h));
  auto retried = reader->get_job(jobs[0].id).value();
  EXPECT_EQ(retried->status, JobStatus::kRetry);
  EXPECT_EQ(retried->retries, 0);
  std::string upper = jobs[0].id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(reader->get_job(upper).value()->id, jobs[0].id);
  EXPECT_FALSE(reader->get_job(new_uuid_v7(kT0)).value());

  auto memory = open_store("sqlite://:memory:");
  ASSERT_TRUE(memory);
  EXPECT_EQ((*memory)->open_job_reader(), nullptr);
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

// SPEC section 3: a transfer whose last occurrence is terminal becomes COMPLETED, paused or
// not. A PAUSED transfer's last occurrence ends SKIPPED, by a single claim or by the loops'.
TEST_P(StoreConformance, PausedTransferWhoseLastOccurrenceIsSkippedCompletes) {
  RecurringTransfer last = transfer(TransferStatus::kPaused);  // no next occurrence: exhausted
  auto last_jobs = create(last, {kT0});
  EXPECT_EQ(claim(last_jobs[0].id, kT0 + 1s).status, ClaimStatus::kSkipped);
  auto stored = store_->get_transfer(last.id).value().value();
  EXPECT_EQ(stored.status, TransferStatus::kCompleted);
  EXPECT_EQ(stored.updated_at, kT0 + 1s);

  RecurringTransfer by_loop = transfer(TransferStatus::kPaused);
  auto loop_jobs = create(by_loop, {kT0});
  RecurringTransfer more = transfer(TransferStatus::kPaused);  // occurrences still to come
  more.next_occurrence_at = kT0 + 720h;
  auto more_jobs = create(more, {kT0});
  auto claimed = store_->claim_due_jobs({"owner-a", kT0 + 2s, kT0 + 32s, 10, true, false, 3});
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 2u);
  for (const ClaimResult& c : *claimed) EXPECT_EQ(c.status, ClaimStatus::kSkipped);
  EXPECT_EQ(store_->get_transfer(by_loop.id).value()->status, TransferStatus::kCompleted);
  EXPECT_EQ(store_->get_transfer(more.id).value()->status, TransferStatus::kPaused);

  // Paused with its last job retrying: the retry is seen through, then the transfer completes.
  RecurringTransfer retrying = transfer(TransferStatus::kPaused);
  Job retry = job(retrying, 1, kT0, JobStatus::kRetry);
  retry.next_attempt_at = kT0;
  ASSERT_TRUE(store_->create_transfer(retrying, {retry}));
  ASSERT_EQ(claim(retry.id, kT0 + 3s).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = retry.id,
                     .lease_owner = "owner-a",
                     .now = kT0 + 4s,
                     .status = JobStatus::kFinished,
                     .result = JobResult::kSucceeded,
                     .schedule_exhausted = true});
  EXPECT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(store_->get_transfer(retrying.id).value()->status, TransferStatus::kCompleted);
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

// --- Group commit: many outcomes in one transaction ---

TEST_P(StoreConformance, CompleteJobsWritesEachOutcomeIndependently) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0, kT0, kT0, kT0});
  for (int i = 0; i < 4; ++i) ASSERT_EQ(claim(jobs[i].id, kT0).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[4].id, kT0, "stale", 3, 10s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[4].id, kT0 + 10s, "fresh").status, ClaimStatus::kClaimed);
  // Two completions of the same transfer bring overlapping next occurrences.
  Job s6 = job(t, 6, kT0 + 240h);
  Job s7 = job(t, 7, kT0 + 264h);
  Job s7_again = job(t, 7, kT0 + 264h);
  Job s8 = job(t, 8, kT0 + 288h);
  ProviderStatus declined = status_row(jobs[1], 1, kT0 + 11s, 422);
  ProviderStatus unavailable = status_row(jobs[2], 1, kT0 + 11s, 503);
  std::vector<Completion> batch{
      {.job_id = jobs[0].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .provider_reference = "bank-tx-0",
       .new_jobs = {s6, s7},
       .next_occurrence_at = kT0 + 288h},
      {.job_id = jobs[1].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kDeclined,
       .last_error = "insufficient_funds",
       .provider_status = declined,
       .new_jobs = {s7_again, s8},
       .next_occurrence_at = kT0 + 312h},
      {.job_id = jobs[2].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kRetry,
       .retries = 1,
       .next_attempt_at = kT0 + 71s,
       .last_error = "503",
       .provider_status = unavailable},
      {.job_id = jobs[3].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kFailed,
       .retries = 3,
       .last_error = "timeout"},
      {.job_id = jobs[4].id,  // its lease was taken over: writes nothing
       .lease_owner = "stale",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .provider_reference = "late",
       .provider_status = status_row(jobs[4], 1, kT0, 500),
       .new_jobs = {job(t, 9, kT0 + 312h)},
       .schedule_exhausted = true,
       .next_occurrence_at = kT0 + 999h},
  };
  auto r = store_->complete_jobs(batch);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), batch.size());
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*r)[i].status, CompletionStatus::kWritten) << i;
    ASSERT_TRUE((*r)[i].job);
    EXPECT_EQ((*r)[i].job->id, jobs[i].id);  // input order
    expect_same(*(*r)[i].job, get(jobs[i].id));
  }
  Job j0 = get(jobs[0].id);
  EXPECT_EQ(j0.status, JobStatus::kFinished);
  EXPECT_EQ(j0.result, JobResult::kSucceeded);
  EXPECT_EQ(j0.provider_reference, "bank-tx-0");
  EXPECT_EQ(j0.finished_at, kT0 + 11s);
  EXPECT_FALSE(j0.lease_owner);
  EXPECT_TRUE(store_->list_provider_statuses(j0.id).value().empty());
  Job j1 = get(jobs[1].id);
  EXPECT_EQ(j1.result, JobResult::kDeclined);
  auto rows = store_->list_provider_statuses(j1.id).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id, declined.id);
  EXPECT_EQ(rows[0].message, kAwkward);
  Job j2 = get(jobs[2].id);
  EXPECT_EQ(j2.status, JobStatus::kRetry);
  EXPECT_EQ(j2.retries, 1);
  EXPECT_EQ(j2.next_attempt_at, kT0 + 71s);
  EXPECT_FALSE(j2.finished_at);
  EXPECT_EQ(store_->list_provider_statuses(j2.id).value().size(), 1u);
  Job j3 = get(jobs[3].id);
  EXPECT_EQ(j3.status, JobStatus::kFailed);
  EXPECT_EQ(j3.finished_at, kT0 + 11s);
  EXPECT_FALSE(j3.result);

  EXPECT_EQ((*r)[4].status, CompletionStatus::kLeaseLost);
  ASSERT_TRUE((*r)[4].job);  // as found
  EXPECT_EQ((*r)[4].job->status, JobStatus::kProcessing);
  EXPECT_EQ((*r)[4].job->lease_owner, "fresh");
  EXPECT_FALSE(get(jobs[4].id).provider_reference);
  EXPECT_TRUE(store_->list_provider_statuses(jobs[4].id).value().empty());

  auto all = jobs_of(t.id);
  ASSERT_EQ(all.size(), 8u);  // 5 + sequences 6, 7, 8 once each; not 9 (lease lost)
  std::set<int64_t> sequences;
  for (const Job& j : all) sequences.insert(j.sequence);
  EXPECT_EQ(sequences, (std::set<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  expect_same(all[5], s6);
  expect_same(all[6], s7);
  auto stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.last_sequence, 8);
  EXPECT_EQ(stored.next_occurrence_at, kT0 + 312h);
  EXPECT_EQ(stored.status, TransferStatus::kActive);
}

// The loops do not read the written jobs back (return_job = false): the writes are the same,
// only the answer is slimmer; a lost lease still answers with the job as found.
TEST_P(StoreConformance, CompleteJobsWithoutReturningJobsWritesTheSame) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0, kT0, kT0});
  for (int i = 0; i < 3; ++i) ASSERT_EQ(claim(jobs[i].id, kT0).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[3].id, kT0, "stale", 3, 10s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[3].id, kT0 + 10s, "fresh").status, ClaimStatus::kClaimed);
  Job s5 = job(t, 5, kT0 + 240h);
  std::vector<Completion> batch{
      {.job_id = jobs[0].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .provider_reference = "bank-tx-0",
       .new_jobs = {s5},
       .next_occurrence_at = kT0 + 264h,
       .return_job = false},
      {.job_id = jobs[1].id,
       .lease_owner = "owner-a",
       .now = kT0 + 11s,
       .status = JobStatus::kRetry,
       .retries = 1,
       .next_attempt_at = kT0 + 71s,
       .last_error = "503",
       .provider_status = status_row(jobs[1], 1, kT0 + 11s, 503),
       .return_job = false},
      {.job_id = jobs[3].id,  // its lease was taken over
       .lease_owner = "stale",
       .now = kT0 + 11s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .return_job = false},
  };
  auto r = store_->complete_jobs(batch);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].status, CompletionStatus::kWritten);
  EXPECT_FALSE((*r)[0].job);
  EXPECT_EQ((*r)[1].status, CompletionStatus::kWritten);
  EXPECT_FALSE((*r)[1].job);
  EXPECT_EQ((*r)[2].status, CompletionStatus::kLeaseLost);
  ASSERT_TRUE((*r)[2].job);
  EXPECT_EQ((*r)[2].job->lease_owner, "fresh");
  Job j0 = get(jobs[0].id);
  EXPECT_EQ(j0.status, JobStatus::kFinished);
  EXPECT_EQ(j0.provider_reference, "bank-tx-0");
  Job j1 = get(jobs[1].id);
  EXPECT_EQ(j1.status, JobStatus::kRetry);
  EXPECT_EQ(store_->list_provider_statuses(j1.id).value().size(), 1u);
  expect_same(jobs_of(t.id).back(), s5);
  auto stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.last_sequence, 5);
  EXPECT_EQ(stored.next_occurrence_at, kT0 + 264h);

  // A batch where one caller wants its job answers that one with it.
  ASSERT_EQ(claim(jobs[2].id, kT0).status, ClaimStatus::kInProgress);  // still owner-a's
  std::vector<Completion> mixed{
      {.job_id = jobs[2].id,
       .lease_owner = "owner-a",
       .now = kT0 + 12s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .provider_reference = "bank-tx-2"},
      {.job_id = jobs[3].id,
       .lease_owner = "fresh",
       .now = kT0 + 12s,
       .status = JobStatus::kFinished,
       .result = JobResult::kSucceeded,
       .return_job = false},
  };
  r = store_->complete_jobs(mixed);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE((*r)[0].job);
  expect_same(*(*r)[0].job, get(jobs[2].id));
  EXPECT_EQ((*r)[0].job->provider_reference, "bank-tx-2");
  EXPECT_EQ((*r)[1].status, CompletionStatus::kWritten);
  EXPECT_FALSE((*r)[1].job);
  EXPECT_EQ(get(jobs[3].id).status, JobStatus::kFinished);
}

TEST_P(StoreConformance, CompleteJobsEmptyBatchWritesNothing) {
  auto r = store_->complete_jobs({});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->empty());
}

TEST_P(StoreConformance, CompleteJobsReachesCompletedWhenTheLastTwoJobsShareABatch) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0 + 1h});
  RecurringTransfer lost = transfer();  // its exhausted completion lost the lease: stays ACTIVE
  auto lost_jobs = create(lost, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0 + 1h, "a").status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 1h, "b").status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(lost_jobs[0].id, kT0 + 1h, "c").status, ClaimStatus::kClaimed);
  // Every job of `lost` is terminal, but by a completion that did not see the schedule end.
  complete({.job_id = lost_jobs[0].id,
            .lease_owner = "c",
            .now = kT0 + 1h,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded});
  // Input in reverse id order, so each completion's job is still PROCESSING when the other's
  // own statement runs.
  std::vector<Completion> batch{{.job_id = lost_jobs[0].id,
                                 .lease_owner = "not-c",
                                 .now = kT0 + 2h,
                                 .status = JobStatus::kFinished,
                                 .result = JobResult::kSucceeded,
                                 .schedule_exhausted = true},
                                {.job_id = jobs[1].id,
                                 .lease_owner = "b",
                                 .now = kT0 + 2h,
                                 .status = JobStatus::kFailed,
                                 .retries = 3,
                                 .schedule_exhausted = true},
                                {.job_id = jobs[0].id,
                                 .lease_owner = "a",
                                 .now = kT0 + 2h,
                                 .status = JobStatus::kFinished,
                                 .result = JobResult::kSucceeded,
                                 .schedule_exhausted = true}};
  auto r = store_->complete_jobs(batch);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].status, CompletionStatus::kLeaseLost);
  EXPECT_EQ((*r)[1].status, CompletionStatus::kWritten);
  EXPECT_EQ((*r)[2].status, CompletionStatus::kWritten);
  auto done = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(done.status, TransferStatus::kCompleted);
  EXPECT_EQ(done.updated_at, kT0 + 2h);
  EXPECT_EQ(store_->get_transfer(lost.id).value()->status, TransferStatus::kActive);
  EXPECT_EQ(get(lost_jobs[0].id).updated_at, kT0 + 1h);
}

TEST_P(StoreConformance, TwoThreadsCompletingBatchesOfTheSameTransfersWriteEachOutcomeOnce) {
  constexpr int kTransfers = 8;
  constexpr int kPerTransfer = 25;
  std::vector<RecurringTransfer> transfers;
  std::vector<std::string> all;
  for (int i = 0; i < kTransfers; ++i) {
    transfers.push_back(transfer());
    for (const Job& j : create(transfers.back(), std::vector<Timestamp>(kPerTransfer, kT0)))
      all.push_back(j.id);
  }
  std::map<std::string, const RecurringTransfer*> transfer_of;
  for (const RecurringTransfer& t : transfers) {
    for (const Job& j : jobs_of(t.id)) transfer_of[j.id] = &t;
  }
  // Deal the jobs round-robin, so both threads hold jobs of every transfer.
  std::vector<std::vector<ClaimResult>> claims(2);
  for (size_t n = 0; n < all.size(); ++n) {
    claims[n % 2].push_back(claim(all[n], kT0, "thread-" + std::to_string(n % 2)));
  }
  std::atomic<int> written{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      const auto& mine = claims[size_t(i)];
      for (size_t from = 0; from < mine.size(); from += 50) {
        std::vector<Completion> batch;
        for (size_t n = from; n < std::min(mine.size(), from + 50); ++n) {
          const Job& j = *mine[n].job;
          const RecurringTransfer& t = *transfer_of.at(j.id);
          // Every completion of a transfer brings its next two occurrences (the same ones).
          batch.push_back({.job_id = j.id,
                           .lease_owner = "thread-" + std::to_string(i),
                           .now = kT0 + 1s,
                           .status = JobStatus::kFinished,
                           .result = JobResult::kSucceeded,
                           .new_jobs = {job(t, kPerTransfer + 1, kT0 + 1000h),
                                        job(t, kPerTransfer + 2, kT0 + 1024h)},
                           .next_occurrence_at = kT0 + 1048h});
        }
        if (i == 1) std::reverse(batch.begin(), batch.end());  // opposite input orders
        auto r = store_->complete_jobs(batch);
        if (!r) {
          ADD_FAILURE() << r.error().message;
          errors.fetch_add(1);
          continue;
        }
        for (const CompletionResult& c : *r) written += c.status == CompletionStatus::kWritten;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(written.load(), kTransfers * kPerTransfer);
  for (const std::string& id : all) EXPECT_EQ(get(id).status, JobStatus::kFinished);
  for (const RecurringTransfer& t : transfers) {
    auto jobs = jobs_of(t.id);
    EXPECT_EQ(jobs.size(), size_t(kPerTransfer + 2));
    std::set<int64_t> sequences;
    for (const Job& j : jobs) sequences.insert(j.sequence);
    EXPECT_EQ(sequences.size(), size_t(kPerTransfer + 2));
    EXPECT_EQ(store_->get_transfer(t.id).value()->last_sequence, kPerTransfer + 2);
  }
}

TEST_P(StoreConformance, CompleteJobsWritesABatchOf500OverFiftyTransfersRowByRow) {
  constexpr int kTransfers = 50;
  constexpr int kPerTransfer = 10;
  // Awkward text everywhere it travels inside an array parameter.
  const std::string owner = "w \"q\" \\ {x,y} NULL";
  const std::string error_text = kAwkward + " \\ {a,b} NULL";
  const Timestamp now = kT0 + 5s;
  std::vector<RecurringTransfer> transfers;
  std::vector<std::vector<Job>> jobs;
  // Per transfer, its next occurrences 11..15, brought (the same rows) by several completions.
  std::vector<std::vector<Job>> next;
  for (int ti = 0; ti < kTransfers; ++ti) {
    transfers.push_back(transfer());
    jobs.push_back(create(transfers.back(), std::vector<Timestamp>(kPerTransfer, kT0)));
    next.emplace_back();
    for (int s = 11; s <= 15; ++s) next.back().push_back(job(transfers.back(), s, kT0 + 1000h));
  }
  auto claimed = store_->claim_due_jobs({.lease_owner = owner,
                                         .now = kT0,
                                         .lease_expires_at = kT0 + 30s,
                                         .limit = kTransfers * kPerTransfer});
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), size_t(kTransfers * kPerTransfer));
  // Every 10th transfer is exhausted: terminal outcomes only, no new jobs; the others bring
  // occurrences. Job 7 of every other transfer, and job 3 of transfer 0, lost their lease.
  auto exhausted = [](int ti) { return ti % 10 == 0; };
  auto lost = [&](int ti, int k) { return exhausted(ti) ? ti == 0 && k == 3 : k == 7; };
  auto status_of = [&](int ti, int k) {
    if (exhausted(ti)) return k % 2 == 0 ? JobStatus::kFinished : JobStatus::kFailed;
    return std::array{JobStatus::kFinished, JobStatus::kRetry, JobStatus::kFailed}[k % 3];
  };
  std::map<std::string, ProviderStatus> statuses;  // by job id
  std::vector<Completion> batch;
  std::vector<std::pair<int, int>> where;  // (transfer, job) of each completion
  for (int k = 0; k < kPerTransfer; ++k) {
    for (int ti = kTransfers - 1; ti >= 0; --ti) {  // interleaved: not in id order
      const Job& j = jobs[size_t(ti)][size_t(k)];
      Completion c{.job_id = j.id,
                   .lease_owner = lost(ti, k) ? "stale" : owner,
                   .now = now,
                   .status = status_of(ti, k)};
      if (c.status == JobStatus::kFinished) {
        c.result = JobResult::kSucceeded;
        c.provider_reference = "ref-" + j.id;
      } else {
        c.last_error = error_text;
        c.retries = c.status == JobStatus::kRetry ? 1 : 3;
        if (c.status == JobStatus::kRetry) c.next_attempt_at = now + 1h;
        c.provider_status = status_row(j, c.retries, now, c.retries == 1 ? 503 : 422);
        statuses[j.id] = *c.provider_status;
      }
      if (exhausted(ti)) {
        c.schedule_exhausted = true;
      } else if (lost(ti, k)) {
        c.new_jobs = {job(transfers[size_t(ti)], 20, kT0 + 2000h)};  // never inserted
        c.next_occurrence_at = kT0 + 9999h;
        c.schedule_exhausted = true;
      } else {
        int up_to = 11 + k % 5;  // several completions per transfer, overlapping
        for (int s = 11; s <= up_to; ++s) c.new_jobs.push_back(next[size_t(ti)][size_t(s - 11)]);
        c.next_occurrence_at = kT0 + std::chrono::hours(24 * (up_to + 1));
      }
      batch.push_back(std::move(c));
      where.emplace_back(ti, k);
    }
  }
  auto r = store_->complete_jobs(batch);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), batch.size());
  for (size_t n = 0; n < batch.size(); ++n) {
    auto [ti, k] = where[n];
    const Completion& c = batch[n];
    const CompletionResult& out = (*r)[n];
    ASSERT_TRUE(out.job) << n;
    EXPECT_EQ(out.job->id, c.job_id) << n;  // input order
    Job stored = get(c.job_id);
    expect_same(*out.job, stored);
    auto rows = store_->list_provider_statuses(c.job_id).value();
    if (lost(ti, k)) {
      EXPECT_EQ(out.status, CompletionStatus::kLeaseLost) << n;
      EXPECT_EQ(stored.status, JobStatus::kProcessing);
      EXPECT_EQ(stored.lease_owner, owner);
      EXPECT_EQ(stored.updated_at, kT0);
      EXPECT_FALSE(stored.provider_reference);
      EXPECT_FALSE(stored.last_error);
      EXPECT_TRUE(rows.empty());
      continue;
    }
    EXPECT_EQ(out.status, CompletionStatus::kWritten) << n;
    EXPECT_EQ(stored.status, c.status);
    EXPECT_EQ(stored.result, c.result);
    EXPECT_EQ(stored.retries, c.retries);
    EXPECT_EQ(stored.next_attempt_at, c.next_attempt_at);
    EXPECT_EQ(stored.provider_reference, c.provider_reference);
    EXPECT_EQ(stored.last_error, c.last_error);
    EXPECT_FALSE(stored.lease_owner);
    EXPECT_FALSE(stored.lease_expires_at);
    EXPECT_EQ(stored.updated_at, now);
    EXPECT_EQ(stored.finished_at,
              c.status == JobStatus::kRetry ? std::nullopt : std::optional<Timestamp>(now));
    if (c.provider_status) {
      ASSERT_EQ(rows.size(), 1u) << n;
      const ProviderStatus& want = statuses.at(c.job_id);
      EXPECT_EQ(rows[0].id, want.id);
      EXPECT_EQ(rows[0].recurring_transfer_id, want.recurring_transfer_id);
      EXPECT_EQ(rows[0].attempt, want.attempt);
      EXPECT_EQ(rows[0].http_status, want.http_status);
      EXPECT_EQ(rows[0].code, want.code);
      EXPECT_EQ(rows[0].message, want.message);
      EXPECT_EQ(rows[0].response_body, want.response_body);
      EXPECT_EQ(rows[0].created_at, want.created_at);
    } else {
      EXPECT_TRUE(rows.empty()) << n;
    }
  }
  for (int ti = 0; ti < kTransfers; ++ti) {
    const RecurringTransfer& t = transfers[size_t(ti)];
    auto stored = store_->get_transfer(t.id).value().value();
    auto all = jobs_of(t.id);
    if (exhausted(ti)) {
      EXPECT_EQ(all.size(), size_t(kPerTransfer)) << ti;
      EXPECT_EQ(stored.last_sequence, kPerTransfer);
      // Transfer 0 keeps a PROCESSING job (its completion lost the lease).
      EXPECT_EQ(stored.status, ti == 0 ? TransferStatus::kActive : TransferStatus::kCompleted);
      EXPECT_EQ(stored.updated_at, ti == 0 ? kT0 : now);
      continue;
    }
    ASSERT_EQ(all.size(), size_t(kPerTransfer + 5)) << ti;  // 11..15 once each, never 20
    for (size_t s = 0; s < 5; ++s) expect_same(all[size_t(kPerTransfer) + s], next[size_t(ti)][s]);
    EXPECT_EQ(stored.last_sequence, 15);
    EXPECT_EQ(stored.next_occurrence_at, kT0 + 24h * 16);
    EXPECT_EQ(stored.status, TransferStatus::kActive);
    EXPECT_EQ(stored.updated_at, now);
  }
}

// --- Operator retry of a FAILED job ---

TEST_P(StoreConformance, RetryFailedJobRearmsItDueNow) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0 + 1h});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = kT0 + 1s,
            .status = JobStatus::kFailed,
            .retries = 3,
            .last_error = "503"});
  auto retried = store_->retry_failed_job(normalize_upper(jobs[0].id), kT0 + 2h);
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_EQ(retried->id, jobs[0].id);
  EXPECT_EQ(retried->status, JobStatus::kRetry);
  EXPECT_EQ(retried->retries, 0);
  EXPECT_EQ(retried->next_attempt_at, kT0 + 2h);
  EXPECT_EQ(retried->updated_at, kT0 + 2h);
  EXPECT_FALSE(retried->finished_at);
  EXPECT_EQ(retried->last_error, "503");
  expect_same(get(jobs[0].id), *retried);
  ClaimResult c = claim(jobs[0].id, kT0 + 2h, "owner-b");
  EXPECT_EQ(c.status, ClaimStatus::kClaimed);

  for (const std::string& id : {jobs[0].id, jobs[1].id}) {  // PROCESSING, PENDING
    auto not_failed = store_->retry_failed_job(id, kT0 + 3h);
    ASSERT_FALSE(not_failed);
    EXPECT_EQ(not_failed.error().code, ErrorCode::kConflict);
    EXPECT_EQ(not_failed.error().reason, "job_not_failed");
  }
  EXPECT_EQ(get(jobs[1].id).status, JobStatus::kPending);
  for (const std::string& id : {new_uuid_v7(kT0), std::string("nope")}) {
    auto unknown = store_->retry_failed_job(id, kT0);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  }
}

// --- Batch claims for the built-in loops ---

// Due jobs of every kind, for the claim_due_jobs tests (dues relative to kT0):
//   active:    pending +0, in_fly +1s, pending +1h (not due)
//   retrying:  retry next_attempt_at +500ms, retry +2h (not due)
//   paused:    pending +200ms (to be skipped), retry +300ms (claimed even so)
//   cancelled: pending +100ms (to be cancelled)
struct DueScene {
  Job p0, in_fly, later, retry, retry_later, paused_pending, paused_retry, cancelled;
};

class DueClaims : public StoreConformance {
 protected:
  DueScene scene() {
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

  Job retry_job(const RecurringTransfer& t, int64_t sequence, Timestamp next_attempt_at) {
    Job j = job(t, sequence, kT0 - 24h, JobStatus::kRetry);
    j.retries = 1;
    j.next_attempt_at = next_attempt_at;
    return j;
  }

  void insert(RecurringTransfer& t, const std::vector<Job>& jobs) {
    t.last_sequence = int64_t(jobs.size());
    auto r = store_->create_transfer(t, jobs);
    ASSERT_TRUE(r) << r.error().message;
  }

  std::vector<ClaimResult> claim_due(Timestamp now, int limit, bool pending, bool retries,
                                     const std::string& owner = "batch-1") {
    auto r = store_->claim_due_jobs({owner, now, now + 30s, limit, pending, retries, 3});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : std::vector<ClaimResult>{};
  }

  // Checks a result is `expected` claimed at `now` by "batch-1", and that the store agrees.
  void expect_claimed(const ClaimResult& c, const Job& expected, Timestamp now) {
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

  void expect_finished(const ClaimResult& c, const Job& expected, ClaimStatus status,
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
};

TEST_P(DueClaims, PendingOnly) {
  DueScene s = scene();
  Timestamp now = kT0 + 10s;
  auto got = claim_due(now, 10, true, false);
  ASSERT_EQ(got.size(), 4u);
  expect_claimed(got[0], s.p0, now);
  expect_finished(got[1], s.cancelled, ClaimStatus::kTerminal, JobStatus::kCancelled, now);
  expect_finished(got[2], s.paused_pending, ClaimStatus::kSkipped, JobStatus::kSkipped, now);
  expect_claimed(got[3], s.in_fly, now);
  for (const Job& j : {s.later, s.retry, s.retry_later, s.paused_retry}) expect_same(get(j.id), j);
  EXPECT_TRUE(claim_due(now, 10, true, false).empty());
}

TEST_P(DueClaims, RetriesOnly) {
  DueScene s = scene();
  Timestamp now = kT0 + 10s;
  auto got = claim_due(now, 10, false, true);
  ASSERT_EQ(got.size(), 2u);
  expect_claimed(got[0], s.paused_retry, now);  // a retry of a paused transfer is seen through
  expect_claimed(got[1], s.retry, now);
  for (const Job& j : {s.p0, s.in_fly, s.later, s.retry_later, s.paused_pending, s.cancelled}) {
    expect_same(get(j.id), j);
  }
  EXPECT_TRUE(claim_due(now, 10, false, true).empty());
}

TEST_P(DueClaims, BothOldestDueFirstUpToLimit) {
  DueScene s = scene();
  Timestamp now = kT0 + 10s;
  auto first = claim_due(now, 3, true, true);
  ASSERT_EQ(first.size(), 3u);
  expect_claimed(first[0], s.p0, now);
  expect_finished(first[1], s.cancelled, ClaimStatus::kTerminal, JobStatus::kCancelled, now);
  expect_finished(first[2], s.paused_pending, ClaimStatus::kSkipped, JobStatus::kSkipped, now);
  auto second = claim_due(now + 1s, 10, true, true);
  ASSERT_EQ(second.size(), 3u);
  expect_claimed(second[0], s.paused_retry, now + 1s);
  expect_claimed(second[1], s.retry, now + 1s);
  expect_claimed(second[2], s.in_fly, now + 1s);
  EXPECT_TRUE(claim_due(now + 2s, 10, true, true).empty());
  EXPECT_TRUE(claim_due(now, 0, true, true).empty());
  expect_same(get(s.later.id), s.later);
  expect_same(get(s.retry_later.id), s.retry_later);
  // Held leases are not claimed again, however late.
  EXPECT_EQ(claim_due(kT0 + 3h, 10, true, true).size(), 2u);  // later, retry_later
  EXPECT_TRUE(claim_due(kT0 + 30h, 10, true, true).empty());
}

TEST_P(StoreConformance, RescueExpiredLeasesMovesThemToRetry) {
  RecurringTransfer t = transfer();
  auto processing = [&](int64_t sequence, Timestamp expires, int retries) {
    Job j = job(t, sequence, kT0 - 1h, JobStatus::kProcessing);
    j.lease_owner = "dead-" + std::to_string(sequence);
    j.lease_expires_at = expires;
    j.retries = retries;
    return j;
  };
  Job fresh = processing(1, kT0 - 3s, 0);
  Job at_max = processing(2, kT0 - 2s, 3);
  Job above_max = processing(3, kT0 - 1s, 5);
  Job held = processing(4, kT0 + 1ms, 0);
  Job idle = job(t, 5, kT0 - 1h);
  t.last_sequence = 5;
  ASSERT_TRUE(store_->create_transfer(t, {fresh, at_max, above_max, held, idle}));

  EXPECT_EQ(store_->rescue_expired_leases(kT0, 3, 2).value(), 2);  // the oldest leases first
  EXPECT_EQ(get(above_max.id).status, JobStatus::kProcessing);
  EXPECT_EQ(store_->rescue_expired_leases(kT0, 3, 10).value(), 1);
  EXPECT_EQ(store_->rescue_expired_leases(kT0, 3, 10).value(), 0);

  Job r = get(fresh.id);
  EXPECT_EQ(r.status, JobStatus::kRetry);
  EXPECT_EQ(r.retries, 1);
  EXPECT_EQ(r.next_attempt_at, kT0);
  EXPECT_EQ(r.updated_at, kT0);
  EXPECT_FALSE(r.lease_owner || r.lease_expires_at || r.finished_at);
  ASSERT_TRUE(r.last_error);
  EXPECT_NE(r.last_error->find("lease expired"), std::string::npos) << *r.last_error;
  EXPECT_EQ(get(at_max.id).retries, 3);     // capped at the maximum
  EXPECT_EQ(get(above_max.id).retries, 5);  // never lowered
  EXPECT_EQ(get(above_max.id).status, JobStatus::kRetry);
  expect_same(get(held.id), held);
  expect_same(get(idle.id), idle);
  // The rescued job is then claimable by the retries loop.
  auto claimed = store_->claim_due_jobs({"batch", kT0, kT0 + 30s, 10, false, true, 3});
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->size(), 3u);
}

// --- Horizon extension ---

TEST_P(StoreConformance, TransfersToExtendAreLiveOnesDueByTheHorizonEarliestFirst) {
  auto with_next = [&](TransferStatus status, std::optional<Timestamp> next) {
    RecurringTransfer t = transfer(status);
    t.next_occurrence_at = next;
    create(t, {kT0});
    return t.id;
  };
  std::string active = with_next(TransferStatus::kActive, kT0 + 10 * 24h);
  std::string paused = with_next(TransferStatus::kPaused, kT0 + 5 * 24h);
  with_next(TransferStatus::kActive, kT0 + 40 * 24h);  // beyond the horizon
  with_next(TransferStatus::kActive, std::nullopt);    // exhausted
  with_next(TransferStatus::kCancelled, kT0 + 24h);
  with_next(TransferStatus::kCompleted, kT0 + 24h);
  std::string edge = with_next(TransferStatus::kActive, kT0 + 30 * 24h);
  auto all = store_->transfers_to_extend(kT0 + 30 * 24h, 10);
  ASSERT_TRUE(all) << all.error().message;
  std::vector<std::string> ids;
  for (const auto& t : *all) ids.push_back(t.id);
  EXPECT_EQ(ids, (std::vector<std::string>{paused, active, edge}));
  auto one = store_->transfers_to_extend(kT0 + 30 * 24h, 1).value();
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].id, paused);
  EXPECT_EQ(one[0].next_occurrence_at, kT0 + 5 * 24h);
}

TEST_P(StoreConformance, ExtendTransferInsertsNewOccurrencesAndMovesForwardOnly) {
  RecurringTransfer t = transfer();
  t.next_occurrence_at = kT0 + 48h;
  create(t, {kT0, kT0 + 24h});
  auto extend = [&](std::vector<int64_t> sequences, std::optional<Timestamp> next, Timestamp now) {
    Extension e{t.id, now, {}, next, false};
    for (int64_t s : sequences) e.new_jobs.push_back(job(t, s, kT0 + s * 24h - 24h));
    auto r = store_->extend_transfer(e);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r.value_or(-1);
  };
  EXPECT_EQ(extend({3, 4}, kT0 + 4 * 24h, kT0 + 1h), 2);
  auto stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.last_sequence, 4);
  EXPECT_EQ(stored.next_occurrence_at, kT0 + 4 * 24h);
  EXPECT_EQ(stored.updated_at, kT0 + 1h);
  EXPECT_EQ(stored.status, TransferStatus::kActive);

  EXPECT_EQ(extend({3}, kT0 + 48h, kT0 + 2h), 0);  // a stale extension: nothing moves back
  stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.last_sequence, 4);
  EXPECT_EQ(stored.next_occurrence_at, kT0 + 4 * 24h);
  EXPECT_EQ(stored.updated_at, kT0 + 1h);

  EXPECT_EQ(extend({4, 5}, kT0 + 5 * 24h, kT0 + 3h), 1);
  auto all = jobs_of(t.id);
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(all[i].sequence, i + 1);
  EXPECT_EQ(store_->get_transfer(t.id).value()->last_sequence, 5);

  Extension foreign{t.id, kT0, {job(transfer(), 9, kT0)}, std::nullopt, false};
  EXPECT_EQ(store_->extend_transfer(foreign).error().code, ErrorCode::kInvalidArgument);
  Extension unknown{new_uuid_v7(kT0), kT0, {}, std::nullopt, false};
  EXPECT_EQ(store_->extend_transfer(unknown).error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformance, ExtendTransferCompletesWhenExhaustedAndAllTerminal) {
  RecurringTransfer done = transfer();
  done.next_occurrence_at = kT0;
  create(done, {kT0}, JobStatus::kFinished);
  EXPECT_EQ(store_->extend_transfer({done.id, kT0 + 1h, {}, std::nullopt, true}).value(), 0);
  auto stored = store_->get_transfer(done.id).value().value();
  EXPECT_EQ(stored.status, TransferStatus::kCompleted);
  EXPECT_EQ(stored.updated_at, kT0 + 1h);

  RecurringTransfer live = transfer();
  create(live, {kT0});
  Extension last{live.id, kT0, {job(live, 2, kT0 + 24h)}, std::nullopt, true};
  EXPECT_EQ(store_->extend_transfer(last).value(), 1);
  stored = store_->get_transfer(live.id).value().value();
  EXPECT_EQ(stored.status, TransferStatus::kActive);
  EXPECT_EQ(stored.last_sequence, 2);
  EXPECT_FALSE(stored.next_occurrence_at);

  RecurringTransfer cancelled = transfer(TransferStatus::kCancelled);
  create(cancelled, {kT0});
  Extension none{cancelled.id, kT0, {job(cancelled, 2, kT0 + 24h)}, kT0 + 48h, false};
  EXPECT_EQ(store_->extend_transfer(none).value(), 0);
  EXPECT_EQ(jobs_of(cancelled.id).size(), 1u);
  EXPECT_EQ(store_->get_transfer(cancelled.id).value()->last_sequence, 1);
}

TEST_P(StoreConformance, ExtendTransfersWritesABatchAllOrNone) {
  std::vector<RecurringTransfer> transfers;
  std::vector<Extension> batch;
  for (int i = 0; i < 3; ++i) {
    transfers.push_back(transfer());
    create(transfers.back(), {kT0});
  }
  for (int i = 2; i >= 0; --i) {  // not in id order: the store orders its locks
    const RecurringTransfer& t = transfers[i];
    batch.push_back(
        {t.id, kT0 + 1h, {job(t, 2, kT0 + 24h), job(t, 3, kT0 + 48h)}, kT0 + 72h, false});
  }
  Extension unknown{new_uuid_v7(kT0), kT0, {}, std::nullopt, false};
  std::vector<Extension> with_unknown = batch;
  with_unknown.push_back(unknown);
  EXPECT_EQ(store_->extend_transfers(with_unknown).error().code, ErrorCode::kNotFound);
  for (const RecurringTransfer& t : transfers) {
    EXPECT_EQ(jobs_of(t.id).size(), 1u);  // none of the batch was written
    EXPECT_EQ(store_->get_transfer(t.id).value()->last_sequence, 1);
  }

  auto r = store_->extend_transfers(batch);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, 6);
  for (const RecurringTransfer& t : transfers) {
    EXPECT_EQ(jobs_of(t.id).size(), 3u);
    auto stored = store_->get_transfer(t.id).value().value();
    EXPECT_EQ(stored.last_sequence, 3);
    EXPECT_EQ(stored.next_occurrence_at, kT0 + 72h);
  }
  EXPECT_EQ(store_->extend_transfers({}).value(), 0);

  // A transfer named twice is refused; a cancelled one gets nothing, and the others go on.
  RecurringTransfer live = transfer();
  create(live, {kT0});
  RecurringTransfer cancelled = transfer();
  create(cancelled, {kT0});
  ASSERT_TRUE(store_->change_transfer_status(cancelled.id, TransferAction::kCancel, kT0));
  Extension next_of_live{live.id, kT0 + 1h, {job(live, 2, kT0 + 24h)}, kT0 + 48h, false};
  Extension next_of_cancelled{
      cancelled.id, kT0 + 1h, {job(cancelled, 2, kT0 + 24h)}, kT0 + 48h, false};
  std::vector<Extension> twice{next_of_live, next_of_live};
  EXPECT_EQ(store_->extend_transfers(twice).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(jobs_of(live.id).size(), 1u);
  std::vector<Extension> mixed{next_of_cancelled, next_of_live};
  EXPECT_EQ(store_->extend_transfers(mixed).value(), 1);
  EXPECT_EQ(jobs_of(live.id).size(), 2u);
  EXPECT_EQ(jobs_of(cancelled.id).size(), 1u);
  EXPECT_EQ(store_->get_transfer(cancelled.id).value()->last_sequence, 1);
}

TEST_P(StoreConformance, RacingExtensionsNeverDuplicateAnOccurrence) {
  RecurringTransfer t = transfer();
  create(t, {kT0});
  constexpr int kRounds = 20;
  std::atomic<int> inserted{0}, errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      for (int round = 0; round < kRounds; ++round) {
        Extension e{t.id, kT0, {}, kT0 + (round + 1) * 72h, false};
        for (int64_t s = 2 + 2 * round; s < 5 + 2 * round; ++s) {  // overlaps the next round
          e.new_jobs.push_back(job(t, s, kT0 + s * 24h));
        }
        auto r = store_->extend_transfer(e);
        r ? inserted.fetch_add(*r) : errors.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  int64_t last = 4 + 2 * (kRounds - 1);
  EXPECT_EQ(inserted.load(), last - 1);
  auto all = jobs_of(t.id);
  ASSERT_EQ(all.size(), size_t(last));
  std::set<int64_t> sequences;
  for (const Job& j : all) sequences.insert(j.sequence);
  EXPECT_EQ(sequences.size(), size_t(last));
  auto stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.last_sequence, last);
  EXPECT_EQ(stored.next_occurrence_at, kT0 + kRounds * 72h);
}

TEST_P(StoreConformance, CompleteStoresNextOccurrenceWhenLastSequenceMovesForward) {
  RecurringTransfer t = transfer();
  t.next_occurrence_at = kT0 + 48h;
  auto jobs = create(t, {kT0, kT0 + 24h});
  ASSERT_EQ(claim(jobs[0].id, kT0, "a").status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[1].id, kT0 + 24h, "b").status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "a",
            .now = kT0 + 25h,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded,
            .new_jobs = {job(t, 3, kT0 + 48h)},
            .next_occurrence_at = kT0 + 72h});
  auto stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.last_sequence, 3);
  EXPECT_EQ(stored.next_occurrence_at, kT0 + 72h);
  // A completion that computed the same occurrences (or none) moves nothing.
  complete({.job_id = jobs[1].id,
            .lease_owner = "b",
            .now = kT0 + 26h,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded,
            .new_jobs = {job(t, 3, kT0 + 48h)},
            .next_occurrence_at = kT0 + 60h});
  stored = store_->get_transfer(t.id).value().value();
  EXPECT_EQ(stored.last_sequence, 3);
  EXPECT_EQ(stored.next_occurrence_at, kT0 + 72h);
  EXPECT_EQ(stored.updated_at, kT0 + 25h);
}

// --- Pause, resume, cancel ---

TEST_P(StoreConformance, PauseResumeCancelAndInvalidTransitions) {
  RecurringTransfer t = transfer();
  t.next_occurrence_at = kT0 + 72h;
  create(t, {kT0});
  auto change = [&](TransferAction action, Timestamp now) {
    return store_->change_transfer_status(t.id, action, now);
  };
  auto expect_conflict = [&](TransferAction action, std::string_view current) {
    auto r = change(action, kT0 + 9h);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kConflict);
    EXPECT_EQ(r.error().reason, "invalid_transition");
    EXPECT_NE(r.error().message.find(current), std::string::npos) << r.error().message;
  };
  auto paused = change(TransferAction::kPause, kT0 + 1h);
  ASSERT_TRUE(paused) << paused.error().message;
  EXPECT_EQ(paused->status, TransferStatus::kPaused);
  EXPECT_EQ(paused->updated_at, kT0 + 1h);
  EXPECT_EQ(paused->next_occurrence_at, kT0 + 72h);
  expect_same(store_->get_transfer(t.id).value().value(), *paused);
  expect_conflict(TransferAction::kPause, "PAUSED");
  auto resumed = change(TransferAction::kResume, kT0 + 2h);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->status, TransferStatus::kActive);
  EXPECT_EQ(resumed->updated_at, kT0 + 2h);
  expect_conflict(TransferAction::kResume, "ACTIVE");
  auto cancelled = change(TransferAction::kCancel, kT0 + 3h);
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->status, TransferStatus::kCancelled);
  EXPECT_FALSE(cancelled->next_occurrence_at);
  for (TransferAction a :
       {TransferAction::kPause, TransferAction::kResume, TransferAction::kCancel})
    expect_conflict(a, "CANCELLED");

  RecurringTransfer completed = transfer(TransferStatus::kCompleted);
  create(completed, {kT0}, JobStatus::kFinished);
  auto r = store_->change_transfer_status(completed.id, TransferAction::kCancel, kT0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "invalid_transition");
  for (const std::string& id : {new_uuid_v7(kT0), std::string("nope")}) {
    auto unknown = store_->change_transfer_status(id, TransferAction::kPause, kT0);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  }
}

TEST_P(StoreConformance, CancelCancelsLiveJobsButNotProcessingOrTerminalOnes) {
  RecurringTransfer t = transfer(TransferStatus::kPaused);
  Job pending = job(t, 1, kT0 + 24h);
  Job in_fly = job(t, 2, kT0, JobStatus::kInFly);
  Job retry = job(t, 3, kT0, JobStatus::kRetry);
  retry.next_attempt_at = kT0 + 1h;
  Job processing = job(t, 4, kT0, JobStatus::kProcessing);
  processing.lease_owner = "worker";
  processing.lease_expires_at = kT0 + 30s;
  Job finished = job(t, 5, kT0, JobStatus::kFinished);
  finished.result = JobResult::kSucceeded;
  finished.finished_at = kT0;
  Job failed = job(t, 6, kT0, JobStatus::kFailed);
  failed.finished_at = kT0;
  t.last_sequence = 6;
  ASSERT_TRUE(store_->create_transfer(t, {pending, in_fly, retry, processing, finished, failed}));
  RecurringTransfer other = transfer();
  auto untouched = create(other, {kT0});

  auto r = store_->change_transfer_status(normalize_upper(t.id), TransferAction::kCancel, kT0 + 5s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, TransferStatus::kCancelled);
  for (const Job& j : {pending, in_fly, retry}) {
    Job now = get(j.id);
    EXPECT_EQ(now.status, JobStatus::kCancelled);
    EXPECT_EQ(now.finished_at, kT0 + 5s);
    EXPECT_EQ(now.updated_at, kT0 + 5s);
  }
  for (const Job& j : {processing, finished, failed}) expect_same(get(j.id), j);
  expect_same(get(untouched[0].id), untouched[0]);
  // The job in flight still records its outcome.
  EXPECT_EQ(complete({.job_id = processing.id,
                      .lease_owner = "worker",
                      .now = kT0 + 6s,
                      .status = JobStatus::kFinished,
                      .result = JobResult::kSucceeded})
                .status,
            CompletionStatus::kWritten);
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

TEST_P(StoreConformance, FourThreadsClaimingDueBatchesClaimEachJobOnce) {
  std::set<std::string> all = create_due_jobs(10, 100);
  std::mutex mutex;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0;; ++round) {
        std::string owner = "thread-" + std::to_string(i) + "-" + std::to_string(round);
        auto r = store_->claim_due_jobs({owner, kT0, kT0 + 30s, 50, true, true, 3});
        if (!r) {
          errors.fetch_add(1);
          return;
        }
        if (r->empty()) return;
        std::lock_guard lock(mutex);
        for (const ClaimResult& c : *r) {
          EXPECT_EQ(c.status, ClaimStatus::kClaimed);
          EXPECT_EQ(c.job->lease_owner, owner);
          claimed.push_back(c.job->id);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), all.size());                                  // no job twice...
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), all);  // ...and every job
}

TEST_P(StoreConformance, ThreeProcessesClaimingDueBatchesClaimEachJobOnce) {
  std::set<std::string> all = create_due_jobs(10, 100);
  store_.reset();  // no connection may cross fork()
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<std::pair<pid_t, int>> children;  // pid, read end of its report pipe
  for (int i = 0; i < 3; ++i) {
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // child: claims until nothing is left, writes one claimed id per line
      ::close(go[1]);
      ::close(report[0]);
      auto s = open_store(url_);
      char c;
      if (::read(go[0], &c, 1) != 0 || !s) ::_exit(3);
      std::string out;
      for (int round = 0;; ++round) {
        std::string owner = "proc-" + std::to_string(i) + "-" + std::to_string(round);
        auto r = (*s)->claim_due_jobs({owner, kT0, kT0 + 30s, 50, true, true, 3});
        if (!r) ::_exit(4);
        if (r->empty()) break;
        for (const ClaimResult& claim : *r) {
          if (claim.status != ClaimStatus::kClaimed) ::_exit(5);
          out += claim.job->id + "\n";
        }
      }
      for (size_t done = 0; done < out.size();) {
        ssize_t n = ::write(report[1], out.data() + done, out.size() - done);
        if (n <= 0) ::_exit(6);
        done += size_t(n);
      }
      ::_exit(0);
    }
    ::close(report[1]);
    children.emplace_back(pid, report[0]);
  }
  ::close(go[0]);
  std::this_thread::sleep_for(200ms);
  ::close(go[1]);
  std::vector<std::string> claimed;
  int active_children = 0;
  for (auto [pid, fd] : children) {
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
    ::close(fd);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    size_t before = claimed.size();
    for (size_t pos = 0, nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      claimed.push_back(text.substr(pos, nl - pos));
    }
    active_children += claimed.size() > before;
  }
  EXPECT_EQ(claimed.size(), all.size());
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), all);
  EXPECT_GE(active_children, 1);
  store_ = open();
}

// --- Wake-ups across instances ---

TEST_P(StoreConformance, SubscribersHearOfJobsDueFromOtherInstances) {
  std::atomic<int> calls{0};
  auto subscription = store_->subscribe_jobs_due([&] { calls.fetch_add(1); });
  if (GetParam() == "sqlite") {
    EXPECT_EQ(subscription, nullptr);  // one process: the in-process wake is the caller's job
    return;
  }
  ASSERT_NE(subscription, nullptr);
  auto wait_for_call = [&](int above) {
    for (auto until = std::chrono::steady_clock::now() + 2s;
         calls.load() <= above && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(10ms);
    }
    return calls.load() > above;
  };
  std::this_thread::sleep_for(300ms);  // let the listener connect
  auto other = open();
  RecurringTransfer t = transfer();
  t.created_at = kT0;
  ASSERT_TRUE(other->create_transfer(t, {job(t, 1, kT0)}));
  EXPECT_TRUE(wait_for_call(0)) << "no wake-up within 2 s of a due job's creation";

  // A dropped connection is re-established, and the subscriber told once it is back.
  int before = calls.load();
  PGconn* admin = PQconnectdb(url_.c_str());
  ASSERT_EQ(PQstatus(admin), CONNECTION_OK);
  PGresult* r = PQexec(admin,
                       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE"
                       " application_name = 'rtjobs-listener' AND datname = current_database()");
  EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(admin);
  EXPECT_TRUE(wait_for_call(before)) << "no wake-up within 2 s of reconnecting";

  // A completion that re-arms its job due now (RT_RETRY_BACKOFF=0) wakes them too.
  std::this_thread::sleep_for(200ms);  // let a late reconnect wake-up pass
  before = calls.load();
  std::string id = jobs_of(t.id).at(0).id;
  ASSERT_EQ(other->claim_job({id, "w", kT0, kT0 + 30s, 3}).value().status, ClaimStatus::kClaimed);
  auto w = other->complete_job({.job_id = id,
                                .lease_owner = "w",
                                .now = kT0,
                                .status = JobStatus::kRetry,
                                .retries = 1,
                                .next_attempt_at = kT0});
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->status, CompletionStatus::kWritten);
  EXPECT_TRUE(wait_for_call(before)) << "no wake-up within 2 s of a retry due now";
  subscription.reset();  // stops promptly
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Backends, DueClaims, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rtjobs
