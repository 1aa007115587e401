// Store conformance (conformance.hpp): horizon extension: which transfers to extend, adding
// their next occurrences one transfer or one batch at a time, racing extensions, and a
// completion that moves the horizon forward.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

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
  auto extend = [&](const std::vector<int64_t>& sequences, std::optional<Timestamp> next,
                    Timestamp now) {
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
  threads.reserve(2);
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

}  // namespace
}  // namespace rtjobs::store_conformance
