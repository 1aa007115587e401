#include "maintenance/job_producer.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "baas/sandbox_provider.hpp"
#include "jobs/test_fixture.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono_literals;
using jobs_test::kT0;

// The scheduler loop (the backlog it tells) over providers a test adds, with the processor and
// completion writer behind it.
class JobProducerFixture : public jobs_test::JobsTest {
 protected:
  // The flow control, processor and producer over `limits`' providers (added before), with
  // `call_slots` call slots, and five transfers due now for each provider.
  void start_with(const std::map<std::string, FlowLimits>& limits, int call_slots) {
    flows_ = std::make_unique<FlowControl>(limits);
    flows_->set_instances(1, kT0);
    writer_ = std::make_unique<CompletionWriter>(*store_, 1, 16);
    processor_ =
        std::make_unique<JobProcessor>(*store_, *writer_, providers_, calendars_, clock_,
                                       inline_executor(), ProcessorOptions{}, flows_.get());
    TransferService service(*store_, providers_, calendars_, clock_, 1);
    for (const auto& [provider, unused] : limits) {
      for (int i = 0; i < 5; ++i) {
        NewTransfer t = ach_transfer(provider);
        t.rail = Rail::kBook;
        t.provider_options.reset();
        t.source_account = "acct-" + std::to_string(i);
        t.request_hash = provider + std::to_string(i);
        ASSERT_TRUE(service.create(t));
      }
    }
    calls_ = std::make_unique<InFlightLimit>(call_slots);
    producer_ = std::make_unique<JobProducer>(
        *store_, *processor_, *flows_, *calls_, unwritten_, clock_,
        JobProducerOptions{"scheduler", true, false, 500, std::chrono::hours(1), &backlog_});
  }
  // As Application::stop: the writer is flushed while the producer and the processor still
  // exist, since each written outcome calls back into both (the producer's wake()).
  void TearDown() override {
    producer_->stop();
    writer_.reset();
    processor_.reset();
    producer_.reset();
  }

  // Jobs due at kT0 (the first occurrences) by provider and status.
  std::map<std::pair<std::string, JobStatus>, int> due_now() {
    std::map<std::pair<std::string, JobStatus>, int> counts;
    JobFilter filter;
    filter.limit = 100;
    auto jobs = store_->list_jobs(filter);
    EXPECT_TRUE(jobs);
    for (const Job& job : jobs->data) {
      if (job.due_at == kT0) ++counts[{job.provider, job.status}];
    }
    return counts;
  }
  // Waits (polling the store, at most 10 s) until `finished` first occurrences are FINISHED.
  void wait_finished(int finished) {
    for (int i = 0; i < 1000; ++i) {
      int n = 0;
      for (const auto& [key, count] : due_now()) {
        if (key.second == JobStatus::kFinished) n += count;
      }
      if (n >= finished) return;
      std::this_thread::sleep_for(10ms);
    }
    FAIL() << "fewer than " << finished << " jobs finished";
  }

  std::unique_ptr<FlowControl> flows_;
  std::unique_ptr<CompletionWriter> writer_;
  std::unique_ptr<JobProcessor> processor_;
  JobBacklog backlog_;
  std::unique_ptr<InFlightLimit> calls_;
  InFlightLimit unwritten_{64};
  std::unique_ptr<JobProducer> producer_;
};

// The scheduler loop over two sandbox providers, "limited" (max_rps 10: a bucket of one call,
// refilled at 9.5 a second of the manual clock) and "open" (no limit), each with five
// transfers whose first occurrence is due now.
class JobProducerTest : public JobProducerFixture {
 protected:
  void SetUp() override {
    JobProducerFixture::SetUp();
    add_provider(std::make_unique<SandboxProvider>("limited"));
    add_provider(std::make_unique<SandboxProvider>("open"));
    start_with({{"limited", {.max_rps = 10, .max_in_flight = {}}}, {"open", {}}}, 8);
  }
};

// Issue 14: a claim takes only what the provider may call now; the rest stays PENDING (no lease
// running while it waits), and a limited provider does not hold up another.
TEST_F(JobProducerTest, ClaimsOnlyWhatEachProviderMayCallNow) {
  producer_->start();
  producer_->wake();
  wait_finished(6);
  auto counts = due_now();
  EXPECT_EQ((counts[{"open", JobStatus::kFinished}]), 5);
  EXPECT_EQ((counts[{"limited", JobStatus::kFinished}]), 1);  // the bucket's one call
  EXPECT_EQ((counts[{"limited", JobStatus::kPending}]), 4);
  EXPECT_EQ((counts[{"limited", JobStatus::kProcessing}]), 0);

  clock_.advance(1s);  // one more token (the bucket holds one)
  producer_->wake();
  wait_finished(7);
  counts = due_now();
  EXPECT_EQ((counts[{"limited", JobStatus::kFinished}]), 2);
  EXPECT_EQ((counts[{"limited", JobStatus::kPending}]), 3);
  EXPECT_EQ((counts[{"limited", JobStatus::kProcessing}]), 0);
}

// The backlog the webhook dispatcher yields to: set while due jobs wait for a write slot, cleared
// by the first tick that claims less than it could (everything due was taken).
TEST_F(JobProducerTest, TellsTheBacklogWhileDueJobsWait) {
  ASSERT_EQ(unwritten_.take(64), 64);  // every write slot taken: nothing can be claimed
  producer_->start();
  producer_->wake();
  auto waits_for = [&](bool waiting) {
    for (int i = 0; i < 1000 && backlog_.waiting() != waiting; ++i)
      std::this_thread::sleep_for(5ms);
    return backlog_.waiting() == waiting;
  };
  EXPECT_TRUE(waits_for(true));
  EXPECT_EQ((due_now()[{"open", JobStatus::kPending}]), 5);

  unwritten_.give_back(64);
  producer_->wake();
  wait_finished(6);
  EXPECT_TRUE(waits_for(false));
}

// A bank that holds every call until release(): its jobs wait for call slots, not for room.
class HeldBank final : public Provider {
 public:
  std::string_view name() const override { return "held"; }
  std::chrono::milliseconds timeout() const override { return 10s; }
  void execute(TransferRequest request, std::function<void(TransferResult)> done) override {
    std::lock_guard lock(mutex_);
    calls_.emplace_back(std::move(request), std::move(done));
  }
  size_t held() {
    std::lock_guard lock(mutex_);
    return calls_.size();
  }
  void release() {
    std::vector<std::pair<TransferRequest, std::function<void(TransferResult)>>> calls;
    {
      std::lock_guard lock(mutex_);
      calls.swap(calls_);
    }
    for (auto& [request, done] : calls) done(SandboxProvider::answer(request));
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<TransferRequest, std::function<void(TransferResult)>>> calls_;
};

// One bank, "held", whose calls wait until released, with 2 call slots and five transfers due.
class JobProducerHeldBankTest : public JobProducerFixture {
 protected:
  void SetUp() override {
    JobProducerFixture::SetUp();
    bank_ = add_provider(std::make_unique<HeldBank>());
    start_with({{"held", {}}}, 2);
  }
  void TearDown() override {
    producer_->stop();
    bank_->release();
    JobProducerFixture::TearDown();
  }
  // True once the producer holds exactly the call slots' worth of unwritten jobs (its last tick
  // is over: a tick gives back the write slots it did not use before it ends).
  bool producer_idle() {
    for (int i = 0; i < 1000; ++i) {
      if (unwritten_.in_flight() == 2 && calls_->in_flight() == 2) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  HeldBank* bank_ = nullptr;
};

// Jobs held back by the bank's latency (every call slot taken, write slots free) are not a
// backlog: the webhook dispatcher does not yield to a drain it would not slow.
TEST_F(JobProducerHeldBankTest, JobsWaitingForCallSlotsAreNotABacklog) {
  producer_->start();
  producer_->wake();
  for (int i = 0; i < 1000 && bank_->held() < 2; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(bank_->held(), 2u);  // both call slots taken, three jobs still due
  ASSERT_TRUE(producer_idle());
  EXPECT_FALSE(backlog_.waiting());
}

// A paused provider's due jobs are not claimed at all, and keep their retries.
TEST_F(JobProducerTest, APausedProvidersJobsStayDue) {
  ProviderFlow* limited = flows_->find("limited");
  TransferResult down{Outcome::kUnavailable, 503, {}, "unavailable", "", {}};
  for (int i = 0; i < 5; ++i) {        // five failures in a row pause it
    if (i > 0) clock_.advance(200ms);  // a token back
    ASSERT_EQ(limited->reserve(1, clock_.now()), 1);
    limited->answered(down, clock_.now(), clock_.now());
  }
  ASSERT_EQ(limited->snapshot(clock_.now()).state, CircuitState::kOpen);
  producer_->start();
  producer_->wake();
  wait_finished(5);
  auto counts = due_now();
  EXPECT_EQ((counts[{"open", JobStatus::kFinished}]), 5);
  EXPECT_EQ((counts[{"limited", JobStatus::kPending}]), 5);
}

}  // namespace
}  // namespace rtjobs
