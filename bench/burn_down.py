"""Rows 1, 2 and 4: burn-down (rows 7-10, bench/flow.py, reuse its seeding and wait_drained). N due jobs are seeded straight into the database, then
`rtjobs serve` (built-in scheduler on) is started and timed from its start until no due job is
left (polled in the database every 20 ms). Each job: claim, BaaS call, final state, next
occurrence ensured. Also records the server's peak resident memory (VmHWM) at the end.

BENCH_PERF=1 records `perf record -g` of the server during the run into the tmp dir.
"""

import os
import subprocess
import time

from common import PgWork, PsqlSession, Rtjobs, log, machine_busy_seconds, psql, rtjobs_migrate
from seed import (ANY_LEFT_PG, ANY_LEFT_SQLITE, NEXT_CREATED_SQL, REMAINING_PG, REMAINING_SQLITE,
                  SqliteCounter, seed_pg, seed_sqlite)

POLL_SECONDS = 0.02   # "is any job left?"
COUNT_SECONDS = 1.0   # how many: progress, for the stall check
STALL_SECONDS = 60    # no progress for this long: give up


def burn_down(ctx, backend, jobs, provider="sandbox", concurrency=None, config=None,
              name=None, extra_env=None, before_start=None, after_drained=None):
    """`before_start(url)` runs once the jobs are seeded, `after_drained(server, url)` once they
    are drained, before the server stops (its answer is the result's "after")."""
    name = name or f"burn-{backend}-{provider}"
    if backend == "postgres":
        url = ctx.pg_url
        rtjobs_migrate(ctx, url)
        seed_pg(url, jobs, provider)
        counter = PsqlSession(url)
        commits_before = pg_commits(url)
    else:
        db = ctx.fresh_dir(name) / "rtjobs.db"
        url = f"sqlite://{db}"
        rtjobs_migrate(ctx, url)
        seed_sqlite(db, jobs, provider)
        counter = SqliteCounter(db)
    if before_start:
        before_start(url)
    log(f"{name}: {jobs} jobs seeded, starting rtjobs serve")

    env = {"RT_HORIZON_MONTHS": "1", "RT_SCHEDULER_ENABLED": "true",
           "RT_RETRIES_ENABLED": "true", "RT_BACKUP_ENABLED": "false"}
    if concurrency:
        env["RT_CONCURRENCY"] = str(concurrency)
    env.update(extra_env or {})
    busy_before = machine_busy_seconds()
    pg_work = PgWork(url) if backend == "postgres" else None
    server = Rtjobs(ctx, url, name, env, config=config)
    perf = start_perf(ctx, name, server.proc.pid)
    try:
        polls = wait_drained(counter, backend, jobs, name, [server])
        seconds = time.monotonic() - server.started
        hwm_kib = server.status_kib("VmHWM")
        server_cpu = server.cpu_seconds()
        machine_cpu = machine_busy_seconds() - busy_before
        next_created = int(counter.scalar(NEXT_CREATED_SQL))
        after = after_drained(server, url) if after_drained else None
    finally:
        stop_perf(perf)
        server.stop()
        counter.close()
    result = {"jobs": jobs, "seconds": seconds, "jobs_per_s": jobs / seconds,
              "hwm_mib": (hwm_kib or 0) / 1024, "next_created": next_created,
              # CPU per job: the server's own, and the whole machine's (database included).
              "server_cpu_us_per_job": server_cpu / jobs * 1e6,
              "machine_cpu_us_per_job": machine_cpu / jobs * 1e6}
    if after is not None:
        result["after"] = after
    if pg_work:
        # What PostgreSQL did, and the transactions the server committed, per job (its backends
        # flush their counters when it disconnects). Taken out: the poller's start-up and
        # queries, pg_commits' own 3 and PgWork's.
        result.update(pg_work.per_job(jobs))
        own = polls + 1 + 3 + pg_work.own_commits
        result["commits_per_job"] = (pg_commits(url) - commits_before - own) / jobs
    log(f"{name}: {result}")
    if next_created != jobs:
        log(f"{name}: WARNING {next_created} next occurrences created for {jobs} jobs")
    return result


def wait_drained(counter, backend, jobs, name, servers, on_count=None,
                 stall_seconds=STALL_SECONDS):
    """Waits until no due job is left (asked every POLL_SECONDS); returns the queries it made.
    Every COUNT_SECONDS it counts the jobs left, calls on_count(left) (the outage row switches
    the bank with it) and gives up, showing the servers' logs, after stall_seconds without
    progress. `counter` is a PsqlSession or SqliteCounter on the database `backend`."""
    any_left_sql = ANY_LEFT_PG if backend == "postgres" else ANY_LEFT_SQLITE
    remaining_sql = REMAINING_PG if backend == "postgres" else REMAINING_SQLITE
    polls = 0
    last_left, last_progress = jobs, time.monotonic()
    last_count = last_progress
    while True:
        time.sleep(POLL_SECONDS)
        left = int(counter.scalar(any_left_sql))
        polls += 1
        if left == 0:
            return polls
        now = time.monotonic()
        if now - last_count < COUNT_SECONDS:
            continue
        left = int(counter.scalar(remaining_sql))
        polls += 1
        last_count = now
        if on_count:
            on_count(left)
        if left < last_left:
            last_left, last_progress = left, now
        elif now - last_progress > stall_seconds:
            tails = "\n".join(s.log_tail() for s in servers)
            raise RuntimeError(f"{name}: stuck at {left} jobs left:\n{tails}")


def pg_commits(url):
    return int(psql(url, "SELECT pg_stat_force_next_flush(); SELECT xact_commit FROM "
                         "pg_stat_database WHERE datname = current_database()").splitlines()[-1])


def start_perf(ctx, name, pid):
    if os.environ.get("BENCH_PERF") != "1":
        return None
    out = ctx.tmp / f"perf-{name}.data"
    log(f"{name}: perf record -> {out}")
    return subprocess.Popen(["perf", "record", "-g", "-F", "499", "-p", str(pid), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_perf(perf):
    if perf is not None:
        perf.send_signal(2)  # SIGINT: perf writes its file and exits
        perf.wait(timeout=60)
