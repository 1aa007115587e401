// Store conformance (conformance.hpp): what flow control toward each bank (SPEC section 8)
// needs of the store. Claims of one provider's due jobs, which leave every other provider's
// alone; claims and counts across providers; the live instances that share a bank's limit
// (heartbeat_instance, leave_instance); and the migration that brought both.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"
#include "raw_db.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

// The first migration of each backend with the (provider, time) indexes and rtjobs_instance.
int flow_migration(const std::string& backend) { return backend == "sqlite" ? 3 : 7; }

// --- Claims of one provider ---

TEST_P(DueClaims, AClaimForOneProviderTakesOnlyItsJobsOldestFirst) {
  TwoBanks s = two_banks();
  Timestamp now = kT0 + 10s;
  // Pending and retrying jobs of bank-a, in due order, up to the limit.
  expect_claimed_all(claim_due(now, 2, true, true, "batch-1", "bank-a"), {s.a0, s.a_retry}, now);
  expect_claimed_all(claim_due(now, 10, true, true, "batch-1", "bank-a"), {s.a2}, now);
  EXPECT_TRUE(claim_due(now, 10, true, true, "batch-1", "bank-a").empty());
  // bank-b's jobs, older than all of them, were never touched; nor was bank-a's job not due.
  for (const Job& j : {s.b0, s.b_retry, s.a_later}) expect_same(get(j.id), j);
  EXPECT_TRUE(claim_due(now, 10, true, true, "batch-1", "bank-c").empty());
  // Without a provider, any provider's.
  expect_claimed_all(claim_due(now, 10, true, true), {s.b0, s.b_retry}, now);
}

TEST_P(DueClaims, AClaimForOneProviderTakesPendingOrRetryingJobsAsAsked) {
  TwoBanks s = two_banks();
  Timestamp now = kT0 + 10s;
  expect_claimed_all(claim_due(now, 10, false, true, "batch-1", "bank-a"), {s.a_retry}, now);
  expect_claimed_all(claim_due(now, 10, true, false, "batch-1", "bank-b"), {s.b0}, now);
  for (const Job& j : {s.a0, s.a2, s.b_retry}) expect_same(get(j.id), j);
}

TEST_P(DueClaims, AClaimForAnyProviderTakesTheOldestOfAllProviders) {
  // Three banks whose due jobs interleave in time.
  std::vector<Job> by_due;  // every job, oldest due first
  for (int bank = 0; bank < 3; ++bank) {
    RecurringTransfer t = transfer();
    t.provider = "bank-" + std::to_string(bank);
    std::vector<Job> jobs;
    for (int i = 0; i < 3; ++i) {
      Timestamp due = kT0 + std::chrono::milliseconds(100 * (3 * i + bank));
      jobs.push_back(i == 1 ? retry_job(t, i + 1, due) : job(t, i + 1, due));
    }
    insert(t, jobs);
    by_due.insert(by_due.end(), jobs.begin(), jobs.end());
  }
  auto due_of = [](const Job& j) { return j.next_attempt_at.value_or(j.due_at); };
  std::sort(by_due.begin(), by_due.end(),
            [&](const Job& a, const Job& b) { return due_of(a) < due_of(b); });

  Timestamp now = kT0 + 10s;
  expect_claimed_all(claim_due(now, 4, true, true), {by_due.begin(), by_due.begin() + 4}, now);
  expect_claimed_all(claim_due(now, 10, true, true), {by_due.begin() + 4, by_due.end()}, now);
}

TEST_P(DueClaims, AClaimForTheSceneProviderFollowsTheClaimRules) {
  // The scene's jobs are all of provider "sandbox": paused and cancelled transfers' jobs are
  // skipped, cancelled or left waiting as for any provider.
  DueScene s = scene();
  Timestamp now = kT0 + 10s;
  EXPECT_TRUE(claim_due(now, 10, true, true, "batch-1", "another-bank").empty());
  auto got = claim_due(now, 10, true, true, "batch-1", "sandbox");
  ASSERT_EQ(got.size(), 5u);
  expect_claimed(got[0], s.p0, now);
  expect_finished(got[1], s.cancelled, ClaimStatus::kTerminal, JobStatus::kCancelled, now);
  expect_finished(got[2], s.paused_pending, ClaimStatus::kSkipped, JobStatus::kSkipped, now);
  expect_claimed(got[3], s.retry, now);
  expect_claimed(got[4], s.in_fly, now);
  expect_same(get(s.paused_retry.id), s.paused_retry);  // waits for the resume
}

TEST_P(DueClaims, CountDueJobsAddsUpEveryProviderUpToTheCap) {
  // Two due pending jobs and one due retry for each of three banks, and some not due.
  for (int bank = 0; bank < 3; ++bank) {
    RecurringTransfer t = transfer();
    t.provider = "bank-" + std::to_string(bank);
    insert(t, {job(t, 1, kT0), job(t, 2, kT0 + 1s), retry_job(t, 3, kT0 + 2s), job(t, 4, kT0 + 1h),
               retry_job(t, 5, kT0 + 1h)});
  }
  auto count = [&](int64_t cap) {
    auto r = store_->count_due_jobs(kT0 + 10s, cap);
    EXPECT_TRUE(r) << r.error().message;
    return r ? std::pair{r->pending, r->retry} : std::pair<int64_t, int64_t>{-1, -1};
  };
  EXPECT_EQ(count(100), (std::pair<int64_t, int64_t>{6, 3}));
  EXPECT_EQ(count(5), (std::pair<int64_t, int64_t>{5, 3}));  // no one bank reaches the cap
  EXPECT_EQ(count(2), (std::pair<int64_t, int64_t>{2, 2}));
  EXPECT_EQ(count(0), (std::pair<int64_t, int64_t>{0, 0}));
}

// --- Live instances ---

int beat(Store& store, const std::string& id, Timestamp now, std::chrono::milliseconds ttl) {
  auto r = store.heartbeat_instance(id, now, ttl);
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : -1;
}

// The rows of rtjobs_instance, read without the Store.
int64_t instance_rows(const std::string& url) {
  auto n = RawDb(url).text("SELECT count(*) FROM rtjobs_instance");
  EXPECT_TRUE(n && *n) << (n ? "" : n.error().message);
  return n && *n ? std::stoll(**n) : -1;
}

TEST_P(StoreConformance, HeartbeatsCountTheLiveInstancesAndLeavingRemovesOne) {
  EXPECT_EQ(beat(*store_, "instance-a", kT0, 1h), 1);
  EXPECT_EQ(beat(*store_, "instance-b", kT0, 1h), 2);
  EXPECT_EQ(beat(*store_, "instance-a", kT0 + 1s, 1h), 2);  // a heartbeat again: still one row
  EXPECT_EQ(instance_rows(url_), 2);
  ASSERT_TRUE(store_->leave_instance("instance-b"));
  EXPECT_EQ(instance_rows(url_), 1);
  EXPECT_EQ(beat(*store_, "instance-a", kT0 + 2s, 1h), 1);
  ASSERT_TRUE(store_->leave_instance("instance-b"));  // already gone: not an error
  // Another store on the database sees the same instances.
  auto other = open();
  ASSERT_NE(other, nullptr);
  auto counted = other->heartbeat_instance("instance-c", kT0 + 3s, 1h);
  ASSERT_TRUE(counted) << counted.error().message;
  EXPECT_EQ(*counted, 2);
}

TEST_P(StoreConformance, AnInstanceWhoseTtlPassedIsNotCountedAndItsRowIsDeleted) {
  // A ttl of 0 has passed by the next heartbeat on either clock (no sleep needed): the instance
  // counts itself, the next one does not count it.
  EXPECT_EQ(beat(*store_, "instance-a", kT0, 0ms), 1);
  EXPECT_EQ(beat(*store_, "instance-b", kT0, 1h), 1);
  EXPECT_EQ(instance_rows(url_), 1);  // instance-a's row went with that heartbeat
  // Back (its process was only slow): counted again.
  EXPECT_EQ(beat(*store_, "instance-a", kT0 + 1s, 1h), 2);
  EXPECT_EQ(beat(*store_, "instance-b", kT0 + 1s, 1h), 2);
}

TEST_P(StoreConformance, LivenessIsDecidedByTheDatabaseServersClockOnPostgreSql) {
  // Two instances whose clocks are two hours apart, each alive for an hour by its own clock.
  // SQLite (one machine) believes the callers' clocks, so the first one has expired by the
  // second one's; PostgreSQL reads its own clock for both, so they agree both are live.
  const bool sqlite = GetParam() == "sqlite";
  store_ = open_on_server_clock();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(beat(*store_, "instance-a", kT0, 1h), 1);
  EXPECT_EQ(beat(*store_, "instance-b", kT0 + 2h, 1h), sqlite ? 1 : 2);
  if (sqlite) {
    // Within the ttl by the callers' clock, the other is live.
    EXPECT_EQ(beat(*store_, "instance-a", kT0 + 2h + 59min, 1h), 2);
    EXPECT_EQ(beat(*store_, "instance-b", kT0 + 3h + 59min, 1h), 1);  // a's expired at kT0 + 3h59m
  }
}

TEST_P(StoreConformance, ConcurrentHeartbeatsOfInstancesThatExpireNeverFail) {
  // Every thread's row expires at once (ttl 0), so each heartbeat deletes the others' rows
  // while they write them: no deadlock, no error, and each caller counts itself.
  std::atomic<int> failures{0};
  std::mutex mutex;
  std::string first_error;
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      std::string id = "instance-" + std::to_string(i);
      for (int round = 0; round < 50; ++round) {
        auto ttl = round % 2 == 0 ? 0ms : 1h;
        auto r = store_->heartbeat_instance(id, kT0 + std::chrono::milliseconds(round), ttl);
        if (r && *r >= 1 && *r <= 4) continue;
        failures.fetch_add(1);
        std::lock_guard lock(mutex);
        if (first_error.empty()) {
          first_error = r ? "counted " + std::to_string(*r) : r.error().message;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << first_error;
}

// --- The migration that brought them ---

TEST_P(StoreConformance, TheFlowControlMigrationKeysTheDueIndexesByProvider) {
  const bool sqlite = GetParam() == "sqlite";
  const int migration = flow_migration(GetParam());
  std::string url = database_before(migration);
  // Due jobs of two banks, written before the migration as a binary of that time wrote them
  // (the columns it knew: those before the settlement migration's).
  RecurringTransfer a = transfer();
  a.provider = "bank-a";
  a.last_sequence = 2;
  Job a_pending = job(a, 1, kT0);
  Job a_retry = job(a, 2, kT0 - 1h, JobStatus::kRetry);
  a_retry.next_attempt_at = kT0 + 1s;
  RecurringTransfer b = transfer();
  b.provider = "bank-b";
  b.last_sequence = 1;
  Job b_pending = job(b, 1, kT0 - 1s);
  {
    RawDb before(url);
    constexpr int kTransferColumns = 29;  // up to provider_options
    constexpr int kJobColumns = 19;       // up to bank_status
    before.insert_leading(a, {a_pending, a_retry}, kTransferColumns, kJobColumns);
    before.insert_leading(b, {b_pending}, kTransferColumns, kJobColumns);
  }
  EXPECT_EQ(migrate_store(url), migrations_from(migration));
  ASSERT_NE(store_, nullptr);

  // Same names, keyed by provider.
  RawDb db(url);
  const std::string definition = sqlite ? "SELECT sql FROM sqlite_master WHERE name = ?1"
                                        : "SELECT indexdef FROM pg_indexes WHERE indexname = $1";
  auto due_idx = db.text(definition, {std::string("recurring_transfer_job_due_idx")});
  ASSERT_TRUE(due_idx && *due_idx);
  EXPECT_NE((*due_idx)->find("(provider, due_at)"), std::string::npos) << **due_idx;
  auto retry_idx = db.text(definition, {std::string("recurring_transfer_job_retry_idx")});
  ASSERT_TRUE(retry_idx && *retry_idx);
  EXPECT_NE((*retry_idx)->find("(provider, next_attempt_at)"), std::string::npos) << **retry_idx;

  // The jobs from before are claimed by provider, and counted.
  auto counts = store_->count_due_jobs(kT0 + 10s, 100);
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(counts->pending, 2);
  EXPECT_EQ(counts->retry, 1);
  auto claimed =
      store_->claim_due_jobs({"batch-1", kT0 + 10s, kT0 + 40s, 10, true, true, 3, "bank-a"});
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ(claimed->at(0).job->id, a_pending.id);
  EXPECT_EQ(claimed->at(1).job->id, a_retry.id);
  expect_same(get(b_pending.id), b_pending);
  // And the instances' table is there.
  auto live = store_->heartbeat_instance("instance-a", kT0, 1h);
  ASSERT_TRUE(live) << live.error().message;
  EXPECT_EQ(*live, 1);
}

}  // namespace
}  // namespace rtjobs::store_conformance
