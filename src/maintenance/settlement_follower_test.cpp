#include "maintenance/settlement_follower.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/uuid.hpp"
#include "jobs/bank_webhooks.hpp"
#include "jobs/test_fixture.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono_literals;
using jobs_test::kT0;

// A bank whose look-ups answer from a script (reference -> answer; kNotFound when unscripted),
// inline, counting every look-up.
class ScriptedBank final : public Provider {
 public:
  std::string_view name() const override { return "bank"; }
  std::chrono::milliseconds timeout() const override { return 1s; }
  Result<void> check_transfer(const TransferSpec& /*spec*/) const override { return {}; }
  void execute(TransferRequest /*request*/, std::function<void(TransferResult)> done) override {
    done(TransferResult{});
  }
  bool follows_settlement() const override { return true; }
  void fetch_transfer(std::string reference, Rail /*rail*/,
                      std::function<void(Result<TransferState>)> done) override {
    Result<TransferState> answer = fail(ErrorCode::kNotFound, "no such transfer");
    {
      std::lock_guard lock(mutex_);
      if (auto it = answers_.find(reference); it != answers_.end()) answer = it->second;
      lookups_.push_back(std::move(reference));
    }
    done(std::move(answer));
  }

  void answer(const std::string& reference, Result<TransferState> answer) {
    std::lock_guard lock(mutex_);
    answers_.insert_or_assign(reference, std::move(answer));
  }
  int calls() const {
    std::lock_guard lock(mutex_);
    return static_cast<int>(lookups_.size());
  }
  std::vector<std::string> lookups() const {
    std::lock_guard lock(mutex_);
    return lookups_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Result<TransferState>> answers_;  // guarded by mutex_
  std::vector<std::string> lookups_;                      // guarded by mutex_
};

TransferState bank_says(const std::string& reference, SettlementStatus settlement,
                        std::optional<std::string> return_code = std::nullopt) {
  TransferState s;
  s.reference = reference;
  s.rail = Rail::kAch;
  s.settlement = settlement;
  s.bank_status = std::string(to_string(settlement));
  s.return_code = std::move(return_code);
  if (settlement == SettlementStatus::kSettled || settlement == SettlementStatus::kReturned) {
    s.settled_at = kT0 + 1h;
  }
  s.http_status = 200;
  s.response_body = "{}";
  return s;
}

// The follower over the scripted "bank", and jobs it accepted as pending at kT0 (first looked
// up at kT0 + 15 min, the processor's default).
class SettlementFollowerTest : public jobs_test::JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    bank_ = add_provider(std::make_unique<ScriptedBank>());
  }

  std::unique_ptr<SettlementFollower> follower(SettlementOptions options = {},
                                               const FlowControl* flows = nullptr) {
    return std::make_unique<SettlementFollower>(*store_, providers_, flows, clock_, options,
                                                nullptr);
  }

  // A transfer whose first job the bank accepted at the clock's now as `reference`, pending.
  std::string pending_job(const std::string& reference) {
    NewTransfer t = ach_transfer("bank");
    t.source_account = "acct-" + reference;
    t.request_hash = reference;
    TransferService service(*store_, providers_, calendars_, clock_, 1);
    auto created = service.create(t);
    EXPECT_TRUE(created) << created.error().message;
    if (!created) return "";
    JobFilter filter;
    filter.recurring_transfer_id = created->transfer.id;
    auto jobs = store_->list_jobs(filter);
    EXPECT_TRUE(jobs && !jobs->data.empty());
    if (!jobs || jobs->data.empty()) return "";
    const std::string id = jobs->data.front().id;
    const Timestamp now = clock_.now();
    auto claimed = store_->claim_job(ClaimRequest{id, "owner-" + reference, now, now + 1min, 3});
    EXPECT_TRUE(claimed && claimed->status == ClaimStatus::kClaimed);
    Completion c;
    c.job_id = id;
    c.lease_owner = "owner-" + reference;
    c.now = now;
    c.status = JobStatus::kFinished;
    c.result = JobResult::kSucceeded;
    c.provider_reference = reference;
    c.bank_status = "pending";
    c.settlement_status = SettlementStatus::kPending;
    c.settlement_check_at = now + 15min;
    auto written = store_->complete_job(c);
    EXPECT_TRUE(written && written->status == CompletionStatus::kWritten);
    return id;
  }

  Job job(const std::string& id) {
    auto j = store_->get_job(id);
    EXPECT_TRUE(j && *j);
    return j && *j ? **j : Job{};
  }
  RecurringTransfer transfer_of(const std::string& job_id) {
    auto t = store_->get_transfer(job(job_id).recurring_transfer_id);
    EXPECT_TRUE(t && *t);
    return t && *t ? **t : RecurringTransfer{};
  }

  // Stores a webhook event about `reference` (thin unless `state` is given).
  void receive(const std::string& event_id, std::optional<std::string> reference,
               std::optional<TransferState> state = std::nullopt, std::string provider = "bank",
               std::optional<Timestamp> received_at = std::nullopt) {
    BankEventRecord e;
    e.id = new_uuid_v7(clock_.now());
    e.provider = std::move(provider);
    e.event_id = event_id;
    e.event_type = "ach_transfer.updated";
    e.reference = std::move(reference);
    e.rail = Rail::kAch;
    if (state) e.payload = transfer_state_json(*state);
    e.received_at = received_at.value_or(clock_.now());
    auto stored = store_->accept_bank_events(std::span<const BankEventRecord>(&e, 1));
    ASSERT_TRUE(stored) << stored.error().message;
    ASSERT_EQ(*stored, std::vector<bool>{true});
  }
  int64_t pending_events() {
    auto n = store_->count_pending_bank_events(1000);
    EXPECT_TRUE(n);
    return n.value_or(-1);
  }

  std::string returned_at_first_check(const std::string& code);

  static void round(SettlementFollower& f) {
    auto r = f.follow_once();
    ASSERT_TRUE(r) << r.error().message;
  }

  ScriptedBank* bank_ = nullptr;
};

// --- Polling ---

TEST_F(SettlementFollowerTest, ADueCheckLooksTheTransferUpAndSettlesTheJob) {
  const std::string id = pending_job("tr_1");
  bank_->answer("tr_1", bank_says("tr_1", SettlementStatus::kSettled));
  auto f = follower();

  round(*f);  // kT0: not due before kT0 + 15 min
  EXPECT_EQ(bank_->calls(), 0);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kPending);

  clock_.advance(15min);
  round(*f);
  EXPECT_EQ(bank_->lookups(), std::vector<std::string>{"tr_1"});
  Job settled = job(id);
  EXPECT_EQ(settled.status, JobStatus::kFinished);
  EXPECT_EQ(settled.result, JobResult::kSucceeded);
  EXPECT_EQ(settled.settlement_status, SettlementStatus::kSettled);
  EXPECT_EQ(settled.settled_at, kT0 + 1h);
  EXPECT_FALSE(settled.settlement_check_at);

  clock_.advance(24h);
  round(*f);  // settled: never looked up again
  EXPECT_EQ(bank_->calls(), 1);
}

TEST_F(SettlementFollowerTest, StillPendingIsLookedUpAgainAfterHalfItsAgeWithinTheBounds) {
  const std::string id = pending_job("tr_1");
  bank_->answer("tr_1", bank_says("tr_1", SettlementStatus::kPending));
  auto f = follower();

  clock_.advance(15min);  // age 15 min: half is below the poll, so the poll (15 min)
  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(job(id).settlement_check_at, kT0 + 30min);

  clock_.advance(15min - 1s);
  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
  clock_.advance(1s);
  round(*f);
  EXPECT_EQ(bank_->calls(), 2);
  EXPECT_EQ(job(id).settlement_check_at, kT0 + 45min);

  clock_.set(kT0 + 4h);  // age 4 h: half of it
  round(*f);
  EXPECT_EQ(bank_->calls(), 3);
  EXPECT_EQ(job(id).settlement_check_at, kT0 + 6h);
  clock_.set(kT0 + 6h - 1s);
  round(*f);
  EXPECT_EQ(bank_->calls(), 3);

  clock_.set(kT0 + 48h);  // age 2 days: half is beyond the poll's maximum (6 h)
  round(*f);
  EXPECT_EQ(bank_->calls(), 4);
  EXPECT_EQ(job(id).settlement_check_at, kT0 + 54h);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kPending);
}

TEST_F(SettlementFollowerTest, AnUnansweredLookUpKeepsItPendingAndTriesAgainLater) {
  const std::string id = pending_job("tr_1");
  bank_->answer("tr_1", fail(ErrorCode::kUnavailable, "bank down"));
  auto f = follower();

  clock_.advance(15min);
  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(job(id).settlement_check_at, kT0 + 30min);

  round(*f);  // not before then
  EXPECT_EQ(bank_->calls(), 1);

  bank_->answer("tr_1", bank_says("tr_1", SettlementStatus::kSettled));
  clock_.advance(15min);
  round(*f);
  EXPECT_EQ(bank_->calls(), 2);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kSettled);
}

TEST_F(SettlementFollowerTest, BeyondTheFollowWindowTheSettlementIsUnknownWithoutALookUp) {
  const std::string id = pending_job("tr_1");
  bank_->answer("tr_1", bank_says("tr_1", SettlementStatus::kSettled));
  auto f = follower();

  clock_.advance(24h * 10 + 1s);
  round(*f);
  EXPECT_EQ(bank_->calls(), 0);
  Job unknown = job(id);
  EXPECT_EQ(unknown.settlement_status, SettlementStatus::kUnknown);
  EXPECT_EQ(unknown.status, JobStatus::kFinished);
  EXPECT_EQ(unknown.result, JobResult::kSucceeded);
  EXPECT_FALSE(unknown.settlement_check_at);

  clock_.advance(24h);
  round(*f);
  EXPECT_EQ(bank_->calls(), 0);
}

// A pending job's first check, at kT0 + 15 min, finds it returned with `code`; one
// re-presentment allowed. Returns the job's id.
std::string SettlementFollowerTest::returned_at_first_check(const std::string& code) {
  const std::string id = pending_job("tr_1");
  bank_->answer("tr_1", bank_says("tr_1", SettlementStatus::kReturned, code));
  SettlementOptions options;
  options.represent_max = 1;
  auto f = follower(options);
  clock_.advance(15min);
  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
  return id;
}

TEST_F(SettlementFollowerTest, AnR01ReturnIsPresentedAgain) {
  const std::string id = returned_at_first_check("R01");
  Job again = job(id);
  EXPECT_EQ(again.status, JobStatus::kRetry);
  EXPECT_EQ(again.presentment, 1);
  EXPECT_EQ(again.return_code, "R01");
  EXPECT_EQ(again.retries, 0);
  EXPECT_EQ(again.next_attempt_at, clock_.now() + SettlementOptions{}.represent_after);
  EXPECT_EQ(transfer_of(id).status, TransferStatus::kActive);
}

TEST_F(SettlementFollowerTest, AnAccountReturnPausesTheTransfer) {
  const std::string id = returned_at_first_check("R02");
  Job returned = job(id);
  EXPECT_EQ(returned.status, JobStatus::kFinished);
  EXPECT_EQ(returned.result, JobResult::kReturned);
  EXPECT_EQ(returned.settlement_status, SettlementStatus::kReturned);
  EXPECT_EQ(returned.return_code, "R02");
  EXPECT_EQ(returned.presentment, 0);
  RecurringTransfer t = transfer_of(id);
  EXPECT_EQ(t.status, TransferStatus::kPaused);
  EXPECT_EQ(t.status_reason, "account_return:R02");
}

// --- The inbox ---

TEST_F(SettlementFollowerTest, AThinEventIsFetchedOnceAndApplied) {
  const std::string id = pending_job("tr_1");
  bank_->answer("tr_1", bank_says("tr_1", SettlementStatus::kSettled));
  receive("evt_1", "tr_1");
  ASSERT_EQ(pending_events(), 1);
  auto f = follower();

  round(*f);  // kT0: the job's own check is not due, the event is
  EXPECT_EQ(bank_->lookups(), std::vector<std::string>{"tr_1"});
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kSettled);
  EXPECT_EQ(job(id).settled_at, kT0 + 1h);
  EXPECT_EQ(pending_events(), 0);

  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
}

TEST_F(SettlementFollowerTest, AnEventCarryingTheTransferIsAppliedWithoutALookUp) {
  const std::string id = pending_job("tr_1");
  receive("evt_1", "tr_1", bank_says("tr_1", SettlementStatus::kSettled));
  auto f = follower();

  round(*f);
  EXPECT_EQ(bank_->calls(), 0);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kSettled);
  EXPECT_EQ(job(id).settled_at, kT0 + 1h);
  EXPECT_EQ(pending_events(), 0);
}

TEST_F(SettlementFollowerTest, AnEventAboutNoTransferIsDoneWithoutALookUp) {
  const std::string id = pending_job("tr_1");
  receive("evt_1", std::nullopt);
  auto f = follower();

  round(*f);
  EXPECT_EQ(bank_->calls(), 0);
  EXPECT_EQ(pending_events(), 0);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kPending);
}

TEST_F(SettlementFollowerTest, AFailedFetchIsTriedAgainAfterABackoff) {
  const std::string id = pending_job("tr_1");
  bank_->answer("tr_1", fail(ErrorCode::kUnavailable, "bank down"));
  receive("evt_1", "tr_1");
  auto f = follower();

  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
  EXPECT_EQ(pending_events(), 1);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(job(id).settlement_check_at, kT0 + 15min);  // the event's failure moves no check

  clock_.advance(1s);  // the first backoff is 2 s
  round(*f);
  EXPECT_EQ(bank_->calls(), 1);

  bank_->answer("tr_1", bank_says("tr_1", SettlementStatus::kSettled));
  clock_.advance(1s);
  round(*f);
  EXPECT_EQ(bank_->calls(), 2);
  EXPECT_EQ(pending_events(), 0);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kSettled);
}

TEST_F(SettlementFollowerTest, AnEventWhoseTransferTheBankDoesNotHaveIsDone) {
  const std::string id = pending_job("tr_1");
  receive("evt_1", "tr_1");  // unscripted: kNotFound
  const Job before = job(id);
  auto f = follower();

  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
  EXPECT_EQ(pending_events(), 0);
  const Job after = job(id);
  EXPECT_EQ(after.settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(after.settlement_check_at, before.settlement_check_at);
  EXPECT_EQ(after.updated_at, before.updated_at);

  clock_.advance(1h);  // not tried again (only the job's own check, once due)
  round(*f);
  EXPECT_EQ(bank_->lookups(), (std::vector<std::string>{"tr_1", "tr_1"}));
}

TEST_F(SettlementFollowerTest, AnEventAboutATransferRtjobsDoesNotKnowChangesNothing) {
  const std::string id = pending_job("tr_1");
  bank_->answer("tr_other", bank_says("tr_other", SettlementStatus::kSettled));
  receive("evt_1", "tr_other");
  const Job before = job(id);
  auto f = follower();

  round(*f);
  EXPECT_EQ(bank_->lookups(), std::vector<std::string>{"tr_other"});
  EXPECT_EQ(pending_events(), 0);
  const Job after = job(id);
  EXPECT_EQ(after.settlement_status, SettlementStatus::kPending);
  EXPECT_EQ(after.updated_at, before.updated_at);
}

TEST_F(SettlementFollowerTest, AnEventOfAProviderNoLongerConfiguredIsDoneWithoutALookUp) {
  const std::string id = pending_job("tr_1");
  receive("evt_1", "tr_1", std::nullopt, "gone");
  auto f = follower();

  round(*f);
  EXPECT_EQ(bank_->calls(), 0);
  EXPECT_EQ(pending_events(), 0);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kPending);
}

// --- Flow control ---

class SettlementFollowerFlowTest : public SettlementFollowerTest {
 protected:
  void SetUp() override {
    SettlementFollowerTest::SetUp();
    // max_rps 1: a bucket of one call, refilled at 0.95 a second of the manual clock.
    flows_ = std::make_unique<FlowControl>(
        std::map<std::string, FlowLimits>{{"bank", {.max_rps = 1, .max_in_flight = {}}}});
    flows_->set_instances(1, kT0);
  }
  std::unique_ptr<FlowControl> flows_;
};

TEST_F(SettlementFollowerFlowTest, ChecksBeyondTheRateWaitUnclaimedForALaterRound) {
  std::vector<std::string> ids;
  for (const char* reference : {"tr_1", "tr_2", "tr_3"}) {
    ids.push_back(pending_job(reference));
    bank_->answer(reference, bank_says(reference, SettlementStatus::kSettled));
  }
  auto f = follower({}, flows_.get());

  clock_.advance(15min);
  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
  int settled = 0;
  for (const std::string& id : ids) {
    Job j = job(id);
    if (j.settlement_status == SettlementStatus::kSettled) {
      ++settled;
    } else {
      EXPECT_EQ(j.settlement_check_at, kT0 + 15min);  // not claimed: still due
    }
  }
  EXPECT_EQ(settled, 1);

  round(*f);  // no token yet
  EXPECT_EQ(bank_->calls(), 1);

  clock_.advance(2s);
  round(*f);
  EXPECT_EQ(bank_->calls(), 2);
  clock_.advance(2s);
  round(*f);
  EXPECT_EQ(bank_->calls(), 3);
  for (const std::string& id : ids) {
    EXPECT_EQ(job(id).settlement_status, SettlementStatus::kSettled);
  }
  std::vector<std::string> looked_up = bank_->lookups();
  std::sort(looked_up.begin(), looked_up.end());
  EXPECT_EQ(looked_up, (std::vector<std::string>{"tr_1", "tr_2", "tr_3"}));
}

TEST_F(SettlementFollowerFlowTest, ThinEventsBeyondTheRateAreDeferred) {
  std::vector<std::string> ids;
  for (const char* reference : {"tr_1", "tr_2", "tr_3"}) {
    ids.push_back(pending_job(reference));
    bank_->answer(reference, bank_says(reference, SettlementStatus::kSettled));
    receive(std::string("evt_") + reference, reference);
  }
  auto f = follower({}, flows_.get());

  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
  EXPECT_EQ(pending_events(), 2);

  clock_.advance(2s);
  round(*f);
  EXPECT_EQ(bank_->calls(), 2);
  EXPECT_EQ(pending_events(), 1);

  clock_.advance(2s);
  round(*f);
  EXPECT_EQ(bank_->calls(), 3);
  EXPECT_EQ(pending_events(), 0);
  for (const std::string& id : ids) {
    EXPECT_EQ(job(id).settlement_status, SettlementStatus::kSettled);
  }
}

// A thin event given up (its transfer never fetched) makes no call: it holds none of the
// provider's calls afterwards.
TEST_F(SettlementFollowerTest, AnEventGivenUpHoldsNoCallOfTheProvider) {
  FlowControl flows(
      std::map<std::string, FlowLimits>{{"bank", {.max_rps = {}, .max_in_flight = 1}}});
  flows.set_instances(1, kT0);
  const std::string id = pending_job("tr_1");
  bank_->answer("tr_1", bank_says("tr_1", SettlementStatus::kSettled));
  receive("evt_old", "tr_1", std::nullopt, "bank", kT0 - 24h * 4);
  auto f = follower({}, &flows);

  round(*f);
  EXPECT_EQ(bank_->calls(), 0);
  EXPECT_EQ(pending_events(), 0);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kPending);

  receive("evt_new", "tr_1");
  round(*f);
  EXPECT_EQ(bank_->calls(), 1);
  EXPECT_EQ(pending_events(), 0);
  EXPECT_EQ(job(id).settlement_status, SettlementStatus::kSettled);
}

}  // namespace
}  // namespace rtjobs
