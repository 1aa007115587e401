// Group commit, measured: claims and completes 20,000 jobs with outcome batches of 1, 64 and
// 256 on SQLite and PostgreSQL, and prints jobs/s. Claims always go 256 at a time
// (claim_due_jobs), so the rows differ only in how outcomes are written. Not part of ctest:
//   build/store_bench [postgresql://...]   (PostgreSQL row skipped without a URL; its schema
//                                            "public" is dropped and recreated, as in the tests)
#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/store.hpp"

namespace rtjobs {
namespace {

constexpr int kJobs = 20000;
constexpr int kPerTransfer = 100;
const Timestamp kT0 = *parse_timestamp("2026-03-10T09:00:00.000Z");

bool reset_postgres(const std::string& url) {
  PGconn* c = PQconnectdb(url.c_str());
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult* r = PQexec(c,
                         "SET client_min_messages = warning;"
                         "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;");
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) std::fprintf(stderr, "%s", PQresultErrorMessage(r));
    PQclear(r);
  } else {
    std::fprintf(stderr, "%s", PQerrorMessage(c));
  }
  PQfinish(c);
  return ok;
}

Result<void> seed(Store& store) {
  for (int t = 0; t < kJobs / kPerTransfer; ++t) {
    RecurringTransfer tr;
    tr.id = new_uuid_v7(kT0);
    tr.provider = "sandbox";
    tr.source_account = "src";
    tr.destination_account = "dst";
    tr.amount = 100;
    tr.currency = "USD";
    tr.description = "bench";
    tr.schedule.start_date = parse_date("2026-03-10").value();
    tr.status = TransferStatus::kActive;
    tr.last_sequence = kPerTransfer;
    tr.request_hash = "h";
    tr.created_at = tr.updated_at = kT0;
    std::vector<Job> jobs;
    for (int s = 1; s <= kPerTransfer; ++s) {
      Job j;
      j.id = new_uuid_v7(kT0);
      j.recurring_transfer_id = tr.id;
      j.sequence = s;
      j.scheduled_for = std::chrono::floor<std::chrono::days>(kT0);
      j.due_at = kT0;
      j.provider = "sandbox";
      j.idempotency_key = tr.id + ":" + std::to_string(s);
      j.created_at = j.updated_at = kT0;
      jobs.push_back(std::move(j));
    }
    if (auto r = store.create_transfer(tr, jobs); !r) return std::unexpected(r.error());
  }
  return {};
}

// Claims and completes every job; returns jobs/s, or a negative number on an error.
double drain(Store& store, size_t batch) {
  auto start = std::chrono::steady_clock::now();
  int done = 0;
  for (int round = 0;; ++round) {
    std::string owner = "bench-" + std::to_string(round);
    auto claimed = store.claim_due_jobs({owner, kT0, kT0 + std::chrono::minutes(5), 256});
    if (!claimed) {
      std::fprintf(stderr, "%s\n", claimed.error().message.c_str());
      return -1;
    }
    if (claimed->empty()) break;
    std::vector<Completion> outcomes;
    for (const ClaimResult& c : *claimed) {
      outcomes.push_back({.job_id = c.job->id,
                          .lease_owner = owner,
                          .now = kT0,
                          .status = JobStatus::kFinished,
                          .result = JobResult::kSucceeded,
                          .provider_reference = "ref"});
    }
    for (size_t from = 0; from < outcomes.size(); from += batch) {
      size_t n = std::min(batch, outcomes.size() - from);
      auto r = store.complete_jobs(std::span<const Completion>(outcomes.data() + from, n));
      if (!r) {
        std::fprintf(stderr, "%s\n", r.error().message.c_str());
        return -1;
      }
      for (const CompletionResult& c : *r) done += c.status == CompletionStatus::kWritten;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (done != kJobs) std::fprintf(stderr, "only %d of %d jobs written\n", done, kJobs);
  return done / seconds;
}

int run(int argc, char** argv) {
  std::vector<std::string> backends{"sqlite"};
  if (argc > 1) backends.push_back(argv[1]);
  auto dir =
      std::filesystem::temp_directory_path() / ("rtjobs-store-bench-" + std::to_string(::getpid()));
  std::printf("%-11s %6s %10s\n", "backend", "batch", "jobs/s");
  for (const std::string& backend : backends) {
    for (size_t batch : {size_t{1}, size_t{64}, size_t{256}}) {
      std::string url;
      if (backend == "sqlite") {
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        url = "sqlite://" + (dir / "bench.db").string();
      } else {
        url = backend;
        if (!reset_postgres(url)) return 1;
      }
      auto store = open_store(url);
      if (!store) {
        std::fprintf(stderr, "%s\n", store.error().message.c_str());
        return 1;
      }
      if (auto m = (*store)->migrate(); !m) return 1;
      if (auto s = seed(**store); !s) {
        std::fprintf(stderr, "%s\n", s.error().message.c_str());
        return 1;
      }
      double rate = drain(**store, batch);
      if (rate < 0) return 1;
      std::printf("%-11s %6zu %10.0f\n", std::string((*store)->backend()).c_str(), batch, rate);
      std::fflush(stdout);
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace rtjobs

int main(int argc, char** argv) { return rtjobs::run(argc, argv); }
