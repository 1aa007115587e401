"""The moving parts of the chaos runs (chaos.py): this run's own PostgreSQL, which it may
restart; a scenario's database read from outside rtjobs; the `rtjobs serve` processes of a
scenario, by slot; and one scenario's counts."""
import os
import socket
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass, field

from harness import ROOT, Server, http_provider_config

NOT_TERMINAL_SQL = ("SELECT count(*) FROM recurring_transfer_job WHERE status NOT IN "
                    "('FINISHED', 'FAILED', 'SKIPPED', 'CANCELLED')")
BANK_TIMEOUT_MS = 1000  # so a lease lasts 2 s (processor.hpp, lease_for)


@dataclass
class Row:
    """One scenario's counts. None: does not apply to the scenario (printed "n/a")."""
    scenario: str
    database: str
    faults: str = ""
    planned_faults: int = 0
    faults_done: int = 0
    jobs: int = 0
    not_terminal: int = None
    executed_twice: int = None
    state_vs_bank: int = None
    rows_lost: int = None
    converge_s: float = None
    notes: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    def expect_zero(self, name, value):
        if value:
            self.problems.append(f"{name} = {value} (must be 0)")


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def as_postgres_owner(args):
    """PostgreSQL refuses to run as root: its tools run as "postgres" then (as scripts/pg.sh)."""
    return (["runuser", "-u", "postgres", "--"] + args) if os.geteuid() == 0 else args


class Postgres:
    """This run's own PostgreSQL (scripts/pg.sh), which it may restart."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pg")
        self.port = os.environ.get("RT_CHAOS_PG_PORT", "54371")
        self.env = dict(os.environ, RT_PG_DIR=self.dir, RT_PG_PORT=self.port)
        out = subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "start"], env=self.env,
                             check=True, capture_output=True, text=True)
        self.admin_url = out.stdout.strip()

    def create_database(self):
        name = "chaos_" + uuid.uuid4().hex[:10]
        subprocess.run(["psql", "-X", self.admin_url, "-qc", f"CREATE DATABASE {name}"], check=True,
                       stdout=subprocess.DEVNULL)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def restart_immediate(self):
        """Kills every backend at once (no checkpoint, as a crash) and starts again: in-flight
        transactions are lost and every connection breaks."""
        pg_ctl = "/usr/lib/postgresql/15/bin/pg_ctl"
        subprocess.run(as_postgres_owner([pg_ctl, "-D", os.path.join(self.dir, "data"), "-l",
                                          os.path.join(self.dir, "server.log"), "-m",
                                          "immediate", "-w", "-t", "120", "restart"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "stop"], env=self.env)


class Database:
    """Reads a scenario's database from outside rtjobs (sqlite3, or psql)."""

    def __init__(self, backend, workdir, pg):
        self.backend = backend
        if backend == "sqlite":
            self.path = os.path.join(workdir, f"chaos-{uuid.uuid4().hex[:6]}.db")
            self.url = "sqlite://" + self.path
        else:
            self.url = pg.create_database()

    def rows(self, sql):
        if self.backend == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as conn:
                return [tuple(str(v) for v in r) for r in conn.execute(sql)]
        out = subprocess.run(["psql", "-X", "-At", "-F", "\t", self.url, "-c", sql], check=True,
                             capture_output=True, text=True)
        return [tuple(line.split("\t")) for line in out.stdout.splitlines() if line]

    def scalar(self, sql):
        return int(self.rows(sql)[0][0])

    def execute(self, sql):
        if self.backend == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as conn:
                conn.execute(sql)
        else:
            subprocess.run(["psql", "-X", self.url, "-qc", sql], check=True, stdout=subprocess.DEVNULL)

    def not_terminal(self):
        """The count, or None while the database cannot be read (PostgreSQL restarting)."""
        try:
            return self.scalar(NOT_TERMINAL_SQL)
        except (subprocess.CalledProcessError, sqlite3.Error):
            return None


class Fleet:
    """The `rtjobs serve` processes of a scenario, by slot: start, SIGKILL, restart."""

    def __init__(self, workdir, db, bank, env=None):
        self.workdir, self.db, self.bank = workdir, db, bank
        self.env = {"RT_SCHEDULER_ENABLED": "true", "RT_RETRIES_ENABLED": "true",
                    "RT_BACKUP_ENABLED": "false", "RT_RETRY_BACKOFF": "1"}
        self.env.update(env or {})
        self.servers = {}
        self.exits = []  # servers that exited without being killed
        self._seen_exited = set()

    def start(self, slot, **overrides):
        env = dict(self.env, **overrides)
        server = Server(self.workdir, self.db.url, env,
                        http_provider_config(self.bank.url, BANK_TIMEOUT_MS))
        self.servers[slot] = server
        return server

    def kill(self, slot):
        """SIGKILL, and wait for the exit (one that came first is recorded in `exits`)."""
        self.exited_on_its_own(slot)
        self._seen_exited.add(self.servers[slot])
        self.servers[slot].kill()

    def exited_on_its_own(self, slot):
        """Whether the slot's server has exited unkilled; if so its exit and log are recorded in
        `exits` (once)."""
        server = self.servers[slot]
        if server.proc.poll() is None or server in self._seen_exited:
            return False
        self._seen_exited.add(server)
        server.wait_exit()
        self.exits.append(f"{slot}: exit {server.proc.returncode}, log {server.log_path}")
        return True

    def stop(self):
        for server in self.servers.values():
            server.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
