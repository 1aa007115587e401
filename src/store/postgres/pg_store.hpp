// PgStore: the Store on PostgreSQL through libpq, with a pool of connections (opened lazily,
// broken ones replaced). Every operation is a short transaction on one pooled connection;
// claim_job is a single conditional UPDATE, so row locks make exactly one of any number of
// concurrent claimers (threads or processes) win; complete_job sends its whole transaction in
// one round trip (pipeline mode).
//
// Thread-safe: every method may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "store/postgres/pg_connection.hpp"
#include "store/store.hpp"

namespace rtjobs {

class PgStore final : public Store {
 public:
  static constexpr int kPoolSize = 12;

  // Opens the pool and verifies one connection, so a bad URL fails here (kUnavailable).
  // Does not migrate.
  static Result<std::unique_ptr<PgStore>> open(const std::string& url);

  std::string_view backend() const override { return "postgresql"; }
  Result<void> migrate() override;
  Result<void> ping() override;

  Result<CreateTransferResult> create_transfer(const RecurringTransfer& transfer,
                                               const std::vector<Job>& jobs) override;
  Result<std::optional<RecurringTransfer>> get_transfer(std::string_view id) override;
  Result<Page<RecurringTransfer>> list_transfers(const TransferFilter& filter) override;

  Result<std::optional<Job>> get_job(std::string_view id) override;
  Result<Page<Job>> list_jobs(const JobFilter& filter) override;
  Result<std::vector<ProviderStatus>> list_provider_statuses(std::string_view job_id) override;

  Result<ClaimResult> claim_job(const ClaimRequest& request) override;
  Result<CompletionResult> complete_job(const Completion& completion) override;

 private:
  explicit PgStore(const std::string& url) : pool_(url, kPoolSize) {}

  store_detail::PgPool pool_;
};

}  // namespace rtjobs
