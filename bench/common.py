"""Shared pieces of the benchmark rows: processes (rtjobs serve, the fake BaaS), PostgreSQL
through psql, /proc memory readings. Python 3 standard library only.

Every row module exposes run(ctx) -> dict of figures; bench/run.py prints the table. The
context (BenchContext) carries the paths, the PostgreSQL URL and the sizes, all overridable by
environment variables (see docs/BENCHMARKS.md).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TOKEN = "bench-token"


def machine_busy_seconds():
    """CPU time all cores have spent busy (not idle or waiting on I/O) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _proc_stat(pid):
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def postgres_cpu_seconds():
    """CPU time of the benchmark's PostgreSQL server so far: the postmaster, its exited
    children (backends, which the postmaster waits for) and its live ones. None when the
    server's data directory (RT_PG_DIR) is unknown."""
    pid_file = Path(os.environ.get("RT_PG_DIR", "/nonexistent")) / "data/postmaster.pid"
    if not pid_file.exists():
        return None
    postmaster = pid_file.read_text().split("\n", 1)[0].strip()
    ticks = sum(int(v) for v in _proc_stat(postmaster)[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _proc_stat(entry.name)
        except OSError:
            continue
        if fields[1] == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class BenchContext:
    rtjobs: Path
    pg_url: str
    tmp: Path
    quick: bool
    sizes: dict = field(default_factory=dict)

    @staticmethod
    def from_env(quick):
        q = quick
        sizes = {
            "jobs": env_int("BENCH_JOBS", 5000 if q else 50000),
            "rounds": max(1, env_int("BENCH_ROUNDS", 1 if q else 3)),
            "graphile_default_jobs": env_int("BENCH_GRAPHILE_DEFAULT_JOBS", 500 if q else 5000),
            # Row 1e: Graphile fastest running the equivalent work, one commit a job.
            "equivalent_jobs": env_int("BENCH_EQUIVALENT_JOBS", 2000 if q else 10000),
            "latency_jobs": env_int("BENCH_LATENCY_JOBS", 2000 if q else 20000),
            "latency_ms": env_int("BENCH_LATENCY_MS", 100),
            "latency_concurrency": env_int("BENCH_CONCURRENCY", 256),
            "pgbench_seconds": env_int("BENCH_PGBENCH_SECONDS", 5 if q else 30),
            "pgbench_scale": env_int("BENCH_PGBENCH_SCALE", 1),
            "wrk_seconds": env_int("BENCH_WRK_SECONDS", 5 if q else 20),
            "wrk_connections": env_int("BENCH_WRK_CONNECTIONS", 1000),
            "endpoint_jobs": env_int("BENCH_ENDPOINT_JOBS", 1000),
            "backup_rows": env_int("BENCH_BACKUP_ROWS", 100000 if q else 1000000),
            "backup_small_rows": env_int("BENCH_BACKUP_SMALL_ROWS", 10000 if q else 100000),
            # Rows 7-10, flow control toward a bank (bench/flow.py).
            "flow_max_rps": env_int("BENCH_FLOW_MAX_RPS", 500),
            "flow_latency_ms": env_int("BENCH_FLOW_LATENCY_MS", 200),
            "flow_concurrency": env_int("BENCH_FLOW_CONCURRENCY", 256),
            "spike_jobs": env_int("BENCH_SPIKE_JOBS", 5000 if q else 100000),
            "outage_jobs": env_int("BENCH_OUTAGE_JOBS", 5000 if q else 50000),
            "outage_seconds": env_int("BENCH_OUTAGE_SECONDS", 15 if q else 300),
            "scale_jobs": env_int("BENCH_SCALE_JOBS", 10000 if q else 100000),
            "scale_latency_ms": env_int("BENCH_SCALE_LATENCY_MS", 100),
            "scale_concurrency": env_int("BENCH_SCALE_CONCURRENCY", 1024),
            "shared_jobs": env_int("BENCH_SHARED_JOBS", 5000 if q else 50000),
            "shared_instances": env_int("BENCH_SHARED_INSTANCES", 2),
        }
        tmp = Path(os.environ.get("BENCH_TMP") or tempfile.mkdtemp(prefix="rtjobs-bench-"))
        tmp.mkdir(parents=True, exist_ok=True)
        rtjobs = Path(os.environ.get("BENCH_RTJOBS", ROOT / "build-bench" / "rtjobs"))
        pg_url = os.environ.get("BENCH_PG_URL", "postgresql://rtjobs@127.0.0.1:54339/rtjobs")
        return BenchContext(rtjobs=rtjobs, pg_url=pg_url, tmp=tmp, quick=q, sizes=sizes)

    def fresh_dir(self, name):
        d = self.tmp / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d


# ---- PostgreSQL through psql ----

def psql(url, sql, variables=None, timeout=600):
    """Runs SQL (a string) with psql; returns stdout (unaligned, tuples only)."""
    args = ["psql", "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", url]
    for k, v in (variables or {}).items():
        args += ["-v", f"{k}={v}"]
    r = subprocess.run(args, input=sql, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}")
    return r.stdout.strip()


class PsqlSession:
    """One long-lived psql process, so polling costs a query, not a process start."""

    def __init__(self, url):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-At", "-q", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, bufsize=1)

    def scalar(self, sql):
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if line == "":
            raise RuntimeError("psql session ended")
        return line.strip()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


# What PostgreSQL wrote: WAL position (bytes since 0/0) and the rows written to user tables.
_PG_WRITES_SQL = (
    "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, coalesce(sum(n_tup_ins), 0),"
    " coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_hot_upd), 0), coalesce(sum(n_tup_del), 0)"
    " FROM pg_stat_user_tables")
_PG_CLIENTS_SQL = (
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
    " AND pid <> pg_backend_pid()")


class PgWork:
    """What the benchmark's PostgreSQL did from construction to per_job(): its CPU (see
    postgres_cpu_seconds), the WAL it wrote and the rows written to user tables (inserted,
    updated, of which HOT, deleted; pg_stat_user_tables), each per job. A backend's counters
    reach the statistics when it ends, so per_job() first waits until every other client is
    gone: call it after the measured process has stopped."""

    def __init__(self, url):
        self.url = url
        self.own_commits = 0  # PgWork's own transactions: two a psql call (its start-up, its query)
        self.cpu = postgres_cpu_seconds()
        self.writes = self._writes()

    def _query(self, sql):
        self.own_commits += 2
        return psql(self.url, sql)

    def _writes(self):
        return [float(v) for v in self._query(_PG_WRITES_SQL).split("|")]

    def per_job(self, jobs):
        deadline = time.monotonic() + 10
        while int(self._query(_PG_CLIENTS_SQL)) > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        after = self._writes()
        wal, ins, upd, hot, dele = (a - b for a, b in zip(after, self.writes))
        out = {"wal_bytes_per_job": wal / jobs, "rows_inserted_per_job": ins / jobs,
               "rows_updated_per_job": upd / jobs, "hot_updated_per_job": hot / jobs,
               "rows_deleted_per_job": dele / jobs}
        if self.cpu is not None:
            out["postgres_cpu_us_per_job"] = (postgres_cpu_seconds() - self.cpu) / jobs * 1e6
        return out


# ---- processes ----

def read_status(pid, key):
    """A /proc/PID/status figure in KiB (VmRSS, VmHWM), or None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


class Rtjobs:
    """`rtjobs serve` in the background; port read from its "listening" JSON log line."""

    def __init__(self, ctx, database_url, name, extra_env=None, config=None):
        self.log_path = ctx.tmp / f"{name}.log"
        env = dict(os.environ)
        env.update({
            "RT_DATABASE_URL": database_url,
            "RT_LISTEN": "127.0.0.1:0",
            "RT_API_TOKEN": TOKEN,
            "RT_BACKUP_ENABLED": "false",
            "RT_BACKUP_URL": f"file://{ctx.tmp / 'backups'}",
        })
        if config:
            env["RT_CONFIG"] = str(config)
        env.update(extra_env or {})
        # A fixed port (RT_LISTEN=host:N) is waited for by connecting: with RT_LOG_LEVEL=warn
        # there is no "listening" line to read it from.
        self.fixed_port = int(env["RT_LISTEN"].rsplit(":", 1)[1])
        self.started = time.monotonic()
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(ctx.rtjobs), "serve"], env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.port = self._wait_listening()

    def _wait_listening(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.fixed_port:
                try:
                    socket.create_connection(("127.0.0.1", self.fixed_port), timeout=1).close()
                    return self.fixed_port
                except OSError:
                    pass
            for line in self.log_path.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("msg") == "listening":
                    return int(entry["port"])
            if self.proc.poll() is not None:
                raise RuntimeError(f"rtjobs exited ({self.proc.returncode}):\n{self.log_tail()}")
            time.sleep(0.01)
        raise RuntimeError(f"rtjobs did not log 'listening' in {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines=15):
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self):
        """User + system CPU time the server has used so far."""
        fields = _proc_stat(self.proc.pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status_kib(self, key):
        return read_status(self.proc.pid, key)

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def rtjobs_migrate(ctx, database_url):
    env = dict(os.environ, RT_DATABASE_URL=database_url)
    r = subprocess.run([str(ctx.rtjobs), "migrate"], env=env, capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"rtjobs migrate failed: {r.stdout}{r.stderr}")


class FakeBaas:
    """tools/fake_baas/server.js on an ephemeral port; max_rps makes it a rate-limited bank."""

    def __init__(self, latency_ms=0, max_rps=None):
        args = ["node", str(ROOT / "tools/fake_baas/server.js"), "--port", "0", "--host",
                "127.0.0.1", "--latency-ms", str(latency_ms)]
        if max_rps:
            args += ["--max-rps", str(max_rps)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.port = int(json.loads(self.proc.stdout.readline())["listening"])
        self.base_url = f"http://127.0.0.1:{self.port}"

    def stats(self):
        with urllib.request.urlopen(self.base_url + "/_control/stats", timeout=10) as r:
            return json.loads(r.read())

    def cpu_seconds(self):
        """User + system CPU time the fake has used so far."""
        fields = _proc_stat(self.proc.pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def control(self, path, body):
        """POST /_control/{path} with a JSON body (the outage switch, the rate limit)."""
        req = urllib.request.Request(f"{self.base_url}/_control/{path}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def http_get_text(url, timeout=10):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def http_get_json(url, timeout=10):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def run_json(args, cwd=None, timeout=1800):
    """Runs a command printing one JSON line as its last stdout line; returns it parsed."""
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({r.returncode}):\n"
                           f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])
