-- Seeds :rows terminal job rows old enough for the backup (FINISHED/SUCCEEDED, scheduled in
-- 2021-2023, so more than RT_BACKUP_BEFORE_MONTHS before any run), spread over 1,000 COMPLETED
-- DAILY transfers, and forgets every previous backup so the next run is a first execution.
-- Empties the transfer tables first. psql -v rows=1000000 -f seed_backup_pg.sql
\set ON_ERROR_STOP 1
BEGIN;
TRUNCATE recurring_transfer_provider_status, recurring_transfer_change, recurring_transfer_job,
         recurring_transfer, recurring_transfer_backup;

CREATE FUNCTION pg_temp.uuid7(ms bigint) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT (lpad(to_hex(ms), 12, '0') || '7' || substr(md5(random()::text), 1, 3)
          || to_hex(8 + floor(random() * 4)::int) || substr(md5(random()::text), 1, 15))::uuid
$$;

CREATE TEMP TABLE transfers ON COMMIT DROP AS
SELECT t, pg_temp.uuid7(1609459200000 + t) AS id FROM generate_series(1, 1000) AS t;

INSERT INTO recurring_transfer (
  id, external_id, provider, source_account, destination_account, amount, currency, description,
  frequency, "interval", start_date, timezone, execution_time, business_day, calendar, status,
  last_sequence, next_occurrence_at, request_hash, created_at, updated_at)
SELECT id, 'backup-' || t, 'sandbox', 'acct_src_' || t, 'acct_dst_' || t, 1000, 'USD', 'bench',
       'DAILY', 1, date '2021-01-01', 'UTC', '09:30', 'NONE', 'WEEKENDS', 'COMPLETED',
       ceil(:rows / 1000.0)::bigint, NULL, 'bench', now(), now()
FROM transfers;

INSERT INTO recurring_transfer_job (
  id, recurring_transfer_id, sequence, scheduled_for, due_at, status, result, retries,
  next_attempt_at, provider, idempotency_key, provider_reference, last_error, lease_owner,
  lease_expires_at, created_at, updated_at, finished_at)
SELECT pg_temp.uuid7(1609459200000 + n), tr.id, s, d, (d + time '09:30') AT TIME ZONE 'UTC',
       'FINISHED', 'SUCCEEDED', 0, NULL, 'sandbox', tr.id::text || ':' || s, 'sbx_' || n, NULL,
       NULL, NULL, (d + time '09:00') AT TIME ZONE 'UTC',
       (d + time '09:30:01') AT TIME ZONE 'UTC', (d + time '09:30:01') AT TIME ZONE 'UTC'
FROM (SELECT n, (n - 1) % 1000 + 1 AS t, (n - 1) / 1000 + 1 AS s,
             date '2021-01-01' + ((n - 1) / 1000)::int AS d
      FROM generate_series(1, :rows) AS n) AS g
JOIN transfers tr USING (t);
COMMIT;
VACUUM ANALYZE recurring_transfer;
VACUUM ANALYZE recurring_transfer_job;
