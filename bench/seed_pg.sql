-- Seeds :n ACTIVE MONTHLY transfers on provider :'provider', each with ONE due PENDING job
-- (sequence 1, due at the last whole minute before now, UTC) and next_occurrence_at = the next
-- month's due time, so every processed job also creates its next occurrence (with
-- RT_HORIZON_MONTHS=1: exactly one). That is the state at a busy due time: the occurrence enters
-- the horizon as the job falls due, and the job's completion creates it (the horizon extender
-- leaves it to the completion for HorizonExtender::kCompletionGrace, 10 minutes).
-- Ids are UUIDv7 (48-bit millisecond time, version 7, variant 10, random rest), time-ordered.
-- Empties the transfer tables first. psql -v n=50000 -v provider=sandbox -f seed_pg.sql
\set ON_ERROR_STOP 1
BEGIN;
-- The outbox too: a run would otherwise fan out the events the run before it left behind.
TRUNCATE recurring_transfer_provider_status, recurring_transfer_change, recurring_transfer_job,
         recurring_transfer, webhook_delivery, event;

CREATE FUNCTION pg_temp.uuid7(ms bigint) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT (lpad(to_hex(ms), 12, '0') || '7' || substr(md5(random()::text), 1, 3)
          || to_hex(8 + floor(random() * 4)::int) || substr(md5(random()::text), 1, 15))::uuid
$$;

CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT i,
       pg_temp.uuid7(base_ms + i) AS transfer_id,
       pg_temp.uuid7(base_ms + i) AS job_id,
       d,
       to_char(due, 'HH24:MI') AS execution_time,
       (due AT TIME ZONE 'UTC') AS due_at,
       ((d + interval '1 month' + due::time) AT TIME ZONE 'UTC') AS next_due_at
FROM (SELECT due, due::date AS d, base_ms
      FROM (SELECT date_trunc('minute', now() AT TIME ZONE 'UTC') - interval '1 minute' AS due,
                   (extract(epoch FROM now() - interval '1 hour') * 1000)::bigint AS base_ms) n) p,
     generate_series(1, :n) AS i;

INSERT INTO recurring_transfer (
  id, external_id, provider, source_account, destination_account, amount, currency, description,
  frequency, "interval", day_of_week, day_of_month, "month", start_date, end_date, "count",
  timezone, execution_time, business_day, calendar, status, last_sequence, next_occurrence_at,
  idempotency_key, request_hash, created_at, updated_at)
SELECT transfer_id, 'bench-' || i, :'provider', 'acct_src_' || i, 'acct_dst_' || i, 1000, 'USD',
       'bench', 'MONTHLY', 1, NULL, extract(day FROM d)::int, NULL, d, NULL, NULL,
       'UTC', execution_time, 'NONE', 'WEEKENDS', 'ACTIVE', 1, next_due_at,
       NULL, 'bench', now(), now()
FROM seed;

INSERT INTO recurring_transfer_job (
  id, recurring_transfer_id, sequence, scheduled_for, due_at, status, result, retries,
  next_attempt_at, provider, idempotency_key, provider_reference, last_error, lease_owner,
  lease_expires_at, created_at, updated_at, finished_at)
SELECT job_id, transfer_id, 1, d, due_at, 'PENDING', NULL, 0,
       NULL, :'provider', transfer_id::text || ':1', NULL, NULL, NULL,
       NULL, now(), now(), NULL
FROM seed;
COMMIT;
VACUUM ANALYZE recurring_transfer;
VACUUM ANALYZE recurring_transfer_job;
