// Store conformance (conformance.hpp): opening and migrating a store, transfers (round trips,
// idempotent creation, listing), listing jobs, and pausing, resuming and cancelling transfers.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "store/postgres/pg_schema.hpp"
#include "store/sqlite/sqlite_schema.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

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
  // The empty database got every migration, in order; a second run applies none.
  std::vector<int> all;
  if (GetParam() == "sqlite") {
    for (const auto& m : store_detail::sqlite_migrations()) all.push_back(m.version);
  } else {
    for (const auto& m : store_detail::pg_migrations()) all.push_back(m.version);
  }
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(first_migration_.applied, all);
  EXPECT_EQ(first_migration_.version, all.back());
  auto again = store_->migrate();
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(again->version, all.back());
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

// The console's search: exact external_id, an account on either side, with status and paging.
TEST_P(StoreConformance, ListTransfersByExternalIdAndAccount) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    RecurringTransfer t = transfer(i == 3 ? TransferStatus::kPaused : TransferStatus::kActive);
    t.external_id = i < 2 ? std::optional<std::string>("inv-" + std::to_string(i)) : std::nullopt;
    t.source_account = i % 2 ? "acc_shared" : "acc_src_" + std::to_string(i);
    t.destination_account = i == 2 ? "acc_shared" : "acc_dst";
    create(t, {kT0});
    ids.push_back(t.id);
  }
  auto ids_of = [&](const TransferFilter& f) {
    std::vector<std::string> out;
    auto r = store_->list_transfers(f);
    EXPECT_TRUE(r) << r.error().message;
    if (r) {
      for (const auto& t : r->data) out.push_back(t.id);
    }
    return out;
  };
  TransferFilter by_external;
  by_external.external_id = "inv-1";
  EXPECT_EQ(ids_of(by_external), std::vector<std::string>{ids[1]});
  by_external.external_id = "inv";
  EXPECT_TRUE(ids_of(by_external).empty());  // exact, not a prefix

  TransferFilter by_account;
  by_account.account = "acc_shared";  // source of 1 and 3, destination of 2
  EXPECT_EQ(ids_of(by_account), (std::vector<std::string>{ids[1], ids[2], ids[3]}));
  by_account.status = TransferStatus::kActive;
  EXPECT_EQ(ids_of(by_account), (std::vector<std::string>{ids[1], ids[2]}));
  by_account.limit = 1;
  auto first = store_->list_transfers(by_account).value();
  ASSERT_EQ(first.data.size(), 1u);
  ASSERT_TRUE(first.next_cursor);
  by_account.cursor = first.next_cursor;
  EXPECT_EQ(ids_of(by_account), std::vector<std::string>{ids[2]});

  TransferFilter both;
  both.account = "acc_dst";
  both.external_id = "inv-0";
  EXPECT_EQ(ids_of(both), std::vector<std::string>{ids[0]});
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

// --- Listing jobs ---

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

}  // namespace
}  // namespace rtjobs::store_conformance
