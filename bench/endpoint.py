"""Row 5: the process endpoint under load. wrk with C keep-alive connections posts
POST /v1/jobs/{id}/process on already-terminal jobs (the answer is the stored job, no bank
call) against `rtjobs serve` on SQLite; the reference is nginx answering `return 200` on
loopback, driven by the same wrk settings and the same Lua script (bench/endpoint.lua).
"""

import json
import socket
import subprocess
import time

from common import BENCH, TOKEN, Rtjobs, log, rtjobs_migrate
from seed import SqliteCounter, seed_sqlite


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(ctx, url, ids_file):
    s = ctx.sizes
    args = ["wrk", "-c", str(s["wrk_connections"]), "-t", "2", "-d", f"{s['wrk_seconds']}s",
            "--timeout", "10s", "--latency", "-s", str(BENCH / "endpoint.lua"), url, "--",
            str(ids_file), TOKEN]
    r = subprocess.run(args, capture_output=True, text=True, timeout=s["wrk_seconds"] + 120)
    if r.returncode != 0:
        raise RuntimeError(f"wrk failed: {r.stdout}{r.stderr}")
    result = json.loads(r.stdout.strip().splitlines()[-1])
    result["errors"] = sum(result[k] for k in ("errors_connect", "errors_read", "errors_write",
                                                "errors_timeout", "non_2xx"))
    return result


def terminal_job_ids(ctx, n):
    """A SQLite database holding n FINISHED/SUCCEEDED jobs; returns (url, ids file)."""
    d = ctx.fresh_dir("endpoint")
    db = d / "rtjobs.db"
    url = f"sqlite://{db}"
    rtjobs_migrate(ctx, url)
    seed_sqlite(db, n, "sandbox")
    counter = SqliteCounter(db)
    with counter.db:
        counter.db.execute(
            "UPDATE recurring_transfer_job SET status = 'FINISHED', result = 'SUCCEEDED', "
            "provider_reference = 'sbx_' || id, finished_at = updated_at")
    ids = [row[0] for row in counter.db.execute("SELECT id FROM recurring_transfer_job")]
    counter.close()
    ids_file = d / "job_ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    return url, ids_file


def run_rtjobs(ctx):
    url, ids_file = terminal_job_ids(ctx, ctx.sizes["endpoint_jobs"])
    server = Rtjobs(ctx, url, "endpoint-rtjobs", {"RT_HORIZON_MONTHS": "1"})
    try:
        time.sleep(2)  # let the start-up work (horizon scan) settle
        log("endpoint: wrk against rtjobs")
        return wrk(ctx, f"http://127.0.0.1:{server.port}", ids_file)
    finally:
        server.stop()


def run_nginx(ctx, ids_file):
    d = ctx.fresh_dir("nginx")
    port = free_port()
    conf = (BENCH / "nginx.conf").read_text().replace("@PORT@", str(port)).replace("@TMP@", str(d))
    (d / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(["nginx", "-p", str(d), "-e", str(d / "error.log"), "-c",
                             str(d / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {(d / 'error.log').read_text()}")
                time.sleep(0.05)
        log("endpoint: wrk against nginx")
        return wrk(ctx, f"http://127.0.0.1:{port}", ids_file)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(ctx):
    rtjobs = run_rtjobs(ctx)
    nginx = run_nginx(ctx, ctx.tmp / "endpoint" / "job_ids.txt")
    return {"rtjobs": rtjobs, "nginx": nginx}
