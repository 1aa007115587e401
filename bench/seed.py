"""Seeding the burn-down jobs straight into the database (not timed), and counting what is
left to do. Both backends get the same rows: N ACTIVE MONTHLY transfers, each with ONE due
PENDING job (sequence 1, due at the last whole minute before now, UTC; idempotency key
'{transfer}:1'), last_sequence 1 and next_occurrence_at = next month's due time. With
RT_HORIZON_MONTHS=1 every processed job then creates exactly one next occurrence (sequence 2),
as at a busy due time in steady state (see seed_pg.sql).
"""

import calendar
import datetime as dt
import os
import sqlite3
import time

from common import BENCH, psql

# Jobs still to do: not terminal and due by now (the sequence-2 jobs the run creates are a
# month ahead, so they do not count). Three counts, so each one reads a partial index of the
# schema instead of scanning the table every poll.
REMAINING_SQL = (
    "SELECT (SELECT count(*) FROM recurring_transfer_job "
    "        WHERE status IN ('PENDING', 'IN_FLY') AND due_at <= {now})"
    " + (SELECT count(*) FROM recurring_transfer_job WHERE status = 'RETRY')"
    " + (SELECT count(*) FROM recurring_transfer_job WHERE status = 'PROCESSING')")
REMAINING_PG = REMAINING_SQL.format(now="now()")
REMAINING_SQLITE = REMAINING_SQL.format(now="strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
# Whether any is left (1 or 0): one index probe per state, where the counts read every job left
# (19 ms per poll at the start of a SQLite run of 50,000, which took CPU from the server and held
# read snapshots that kept its checkpoints from finishing). The run polls this and counts only
# now and then, to see progress.
ANY_LEFT_SQL = (
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM recurring_transfer_job"
    "                         WHERE status IN ('PENDING', 'IN_FLY') AND due_at <= {now})"
    " OR EXISTS (SELECT 1 FROM recurring_transfer_job WHERE status IN ('RETRY', 'PROCESSING'))"
    " THEN 1 ELSE 0 END")
ANY_LEFT_PG = ANY_LEFT_SQL.format(now="now()")
ANY_LEFT_SQLITE = ANY_LEFT_SQL.format(now="strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
NEXT_CREATED_SQL = "SELECT count(*) FROM recurring_transfer_job WHERE sequence = 2"


def seed_pg(url, n, provider):
    psql(url, (BENCH / "seed_pg.sql").read_text(), {"n": n, "provider": provider})


def uuid7(ms):
    """A UUIDv7 string: 48-bit millisecond time, version 7, variant 10, random rest."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | ((rand >> 68) & 0xFFF) << 64
    value |= 0x2 << 62 | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def add_month(d):
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return d.replace(year=year, month=month,
                     day=min(d.day, calendar.monthrange(year, month)[1]))


def iso_instant(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def seed_sqlite(path, n, provider):
    now = dt.datetime.now(dt.timezone.utc)
    due = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    day, execution_time = due.date(), due.strftime("%H:%M")
    due_at = f"{day.isoformat()}T{execution_time}:00.000Z"
    next_due_at = f"{add_month(day).isoformat()}T{execution_time}:00.000Z"
    stamp = iso_instant(now)
    base_ms = int(time.time() * 1000) - 3600 * 1000
    transfers, jobs = [], []
    for i in range(1, n + 1):
        transfer_id, job_id = uuid7(base_ms + i), uuid7(base_ms + i)
        transfers.append((transfer_id, f"bench-{i}", provider, f"acct_src_{i}", f"acct_dst_{i}",
                          day.day, day.isoformat(), execution_time, next_due_at, stamp, stamp))
        jobs.append((job_id, transfer_id, day.isoformat(), due_at, provider,
                     f"{transfer_id}:1", stamp, stamp))
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA busy_timeout = 10000")
        with db:
            db.execute("DELETE FROM recurring_transfer_provider_status")
            db.execute("DELETE FROM recurring_transfer_job")
            db.execute("DELETE FROM recurring_transfer")
            db.executemany(
                "INSERT INTO recurring_transfer (id, external_id, provider, source_account, "
                "destination_account, amount, currency, description, frequency, \"interval\", "
                "day_of_month, start_date, timezone, execution_time, business_day, calendar, "
                "status, last_sequence, next_occurrence_at, request_hash, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 1000, 'USD', 'bench', 'MONTHLY', 1, ?, ?, 'UTC', ?, "
                "'NONE', 'WEEKENDS', 'ACTIVE', 1, ?, 'bench', ?, ?)", transfers)
            db.executemany(
                "INSERT INTO recurring_transfer_job (id, recurring_transfer_id, sequence, "
                "scheduled_for, due_at, status, retries, provider, idempotency_key, created_at, "
                "updated_at) VALUES (?, ?, 1, ?, ?, 'PENDING', 0, ?, ?, ?, ?)", jobs)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


class SqliteCounter:
    """Polls a SQLite database (WAL: the reader never blocks rtjobs' writer)."""

    def __init__(self, path):
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA busy_timeout = 10000")

    def scalar(self, sql):
        return self.db.execute(sql).fetchone()[0]

    def close(self):
        self.db.close()
