"""Rows 7-10: flow control toward a bank (issue 14; docs/ARCHITECTURE.md, "Flow control toward
each bank"). Each row seeds N due jobs on the `http` provider "bank" into the benchmark's
PostgreSQL (seed_pg.sql, as the burn-down does), points the provider at
tools/fake_baas/server.js, runs `rtjobs serve` (scheduler and retries on, RT_RETRY_BACKOFF=1)
until no due job is left (burn_down.wait_drained) and reads what each side saw: the bank's
/_control/stats (requests, 429s, 503s, its busiest second), rtjobs' /metrics (rtjobs_provider_*)
and its "provider rate lowered after 429" log lines, and the jobs' end states (FAILED, the sum
of `retries`) in the database.

- 7  month-end spike: a bank with --max-rps R, twice: provider max_rps unset (rtjobs finds the
     limit from the 429s) and max_rps = R. Ideal drain N / R.
- 8  outage: the bank answers 503 to everything for a while once half the jobs are done. Ideal
     drain after it is back: jobs left then / R.
- 9  latency-bound at scale: C calls in flight against a bank answering after L ms, no limit;
     ideal C / L, beside the machine's ceiling (the same drain with a bank answering at once).
- 10 several instances on one database sharing max_rps = R: the bank's busiest second.
"""

import json
import os
import time

from burn_down import STALL_SECONDS, wait_drained
from common import (FakeBaas, PsqlSession, Rtjobs, http_get_text, log, machine_busy_seconds,
                    psql, rtjobs_migrate)
from seed import seed_pg

PROVIDER = "bank"
# End states of the seeded jobs (sequence 1; the sequence-2 jobs they create are a month ahead).
END_STATE_SQL = (
    "SELECT count(*) FILTER (WHERE status = 'FAILED'),"
    " count(*) FILTER (WHERE status = 'FINISHED' AND result = 'SUCCEEDED'),"
    " coalesce(sum(retries), 0), count(*) FILTER (WHERE retries > 0)"
    " FROM recurring_transfer_job WHERE sequence = 1")


def provider_config(ctx, name, fake, max_rps):
    text = (f'[providers.{PROVIDER}]\ntype = "http"\nbase_url = "{fake.base_url}"\n'
            f'token_env = "BAAS_TOKEN"\ntimeout_ms = 10000\n')
    if max_rps:
        text += f"max_rps = {max_rps}\n"
    path = ctx.tmp / f"{name}.toml"
    path.write_text(text)
    return path


def provider_metrics(server):
    """rtjobs_provider_* of the provider from the server's /metrics: {name: value, "state": s}."""
    out = {}
    for line in http_get_text(f"http://127.0.0.1:{server.port}/metrics").splitlines():
        if not line.startswith("rtjobs_provider_") or f'provider="{PROVIDER}"' not in line:
            continue
        series, value = line.rsplit(" ", 1)
        name = series.split("{", 1)[0][len("rtjobs_provider_"):]
        if name == "state":
            if value == "1":
                out["state"] = series.split('state="', 1)[1].split('"', 1)[0]
        else:
            out[name] = float(value)
    return out


def rates_lowered(server):
    """The rates of the server's "provider rate lowered after 429" lines, in order."""
    rates = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if "provider rate lowered after 429" not in line:
            continue
        try:
            rates.append(json.loads(line)["rate"])
        except (ValueError, KeyError):
            continue
    return rates


def drain(ctx, name, jobs, fake, concurrency, max_rps=None, instances=1, on_count=None,
          stall_seconds=STALL_SECONDS):
    """Seeds `jobs` due jobs on the provider, runs `instances` servers until none is left and
    returns the figures. The time runs from the first server's start."""
    url = ctx.pg_url
    rtjobs_migrate(ctx, url)
    seed_pg(url, jobs, PROVIDER)
    os.environ.setdefault("BAAS_TOKEN", "bench-baas-token")
    config = provider_config(ctx, name, fake, max_rps)
    env = {"RT_HORIZON_MONTHS": "1", "RT_SCHEDULER_ENABLED": "true",
           "RT_RETRIES_ENABLED": "true", "RT_RETRY_BACKOFF": "1", "RT_BACKUP_ENABLED": "false",
           "RT_CONCURRENCY": str(concurrency)}
    log(f"{name}: {jobs} jobs seeded, {instances} x rtjobs serve, C={concurrency}, "
        f"provider max_rps {max_rps or 'unset'}")
    counter = PsqlSession(url)
    servers = []
    busy_before, fake_before = machine_busy_seconds(), fake.cpu_seconds()
    try:
        for i in range(instances):
            servers.append(Rtjobs(ctx, url, name if instances == 1 else f"{name}-{i + 1}", env,
                                  config=config))
        wait_drained(counter, "postgres", jobs, name, servers, on_count, stall_seconds)
        ended = time.monotonic()
        metrics = [provider_metrics(s) for s in servers]
        cpu = {"server_cpu_us_per_job": sum(s.cpu_seconds() for s in servers) / jobs * 1e6,
               "bank_cpu_us_per_job": (fake.cpu_seconds() - fake_before) / jobs * 1e6,
               "machine_cpu_us_per_job": (machine_busy_seconds() - busy_before) / jobs * 1e6}
    finally:
        for s in servers:
            s.stop()
        counter.close()
    failed, succeeded, retries, jobs_retried = (
        int(v) for v in psql(url, END_STATE_SQL).split("|"))
    stats = fake.stats()
    requests = stats["requests"]
    seconds = ended - servers[0].started
    result = {"jobs": jobs, "seconds": seconds, "jobs_per_s": jobs / seconds, "ended": ended,
              "concurrency": concurrency, "provider_max_rps": max_rps, "instances": instances,
              "failed": failed, "succeeded": succeeded, "retries": retries,
              "jobs_retried": jobs_retried, "bank": stats,
              "share_429": stats["rate_limited"] / requests if requests else 0.0,
              "metrics": metrics, "rates_lowered": [rates_lowered(s) for s in servers], **cpu}
    log(f"{name}: {json.dumps({k: v for k, v in result.items() if k != 'ended'})}")
    if succeeded != jobs:
        log(f"{name}: WARNING {succeeded} of {jobs} jobs succeeded")
    return result


def run_spike(ctx, provider_max_rps):
    """Row 7: N due jobs against a bank limited to R requests a second (200 ms answers)."""
    s = ctx.sizes
    rps = s["flow_max_rps"]
    fake = FakeBaas(s["flow_latency_ms"], rps)
    try:
        name = "spike-" + ("set" if provider_max_rps else "unset")
        r = drain(ctx, name, s["spike_jobs"], fake, s["flow_concurrency"], provider_max_rps)
    finally:
        fake.stop()
    r.update({"bank_max_rps": rps, "latency_ms": s["flow_latency_ms"],
              "ideal_seconds": s["spike_jobs"] / rps})
    return r


def run_outage(ctx):
    """Row 8: the bank answers 503 to everything for outage_seconds once half the jobs are left,
    then is back. The after-outage drain is timed from the moment it is back."""
    s = ctx.sizes
    rps, jobs, outage = s["flow_max_rps"], s["outage_jobs"], s["outage_seconds"]
    fake = FakeBaas(s["flow_latency_ms"], rps)
    when = {}

    def switch(left):
        now = time.monotonic()
        if "down_at" not in when and left <= jobs / 2:
            fake.control("outage", {"down": True, "mode": "503"})
            when.update(down_at=now, left_at_down=left)
            log(f"outage: bank down at {left} jobs left")
        elif "down_at" in when and "up_at" not in when and now - when["down_at"] >= outage:
            fake.control("outage", {"down": False})
            when.update(up_at=time.monotonic(), left_at_up=left)
            log(f"outage: bank back at {left} jobs left")

    try:
        r = drain(ctx, "outage", jobs, fake, s["flow_concurrency"], rps, on_count=switch,
                  stall_seconds=outage + STALL_SECONDS)
    finally:
        fake.stop()
    if "up_at" not in when:
        raise RuntimeError("outage: the jobs drained before the outage ended (too few jobs)")
    after = r["ended"] - when["up_at"]
    r.update({"bank_max_rps": rps, "latency_ms": s["flow_latency_ms"], "outage_seconds": outage,
              "left_at_down": when["left_at_down"], "left_at_up": when["left_at_up"],
              "outage_measured_seconds": when["up_at"] - when["down_at"],
              "after_seconds": after, "ideal_after_seconds": when["left_at_up"] / rps})
    return r


def run_scale(ctx):
    """Row 9: C calls in flight against a bank answering after L ms, no rate limit; first the
    machine's ceiling, the same drain against a bank that answers at once."""
    s = ctx.sizes
    out = {}
    for key, latency in (("ceiling", 0), ("bound", s["scale_latency_ms"])):
        fake = FakeBaas(latency)
        try:
            r = drain(ctx, f"scale-{latency}ms", s["scale_jobs"], fake, s["scale_concurrency"])
        finally:
            fake.stop()
        r["latency_ms"] = latency
        out[key] = r
    c, latency = s["scale_concurrency"], s["scale_latency_ms"]
    out["ideal_jobs_per_s"] = c / (latency / 1000.0)
    out["reference_jobs_per_s"] = min(out["ideal_jobs_per_s"], out["ceiling"]["jobs_per_s"])
    return out


def run_shared(ctx):
    """Row 10: several instances on one database, each with max_rps = R for the same bank."""
    s = ctx.sizes
    rps = s["flow_max_rps"]
    fake = FakeBaas(s["flow_latency_ms"], rps)
    try:
        r = drain(ctx, "shared", s["shared_jobs"], fake, s["flow_concurrency"], rps,
                  instances=s["shared_instances"])
    finally:
        fake.stop()
    r.update({"bank_max_rps": rps, "latency_ms": s["flow_latency_ms"],
              "ideal_seconds": s["shared_jobs"] / rps})
    return r
