"""Row 3b, the design's ceiling: rtjobs' own write set per job (bench/pgbench_writeset.sql) done
by pgbench on the same server, on rtjobs' own tables seeded as for the row-1 burn-down, N jobs.
pgbench is the cheapest client there is (prepared statements, no processing between them), so
its jobs/s is what PostgreSQL allows for this write set on this machine at this minute; rtjobs'
burn-down as a fraction of it is how close rtjobs runs to its design's limit. PgWork measures
PostgreSQL's work per job as for the burn-down (row 1d), to show the two write the same rows.
"""

import math
import os
import re
import subprocess
import time

from common import BENCH, PgWork, log, psql, rtjobs_migrate
from seed import NEXT_CREATED_SQL, REMAINING_PG, seed_pg

CLIENTS = 2 * (os.cpu_count() or 1)  # as row 3's pgbench
# Claimed and completed together; rtjobs' loops claim up to 4 x RT_CONCURRENCY (256).
BATCH = 256


def event_bytes(url):
    """The mean size of the newest 1,000 job.succeeded events, those of the rtjobs burn-down
    run just before (the replica writes events as large), or 1,000 when there is none."""
    mean = psql(url, "SELECT coalesce(round(avg(octet_length(data))), 0) FROM (SELECT data"
                     " FROM event WHERE type = 'job.succeeded' ORDER BY id DESC LIMIT 1000) e")
    return int(float(mean)) or 1000


def run(ctx, jobs):
    url = ctx.pg_url
    rtjobs_migrate(ctx, url)
    size = event_bytes(url)
    seed_pg(url, jobs, "sandbox")
    per_client = math.ceil(jobs / (BATCH * CLIENTS))
    log(f"writeset: {jobs} jobs, batches of {BATCH}, {CLIENTS} clients, event {size} B")
    work = PgWork(url)
    started = time.monotonic()
    r = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", "-c", str(CLIENTS), "-j", str(os.cpu_count() or 1),
         "-t", str(per_client), "-D", f"batch={BATCH}", "-D", f"event_bytes={size}",
         "-f", str(BENCH / "pgbench_writeset.sql"), url],
        capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - started
    if r.returncode != 0:
        raise RuntimeError(f"pgbench failed: {r.stdout[-1000:]}{r.stderr[-1000:]}")
    m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)$", r.stdout, re.M)
    if not m:
        raise RuntimeError(f"pgbench printed no tps: {r.stdout[-1000:]}")
    # pgbench's own time for its transactions (batches), without its connections' start.
    seconds = per_client * CLIENTS / float(m.group(1))
    result = {"jobs": jobs, "seconds": seconds, "wall_seconds": wall,
              "jobs_per_s": jobs / seconds, "clients": CLIENTS, "batch": BATCH,
              "event_bytes": size}
    result.update(work.per_job(jobs))
    left = int(psql(url, REMAINING_PG))
    next_created = int(psql(url, NEXT_CREATED_SQL))
    result["next_created"] = next_created
    log(f"writeset: {result}")
    if left or next_created != jobs:
        raise RuntimeError(f"writeset: {left} jobs left, {next_created} of {jobs} next created")
    return result
