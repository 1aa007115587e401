// Store conformance (conformance.hpp): what the built-in loops rely on: claiming due jobs in
// batches (DueClaims), rescuing expired leases, racing batch claimers, and wake-ups of
// subscribers when jobs fall due in another instance.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

// --- Batch claims for the built-in loops ---

TEST_P(DueClaims, CountDueJobsCountsEachKindUpToTheCap) {
  DueScene s = scene();
  auto count = [&](Timestamp now, int64_t cap) {
    auto r = store_->count_due_jobs(now, cap);
    EXPECT_TRUE(r) << r.error().message;
    return r ? std::pair{r->pending, r->retry} : std::pair<int64_t, int64_t>{-1, -1};
  };
  Timestamp now = kT0 + 10s;
  // Due: p0, in_fly, paused_pending and cancelled; retry. Not yet: later, retry_later. Not
  // due work: paused_retry, which waits for its transfer's resume.
  EXPECT_EQ(count(now, 100), (std::pair<int64_t, int64_t>{4, 1}));
  EXPECT_EQ(count(now, 3), (std::pair<int64_t, int64_t>{3, 1}));
  EXPECT_EQ(count(now, 1), (std::pair<int64_t, int64_t>{1, 1}));
  EXPECT_EQ(count(kT0 + 150ms, 100), (std::pair<int64_t, int64_t>{2, 0}));  // p0, cancelled
  EXPECT_EQ(count(kT0 + 3h, 100), (std::pair<int64_t, int64_t>{5, 2}));
  claim_due(now, 10, true, true);
  EXPECT_EQ(count(now, 100), (std::pair<int64_t, int64_t>{0, 0}));
  EXPECT_EQ(count(kT0 + 3h, 100), (std::pair<int64_t, int64_t>{1, 1}));  // + later, retry_later
  // Resumed, the waiting retry is due work again.
  ASSERT_TRUE(store_->change_transfer_status(s.paused_retry.recurring_transfer_id,
                                             TransferAction::kResume, now));
  EXPECT_EQ(count(now, 100), (std::pair<int64_t, int64_t>{0, 1}));
}

TEST_P(DueClaims, PendingOnly) {
  DueScene s = scene();
  Timestamp now = kT0 + 10s;
  auto got = claim_due(now, 10, true, false);
  ASSERT_EQ(got.size(), 4u);
  expect_claimed(got[0], s.p0, now);
  expect_finished(got[1], s.cancelled, ClaimStatus::kTerminal, JobStatus::kCancelled, now);
  expect_finished(got[2], s.paused_pending, ClaimStatus::kSkipped, JobStatus::kSkipped, now);
  expect_claimed(got[3], s.in_fly, now);
  for (const Job& j : {s.later, s.retry, s.retry_later, s.paused_retry}) expect_same(get(j.id), j);
  EXPECT_TRUE(claim_due(now, 10, true, false).empty());
}

TEST_P(DueClaims, RetriesOnly) {
  DueScene s = scene();
  Timestamp now = kT0 + 10s;
  auto got = claim_due(now, 10, false, true);
  ASSERT_EQ(got.size(), 1u);
  expect_claimed(got[0], s.retry, now);
  // A retry of a paused transfer waits for the resume, untouched.
  for (const Job& j :
       {s.p0, s.in_fly, s.later, s.retry_later, s.paused_pending, s.paused_retry, s.cancelled}) {
    expect_same(get(j.id), j);
  }
  EXPECT_TRUE(claim_due(now, 10, false, true).empty());
}

TEST_P(DueClaims, BothOldestDueFirstUpToLimit) {
  DueScene s = scene();
  Timestamp now = kT0 + 10s;
  auto first = claim_due(now, 3, true, true);
  ASSERT_EQ(first.size(), 3u);
  expect_claimed(first[0], s.p0, now);
  expect_finished(first[1], s.cancelled, ClaimStatus::kTerminal, JobStatus::kCancelled, now);
  expect_finished(first[2], s.paused_pending, ClaimStatus::kSkipped, JobStatus::kSkipped, now);
  auto second = claim_due(now + 1s, 10, true, true);
  ASSERT_EQ(second.size(), 2u);
  expect_claimed(second[0], s.retry, now + 1s);
  expect_claimed(second[1], s.in_fly, now + 1s);
  EXPECT_TRUE(claim_due(now + 2s, 10, true, true).empty());
  EXPECT_TRUE(claim_due(now, 0, true, true).empty());
  expect_same(get(s.later.id), s.later);
  expect_same(get(s.retry_later.id), s.retry_later);
  // Held leases are not claimed again, however late.
  EXPECT_EQ(claim_due(kT0 + 3h, 10, true, true).size(), 2u);  // later, retry_later
  EXPECT_TRUE(claim_due(kT0 + 30h, 10, true, true).empty());
  expect_same(get(s.paused_retry.id), s.paused_retry);  // waits for the resume
}

TEST_P(StoreConformance, RescueExpiredLeasesMovesThemToRetry) {
  RecurringTransfer t = transfer();
  auto processing = [&](int64_t sequence, Timestamp expires, int retries) {
    Job j = job(t, sequence, kT0 - 1h, JobStatus::kProcessing);
    j.lease_owner = "dead-" + std::to_string(sequence);
    j.lease_expires_at = expires;
    j.retries = retries;
    return j;
  };
  Job fresh = processing(1, kT0 - 3s, 0);
  Job at_max = processing(2, kT0 - 2s, 3);
  Job above_max = processing(3, kT0 - 1s, 5);
  Job held = processing(4, kT0 + 1ms, 0);
  Job idle = job(t, 5, kT0 - 1h);
  t.last_sequence = 5;
  ASSERT_TRUE(store_->create_transfer(t, {fresh, at_max, above_max, held, idle}));

  EXPECT_EQ(store_->rescue_expired_leases(kT0, 3, 2).value(), 2);  // the oldest leases first
  EXPECT_EQ(get(above_max.id).status, JobStatus::kProcessing);
  EXPECT_EQ(store_->rescue_expired_leases(kT0, 3, 10).value(), 1);
  EXPECT_EQ(store_->rescue_expired_leases(kT0, 3, 10).value(), 0);

  Job r = get(fresh.id);
  EXPECT_EQ(r.status, JobStatus::kRetry);
  EXPECT_EQ(r.retries, 1);
  EXPECT_EQ(r.next_attempt_at, kT0 - 3s);  // due since its lease expired
  EXPECT_EQ(r.updated_at, kT0);
  EXPECT_FALSE(r.lease_owner || r.lease_expires_at || r.finished_at);
  ASSERT_TRUE(r.last_error);
  EXPECT_NE(r.last_error->find("lease expired"), std::string::npos) << *r.last_error;
  EXPECT_EQ(get(at_max.id).retries, 3);     // capped at the maximum
  EXPECT_EQ(get(above_max.id).retries, 5);  // never lowered
  EXPECT_EQ(get(above_max.id).status, JobStatus::kRetry);
  expect_same(get(held.id), held);
  expect_same(get(idle.id), idle);
  // The rescued job is then claimable by the retries loop.
  auto claimed = store_->claim_due_jobs({"batch", kT0, kT0 + 30s, 10, false, true, 3});
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->size(), 3u);
}

// --- Racing batch claims ---

TEST_P(StoreConformance, FourThreadsClaimingDueBatchesClaimEachJobOnce) {
  std::set<std::string> all = create_due_jobs(10, 100);
  std::mutex mutex;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0;; ++round) {
        std::string owner = "thread-" + std::to_string(i) + "-" + std::to_string(round);
        auto r = store_->claim_due_jobs({owner, kT0, kT0 + 30s, 50, true, true, 3});
        if (!r) {
          errors.fetch_add(1);
          return;
        }
        if (r->empty()) return;
        std::lock_guard lock(mutex);
        for (const ClaimResult& c : *r) {
          EXPECT_EQ(c.status, ClaimStatus::kClaimed);
          EXPECT_EQ(c.job->lease_owner, owner);
          claimed.push_back(c.job->id);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), all.size());                                  // no job twice...
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), all);  // ...and every job
}

TEST_P(StoreConformance, ThreeProcessesClaimingDueBatchesClaimEachJobOnce) {
  std::set<std::string> all = create_due_jobs(10, 100);
  store_.reset();  // no connection may cross fork()
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<std::pair<pid_t, int>> children;  // pid, read end of its report pipe
  for (int i = 0; i < 3; ++i) {
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // child: claims until nothing is left, writes one claimed id per line
      ::close(go[1]);
      ::close(report[0]);
      auto s = open_test_store(url_);
      char c;
      if (::read(go[0], &c, 1) != 0 || !s) ::_exit(3);
      std::string out;
      for (int round = 0;; ++round) {
        std::string owner = "proc-" + std::to_string(i) + "-" + std::to_string(round);
        auto r = (*s)->claim_due_jobs({owner, kT0, kT0 + 30s, 50, true, true, 3});
        if (!r) ::_exit(4);
        if (r->empty()) break;
        for (const ClaimResult& claim : *r) {
          if (claim.status != ClaimStatus::kClaimed) ::_exit(5);
          out += claim.job->id + "\n";
        }
      }
      for (size_t done = 0; done < out.size();) {
        ssize_t n = ::write(report[1], out.data() + done, out.size() - done);
        if (n <= 0) ::_exit(6);
        done += size_t(n);
      }
      ::_exit(0);
    }
    ::close(report[1]);
    children.emplace_back(pid, report[0]);
  }
  ::close(go[0]);
  std::this_thread::sleep_for(200ms);
  ::close(go[1]);
  std::vector<std::string> claimed;
  int active_children = 0;
  for (auto [pid, fd] : children) {
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
    ::close(fd);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    size_t before = claimed.size();
    for (size_t pos = 0, nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      claimed.push_back(text.substr(pos, nl - pos));
    }
    active_children += claimed.size() > before;
  }
  EXPECT_EQ(claimed.size(), all.size());
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), all);
  EXPECT_GE(active_children, 1);
  store_ = open();
}

// --- Wake-ups across instances ---

TEST_P(StoreConformance, SubscribersHearOfJobsDueFromOtherInstances) {
  std::atomic<int> calls{0};
  auto subscription = store_->subscribe_jobs_due([&] { calls.fetch_add(1); });
  if (GetParam() == "sqlite") {
    EXPECT_EQ(subscription, nullptr);  // one process: the in-process wake is the caller's job
    return;
  }
  ASSERT_NE(subscription, nullptr);
  auto wait_for_call = [&](int above) {
    for (auto until = std::chrono::steady_clock::now() + 2s;
         calls.load() <= above && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(10ms);
    }
    return calls.load() > above;
  };
  std::this_thread::sleep_for(300ms);  // let the listener connect
  auto other = open();
  RecurringTransfer t = transfer();
  t.created_at = kT0;
  ASSERT_TRUE(other->create_transfer(t, {job(t, 1, kT0)}));
  EXPECT_TRUE(wait_for_call(0)) << "no wake-up within 2 s of a due job's creation";

  // A dropped connection is re-established, and the subscriber told once it is back.
  int before = calls.load();
  PGconn* admin = PQconnectdb(url_.c_str());
  ASSERT_EQ(PQstatus(admin), CONNECTION_OK);
  PGresult* r = PQexec(admin,
                       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE"
                       " application_name = 'rtjobs-listener' AND datname = current_database()");
  EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(admin);
  EXPECT_TRUE(wait_for_call(before)) << "no wake-up within 2 s of reconnecting";

  // A completion that re-arms its job due now (RT_RETRY_BACKOFF=0) wakes them too.
  std::this_thread::sleep_for(200ms);  // let a late reconnect wake-up pass
  before = calls.load();
  std::string id = jobs_of(t.id).at(0).id;
  ASSERT_EQ(other->claim_job({id, "w", kT0, kT0 + 30s, 3}).value().status, ClaimStatus::kClaimed);
  auto w = other->complete_job({.job_id = id,
                                .lease_owner = "w",
                                .now = kT0,
                                .status = JobStatus::kRetry,
                                .retries = 1,
                                .next_attempt_at = kT0});
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->status, CompletionStatus::kWritten);
  EXPECT_TRUE(wait_for_call(before)) << "no wake-up within 2 s of a retry due now";
  subscription.reset();  // stops promptly
}

}  // namespace
}  // namespace rtjobs::store_conformance
