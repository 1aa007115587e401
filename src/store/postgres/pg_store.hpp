// PgStore: the Store on PostgreSQL through libpq, with a pool of connections (opened lazily,
// broken ones replaced). Every operation is a short transaction on one pooled connection;
// claim_job is a single conditional UPDATE, so row locks make exactly one of any number of
// concurrent claimers (threads or processes) win; complete_jobs sends a whole batch of outcomes
// as one transaction in one round trip (pipeline mode); claim_due_jobs is one statement using FOR
// UPDATE SKIP LOCKED, so concurrent batch claimers take disjoint jobs without waiting for each
// other. Writers that make jobs due now send pg_notify inside their own statement (see
// pg_listener.hpp).
//
// Whose clock: leases, due times and live instances are decided by the database server's clock
// (now()), not by the `now` of the requests, so instances whose clocks disagree still agree on
// who holds a job (see Store::claim_job). Tests that move time by hand open the store with
// TimeSource::kCaller, which reads the requests' `now` instead, through the same statements (as
// River's drivers take a stubbed time: `coalesce(@now, now())`).
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

  // The clock that decides leases and due times. kDatabase (what open_store gives): the
  // server's. kCaller: the requests' `now`, for tests with a manual clock.
  enum class TimeSource { kDatabase, kCaller };

  // Opens the pool and verifies one connection, so a bad URL fails here (kUnavailable).
  // Does not migrate.
  static Result<std::unique_ptr<PgStore>> open(const std::string& url,
                                               TimeSource time = TimeSource::kDatabase);

  std::string_view backend() const override { return "postgresql"; }
  Result<MigrationReport> migrate() override;
  Result<std::vector<MigrationState>> migration_status() override;
  Result<void> ping() override;

  Result<CreateTransferResult> create_transfer(const RecurringTransfer& transfer,
                                               const std::vector<Job>& jobs,
                                               std::string_view actor = {}) override;
  Result<std::optional<RecurringTransfer>> get_transfer(std::string_view id) override;
  Result<Page<RecurringTransfer>> list_transfers(const TransferFilter& filter) override;
  Result<RecurringTransfer> patch_transfer(std::string_view id, const TransferPatch& patch,
                                           Timestamp now, std::string_view actor) override;
  Result<Page<TransferChange>> list_transfer_changes(std::string_view transfer_id, int limit,
                                                     std::optional<std::string> cursor) override;

  Result<std::optional<Job>> get_job(std::string_view id) override;
  Result<Page<Job>> list_jobs(const JobFilter& filter) override;
  Result<std::vector<ProviderStatus>> list_provider_statuses(std::string_view job_id) override;

  Result<ClaimResult> claim_job(const ClaimRequest& request) override;
  Result<std::vector<CompletionResult>> complete_jobs(
      std::span<const Completion> completions) override;
  Result<Job> retry_failed_job(std::string_view job_id, Timestamp now,
                               std::string_view actor = {}) override;
  Result<Job> skip_job(std::string_view job_id, Timestamp now,
                       std::string_view actor = {}) override;

  Result<std::vector<ClaimResult>> claim_due_jobs(const DueClaimRequest& request) override;
  Result<int> rescue_expired_leases(Timestamp now, int max_retries, int limit) override;
  Result<DueCounts> count_due_jobs(Timestamp now, int64_t cap) override;
  Result<std::vector<RecurringTransfer>> transfers_to_extend(Timestamp until, int limit) override;
  Result<int> extend_transfers(std::span<const Extension> extensions) override;
  Result<RecurringTransfer> change_transfer_status(std::string_view id, TransferAction action,
                                                   Timestamp now,
                                                   std::string_view actor = {}) override;
  Result<int> heartbeat_instance(std::string_view instance_id, Timestamp now,
                                 std::chrono::milliseconds ttl) override;
  Result<void> leave_instance(std::string_view instance_id) override;

  Result<std::vector<SettlementResult>> apply_settlements(
      std::span<const SettlementUpdate> updates) override;
  Result<std::vector<bool>> accept_bank_events(std::span<const BankEventRecord> events) override;
  Result<std::vector<BankEventRecord>> claim_bank_events(Timestamp now, Timestamp retry_at,
                                                         int limit) override;
  Result<void> finish_bank_event(std::string_view id, Timestamp now, std::string_view outcome,
                                 std::optional<std::string> error,
                                 std::optional<Timestamp> retry_at) override;
  Result<int64_t> count_pending_bank_events(int64_t cap) override;
  Result<int> purge_bank_events(Timestamp before, int limit) override;
  Result<std::vector<Job>> claim_settlement_checks(std::string_view provider, Timestamp now,
                                                   Timestamp check_again_at, int limit) override;

  // LISTEN rtjobs_jobs_due on a dedicated connection (see pg_listener.hpp).
  // Events to the main API (pg_webhooks.cpp)
  Result<WebhookEndpoint> create_webhook_endpoint(const WebhookEndpoint& endpoint) override;
  Result<std::optional<WebhookEndpoint>> get_webhook_endpoint(std::string_view id) override;
  Result<Page<WebhookEndpoint>> list_webhook_endpoints(int limit,
                                                       std::optional<std::string> cursor) override;
  Result<void> delete_webhook_endpoint(std::string_view id) override;
  Result<WebhookEndpoint> rotate_webhook_secret(std::string_view id, std::string secret,
                                                Timestamp previous_expires_at,
                                                Timestamp now) override;
  Result<WebhookEndpoint> enable_webhook_endpoint(std::string_view id, Timestamp now) override;
  Result<FanOut> fan_out_and_lease(Timestamp now, int limit, const FanOutLease& lease) override;
  Result<std::vector<DeliveryTask>> claim_webhook_deliveries(Timestamp now, std::string_view lease,
                                                             Timestamp lease_until,
                                                             int limit) override;
  Result<std::vector<DeliveryOutcome>> finish_webhook_deliveries(
      std::span<const DeliveryAttempt> attempts, std::chrono::seconds disable_after) override;
  Result<Page<WebhookDeliveryRecord>> list_webhook_deliveries(
      const DeliveryFilter& filter) override;
  Result<std::optional<WebhookDeliveryRecord>> get_webhook_delivery(std::string_view id) override;
  Result<WebhookDeliveryRecord> replay_webhook_delivery(std::string_view id,
                                                        Timestamp now) override;
  Result<int> purge_events(Timestamp before, int limit) override;
  Result<EventBacklog> event_backlog(int64_t cap) override;
  Result<std::vector<Event>> list_events(std::optional<std::string> after, int limit) override;

  std::unique_ptr<Subscription> subscribe_jobs_due(std::function<void()> on_jobs_due) override;

  // The operator console's overview (sqlite_overview.cpp / pg_overview.cpp).
  Result<std::vector<OutcomeCount>> count_outcomes(Timestamp since) override;
  Result<int64_t> count_in_flight(int64_t cap) override;

 private:
  PgStore(const std::string& url, TimeSource time)
      : url_(url), time_(time), pool_(url, kPoolSize) {}

  // The parameter behind store_detail::db_now(): NULL (the server's now()) or, with kCaller,
  // the request's `now`.
  store_detail::SqlValue clock(Timestamp now) const;

  const std::string url_;
  const TimeSource time_;
  store_detail::PgPool pool_;
};

}  // namespace rtjobs
