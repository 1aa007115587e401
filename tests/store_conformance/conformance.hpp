// The Store conformance suite: every test runs against SQLite (a fresh temporary file) and
// PostgreSQL (RT_TEST_POSTGRES_URL, schema dropped and recreated per test). Without
// RT_TEST_POSTGRES_URL the PostgreSQL instances fail: a store change must pass on both.
// Time is the fixed kT0 and what the tests add to it: on PostgreSQL the stores are opened to
// read the requests' clock (not the server's, as rtjobs's are), so both backends decide alike;
// the tests of the server's clock open theirs with open_on_server_clock().
//
// This header holds what the suite's files share: the fixtures (StoreConformance, and DueClaims
// with its scene of due jobs), the fixed clock kT0, and the comparison helpers. Both fixtures are
// instantiated once, in conformance.cpp, as Backends/<Fixture>.<Test>/{sqlite,postgresql}; a
// test file only adds TEST_Ps. The fixtures live in a named namespace so that every file's
// TEST_Ps share one fixture type (gtest refuses a suite whose fixture type differs by file).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/time_format.hpp"
#include "store/store.hpp"

namespace rtjobs::store_conformance {

// The suite's "now": every due time and timestamp is relative to it.
inline const Timestamp kT0 = *parse_timestamp("2026-03-10T09:00:00.123Z");
// Text with quotes, commas, newlines and multi-byte characters, for round trips.
inline const std::string kAwkward = "it's \"quoted\", comma,\nnew line; émoji 💸 ü";

// One migrated store per test (store_), on the backend named by the parameter, and builders
// for transfers and jobs. The helpers record a gtest failure when the store answers an error.
class StoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Another store on the same database. Like store_, it judges leases and due times by the
  // requests' `now` on both backends (on PostgreSQL it is opened with TimeSource::kCaller), so
  // the tests move time by hand.
  std::unique_ptr<Store> open();
  // A store as rtjobs opens it (open_store): on PostgreSQL it judges leases, due times and
  // liveness by the database server's clock, whatever the requests' `now`.
  std::unique_ptr<Store> open_on_server_clock();

  // A monthly transfer (not stored) created at kT0.
  RecurringTransfer transfer(TransferStatus status = TransferStatus::kActive,
                             std::optional<std::string> key = std::nullopt);
  // A job of `t` (not stored) due at `due`.
  Job job(const RecurringTransfer& t, int64_t sequence, Timestamp due,
          JobStatus status = JobStatus::kPending);
  // Creates a transfer with one job per entry of `dues` (sequence 1..n); returns the jobs.
  std::vector<Job> create(RecurringTransfer& t, std::vector<Timestamp> dues,
                          JobStatus status = JobStatus::kPending);
  ClaimResult claim(const std::string& id, Timestamp now, const std::string& owner = "owner-a",
                    int max_retries = 3,
                    std::chrono::milliseconds lease = std::chrono::seconds(30));
  CompletionResult complete(const Completion& c);
  Job get(const std::string& id);
  // Up to 500 jobs of the transfer, in sequence order.
  std::vector<Job> jobs_of(const std::string& transfer_id);
  // Creates `transfers` transfers of `per_transfer` jobs each, all due at kT0; returns the ids.
  std::set<std::string> create_due_jobs(int transfers, int per_transfer);

  // For the migration tests: closes store_ and builds a database of the test's own at the
  // schema the migrations before `version` left (SQLite: a new file; PostgreSQL: the schema
  // recreated), to fill as a binary of that time did (raw_db.hpp). Returns its URL.
  std::string database_before(int version);
  // Opens store_ on `url` and migrates it; returns the migrations it applied.
  std::vector<int> migrate_store(const std::string& url);
  // This backend's migrations from `version` on: what migrate() applies to a database before it.
  std::vector<int> migrations_from(int version);

  static inline std::atomic<int> counter_{0};
  std::filesystem::path dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
  MigrationReport first_migration_;  // what SetUp's migrate() of the empty database did
};

// Due jobs of every kind, for the claim_due_jobs tests (dues relative to kT0):
//   active:    pending +0, in_fly +1s, pending +1h (not due)
//   retrying:  retry next_attempt_at +500ms, retry +2h (not due)
//   paused:    pending +200ms (to be skipped), retry +300ms (waits for a resume)
//   cancelled: pending +100ms (to be cancelled)
struct DueScene {
  Job p0, in_fly, later, retry, retry_later, paused_pending, paused_retry, cancelled;
};

// Due jobs of two banks, for the claims of one provider (dues relative to kT0):
//   bank-a: pending +0, retry +1s, pending +2s, pending +1h (not due)
//   bank-b: pending -1s, retry -500ms (older than every job of bank-a)
struct TwoBanks {
  Job a0, a_retry, a2, a_later, b0, b_retry;
};

class DueClaims : public StoreConformance {
 protected:
  // Stores the scene above.
  DueScene scene();
  // Stores the two banks' jobs above.
  TwoBanks two_banks();
  Job retry_job(const RecurringTransfer& t, int64_t sequence, Timestamp next_attempt_at);
  void insert(RecurringTransfer& t, const std::vector<Job>& jobs);
  // claim_due_jobs with a 30 s lease and at most 3 retries (of any provider by default).
  std::vector<ClaimResult> claim_due(Timestamp now, int limit, bool pending, bool retries,
                                     const std::string& owner = "batch-1",
                                     const std::string& provider = "");
  // Checks a result is `expected` claimed at `now` by "batch-1", and that the store agrees.
  void expect_claimed(const ClaimResult& c, const Job& expected, Timestamp now);
  // Checks the results are the `expected` jobs, in that order, each claimed as expect_claimed.
  void expect_claimed_all(const std::vector<ClaimResult>& got, const std::vector<Job>& expected,
                          Timestamp now);
  // Checks a result is `expected` ended (skipped or cancelled) at `now` without a claim.
  void expect_finished(const ClaimResult& c, const Job& expected, ClaimStatus status,
                       JobStatus job_status, Timestamp now);
};

// The store of `url` for the tests: open_store's, but on PostgreSQL with the requests' clock
// (PgStore::TimeSource::kCaller), as SQLite always has.
Result<std::unique_ptr<Store>> open_test_store(const std::string& url);

// The id in upper case (the store accepts either).
std::string normalize_upper(std::string s);

// Field-by-field comparisons, timestamps compared as formatted text.
void expect_same(const RecurringTransfer& a, const RecurringTransfer& b);
void expect_same(const Job& a, const Job& b);

// A provider-status row for attempt `attempt` of `j` (a code when `http` is set).
ProviderStatus status_row(const Job& j, int attempt, Timestamp at, std::optional<int> http);

}  // namespace rtjobs::store_conformance
