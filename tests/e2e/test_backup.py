"""The backup endpoints and command end to end (SPEC section 6): POST/GET /v1/backups and
`rtjobs backup run` on a real server and database. The timestamp rules with eligible rows are
tested with an injected clock in tests/backup."""
import json
import os
import subprocess

from harness import RTJOBS, E2ECase, for_each_backend, main


@for_each_backend
class BackupApi(E2ECase):
    def test_first_run_saves_the_timestamp_then_waits_for_the_months(self):
        server = self.start_server()
        status, body, _ = server.http.get("/v1/backups")
        self.assertEqual((status, body["last_backup_at"], body["data"]), (200, None, []))
        status, first, _ = server.http.post("/v1/backups")
        self.assertEqual(status, 200, first)
        self.assertEqual((first["outcome"], first["timestamp_saved"], first["job_rows"]),
                         ("NOTHING_TO_BACK_UP", True, 0))
        status, second, _ = server.http.post("/v1/backups")
        self.assertEqual((second["outcome"], second["timestamp_saved"]), ("SKIPPED", False))
        status, forced, _ = server.http.post("/v1/backups", {"force": True})
        self.assertEqual((forced["outcome"], forced["timestamp_saved"]), ("NOTHING_TO_BACK_UP", False))
        status, body, _ = server.http.get("/v1/backups")
        self.assertEqual(len(body["data"]), 1)
        self.assertIsNotNone(body["last_backup_at"])
        status, body, _ = server.http.post("/v1/backups", {"force": "yes"})
        self.assertEqual((status, body["error"]["field"]), (400, "force"))
        status, body, _ = server.http.post("/v1/backups", {"forse": True})
        self.assertEqual((status, body["error"]["field"]), (400, "forse"))

    def test_backup_run_command(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
        env.update({"RT_DATABASE_URL": self.db.url, "RT_BACKUP_URL": "file://" + os.path.join(self.workdir, "b")})
        out = subprocess.run([RTJOBS, "backup", "run"], env=env, cwd=self.workdir, capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["outcome"], "NOTHING_TO_BACK_UP")
        out = subprocess.run([RTJOBS, "backup", "run"], env=env, cwd=self.workdir, capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(json.loads(out.stdout)["outcome"], "SKIPPED")
        env["RT_BACKUP_URL"] = "s3://"
        out = subprocess.run([RTJOBS, "backup", "run"], env=env, cwd=self.workdir, capture_output=True,
                             text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("RT_BACKUP_URL", out.stderr)


if __name__ == "__main__":
    main()
