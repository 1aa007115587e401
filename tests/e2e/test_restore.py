"""`rtjobs restore` end to end on both databases (SPEC section 6, issue 17): the real command
against a database a real server made. The whole file is checked before anything is written and
loaded in one transaction, so a bad row anywhere leaves the database as it was; only job rows a
backup can hold are taken (terminal, settlement not pending: a restored PENDING job would be sent
to the bank by the next `serve`); values are checked alike on SQLite and PostgreSQL, the error
naming the line and the column. Each case's CSV is written here the way a backup writes it."""
import json
import os
import subprocess
import uuid

from harness import RTJOBS, E2ECase, for_each_backend, main

JOB_COLUMNS = [
    "id", "recurring_transfer_id", "sequence", "scheduled_for", "due_at", "status", "result",
    "retries", "next_attempt_at", "provider", "idempotency_key", "provider_reference",
    "last_error", "lease_owner", "lease_expires_at", "created_at", "updated_at", "finished_at",
    "bank_status", "settlement_status", "settled_at", "return_code", "presentment",
    "settlement_check_at"]
STATUS_COLUMNS = [
    "id", "job_id", "recurring_transfer_id", "provider", "attempt", "http_status", "code",
    "message", "response_body", "created_at"]


def csv_field(value):
    """One field as the backup writes it: None is NULL (empty, unquoted); "" is quoted."""
    if value is None:
        return ""
    value = str(value)
    if value == "" or any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_text(columns, rows):
    lines = [",".join(columns)] + [",".join(csv_field(row[c]) for c in columns) for row in rows]
    return "".join(line + "\r\n" for line in lines)


def ids(n):
    """n UUIDs in increasing order (a backup lists its rows in id order)."""
    return sorted(str(uuid.uuid4()) for _ in range(n))


@for_each_backend
class Restore(E2ECase):
    def setUp(self):
        super().setUp()
        self.server = self.start_server()
        self.transfer = self.create_transfer(self.server)["id"]
        self.live = len(self.jobs_of(self.server, self.transfer))  # its PENDING occurrences

    def job(self, job_id, sequence, **overrides):
        row = {c: None for c in JOB_COLUMNS}
        row.update({
            "id": job_id, "recurring_transfer_id": self.transfer, "sequence": sequence,
            "scheduled_for": "2026-01-31", "due_at": "2026-01-31T09:00:00.000Z",
            "status": "FINISHED", "result": "SUCCEEDED", "retries": 0, "provider": "bank",
            "idempotency_key": f"{self.transfer}:{sequence}", "provider_reference": f"ref-{sequence}",
            "created_at": "2026-01-31T09:00:00.000Z", "updated_at": "2026-01-31T09:00:01.000Z",
            "finished_at": "2026-01-31T09:00:01.000Z", "bank_status": "Sent, \"done\"",
            "settlement_status": "settled", "settled_at": "2026-02-02T00:00:00.000Z",
            "presentment": 0})
        row.update(overrides)
        return row

    def jobs(self, n, first_sequence=100):
        return [self.job(i, first_sequence + k) for k, i in enumerate(ids(n))]

    def status(self, status_id, job_id, **overrides):
        row = {"id": status_id, "job_id": job_id, "recurring_transfer_id": self.transfer,
               "provider": "bank", "attempt": 1, "http_status": 422, "code": "insufficient_funds",
               "message": "balance, too low", "response_body": '{"error":"nope"}',
               "created_at": "2026-01-31T09:00:00.500Z"}
        row.update(overrides)
        return row

    def restore(self, columns, rows):
        path = os.path.join(self.workdir, f"restore-{uuid.uuid4().hex[:8]}.csv")
        with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
            f.write(csv_text(columns, rows))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
        env.update({"RT_DATABASE_URL": self.db.url,
                    "RT_BACKUP_URL": "file://" + os.path.join(self.workdir, "backups")})
        out = subprocess.run([RTJOBS, "restore", path], env=env, cwd=self.workdir,
                             capture_output=True, text=True, timeout=300)
        out.size = os.path.getsize(path)
        return out

    def job_count(self):
        return len(self.jobs_of(self.server, self.transfer))

    def assert_refused(self, columns, rows, *expected):
        before = self.job_count()
        out = self.restore(columns, rows)
        self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
        for e in expected:
            self.assertIn(e, out.stderr)
        self.assertEqual(self.job_count(), before, "the refused file left rows behind")
        return out.stderr

    def test_a_good_file_restores_and_restoring_it_again_skips_every_row(self):
        rows = self.jobs(3)
        rows[1]["status"], rows[1]["result"], rows[1]["retries"] = "FAILED", None, 3
        rows[2]["status"], rows[2]["result"] = "CANCELLED", None
        out = self.restore(JOB_COLUMNS, rows)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), {"table": "recurring_transfer_job", "rows_read": 3,
                                                  "rows_inserted": 3, "rows_skipped": 0})
        # Not a terminal: one plain line per phase, each having read the whole file.
        phases = [line for line in out.stderr.splitlines() if line.startswith("restore: ")]
        self.assertEqual(phases, [f"restore: checking: {out.size} bytes",
                                  f"restore: loading: {out.size} bytes"])
        statuses = [self.status(s, rows[1]["id"]) for s in ids(2)]
        out = self.restore(STATUS_COLUMNS, statuses)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["rows_inserted"], 2)

        status, job, _ = self.server.http.get(f"/v1/jobs/{rows[0]['id']}")
        self.assertEqual((status, job["status"], job["result"], job["settlement_status"]),
                         (200, "FINISHED", "SUCCEEDED", "settled"))
        status, page, _ = self.server.http.get(f"/v1/jobs/{rows[1]['id']}/provider-statuses")
        self.assertEqual((status, len(page["data"])), (200, 2))

        out = self.restore(JOB_COLUMNS, rows)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["rows_skipped"], 3)
        self.assertEqual(self.job_count(), self.live + 3)

    def test_a_bad_row_at_the_end_leaves_the_database_unchanged(self):
        rows = self.jobs(2501)
        rows[-1]["retries"] = -1
        self.assert_refused(JOB_COLUMNS, rows, "line 2502, column retries")
        # One only the database can see: its transfer is not there. The first 2,000 rows were
        # loaded by then, and roll back with the rest.
        rows = self.jobs(2501)
        rows[-1]["recurring_transfer_id"] = str(uuid.uuid4())
        self.assert_refused(JOB_COLUMNS, rows, "line 2502", "is not in the database")
        self.assertEqual(self.job_count(), self.live)

    def test_job_rows_that_are_not_terminal_are_refused(self):
        for status in ("PENDING", "IN_FLY", "PROCESSING", "RETRY"):
            rows = self.jobs(3)
            rows[2]["status"], rows[2]["result"] = status, None
            if status == "PROCESSING":
                rows[2]["lease_owner"] = "worker-1"
            err = self.assert_refused(JOB_COLUMNS, rows, "line 4, column status")
            self.assertIn("terminal jobs only", err)
        rows = self.jobs(2)
        rows[1]["settlement_status"] = "pending"
        self.assert_refused(JOB_COLUMNS, rows, "line 3, column settlement_status", "pending")
        self.assertEqual(self.job_count(), self.live)

    def test_values_are_checked_alike_on_both_databases(self):
        # The same message from both backends (each runs this test).
        rows = self.jobs(2)
        rows[1]["id"] = "job-2"
        err = self.assert_refused(JOB_COLUMNS, rows)
        self.assertIn("line 3, column id: must be a UUID, got \"job-2\"", err)
        rows = self.jobs(2)
        rows[1]["retries"] = -1
        err = self.assert_refused(JOB_COLUMNS, rows)
        self.assertIn("line 3, column retries: must be an integer from 0 to 2147483647, got \"-1\"", err)
        rows = self.jobs(2)
        rows[0]["last_error"] = "cut\0short"
        self.assert_refused(JOB_COLUMNS, rows, "line 2, column last_error: holds U+0000")
        rows = self.jobs(2)
        rows[0]["scheduled_for"] = "0000-01-01"
        self.assert_refused(JOB_COLUMNS, rows, "line 2, column scheduled_for")
        statuses = [self.status(s, str(uuid.uuid4())) for s in ids(1)]
        statuses[0]["http_status"] = 1000
        self.assert_refused(STATUS_COLUMNS, statuses, "line 2, column http_status")

    def test_provider_status_rows_need_their_job_in_the_database(self):
        rows = self.jobs(1)
        self.assertEqual(self.restore(JOB_COLUMNS, rows).returncode, 0)
        missing = str(uuid.uuid4())
        statuses = [self.status(s, rows[0]["id"]) for s in ids(3)]
        statuses[2]["job_id"] = missing
        statuses.sort(key=lambda s: (s["job_id"], s["id"]))
        line = 2 + statuses.index(next(s for s in statuses if s["job_id"] == missing))
        out = self.restore(STATUS_COLUMNS, statuses)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn(f"line {line}: provider status", out.stderr)
        self.assertIn(f"its job {missing}", out.stderr)
        status, page, _ = self.server.http.get(f"/v1/jobs/{rows[0]['id']}/provider-statuses")
        self.assertEqual((status, page["data"]), (200, []))


if __name__ == "__main__":
    main()
