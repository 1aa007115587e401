"""`rtjobs migrate --status` on both databases, and SIGHUP to a serving rtjobs (issue 20 item 2).

migrate --status: every migration this binary knows is listed pending on an empty database
(exit 3, and nothing is created), applied with its time after `rtjobs migrate` (exit 0); a
removed record is pending again; a version applied by a newer binary is listed as such (exit 0);
it answers while another session holds the migration lock (PostgreSQL) or the write lock
(SQLite), and while a server runs.

SIGHUP: a server under a stream of requests from several threads is sent SIGHUP several times;
no request fails, and the log level of the rewritten configuration file applies (the server's
"transfer created" lines at info stop at "warn" and come back at "info"); an invalid file
changes nothing and the server keeps serving.
"""
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time

from harness import (RTJOBS, E2ECase, Server, for_each_backend, http_provider_config, main)

STATUS_LINE = re.compile(r"^(\d+)\s+(\S+)\s+(.*)$")
MIGRATION_LOCK_KEY = 0x72746a6f6273  # pg_schema.hpp, kMigrationLockKey
EXIT_PENDING = 3


def rtjobs_cli(db_url, *args, timeout=30):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
    env["RT_DATABASE_URL"] = db_url
    return subprocess.run([RTJOBS, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def wait_for(predicate, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


@for_each_backend
class MigrateStatus(E2ECase):
    def status(self):
        """(exit code, {version: (applied at, description)}, output)."""
        run = rtjobs_cli(self.db.url, "migrate", "--status")
        rows = {}
        for line in run.stdout.splitlines()[1:]:
            m = STATUS_LINE.match(line)
            if m:
                rows[int(m.group(1))] = (m.group(2), m.group(3))
        return run.returncode, rows, run.stdout + run.stderr

    def sql(self, statement):
        if self.backend == "sqlite":
            with sqlite3.connect(self.db.url[len("sqlite://"):], timeout=30) as conn:
                return [tuple(r) for r in conn.execute(statement)]
        out = subprocess.run(["psql", "-X", "-At", "-F", "\t", self.db.url, "-c", statement],
                             check=True, capture_output=True, text=True)
        return [tuple(line.split("\t")) for line in out.stdout.splitlines() if line]

    def has_migrations_table(self):
        if self.backend == "sqlite":
            query = "SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'"
        else:
            query = "SELECT count(*) FROM pg_class WHERE relname = 'schema_migrations'"
        return int(self.sql(query)[0][0]) > 0

    def test_pending_then_applied_then_a_newer_binarys_version(self):
        code, rows, out = self.status()
        self.assertEqual(code, EXIT_PENDING, out)
        self.assertGreaterEqual(len(rows), 7, out)
        self.assertEqual(sorted(rows), list(range(1, len(rows) + 1)), out)
        self.assertTrue(all(at == "pending" and desc for at, desc in rows.values()), out)
        self.assertIn(f"0 applied, {len(rows)} pending", out)
        self.assertFalse(self.has_migrations_table(), "migrate --status created its table")

        migrate = rtjobs_cli(self.db.url, "migrate")
        self.assertEqual(migrate.returncode, 0, migrate.stderr)
        code, applied, out = self.status()
        self.assertEqual(code, 0, out)
        self.assertEqual(sorted(applied), sorted(rows), out)
        for version, (at, desc) in applied.items():
            self.assertRegex(at, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", out)
            self.assertEqual(desc, rows[version][1])
        self.assertIn("up to date", out)

        last = max(rows)
        self.sql(f"DELETE FROM schema_migrations WHERE version = {last}")
        code, again, out = self.status()
        self.assertEqual(code, EXIT_PENDING, out)
        self.assertEqual([v for v, (at, _) in again.items() if at == "pending"], [last], out)

        now = "'2026-12-01T00:00:00.000Z'" if self.backend == "sqlite" else "now()"
        self.sql(f"INSERT INTO schema_migrations (version, applied_at) VALUES ({last}, {now}), "
                 f"(999, {now})")
        code, newer, out = self.status()
        self.assertEqual(code, 0, out)
        self.assertIn("applied by a newer rtjobs", newer[999][1], out)
        self.assertIn("1 from a newer rtjobs", out)

    def test_answers_while_the_database_is_locked_and_a_server_runs(self):
        self.assertEqual(rtjobs_cli(self.db.url, "migrate").returncode, 0)
        if self.backend == "sqlite":
            holder = sqlite3.connect(self.db.url[len("sqlite://"):], isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            holder.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (998, 'x')")
            release = holder.close
        else:
            # A migrator holding the migration lock (what `rtjobs migrate` takes per migration).
            holder = subprocess.Popen(
                ["psql", "-X", self.db.url, "-c", f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})",
                 "-c", "SELECT pg_sleep(60)"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: self.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                      "AND granted")[0][0] == "1", "the advisory lock")

            def release():  # the session's backend, not only psql, so the lock goes with it
                self.sql("SELECT pg_terminate_backend(pid) FROM pg_locks "
                         "WHERE locktype = 'advisory'")
                holder.wait(10)
        try:
            started = time.monotonic()
            code, rows, out = self.status()
            self.assertEqual(code, 0, out)
            self.assertNotIn(998, rows, "an uncommitted row was read")
            self.assertLess(time.monotonic() - started, 10, "status waited for the lock")
        finally:
            release()
        self.start_server()
        code, _, out = self.status()
        self.assertEqual(code, 0, out)


class SighupReload(E2ECase):
    backend = "sqlite"

    def write_config(self, level):
        with open(self.config_path, "w") as f:
            f.write(f'log_level = "{level}"\n' + http_provider_config(self.baas.url))

    def reloads(self):
        return self.server.output().count('"configuration reloaded (SIGHUP)"')

    def created_logged(self, transfer_id):
        return any('"transfer created"' in line and transfer_id in line
                   for line in self.server.output().splitlines())

    def hup_and_wait(self, expect_line):
        before = self.server.output().count(expect_line)
        self.server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.server.output().count(expect_line) > before, expect_line)

    def test_reload_under_load_drops_no_request_and_applies_the_log_level(self):
        self.server = Server(self.workdir, self.db.url,
                             {"RT_SCHEDULER_ENABLED": "false", "RT_RETRIES_ENABLED": "false",
                              "RT_BACKUP_ENABLED": "false"},
                             'log_level = "info"\n' + http_provider_config(self.baas.url))
        self.servers.append(self.server)
        self.config_path = os.path.join(self.workdir, "rtjobs.toml")

        stop = threading.Event()
        failures, done = [], []

        def load(i):
            n = 0
            while not stop.is_set():
                try:
                    status, body, _ = self.server.http.post("/v1/recurring-transfers", {
                        "provider": "bank", "source_account": f"load{i}",
                        "destination_account": "acc_dst", "amount": 100 + n, "currency": "USD",
                        "description": "load", "schedule": {"frequency": "MONTHLY",
                                                            "start_date": "2027-01-01"}})
                    if status != 201:
                        failures.append((status, body))
                    status, body, _ = self.server.http.get("/v1/recurring-transfers?limit=5")
                    if status != 200:
                        failures.append((status, body))
                except Exception as e:  # a dropped connection is a failure too
                    failures.append(repr(e))
                n += 1
                done.append(time.monotonic())

        threads = [threading.Thread(target=load, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(done) >= 50, "requests before the first SIGHUP")
            first_hup = time.monotonic()
            for _ in range(5):
                self.write_config("warn")
                self.hup_and_wait('"configuration reloaded (SIGHUP)"')
                count = len(done)
                wait_for(lambda: len(done) >= count + 20, "requests after a SIGHUP")
            last_hup = time.monotonic()
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(failures, [])
        self.assertEqual(self.reloads(), 5)
        self.assertTrue(any(t < first_hup for t in done) and any(t > last_hup for t in done))
        self.assertIsNone(self.server.proc.poll(), "the server exited on SIGHUP")

        # Level warn: a new transfer's "transfer created" (info) is not written. The next reload,
        # to info, is written at warn, so once the next transfer's line shows, the first one's
        # would have shown before it.
        quiet = self.create_transfer(self.server, source="acc_quiet")
        self.write_config("info")
        self.hup_and_wait('"configuration reloaded (SIGHUP)"')
        loud = self.create_transfer(self.server, source="acc_loud")
        wait_for(lambda: self.created_logged(loud["id"]), "the transfer created line at info")
        self.assertFalse(self.created_logged(quiet["id"]), "an info line was written at warn")

        # An invalid file changes nothing: the level stays info and the server serves.
        with open(self.config_path, "w") as f:
            f.write('log_level = "verbose"\n')
        self.hup_and_wait('"configuration not reloaded: invalid"')
        again = self.create_transfer(self.server, source="acc_again")
        wait_for(lambda: self.created_logged(again["id"]), "the level kept after an invalid file")
        self.assertEqual(self.server.stop(), 0)


if __name__ == "__main__":
    main()
