#include "store/postgres/pg_schema.hpp"

#include <array>

namespace rtjobs::store_detail {
namespace {

constexpr const char* kMigration1 = R"sql(
CREATE TABLE recurring_transfer (
  id uuid PRIMARY KEY,
  external_id text,
  provider text NOT NULL,
  source_account text NOT NULL,
  destination_account text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  description text NOT NULL,
  frequency text NOT NULL CHECK (frequency IN ('DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY')),
  "interval" integer NOT NULL CHECK ("interval" >= 1),
  day_of_week integer,
  day_of_month integer,
  "month" integer,
  start_date date NOT NULL,
  end_date date,
  "count" integer,
  timezone text NOT NULL,
  execution_time text NOT NULL,
  business_day text NOT NULL,
  calendar text NOT NULL,
  status text NOT NULL CHECK (status IN ('ACTIVE', 'PAUSED', 'CANCELLED', 'COMPLETED')),
  last_sequence bigint NOT NULL DEFAULT 0,
  next_occurrence_at timestamptz,
  idempotency_key text UNIQUE,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX recurring_transfer_status_idx ON recurring_transfer (status, id);
-- The horizon extender's scan: transfers whose next occurrence is not created yet.
CREATE INDEX recurring_transfer_extend_idx ON recurring_transfer (next_occurrence_at, id)
  WHERE status IN ('ACTIVE', 'PAUSED');

CREATE TABLE recurring_transfer_job (
  id uuid PRIMARY KEY,
  recurring_transfer_id uuid NOT NULL REFERENCES recurring_transfer (id),
  sequence bigint NOT NULL CHECK (sequence >= 1),
  scheduled_for date NOT NULL,
  due_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('PENDING', 'IN_FLY', 'PROCESSING', 'RETRY', 'FINISHED',
                                         'FAILED', 'SKIPPED', 'CANCELLED')),
  result text CHECK (result IN ('SUCCEEDED', 'DECLINED')),
  retries integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  provider text NOT NULL,
  idempotency_key text NOT NULL,
  provider_reference text,
  last_error text,
  lease_owner text,
  lease_expires_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  finished_at timestamptz,
  UNIQUE (recurring_transfer_id, sequence)
);
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
  id uuid PRIMARY KEY,
  job_id uuid NOT NULL REFERENCES recurring_transfer_job (id),
  recurring_transfer_id uuid NOT NULL REFERENCES recurring_transfer (id),
  provider text NOT NULL,
  attempt integer NOT NULL,
  http_status integer,
  code text,
  message text,
  response_body text,
  created_at timestamptz NOT NULL
);
CREATE INDEX recurring_transfer_provider_status_job_idx
  ON recurring_transfer_provider_status (job_id, id);

-- objects and checksums are JSON kept as text, so the backup CSV is byte-identical to SQLite's.
CREATE TABLE recurring_transfer_backup (
  id uuid PRIMARY KEY,
  backup_at timestamptz NOT NULL,
  cutoff timestamptz NOT NULL,
  job_rows bigint NOT NULL,
  provider_status_rows bigint NOT NULL,
  objects text NOT NULL,
  bytes bigint NOT NULL,
  checksums text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX recurring_transfer_backup_at_idx ON recurring_transfer_backup (backup_at);

-- Raises when a completion's lease check matched no row, aborting the rest of its pipeline
-- (and so its transaction) before anything else is written.
CREATE FUNCTION rtjobs_require_lease(matched bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF matched = 0 THEN
    RAISE EXCEPTION 'job lease lost' USING ERRCODE = 'RTL01';
  END IF;
  RETURN true;
END
$$;
)sql";

// complete_jobs makes each completion's writes conditional on its lease check instead of
// raising, so one lost lease no longer aborts a batch: the function is unused.
constexpr const char* kMigration2 = R"sql(
DROP FUNCTION IF EXISTS rtjobs_require_lease(bigint);
)sql";

// The hot path's writes, cheaper:
// - Free room in every page (fillfactor) lets a job's two updates (claimed, then finished) and a
//   transfer's (its next occurrence) stay on their page: no new page, and no lock record that
//   an update moving its row to another page writes first.
// - A lease owner is set only while a job is PROCESSING, as every transition already did; the
//   constraint lets the completion match a job by id and lease owner alone, so its plan is a
//   primary key lookup per completion whatever the statistics say of PROCESSING jobs.
constexpr const char* kMigration3 = R"sql(
ALTER TABLE recurring_transfer_job SET (fillfactor = 60);
ALTER TABLE recurring_transfer SET (fillfactor = 80);
ALTER TABLE recurring_transfer_job ADD CONSTRAINT recurring_transfer_job_lease_owner_check
  CHECK (lease_owner IS NULL OR status = 'PROCESSING');
)sql";

// The same integrity, checked once per deleted job instead of twice: NO ACTION first looks for
// another job with the same id (which a primary key cannot have), RESTRICT does not. The
// backup deletes every job's status rows before the job, so the check always finds none.
constexpr const char* kMigration4 = R"sql(
ALTER TABLE recurring_transfer_provider_status
  DROP CONSTRAINT recurring_transfer_provider_status_job_id_fkey,
  ADD CONSTRAINT recurring_transfer_provider_status_job_id_fkey FOREIGN KEY (job_id)
    REFERENCES recurring_transfer_job (id) ON DELETE RESTRICT;
)sql";

// The provider-status rows' link to their job, checked once per statement instead of once per
// row. The foreign key ran one lookup, with an executor start of its own, per deleted job: 40%
// of a backup at 1,000,000 jobs. These triggers keep the guarantee with one set-based query
// per statement, and the foreign key's locks:
// - a statement inserting status rows locks every job they name (FOR KEY SHARE) and fails if
//   one is missing. A job deleted meanwhile cannot be locked, so the count comes up short;
// - a statement deleting jobs fails if a status row still names one of them. An insert that
//   named the job has locked it, so the delete waited for it and, read committed, sees its row;
// - a job's id and a status row's job_id never change (nothing updates them; the triggers
//   fire only for an UPDATE that sets them).
// TRUNCATE fires none of them; rtjobs never truncates.
constexpr const char* kMigration5 = R"sql(
ALTER TABLE recurring_transfer_provider_status
  DROP CONSTRAINT recurring_transfer_provider_status_job_id_fkey;

CREATE FUNCTION rtjobs_provider_status_job_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  named bigint;
  locked bigint;
BEGIN
  SELECT count(DISTINCT job_id) INTO named FROM new_rows;
  PERFORM 1 FROM recurring_transfer_job j WHERE j.id IN (SELECT job_id FROM new_rows)
    FOR KEY SHARE OF j;
  GET DIAGNOSTICS locked = ROW_COUNT;
  IF locked <> named THEN
    RAISE EXCEPTION 'a provider status row names a job that does not exist'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION rtjobs_job_has_no_provider_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM old_rows o JOIN recurring_transfer_provider_status ps
             ON ps.job_id = o.id) THEN
    RAISE EXCEPTION 'a job named by provider status rows cannot be deleted'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION rtjobs_key_is_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%.% cannot change', TG_TABLE_NAME, TG_ARGV[0]
    USING ERRCODE = 'foreign_key_violation';
END
$$;

CREATE TRIGGER rtjobs_provider_status_insert AFTER INSERT ON recurring_transfer_provider_status
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rtjobs_provider_status_job_exists();
CREATE TRIGGER rtjobs_job_delete AFTER DELETE ON recurring_transfer_job
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rtjobs_job_has_no_provider_status();
CREATE TRIGGER rtjobs_provider_status_job_id BEFORE UPDATE OF job_id
  ON recurring_transfer_provider_status FOR EACH ROW
  WHEN (OLD.job_id IS DISTINCT FROM NEW.job_id) EXECUTE FUNCTION rtjobs_key_is_fixed('job_id');
CREATE TRIGGER rtjobs_job_id BEFORE UPDATE OF id ON recurring_transfer_job FOR EACH ROW
  WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION rtjobs_key_is_fixed('id');
)sql";

// SPEC section 8: a transfer's payment rail and its adapter's options, and the bank's own status
// of a job's transfer. Columns only, each with a default, so a binary built before them keeps
// working (it names the columns it reads and writes). provider_options is text, not jsonb, so
// both backends give back the bytes stored and the CSV stays identical. Neither table is
// rewritten (a constant default is catalog-only); the CHECK scans recurring_transfer once.
constexpr const char* kMigration6 = R"sql(
ALTER TABLE recurring_transfer
  ADD COLUMN rail text NOT NULL DEFAULT 'book' CHECK (rail IN ('book', 'ach')),
  ADD COLUMN provider_options text;
ALTER TABLE recurring_transfer_job ADD COLUMN bank_status text;
)sql";

// SPEC section 8, flow control. The due jobs' partial indexes keyed (provider, time), same names
// and states, so the loops claim one provider's due jobs by reading only that provider's (see
// store/due_index.hpp). And the live instances that share each bank's rate limit: one row per
// instance, which it keeps alive with heartbeats; not part of backups.
// Not CREATE INDEX CONCURRENTLY: it cannot run inside a transaction, and each migration runs in
// one (with the migration lock). So the build holds off writes to the jobs (not reads) while it
// reads the table once; the new indexes hold only the PENDING, IN_FLY and RETRY jobs.
constexpr const char* kMigration7 = R"sql(
DROP INDEX recurring_transfer_job_due_idx;
CREATE INDEX recurring_transfer_job_due_idx ON recurring_transfer_job (provider, due_at)
  WHERE status IN ('PENDING', 'IN_FLY');
DROP INDEX recurring_transfer_job_retry_idx;
CREATE INDEX recurring_transfer_job_retry_idx ON recurring_transfer_job (provider, next_attempt_at)
  WHERE status = 'RETRY';

CREATE TABLE rtjobs_instance (
  id text PRIMARY KEY,
  expires_at timestamptz NOT NULL,
  started_at timestamptz NOT NULL
);
)sql";

// SPEC section 8, settlement and returns: a job's result RETURNED and its settlement columns,
// the transfer's status_reason, and the inbox of bank webhook events (kept until applied, then
// for dedupe). Columns without defaults or with a constant one: no table rewrite.
constexpr const char* kMigration8 = R"sql(
ALTER TABLE recurring_transfer_job DROP CONSTRAINT recurring_transfer_job_result_check,
  ADD CONSTRAINT recurring_transfer_job_result_check
    CHECK (result IN ('SUCCEEDED', 'DECLINED', 'RETURNED'));
ALTER TABLE recurring_transfer ADD COLUMN status_reason text;
ALTER TABLE recurring_transfer_job
  ADD COLUMN settlement_status text
    CHECK (settlement_status IN ('pending', 'settled', 'returned', 'canceled', 'unknown')),
  ADD COLUMN settled_at timestamptz,
  ADD COLUMN return_code text,
  ADD COLUMN presentment integer NOT NULL DEFAULT 0,
  ADD COLUMN settlement_check_at timestamptz;
-- The settlement follower's scan (the pending transfers to look up, per provider), and the
-- look-up of a bank's webhook by the bank's transfer id.
CREATE INDEX recurring_transfer_job_settlement_idx
  ON recurring_transfer_job (provider, settlement_check_at) WHERE settlement_status = 'pending';
CREATE INDEX recurring_transfer_job_reference_idx
  ON recurring_transfer_job (provider, provider_reference) WHERE provider_reference IS NOT NULL;

CREATE TABLE bank_webhook_event (
  id uuid PRIMARY KEY,
  provider text NOT NULL,
  event_id text NOT NULL,
  event_type text NOT NULL,
  reference text,
  rail text,
  payload text,
  received_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  applied_at timestamptz,
  outcome text,
  last_error text
);
CREATE UNIQUE INDEX bank_webhook_event_dedupe_idx ON bank_webhook_event (provider, event_id)
  WHERE event_id <> '';
CREATE INDEX bank_webhook_event_due_idx ON bank_webhook_event (next_attempt_at)
  WHERE applied_at IS NULL;
CREATE INDEX bank_webhook_event_applied_idx ON bank_webhook_event (applied_at)
  WHERE applied_at IS NOT NULL;
)sql";

// SPEC section 8, events to the main API: the outbox (event), written in the transaction of each
// change, the endpoints it is delivered to, and one delivery per (event, endpoint). No foreign
// key from an event to a job or a transfer: a backup's purge deletes jobs, their events stay.
// Not part of backups.
constexpr const char* kMigration9 = R"sql(
CREATE TABLE event (
  id uuid PRIMARY KEY,
  type text NOT NULL,
  recurring_transfer_id uuid,
  job_id uuid,
  created_at timestamptz NOT NULL,
  data text NOT NULL,
  fanned_out boolean NOT NULL DEFAULT false
);
-- The fan-out's scan, and the claims' "an earlier event of the transfer is not fanned out".
CREATE INDEX event_unfanned_idx ON event (id) WHERE NOT fanned_out;
CREATE INDEX event_unfanned_transfer_idx ON event (recurring_transfer_id, id)
  WHERE NOT fanned_out;
CREATE INDEX event_created_idx ON event (created_at);

CREATE TABLE webhook_endpoint (
  id uuid PRIMARY KEY,
  url text NOT NULL,
  description text,
  event_types text NOT NULL DEFAULT '',
  secret text NOT NULL,
  previous_secret text,
  previous_secret_expires_at timestamptz,
  status text NOT NULL CHECK (status IN ('enabled', 'disabled')),
  failing_since timestamptz,
  disabled_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE webhook_delivery (
  id uuid PRIMARY KEY,
  event_id uuid NOT NULL REFERENCES event (id) ON DELETE CASCADE,
  endpoint_id uuid NOT NULL REFERENCES webhook_endpoint (id) ON DELETE CASCADE,
  event_type text NOT NULL,
  recurring_transfer_id uuid,
  status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  lease text,
  lease_expires_at timestamptz,
  last_attempt_at timestamptz,
  last_http_status integer,
  last_error text,
  replay_of uuid,
  created_at timestamptz NOT NULL,
  finished_at timestamptz
);
-- The claims' scan, and their "an earlier event of the transfer is pending to this endpoint".
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX webhook_delivery_order_idx
  ON webhook_delivery (endpoint_id, recurring_transfer_id, event_id) WHERE status = 'pending';
CREATE INDEX webhook_delivery_endpoint_idx ON webhook_delivery (endpoint_id, id);
CREATE INDEX webhook_delivery_event_idx ON webhook_delivery (event_id);
)sql";

// Backup runs (POST /v1/backups answers 202 with one; GET /v1/backups/{id} on any instance):
// one row per run, written by the process running it with a heartbeat on the server's clock
// (backup_store.hpp). The partial index is the look-up of the run in progress. Not part of
// backups.
constexpr const char* kMigration10 = R"sql(
CREATE TABLE backup_run (
  id uuid PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  phase text NOT NULL,
  forced boolean NOT NULL,
  job_rows bigint NOT NULL,
  provider_status_rows bigint NOT NULL,
  uploaded_bytes bigint NOT NULL,
  deleted_job_rows bigint NOT NULL,
  deleted_provider_status_rows bigint NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  result text,
  error text,
  heartbeat_at timestamptz NOT NULL
);
CREATE INDEX backup_run_running_idx ON backup_run (started_at) WHERE status = 'running';
)sql";

// Job::outcome_unknown: a RETRY job whose last attempt may have been executed by the bank. A
// cancel leaves such a job for one more look at the bank (state_machine.hpp, cancel_ends). An
// integer 0/1, as job rows are written and read the same way on both databases (a constant
// default: no table rewrite).
constexpr const char* kMigration11 = R"sql(
ALTER TABLE recurring_transfer_job
  ADD COLUMN outcome_unknown integer NOT NULL DEFAULT 0 CHECK (outcome_unknown IN (0, 1));
)sql";

// Changing a transfer's terms (PATCH): `version` is its ETag, +1 on every change; a job's
// `amount` and `description` are the transfer's as the job's first claim read them (NULL until
// then), so every attempt under the job's idempotency key sends the same terms; every change
// by a client is a row of recurring_transfer_change, whose `changes` is a JSON object of
// {"field": {"before": ..., "after": ...}} kept as text (as on SQLite). Columns with constant
// defaults: no table rewrite. job_id has no foreign key: the backup deletes jobs.
constexpr const char* kMigration12 = R"sql(
ALTER TABLE recurring_transfer ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE recurring_transfer_job ADD COLUMN amount bigint, ADD COLUMN description text;
CREATE TABLE recurring_transfer_change (
  id uuid PRIMARY KEY,
  recurring_transfer_id uuid NOT NULL REFERENCES recurring_transfer (id),
  job_id uuid,
  action text NOT NULL,
  actor text,
  changes text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX recurring_transfer_change_transfer_idx
  ON recurring_transfer_change (recurring_transfer_id, id);
)sql";

// Events born fanned out (the outbox's fan-out, pg_webhooks.cpp): an event written while no
// webhook endpoint is enabled has nobody to go to, so its insert marks it fanned out (the
// fan-out never reads or updates it, and the partial indexes never hold it). The insert asks
// rtjobs_event_born_fanned_out() once a statement: it takes a shared transaction lock, then
// looks at the endpoints with a snapshot of its own (a volatile function's query sees what
// committed before it began). Making an endpoint enabled (created enabled, or disabled to
// enabled) takes the same lock exclusively, by trigger, so also an older binary's does: it
// waits for every writer that looked before, and every writer after waits for its commit and
// sees it. So the events of every change committed after an endpoint's creation or enabling
// committed are fanned out to it. The key is "rtjobs" 03 (pg_schema.hpp, kEventsLockKey).
constexpr const char* kMigration13 = R"sql(
CREATE FUNCTION rtjobs_event_born_fanned_out() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(x'72746a6f627303'::bigint);
  RETURN NOT EXISTS (SELECT 1 FROM webhook_endpoint WHERE status = 'enabled');
END $$;
CREATE FUNCTION rtjobs_webhook_endpoint_enabling() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(x'72746a6f627303'::bigint);
  RETURN NEW;
END $$;
CREATE TRIGGER webhook_endpoint_created_enabled BEFORE INSERT ON webhook_endpoint
  FOR EACH ROW WHEN (NEW.status = 'enabled') EXECUTE FUNCTION rtjobs_webhook_endpoint_enabling();
CREATE TRIGGER webhook_endpoint_enabled BEFORE UPDATE OF status ON webhook_endpoint
  FOR EACH ROW WHEN (OLD.status <> 'enabled' AND NEW.status = 'enabled')
  EXECUTE FUNCTION rtjobs_webhook_endpoint_enabling();
)sql";

constexpr std::array<PgMigration, 13> kMigrations{
    {{1, kMigration1, "transfers, jobs, provider statuses, backups"},
     {2, kMigration2, "drop rtjobs_require_lease"},
     {3, kMigration3, "fillfactor; lease owner only while PROCESSING"},
     {4, kMigration4, "provider status to job: ON DELETE RESTRICT"},
     {5, kMigration5, "provider status to job: checked once per statement"},
     {6, kMigration6, "rail, provider_options, bank_status"},
     {7, kMigration7, "due indexes keyed by provider; instances sharing bank limits"},
     {8, kMigration8, "settlement and returns: RETURNED, settlement columns, bank webhook inbox"},
     {9, kMigration9, "outbox: events, webhook endpoints and deliveries"},
     {10, kMigration10, "backup runs"},
     {11, kMigration11, "job outcome_unknown"},
     {12, kMigration12, "transfer version, job terms at claim, transfer change history"},
     {13, kMigration13, "events born fanned out while no webhook endpoint is enabled"}}};

}  // namespace

std::span<const PgMigration> pg_migrations() { return kMigrations; }

}  // namespace rtjobs::store_detail
