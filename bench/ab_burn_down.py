#!/usr/bin/env python3
"""Two rtjobs binaries' PostgreSQL burn-downs (row 1) alternated in one spell, each round beside
its own Graphile Worker no-op drain (row 1's reference): a lever's before/after figures.

    BENCH_PG_URL=... RT_PG_DIR=... python3 bench/ab_burn_down.py OLD_RTJOBS NEW_RTJOBS [ROUNDS]
    BENCH_PG_URL=... python3 bench/ab_burn_down.py --sqlite OLD_RTJOBS NEW_RTJOBS [ROUNDS]

With --sqlite, both binaries run row 2's SQLite burn-down instead (a fresh database file a run),
beside the same Graphile no-op drain on PostgreSQL; each run prints rtjobs' own CPU per job and
the load average at its end.

Each round runs Graphile fastest, then both binaries, the first of them alternating from round
to round, so both see the same machine. Both binaries run on the schema of the newer one's
migrations (an older binary runs on a newer schema, docs/UPGRADES.md), with the outbox emptied
before each run. RT_PG_DIR (the server's data directory) gives PostgreSQL's CPU. Prints one JSON line a
run and a summary (jobs/s, ratio to the round's Graphile, PostgreSQL CPU and WAL per job)."""

import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import burn_down  # noqa: E402
from common import BenchContext, log, psql  # noqa: E402
from run import graphile  # noqa: E402


def empty_outbox(url):
    """The seed leaves the outbox alone: without this, a run would fan out the events the run
    before it left behind (and the event table grow from run to run)."""
    psql(url, "TRUNCATE webhook_delivery, event")


def sqlite_run(ctx, which):
    r = burn_down.burn_down(ctx, "sqlite", ctx.sizes["jobs"], name=f"burn-sqlite-{which}")
    return r, {"rtjobs_cpu_us_per_job": round(r["server_cpu_us_per_job"], 1),
               "machine_cpu_us_per_job": round(r["machine_cpu_us_per_job"], 1),
               "load_1m": float(Path("/proc/loadavg").read_text().split()[0])}


def postgres_run(ctx, which):
    r = burn_down.burn_down(ctx, "postgres", ctx.sizes["jobs"], name=f"burn-{which}",
                            before_start=empty_outbox)
    return r, {"pg_cpu_us_per_job": round(r.get("postgres_cpu_us_per_job") or 0, 1),
               "wal_bytes_per_job": round(r["wal_bytes_per_job"]),
               "rows_updated_per_job": round(r["rows_updated_per_job"], 2),
               "rows_inserted_per_job": round(r["rows_inserted_per_job"], 2)}


def main():
    args = sys.argv[1:]
    sqlite = "--sqlite" in args
    args = [a for a in args if a != "--sqlite"]
    old, new = Path(args[0]).resolve(), Path(args[1]).resolve()
    rounds = int(args[2]) if len(args) > 2 else 3
    ctx = BenchContext.from_env(False)
    jobs = ctx.sizes["jobs"]
    binaries = {"old": replace(ctx, rtjobs=old), "new": replace(ctx, rtjobs=new)}
    if not sqlite:
        burn_down.rtjobs_migrate(binaries["new"], ctx.pg_url)
    run = sqlite_run if sqlite else postgres_run
    rows = []
    for i in range(rounds):
        g = graphile(ctx, "fastest", jobs)
        order = ["old", "new"] if i % 2 == 0 else ["new", "old"]
        for which in order:
            r, figures = run(binaries[which], which)
            row = {"round": i, "binary": which, "jobs_per_s": round(r["jobs_per_s"]),
                   "graphile_jobs_per_s": round(g["jobs_per_s"]),
                   "ratio": round(r["jobs_per_s"] / g["jobs_per_s"], 3), **figures}
            rows.append(row)
            print(json.dumps(row), flush=True)
    for which in ("old", "new"):
        mine = [r for r in rows if r["binary"] == which]
        log(f"{which}: " + ", ".join(f"{r['jobs_per_s']} ({r['ratio']}x)" for r in mine))
    for i in range(rounds):
        o, n = [next(r for r in rows if r["round"] == i and r["binary"] == b) for b in ("old", "new")]
        log(f"round {i}: new/old {n['jobs_per_s'] / o['jobs_per_s']:.2f}")


if __name__ == "__main__":
    main()
