#!/usr/bin/env python3
"""Issue 19's levers, bounded from above: row 3b's replica of rtjobs' write set
(bench/pgbench_writeset.sql) with one part of it taken out or changed, alternating with the
whole of it, on the same server. Each variant's jobs/s and PostgreSQL CPU per job beside the
whole script's in the same round say at most what that change can buy rtjobs (pgbench does the
writes with no client cost; rtjobs' own share comes on top). Not part of scripts/bench.sh.

  BENCH_PG_URL=postgresql://... RT_PG_DIR=... python3 bench/writeset_levers.py [N] [ROUNDS]

The database must have rtjobs' schema (`rtjobs migrate`); its transfer tables are emptied, and
the event table too. The replica's event is born fanned out, as rtjobs writes it with no
endpoint (until 2026-12-07 22:40 the file had a fan-out update instead: the no_fanout and
born_fanned_out variants of docs/BENCHMARKS.md measured against that). Variants:
- no_transfer: no transfer lock or update in the completion;
- no_event: no outbox event at all (a bound, not a lever: SPEC wants the events);
- no_transfer_no_event: both;
- partial_status_idx: (status, id) partial to the rare states (not PENDING, PROCESSING,
  FINISHED);
- event_2_idx: the event table without its (recurring_transfer_id, id) and (created_at)
  indexes;
- no_claim: the due jobs locked and completed in one transaction, no claim update (a bound:
  the claim's lease is what makes a crash safe);
- all_levers: every lever issue 19 lists at once: no transfer lock
  or update in the completion; the next occurrences inserted not by the completion but by an
  extender transaction of their own, one INSERT ... SELECT of the batch's next occurrences per
  batch, between the claim and the completion (created ahead: the insert is still paid once a
  job); the (status, id) index partial to the rare states. The claim and the event stay;
- all_levers_extender_tr: all_levers with the extender also moving each transfer's
  next_occurrence_at forward (one transfer update a job, batched in the extender's statement),
  as today's extender does: it finds the transfers to extend by that column, so without a
  change of how it finds them the transfer update moves to the extender rather than going;
- all_levers_no_fk: all_levers without the job's foreign key to its transfer (a bound, not a
  lever: the link must be checked; the key's check locks the transfer row FOR KEY SHARE for
  each inserted job, and a per-statement check by trigger takes that lock too).
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, PgWork, psql  # noqa: E402
from seed import NEXT_CREATED_SQL, seed_pg  # noqa: E402

CLIENTS, BATCH, EVENT_BYTES = 4, 256, 665
URL = os.environ["BENCH_PG_URL"]
BASE = (BENCH / "pgbench_writeset.sql").read_text()


def cut(text, pattern, replacement=""):
    found = re.search(pattern, text, re.S | re.M)
    if not found:
        raise RuntimeError(f"pattern not in the script: {pattern}")
    return text.replace(found.group(0), replacement)


def no_transfer(text):
    text = cut(text, r"SELECT count\(\*\) FROM \(SELECT 1 FROM recurring_transfer WHERE.*?locked;\n")
    return cut(text, r"tr AS \(\n.*?t\.last_sequence\),\n")


def no_event(text):
    return cut(text, r",\nev AS \(.*?FROM ev\n", "\nSELECT '{}' AS events\n")


# The extender's statement of all_levers: a transaction of its own per batch, after the claim,
# inserting the next occurrence of each claimed job as the completion did (the replica's nj,
# same columns, ids, order, ON CONFLICT). The real extender finds its transfers by
# next_occurrence_at and computes their occurrences; reading the batch's jobs by primary key
# stands for that read.
EXTEND = re.search(r"^nj AS \(\n(.*?DO NOTHING)\),\n", BASE, re.S | re.M).group(1).replace(
    "FROM upd ORDER BY", "FROM recurring_transfer_job WHERE id = ANY(:ids::uuid[]) ORDER BY")
# The same, also moving each transfer's next_occurrence_at past the occurrence it created.
EXTEND_TR = ("WITH nj AS (\n" + EXTEND +
             "\n  RETURNING recurring_transfer_id, due_at)\n"
             "UPDATE recurring_transfer t SET next_occurrence_at = nj.due_at + interval '1 month',"
             "\n       updated_at = now()\n  FROM nj WHERE t.id = nj.recurring_transfer_id")


def all_levers(text, extend=EXTEND):
    text = no_transfer(text)
    text = cut(text, r"^nj AS \(\n.*?DO NOTHING\),\n")
    return cut(text, r"^BEGIN;\n", extend + ";\nBEGIN;\n")


def no_claim(text):
    text = cut(text, r"^WITH due AS MATERIALIZED.*?\\gset\nBEGIN;\n", """BEGIN;
SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids FROM (
  SELECT id FROM recurring_transfer_job
   WHERE status IN ('PENDING', 'IN_FLY') AND provider = 'sandbox' AND due_at <= now()
   ORDER BY due_at LIMIT :batch FOR UPDATE SKIP LOCKED) due
\\gset
""")
    return cut(text, re.escape(" AND j.lease_owner = 'pgbench-' || :client_id"))


STATUS_IDX = ("DROP INDEX recurring_transfer_job_status_idx; CREATE INDEX "
              "recurring_transfer_job_status_idx ON recurring_transfer_job (status, id)")
PARTIAL_STATUS_IDX = (STATUS_IDX +
                      " WHERE status NOT IN ('PENDING', 'PROCESSING', 'FINISHED')")
FK = ("ALTER TABLE recurring_transfer_job {} CONSTRAINT "
      "recurring_transfer_job_recurring_transfer_id_fkey")
DROP_FK = FK.format("DROP")
ADD_FK = (FK.format("ADD") + " FOREIGN KEY (recurring_transfer_id)"
          " REFERENCES recurring_transfer (id)")
EVENT_IDX = ("CREATE INDEX event_unfanned_transfer_idx ON event (recurring_transfer_id, id) "
             "WHERE NOT fanned_out; CREATE INDEX event_created_idx ON event (created_at)")
# name: (script, SQL before, SQL after: back to rtjobs' schema)
VARIANTS = {
    "whole": (BASE, None, None),
    "no_transfer": (no_transfer(BASE), None, None),
    "no_event": (no_event(BASE), None, None),
    "no_transfer_no_event": (no_event(no_transfer(BASE)), None, None),
    "partial_status_idx": (BASE, PARTIAL_STATUS_IDX, STATUS_IDX),
    "event_2_idx": (BASE, "DROP INDEX event_unfanned_transfer_idx; DROP INDEX event_created_idx",
                    EVENT_IDX),
    "no_claim": (no_claim(BASE), None, None),
    "all_levers": (all_levers(BASE), PARTIAL_STATUS_IDX, STATUS_IDX),
    "all_levers_extender_tr": (all_levers(BASE, EXTEND_TR), PARTIAL_STATUS_IDX, STATUS_IDX),
    "all_levers_no_fk": (all_levers(BASE), PARTIAL_STATUS_IDX + "; " + DROP_FK,
                         STATUS_IDX + "; " + ADD_FK),
}


def one(name, jobs, tmp):
    script, before, after = VARIANTS[name]
    path = tmp / f"writeset-{name}.sql"
    path.write_text(script)
    psql(URL, "TRUNCATE event CASCADE")
    seed_pg(URL, jobs, "sandbox")
    if before:
        psql(URL, before)
    try:
        per_client = math.ceil(jobs / (BATCH * CLIENTS))
        work = PgWork(URL)
        r = subprocess.run(
            ["pgbench", "-n", "-M", "prepared", "-c", str(CLIENTS), "-j", "2", "-t",
             str(per_client), "-D", f"batch={BATCH}", "-D", f"event_bytes={EVENT_BYTES}",
             "-f", str(path), URL], capture_output=True, text=True, check=True)
        tps = float(re.search(r"^tps = ([0-9.]+) \(without", r.stdout, re.M).group(1))
        out = {"jobs_per_s": jobs * tps / (per_client * CLIENTS)}
        out.update(work.per_job(jobs))
    finally:
        if after:
            psql(URL, after)
    left = psql(URL, "SELECT count(*) FROM recurring_transfer_job WHERE sequence = 1"
                     " AND status <> 'FINISHED'")
    if left != "0":
        raise RuntimeError(f"{name}: {left} jobs not finished")
    created = int(psql(URL, NEXT_CREATED_SQL))
    if created != jobs:
        raise RuntimeError(f"{name}: {created} next occurrences for {jobs} jobs")
    return out


def main():
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tmp = Path(os.environ.get("BENCH_TMP", "/tmp"))
    names = list(VARIANTS)
    got = {n: [] for n in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            r = one(name, jobs, tmp)
            got[name].append(r)
            print(f"round {i} {name}: {r['jobs_per_s']:,.0f} jobs/s, PostgreSQL "
                  f"{r.get('postgres_cpu_us_per_job', 0):.0f} us/job, WAL "
                  f"{r['wal_bytes_per_job']:,.0f} B/job, rows inserted / updated "
                  f"{r['rows_inserted_per_job']:.2f} / {r['rows_updated_per_job']:.2f}", flush=True)
    for name in names[1:]:
        pairs = list(zip(got[name], got["whole"]))
        speed = ", ".join(f"{a['jobs_per_s'] / b['jobs_per_s']:.2f}" for a, b in pairs)
        cpu = ", ".join(f"{a.get('postgres_cpu_us_per_job', 0) / b.get('postgres_cpu_us_per_job', 1):.2f}"
                        for a, b in pairs)
        print(f"{name} / whole, by round: jobs/s {speed}; PostgreSQL CPU per job {cpu}")


if __name__ == "__main__":
    main()
