"""The backup scenario of the chaos runs (chaos.py): on a drained database, a backup whose
spool disk fills up (TMPDIR on a small tmpfs), one whose S3 server is SIGKILLed in the middle of
its upload, then one that succeeds once both are back. Rows lost by backup are the rows gone
from the database without being in an object of the succeeded run, read back from S3."""
import contextlib
import csv
import io
import os
import signal
import socket
import subprocess
import threading
import time

from chaos_env import Fleet, Row, free_port
from harness import ROOT, FakeBaas

ROW_IDS_SQL = ("SELECT 'job', id FROM recurring_transfer_job UNION ALL "
               "SELECT 'status', id FROM recurring_transfer_provider_status")


def backup_faults(backend, db, workdir, rng):
    """On a drained database: a backup whose spool disk fills (when root: a tmpfs), one whose S3
    server is killed mid-upload, then one that succeeds; rows lost counted from the objects."""
    root = os.geteuid() == 0
    row = Row("backup", backend, planned_faults=2 if root else 1,
              faults="disk full + S3 SIGKILL" if root else "S3 SIGKILL (disk full needs root)")
    db.execute("UPDATE recurring_transfer_job SET scheduled_for = '2020-01-01'")
    before = row_ids(db)
    row.jobs = sum(1 for table, _ in before if table == "job")
    with contextlib.ExitStack() as cleanup:
        s3 = S3rver(workdir)
        cleanup.callback(s3.stop)
        proxy = KillingProxy(s3)
        cleanup.callback(proxy.stop)
        spool = os.path.join(workdir, "spool")
        os.makedirs(spool, exist_ok=True)
        if root:
            cleanup.enter_context(Tmpfs(spool, "16k"))
        else:
            row.notes.append("disk full NOT RUN: mounting a tmpfs needs root")
        bank = FakeBaas()
        cleanup.callback(bank.stop)
        fleet = Fleet(workdir, db, bank, {"RT_SCHEDULER_ENABLED": "false",
                                          "RT_RETRIES_ENABLED": "false"})
        cleanup.callback(fleet.stop)
        server = fleet.start("backup", RT_BACKUP_URL=f"s3://{S3rver.BUCKET}/chaos",
                             RT_S3_ENDPOINT=proxy.url, RT_S3_REGION="us-east-1",
                             AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER",
                             TMPDIR=spool)
        if root:
            run = backup_run(server)
            row.faults_done += 1
            row.notes.append(f"disk full: {run['status']} in {run['phase']}: {run['error']}")
            check_failed_run(row, "disk full", run, db, before, ("TMPDIR", spool))
            Tmpfs.resize(spool, "256m")
        kill_after = rng.randint(1, 48 * 1024)
        proxy.arm(kill_after)
        run = backup_run(server)
        if proxy.killed.is_set():
            row.faults_done += 1
        else:
            row.problems.append(f"the S3 server was not killed: the upload sent under {kill_after} bytes")
        last_fault = time.monotonic()
        row.notes.append(f"S3 killed after {kill_after} request bytes: {run['status']} in "
                         f"{run['phase']}: {run['error']}")
        check_failed_run(row, "S3 killed", run, db, before, ("S3", "s3", "upload"))
        s3.start()
        run = backup_run(server)
        row.converge_s = round(time.monotonic() - last_fault, 1)
        if run["status"] != "succeeded" or run["result"]["outcome"] != "BACKED_UP":
            row.problems.append(f"the backup after S3 and the disk came back: {run}")
            objects = []
        else:
            objects = run["result"]["objects"]
            row.notes.append(f"then succeeded: {run['result']['job_rows']} job rows, "
                             f"{run['result']['provider_status_rows']} provider-status rows, "
                             f"{len(objects)} objects")
        after = row_ids(db)
        backed_up = object_row_ids(s3, objects)
        row.rows_lost = len(before - after - backed_up)
        row.expect_zero("rows lost by backup", row.rows_lost)
        if after & backed_up:
            row.notes.append(f"{len(after & backed_up)} backed-up rows still in the database")
        if run["status"] == "succeeded" and len(before - after) == 0:
            row.problems.append("the succeeded backup deleted nothing: nothing was tested")
    if row.faults_done != row.planned_faults:
        row.problems.append(f"{row.faults_done} of {row.planned_faults} backup faults injected")
    return row


def check_failed_run(row, what, run, db, before, words):
    """A faulted run must end failed, with an error naming the cause, having deleted nothing."""
    if run["status"] != "failed":
        row.problems.append(f"{what}: the run ended {run['status']}, not failed: {run}")
        return
    if not any(w in (run["error"] or "") for w in words):
        row.problems.append(f"{what}: the error names none of {words}: {run['error']}")
    if run["progress"]["deleted_job_rows"] or run["progress"]["deleted_provider_status_rows"]:
        row.problems.append(f"{what}: the failed run deleted rows: {run['progress']}")
    missing = len(before - row_ids(db))
    if missing:
        row.problems.append(f"{what}: {missing} rows gone from the database after a failed run")


def backup_run(server, timeout=120):
    """POST /v1/backups (forced), polled to its end: the run resource."""
    status, run, _ = server.http.post("/v1/backups", {"force": True})
    if status != 202:
        raise RuntimeError(f"POST /v1/backups answered {status}: {run}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, run, _ = server.http.get(f"/v1/backups/{run['id']}")
        if status == 200 and run["status"] != "running":
            return run
        time.sleep(0.05)
    raise RuntimeError(f"backup run {run['id']} still running after {timeout} s")


def row_ids(db):
    return {(table, id_.lower()) for table, id_ in db.rows(ROW_IDS_SQL)}


def object_row_ids(s3, objects):
    """The (table, id) of every row in the backup's objects, read back from S3."""
    ids = set()
    for obj in objects:
        table = "job" if obj["table"] == "recurring_transfer_job" else "status"
        text = s3.read(obj["url"]).decode()
        for record in csv.DictReader(io.StringIO(text)):
            ids.add((table, record["id"].lower()))
    return ids


class S3rver:
    """scripts/s3rver.sh on its own port and directory; SIGKILLed to fail."""

    BUCKET = "rtjobs-chaos"

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "s3rver")
        self.env = dict(os.environ, RT_S3RVER_DIR=self.dir, RT_S3RVER_PORT=str(free_port()),
                        RT_S3RVER_BUCKETS=self.BUCKET)
        self.start()

    def start(self):
        out = subprocess.run([os.path.join(ROOT, "scripts", "s3rver.sh"), "start"], env=self.env,
                             check=True, capture_output=True, text=True)
        self.url = out.stdout.strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def kill(self):
        with open(os.path.join(self.dir, "s3rver.pid")) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGKILL)
        while not gone(pid):
            time.sleep(0.01)
        # Its pid file named a dead process (possibly an unreaped zombie, which s3rver.sh would
        # take for a running server): without it, start() starts a new one.
        os.remove(os.path.join(self.dir, "s3rver.pid"))

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts", "s3rver.sh"), "stop"], env=self.env)

    def read(self, url):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER",
                   AWS_DEFAULT_REGION="us-east-1")
        out = subprocess.run(["aws", "--endpoint-url", self.url, "s3", "cp", url, "-"], env=env,
                             check=True, capture_output=True)
        return out.stdout


def gone(pid):
    """Whether the process has exited (a zombie counts: it holds no port and runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class KillingProxy:
    """A TCP proxy in front of the S3 server. Armed with a byte count, it SIGKILLs the S3 server
    once that many request bytes have gone through, and cuts every connection: the server dies in
    the middle of an upload, whatever the upload's timing."""

    def __init__(self, s3):
        self.s3 = s3
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.kill_after = None
        self.forwarded = 0
        self.killed = threading.Event()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, kill_after):
        with self.lock:
            self.kill_after, self.forwarded = kill_after, 0
            self.killed.clear()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.s3.port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, request):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if request and self._count(len(data)):
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def _count(self, n):
        """Counts request bytes; True once the armed count is reached (the S3 server is then
        killed and the connections cut)."""
        with self.lock:
            if self.kill_after is None:
                return False
            self.forwarded += n
            if self.forwarded < self.kill_after:
                return False
            self.kill_after = None
            conns, self.conns = self.conns, []
        self.s3.kill()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.killed.set()
        return True

    def stop(self):
        self.sock.close()


class Tmpfs:
    """A small tmpfs mounted over `path` (the backup's spool) for a `with` block: a disk that
    fills up at `size`, and can be grown back."""

    def __init__(self, path, size):
        self.path, self.size = path, size

    def __enter__(self):
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", self.path],
                       check=True)
        return self

    def __exit__(self, *_):
        subprocess.run(["umount", self.path], check=False)

    @staticmethod
    def resize(path, size):
        subprocess.run(["mount", "-o", f"remount,size={size}", path], check=True)
