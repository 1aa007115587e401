"""Row 11: bank-webhook ingestion (issue 15), on SQLite and on PostgreSQL. Signed Column
"settled" events at a steady rate (1,000 a second) into POST /v1/bank-webhooks/{provider};
target: p99 under 50 ms, the rate sustained, and nothing lost: every event applied once.

Per database:
1. tools/fake_banks/server.js --bank column; N ACH transfers (rail ach, provider_options
   {"entry_class_code": "PPD"}) seeded due now as the burn-down seeds its jobs (seed.py,
   seed_pg.sql), on a provider `bank` of type column with webhook_secret_env; `rtjobs serve`
   (scheduler on, RT_SETTLEMENT_POLL_SECONDS=86400 so the follower never polls) drains them:
   each job FINISHED/SUCCEEDED, settlement pending, its provider_reference the bank's acht_ id.
2. Each transfer's object as the bank's GET /transfers/ach/{id} answers it (fetched from the
   fake, not timed) becomes a Column event {"id": "evnt_...", "created_at", "type":
   "ach.outgoing_transfer.settled", "data": {... "status": "SETTLED"}} signed as Column signs
   it (Column-Signature: hex HMAC-SHA256 of the raw body with the secret). Into the schedule go
   10% redeliveries of earlier events (same bytes, 0.5 s or more after the first, about 2 s on
   average) and 1% out-of-order "submitted" (pending) events after their transfer's settled one.
   On PostgreSQL, recycled WAL segments for the whole send (Db.warm_wal).
3. The reference, same server, same rate: GET /v1/jobs/{id} (authenticated, one database read on
   the blocking pool) for BENCH_SETTLE_REF_SECONDS.
4. The events, open loop (bench/settlement_sender.js: each request due at start + i / rate,
   latency from that due time to the answer's end, 64 keep-alive connections). /metrics is read
   every second meanwhile (the inbox backlog rtjobs_bank_events_pending, settlements applied).
5. Then until drained: rtjobs_bank_events_pending 0, settlement_updates_total{outcome="settled"}
   = N, GET /v1/jobs?settlement_status=pending empty. Checks: webhooks_total accepted = unique
   events, duplicate = redeliveries; in the database every job settled, every stored event
   applied, one row per unique event id.
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from burn_down import pg_commits, wait_drained
from common import (BENCH, ROOT, TOKEN, PsqlSession, Rtjobs, env_int, http_get_text, log,
                    machine_busy_seconds, postgres_cpu_seconds, psql, rtjobs_migrate)
from seed import SqliteCounter, seed_pg, seed_sqlite

PROVIDER = "bank"
SECRET = "bench-column-webhook-secret"
API_KEY = "bench-column-api-key"
SENDER = BENCH / "settlement_sender.js"
WEBHOOK_ROUTE = "/v1/bank-webhooks/{provider}"
JOB_ROUTE = "/v1/jobs/{job_id}"
# PostgreSQL's WAL per webhook request, intake and apply together, with a margin (6.4 KiB
# measured, row 11d: a 16 MiB segment filled every 3.1 s at 1,000 requests a second).
WAL_BYTES_PER_REQUEST = 8192


def sizes(ctx):
    q = ctx.quick
    return {"transfers": env_int("BENCH_SETTLE_TRANSFERS", 2000 if q else 20000),
            "rate": env_int("BENCH_SETTLE_RATE", 1000),
            "connections": env_int("BENCH_SETTLE_CONNECTIONS", 64),
            "duplicate_pct": env_int("BENCH_SETTLE_DUPLICATE_PCT", 10),
            "late_pending_pct": env_int("BENCH_SETTLE_LATE_PENDING_PCT", 1),
            "ref_seconds": env_int("BENCH_SETTLE_REF_SECONDS", 3 if q else 10),
            "target_p99_ms": 50}


class FakeColumn:
    """tools/fake_banks/server.js --bank column on an ephemeral port."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["node", str(ROOT / "tools/fake_banks/server.js"), "--bank", "column", "--api-key",
             API_KEY, "--port", "0", "--host", "127.0.0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = int(json.loads(self.proc.stdout.readline())["listening"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.auth = "Basic " + base64.b64encode(f":{API_KEY}".encode()).decode()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def send(ctx, name, url, requests, rate, connections, out=None, warmup=None):
    """bench/settlement_sender.js over a JSONL file of requests; its figures."""
    path = ctx.tmp / f"{name}.jsonl"
    with open(path, "w") as f:
        for r in requests:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    args = ["node", str(SENDER), "--url", url, "--requests", str(path), "--rate", str(rate),
            "--connections", str(connections)]
    if out:
        args += ["--out", str(out)]
    if warmup:
        args += ["--warmup-path", warmup]
    if os.environ.get("BENCH_SETTLE_LATENCIES") == "1":  # every latency, into the tmp dir
        args += ["--latencies", str(ctx.tmp / f"{name}-latencies.txt")]
    r = subprocess.run(args, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"{name}: sender failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- /metrics ----

_SERIES = re.compile(r'^([a-z_]+)(?:\{(.*)\})? ([0-9.eE+-]+)$')


def scrape(port):
    """{(name, frozenset of labels): value} of the server's /metrics."""
    out = {}
    for line in http_get_text(f"http://127.0.0.1:{port}/metrics").splitlines():
        m = _SERIES.match(line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def by_label(metrics, name, label):
    """{label value: value} of one metric's series (summed over the other labels)."""
    out = {}
    for (n, labels), v in metrics.items():
        if n == name:
            key = dict(labels).get(label)
            out[key] = out.get(key, 0) + v
    return out


def route_figures(metrics, route):
    """Requests answered and the server's own mean time per request on one route."""
    count = sum(v for (n, l), v in metrics.items()
                if n == "http_requests_total" and dict(l).get("route") == route)
    seconds = sum(v for (n, l), v in metrics.items()
                  if n == "http_request_duration_seconds_sum" and dict(l).get("route") == route)
    return count, seconds


class Watcher(threading.Thread):
    """Reads /metrics every second while the events are sent: the inbox backlog and the
    settlements applied so far, [(seconds since start, pending, settled)]."""

    def __init__(self, port, started):
        super().__init__(daemon=True)
        self.port, self.started = port, started
        self.samples, self.stop_flag = [], threading.Event()

    def run(self):
        while not self.stop_flag.wait(1.0):
            try:
                m = scrape(self.port)
            except OSError:
                continue
            self.samples.append((round(time.monotonic() - self.started, 1),
                                 int(m.get(("rtjobs_bank_events_pending", frozenset()), -1)),
                                 int(by_label(m, "rtjobs_settlement_updates_total",
                                              "outcome").get("settled", 0))))


class FsyncProbe(threading.Thread):
    """Times a 4 KiB write and fsync in `directory` every 0.1 s while the events are sent: what
    a commit's disk sync cost on this machine meanwhile (the answer waits for one)."""

    def __init__(self, directory):
        super().__init__(daemon=True)
        self.path = Path(directory) / "fsync-probe"
        self.ms, self.stop_flag = [], threading.Event()

    def run(self):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            block = os.urandom(4096)
            while not self.stop_flag.wait(0.1):
                t = time.monotonic()
                os.pwrite(fd, block, 0)
                os.fsync(fd)
                self.ms.append((time.monotonic() - t) * 1000)
        finally:
            os.close(fd)

    def figures(self):
        ms = sorted(self.ms)
        if not ms:
            return {}
        return {"fsync_n": len(ms), "fsync_p50_ms": ms[len(ms) // 2],
                "fsync_p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))], "fsync_max_ms": ms[-1]}


# ---- the database ----

class Db:
    """The row's database: SQLite file or the benchmark's PostgreSQL, queried directly."""

    def __init__(self, ctx, backend):
        self.backend = backend
        if backend == "postgres":
            self.url = ctx.pg_url
            self.path = None
        else:
            self.path = ctx.fresh_dir("settle-sqlite") / "rtjobs.db"
            self.url = f"sqlite://{self.path}"

    def seed(self, ctx, n):
        rtjobs_migrate(ctx, self.url)
        ach = ("UPDATE recurring_transfer SET rail = 'ach', "
               "provider_options = '{\"entry_class_code\":\"PPD\"}'")
        if self.backend == "postgres":
            psql(self.url, "TRUNCATE bank_webhook_event")
            seed_pg(self.url, n, PROVIDER)
            psql(self.url, ach)
        else:
            seed_sqlite(self.path, n, PROVIDER)
            c = SqliteCounter(self.path)
            with c.db:
                c.db.execute("DELETE FROM bank_webhook_event")
                c.db.execute(ach)
            c.close()

    def rows(self, sql):
        if self.backend == "postgres":
            text = psql(self.url, sql)
            return [line.split("|") for line in text.splitlines() if line]
        c = SqliteCounter(self.path)
        try:
            return [[str(v) for v in row] for row in c.db.execute(sql)]
        finally:
            c.close()

    def warm_wal(self, requests):
        """Leaves PostgreSQL with recycled WAL segments for the whole send, as a server that
        has been running has. A fresh cluster creates each new 16 MiB segment by writing it
        full of zeros and syncing it (wal_init_zero) while commits wait: a 100-150 ms stall of
        every answer every 3 s at this rate (one segment per 3 s; the segments' mtimes matched
        the stalls). So: one segment switch per WAL_BYTES_PER_REQUEST x requests (and 2 more),
        then a CHECKPOINT, which recycles them as the next segments."""
        segments = requests * WAL_BYTES_PER_REQUEST // (16 << 20) + 2
        psql(self.url, "CREATE TABLE IF NOT EXISTS bench_wal_warm (x int);\n" + (
            "INSERT INTO bench_wal_warm VALUES (1); SELECT pg_switch_wal();\n" * segments)
            + "DROP TABLE bench_wal_warm; CHECKPOINT;")
        return segments

    def wal_lsn(self):
        return int(psql(self.url, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))

    def counter(self):
        return PsqlSession(self.url) if self.backend == "postgres" else SqliteCounter(self.path)


def build_events(transfers, s, seed=15):
    """The requests of the webhook schedule, and what they should do: ([request], counts)."""
    rng = random.Random(seed)
    rate = s["rate"]
    items = []  # (order key, body): the key is in settled-event positions

    def event(eid, kind, obj, at):
        o = dict(obj)
        o["updated_at"] = at
        if kind == "settled":
            o.update(status="SETTLED", submitted_at=o.get("submitted_at") or at, settled_at=at)
        else:
            o.update(status="SUBMITTED", submitted_at=at)
        return json.dumps({"id": eid, "created_at": at, "type": f"ach.outgoing_transfer.{kind}",
                           "data": o}, separators=(",", ":"))

    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    order = list(range(len(transfers)))
    rng.shuffle(order)
    bodies = []
    for k, i in enumerate(order):
        body = event(f"evnt_bench{i:09d}s", "settled", transfers[i], at)
        bodies.append(body)
        items.append((k, body))
    n = len(transfers)
    gap = rate / 2  # a redelivery comes 0.5 s or more after the first delivery
    dup = rng.sample(range(n), n * s["duplicate_pct"] // 100)
    for k in dup:
        items.append((k + gap + rng.expovariate(1 / (1.5 * rate)), bodies[k]))
    late = rng.sample(range(n), n * s["late_pending_pct"] // 100)
    for k in late:
        i = order[k]
        items.append((k + gap / 5 + rng.random() * rate,
                      event(f"evnt_bench{i:09d}p", "submitted", transfers[i], at)))
    items.sort(key=lambda x: x[0])
    path = f"/v1/bank-webhooks/{PROVIDER}"
    requests = []
    for _, body in items:
        sig = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        requests.append({"m": "POST", "p": path, "b": body,
                         "h": {"Content-Type": "application/json", "Column-Signature": sig}})
    return requests, {"settled_events": n, "redeliveries": len(dup), "late_pending": len(late),
                      "unique_events": n + len(late), "requests": len(requests)}


def fetch_transfers(ctx, name, bank, references):
    """The bank's transfer objects, as GET /transfers/ach/{id} answers them (closed loop)."""
    reqs = [{"m": "GET", "p": f"/transfers/ach/{ref}", "h": {"Authorization": bank.auth},
             "b": None} for ref in references]
    out = ctx.tmp / f"{name}-objects.jsonl"
    r = send(ctx, f"{name}-fetch", bank.base_url, reqs, 0, 16, out=out)
    if r["answered"] != len(reqs) or r["statuses"].get("200") != len(reqs):
        raise RuntimeError(f"{name}: fetching the bank's transfers: {r['statuses']} {r['errors']}")
    objects = []
    with open(out) as f:
        for line in f:
            objects.append(json.loads(line)["body"])
    return objects


def provider_config(ctx, name, bank):
    path = ctx.tmp / f"{name}.toml"
    path.write_text(f'[providers.{PROVIDER}]\ntype = "column"\nbase_url = "{bank.base_url}"\n'
                    f'api_key_env = "BENCH_COLUMN_API_KEY"\n'
                    f'webhook_secret_env = "BENCH_COLUMN_WEBHOOK_SECRET"\ntimeout_ms = 10000\n')
    return path


def wait_settled(server, expected, started, timeout=300):
    """Until every event is applied: (seconds from `started`, last metrics)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{server.port}"
    while True:
        m = scrape(server.port)
        pending = m.get(("rtjobs_bank_events_pending", frozenset()))
        settled = by_label(m, "rtjobs_settlement_updates_total", "outcome").get("settled", 0)
        if pending == 0 and settled >= expected:
            req = urllib.request.Request(f"{url}/v1/jobs?settlement_status=pending&limit=1",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(req, timeout=10) as r:
                if not json.loads(r.read())["data"]:
                    return time.monotonic() - started, m
        if time.monotonic() > deadline:
            raise RuntimeError(f"not drained after {timeout} s: {pending} events pending, "
                               f"{settled:.0f} of {expected} settled:\n{server.log_tail()}")
        time.sleep(0.05)


def run_one(ctx, backend):
    s = sizes(ctx)
    n, rate = s["transfers"], s["rate"]
    name = f"settle-{backend}"
    bank = FakeColumn()
    db = Db(ctx, backend)
    server = None
    try:
        db.seed(ctx, n)
        os.environ["BENCH_COLUMN_API_KEY"] = API_KEY
        os.environ["BENCH_COLUMN_WEBHOOK_SECRET"] = SECRET
        env = {"RT_HORIZON_MONTHS": "1", "RT_SCHEDULER_ENABLED": "true",
               "RT_RETRIES_ENABLED": "true", "RT_BACKUP_ENABLED": "false",
               "RT_SETTLEMENT_POLL_SECONDS": "86400"}
        log(f"{name}: {n} ACH transfers seeded on the Column fake, starting rtjobs serve")
        server = Rtjobs(ctx, db.url, name, env, config=provider_config(ctx, name, bank))
        counter = db.counter()
        try:
            wait_drained(counter, backend, n, name, [server])
        finally:
            counter.close()
        processed = time.monotonic() - server.started
        rows = db.rows("SELECT id, provider_reference FROM recurring_transfer_job"
                       " WHERE sequence = 1 AND status = 'FINISHED' AND result = 'SUCCEEDED'"
                       " AND settlement_status = 'pending' ORDER BY id")
        if len(rows) != n:
            raise RuntimeError(f"{name}: {len(rows)} of {n} jobs FINISHED/SUCCEEDED and pending "
                               f"after the drain:\n{server.log_tail()}")
        job_ids = [r[0] for r in rows]
        log(f"{name}: {n} jobs processed in {processed:.1f} s; fetching the bank's transfers")
        transfers = fetch_transfers(ctx, name, bank, [r[1] for r in rows])
        requests, plan = build_events(transfers, s)
        warm_segments = 0
        if backend == "postgres" and os.environ.get("BENCH_SETTLE_WARM_WAL", "1") == "1":
            warm_segments = db.warm_wal(plan["requests"])
        url = f"http://127.0.0.1:{server.port}"

        # The reference: an authenticated database read at the same rate, same server.
        rng = random.Random(6)
        ref_reqs = [{"m": "GET", "p": f"/v1/jobs/{rng.choice(job_ids)}",
                     "h": {"Authorization": f"Bearer {TOKEN}"}, "b": None}
                    for _ in range(rate * s["ref_seconds"])]
        log(f"{name}: reference GET /v1/jobs/{{id}} at {rate}/s for {s['ref_seconds']} s")
        m0 = scrape(server.port)
        ref = send(ctx, f"{name}-ref", url, ref_reqs, rate, s["connections"],
                   warmup="/healthz")
        m1 = scrape(server.port)
        count, secs = (b - a for a, b in zip(route_figures(m0, JOB_ROUTE),
                                              route_figures(m1, JOB_ROUTE)))
        ref["server_mean_ms"] = secs / count * 1000 if count else None

        log(f"{name}: {plan['requests']} webhook requests at {rate}/s ({plan})")
        commits0 = pg_commits(db.url) if backend == "postgres" else None
        wal0 = db.wal_lsn() if backend == "postgres" else None
        cpu0, busy0, pg0 = server.cpu_seconds(), machine_busy_seconds(), postgres_cpu_seconds()
        started = time.monotonic()
        watcher = Watcher(server.port, started)
        watcher.start()
        probe = FsyncProbe(ctx.tmp)
        probe.start()
        hooks = send(ctx, f"{name}-hooks", url, requests, rate, s["connections"],
                     warmup="/healthz")
        sent = time.monotonic()
        probe.stop_flag.set()
        probe.join()
        cpu1, busy1 = server.cpu_seconds(), machine_busy_seconds()
        pg1 = postgres_cpu_seconds() if backend == "postgres" else None
        # Transactions PostgreSQL committed while the events were sent (the inbox's group
        # commits, the follower's claims and applies, the watcher's reads): events per commit.
        commits = pg_commits(db.url) - commits0 if backend == "postgres" else None
        wal = db.wal_lsn() - wal0 if backend == "postgres" else None
        drained_at, m2 = wait_settled(server, n, started)
        watcher.stop_flag.set()
        watcher.join()
        count, secs = (b - a for a, b in zip(route_figures(m1, WEBHOOK_ROUTE),
                                              route_figures(m2, WEBHOOK_ROUTE)))
        hooks["server_mean_ms"] = secs / count * 1000 if count else None
        send_seconds = sent - started
        cpu = {"server_cpu_s": cpu1 - cpu0, "machine_busy_s": busy1 - busy0,
               "seconds": send_seconds,
               "server_cpu_us_per_event": (cpu1 - cpu0) / plan["requests"] * 1e6,
               "machine_cpu_us_per_event": (busy1 - busy0) / plan["requests"] * 1e6}
        if backend == "postgres" and pg0 is not None and pg1 is not None:
            cpu["postgres_cpu_us_per_event"] = (pg1 - pg0) / plan["requests"] * 1e6
        if wal is not None:
            cpu["wal_bytes_per_request"] = wal / plan["requests"]
        if commits:
            cpu["pg_commits"] = commits
            cpu["requests_per_commit"] = plan["requests"] / commits
        webhooks = by_label(m2, "rtjobs_bank_webhooks_total", "result")
        outcomes = by_label(m2, "rtjobs_settlement_updates_total", "outcome")
        samples = watcher.samples
        cpu.update(probe.figures())
    finally:
        if server:
            server.stop()
        bank.stop()
    # What the database holds, the server stopped.
    jobs = dict(db.rows("SELECT coalesce(settlement_status, 'none'), count(*) FROM "
                        "recurring_transfer_job WHERE sequence = 1 GROUP BY 1"))
    stored, unapplied, distinct = (int(v) for v in db.rows(
        "SELECT count(*), count(*) - count(applied_at), count(DISTINCT event_id) "
        "FROM bank_webhook_event")[0])
    result = {
        "backend": backend, "transfers": n, "rate": rate, "plan": plan, "webhooks": hooks,
        "reference": ref, "process_seconds": processed, "warm_wal_segments": warm_segments,
        "drain_seconds": drained_at - send_seconds,  # after the last answer
        "applied_seconds": drained_at,  # from the first event
        "backlog": samples, "max_backlog": max((p for _, p, _ in samples), default=0),
        "metrics_webhooks": webhooks, "metrics_outcomes": outcomes,
        "db_jobs": {k: int(v) for k, v in jobs.items()}, "db_events": stored,
        "db_unapplied": unapplied, "db_distinct_event_ids": distinct, **cpu}
    result["lost_or_twice"] = [
        f"{what}: {got} != {want}" for what, got, want in (
            ("settled (metrics)", outcomes.get("settled", 0), n),
            ("accepted (metrics)", webhooks.get("accepted", 0), plan["unique_events"]),
            ("duplicate (metrics)", webhooks.get("duplicate", 0), plan["redeliveries"]),
            ("received (answers)", hooks["received"], plan["requests"]),
            ("duplicates (answers)", hooks["duplicates"], plan["redeliveries"]),
            ("jobs settled (db)", result["db_jobs"].get("settled", 0), n),
            ("events stored (db)", stored, plan["unique_events"]),
            ("distinct event ids (db)", distinct, plan["unique_events"]),
            ("events unapplied (db)", unapplied, 0)) if got != want]
    log(f"{name}: {json.dumps({k: v for k, v in result.items() if k != 'backlog'})}")
    return result


def passed(d, target_ms):
    h = d["webhooks"]
    return (h["p99_ms"] is not None and h["p99_ms"] < target_ms and h["error_count"] == 0
            and h["non_2xx"] == 0 and h["offered_per_s"] >= 0.98 * d["rate"]
            and not d["lost_or_twice"])


def table_rows(r):
    """The table's rows of row 11 (bench/run.py: figures settle_sqlite, settle_postgres)."""
    out = []
    target = 50
    for label, info, backend in (("11", "11b", "sqlite"), ("11c", "11d", "postgres")):
        key = "settle_" + backend
        db = "SQLite" if backend == "sqlite" else "PostgreSQL"
        if key in r.errors:
            out.append((label, f"bank webhooks {db}", "error", r.errors[key][:80], "-", "",
                        "FAIL"))
            continue
        d = r.get(key)
        if not d:
            continue
        h, ref, p = d["webhooks"], d["reference"], d["plan"]
        lost = "nothing lost, each applied once" if not d["lost_or_twice"] else \
            "; ".join(d["lost_or_twice"])
        errors = h["error_count"] + h["non_2xx"]
        out.append((label,
                    f"bank webhooks {db}: Column settled events at {d['rate']:,}/s open loop, "
                    f"{p['requests']:,} requests ({p['settled_events']:,} transfers, "
                    f"{p['redeliveries']:,} redeliveries, {p['late_pending']:,} late pending), "
                    f"{h['connections']} connections",
                    f"p50 / p99 / max {h['p50_ms']:.1f} / {h['p99_ms']:.1f} / {h['max_ms']:.0f} "
                    f"ms; {h['offered_per_s']:,.0f}/s offered, {h['answered_per_s']:,.0f}/s "
                    f"answered; {errors} errors; {lost}",
                    f"GET /v1/jobs/{{id}} same rate, {ref['requests']:,} requests: p50 / p99 / "
                    f"max {ref['p50_ms']:.1f} / {ref['p99_ms']:.1f} / {ref['max_ms']:.0f} ms",
                    f"{h['p99_ms'] / ref['p99_ms']:.2f}x (p99)" if ref["p99_ms"] else "-",
                    f"p99 < {target} ms at {d['rate']:,}/s, errors 0, all applied once",
                    "PASS" if passed(d, target) else "FAIL"))
        pg = d.get("postgres_cpu_us_per_event")
        pg = f", PostgreSQL {pg:.0f} us" if pg is not None else ""
        if d.get("pg_commits"):
            pg += (f"; {d['pg_commits']:,} PG commits ({d['requests_per_commit']:.1f} requests "
                   f"each), WAL {d.get('wal_bytes_per_request', 0) / 1024:.1f} KiB/request")
        out.append((info,
                    f"  {db}: applied, inbox backlog, CPU per request while sending",
                    f"all applied {d['drain_seconds']:.1f} s after the last answer; backlog max "
                    f"{d['max_backlog']:,}; CPU/request rtjobs "
                    f"{d['server_cpu_us_per_event']:.0f} us{pg}, machine {d['machine_cpu_us_per_event']:.0f} us; server's own mean "
                    f"{h['server_mean_ms']:.2f} ms; sender's own lag p99 "
                    f"{h['sender_lag_p99_ms']:.1f} ms; disk fsync (4 KiB, tmp dir) p50 / p99 "
                    f"{d.get('fsync_p50_ms', 0):.1f} / {d.get('fsync_p99_ms', 0):.1f} ms",
                    f"reference: server's own mean {ref['server_mean_ms']:.2f} ms; sender's own "
                    f"lag p99 {ref['sender_lag_p99_ms']:.1f} ms",
                    "-", "(info)", "-"))
    return out
