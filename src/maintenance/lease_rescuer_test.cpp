// LeaseRescuer over an in-memory SQLite store on a manual clock: a lease is rescued only once
// it has run out, as a RETRY due from the lease's end with one more retry, never beyond the
// maximum; a job still under its lease, or finished, is left alone.
#include "maintenance/lease_rescuer.hpp"

#include <gtest/gtest.h>

#include "baas/sandbox_provider.hpp"
#include "jobs/test_fixture.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono_literals;
using jobs_test::kT0;

class LeaseRescuerTest : public jobs_test::JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    add_provider(std::make_unique<SandboxProvider>("sandbox"));
  }

  // The first occurrence of a new transfer, claimed at kT0 under a 30 s lease, with `retries`
  // retries already used.
  Job claimed(int retries) {
    TransferService service(*store_, providers_, calendars_, clock_, 1);
    NewTransfer t = ach_transfer("sandbox");
    t.rail = Rail::kBook;
    t.provider_options.reset();
    t.request_hash = std::string("h").append(std::to_string(++transfers_));  // GCC bug 105329
    auto created = service.create(t);
    EXPECT_TRUE(created);
    JobFilter filter;
    filter.recurring_transfer_id = created->transfer.id;
    filter.limit = 1;
    Job job = store_->list_jobs(filter)->data.front();
    if (retries > 0) {
      EXPECT_TRUE(store_->claim_job({job.id, "owner", kT0, kT0 + 1s, 5}));
      for (int i = 0; i < retries; ++i) {
        Completion down{.job_id = job.id,
                        .lease_owner = "owner",
                        .now = kT0,
                        .status = JobStatus::kRetry,
                        .retries = i + 1,
                        .next_attempt_at = kT0};
        EXPECT_TRUE(store_->complete_job(down));
        if (i + 1 < retries) {
          EXPECT_TRUE(store_->claim_job({job.id, "owner", kT0, kT0 + 1s, 5}));
        }
      }
    }
    auto claim = store_->claim_job({job.id, "owner", kT0, kT0 + 30s, 5});
    EXPECT_EQ(claim->status, ClaimStatus::kClaimed);
    return *claim->job;
  }

  Job get(const std::string& id) { return **store_->get_job(id); }

  int transfers_ = 0;
};

TEST_F(LeaseRescuerTest, RescuesOnlyLeasesThatRanOut) {
  LeaseRescuer rescuer(*store_, clock_, 3, 1s);
  Job job = claimed(0);
  clock_.set(kT0 + 29999ms);
  EXPECT_EQ(rescuer.rescue_once().value(), 0);
  EXPECT_EQ(get(job.id).status, JobStatus::kProcessing);
  clock_.set(kT0 + 30s);
  EXPECT_EQ(rescuer.rescue_once().value(), 1);
  Job after = get(job.id);
  EXPECT_EQ(after.status, JobStatus::kRetry);
  EXPECT_EQ(after.retries, 1);
  EXPECT_EQ(after.next_attempt_at, kT0 + 30s);  // due from the lease's end
  EXPECT_FALSE(after.lease_owner);
  EXPECT_EQ(rescuer.rescue_once().value(), 0);  // once
}

TEST_F(LeaseRescuerTest, ARescueNeverTakesAJobBeyondTheMaximumRetries) {
  LeaseRescuer rescuer(*store_, clock_, 3, 1s);
  Job at_two = claimed(2);
  Job at_max = claimed(3);
  clock_.set(kT0 + 1min);
  EXPECT_EQ(rescuer.rescue_once().value(), 2);
  EXPECT_EQ(get(at_two.id).retries, 3);
  EXPECT_EQ(get(at_max.id).retries, 3);
  EXPECT_EQ(get(at_max.id).status, JobStatus::kRetry);  // never FAILED by a rescue
}

TEST_F(LeaseRescuerTest, AJobWhoseOutcomeWasWrittenIsLeftAlone) {
  LeaseRescuer rescuer(*store_, clock_, 3, 1s);
  Job job = claimed(0);
  Completion done{.job_id = job.id, .lease_owner = "owner", .now = kT0 + 1s};
  done.result = JobResult::kSucceeded;
  ASSERT_EQ(store_->complete_job(done)->status, CompletionStatus::kWritten);
  clock_.set(kT0 + 1h);
  EXPECT_EQ(rescuer.rescue_once().value(), 0);
  EXPECT_EQ(get(job.id).status, JobStatus::kFinished);
}

}  // namespace
}  // namespace rtjobs
