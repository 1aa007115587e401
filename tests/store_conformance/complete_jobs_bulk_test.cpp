// Store conformance (conformance.hpp): group commit (complete_jobs) at size: two threads
// completing batches of the same transfers, and one batch of 500 outcomes over 50 transfers.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

// --- Group commit at size ---

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
  threads.reserve(2);
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
    if (ti % 10 == 0) transfers.back().next_occurrence_at.reset();  // exhausted, below
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

}  // namespace
}  // namespace rtjobs::store_conformance
