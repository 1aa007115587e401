-- Row 3b, the design's ceiling (bench/writeset.py): rtjobs' own write set per job, done by
-- pgbench, the cheapest client there is, on rtjobs' own tables seeded as for the burn-down
-- (seed_pg.sql). One run of this script is one batch of :batch jobs, as the PostgreSQL loops
-- do it (src/store/postgres/pg_maintenance.cpp claim_due_jobs, pg_job_transitions.cpp
-- complete_jobs, pg_webhooks.cpp fan_out_events):
--   1. the claim, a transaction of its own: the oldest due PENDING jobs of the provider, locked
--      SKIP LOCKED, set PROCESSING with a lease and the transfer's terms pinned (amount,
--      description), joined to their ACTIVE transfer;
--   2. the completion, one transaction: the transfers locked in id order, then one statement
--      that writes the outcome (FINISHED, SUCCEEDED, the bank's reference, lease cleared), the
--      next occurrence (sequence + 1, a month later), the transfer's last_sequence and
--      next_occurrence_at, and the job.succeeded event of the outbox (:event_bytes of data,
--      the size rtjobs writes);
--      the event is born fanned out (rtjobs_event_born_fanned_out(), asked once a statement):
--      no endpoint is enabled, as in the burn-down, so no fan-out writes it again.
-- Rows per job: 2 inserted (job, event), 3 updated (claim, outcome, transfer). Ids are
-- time-ordered (48-bit milliseconds, then random), as rtjobs' UUIDv7.
-- pgbench -n -M prepared -D batch=256 -D event_bytes=N -f pgbench_writeset.sql
WITH due AS MATERIALIZED (
  SELECT id FROM recurring_transfer_job
   WHERE status IN ('PENDING', 'IN_FLY') AND provider = 'sandbox' AND due_at <= now()
   ORDER BY due_at LIMIT :batch FOR UPDATE SKIP LOCKED),
claimed AS (
  UPDATE recurring_transfer_job j
     SET status = 'PROCESSING', lease_owner = 'pgbench-' || :client_id,
         lease_expires_at = now() + interval '5 minutes', updated_at = now(),
         amount = COALESCE(j.amount, t.amount), description = COALESCE(j.description, t.description)
    FROM due, recurring_transfer t
   WHERE j.id = due.id AND t.id = j.recurring_transfer_id AND t.status = 'ACTIVE'
  RETURNING j.id)
SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids FROM claimed
\gset
BEGIN;
SELECT count(*) FROM (SELECT 1 FROM recurring_transfer WHERE id = ANY(ARRAY(
    SELECT recurring_transfer_id FROM recurring_transfer_job WHERE id = ANY(:ids::uuid[])))
  ORDER BY id FOR NO KEY UPDATE) locked;
WITH upd AS (
  UPDATE recurring_transfer_job j
     SET status = 'FINISHED', result = 'SUCCEEDED',
         provider_reference = 'sbx_' || substr(md5(j.idempotency_key), 1, 16),
         finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
   WHERE j.id = ANY(:ids::uuid[]) AND j.lease_owner = 'pgbench-' || :client_id
  RETURNING j.id, j.recurring_transfer_id, j.sequence, j.scheduled_for, j.due_at, j.provider,
            j.idempotency_key),
nj AS (
  INSERT INTO recurring_transfer_job (
    id, recurring_transfer_id, sequence, scheduled_for, due_at, status, retries, provider,
    idempotency_key, created_at, updated_at)
  SELECT encode(substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                          FROM 3) || substring(uuid_send(gen_random_uuid()) FROM 7), 'hex')::uuid,
         recurring_transfer_id, sequence + 1, (scheduled_for + interval '1 month')::date,
         due_at + interval '1 month', 'PENDING', 0, provider,
         recurring_transfer_id::text || ':' || (sequence + 1), now(), now()
    FROM upd ORDER BY recurring_transfer_id
  ON CONFLICT (recurring_transfer_id, sequence) DO NOTHING),
tr AS (
  UPDATE recurring_transfer t
     SET last_sequence = upd.sequence + 1, next_occurrence_at = upd.due_at + interval '2 months',
         updated_at = now()
    FROM upd WHERE t.id = upd.recurring_transfer_id AND upd.sequence + 1 > t.last_sequence),
ev AS (
  INSERT INTO event (id, type, recurring_transfer_id, job_id, created_at, data, fanned_out)
  SELECT encode(substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                          FROM 3) || substring(uuid_send(gen_random_uuid()) FROM 7), 'hex')::uuid,
         'job.succeeded', recurring_transfer_id, id, now(),
         rpad('{"id":"' || id || '"', :event_bytes, ' '),
         (SELECT rtjobs_event_born_fanned_out())
    FROM upd
  RETURNING id)
SELECT coalesce(array_agg(id ORDER BY id), '{}') AS events FROM ev
\gset
COMMIT;
