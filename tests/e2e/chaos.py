"""Chaos with counts (issue 17 item 5): faults injected into real `rtjobs serve` processes
draining due jobs against a slow fake bank, then everything counted from the database and the
bank's own records.

Scenarios, each on a fresh database and a fresh fake bank (300 ms a transfer):
  kills        SIGKILLs at random moments of a drain, each followed by a restart (SQLite, PostgreSQL)
  two-instance two instances on one PostgreSQL, killed in turn, each restarted
  pg-restart   `pg_ctl restart -m immediate` of the PostgreSQL under a drain
  backup       after a drain: a backup whose spool disk (a tmpfs TMPDIR) fills up, one whose S3
               server is SIGKILLed during the upload, then one that succeeds once both are back

Counts per scenario (all read after the fact, never from rtjobs' own view of itself):
  not terminal   jobs not FINISHED/FAILED/SKIPPED/CANCELLED once it converged (or gave up)
  executed twice occurrences the bank executed more than once: two bank transfers with the
                 same idempotency key, the same job reference, or the same (transfer, sequence)
  state vs bank  jobs whose end state disagrees with the bank: SUCCEEDED without exactly one
                 bank transfer whose id is its provider_reference, or any other end with money
                 moved
  rows lost      rows (jobs and provider statuses) gone from the database without being in an
                 object of a succeeded backup, read back from S3
  converge       seconds from the last fault to every job terminal (backup: to the succeeded run)

The PostgreSQL is this script's own (scripts/pg.sh on RT_CHAOS_PG_PORT, default 54371), so it
can restart it; the S3 server is scripts/s3rver.sh on a free port. The random moments come from
one seeded RNG (the seed is printed; --seed replays the schedule, the machine's timing aside).

  python3 tests/e2e/chaos.py --scale full|ci [--seed N] [--jobs N] [--kills N] ...
Exit status 0 when every count is as it must be. The CI case is tests/e2e/test_chaos.py.
"""
import argparse
import concurrent.futures
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chaos_backup import backup_faults  # noqa: E402
from chaos_env import Database, Fleet, Postgres, Row, log  # noqa: E402
from harness import FakeBaas, Http  # noqa: E402

JOBS_SQL = ("SELECT id, recurring_transfer_id, sequence, status, coalesce(result, ''), "
            "coalesce(provider_reference, ''), idempotency_key FROM recurring_transfer_job")
BANK_LATENCY_MS = 300


@dataclass
class Scale:
    jobs: int
    kills: int  # per database
    pair_kills: int  # two instances on PostgreSQL, alternately
    pg_restarts: int
    converge_timeout: float
    max_retries: int = 3  # RT_MAX_RETRIES of the draining servers


SCALES = {
    "full": Scale(jobs=5000, kills=25, pair_kills=10, pg_restarts=2, converge_timeout=300),
    "ci": Scale(jobs=500, kills=5, pair_kills=2, pg_restarts=1, converge_timeout=120),
}


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def source_account(i):
    """Most transfers succeed at once. One in 20 is declined; one in 20 fails once (503) first;
    one in 20 is executed by the bank after the provider's timeout (1.5 s + 300 ms against
    1 s), so its first attempt's outcome is unknown to rtjobs (SPEC section 8)."""
    if i % 20 == 0:
        return f"decline_chaos{i}"
    if i % 20 == 1:
        return f"flaky1_chaos{i}"
    if i % 20 == 2:
        return f"slow1500_chaos{i}"
    return f"chaos{i}"


def create_due_jobs(server, n):
    """n one-off transfers due now, through the API: n due PENDING jobs."""
    def create(i):
        body = {"provider": "bank", "source_account": source_account(i),
                "destination_account": f"dst{i}", "amount": 1000 + i, "currency": "USD",
                "description": "chaos", "schedule": {"frequency": "DAILY", "count": 1,
                                                     "start_date": today()}}
        http = Http(server.http.base, server.http.token)
        status, transfer, _ = http.post("/v1/recurring-transfers", body)
        if status != 201:
            raise RuntimeError(f"creating transfer {i}: {status} {transfer}")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(n)))


def seed(workdir, db, bank, n):
    """Creates the jobs on a server whose loops are off, then stops it: the drain starts with the
    first server of the scenario."""
    fleet = Fleet(workdir, db, bank, {"RT_SCHEDULER_ENABLED": "false", "RT_RETRIES_ENABLED": "false"})
    server = fleet.start("seed")
    try:
        create_due_jobs(server, n)
    finally:
        fleet.stop()
    count = db.scalar("SELECT count(*) FROM recurring_transfer_job WHERE status = 'PENDING'")
    if count != n:
        raise RuntimeError(f"seeded {count} pending jobs, expected {n}")


def fault_points(rng, n_jobs, count):
    """`count` random moments of a drain, as numbers of jobs terminal (2% to 85% of them), each
    with a random extra delay of up to 250 ms: the faults land while jobs are still due."""
    points = sorted(rng.randint(int(n_jobs * 0.02), int(n_jobs * 0.85)) for _ in range(count))
    return [(p, rng.uniform(0.0, 0.25)) for p in points]


def wait_for_done(db, n_jobs, target, timeout):
    """Waits until at least `target` jobs are terminal; returns the time it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = db.not_terminal()
        if left is not None and n_jobs - left >= target:
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"fewer than {target} of {n_jobs} jobs terminal after {timeout} s")


def wait_converged(db, timeout):
    """Polls until no job is left non-terminal; returns (when, how many left)."""
    deadline = time.monotonic() + timeout
    left = None
    while time.monotonic() < deadline:
        left = db.not_terminal()
        if left == 0:
            return time.monotonic(), 0
        time.sleep(0.05)
    return time.monotonic(), left if left is not None else db.not_terminal()


def count_against_bank(row, db, bank):
    """Fills the money counts of `row` from the database's jobs and the bank's records."""
    jobs = [dict(zip(("id", "transfer", "sequence", "status", "result", "reference", "key"), r))
            for r in db.rows(JOBS_SQL)]
    transfers = bank.transfers()
    row.executed_twice, row.state_vs_bank = money_counts(jobs, transfers)
    failed = sum(1 for j in jobs if j["status"] == "FAILED")
    row.notes.append(f"bank: {len(transfers)} transfers, {len(bank.attempts())} attempts; "
                     f"jobs FAILED: {failed}")


def money_counts(jobs, transfers):
    """(occurrences executed more than once, jobs whose end state disagrees with the bank).
    A bank transfer belongs to the job its reference names (rtjobs sends the job id), else to
    the job of its idempotency key; an occurrence is (recurring transfer, sequence)."""
    by_id = {j["id"]: j for j in jobs}
    by_key = {j["key"]: j for j in jobs}
    executed = {}  # occurrence -> bank transfers
    groups = ({}, {})  # by idempotency key, by reference
    for t in transfers:
        job = by_id.get(t.get("reference")) or by_key.get(t["idempotency_key"])
        occurrence = (job["transfer"], job["sequence"]) if job else ("unknown", t["idempotency_key"])
        executed.setdefault(occurrence, []).append(t)
        groups[0].setdefault(t["idempotency_key"], []).append(occurrence)
        groups[1].setdefault(t.get("reference"), []).append(occurrence)
    twice = {o for o, ts in executed.items() if len(ts) > 1}
    for group in groups:
        twice |= {o for occurrences in group.values() if len(occurrences) > 1 for o in occurrences}
    disagree = 0
    for j in jobs:
        moved = executed.get((j["transfer"], j["sequence"]), [])
        if j["status"] == "FINISHED" and j["result"] == "SUCCEEDED":
            ok = len(moved) == 1 and moved[0]["id"] == j["reference"]
        else:
            ok = not moved
        disagree += not ok
    return len(twice), disagree


def drain_with_faults(name, backend, pg, workdir, scale, rng, slots, fault, faults, describe):
    """The shared shape of the drain scenarios: a fresh database and bank, `scale.jobs` due jobs,
    servers in `slots`, `fault(fleet, i)` at each of `faults` random moments, then counts."""
    row = Row(name, backend, faults=describe, planned_faults=faults, jobs=scale.jobs)
    bank = FakeBaas(BANK_LATENCY_MS)
    db = Database(backend, workdir, pg)
    fleet = Fleet(workdir, db, bank, {"RT_MAX_RETRIES": str(scale.max_retries)})
    try:
        seed(workdir, db, bank, scale.jobs)
        points = fault_points(rng, scale.jobs, faults)
        log(f"{name} on {backend}: {scale.jobs} jobs, faults at {[p for p, _ in points]} jobs done")
        started = time.monotonic()
        for slot in slots:
            fleet.start(slot)
        last_fault = started
        for i, (target, delay) in enumerate(points):
            wait_for_done(db, scale.jobs, target, scale.converge_timeout)
            time.sleep(delay)
            last_fault = time.monotonic()
            note = fault(fleet, i)
            row.faults_done += 1
            if note:
                row.notes.append(note)
        done_at, left = wait_converged(db, scale.converge_timeout)
        row.not_terminal = left
        row.converge_s = round(done_at - last_fault, 1)
        row.notes.append(f"drain {done_at - started:.1f} s from the first start")
        count_against_bank(row, db, bank)
        for slot in slots:
            fleet.exited_on_its_own(slot)
        if fleet.exits:
            row.problems.append(f"servers exited on their own: {fleet.exits}")
    finally:
        fleet.stop()
        bank.stop()
    check_drain(row)
    return row, db, fleet


def check_drain(row):
    if row.faults_done != row.planned_faults:
        row.problems.append(f"{row.faults_done} of {row.planned_faults} faults injected")
    row.expect_zero("jobs not terminal", row.not_terminal)
    row.expect_zero("transfers executed twice", row.executed_twice)
    row.expect_zero("jobs whose state disagrees with the bank", row.state_vs_bank)


def kills(backend, pg, workdir, scale, rng):
    def kill_and_restart(fleet, _):
        fleet.kill("a")
        fleet.start("a")
    return drain_with_faults("kills", backend, pg, workdir, scale, rng, ["a"], kill_and_restart,
                             scale.kills, f"{scale.kills} SIGKILL + restart")


def two_instances(pg, workdir, scale, rng):
    def kill_in_turn(fleet, i):
        slot = "ab"[i % 2]
        fleet.kill(slot)
        fleet.start(slot)
    return drain_with_faults("two instances", "postgresql", pg, workdir, scale, rng, ["a", "b"],
                             kill_in_turn, scale.pair_kills,
                             f"{scale.pair_kills} SIGKILL + restart, in turn")


def pg_restarts(pg, workdir, scale, rng):
    def restart(fleet, i):
        started = time.monotonic()
        pg.restart_immediate()
        note = f"restart {i + 1}: PostgreSQL accepting connections again after {time.monotonic() - started:.1f} s"
        if fleet.exited_on_its_own("a"):
            fleet.start("a")  # as a supervisor would; the exit is reported as a problem
        return note
    return drain_with_faults("pg restart", "postgresql", pg, workdir, scale, rng, ["a"], restart,
                             scale.pg_restarts, f"{scale.pg_restarts} pg_ctl restart -m immediate")


def table(rows):
    def cell(v):
        return "n/a" if v is None else str(v)
    head = ("scenario", "database", "kills / faults", "jobs", "not terminal", "executed twice",
            "state vs bank", "rows lost by backup", "converge (s)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        faults = r.faults if r.faults_done == r.planned_faults else f"{r.faults} ({r.faults_done} done)"
        lines.append("| " + " | ".join(cell(v) for v in (
            r.scenario, r.database, faults, r.jobs, r.not_terminal, r.executed_twice,
            r.state_vs_bank, r.rows_lost, r.converge_s)) + " |")
    return "\n".join(lines)


def run(scale, seed, only=None, keep=False):
    """Runs the scenarios (all, or those named in `only`); returns the rows."""
    rng = random.Random(seed)
    log(f"seed {seed}; {scale}")
    workdir = tempfile.mkdtemp(prefix="rtjobs-chaos-")
    os.chmod(workdir, 0o755)  # the PostgreSQL under it runs as "postgres" when root
    pg = Postgres(workdir)
    rows, failed = [], False
    wanted = (lambda name: only is None or name in only)
    try:
        for backend in ("sqlite", "postgresql"):
            if wanted("kills"):
                row, db, _ = kills(backend, pg, workdir, scale, rng)
                rows.append(row)
                if backend == "sqlite" and wanted("backup"):
                    rows.append(backup_faults(backend, db, workdir, rng))
        if wanted("two-instance"):
            rows.append(two_instances(pg, workdir, scale, rng)[0])
        if wanted("pg-restart"):
            row, db, _ = pg_restarts(pg, workdir, scale, rng)
            rows.append(row)
            if wanted("backup"):
                rows.append(backup_faults("postgresql", db, workdir, rng))
        failed = any(r.problems for r in rows)
    except BaseException:
        failed = True
        raise
    finally:
        pg.stop()
        for r in rows:
            log(f"{r.scenario} on {r.database}: " + "; ".join(r.notes + r.problems))
        if failed or keep:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="ci")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--kills", type=int)
    parser.add_argument("--pair-kills", type=int)
    parser.add_argument("--pg-restarts", type=int)
    parser.add_argument("--max-retries", type=int, help="RT_MAX_RETRIES (default 3)")
    parser.add_argument("--only", help="comma-separated: kills,two-instance,pg-restart,backup")
    parser.add_argument("--keep", action="store_true", help="keep the logs and databases")
    args = parser.parse_args()
    scale = SCALES[args.scale]
    for name in ("jobs", "kills", "pair_kills", "pg_restarts", "max_retries"):
        if getattr(args, name) is not None:
            setattr(scale, name, getattr(args, name))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    started = time.monotonic()
    rows = run(scale, seed, args.only.split(",") if args.only else None, args.keep)
    print(f"\nchaos: seed {seed}, scale {args.scale}, {time.monotonic() - started:.0f} s\n")
    print(table(rows))
    problems = [f"{r.scenario} on {r.database}: {p}" for r in rows for p in r.problems]
    for p in problems:
        print("FAILED: " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
