#include "store/sqlite/sqlite_schema.hpp"

#include <array>

namespace rtjobs::store_detail {
namespace {

// STRICT tables make SQLite enforce the column types (money stays INTEGER). Instants are TEXT
// "YYYY-MM-DDTHH:MM:SS.mmmZ", which sorts as time does; dates TEXT "YYYY-MM-DD".
constexpr const char* kMigration1 = R"sql(
CREATE TABLE recurring_transfer (
  id TEXT PRIMARY KEY NOT NULL,
  external_id TEXT,
  provider TEXT NOT NULL,
  source_account TEXT NOT NULL,
  destination_account TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  description TEXT NOT NULL,
  frequency TEXT NOT NULL CHECK (frequency IN ('DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY')),
  "interval" INTEGER NOT NULL CHECK ("interval" >= 1),
  day_of_week INTEGER,
  day_of_month INTEGER,
  "month" INTEGER,
  start_date TEXT NOT NULL,
  end_date TEXT,
  "count" INTEGER,
  timezone TEXT NOT NULL,
  execution_time TEXT NOT NULL,
  business_day TEXT NOT NULL,
  calendar TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'PAUSED', 'CANCELLED', 'COMPLETED')),
  last_sequence INTEGER NOT NULL DEFAULT 0,
  next_occurrence_at TEXT,
  idempotency_key TEXT UNIQUE,
  request_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX recurring_transfer_status_idx ON recurring_transfer (status, id);
-- The horizon extender's scan: transfers whose next occurrence is not created yet.
CREATE INDEX recurring_transfer_extend_idx ON recurring_transfer (next_occurrence_at, id)
  WHERE status IN ('ACTIVE', 'PAUSED');

CREATE TABLE recurring_transfer_job (
  id TEXT PRIMARY KEY NOT NULL,
  recurring_transfer_id TEXT NOT NULL REFERENCES recurring_transfer (id),
  sequence INTEGER NOT NULL CHECK (sequence >= 1),
  scheduled_for TEXT NOT NULL,
  due_at TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('PENDING', 'IN_FLY', 'PROCESSING', 'RETRY', 'FINISHED',
                                         'FAILED', 'SKIPPED', 'CANCELLED')),
  result TEXT CHECK (result IN ('SUCCEEDED', 'DECLINED')),
  retries INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  provider TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  provider_reference TEXT,
  last_error TEXT,
  lease_owner TEXT,
  lease_expires_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  finished_at TEXT,
  UNIQUE (recurring_transfer_id, sequence)
) STRICT;
-- The loops' scans (claim_due_jobs, rescue_expired_leases): each partial index holds only the
-- jobs of its states, keyed by the time they become due, so a scan reads them in due order and
-- stops at the first one not due yet.
CREATE INDEX recurring_transfer_job_due_idx ON recurring_transfer_job (due_at)
  WHERE status IN ('PENDING', 'IN_FLY');
CREATE INDEX recurring_transfer_job_retry_idx ON recurring_transfer_job (next_attempt_at)
  WHERE status = 'RETRY';
CREATE INDEX recurring_transfer_job_lease_idx ON recurring_transfer_job (lease_expires_at)
  WHERE status = 'PROCESSING';
CREATE INDEX recurring_transfer_job_status_idx ON recurring_transfer_job (status, id);

-- No ON DELETE CASCADE: the backup deletes status rows explicitly, after verifying the upload.
CREATE TABLE recurring_transfer_provider_status (
  id TEXT PRIMARY KEY NOT NULL,
  job_id TEXT NOT NULL REFERENCES recurring_transfer_job (id),
  recurring_transfer_id TEXT NOT NULL REFERENCES recurring_transfer (id),
  provider TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  http_status INTEGER,
  code TEXT,
  message TEXT,
  response_body TEXT,
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX recurring_transfer_provider_status_job_idx
  ON recurring_transfer_provider_status (job_id, id);

CREATE TABLE recurring_transfer_backup (
  id TEXT PRIMARY KEY NOT NULL,
  backup_at TEXT NOT NULL,
  cutoff TEXT NOT NULL,
  job_rows INTEGER NOT NULL,
  provider_status_rows INTEGER NOT NULL,
  objects TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  checksums TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX recurring_transfer_backup_at_idx ON recurring_transfer_backup (backup_at);
)sql";

// SPEC section 8: a transfer's payment rail and its adapter's options (the JSON object's text),
// and the bank's own status of a job's transfer. Columns only, each with a default, so a binary
// built before them keeps working: it names the columns it reads and writes.
constexpr const char* kMigration2 = R"sql(
ALTER TABLE recurring_transfer ADD COLUMN rail TEXT NOT NULL DEFAULT 'book'
  CHECK (rail IN ('book', 'ach'));
ALTER TABLE recurring_transfer ADD COLUMN provider_options TEXT;
ALTER TABLE recurring_transfer_job ADD COLUMN bank_status TEXT;
)sql";

// SPEC section 8, flow control. The due jobs' partial indexes keyed (provider, time), same names
// and states, so the loops claim one provider's due jobs by reading only that provider's (see
// store/due_index.hpp). And the live instances that share each bank's rate limit: one row per
// instance, which it keeps alive with heartbeats; not part of backups.
constexpr const char* kMigration3 = R"sql(
DROP INDEX recurring_transfer_job_due_idx;
CREATE INDEX recurring_transfer_job_due_idx ON recurring_transfer_job (provider, due_at)
  WHERE status IN ('PENDING', 'IN_FLY');
DROP INDEX recurring_transfer_job_retry_idx;
CREATE INDEX recurring_transfer_job_retry_idx ON recurring_transfer_job (provider, next_attempt_at)
  WHERE status = 'RETRY';

CREATE TABLE rtjobs_instance (
  id TEXT PRIMARY KEY NOT NULL,
  expires_at TEXT NOT NULL,
  started_at TEXT NOT NULL
) STRICT;
)sql";

// SPEC section 8, settlement and returns: the job's settlement columns, the transfer's
// status_reason, and the inbox of bank webhook events (kept until applied, then for dedupe).
// A result RETURNED: SQLite cannot alter a CHECK constraint, and rebuilding the jobs table would
// rewrite every row, so the table's stored definition is edited in place, the procedure the
// SQLite documentation gives for a change that only widens a constraint (every stored row
// already meets the new one); the runner then bumps schema_version (bump_schema_version).
constexpr const char* kMigration4 = R"sql(
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (result IN (''SUCCEEDED'', ''DECLINED''))',
  'CHECK (result IN (''SUCCEEDED'', ''DECLINED'', ''RETURNED''))')
  WHERE type = 'table' AND name = 'recurring_transfer_job';
PRAGMA writable_schema = OFF;
ALTER TABLE recurring_transfer ADD COLUMN status_reason TEXT;
ALTER TABLE recurring_transfer_job ADD COLUMN settlement_status TEXT
  CHECK (settlement_status IN ('pending', 'settled', 'returned', 'canceled', 'unknown'));
ALTER TABLE recurring_transfer_job ADD COLUMN settled_at TEXT;
ALTER TABLE recurring_transfer_job ADD COLUMN return_code TEXT;
ALTER TABLE recurring_transfer_job ADD COLUMN presentment INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recurring_transfer_job ADD COLUMN settlement_check_at TEXT;
-- The settlement follower's scan (the pending transfers to look up, per provider), and the
-- look-up of a bank's webhook by the bank's transfer id.
CREATE INDEX recurring_transfer_job_settlement_idx
  ON recurring_transfer_job (provider, settlement_check_at) WHERE settlement_status = 'pending';
CREATE INDEX recurring_transfer_job_reference_idx
  ON recurring_transfer_job (provider, provider_reference) WHERE provider_reference IS NOT NULL;

CREATE TABLE bank_webhook_event (
  id TEXT PRIMARY KEY NOT NULL,
  provider TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  reference TEXT,
  rail TEXT,
  payload TEXT,
  received_at TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  applied_at TEXT,
  outcome TEXT,
  last_error TEXT
) STRICT;
CREATE UNIQUE INDEX bank_webhook_event_dedupe_idx ON bank_webhook_event (provider, event_id)
  WHERE event_id <> '';
CREATE INDEX bank_webhook_event_due_idx ON bank_webhook_event (next_attempt_at)
  WHERE applied_at IS NULL;
CREATE INDEX bank_webhook_event_applied_idx ON bank_webhook_event (applied_at)
  WHERE applied_at IS NOT NULL;
)sql";

// SPEC section 8, events to the main API: the outbox (event), written in the transaction of
// each change, the endpoints that receive it and one delivery per event and endpoint. No foreign
// key from event to the jobs' tables: the backup deletes jobs, their events stay until sent. The
// partial indexes hold only the work left: events not fanned out yet, pending deliveries.
constexpr const char* kMigration5 = R"sql(
CREATE TABLE event (
  id TEXT PRIMARY KEY NOT NULL,
  type TEXT NOT NULL,
  recurring_transfer_id TEXT,
  job_id TEXT,
  created_at TEXT NOT NULL,
  data TEXT NOT NULL,
  fanned_out INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX event_unfanned_idx ON event (id) WHERE fanned_out = 0;
CREATE INDEX event_transfer_unfanned_idx ON event (recurring_transfer_id, id)
  WHERE fanned_out = 0;
CREATE INDEX event_created_idx ON event (created_at);

CREATE TABLE webhook_endpoint (
  id TEXT PRIMARY KEY NOT NULL,
  url TEXT NOT NULL,
  description TEXT,
  event_types TEXT NOT NULL DEFAULT '',
  secret TEXT NOT NULL,
  previous_secret TEXT,
  previous_secret_expires_at TEXT,
  status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
  failing_since TEXT,
  disabled_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE webhook_delivery (
  id TEXT PRIMARY KEY NOT NULL,
  event_id TEXT NOT NULL REFERENCES event (id) ON DELETE CASCADE,
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoint (id) ON DELETE CASCADE,
  event_type TEXT NOT NULL,
  recurring_transfer_id TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  lease TEXT,
  lease_expires_at TEXT,
  last_attempt_at TEXT,
  last_http_status INTEGER,
  last_error TEXT,
  replay_of TEXT,
  created_at TEXT NOT NULL,
  finished_at TEXT
) STRICT;
-- The dispatcher's scan (due pending deliveries), its order per transfer and endpoint (an
-- earlier event's pending delivery holds the later ones back), the deliveries of an endpoint
-- (its list, and the cascade of its deletion) and of an event (the purge, the cascade).
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX webhook_delivery_order_idx
  ON webhook_delivery (endpoint_id, recurring_transfer_id, event_id) WHERE status = 'pending';
CREATE INDEX webhook_delivery_endpoint_idx ON webhook_delivery (endpoint_id, id);
CREATE INDEX webhook_delivery_event_idx ON webhook_delivery (event_id);
)sql";

// Backup runs (POST /v1/backups answers 202 with one; GET /v1/backups/{id}): one row per run,
// written by the process running it with a heartbeat (backup_store.hpp). The partial index is
// the look-up of the run in progress. Not part of backups.
constexpr const char* kMigration6 = R"sql(
CREATE TABLE backup_run (
  id TEXT PRIMARY KEY NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  phase TEXT NOT NULL,
  forced INTEGER NOT NULL,
  job_rows INTEGER NOT NULL,
  provider_status_rows INTEGER NOT NULL,
  uploaded_bytes INTEGER NOT NULL,
  deleted_job_rows INTEGER NOT NULL,
  deleted_provider_status_rows INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  result TEXT,
  error TEXT,
  heartbeat_at TEXT NOT NULL
) STRICT;
CREATE INDEX backup_run_running_idx ON backup_run (started_at) WHERE status = 'running';
)sql";

// Job::outcome_unknown: a RETRY job whose last attempt may have been executed by the bank. A
// cancel leaves such a job for one more look at the bank (state_machine.hpp, cancel_ends).
constexpr const char* kMigration7 = R"sql(
ALTER TABLE recurring_transfer_job
  ADD COLUMN outcome_unknown INTEGER NOT NULL DEFAULT 0 CHECK (outcome_unknown IN (0, 1));
)sql";

// Changing a transfer's terms (PATCH): `version` is its ETag, +1 on every change; a job's
// `amount` and `description` are the transfer's as the job's first claim read them (NULL until
// then), so every attempt under the job's idempotency key sends the same terms; every change
// by a client is a row of recurring_transfer_change, whose `changes` is a JSON object of
// {"field": {"before": ..., "after": ...}}. job_id has no foreign key: the backup deletes jobs.
constexpr const char* kMigration8 = R"sql(
ALTER TABLE recurring_transfer ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE recurring_transfer_job ADD COLUMN amount INTEGER;
ALTER TABLE recurring_transfer_job ADD COLUMN description TEXT;
CREATE TABLE recurring_transfer_change (
  id TEXT PRIMARY KEY NOT NULL,
  recurring_transfer_id TEXT NOT NULL REFERENCES recurring_transfer (id),
  job_id TEXT,
  action TEXT NOT NULL,
  actor TEXT,
  changes TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX recurring_transfer_change_transfer_idx
  ON recurring_transfer_change (recurring_transfer_id, id);
)sql";

constexpr std::array<SqliteMigration, 8> kMigrations{
    {{1, kMigration1, false, "transfers, jobs, provider statuses, backups"},
     {2, kMigration2, false, "rail, provider_options, bank_status"},
     {3, kMigration3, false, "due indexes keyed by provider; instances sharing bank limits"},
     {4, kMigration4, true,
      "settlement and returns: RETURNED, settlement columns, bank webhook inbox"},
     {5, kMigration5, false, "outbox: events, webhook endpoints and deliveries"},
     {6, kMigration6, false, "backup runs"},
     {7, kMigration7, false, "job outcome_unknown"},
     {8, kMigration8, false, "transfer version, job terms at claim, transfer change history"}}};

}  // namespace

std::span<const SqliteMigration> sqlite_migrations() { return kMigrations; }

}  // namespace rtjobs::store_detail
