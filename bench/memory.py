"""Row 6: memory and backup.

- Idle: `rtjobs serve` started on an empty database (all loops on), VmRSS after 3 s.
- Backup: N terminal job rows old enough for the backup are seeded in PostgreSQL
  (bench/seed_backup_pg.sql); a fresh `rtjobs serve` runs POST /v1/backups?wait=true {"force": true}
  (to file://), timed end to end (export, upload, verification, delete). The reference is
  PostgreSQL's own `COPY (SELECT ...) TO STDOUT CSV` of the same rows into a file. Peak memory is
  the server's VmHWM after the backup, at the small and the large size (a streaming backup keeps
  it flat).
- backup_bench (the backup engineer's bench/backup_bench.cpp, built into build-bench/), when it
  exists: the backup alone in a forked process, N jobs + N/5 provider-status rows, on SQLite and
  PostgreSQL; its time and peak RSS at both sizes. It resets the public schema of its database,
  so it gets a database of its own (rtjobs_backup) on the benchmark's server.
"""

import json
import os
import re
import subprocess
import time
import urllib.request

from common import BENCH, ROOT, TOKEN, Rtjobs, log, psql, rtjobs_migrate

TERMINAL = "('FINISHED', 'FAILED', 'SKIPPED', 'CANCELLED')"


def idle_rss(ctx, backend):
    if backend == "postgres":
        url = ctx.pg_url
        rtjobs_migrate(ctx, url)
        psql(url, "TRUNCATE recurring_transfer_provider_status, recurring_transfer_change, "
                  "recurring_transfer_job, recurring_transfer, webhook_delivery, event")
    else:
        url = f"sqlite://{ctx.fresh_dir('idle') / 'rtjobs.db'}"
    server = Rtjobs(ctx, url, f"idle-{backend}")
    try:
        time.sleep(3)
        return server.status_kib("VmRSS") / 1024
    finally:
        server.stop()


def copy_reference(ctx, url):
    out = ctx.tmp / "copy.csv"
    sql = (f"COPY (SELECT * FROM recurring_transfer_job WHERE status IN {TERMINAL} "
           f"AND scheduled_for < now() - interval '3 months' ORDER BY id) TO STDOUT CSV HEADER")
    started = time.monotonic()
    with open(out, "wb") as f:
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], stdout=f,
                       check=True)
    seconds = time.monotonic() - started
    size = out.stat().st_size
    out.unlink()
    return {"seconds": seconds, "bytes": size}


def backup_once(ctx, rows):
    url = ctx.pg_url
    rtjobs_migrate(ctx, url)
    psql(url, (BENCH / "seed_backup_pg.sql").read_text(), {"rows": rows})
    copy = copy_reference(ctx, url)
    target = ctx.fresh_dir(f"backups-{rows}")
    env = {"RT_BACKUP_ENABLED": "true", "RT_BACKUP_SCHEDULE": "0 0 1 1 *",
           "RT_BACKUP_URL": f"file://{target}"}
    server = Rtjobs(ctx, url, f"backup-{rows}", env)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/v1/backups?wait=true", data=b'{"force": true}', method="POST",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=3600) as r:
            answer = json.loads(r.read())
        seconds = time.monotonic() - started
        hwm_mib = server.status_kib("VmHWM") / 1024
    finally:
        server.stop()
    result = {"rows": rows, "seconds": seconds, "hwm_mib": hwm_mib, "copy_seconds": copy["seconds"],
              "copy_bytes": copy["bytes"], "outcome": answer.get("outcome"),
              "job_rows": answer.get("job_rows")}
    log(f"backup {rows}: {result}")
    if answer.get("job_rows") != rows:
        raise RuntimeError(f"backup of {rows} rows answered {answer}")
    return result


def run_idle(ctx):
    return {"postgres": idle_rss(ctx, "postgres"), "sqlite": idle_rss(ctx, "sqlite")}


def run_backup(ctx):
    small = backup_once(ctx, ctx.sizes["backup_small_rows"])
    large = backup_once(ctx, ctx.sizes["backup_rows"])
    psql(ctx.pg_url, "TRUNCATE recurring_transfer_provider_status, recurring_transfer_change, "
                     "recurring_transfer_job, recurring_transfer, recurring_transfer_backup")
    return {"small": small, "large": large}


BACKUP_BENCH_LINE = re.compile(
    r"^\s*(?P<backend>\S+)\s+jobs\s+(?P<jobs>\d+)\s+statuses\s+(?P<statuses>\d+)\s+"
    r"deleted\s+(?P<deleted>\d+)\s+objects\s+(?P<mib>[\d.]+) MiB\s+(?P<seconds>[\d.]+) s"
    r"\s+peak RSS\s+(?P<rss>[\d.]+) MiB")


def run_backup_bench(ctx):
    """Figures of build-bench/backup_bench, or None when it is not built."""
    binary = ctx.rtjobs.parent / "backup_bench"
    if not binary.exists():
        return None
    base = ctx.pg_url.rsplit("/", 1)[0]
    if psql(ctx.pg_url, "SELECT 1 FROM pg_database WHERE datname = 'rtjobs_backup'") != "1":
        psql(ctx.pg_url, "CREATE DATABASE rtjobs_backup")
    sizes = [ctx.sizes["backup_small_rows"], ctx.sizes["backup_rows"]]
    log(f"backup_bench {sizes}")
    r = subprocess.run([str(binary)] + [str(n) for n in sizes], capture_output=True, text=True,
                       timeout=3600, cwd=ROOT,
                       env={**os.environ,
                            "RT_BENCH_POSTGRES_URL": f"{base}/rtjobs_backup"})
    if r.returncode != 0:
        raise RuntimeError(f"backup_bench failed: {r.stdout[-500:]}{r.stderr[-500:]}")
    runs = []
    for line in r.stdout.splitlines():
        m = BACKUP_BENCH_LINE.match(line)
        if m:
            d = m.groupdict()
            runs.append({"backend": d["backend"], "jobs": int(d["jobs"]),
                         "statuses": int(d["statuses"]), "seconds": float(d["seconds"]),
                         "peak_rss_mib": float(d["rss"])})
    if not runs:
        raise RuntimeError(f"backup_bench printed no figures: {r.stdout[-500:]}")
    return runs
