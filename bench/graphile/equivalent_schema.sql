-- Tables of the equivalent-work Graphile Worker reference (docs/BENCHMARKS.md, row 1e): what a
-- team that does not pick rtjobs keeps beside its job queue, shaped like rtjobs' own. Run after
-- `rtjobs migrate` on the same database: the columns, defaults and checks are rtjobs' (LIKE), so
-- the rows written are as wide as rtjobs' and follow its migrations; the page fill is rtjobs'
-- (migration 3). Indexes: rtjobs' except the three that serve rtjobs' own queue (the due, retry
-- and lease partial indexes), whose work Graphile Worker's jobs table does in this design:
--   transfers: all of rtjobs' (the reference does not write them; the next occurrence's
--     foreign key reads one);
--   occurrences: primary key, (transfer, sequence) unique, the foreign key to the transfer,
--     (status, id) for listing, and the settlement and bank-reference partial indexes.
-- The reference's tasks write only this schema and graphile_worker's; seed_pg.sql fills it when
-- run with search_path = bench_equivalent (bench/run.py).
\set ON_ERROR_STOP 1
DROP SCHEMA IF EXISTS bench_equivalent CASCADE;
CREATE SCHEMA bench_equivalent;

CREATE TABLE bench_equivalent.recurring_transfer (LIKE public.recurring_transfer INCLUDING ALL)
  WITH (fillfactor = 80);

CREATE TABLE bench_equivalent.recurring_transfer_job (
  LIKE public.recurring_transfer_job INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
  PRIMARY KEY (id),
  UNIQUE (recurring_transfer_id, sequence),
  FOREIGN KEY (recurring_transfer_id) REFERENCES bench_equivalent.recurring_transfer (id)
) WITH (fillfactor = 60);
CREATE INDEX ON bench_equivalent.recurring_transfer_job (status, id);
CREATE INDEX ON bench_equivalent.recurring_transfer_job (provider, settlement_check_at)
  WHERE settlement_status = 'pending';
CREATE INDEX ON bench_equivalent.recurring_transfer_job (provider, provider_reference)
  WHERE provider_reference IS NOT NULL;

-- Only for seed_pg.sql's TRUNCATE; the reference writes no provider status or change (nor does
-- rtjobs' sandbox burn-down).
CREATE TABLE bench_equivalent.recurring_transfer_provider_status
  (LIKE public.recurring_transfer_provider_status INCLUDING ALL);
CREATE TABLE bench_equivalent.recurring_transfer_change
  (LIKE public.recurring_transfer_change INCLUDING ALL);
