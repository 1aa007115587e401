#!/usr/bin/env python3
"""Runs the benchmark rows of docs/BENCHMARKS.md and prints one table: every rtjobs figure
beside its reference measured in the same run, the ratio and the target (issues 6 and 14).

Normally started by scripts/bench.sh, which installs the tools, builds rtjobs and starts the
benchmark's own PostgreSQL. Directly: python3 bench/run.py [--quick] [--rows 1,2,5]
(BENCH_PG_URL, BENCH_RTJOBS and the BENCH_* sizes come from the environment).
A row that fails prints its error in the table; the others still run.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import burn_down  # noqa: E402
import endpoint  # noqa: E402
import events  # noqa: E402
import flow  # noqa: E402
import latency  # noqa: E402
import memory  # noqa: E402
import settlement  # noqa: E402
import writeset  # noqa: E402
from common import (BENCH, ROOT, BenchContext, PgWork, log, psql,  # noqa: E402
                    rtjobs_migrate, run_json)


def default_concurrency():
    text = (ROOT / "src/config/config.hpp").read_text()
    m = re.search(r"int concurrency = (\d+);", text)
    return int(m.group(1)) if m else None


def graphile(ctx, setup, jobs, task="noop"):
    """Graphile Worker seeds its jobs, then drains them in a process of its own, so PgWork
    measures what PostgreSQL did for the drain alone, as for rtjobs (burn_down.py). The
    equivalent task's tables (bench/graphile/equivalent_schema.sql, shaped like rtjobs' own)
    are made afresh and seeded with the burn-down's rows (seed_pg.sql) first."""
    log(f"graphile {setup} {task}: {jobs} jobs")
    if task == "equivalent":
        rtjobs_migrate(ctx, ctx.pg_url)  # the tables are LIKE rtjobs' own
        psql(ctx.pg_url, (BENCH / "graphile/equivalent_schema.sql").read_text())
        psql(ctx.pg_url, "SET search_path TO bench_equivalent, public;\n"
             + (BENCH / "seed_pg.sql").read_text(), {"n": jobs, "provider": "sandbox"})
    args = ["node", str(BENCH / "graphile/run.js"), "--url", ctx.pg_url, "--jobs", str(jobs),
            "--setup", setup, "--task", task, "--step"]
    subprocess.run(args + ["seed"], check=True, timeout=600)
    work = PgWork(ctx.pg_url)
    r = run_json(args + ["drain"])
    r.update(work.per_job(jobs))
    log(f"graphile {setup} {task}: {r['jobs_per_s']:.0f} jobs/s")
    if task == "equivalent" and (r["next_created"] != jobs or r["future_jobs"] != jobs):
        raise RuntimeError(f"graphile equivalent: {r['next_created']} next occurrences and "
                           f"{r['future_jobs']} jobs queued for {jobs} jobs")
    return r


def alternate(rounds, reference, rtjobs, reference_first):
    """Runs the reference and rtjobs side by side `rounds` times, alternating, and returns the
    pair whose ratio (rtjobs jobs/s over the reference's) is the median, with every ratio. A
    pair's two runs are seconds apart; the machine's speed drifts between pairs."""
    pairs = []
    for _ in range(rounds):
        if reference_first:
            ref = reference()
            mine = rtjobs()
        else:
            mine = rtjobs()
            ref = reference()
        pairs.append((mine["jobs_per_s"] / ref["jobs_per_s"], mine, ref))
    ordered = sorted(pairs, key=lambda p: p[0])
    _, mine, ref = ordered[len(ordered) // 2]
    return {"rtjobs": mine, "reference": ref, "ratios": [round(p[0], 3) for p in pairs]}


def measure_pairs(r, rtjobs_key, reference_key, *args):
    """alternate() into the figures rtjobs_key and reference_key (a failure under rtjobs_key)."""
    key = rtjobs_key + "_pairs"
    r.measure(key, alternate, *args)
    if key in r.errors:
        r.errors[rtjobs_key] = r.errors.pop(key)
        return
    pair = r.data.pop(key)
    r.data[rtjobs_key], r.data[reference_key] = pair["rtjobs"], pair["reference"]
    r.data[rtjobs_key + "_ratios"] = pair["ratios"]


# The PostgreSQL burn-down's references, each run beside it in every round: (figure of the
# reference, figure of the rtjobs run of the round whose ratio to it is the median). Row 1's
# pairing is the first, kept under its earlier names ("pg", "pg_ratios").
PG_REFERENCES = (("graphile_fastest_1", "pg"), ("writeset", "pg_vs_writeset"),
                 ("graphile_equivalent", "pg_vs_equivalent"))


def measure_pg_rounds(r, ctx, rows):
    """Rows 1, 1e, 3b (and 6b): `rounds` rounds of Graphile fastest (no-op), the rtjobs
    PostgreSQL burn-down, the pgbench replica of its write set (row 3 asked) and Graphile fastest
    running the equivalent work (row 1 asked), in that order, so every reference runs within
    seconds of the rtjobs run it is compared with. A failed run leaves its round without that
    figure (its error recorded); for each reference the round whose ratio is the median is
    shown, with every round's ratio."""
    jobs = ctx.sizes["jobs"]
    runs = [("graphile_fastest_1", lambda: graphile(ctx, "fastest", jobs)),
            ("pg", lambda: burn_down.burn_down(ctx, "postgres", jobs, name="burn-postgres"))]
    if 3 in rows:
        runs.append(("writeset", lambda: writeset.run(ctx, jobs)))
    if 1 in rows:
        runs.append(("graphile_equivalent",
                     lambda: graphile(ctx, "fastest", ctx.sizes["equivalent_jobs"], "equivalent")))
    rounds = []
    for _ in range(ctx.sizes["rounds"]):
        got = {}
        for key, fn in runs:
            one = Results()
            one.measure(key, fn)
            if key in one.errors:
                r.errors.setdefault(key, one.errors[key])
            else:
                got[key] = one.data[key]
        rounds.append(got)
    r.data["pg_rounds"] = rounds
    for ref, mine_key in PG_REFERENCES:
        pairs = [(g["pg"]["jobs_per_s"] / g[ref]["jobs_per_s"], g["pg"], g[ref])
                 for g in rounds if "pg" in g and ref in g]
        if not pairs:
            continue
        ordered = sorted(pairs, key=lambda p: p[0])
        _, mine, other = ordered[len(ordered) // 2]
        r.data[mine_key], r.data[ref] = mine, other
        r.data[mine_key + "_ratios"] = [round(p[0], 3) for p in pairs]


def pgbench(ctx):
    s = ctx.sizes
    log(f"pgbench: {s['pgbench_seconds']} s")
    return run_json([str(BENCH / "pgbench.sh"), ctx.pg_url, str(s["pgbench_seconds"]),
                     str(s["pgbench_scale"])])


class Results:
    """Figures by name; a failed step records its error instead."""

    def __init__(self):
        self.data, self.errors = {}, {}

    def measure(self, key, fn, *args, **kwargs):
        try:
            self.data[key] = fn(*args, **kwargs)
        except Exception as e:  # a failed row must not stop the others
            traceback.print_exc()
            self.errors[key] = str(e).strip().splitlines()[0][:100] if str(e) else repr(e)

    def get(self, key):
        return self.data.get(key)


def measure_all(ctx, rows):
    r = Results()
    jobs = ctx.sizes["jobs"]
    rounds = ctx.sizes["rounds"]
    # Each reference runs right next to the figure it is compared with (the speed drifts), and
    # the burn-downs alternate with their reference `rounds` times (the median pair is shown).
    if rows & {1, 2, 3, 6}:
        measure_pg_rounds(r, ctx, rows)
    if 3 in rows:
        r.measure("pgbench", pgbench, ctx)
    if 1 in rows:
        r.measure("graphile_default", graphile, ctx, "default", ctx.sizes["graphile_default_jobs"])
    if 2 in rows:
        measure_pairs(r, "sqlite", "graphile_fastest_2", rounds,
                      lambda: graphile(ctx, "fastest", jobs),
                      lambda: burn_down.burn_down(ctx, "sqlite", jobs, name="burn-sqlite"),
                      False)
    if 4 in rows:
        r.measure("latency", latency.run, ctx)
    if 5 in rows:
        r.measure("endpoint", endpoint.run, ctx)
    if 6 in rows:
        r.measure("idle", memory.run_idle, ctx)
        r.measure("backup", memory.run_backup, ctx)
        r.measure("backup_bench", memory.run_backup_bench, ctx)
    # Flow control toward a bank: (row, figure, function, its arguments after ctx).
    for row, key, fn, *args in ((7, "spike_unset", flow.run_spike, None),
                                (7, "spike_set", flow.run_spike, ctx.sizes["flow_max_rps"]),
                                (8, "outage", flow.run_outage),
                                (9, "scale", flow.run_scale),
                                (10, "shared", flow.run_shared)):
        if row in rows:
            r.measure(key, fn, ctx, *args)
    # Bank-webhook ingestion (issue 15), one figure per database (bench/settlement.py).
    if 11 in rows:
        for backend in ("sqlite", "postgres"):
            r.measure("settle_" + backend, settlement.run_one, ctx, backend)
    # Events to the main API (issue 16): the PostgreSQL burn-down with webhooks on and off.
    if 12 in rows:
        r.measure("events", events.run, ctx)
    return r


# ---- the table ----

def fmt_rate(x, unit="jobs/s"):
    return f"{x:,.0f} {unit}"


def ratio_cell(value, reference):
    return f"{value / reference:.2f}x" if value is not None and reference else "-"


def pg_work_cell(d):
    """PgWork's figures per job, as one cell."""
    cpu = d.get("postgres_cpu_us_per_job")
    cpu = f"{cpu:.0f} us; " if cpu is not None else ""
    return (f"{cpu}{d['wal_bytes_per_job']:,.0f} B; {d['rows_inserted_per_job']:.2f} / "
            f"{d['rows_updated_per_job']:.2f} [{d['hot_updated_per_job']:.2f}] / "
            f"{d['rows_deleted_per_job']:.2f}")


def verdict(ok):
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def build_rows(ctx, r, rows):
    """[(row, measure, rtjobs, reference, ratio, target, verdict)] for the rows that ran."""
    out = []

    def failed(row, measure, *names):
        if int(re.match(r"\d+", row).group()) not in rows:
            return True
        errs = [f"{n}: {r.errors[n][:60]}" for n in names if n in r.errors]
        if errs:
            out.append((row, measure, "error", "; ".join(errs), "-", "", "FAIL"))
            return True
        return any(r.get(n) is None for n in names)

    c = default_concurrency()
    pg, sqlite = r.get("pg"), r.get("sqlite")

    def spread(key):
        ratios = r.get(key + "_ratios") or []
        if len(ratios) < 2:
            return ""
        return f"; median of {len(ratios)} rounds ({min(ratios):.2f}-{max(ratios):.2f}x)"

    g1, g2, gd = r.get("graphile_fastest_1"), r.get("graphile_fastest_2"), r.get("graphile_default")
    if not failed("1", f"burn-down PostgreSQL, sandbox, C={c} (default)", "pg", "graphile_fastest_1"):
        ratio = pg["jobs_per_s"] / g1["jobs_per_s"]
        worst = min(r.get("pg_ratios") or [ratio])
        out.append(("1", f"burn-down PostgreSQL, {pg['jobs']:,} jobs, sandbox, C={c} (default)"
                         + spread("pg"),
                    fmt_rate(pg["jobs_per_s"]),
                    f"Graphile fastest, no-op jobs (local queue, batched, 24 conc.) "
                    f"{fmt_rate(g1['jobs_per_s'])}",
                    f"{ratio:.2f}x", ">= 0.8x in every round (issue 19)", verdict(worst >= 0.8)))
    if pg and gd and 1 in rows:
        out.append(("1b", "  same, vs Graphile Worker default setup", fmt_rate(pg["jobs_per_s"]),
                    f"Graphile default (conc. 1, {gd['jobs']:,} jobs) {fmt_rate(gd['jobs_per_s'])}",
                    ratio_cell(pg["jobs_per_s"], gd["jobs_per_s"]), "(info)", "-"))
    elif "graphile_default" in r.errors:
        failed("1b", "Graphile default", "graphile_default")
    if pg and "server_cpu_us_per_job" in pg and 1 in rows:
        db_cpu = pg.get("postgres_cpu_us_per_job")
        db_cpu = f", PostgreSQL {db_cpu:.0f} us" if db_cpu is not None else ""
        out.append(("1c", "  CPU per job during the PG burn-down",
                    f"rtjobs {pg['server_cpu_us_per_job']:.0f} us{db_cpu}",
                    f"whole machine {pg['machine_cpu_us_per_job']:.0f} us", "-", "(info)", "-"))
    if pg and g1 and "wal_bytes_per_job" in pg and "wal_bytes_per_job" in g1 and 1 in rows:
        out.append(("1d", "  PostgreSQL's work per job, the drain alone: CPU; WAL; rows inserted"
                          " / updated [of which HOT] / deleted",
                    pg_work_cell(pg), "Graphile fastest " + pg_work_cell(g1),
                    ratio_cell(pg["wal_bytes_per_job"], g1["wal_bytes_per_job"]) + " (WAL)",
                    "(info)", "-"))
    ge, pe = r.get("graphile_equivalent"), r.get("pg_vs_equivalent")
    if not failed("1e", "burn-down PostgreSQL vs Graphile equivalent work", "pg",
                  "graphile_equivalent"):
        ratio = pe["jobs_per_s"] / ge["jobs_per_s"]
        out.append(("1e", "  same, vs Graphile fastest running the equivalent work (outcome, next "
                          "occurrence, add_job: one transaction a job)" + spread("pg_vs_equivalent"),
                    fmt_rate(pe["jobs_per_s"]),
                    f"Graphile fastest, equivalent task, {ge['jobs']:,} jobs "
                    f"{fmt_rate(ge['jobs_per_s'])}",
                    f"{ratio:.2f}x", ">= 10x (issue 19)", verdict(ratio >= 10)))
    if pe and ge and "wal_bytes_per_job" in pe and "wal_bytes_per_job" in ge:
        out.append(("1f", "  PostgreSQL's work per job, row 1e's pair: CPU; WAL; rows inserted"
                          " / updated [of which HOT] / deleted",
                    pg_work_cell(pe), "Graphile equivalent " + pg_work_cell(ge),
                    ratio_cell(pe["wal_bytes_per_job"], ge["wal_bytes_per_job"]) + " (WAL)",
                    "(info)", "-"))
    if not failed("2", "burn-down SQLite", "sqlite", "graphile_fastest_2"):
        ratio = sqlite["jobs_per_s"] / g2["jobs_per_s"]
        out.append(("2", f"burn-down SQLite, {sqlite['jobs']:,} jobs, sandbox, C={c}" + spread("sqlite"),
                    fmt_rate(sqlite["jobs_per_s"]),
                    f"Graphile fastest (same setup, re-run) {fmt_rate(g2['jobs_per_s'])}",
                    f"{ratio:.2f}x", ">= 0.8x (issue 19)", verdict(ratio >= 0.8)))
    if sqlite and "server_cpu_us_per_job" in sqlite and 2 in rows:
        out.append(("2b", "  CPU per job during the SQLite burn-down",
                    f"rtjobs {sqlite['server_cpu_us_per_job']:.0f} us",
                    f"whole machine {sqlite['machine_cpu_us_per_job']:.0f} us", "-", "(info)", "-"))
    if not failed("3", "PG burn-down vs pgbench", "pg", "pgbench"):
        pb = r.get("pgbench")
        per_job = pg.get("commits_per_job")
        per_job = f", {per_job:.2f} commits/job" if per_job is not None else ""
        out.append(("3", "PG burn-down as a fraction of the commit rate",
                    fmt_rate(pg["jobs_per_s"]) + per_job,
                    f"pgbench 1-row UPDATE, {pb['clients']} clients, {pb['seconds']} s: "
                    f"{fmt_rate(pb['tps'], 'commits/s')}",
                    ratio_cell(pg["jobs_per_s"], pb["tps"]), "(info)", "-"))
    if not failed("3b", "PG burn-down vs its write set in pgbench", "pg", "writeset"):
        ws, pw = r.get("writeset"), r.get("pg_vs_writeset")
        out.append(("3b", "PG burn-down as a fraction of its design's ceiling"
                          + spread("pg_vs_writeset"),
                    f"{fmt_rate(pw['jobs_per_s'])}; " + pg_work_cell(pw),
                    f"pgbench replica of rtjobs' write set (claim; outcome, next occurrence, "
                    f"transfer, event born fanned out), {ws['clients']} clients, batches of "
                    f"{ws['batch']}: {fmt_rate(ws['jobs_per_s'])}; " + pg_work_cell(ws),
                    ratio_cell(pw["jobs_per_s"], ws["jobs_per_s"]), "(info)", "-"))
    if not failed("4", "latency-bound", "latency"):
        lt = r.get("latency")
        ratio = lt["jobs_per_s"] / lt["ideal_jobs_per_s"]
        out.append(("4", f"latency-bound PG, http provider, {lt['latency_ms']} ms bank, "
                         f"C={lt['concurrency']}, {lt['jobs']:,} jobs",
                    f"{fmt_rate(lt['jobs_per_s'])}, peak in flight {lt['peak_in_flight']}",
                    f"ideal C/{lt['latency_ms'] / 1000:g} s = {fmt_rate(lt['ideal_jobs_per_s'])}",
                    f"{ratio:.0%}", ">= 80%, C >= 256",
                    verdict(ratio >= 0.8 and lt["concurrency"] >= 256)))
    if not failed("5", "process endpoint", "endpoint"):
        ep = r.get("endpoint")
        rt, ng = ep["rtjobs"], ep["nginx"]
        ratio = rt["rps"] / ng["rps"]
        s = ctx.sizes
        errors = f", {rt['errors']} errors" if rt["errors"] else ""
        out.append(("5", f"POST /v1/jobs/{{id}}/process, terminal jobs, SQLite; wrk "
                         f"-c{s['wrk_connections']} -t2 -d{s['wrk_seconds']}s",
                    f"{fmt_rate(rt['rps'], 'req/s')}{errors}",
                    f"nginx return 200: {fmt_rate(ng['rps'], 'req/s')}",
                    f"{ratio:.2f}x", ">= 0.5x", verdict(ratio >= 0.5 and rt["errors"] == 0)))
        out.append(("5b", "  latency p50 / p99",
                    f"{rt['p50_us'] / 1000:.1f} / {rt['p99_us'] / 1000:.1f} ms",
                    f"nginx {ng['p50_us'] / 1000:.1f} / {ng['p99_us'] / 1000:.1f} ms",
                    ratio_cell(rt["p99_us"], ng["p99_us"]) + " (p99)", "p99 <= 10 ms",
                    verdict(rt["p99_us"] <= 10000)))
    if not failed("6a", "idle RSS", "idle"):
        idle = r.get("idle")
        worst = max(idle.values())
        out.append(("6a", "resident memory idle (VmRSS, 3 s after start)",
                    f"PG {idle['postgres']:.1f} MiB, SQLite {idle['sqlite']:.1f} MiB", "-", "-",
                    "<= 30 MB", verdict(worst * 1.048576 <= 30)))
    if pg and 6 in rows:
        peaks = [g["pg"]["hwm_mib"] for g in r.get("pg_rounds") or [] if "pg" in g]
        peak = max(peaks or [pg["hwm_mib"]])
        out.append(("6b", "  peak during the PG burn-down (VmHWM), highest of the rounds",
                    f"{peak:.1f} MiB", "-", "-", "< 100 MB (issue 19)",
                    verdict(peak * 1.048576 < 100)))
    if not failed("6c", "backup", "backup"):
        b = r.get("backup")
        small, large = b["small"], b["large"]
        ratio = large["seconds"] / large["copy_seconds"]
        out.append(("6c", f"backup of {large['rows']:,} job rows (POST /v1/backups?wait=true, file://)",
                    f"{large['seconds']:.2f} s",
                    f"PG COPY (SELECT ...) TO STDOUT CSV {large['copy_seconds']:.2f} s",
                    f"{ratio:.2f}x", "<= 2.0x", verdict(ratio <= 2.0)))
        mratio = large["hwm_mib"] / small["hwm_mib"]
        out.append(("6d", f"  backup peak memory (VmHWM) at {large['rows']:,} vs "
                          f"{small['rows']:,} rows",
                    f"{large['hwm_mib']:.1f} MiB", f"{small['hwm_mib']:.1f} MiB",
                    f"{mratio:.2f}x", "<= 1.2x", verdict(mratio <= 1.2)))
    bb = r.get("backup_bench")
    if "backup_bench" in r.errors:
        failed("6e", "backup_bench", "backup_bench")
    elif bb:
        copy = r.get("backup") and r.get("backup")["large"]
        for backend in sorted({x["backend"] for x in bb}):
            runs = sorted((x for x in bb if x["backend"] == backend), key=lambda x: x["jobs"])
            small, large = runs[0], runs[-1]
            ref = "-"
            ratio = "-"
            ok = None
            if copy and copy["rows"] == large["jobs"]:
                ref = f"PG COPY of {copy['rows']:,} rows {copy['copy_seconds']:.2f} s"
                ratio = f"{large['seconds'] / copy['copy_seconds']:.2f}x"
                ok = large["seconds"] / copy["copy_seconds"] <= 2.0
            out.append(("6e", f"  backup_bench {backend}: {large['jobs']:,} jobs + "
                              f"{large['statuses']:,} statuses (backup alone)",
                        f"{large['seconds']:.2f} s", ref, ratio, "<= 2.0x", verdict(ok)))
            mratio = large["peak_rss_mib"] / small["peak_rss_mib"]
            out.append(("6f", f"  backup_bench {backend}: peak RSS at {large['jobs']:,} vs "
                              f"{small['jobs']:,} jobs",
                        f"{large['peak_rss_mib']:.1f} MiB", f"{small['peak_rss_mib']:.1f} MiB",
                        f"{mratio:.2f}x", "<= 1.2x", verdict(mratio <= 1.2)))
    out += flow_rows(r, rows, failed)
    return out


def cpu_cell(d):
    """CPU per job of a flow drain: rtjobs, the fake bank, the whole machine."""
    return (f"CPU/job rtjobs {d['server_cpu_us_per_job']:.0f} us, bank "
            f"{d['bank_cpu_us_per_job']:.0f} us, machine {d['machine_cpu_us_per_job']:.0f} us")


def flow_rows(r, rows, failed):
    """Rows 7-10, flow control toward a bank (bench/flow.py)."""
    out = []

    def bank_cell(d):
        b = d["bank"]
        return (f"429s {d['share_429']:.2%} ({b['rate_limited']:,} of {b['requests']:,} calls); "
                f"FAILED {d['failed']:,}")

    for row, key, target_429 in (("7", "spike_unset", 0.02), ("7b", "spike_set", 0.0)):
        if failed(row, "month-end spike", key):
            continue
        d = r.get(key)
        ratio = d["seconds"] / d["ideal_seconds"]
        setting = f"max_rps = {d['provider_max_rps']}" if d["provider_max_rps"] else "max_rps unset"
        out.append((row, f"month-end spike, {d['jobs']:,} jobs, bank {d['latency_ms']} ms with "
                         f"--max-rps {d['bank_max_rps']}, C={d['concurrency']}, provider {setting}",
                    f"drained in {d['seconds']:.1f} s ({fmt_rate(d['jobs_per_s'])}); "
                    + bank_cell(d),
                    f"ideal N/{d['bank_max_rps']} = {d['ideal_seconds']:.1f} s",
                    f"{ratio:.2f}x", f"<= 1.15x, 429s {'<= 2%' if target_429 else '= 0'}, "
                                     "FAILED 0",
                    verdict(ratio <= 1.15 and d["share_429"] <= target_429
                            and d["failed"] == 0)))
    d = r.get("spike_unset")
    if d and 7 in rows:
        m, lowered = d["metrics"][0], d["rates_lowered"][0]
        shown = ", ".join(str(x) for x in lowered[:6]) + (", ..." if len(lowered) > 6 else "")
        out.append(("7c", "  how rtjobs found the limit (max_rps unset): rate lowered after 429 "
                          "(log), 429s seen and deferrals (/metrics)",
                    f"lowered {len(lowered)} times ({shown}); {m.get('rate_limited_total', 0):,.0f}"
                    f" 429s, {m.get('deferrals_total', 0):,.0f} deferrals",
                    f"bank's busiest second {d['bank']['accepted_max_per_second']:,} accepted",
                    "-", "(info)", "-"))
    if not failed("8", "outage", "outage"):
        d = r.get("outage")
        ratio = d["after_seconds"] / d["ideal_after_seconds"]
        out.append(("8", f"outage: bank ({d['latency_ms']} ms, --max-rps {d['bank_max_rps']}, "
                         f"provider max_rps {d['provider_max_rps']}) answers 503 for "
                         f"{d['outage_measured_seconds']:.0f} s at {d['left_at_down']:,} of "
                         f"{d['jobs']:,} jobs left",
                    f"drained {d['after_seconds']:.1f} s after it was back; FAILED {d['failed']:,};"
                    f" retries used {d['retries']:,}",
                    f"ideal {d['left_at_up']:,} left / {d['bank_max_rps']} = "
                    f"{d['ideal_after_seconds']:.1f} s",
                    f"{ratio:.2f}x", "<= 1.15x, FAILED 0, retries 0",
                    verdict(ratio <= 1.15 and d["failed"] == 0 and d["retries"] == 0)))
        m = d["metrics"][0]
        out.append(("8b", "  the outage as seen by the bank and by rtjobs (/metrics)",
                    f"paused {m.get('paused_total', 0):.0f} times; {d['jobs_retried']:,} jobs "
                    f"used a retry; whole drain {d['seconds']:.0f} s",
                    f"503s answered {d['bank']['outage_rejected']:,}", "-", "(info)", "-"))
    if not failed("9", "latency-bound at scale", "scale"):
        d = r.get("scale")
        b, c = d["bound"], d["ceiling"]
        ratio = b["jobs_per_s"] / d["reference_jobs_per_s"]
        out.append(("9", f"latency-bound at scale, http provider, {b['latency_ms']} ms bank, no "
                         f"limit, C={b['concurrency']}, {b['jobs']:,} jobs",
                    f"{fmt_rate(b['jobs_per_s'])}, peak in flight {b['bank']['peak_in_flight']}; "
                    + cpu_cell(b),
                    f"ideal C/{b['latency_ms'] / 1000:g} s = {fmt_rate(d['ideal_jobs_per_s'])}; "
                    f"ceiling (0 ms bank) {fmt_rate(c['jobs_per_s'])}; " + cpu_cell(c),
                    f"{ratio:.0%}", ">= 80% of the lower", verdict(ratio >= 0.8)))
    if not failed("10", "shared max_rps", "shared"):
        d = r.get("shared")
        busiest = d["bank"]["accepted_max_per_second"]
        limit = d["bank_max_rps"] * 1.1
        shares = " / ".join(f"{m.get('rate_limit', 0):g}" for m in d["metrics"])
        out.append(("10", f"{d['instances']} instances, one PostgreSQL, provider max_rps = "
                          f"{d['bank_max_rps']} each, bank --max-rps {d['bank_max_rps']}, "
                          f"{d['latency_ms']} ms, {d['jobs']:,} jobs",
                    f"bank's busiest second {busiest:,} accepted; 429s "
                    f"{d['bank']['rate_limited']:,}; FAILED {d['failed']:,}; rates {shares}/s; "
                    f"drained in {d['seconds']:.1f} s",
                    f"{d['bank_max_rps']} x 1.1 = {limit:.0f}/s; ideal drain "
                    f"{d['ideal_seconds']:.1f} s",
                    f"{busiest / d['bank_max_rps']:.2f}x",
                    f"<= {limit:.0f}/s, 0 429s, FAILED 0",
                    verdict(busiest <= limit and d["bank"]["rate_limited"] == 0
                            and d["failed"] == 0)))
    if 11 in rows:
        out.extend(settlement.table_rows(r))
    if not failed("12", "events to the main API", "events"):
        d = r.get("events")
        on, off = d["on"], d["off"]
        rounds = ", ".join(f"{x:.2f}" for x in d["ratios"])
        out.append(("12", f"PostgreSQL burn-down, {on['jobs']:,} jobs, with one webhook endpoint "
                          "(local receiver verifying each delivery) vs none",
                    f"{fmt_rate(on['jobs_per_s'])}; {on['after']['events']:,} events delivered "
                    f"at {on['after']['events_per_s']:,.0f}/s (start to last delivery)",
                    f"{fmt_rate(off['jobs_per_s'])} without an endpoint",
                    f"{d['ratio']:.2f}x (rounds {rounds})", ">= 0.85x",
                    verdict(d["ratio"] >= 0.85)))
    return out


def print_table(rows, file=sys.stdout, markdown=False):
    head = ("#", "measure", "rtjobs", "reference (same run)", "ratio", "target", "")
    if markdown:
        print("| " + " | ".join(head) + " |", file=file)
        print("|" + "---|" * len(head), file=file)
        for row in rows:
            print("| " + " | ".join(row) + " |", file=file)
        return
    widths = [max(len(str(x[i])) for x in [head] + rows) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    print(line, file=file)
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)), file=file)
    print(line, file=file)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)), file=file)
    print(line, file=file)


def machine():
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores {cpu}, {mem:.0f} GiB, {platform.platform()}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, a smoke run of minutes")
    p.add_argument("--rows", default=os.environ.get("BENCH_ROWS", "1,2,3,4,5,6,7,8,9,10,11,12"),
                   help="rows to run, e.g. 1,5")
    args = p.parse_args()
    rows = {int(x) for x in args.rows.split(",") if x.strip()}
    ctx = BenchContext.from_env(args.quick)
    log(f"sizes {ctx.sizes}; tmp {ctx.tmp}")
    started = time.monotonic()
    results = measure_all(ctx, rows)
    table = build_rows(ctx, results, rows)
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    print(f"\nrtjobs benchmarks{' (--quick)' if args.quick else ''} — {stamp} — {machine()}")
    print(f"rtjobs {git_describe()}; every ratio against a reference measured in this run; "
          f"{time.monotonic() - started:.0f} s\n")
    print_table(table)
    out_dir = Path(os.environ.get("BENCH_OUT", ROOT / ".run" / "bench"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(
        {"date": stamp, "machine": machine(), "quick": args.quick, "sizes": ctx.sizes,
         "figures": results.data, "errors": results.errors}, indent=2, default=str))
    with open(out_dir / "table.md", "w") as f:
        print_table(table, file=f, markdown=True)
    print(f"\n(figures: {out_dir / 'results.json'}, markdown table: {out_dir / 'table.md'})")
    return 1 if results.errors else 0


def git_describe():
    r = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
