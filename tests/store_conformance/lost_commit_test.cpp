// A COMMIT whose answer is lost with its connection (issue 17): the server committed, the client
// saw the connection end. PostgreSQL only: an SQLite commit has no connection to lose. The
// connection is really cut, by a proxy between the store and the server (cut_proxy.hpp).
#include <gtest/gtest.h>

#include <future>
#include <stdexcept>

#include "conformance.hpp"
#include "cut_proxy.hpp"
#include "jobs/completion_writer.hpp"
#include "outbox_support.hpp"
#include "store/postgres/pg_store.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

class LostCommit : public StoreConformance {
 protected:
  // A store whose connections go through `proxy` (aborts the test when it cannot open).
  static std::unique_ptr<Store> through(const CutProxy& proxy) {
    auto s = PgStore::open(proxy.url(), PgStore::TimeSource::kCaller);
    if (!s) throw std::runtime_error("opening the store through the proxy: " + s.error().message);
    return std::unique_ptr<Store>(std::move(*s));
  }

  // A job due at kT0, claimed by "owner-a".
  Job claimed() {
    RecurringTransfer t = transfer();
    Job job = create(t, {kT0}).front();
    EXPECT_EQ(claim(job.id, kT0).status, ClaimStatus::kClaimed);
    return job;
  }

  // A SUCCEEDED outcome of `job`, claimed by "owner-a".
  static Completion succeeded(const Job& job, Timestamp now) {
    Completion c{.job_id = job.id, .lease_owner = "owner-a", .now = now};
    c.result = JobResult::kSucceeded;
    c.provider_reference = "bank-transfer-1";
    return c;
  }
};

TEST_P(LostCommit, AnOutcomeWhoseCommitLandedIsReportedWrittenNotALostLease) {
  Job job = claimed();
  auto mark = last_event_id(*store_);
  CutProxy proxy(url_);
  std::unique_ptr<Store> store = through(proxy);

  // As the processor writes it: through the group commit, which writes a failed batch again
  // one outcome at a time (the second try would find the job finished, not under its lease).
  proxy.arm(CutProxy::Cut::kAfterCommit);
  std::promise<Result<CompletionResult>> answered;
  {
    CompletionWriter writer(*store, 1, 16);
    writer.write(succeeded(job, kT0 + 1s),
                 [&](Result<CompletionResult> r) { answered.set_value(std::move(r)); });
  }
  Result<CompletionResult> r = answered.get_future().get();

  EXPECT_EQ(proxy.cuts(), 1);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, CompletionStatus::kWritten);
  Job after = get(job.id);
  EXPECT_EQ(after.status, JobStatus::kFinished);
  EXPECT_EQ(after.result, JobResult::kSucceeded);
  EXPECT_EQ(after.provider_reference, "bank-transfer-1");
  EXPECT_EQ(types_of(events_after(*store_, mark)), std::vector<std::string>{"job.succeeded"});
}

TEST_P(LostCommit, AnOutcomeWhoseCommitNeverArrivedIsAnErrorAndIsWrittenByTheNextTry) {
  Job job = claimed();
  auto mark = last_event_id(*store_);
  CutProxy proxy(url_);
  std::unique_ptr<Store> store = through(proxy);

  Completion c = succeeded(job, kT0 + 1s);
  proxy.arm(CutProxy::Cut::kBeforeNextRoundTrip);
  auto lost = store->complete_jobs(std::span<const Completion>(&c, 1));
  EXPECT_EQ(proxy.cuts(), 1);
  EXPECT_FALSE(lost) << "the COMMIT never reached the server";
  Job unchanged = get(job.id);
  EXPECT_EQ(unchanged.status, JobStatus::kProcessing);
  EXPECT_EQ(unchanged.lease_owner, "owner-a");
  EXPECT_TRUE(events_after(*store_, mark).empty());

  auto again = store->complete_jobs(std::span<const Completion>(&c, 1));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->front().status, CompletionStatus::kWritten);
  EXPECT_EQ(get(job.id).status, JobStatus::kFinished);
  EXPECT_EQ(types_of(events_after(*store_, mark)), std::vector<std::string>{"job.succeeded"});
}

INSTANTIATE_TEST_SUITE_P(Backends, LostCommit, ::testing::Values("postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace rtjobs::store_conformance
