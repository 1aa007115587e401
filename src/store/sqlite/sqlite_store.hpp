// SqliteStore: the Store on one SQLite database file (or an in-memory database).
//
// SQLite allows one writer at a time, so every write goes through a single write connection,
// guarded by write_mutex_, inside BEGIN IMMEDIATE (which also serialises writers of other
// processes on the same file, waiting up to the 5 s busy timeout). Reads use a small pool of
// query-only connections so, under WAL, they never wait for the writer. The WAL is copied back
// into the database file by a thread of its own (SqliteCheckpointer), not inside the writer's
// commits. An in-memory database is private to its connection, so then the single connection
// also serves the reads.
//
// Thread-safe: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_checkpointer.hpp"
#include "store/sqlite/sqlite_connection.hpp"
#include "store/store.hpp"
#include "store/transfer_changes.hpp"

namespace rtjobs {

class SqliteStore final : public Store {
 public:
  // `path` is a file path or ":memory:". Does not migrate.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);

  std::string_view backend() const override { return "sqlite"; }
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

  // Events to the main API (sqlite_webhooks.cpp)
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

  std::unique_ptr<JobReader> open_job_reader() override;

  // The operator console's overview (sqlite_overview.cpp / pg_overview.cpp).
  Result<std::vector<OutcomeCount>> count_outcomes(Timestamp since) override;
  Result<int64_t> count_in_flight(int64_t cap) override;

  // The one write connection and the mutex guarding it, lent to another writer of this database
  // in the process (the backup store inside `rtjobs serve`, open_backup_store), so the process
  // has one SQLite writer: the borrower uses the connection only while holding the mutex, and
  // ends each transaction before letting go. The store must outlive the borrower.
  struct SharedWriter {
    std::mutex& mutex;
    store_detail::SqliteConnection& connection;
  };
  SharedWriter shared_writer() { return {write_mutex_, *writer_}; }

  // Tests only: runs after a claim commits, before it reads its claimed jobs' transfers, so a
  // test can change them there (the claim still answers with the terms it pinned).
  void set_claim_committed_hook(std::function<void()> hook) { claim_committed_ = std::move(hook); }

 private:
  using Connection = store_detail::SqliteConnection;
  static constexpr int kMaxReaders = 4;

  SqliteStore(std::string path, bool in_memory, std::unique_ptr<Connection> writer);

  // Runs `body` in one BEGIN IMMEDIATE transaction on the write connection; commits when it
  // succeeds, rolls back otherwise.
  template <class T>
  Result<T> write(const std::function<Result<T>(Connection&)>& body);
  // Runs `body` on a read connection.
  template <class T>
  Result<T> read(const std::function<Result<T>(Connection&)>& body);
  // A claim's answers as committed: the claimed jobs' (index in `results`, job with its pinned
  // terms) wait for their transfers, which with_claimed_transfers reads after the commit.
  struct ClaimedBatch {
    std::vector<ClaimResult> results;
    std::vector<std::pair<size_t, store_detail::ClaimedJob>> claimed;
  };
  // Reads the claimed jobs' transfers on a read connection, outside the writer's lock, and
  // answers each claimed job with its transfer carrying the job's pinned terms. What a change
  // committed since the claim can alter there is what it could alter during the bank call: the
  // terms are the job's own, the schedule's end is checked again by the completion. When the
  // read fails the claim stays committed: its jobs are rescued once their lease expires and
  // attempted again under the same idempotency key.
  Result<void> with_claimed_transfers(ClaimedBatch& batch);
  // An idle read connection, or a new one while fewer than kMaxReaders are open (else waits).
  Result<std::unique_ptr<Connection>> acquire_reader();
  void release_reader(std::unique_ptr<Connection> conn);

  const std::string path_;
  const bool in_memory_;

  // Before writer_, so it outlives the connection whose commits call it (none when in memory).
  std::unique_ptr<store_detail::SqliteCheckpointer> checkpointer_;
  std::mutex write_mutex_;
  std::unique_ptr<Connection> writer_;  // guarded by write_mutex_

  std::mutex readers_mutex_;
  std::condition_variable reader_returned_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // guarded by readers_mutex_
  int open_readers_ = 0;                                   // guarded by readers_mutex_

  std::function<void()> claim_committed_;  // set before use, by tests only
};

// The transaction templates, here so that each sqlite_*.cpp file can instantiate them.

template <class T>
Result<T> SqliteStore::write(const std::function<Result<T>(Connection&)>& body) {
  std::lock_guard lock(write_mutex_);
  store_detail::SqliteTransaction txn(*writer_);
  if (auto r = txn.begin(); !r) return std::unexpected(r.error());
  Result<T> result = body(*writer_);
  if (!result) return result;  // the transaction rolls back
  if (auto r = txn.commit(); !r) return std::unexpected(r.error());
  return result;
}

template <class T>
Result<T> SqliteStore::read(const std::function<Result<T>(Connection&)>& body) {
  if (in_memory_) {
    std::lock_guard lock(write_mutex_);
    return body(*writer_);
  }
  auto conn = acquire_reader();
  if (!conn) return std::unexpected(conn.error());
  Result<T> result = body(**conn);
  release_reader(std::move(*conn));
  return result;
}

}  // namespace rtjobs
