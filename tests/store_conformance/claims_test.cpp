// Store conformance (conformance.hpp): claiming one job (due, not due, retries, held and
// expired leases, terminal and unknown jobs, paused and cancelled transfers), the IO threads'
// job reader, and threads or processes racing to claim the same job.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

// --- Claims ---

TEST_P(StoreConformance, ClaimDuePendingJob) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ClaimResult c = claim(jobs[0].id, kT0 + 5ms, "owner-a", 3, 20s);
  ASSERT_EQ(c.status, ClaimStatus::kClaimed);
  ASSERT_TRUE(c.job && c.transfer);
  EXPECT_EQ(c.job->status, JobStatus::kProcessing);
  EXPECT_EQ(c.job->lease_owner, "owner-a");
  EXPECT_EQ(c.job->lease_expires_at, kT0 + 5ms + 20s);
  EXPECT_EQ(c.job->updated_at, kT0 + 5ms);
  EXPECT_EQ(c.job->retries, 0);
  expect_same(*c.transfer, t);
  expect_same(get(jobs[0].id), *c.job);
}

TEST_P(StoreConformance, ClaimBeforeDueIsNotDue) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0 + 1h});
  ClaimResult c = claim(jobs[0].id, kT0);
  EXPECT_EQ(c.status, ClaimStatus::kNotDue);
  expect_same(get(jobs[0].id), jobs[0]);
}

TEST_P(StoreConformance, RetryIsClaimableFromNextAttemptAt) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = jobs[0].id,
                     .lease_owner = "owner-a",
                     .now = kT0 + 1s,
                     .status = JobStatus::kRetry,
                     .retries = 1,
                     .next_attempt_at = kT0 + 60s,
                     .last_error = "bank down"});
  ASSERT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(claim(jobs[0].id, kT0 + 59s, "owner-b").status, ClaimStatus::kNotDue);
  ClaimResult c = claim(jobs[0].id, kT0 + 60s, "owner-b");
  ASSERT_EQ(c.status, ClaimStatus::kClaimed);
  EXPECT_EQ(c.job->retries, 1);
  EXPECT_EQ(c.job->lease_owner, "owner-b");
}

TEST_P(StoreConformance, HeldLeaseIsInProgressAndExpiredLeaseIsRescued) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0, "a", 2, 30s).status, ClaimStatus::kClaimed);
  ClaimResult held = claim(jobs[0].id, kT0 + 29s, "b", 2);
  EXPECT_EQ(held.status, ClaimStatus::kInProgress);
  EXPECT_EQ(held.job->lease_owner, "a");
  ClaimResult rescued = claim(jobs[0].id, kT0 + 30s, "b", 2, 30s);
  ASSERT_EQ(rescued.status, ClaimStatus::kClaimed);
  EXPECT_EQ(rescued.job->retries, 1);
  EXPECT_EQ(rescued.job->lease_owner, "b");
  EXPECT_EQ(claim(jobs[0].id, kT0 + 60s, "c", 2, 30s).job->retries, 2);
  EXPECT_EQ(claim(jobs[0].id, kT0 + 90s, "d", 2, 30s).job->retries, 2);  // capped at max
}

// A process request reads the clock, then claims; the rescuer may commit in between. The job
// was claimable at the request's instant (its lease had expired), so it must stay claimable
// after the rescue rather than answer job_not_due.
TEST_P(StoreConformance, JobRescuedAfterTheClaimReadTheClockIsStillClaimed) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0, "dead", 3, 30s).status, ClaimStatus::kClaimed);
  ASSERT_EQ(claim(jobs[1].id, kT0, "dead", 3, 40s).status, ClaimStatus::kClaimed);
  const Timestamp request_now = kT0 + 30s + 500ms;  // the request's clock reading
  ASSERT_EQ(store_->rescue_expired_leases(request_now + 5ms, 3, 10).value(), 1);
  ClaimResult c = claim(jobs[0].id, request_now, "request");
  ASSERT_EQ(c.status, ClaimStatus::kClaimed);
  EXPECT_EQ(c.job->retries, 1);  // the rescue counted the retry; the claim adds none
  EXPECT_EQ(c.job->lease_owner, "request");
  // Before its lease expired the job was held; the rescue does not make it due any earlier.
  ASSERT_EQ(store_->rescue_expired_leases(kT0 + 41s, 3, 10).value(), 1);
  EXPECT_EQ(claim(jobs[1].id, kT0 + 39s, "early").status, ClaimStatus::kNotDue);
  EXPECT_EQ(claim(jobs[1].id, kT0 + 40s, "on-time").status, ClaimStatus::kClaimed);
}

TEST_P(StoreConformance, TerminalAndUnknownJobs) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = kT0,
            .status = JobStatus::kFinished,
            .result = JobResult::kSucceeded});
  ClaimResult c = claim(jobs[0].id, kT0 + 1h);
  EXPECT_EQ(c.status, ClaimStatus::kTerminal);
  EXPECT_EQ(c.job->status, JobStatus::kFinished);
  EXPECT_EQ(claim(new_uuid_v7(kT0), kT0).status, ClaimStatus::kNotFound);
  EXPECT_EQ(claim("nope", kT0).status, ClaimStatus::kNotFound);
}

// The IO threads' reader (SQLite files only) reads what is committed now: a FAILED job moved
// back to RETRY by an operator, an unknown id. Several ids are read together, in their order, and
// each call reads anew (its read transaction ended with the call). PostgreSQL offers none (its
// reads are round trips).
TEST_P(StoreConformance, JobReaderSeesTheCommittedJob) {
  auto reader = store_->open_job_reader();
  if (GetParam() != "sqlite") {
    EXPECT_EQ(reader, nullptr);
    return;
  }
  ASSERT_NE(reader, nullptr);
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0, kT0 + 24h});
  const std::string unknown = new_uuid_v7(kT0);
  auto read = [&](std::vector<std::string> ids) { return reader->get_jobs(ids).value(); };

  auto before = read({jobs[1].id, unknown, jobs[0].id});
  ASSERT_EQ(before.size(), 3u);
  EXPECT_EQ(before[0]->id, jobs[1].id);
  EXPECT_FALSE(before[1]);
  EXPECT_EQ(before[2]->id, jobs[0].id);
  EXPECT_EQ(before[2]->status, JobStatus::kPending);

  ASSERT_EQ(claim(jobs[0].id, kT0).status, ClaimStatus::kClaimed);
  complete({.job_id = jobs[0].id,
            .lease_owner = "owner-a",
            .now = kT0,
            .status = JobStatus::kFailed,
            .retries = 3,
            .last_error = "503"});
  auto failed = read({jobs[0].id, jobs[1].id});
  ASSERT_TRUE(failed[0]);
  EXPECT_EQ(failed[0]->status, JobStatus::kFailed);
  EXPECT_EQ(failed[0]->retries, 3);
  EXPECT_EQ(failed[1]->status, JobStatus::kPending);
  ASSERT_TRUE(store_->retry_failed_job(jobs[0].id, kT0 + 1h));
  auto retried = read({jobs[0].id, jobs[1].id});
  EXPECT_EQ(retried[0]->status, JobStatus::kRetry);
  EXPECT_EQ(retried[0]->retries, 0);
  std::string upper = jobs[0].id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(read({upper})[0]->id, jobs[0].id);
  EXPECT_FALSE(read({unknown})[0]);

  auto memory = open_store("sqlite://:memory:");
  ASSERT_TRUE(memory);
  EXPECT_EQ((*memory)->open_job_reader(), nullptr);
}

// A RETRY or lease-expired job of a PAUSED transfer waits (its last attempt may have reached the
// bank, so it is not skipped), answered as not due; claim_guards_test.cpp follows it to the resume.
TEST_P(StoreConformance, PausedTransferSkipsDueJobsAndHoldsRetries) {
  RecurringTransfer t = transfer(TransferStatus::kPaused);
  Job pending = job(t, 1, kT0);
  Job later = job(t, 2, kT0 + 24h);
  Job retry = job(t, 3, kT0, JobStatus::kRetry);
  retry.next_attempt_at = kT0;
  Job expired = job(t, 4, kT0, JobStatus::kProcessing);
  expired.lease_owner = "dead";
  expired.lease_expires_at = kT0 - 1s;
  ASSERT_TRUE(store_->create_transfer(t, {pending, later, retry, expired}));

  ClaimResult s = claim(pending.id, kT0 + 1s);
  EXPECT_EQ(s.status, ClaimStatus::kSkipped);
  EXPECT_EQ(s.job->status, JobStatus::kSkipped);
  EXPECT_EQ(s.job->finished_at, kT0 + 1s);
  EXPECT_EQ(get(pending.id).status, JobStatus::kSkipped);
  EXPECT_EQ(claim(later.id, kT0 + 1s).status, ClaimStatus::kNotDue);
  EXPECT_EQ(claim(retry.id, kT0 + 1s).status, ClaimStatus::kNotDue);
  ClaimResult r = claim(expired.id, kT0 + 1s);
  EXPECT_EQ(r.status, ClaimStatus::kNotDue);
  ASSERT_TRUE(r.job);
  expect_same(*r.job, expired);
  expect_same(get(retry.id), retry);
}

// SPEC section 3: a transfer whose last occurrence is terminal becomes COMPLETED, paused or
// not. A PAUSED transfer's last occurrence ends SKIPPED, by a single claim or by the loops'.
TEST_P(StoreConformance, PausedTransferWhoseLastOccurrenceIsSkippedCompletes) {
  RecurringTransfer last = transfer(TransferStatus::kPaused);  // no next occurrence: exhausted
  auto last_jobs = create(last, {kT0});
  EXPECT_EQ(claim(last_jobs[0].id, kT0 + 1s).status, ClaimStatus::kSkipped);
  auto stored = store_->get_transfer(last.id).value().value();
  EXPECT_EQ(stored.status, TransferStatus::kCompleted);
  EXPECT_EQ(stored.updated_at, kT0 + 1s);

  RecurringTransfer by_loop = transfer(TransferStatus::kPaused);
  auto loop_jobs = create(by_loop, {kT0});
  RecurringTransfer more = transfer(TransferStatus::kPaused);  // occurrences still to come
  more.next_occurrence_at = kT0 + 720h;
  auto more_jobs = create(more, {kT0});
  auto claimed = store_->claim_due_jobs({"owner-a", kT0 + 2s, kT0 + 32s, 10, true, false, 3});
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 2u);
  for (const ClaimResult& c : *claimed) EXPECT_EQ(c.status, ClaimStatus::kSkipped);
  EXPECT_EQ(store_->get_transfer(by_loop.id).value()->status, TransferStatus::kCompleted);
  EXPECT_EQ(store_->get_transfer(more.id).value()->status, TransferStatus::kPaused);

  // Paused with its last job retrying: the retry waits for the resume, is then seen through,
  // and the transfer completes.
  RecurringTransfer retrying = transfer(TransferStatus::kPaused);
  Job retry = job(retrying, 1, kT0, JobStatus::kRetry);
  retry.next_attempt_at = kT0;
  ASSERT_TRUE(store_->create_transfer(retrying, {retry}));
  ASSERT_EQ(claim(retry.id, kT0 + 3s).status, ClaimStatus::kNotDue);
  ASSERT_TRUE(store_->change_transfer_status(retrying.id, TransferAction::kResume, kT0 + 3s));
  ASSERT_EQ(claim(retry.id, kT0 + 3s).status, ClaimStatus::kClaimed);
  auto w = complete({.job_id = retry.id,
                     .lease_owner = "owner-a",
                     .now = kT0 + 4s,
                     .status = JobStatus::kFinished,
                     .result = JobResult::kSucceeded,
                     .schedule_exhausted = true});
  EXPECT_EQ(w.status, CompletionStatus::kWritten);
  EXPECT_EQ(store_->get_transfer(retrying.id).value()->status, TransferStatus::kCompleted);
}

TEST_P(StoreConformance, CancelledTransferCancelsDueJobs) {
  RecurringTransfer t = transfer(TransferStatus::kCancelled);
  auto jobs = create(t, {kT0});
  ClaimResult c = claim(jobs[0].id, kT0);
  EXPECT_EQ(c.status, ClaimStatus::kTerminal);
  EXPECT_EQ(c.job->status, JobStatus::kCancelled);
  EXPECT_EQ(get(jobs[0].id).status, JobStatus::kCancelled);
}

// --- Racing claims of one job ---

TEST_P(StoreConformance, TwentyThreadsClaimOneJobExactlyOneWins) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  std::atomic<int> ready{0}, claimed{0}, in_progress{0}, errors{0};
  std::vector<std::thread> threads;
  threads.reserve(20);
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < 20) std::this_thread::yield();
      auto r = store_->claim_job({jobs[0].id, "thread-" + std::to_string(i), kT0, kT0 + 30s, 3});
      if (!r) {
        errors.fetch_add(1);
      } else if (r->status == ClaimStatus::kClaimed) {
        claimed.fetch_add(1);
      } else if (r->status == ClaimStatus::kInProgress) {
        in_progress.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.load(), 1);
  EXPECT_EQ(in_progress.load(), 19);
}

TEST_P(StoreConformance, EightProcessesClaimOneJobExactlyOneWins) {
  RecurringTransfer t = transfer();
  auto jobs = create(t, {kT0});
  // No connection may cross fork() (SQLite forbids it): the children open their own stores.
  store_.reset();
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < 8; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // child: its own store, waits for the start signal, reports by exit code
      ::close(go[1]);
      auto s = open_store(url_);
      char c;
      if (::read(go[0], &c, 1) != 0 || !s) ::_exit(3);
      auto r = (*s)->claim_job({jobs[0].id, "proc-" + std::to_string(i), kT0, kT0 + 30s, 3});
      if (!r) ::_exit(4);
      ::_exit(r->status == ClaimStatus::kClaimed      ? 0
              : r->status == ClaimStatus::kInProgress ? 1
                                                      : 2);
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  std::this_thread::sleep_for(200ms);  // let the children open their stores
  ::close(go[1]);                      // EOF releases them all at once
  int winners = 0, losers = 0;
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    EXPECT_TRUE(code == 0 || code == 1) << "child exit code " << code;
    winners += code == 0;
    losers += code == 1;
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(losers, 7);
  store_ = open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(get(jobs[0].id).status, JobStatus::kProcessing);
}

}  // namespace
}  // namespace rtjobs::store_conformance
