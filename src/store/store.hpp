// Store: everything rtjobs keeps, behind one interface with two implementations (SQLite and
// PostgreSQL). No SQL lives outside src/store/. Every operation is one short transaction; none
// is held open across a BaaS call. The same conformance suite (tests/store_conformance/)
// runs against both implementations.
//
// Thread-safety: every method may be called from any thread concurrently. The SQLite store
// funnels its writes through one connection; the PostgreSQL store keeps a connection pool.
//
// Whose clock decides. On PostgreSQL, which several instances share, every decision on time —
// a lease expired, a job due (due_at, next_attempt_at), an instance live — is taken on the
// database server's clock, never on the `now` of a request: a claim's lease expires at the
// server's now plus the lease's length (the request's lease_expires_at - now), and claims,
// rescues and counts compare with the server's now. So instances whose clocks disagree by more
// than a lease's margin never take a job from each other while it is at the bank. A claim or a
// rescue records the instant it judged by (the jobs' updated_at, finished_at of a skip or a
// cancel): a claimed job's lease_expires_at - updated_at is its lease. Other writes keep the
// caller's instants (a completion's updated_at and finished_at; due_at; a completion's
// next_attempt_at, whose backoff is then off by the caller's skew: a retry comes sooner or
// later, never a second call while one is at the bank); retry_failed_job's job is due at once
// on both clocks. SQLite is one machine's file, read by one machine's clock: it uses the
// requests' `now` throughout. (PgStore::open with TimeSource::kCaller does too, for tests.)
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/model.hpp"

namespace rtjobs {

template <class T>
struct Page {
  std::vector<T> data;
  std::optional<std::string> next_cursor;  // opaque; absent on the last page
};

struct TransferFilter {
  std::optional<TransferStatus> status;
  std::optional<std::string> external_id;  // exact match
  std::optional<std::string> account;      // exact match of source_account or destination_account
  int limit = 50;                          // 1..500, validated by the caller
  std::optional<std::string> cursor;       // from a previous Page
};

// Jobs list in creation order (UUIDv7 id order), which for one transfer is sequence order.
struct JobFilter {
  std::optional<JobStatus> status;
  std::optional<JobResult> result;
  std::optional<SettlementStatus> settlement_status;
  std::optional<std::string> recurring_transfer_id;
  int limit = 50;
  std::optional<std::string> cursor;
};

// A client's change of a transfer's terms (PATCH): absent fields are left as they are.
// The end of a schedule (SPEC section 3): the only part of a schedule a transfer's owner can
// change once it exists. Occurrences are planned from one; a write of planned occurrences
// carries the end it planned with and applies only while the transfer still has it.
struct ScheduleEnd {
  std::optional<Date> end_date;
  std::optional<int> count;
  bool operator==(const ScheduleEnd&) const = default;
};
inline ScheduleEnd schedule_end(const Schedule& s) { return {s.end_date, s.count}; }

// A transfer's occurrences re-planned under a changed schedule end, from the transfer as
// locked (its last_sequence): occurrences 1..kept exist under the new end among those created;
// the jobs of later sequences are removed (never an attempted one: see patch_transfer);
// new_jobs are the occurrences after `kept` up to the horizon.
struct OccurrencePlan {
  int64_t kept = 0;
  std::vector<Job> new_jobs;
  std::optional<Timestamp> next_occurrence_at;  // of the first occurrence not created
  bool exhausted = false;
};

struct TransferPatch {
  int64_t expected_version = 0;   // If-Match: applied only while the transfer has this version
  std::optional<int64_t> amount;  // minor units, > 0
  std::optional<std::string> description;
  // A new schedule end: each set, or removed (an empty value inside).
  std::optional<std::optional<Date>> end_date;
  std::optional<std::optional<int>> count;
  // With end_date or count: plans the patched transfer's occurrences (jobs/occurrences.hpp).
  std::function<Result<OccurrencePlan>(const RecurringTransfer&)> plan;
  bool changes_end() const { return end_date.has_value() || count.has_value(); }
};

// One change of a transfer by a client (its history): created, updated, paused, resumed,
// cancelled, job_skipped, job_retried.
struct TransferChange {
  std::string id;  // UUIDv7: the history's order
  std::string recurring_transfer_id;
  std::optional<std::string> job_id;  // the job a job_skipped or job_retried acted on
  std::string action;
  std::optional<std::string> actor;  // the API token's caller name; absent without auth
  std::string changes;               // JSON object text: {"field": {"before": ..., "after": ...}}
  Timestamp created_at{};
};

struct CreateTransferResult {
  RecurringTransfer transfer;
  bool created = true;  // false: the idempotency key already existed; `transfer` is that one
};

// Moving one job into PROCESSING under a lease (SPEC section 2, step 1).
struct ClaimRequest {
  std::string job_id;
  std::string lease_owner;  // unique per claim; completions must present it
  Timestamp now{};
  Timestamp lease_expires_at{};
  int max_retries = 3;  // a lease-expired job is re-claimed with retries = min(retries + 1, max)
};

enum class ClaimStatus {
  kClaimed,  // job is now PROCESSING under this lease; `transfer` is set
  kSkipped,  // job was due but its transfer is PAUSED: it is now SKIPPED (terminal)
  kNotFound,
  kInProgress,  // PROCESSING under another, unexpired lease
  kNotDue,      // PENDING/IN_FLY before due_at, RETRY before next_attempt_at, or a RETRY or
                // lease-expired job of a PAUSED transfer (it waits for the resume)
  kTerminal,    // already FINISHED, FAILED, SKIPPED or CANCELLED
};

struct ClaimResult {
  ClaimStatus status = ClaimStatus::kNotFound;
  std::optional<Job> job;  // the job as it is after the claim attempt
  // Set when kClaimed: the job's transfer carrying the terms the claim pinned on the job. Its
  // other fields may be read after the claim committed (SQLite), so a change made since shows.
  std::optional<RecurringTransfer> transfer;
};

// The outcome of one processing attempt (SPEC section 2, steps 3-6), written in one transaction.
struct Completion {
  std::string job_id;
  std::string lease_owner;  // must still hold the job's lease, else nothing is written
  Timestamp now{};
  // FINISHED, RETRY or FAILED; CANCELLED when the job's transfer was cancelled and the bank
  // has nothing under the job's key (decide_outcome).
  JobStatus status = JobStatus::kFinished;
  std::optional<JobResult> result;           // with FINISHED
  int retries = 0;                           // the job's retries after this attempt
  std::optional<Timestamp> next_attempt_at;  // with RETRY
  bool outcome_unknown = false;              // with RETRY: Job::outcome_unknown
  std::optional<std::string> provider_reference;
  // The bank's own status of the transfer in this answer. Absent keeps the job's bank_status:
  // an answer without one (a timeout, an outage) says nothing new about the transfer.
  std::optional<std::string> bank_status;
  std::optional<std::string> last_error;
  std::optional<ProviderStatus> provider_status;  // a non-success BaaS answer, if any
  // With FINISHED: the job's settlement from this answer (kPending while the bank has still to
  // settle, absent when final at once) and when the settlement follower first looks it up; a
  // FINISHED completion also clears settled_at and return_code (of an earlier presentment).
  // RETRY and FAILED leave the settlement columns as they are.
  std::optional<SettlementStatus> settlement_status;
  std::optional<Timestamp> settlement_check_at;
  // The transfer's next occurrences up to the horizon (sequence > the transfer's last_sequence
  // when claimed), planned under `planned_end`. Inserted, for a transfer still ACTIVE or PAUSED
  // whose end is still planned_end, unless a job with the same (transfer, sequence) exists; the
  // transfer's last_sequence becomes the greatest sequence among them.
  std::vector<Job> new_jobs;
  ScheduleEnd planned_end;
  // The schedule has no occurrence after the last one created. A transfer whose schedule is
  // exhausted (next_occurrence_at NULL, as the database has it, whatever the plan said) and
  // every job terminal becomes COMPLETED; checked after an exhausted plan, after a terminal
  // outcome without new jobs, and when the end changed since the claim.
  bool schedule_exhausted = false;
  // due_at of the first occurrence after new_jobs (absent when exhausted): stored on the
  // transfer with last_sequence, when last_sequence moves forward.
  std::optional<Timestamp> next_occurrence_at;
  // The caller wants the job as written (the process endpoint answers with it); the built-in
  // loops do not, and a batch where none does reads no job back.
  bool return_job = true;
};

enum class CompletionStatus {
  kWritten,
  kLeaseLost,  // the job is no longer PROCESSING under this lease; nothing was written
};

struct CompletionResult {
  CompletionStatus status = CompletionStatus::kWritten;
  // The job after the write (absent unless return_job), or as found when the lease was lost.
  std::optional<Job> job;
};

struct DueClaimRequest {
  std::string lease_owner;  // shared by every job of the batch
  Timestamp now{};
  Timestamp lease_expires_at{};
  int limit = 100;
  bool pending = true;  // PENDING/IN_FLY with due_at <= now
  bool retries = true;  // RETRY with next_attempt_at <= now
  int max_retries = 3;
  // Only jobs of this provider (the jobs' `provider` column), so a provider that may not be
  // called now holds no lease and delays no other provider's jobs. Empty: any provider (each
  // provider's oldest jobs are read, then the oldest of all kept, so it reads more).
  std::string provider;
};

// New occurrences for a transfer, from the horizon extender.
struct Extension {
  std::string transfer_id;
  Timestamp now{};
  std::vector<Job> new_jobs;
  std::optional<Timestamp> next_occurrence_at;
  bool schedule_exhausted = false;
  ScheduleEnd planned_end;  // written only while the transfer's end is still this one
};

// --- Settlement and returns (SPEC section 8) ---

// A bank webhook event in the inbox (table bank_webhook_event): stored when the request is
// answered, applied afterwards by the settlement follower.
struct BankEventRecord {
  std::string id;  // UUIDv7
  std::string provider;
  std::string event_id;  // the bank's; empty when the bank gives none (never deduplicated)
  std::string event_type;
  std::optional<std::string> reference;  // the bank's transfer id, if the event is about one
  std::optional<Rail> rail;
  std::optional<std::string> payload;  // the transfer's state the event carried (JSON text)
  Timestamp received_at{};
  int attempts = 0;  // claims so far, this one included
};

// What a bank said of one followed transfer, and the rules to apply it by.
struct SettlementUpdate {
  std::string provider;
  std::optional<std::string> job_id;  // polling knows the job; a webhook finds it by reference
  std::string reference;              // the bank's transfer id: must still be the job's
  // kUnknown: the follow window ran out (applies only to a pending job).
  SettlementStatus settlement = SettlementStatus::kPending;
  std::string bank_status;
  std::optional<std::string> return_code;  // kReturned
  std::optional<std::string> code;         // kCanceled: the bank's reason
  std::optional<std::string> message;
  std::optional<Timestamp> settled_at;
  std::optional<int> http_status;
  std::optional<std::string> response_body;
  Timestamp now{};
  std::optional<Timestamp> next_check_at;  // still pending: when the follower looks again
  // The return rules: re-presentment of R01/R09 and the pause on an account-level return.
  int represent_max = 0;
  std::chrono::seconds represent_after{std::chrono::hours(72)};
  bool pause_on_account_return = true;
  // The inbox event this update comes from: marked applied (with the outcome) in the same
  // transaction, so an event is applied once even across a crash.
  std::optional<std::string> bank_event_id;
};

enum class SettlementOutcome {
  kApplied,          // the job's settlement moved forward
  kRepresented,      // returned R01/R09 and presented again: RETRY, presentment + 1
  kTransferPaused,   // returned for an account-level reason: RETURNED, and its transfer PAUSED
  kUnchanged,        // nothing new: a duplicate, a late or out-of-order event, still pending
  kNotFollowed,      // the job was not accepted by the bank (declined, failed, ...): ignored
  kUnknownTransfer,  // no job of this provider has this reference
};
std::string_view to_string(SettlementOutcome o);  // "applied", "represented", ...

struct SettlementResult {
  SettlementOutcome outcome = SettlementOutcome::kUnknownTransfer;
  std::optional<Job> job;  // the job after the update (absent for kUnknownTransfer)
};

// --- Events to the main API (SPEC section 8) ---
//
// Every state change a client cares about writes an event in the same transaction (the outbox,
// table `event`; store/events.hpp names the types and builds them from the rows as written). A
// dispatcher fans each event out to the endpoints registered at the time (one
// `webhook_delivery` per endpoint whose filter matches) and delivers them; the outbox is not
// part of the backup.

enum class EndpointStatus { kEnabled, kDisabled };
std::string_view to_string(EndpointStatus s);  // "enabled", "disabled"

struct WebhookEndpoint {
  std::string id;  // UUIDv7
  std::string url;
  std::optional<std::string> description;
  std::vector<std::string> event_types;  // empty: every type
  // `whsec_` + base64 of 24 random bytes. Only create and rotate answers show it.
  std::string secret;
  // After a rotation the old secret signs too (a second signature) until it expires.
  std::optional<std::string> previous_secret;
  std::optional<Timestamp> previous_secret_expires_at;
  EndpointStatus status = EndpointStatus::kEnabled;
  // The first failed attempt since the last delivered one; cleared by a delivered attempt.
  std::optional<Timestamp> failing_since;
  std::optional<Timestamp> disabled_at;
  Timestamp created_at{};
  Timestamp updated_at{};
};

struct Event {
  std::string id;    // UUIDv7, the `webhook-id` of every try of every delivery of it
  std::string type;  // "job.succeeded", ...
  std::optional<std::string> transfer_id;  // the transfer it concerns (events are in order per
                                           // transfer); absent for an endpoint's own event
  std::optional<std::string> job_id;
  Timestamp created_at{};
  std::string data;  // the job or transfer object as written by the change (JSON text)
};

enum class DeliveryStatus { kPending, kDelivered, kFailed };
std::string_view to_string(DeliveryStatus s);  // "pending", "delivered", "failed"

struct WebhookDeliveryRecord {
  std::string id;  // UUIDv7
  std::string event_id;
  std::string event_type;
  std::string endpoint_id;
  std::optional<std::string> transfer_id;
  DeliveryStatus status = DeliveryStatus::kPending;
  int attempts = 0;
  Timestamp next_attempt_at{};
  std::optional<Timestamp> last_attempt_at;
  std::optional<int> last_http_status;  // the last attempt's answer (absent: none came)
  std::optional<std::string> last_error;
  std::optional<std::string> replay_of;  // the delivery a replay copies
  Timestamp created_at{};
  std::optional<Timestamp> finished_at;  // delivered or failed
};

// The next_attempt_at of a pending delivery that waits: for an earlier pending delivery of its
// transfer to the same endpoint (set by fan_out_events), or for its endpoint to be enabled again
// (set when the endpoint is disabled). Never due, so a claim's scan of the due deliveries passes
// over a dead endpoint's backlog instead of reading it every round; finishing the earlier
// delivery, or enabling the endpoint, makes it due. The API shows it as "waiting": true with a
// null next_attempt_at.
inline constexpr Timestamp kDeliveryWaiting{
    std::chrono::sys_days{std::chrono::year{9999} / 12 / 31}};

// One claimed delivery with what sending it needs.
struct DeliveryTask {
  WebhookDeliveryRecord delivery;
  Event event;
  std::string url;
  std::vector<std::string> secrets;  // current first, then a previous one not yet expired
};

// What one attempt gave.
struct DeliveryAttempt {
  std::string delivery_id;
  std::string lease;  // the claim's, which must still hold (else nothing is written)
  Timestamp now{};
  bool delivered = false;  // a 2xx answer
  std::optional<int> http_status;
  std::optional<std::string> error;
  // Not delivered: when to try again; absent: the delivery has failed for good.
  std::optional<Timestamp> next_attempt_at;
};

// What a fan-out may lease to its caller (Store::fan_out_and_lease): up to `limit` of the
// deliveries it creates, under `lease` until `until`, as a claim would have leased them.
struct FanOutLease {
  std::string lease;
  Timestamp until{};
  int limit = 0;  // 0: none (every delivery is left to the claims)
};

struct FanOut {
  int events = 0;                    // fanned out
  std::vector<DeliveryTask> leased;  // created leased to the caller, oldest event first
};

// What finish_webhook_deliveries wrote for one attempt.
struct DeliveryOutcome {
  bool written = false;  // false: the lease was lost (another claim has it); nothing written
  // The endpoint was disabled by this attempt: it had failed since at least
  // `disable_after` ago. A `webhook_endpoint.disabled` event was written with it.
  bool endpoint_disabled = false;
};

struct DeliveryFilter {
  std::optional<std::string> endpoint_id;
  std::optional<DeliveryStatus> status;
  int limit = 50;  // 1..500, validated by the caller
  std::optional<std::string> cursor;
};

struct EventBacklog {
  int64_t pending = 0;  // deliveries pending + events not fanned out, each counted up to the cap
  std::optional<Timestamp> oldest;  // created_at of the oldest event not yet delivered
};

enum class TransferAction { kPause, kResume, kCancel };

// A live subscription (see Store::subscribe_jobs_due); it stops listening when destroyed.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

// Reads jobs by id for a thread that must never wait on a connection pool or a network round
// trip: the HTTP IO threads answer the process endpoint for jobs that are already terminal with
// it. Each reader has its own connection; not thread-safe (one reader per thread at a time).
class JobReader {
 public:
  virtual ~JobReader() = default;
  // Each job as last committed, in the order of `ids` (nullopt where there is none), all read in
  // one read transaction. An error when the read cannot be done at once (the database busy, an
  // I/O error): the caller then takes its ordinary path.
  virtual Result<std::vector<std::optional<Job>>> get_jobs(std::span<const std::string> ids) = 0;
};

// What Store::migrate() did: the migrations it applied now (none when the schema was up to
// date), and the schema version the database is at afterwards.
struct MigrationReport {
  std::vector<int> applied;
  int version = 0;
};

// One migration as Store::migration_status() sees it: known to this binary, applied to the
// database, or both. A version applied but unknown here was applied by a newer binary (a rolling
// upgrade in progress); one known but not applied is pending.
struct MigrationState {
  int version = 0;
  bool known = false;                     // this binary has the migration
  std::string description;                // empty when not known
  std::optional<std::string> applied_at;  // as the database recorded it; nullopt: pending
};

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite" or "postgresql".
  virtual std::string_view backend() const = 0;

  // Applies the versioned migrations not yet applied (idempotent; safe from several processes).
  virtual Result<MigrationReport> migrate() = 0;
  // Every migration known or applied, by version. Read only: applies nothing and takes no lock a
  // running server or a migrator waits on (an unmigrated database lists every one as pending).
  virtual Result<std::vector<MigrationState>> migration_status() = 0;
  // A cheap round trip proving the database answers (for /readyz).
  virtual Result<void> ping() = 0;

  // --- Recurring transfers ---

  // Inserts the transfer and its first jobs in one transaction. When the transfer carries an
  // idempotency_key that is already stored, nothing is inserted and the stored transfer is
  // returned with created = false (the caller compares request_hash).
  // `actor` (the caller's name, or empty) is recorded in the transfer's history, as it is by
  // every change of a client below.
  virtual Result<CreateTransferResult> create_transfer(const RecurringTransfer& transfer,
                                                       const std::vector<Job>& jobs,
                                                       std::string_view actor = {}) = 0;
  virtual Result<std::optional<RecurringTransfer>> get_transfer(std::string_view id) = 0;
  virtual Result<Page<RecurringTransfer>> list_transfers(const TransferFilter& filter) = 0;

  // Changes the terms of an ACTIVE or PAUSED transfer whose version is
  // patch.expected_version: version + 1, and a history row of what changed. Jobs claimed before
  // keep the terms their claim pinned (an attempt never changes under its idempotency key):
  // the change reaches the jobs claimed after it, which is every PENDING job and every later
  // occurrence. Jobs claimed by a binary older than the pinning (terms still NULL) are pinned
  // to the old terms here. kNotFound; kPreconditionFailed, field "If-Match", reason
  // "version_mismatch" for another version; kConflict, reason "transfer_final", once
  // CANCELLED or COMPLETED. A patch changing nothing answers the transfer as it is.
  // A new schedule end re-plans the occurrences (patch.plan, called with the transfer locked):
  // the PENDING jobs never claimed past the new end are deleted, the new occurrences up to the
  // horizon inserted, last_sequence and next_occurrence_at set, and the transfer COMPLETED when
  // the new end is reached and every job is terminal. A job past the new end that is not such
  // a job (claimed, finished, skipped) refuses the whole patch: kConflict, reason
  // "occurrence_past_end", field "schedule.end_date" or "schedule.count".
  virtual Result<RecurringTransfer> patch_transfer(std::string_view id, const TransferPatch& patch,
                                                   Timestamp now, std::string_view actor) = 0;

  // The transfer's history, newest first, `limit` 1..500 a page. kNotFound for an unknown
  // transfer.
  virtual Result<Page<TransferChange>> list_transfer_changes(std::string_view transfer_id,
                                                             int limit,
                                                             std::optional<std::string> cursor) = 0;

  // --- Jobs ---

  virtual Result<std::optional<Job>> get_job(std::string_view id) = 0;
  virtual Result<Page<Job>> list_jobs(const JobFilter& filter) = 0;
  // Oldest first.
  virtual Result<std::vector<ProviderStatus>> list_provider_statuses(std::string_view job_id) = 0;

  // Atomically moves a due job to PROCESSING (or SKIPPED, see ClaimStatus). Due: PENDING or
  // IN_FLY with due_at <= now; RETRY with next_attempt_at <= now; PROCESSING whose lease expired
  // (claimed with retries = min(retries + 1, max_retries): the rescue counts as a retry).
  // "now" and the lease: the database's clock on PostgreSQL (see the top of this file).
  // A due job of a CANCELLED transfer, whatever its state, becomes CANCELLED (kTerminal): it
  // never reaches the bank. Of a PAUSED transfer, a PENDING/IN_FLY job becomes SKIPPED; a RETRY
  // or lease-expired one (an attempt may have reached the bank) is left as it is, kNotDue, and
  // is claimed once the transfer is resumed (decide_claim has the rules).
  virtual Result<ClaimResult> claim_job(const ClaimRequest& request) = 0;

  // Writes many processing outcomes (see Completion) in ONE transaction: group commit, one
  // commit (one fsync) for the batch. Each completion is applied exactly as it would be alone,
  // independently: one whose lease was lost writes nothing (kLeaseLost, with the job as found)
  // and does not affect the others. Results are in input order. The transfer of a completion
  // that lost its lease is never marked COMPLETED by it. On an error nothing of the batch is
  // written (the jobs stay PROCESSING under their leases, so the rescuer re-attempts them with
  // the same idempotency key); a caller may retry the completions one by one to isolate a bad
  // one. An empty batch does nothing.
  virtual Result<std::vector<CompletionResult>> complete_jobs(
      std::span<const Completion> completions) = 0;

  // One outcome: complete_jobs with a batch of one.
  Result<CompletionResult> complete_job(const Completion& completion) {
    auto written = complete_jobs(std::span<const Completion>(&completion, 1));
    if (!written) return std::unexpected(std::move(written.error()));
    return std::move(written->front());
  }

  // FAILED -> RETRY, due now, with retries reset to 0 (an operator's fresh round of retries).
  // kNotFound for an unknown job; kConflict, field "job_id", reason "transfer_cancelled" when
  // its transfer is CANCELLED, decided in the transaction of the update, so a concurrent cancel
  // is wholly before (refused) or wholly after (the RETRY job is cancelled with the others);
  // kConflict (reason "job_not_failed") for a job in any other state than FAILED.
  virtual Result<Job> retry_failed_job(std::string_view job_id, Timestamp now,
                                       std::string_view actor = {}) = 0;

  // An operator's skip of one occurrence (operator_may_skip): PENDING -> SKIPPED (finished_at =
  // now) in one conditional statement, with its job.skipped event, and the transfer COMPLETED
  // when this was its last occurrence. The transfer's later occurrences are created as ever
  // (the horizon extender, the next completion): a skipped job counts toward `count` and does
  // not stop the chain. kNotFound for an unknown job; kConflict, field "job_id", reason
  // "job_not_pending" for a job in any other state (a claim that came first wins).
  virtual Result<Job> skip_job(std::string_view job_id, Timestamp now,
                               std::string_view actor = {}) = 0;

  // --- The built-in loops (src/maintenance) ---

  // Claims up to `limit` due jobs in one statement, oldest due first, for the scheduler
  // (PENDING/IN_FLY with due_at <= now) and/or the retries loop (RETRY with next_attempt_at <=
  // now), all under one lease_owner, by claim_job's rules: due PENDING/IN_FLY jobs of a PAUSED
  // transfer become SKIPPED in the same statement and come back as kSkipped, due jobs of a
  // CANCELLED one CANCELLED (kTerminal), RETRY jobs of a PAUSED one are passed over (they wait);
  // claimed ones come back as kClaimed with their transfer. Concurrent callers (threads, processes,
  // instances) never get the same job: PostgreSQL uses FOR UPDATE SKIP LOCKED. With a
  // `provider`, only that provider's jobs are read (its own slice of each due index). "now" and
  // the lease: the database's clock on PostgreSQL, as for claim_job.
  virtual Result<std::vector<ClaimResult>> claim_due_jobs(const DueClaimRequest& request) = 0;

  // PROCESSING jobs whose lease expired before `now` (the database's, on PostgreSQL) -> RETRY,
  // retries = max(retries, min(retries + 1, max_retries)), lease cleared, last_error saying the
  // lease expired, and next_attempt_at = the lease's expiry: the job stays claimable from the
  // instant it was, so a claim that read the clock before the rescue committed still finds it
  // due. At most `limit` jobs, the oldest leases first; returns how many.
  virtual Result<int> rescue_expired_leases(Timestamp now, int max_retries, int limit) = 0;

  // The backlog at `now` (the database's, on PostgreSQL), for GET /metrics: PENDING/IN_FLY jobs
  // with due_at <= now, and RETRY jobs with next_attempt_at <= now, each counted up to `cap` (a
  // scrape stays cheap however large the backlog; a count equal to the cap means "at least").
  struct DueCounts {
    int64_t pending = 0;
    int64_t retry = 0;
  };
  virtual Result<DueCounts> count_due_jobs(Timestamp now, int64_t cap) = 0;

  // --- Live instances, which share each bank's rate limit (SPEC section 8, flow control) ---

  // Records that the instance `instance_id` is alive until now + ttl (inserting its row, or
  // moving its expiry), deletes the rows of instances whose expiry has passed, and returns how
  // many instances are live (expiry after now), the caller always among them: at least 1, even
  // with a ttl of 0. Each instance calls it more often than its ttl and divides a bank's limit
  // by the answer. One transaction.
  // PostgreSQL reads "now" from the database server's clock (now()), never from `now`, for the
  // expiry written and the comparison alike, so instances whose own clocks disagree still agree
  // on who is live. SQLite, one machine, uses `now`.
  virtual Result<int> heartbeat_instance(std::string_view instance_id, Timestamp now,
                                         std::chrono::milliseconds ttl) = 0;
  // Deletes the instance's row (a graceful shutdown), so the others count it out at their next
  // heartbeat instead of after its ttl. An unknown id is not an error.
  virtual Result<void> leave_instance(std::string_view instance_id) = 0;

  // --- Settlement and returns (SPEC section 8; rules in store/settlement_rules.hpp) ---

  // Applies what banks said of followed transfers, in ONE transaction, each as
  // store_detail::decide_settlement decides against the job and its transfer as they are in the
  // transaction (so a settled never overwrites a returned, a late pending never moves a job
  // back, whatever the order of arrival): the job's row, a provider-status row for every change,
  // the transfer's pause, and the inbox event's applied_at. Results in input order.
  virtual Result<std::vector<SettlementResult>> apply_settlements(
      std::span<const SettlementUpdate> updates) = 0;

  // Stores webhook events in the inbox, one transaction; an event whose (provider, event_id) is
  // already stored is not stored again. Returns, in input order, whether each was new.
  virtual Result<std::vector<bool>> accept_bank_events(std::span<const BankEventRecord> events) = 0;
  // Claims up to `limit` inbox events not yet applied whose next attempt is due at `now`, oldest
  // first, moving their next attempt to `retry_at` (a crashed claimer's events come back then)
  // and counting the attempt. Concurrent callers never get the same event.
  virtual Result<std::vector<BankEventRecord>> claim_bank_events(Timestamp now, Timestamp retry_at,
                                                                 int limit) = 0;
  // Settles an inbox event without a SettlementUpdate: applied (`retry_at` absent; `outcome`
  // says how, e.g. "not_a_transfer"), or to be tried again at `retry_at` with `error`.
  virtual Result<void> finish_bank_event(std::string_view id, Timestamp now,
                                         std::string_view outcome, std::optional<std::string> error,
                                         std::optional<Timestamp> retry_at) = 0;
  // Inbox events not yet applied, counted up to `cap` (for /metrics).
  virtual Result<int64_t> count_pending_bank_events(int64_t cap) = 0;
  // Deletes up to `limit` inbox events applied before `before` (kept until then to recognise a
  // bank's redelivery); returns how many.
  virtual Result<int> purge_bank_events(Timestamp before, int limit) = 0;

  // Claims up to `limit` of `provider`'s jobs whose settlement is pending and whose next look-up
  // is due at `now` (the caller's clock on both backends: it decides when to ask, never whether
  // money moves), oldest first, moving that look-up to
  // `check_again_at` so no other follower looks them up meanwhile.
  virtual Result<std::vector<Job>> claim_settlement_checks(std::string_view provider, Timestamp now,
                                                           Timestamp check_again_at, int limit) = 0;

  // --- Events to the main API (SPEC section 8) ---

  virtual Result<WebhookEndpoint> create_webhook_endpoint(const WebhookEndpoint& endpoint) = 0;
  virtual Result<std::optional<WebhookEndpoint>> get_webhook_endpoint(std::string_view id) = 0;
  // In creation order; limit 1..500.
  virtual Result<Page<WebhookEndpoint>> list_webhook_endpoints(
      int limit, std::optional<std::string> cursor) = 0;
  // Deletes the endpoint and its deliveries (pending ones are not sent). kNotFound if unknown.
  virtual Result<void> delete_webhook_endpoint(std::string_view id) = 0;
  // The endpoint's secret becomes `secret`; the current one becomes previous_secret until
  // `previous_expires_at` (replacing an earlier previous one). kNotFound if unknown.
  virtual Result<WebhookEndpoint> rotate_webhook_secret(std::string_view id, std::string secret,
                                                        Timestamp previous_expires_at,
                                                        Timestamp now) = 0;
  // An operator enables a disabled endpoint again (failing_since and disabled_at cleared), in
  // one transaction with its waiting deliveries that no earlier pending one of their transfer
  // holds back (the heads): due at `now`; the others keep waiting behind them. kNotFound if
  // unknown.
  virtual Result<WebhookEndpoint> enable_webhook_endpoint(std::string_view id, Timestamp now) = 0;

  // Fans out up to `limit` events not yet fanned out, oldest (id) first, in one transaction:
  // one pending delivery per ENABLED endpoint created at or before the event whose event_types
  // is empty or holds the event's type; the event is then fanned out (even to no endpoint). An
  // event written while no endpoint is enabled is born fanned out (its insert marks it: no
  // fan-out reads or writes it); the stores order that look with an endpoint's creation or
  // enabling so that every change committed after those committed has its events fanned out. The
  // delivery is due at `now`, or waits (kDeliveryWaiting) when its transfer already has a
  // pending delivery of an earlier event to that endpoint (one without a transfer never waits).
  // A missed wait (another instance's earlier delivery not committed yet) only costs the claims
  // a row to pass over; a delivery is never left waiting without a pending earlier one.
  // Concurrent callers never fan out the same event. Returns how many events.
  Result<int> fan_out_events(Timestamp now, int limit) {
    auto r = fan_out_and_lease(now, limit, FanOutLease{});
    if (!r) return std::unexpected(r.error());
    return r->events;
  }

  // fan_out_events, and up to `lease.limit` of the deliveries it creates are born claimed by
  // the caller (lease, lease_expires_at = next_attempt_at = lease.until, attempts 1), each one
  // the claim would take at once: due now, not held back by a pending earlier delivery of its
  // transfer to its endpoint (stored or in this batch), nor by an earlier event of its transfer
  // not fanned out yet (another fan-out's, still open). The rest are created as
  // fan_out_events creates them. A leased delivery comes back through the claims when its lease
  // runs out (a crash), as a claimed one does. Saves the claim's read and its update of the row.
  virtual Result<FanOut> fan_out_and_lease(Timestamp now, int limit, const FanOutLease& lease) = 0;

  // Claims up to `limit` pending deliveries due at `now` of enabled endpoints, oldest event
  // first, under `lease` until `lease_until` (a crashed dispatcher's deliveries come back
  // then), counting the attempt. A delivery is not claimed while an earlier event (id order) of
  // the same transfer is not fanned out yet, or has a pending delivery to the same endpoint
  // (claimed or not): per transfer and endpoint, in order. Concurrent callers never get the same
  // delivery (SKIP LOCKED on PostgreSQL). The scan reads the due deliveries only (an index on
  // next_attempt_at): waiting ones cost nothing.
  virtual Result<std::vector<DeliveryTask>> claim_webhook_deliveries(Timestamp now,
                                                                     std::string_view lease,
                                                                     Timestamp lease_until,
                                                                     int limit) = 0;

  // Writes attempts' outcomes in ONE transaction, each under its own lease: delivered (with
  // finished_at), pending again at next_attempt_at, or failed. A delivered attempt clears the
  // endpoint's failing_since; a failed one sets it if unset, and disables the endpoint (with
  // an event) when it is older than `now - disable_after`. A delivery that leaves pending
  // (delivered or failed) releases the next one of its transfer to its endpoint (the pending
  // one with the smallest later event id): due at the attempt's `now` if it was waiting. The
  // pending deliveries of an endpoint disabled by the batch (or before it) wait. Results in
  // input order.
  virtual Result<std::vector<DeliveryOutcome>> finish_webhook_deliveries(
      std::span<const DeliveryAttempt> attempts, std::chrono::seconds disable_after) = 0;

  // Newest first; with a filter by endpoint and/or status.
  virtual Result<Page<WebhookDeliveryRecord>> list_webhook_deliveries(
      const DeliveryFilter& filter) = 0;
  virtual Result<std::optional<WebhookDeliveryRecord>> get_webhook_delivery(
      std::string_view id) = 0;
  // A new pending delivery of the same event to the same endpoint, due now (replay_of = id):
  // it never waits, and holds back the transfer's later deliveries to the endpoint until it
  // leaves pending (then releasing the next one, as any delivery does).
  // kNotFound for an unknown delivery.
  virtual Result<WebhookDeliveryRecord> replay_webhook_delivery(std::string_view id,
                                                                Timestamp now) = 0;

  // Deletes up to `limit` events created before `before` that are fanned out and have no
  // pending delivery, with their deliveries; returns how many events.
  virtual Result<int> purge_events(Timestamp before, int limit) = 0;
  // For /metrics, counted up to `cap`.
  virtual Result<EventBacklog> event_backlog(int64_t cap) = 0;
  // Events in id order after `after` (all when absent), at most `limit`: for tests and for
  // an operator's look at the outbox.
  virtual Result<std::vector<Event>> list_events(std::optional<std::string> after, int limit) = 0;

  // ACTIVE or PAUSED transfers whose next_occurrence_at <= until, earliest first.
  virtual Result<std::vector<RecurringTransfer>> transfers_to_extend(Timestamp until,
                                                                     int limit) = 0;

  // Inserts the extension's jobs (never a duplicate (transfer, sequence)), moves the transfer's
  // last_sequence and next_occurrence_at forward (never back), and marks it COMPLETED when the
  // schedule is exhausted and every job is terminal. Returns how many jobs were inserted.
  // extend_transfers does so for many transfers in one transaction, all or none: an unknown
  // transfer (kNotFound) or a job of another transfer (kInvalidArgument) writes nothing.
  virtual Result<int> extend_transfers(std::span<const Extension> extensions) = 0;
  Result<int> extend_transfer(const Extension& extension) {
    return extend_transfers(std::span<const Extension>(&extension, 1));
  }

  // kPause: ACTIVE -> PAUSED. kResume: PAUSED -> ACTIVE. kCancel: ACTIVE or PAUSED ->
  // CANCELLED, and its PENDING, IN_FLY and RETRY jobs -> CANCELLED (finished_at = now) in the
  // same transaction. kNotFound for an unknown transfer; kConflict with reason
  // "invalid_transition" from any other status. Returns the transfer after the change.
  virtual Result<RecurringTransfer> change_transfer_status(std::string_view id,
                                                           TransferAction action, Timestamp now,
                                                           std::string_view actor = {}) = 0;

  // Calls `on_jobs_due` from an internal thread whenever any store sharing the database has
  // created or re-armed jobs that are due now (new due jobs, a retried or rescued job, a resumed
  // transfer), and once after the channel reconnects, since wake-ups may have been missed then.
  // A hint, not a queue: calls may be coalesced or spurious, so pollers keep polling. Destroying
  // the Subscription stops the calls (never destroy it from inside `on_jobs_due`). nullptr when
  // the backend has no such channel (SQLite: a single process wakes its own loops).
  // NOLINTNEXTLINE(performance-unnecessary-value-param): a sink, kept by the overrides
  virtual std::unique_ptr<Subscription> subscribe_jobs_due(std::function<void()> on_jobs_due) {
    (void)on_jobs_due;
    return nullptr;
  }

  // A JobReader on its own connection, or nullptr when this backend's reads are network round
  // trips (PostgreSQL) or share the writer (an in-memory SQLite database): those belong on the
  // blocking pool.
  virtual std::unique_ptr<JobReader> open_job_reader() { return nullptr; }

  // --- The operator console's overview (sqlite_overview.cpp, pg_overview.cpp) ---

  struct OutcomeCount {
    Timestamp hour{};  // the UTC hour finished_at falls in
    JobStatus status = JobStatus::kFinished;
    std::optional<JobResult> result;
    int64_t count = 0;
  };
  // Jobs that finished at or after `since` (any terminal status), counted by the UTC hour of
  // finished_at, status and result; oldest hour first. A scan of the finished jobs: meant for
  // a window of a day, polled by an operator's page, not by the loops.
  virtual Result<std::vector<OutcomeCount>> count_outcomes(Timestamp since) = 0;
  // Jobs at a bank now (PROCESSING, under a lease), on every instance sharing the database,
  // counted up to `cap`. (rtjobs never writes IN_FLY: a claim goes from PENDING or RETRY to
  // PROCESSING in one statement.)
  virtual Result<int64_t> count_in_flight(int64_t cap) = 0;
};

// Opens the store named by a database URL: "sqlite://path/to/file.db" (relative to the working
// directory; "sqlite://:memory:" for an in-memory database) or "postgresql://..." /
// "postgres://..." (a libpq connection URI). An unsupported scheme is kInvalidArgument with
// field "RT_DATABASE_URL".
Result<std::unique_ptr<Store>> open_store(std::string_view database_url);

}  // namespace rtjobs
