// Store conformance (conformance.hpp): claiming one job (due, not due, retries, held and
// expired leases, terminal and unknown jobs, paused and cancelled transfers), the IO threads'
// job reader, leases and due times between instances whose clocks disagree, and threads or
// processes racing to claim the same job.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"
#include "core/clock.hpp"
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
  last.next_occurrence_at.reset();
  auto last_jobs = create(last, {kT0});
  EXPECT_EQ(claim(last_jobs[0].id, kT0 + 1s).status, ClaimStatus::kSkipped);
  auto stored = store_->get_transfer(last.id).value().value();
  EXPECT_EQ(stored.status, TransferStatus::kCompleted);
  EXPECT_EQ(stored.updated_at, kT0 + 1s);

  RecurringTransfer by_loop = transfer(TransferStatus::kPaused);
  by_loop.next_occurrence_at.reset();
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
  retrying.next_occurrence_at.reset();
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

// --- Instances whose clocks disagree ---
//
// On PostgreSQL, shared by several instances, leases and due times are judged by the database
// server's clock, never by a request's `now` (store.hpp); SQLite, one machine's file, believes
// the caller. These tests use stores opened as rtjobs opens them, and the real time (the
// server's clock, on this machine): an instance's clock is the real time plus its skew.

TEST_P(StoreConformance, ALeaseIsJudgedByTheDatabaseServersClockOnPostgreSql) {
  const bool sqlite = GetParam() == "sqlite";
  auto a = open_on_server_clock();  // instance A, its clock right
  auto b = open_on_server_clock();  // instance B, its clock two minutes ahead
  ASSERT_TRUE(a && b);
  const Timestamp real = SystemClock().now();
  const Timestamp b_now = real + 2min;
  RecurringTransfer t = transfer();
  auto jobs = create(t, {real - 1s, real - 1s, real - 1s});
  auto claim_at = [](Store& s, const Job& j, const std::string& owner, Timestamp now,
                     std::chrono::milliseconds lease) {
    auto r = s.claim_job({j.id, owner, now, now + lease, 3});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : ClaimResult{};
  };

  // A claims the job for 30 s: the job is at the bank. B finds it expired by its own clock.
  ClaimResult held = claim_at(*a, jobs[0], "instance-a", real, 30s);
  ASSERT_EQ(held.status, ClaimStatus::kClaimed);
  ClaimResult again = claim_at(*b, jobs[0], "instance-b", b_now, 30s);
  if (sqlite) {  // one machine: its callers' clocks agree, and the one given is believed
    EXPECT_EQ(again.status, ClaimStatus::kClaimed);
    return;
  }
  // The lease was measured on the server's clock (this machine's: the real time).
  ASSERT_TRUE(held.job && held.job->lease_expires_at);
  EXPECT_GE(*held.job->lease_expires_at, real + 30s);
  EXPECT_LT(*held.job->lease_expires_at, real + 90s);
  // B neither takes the job over nor rescues it while A's lease runs on the server's clock.
  EXPECT_EQ(again.status, ClaimStatus::kInProgress);
  EXPECT_EQ(b->rescue_expired_leases(b_now, 3, 10).value(), 0);
  expect_same(get(jobs[0].id), *held.job);

  // Once the server's clock has passed a lease (0 ms: at once), B takes the job over, and a
  // rescuer whose clock runs two minutes behind rescues another: the caller's clock, ahead or
  // behind, changes nothing.
  ASSERT_EQ(claim_at(*a, jobs[1], "instance-a", real, 0ms).status, ClaimStatus::kClaimed);
  ClaimResult taken = claim_at(*b, jobs[1], "instance-b", b_now, 30s);
  ASSERT_EQ(taken.status, ClaimStatus::kClaimed);
  EXPECT_EQ(taken.job->lease_owner, "instance-b");
  EXPECT_EQ(taken.job->retries, 1);
  EXPECT_LT(*taken.job->lease_expires_at, b_now);  // B's 30 s, from the server's now
  ASSERT_EQ(claim_at(*a, jobs[2], "instance-a", real, 0ms).status, ClaimStatus::kClaimed);
  EXPECT_EQ(b->rescue_expired_leases(real - 2min, 3, 10).value(), 1);
  EXPECT_EQ(get(jobs[2].id).status, JobStatus::kRetry);
  EXPECT_EQ(get(jobs[0].id).lease_owner, "instance-a");  // still A's
}

TEST_P(StoreConformance, ADueTimeIsJudgedByTheDatabaseServersClockOnPostgreSql) {
  const bool sqlite = GetParam() == "sqlite";
  auto store = open_on_server_clock();
  ASSERT_NE(store, nullptr);
  const Timestamp real = SystemClock().now();
  const Timestamp ahead = real + 2h;   // an instance's clock two hours ahead
  const Timestamp behind = real - 2h;  // and one two hours behind
  // A job due in an hour, a retry due in an hour, and a job due a second ago, by the real time.
  RecurringTransfer t = transfer();
  Job later = job(t, 1, real + 1h);
  Job retry_later = job(t, 2, real - 1h, JobStatus::kRetry);
  retry_later.next_attempt_at = real + 1h;
  Job due = job(t, 3, real - 1s);
  t.last_sequence = 3;
  ASSERT_TRUE(store->create_transfer(t, {later, retry_later, due}));

  // The instance ahead finds the two later jobs due by its clock; on PostgreSQL they are not.
  auto counts = store->count_due_jobs(ahead, 100);
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(counts->pending, sqlite ? 2 : 1);
  EXPECT_EQ(counts->retry, sqlite ? 1 : 0);
  auto one = store->claim_job({later.id, "ahead", ahead, ahead + 30s, 3});
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->status, sqlite ? ClaimStatus::kClaimed : ClaimStatus::kNotDue);
  auto retry = store->claim_job({retry_later.id, "ahead", ahead, ahead + 30s, 3});
  ASSERT_TRUE(retry) << retry.error().message;
  EXPECT_EQ(retry->status, sqlite ? ClaimStatus::kClaimed : ClaimStatus::kNotDue);
  if (sqlite) return;  // SQLite believes the caller, as the claims above showed
  expect_same(get(later.id), later);
  expect_same(get(retry_later.id), retry_later);

  // Nor does the batch claim of the instance ahead take them; only the job due now, and the
  // instance behind, by whose clock it is not due for two hours, takes it as well.
  auto by_ahead = store->claim_due_jobs({"ahead", ahead, ahead + 30s, 10, false, true, 3});
  ASSERT_TRUE(by_ahead) << by_ahead.error().message;
  EXPECT_TRUE(by_ahead->empty());
  auto by_behind = store->claim_due_jobs({"behind", behind, behind + 30s, 10, true, true, 3});
  ASSERT_TRUE(by_behind) << by_behind.error().message;
  ASSERT_EQ(by_behind->size(), 1u);
  EXPECT_EQ(by_behind->at(0).job->id, due.id);
  ASSERT_TRUE(by_behind->at(0).job->lease_expires_at);
  EXPECT_GE(*by_behind->at(0).job->lease_expires_at, real + 30s);  // 30 s on the server's clock
  auto none = store->claim_due_jobs({"ahead", ahead, ahead + 30s, 10, true, true, 3});
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
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
      auto s = open_test_store(url_);
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
