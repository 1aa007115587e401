"""scripts/restore-drill.sh against a real `rtjobs serve` (ctest ops_restore_drill): a server
on SQLite (and on PostgreSQL when RT_TEST_POSTGRES_URL is set) with transfers, processed jobs and
a backup that archived and deleted old ones; the drill, run while the server runs, restores its
data into a fresh database and finds every count equal. A tampered archive makes it fail.
"""
import os
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402

DRILL = os.path.join(harness.ROOT, "scripts", "restore-drill.sh")


class RestoreDrill(harness.E2ECase):
    def sql(self, statement):
        if self.db.backend == "sqlite":
            with sqlite3.connect(self.db.url[len("sqlite://"):], timeout=10) as conn:
                conn.execute(statement)
        else:
            subprocess.run(["psql", self.db.url, "-qc", statement], check=True,
                           stdout=subprocess.DEVNULL)

    def drill(self, server):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
        env["RT_DATABASE_URL"] = self.db.url
        if self.db.backend == "postgresql":
            env["RT_DRILL_ADMIN_URL"] = self.db.admin
        return subprocess.run(["bash", DRILL, "--rtjobs", harness.RTJOBS], env=env,
                              capture_output=True, text=True, timeout=300)

    def test_the_drill_restores_a_running_servers_data_and_its_archives(self):
        server = self.start_server()
        # Live rows: two transfers whose first jobs are processed (provider-status rows).
        live = []
        for source in ("acc_src", "decline_acc"):
            transfer = self.create_transfer(server, source=source)
            live.append(transfer["id"])
            job = self.first_job(server, transfer["id"])
            status, body, _ = server.http.post(f"/v1/jobs/{job['id']}/process")
            self.assertEqual(status, 200, body)
        # Archived rows: a cancelled daily transfer's jobs, dated long ago, backed up and deleted.
        old = self.create_transfer(server, frequency="DAILY")
        status, _, _ = server.http.post(f"/v1/recurring-transfers/{old['id']}/cancel")
        self.assertEqual(status, 200)
        archived = len(self.jobs_of(server, old["id"]))
        self.sql("UPDATE recurring_transfer_job SET scheduled_for = '2020-01-01' "
                 f"WHERE recurring_transfer_id = '{old['id']}'")
        status, result, _ = server.http.post("/v1/backups?wait=true", {"force": True})
        self.assertEqual(status, 200, result)
        self.assertEqual(result["job_rows"], archived)
        self.assertEqual(self.jobs_of(server, old["id"]), [])  # deleted from the live database

        # The backup's gauge tells when it saved (the backup-overdue alert reads it).
        status, text, _ = server.http.get("/metrics")
        gauge = [line for line in text.splitlines()
                 if line.startswith("rtjobs_backup_last_success_timestamp_seconds ")]
        self.assertEqual(len(gauge), 1, text)
        self.assertLess(abs(float(gauge[0].split()[1]) - time.time()), 120, gauge)

        live_jobs = sum(len(self.jobs_of(server, t)) for t in live)
        started = time.time()
        run = self.drill(server)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("recurring_transfer_job", run.stdout)
        self.assertNotIn("MISMATCH", run.stdout)
        self.assertIn(f"jobs {live_jobs} + {archived} = {live_jobs + archived}", run.stdout)
        self.assertIn("restore-drill: OK", run.stdout)
        sys.stderr.write(f"drill ({self.db.backend}): {time.time() - started:.1f} s\n{run.stdout}")

        # A tampered archive: restore refuses it (checksum), and so does the drill.
        backups = os.path.join(self.workdir, "backups")
        csvs = [os.path.join(d, f) for d, _, fs in os.walk(backups) for f in fs
                if f.endswith(".csv")]
        self.assertTrue(csvs, backups)
        for path in csvs:
            with open(path, "a") as f:
                f.write("tampered\n")
        run = self.drill(server)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertIn("restore-drill: FAILED: rtjobs restore", run.stderr)


class RestoreDrillSqlite(RestoreDrill):
    backend = "sqlite"


if os.environ.get("RT_TEST_POSTGRES_URL"):
    class RestoreDrillPostgres(RestoreDrill):
        backend = "postgresql"


del RestoreDrill

if __name__ == "__main__":
    harness.main()
