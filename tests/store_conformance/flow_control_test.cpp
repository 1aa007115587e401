// Store conformance (conformance.hpp): what flow control toward each bank (SPEC section 8)
// needs of the store. Claims of one provider's due jobs, which leave every other provider's
// alone; claims and counts across providers; and the migration that keyed the due indexes by
// provider.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
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

// --- The migration that brought them ---

TEST_P(StoreConformance, TheFlowControlMigrationKeysTheDueIndexesByProvider) {
  const bool sqlite = GetParam() == "sqlite";
  const int migration = flow_migration(GetParam());
  std::string url = database_before(migration);
  // Due jobs of two banks, written before the migration (the job columns have not changed
  // since: this store's inserts are the older binary's).
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
    auto before = open_store(url);
    ASSERT_TRUE(before) << before.error().message;
    ASSERT_TRUE((*before)->create_transfer(a, {a_pending, a_retry}));
    ASSERT_TRUE((*before)->create_transfer(b, {b_pending}));
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
}

}  // namespace
}  // namespace rtjobs::store_conformance
