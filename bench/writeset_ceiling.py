#!/usr/bin/env python3
"""Issue 19's ceiling with every lever at once: row 1's reference (Graphile Worker fastest
draining N no-op jobs, bench/run.py's graphile()) and row 1 itself (the rtjobs PostgreSQL
burn-down of BENCH_RTJOBS, bench/burn_down.py) beside the pgbench replica of rtjobs' write set
(row 3b, rtjobs' write set with no endpoint: events born fanned out), and with every
lever the issue lists applied together (writeset_levers.py's all_levers, all_levers_extender_tr
and the bound all_levers_no_fk), N jobs each, alternating within every round (the order
reversed from one round to the next), on the same server. Prints every run and, per round,
rtjobs' and each replica's jobs/s over Graphile's; the figures, with the load average at each
round's start and end, go to BENCH_TMP/ceiling.json. Not part of scripts/bench.sh.

  BENCH_PG_URL=postgresql://... RT_PG_DIR=... BENCH_RTJOBS=build/rtjobs BENCH_TMP=/tmp/x \\
      python3 bench/writeset_ceiling.py [N] [ROUNDS]

The database gets rtjobs' schema (`rtjobs migrate`); its transfer and event tables are emptied.
Graphile's package must be installed (npm ci in bench/graphile).
"""

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import burn_down  # noqa: E402
import writeset_levers  # noqa: E402
from common import BenchContext, rtjobs_migrate  # noqa: E402
from run import graphile  # noqa: E402

MEASURED = ("rtjobs", "whole", "all_levers", "all_levers_extender_tr",
            "all_levers_no_fk")


def loadavg():
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main():
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    ctx = BenchContext.from_env(False)
    rtjobs_migrate(ctx, ctx.pg_url)
    runs = {"graphile_noop": lambda: graphile(ctx, "fastest", jobs),
            "rtjobs": lambda: burn_down.burn_down(ctx, "postgres", jobs, name="burn-postgres")}
    for name in MEASURED[1:]:
        runs[name] = lambda name=name: writeset_levers.one(name, jobs, ctx.tmp)
    names = list(runs)
    got = []
    for i in range(rounds):
        this = {"load_start": loadavg()}
        for name in names if i % 2 == 0 else names[::-1]:
            r = runs[name]()
            this[name] = r
            print(f"round {i} {name}: {r['jobs_per_s']:,.0f} jobs/s, PostgreSQL "
                  f"{r.get('postgres_cpu_us_per_job', 0):.0f} us/job, WAL "
                  f"{r['wal_bytes_per_job']:,.0f} B/job, rows inserted / updated "
                  f"{r['rows_inserted_per_job']:.2f} / {r['rows_updated_per_job']:.2f}",
                  flush=True)
        this["load_end"] = loadavg()
        print(f"round {i} load {this['load_start']} -> {this['load_end']}", flush=True)
        got.append(this)
        (ctx.tmp / "ceiling.json").write_text(json.dumps(got, indent=1))
    for name in MEASURED:
        ratios = [g[name]["jobs_per_s"] / g["graphile_noop"]["jobs_per_s"] for g in got]
        print(f"{name} / Graphile no-op, by round: "
              f"{', '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
