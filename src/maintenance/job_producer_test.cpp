#include "maintenance/job_producer.hpp"

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "baas/sandbox_provider.hpp"
#include "jobs/test_fixture.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono_literals;
using jobs_test::kT0;

// The scheduler loop over two sandbox providers, "limited" (max_rps 10: a bucket of one call,
// refilled at 9.5 a second of the manual clock) and "open" (no limit), each with five
// transfers whose first occurrence is due now.
class JobProducerTest : public jobs_test::JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    add_provider(std::make_unique<SandboxProvider>("limited"));
    add_provider(std::make_unique<SandboxProvider>("open"));
    flows_ = std::make_unique<FlowControl>(std::map<std::string, FlowLimits>{
        {"limited", {.max_rps = 10, .max_in_flight = {}}}, {"open", {}}});
    flows_->set_instances(1, kT0);
    writer_ = std::make_unique<CompletionWriter>(*store_, 1, 16);
    processor_ =
        std::make_unique<JobProcessor>(*store_, *writer_, providers_, calendars_, clock_,
                                       inline_executor(), ProcessorOptions{}, flows_.get());
    TransferService service(*store_, providers_, calendars_, clock_, 1);
    for (const char* provider : {"limited", "open"}) {
      for (int i = 0; i < 5; ++i) {
        NewTransfer t = ach_transfer(provider);
        t.rail = Rail::kBook;
        t.provider_options.reset();
        t.source_account = "acct-" + std::to_string(i);
        t.request_hash = std::string(provider) + std::to_string(i);
        ASSERT_TRUE(service.create(t));
      }
    }
    producer_ = std::make_unique<JobProducer>(
        *store_, *processor_, *flows_, calls_, unwritten_, clock_,
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
  InFlightLimit calls_{8};
  InFlightLimit unwritten_{64};
  std::unique_ptr<JobProducer> producer_;
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
