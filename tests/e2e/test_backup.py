"""The backup endpoints and command end to end (SPEC section 6): POST /v1/backups (202 with a
backup run, or ?wait=true for the result), GET /v1/backups/{id}, GET /v1/backups and
`rtjobs backup run` on a real server and database. The timestamp rules with eligible rows are
tested with an injected clock in tests/backup. A run is held in progress by an S3 endpoint that
accepts connections and answers nothing until the test lets it go."""
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
import uuid

from harness import RTJOBS, E2ECase, for_each_backend, main


class HangingS3:
    """An S3 endpoint on loopback that holds every request unanswered until release(); from
    then on it closes each connection at once, so the upload in progress fails."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.held = []
        self.released = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.released.is_set():
                conn.close()
            else:
                self.held.append(conn)

    def release(self):
        self.released.set()
        for conn in self.held:
            conn.close()

    def stop(self):
        self.release()
        self.sock.close()

    def env(self):
        return {"RT_BACKUP_URL": "s3://bucket/rtjobs", "RT_S3_ENDPOINT": self.url,
                "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret"}


def header(headers, name):
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


@for_each_backend
class BackupApi(E2ECase):
    def sql(self, statement):
        if self.db.backend == "sqlite":
            with sqlite3.connect(self.db.url[len("sqlite://"):], timeout=10) as conn:
                conn.execute(statement)
        else:
            subprocess.run(["psql", self.db.url, "-qc", statement], check=True,
                           stdout=subprocess.DEVNULL)

    def old_cancelled_jobs(self, server):
        """Jobs eligible for backup: a daily transfer's, cancelled, dated long ago."""
        transfer = self.create_transfer(server, frequency="DAILY")
        status, _, _ = server.http.post(f"/v1/recurring-transfers/{transfer['id']}/cancel")
        self.assertEqual(status, 200)
        jobs = self.jobs_of(server, transfer["id"])
        self.assertGreater(len(jobs), 10)
        self.assertTrue(all(j["status"] == "CANCELLED" for j in jobs))
        self.sql("UPDATE recurring_transfer_job SET scheduled_for = '2020-01-01'")
        return len(jobs)

    def poll(self, server, run_id, until, timeout=30):
        deadline = time.time() + timeout
        while True:
            status, run, _ = server.http.get(f"/v1/backups/{run_id}")
            self.assertEqual(status, 200, run)
            if until(run) or time.time() > deadline:
                return run
            time.sleep(0.05)

    def start_held_run(self, server):
        """POSTs a run that the hanging S3 endpoint holds in its upload; returns it."""
        status, run, headers = server.http.post("/v1/backups", {"force": True})
        self.assertEqual(status, 202, run)
        run = self.poll(server, run["id"], lambda r: r["phase"] == "upload")
        self.assertEqual((run["status"], run["phase"]), ("running", "upload"), run)
        return run

    def test_first_run_saves_the_timestamp_then_waits_for_the_months(self):
        server = self.start_server()
        status, body, _ = server.http.get("/v1/backups")
        self.assertEqual((status, body["last_backup_at"], body["data"]), (200, None, []))
        status, first, _ = server.http.post("/v1/backups?wait=true")
        self.assertEqual(status, 200, first)
        self.assertEqual((first["outcome"], first["timestamp_saved"], first["job_rows"]),
                         ("NOTHING_TO_BACK_UP", True, 0))
        status, second, _ = server.http.post("/v1/backups?wait=true")
        self.assertEqual((second["outcome"], second["timestamp_saved"]), ("SKIPPED", False))
        status, forced, _ = server.http.post("/v1/backups?wait=true", {"force": True})
        self.assertEqual((forced["outcome"], forced["timestamp_saved"]), ("NOTHING_TO_BACK_UP", False))
        status, body, _ = server.http.get("/v1/backups")
        self.assertEqual(len(body["data"]), 1)
        self.assertIsNotNone(body["last_backup_at"])
        status, body, _ = server.http.post("/v1/backups", {"force": "yes"})
        self.assertEqual((status, body["error"]["field"]), (400, "force"))
        status, body, _ = server.http.post("/v1/backups", {"forse": True})
        self.assertEqual((status, body["error"]["field"]), (400, "forse"))

    def test_post_answers_202_with_a_run_that_is_polled_to_its_result(self):
        server = self.start_server()
        jobs = self.old_cancelled_jobs(server)
        status, run, headers = server.http.post("/v1/backups", {"force": True})
        self.assertEqual(status, 202, run)
        self.assertEqual(header(headers, "Location"), f"/v1/backups/{run['id']}")
        uuid.UUID(run["id"])
        self.assertEqual((run["status"], run["phase"], run["force"], run["finished_at"], run["result"],
                          run["error"]), ("running", "starting", True, None, None, None))
        self.assertEqual(run["progress"], {"job_rows": 0, "provider_status_rows": 0, "uploaded_bytes": 0,
                                           "deleted_job_rows": 0, "deleted_provider_status_rows": 0})
        self.assertIsNotNone(run["started_at"])

        done = self.poll(server, run["id"], lambda r: r["status"] != "running")
        self.assertEqual((done["status"], done["phase"], done["error"]), ("succeeded", "done", None), done)
        self.assertEqual((done["id"], done["started_at"]), (run["id"], run["started_at"]))
        self.assertIsNotNone(done["finished_at"])
        self.assertIsNotNone(done["heartbeat_at"])
        progress = done["progress"]
        self.assertEqual((progress["job_rows"], progress["deleted_job_rows"]), (jobs, jobs))
        self.assertGreater(progress["uploaded_bytes"], 0)
        result = done["result"]
        self.assertEqual((result["outcome"], result["timestamp_saved"], result["job_rows"]),
                         ("BACKED_UP", True, jobs))
        self.assertEqual(sum(o["bytes"] for o in result["objects"]), progress["uploaded_bytes"])
        for key in ("provider_status_rows", "objects", "run_at", "cutoff"):
            self.assertIn(key, result)
        self.assertTrue(all(os.path.exists(o["url"][len("file://"):]) for o in result["objects"]))
        status, history, _ = server.http.get("/v1/backups")
        self.assertEqual(history["data"][0]["job_rows"], jobs)
        # ?wait=false is the default form.
        status, run, _ = server.http.post("/v1/backups?wait=false")
        self.assertEqual((status, run["status"]), (202, "running"), run)
        done = self.poll(server, run["id"], lambda r: r["status"] != "running")
        self.assertEqual(done["result"]["outcome"], "SKIPPED")

    def test_unknown_runs_and_bad_input(self):
        server = self.start_server()
        status, body, _ = server.http.get(f"/v1/backups/{uuid.uuid4()}")
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"), body)
        status, body, _ = server.http.get("/v1/backups/not-a-uuid")
        self.assertEqual((status, body["error"]["field"]), (400, "id"), body)
        for query, field in (("wait=maybe", "wait"), ("wait=", "wait"), ("wait=TRUE", "wait"),
                             ("wiat=true", "wiat"), ("wait=true&wait=false", "wait")):
            status, body, _ = server.http.post("/v1/backups?" + query)
            self.assertEqual((status, body["error"]["field"]), (400, field), (query, body))
        status, body, _ = server.http.get("/v1/backups")
        self.assertEqual(body["data"], [])  # none of them ran

    def test_a_post_while_a_run_is_in_progress_answers_409_naming_it(self):
        s3 = HangingS3()
        self.addCleanup(s3.stop)
        server = self.start_server(env=s3.env())
        jobs = self.old_cancelled_jobs(server)
        run = self.start_held_run(server)
        self.assertEqual(run["progress"]["job_rows"], jobs)  # exported, the snapshot closed
        for path in ("/v1/backups", "/v1/backups?wait=true"):
            status, body, headers = server.http.post(path, {"force": True})
            self.assertEqual(status, 409, body)
            self.assertEqual(body["error"]["code"], "backup_in_progress")
            self.assertEqual(body["error"]["run_id"], run["id"])
            self.assertIn(run["id"], body["error"]["message"])
            self.assertEqual(header(headers, "Location"), f"/v1/backups/{run['id']}")
        # Requests are served meanwhile: the run is not on the request threads.
        started = time.time()
        status, _, _ = server.http.get("/v1/jobs?limit=1")
        self.assertEqual(status, 200)
        self.assertLess(time.time() - started, 1.0)

        s3.release()  # the upload fails: the run fails, nothing is deleted
        failed = self.poll(server, run["id"], lambda r: r["status"] != "running")
        self.assertEqual((failed["status"], failed["phase"], failed["result"]), ("failed", "upload", None),
                         failed)
        self.assertIn("no row deleted", failed["error"])
        self.assertIsNotNone(failed["finished_at"])
        self.assertEqual(failed["progress"]["deleted_job_rows"], 0)
        status, page, _ = server.http.get("/v1/jobs?status=CANCELLED&limit=500")
        self.assertEqual(len(page["data"]), jobs)

    def test_a_run_of_a_killed_server_shows_interrupted_once_the_next_run_starts(self):
        s3 = HangingS3()
        self.addCleanup(s3.stop)
        server = self.start_server(env=s3.env())
        jobs = self.old_cancelled_jobs(server)
        run = self.start_held_run(server)
        server.kill()
        s3.release()
        server = self.start_server()  # file:// objects
        status, left, _ = server.http.get(f"/v1/backups/{run['id']}")
        self.assertEqual(status, 200, left)
        # Its heartbeat is recent: it shows as running until 30 s pass, or the next run starts.
        self.assertEqual(left["status"], "running", left)
        status, result, _ = server.http.post("/v1/backups?wait=true", {"force": True})
        self.assertEqual((status, result["outcome"], result["job_rows"]), (200, "BACKED_UP", jobs), result)
        status, left, _ = server.http.get(f"/v1/backups/{run['id']}")
        self.assertEqual((left["status"], left["phase"]), ("failed", "upload"), left)
        self.assertTrue(left["error"].startswith("interrupted"), left)
        self.assertEqual(left["finished_at"], left["heartbeat_at"])

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


class BackupRunsOnTwoInstancesPostgres(E2ECase):
    """Two instances behind a load balancer, on one PostgreSQL: either answers for a run of the
    other, and refuses a second run while it goes."""

    backend = "postgresql"

    def test_either_instance_shows_the_run_and_refuses_a_second(self):
        s3 = HangingS3()
        self.addCleanup(s3.stop)
        first = self.start_server(env=s3.env())
        second = self.start_server(env=s3.env())
        transfer = self.create_transfer(first, frequency="DAILY")
        first.http.post(f"/v1/recurring-transfers/{transfer['id']}/cancel")
        subprocess.run(["psql", self.db.url, "-qc",
                        "UPDATE recurring_transfer_job SET scheduled_for = '2020-01-01'"],
                       check=True, stdout=subprocess.DEVNULL)
        status, run, _ = first.http.post("/v1/backups", {"force": True})
        self.assertEqual(status, 202, run)
        deadline = time.time() + 30
        while True:
            status, seen, _ = second.http.get(f"/v1/backups/{run['id']}")
            self.assertEqual(status, 200, seen)
            if seen["phase"] == "upload" or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual((seen["status"], seen["phase"]), ("running", "upload"), seen)
        status, body, _ = second.http.post("/v1/backups", {"force": True})
        self.assertEqual((status, body["error"]["code"], body["error"].get("run_id")),
                         (409, "backup_in_progress", run["id"]), body)
        s3.release()
        deadline = time.time() + 30
        while seen["status"] == "running" and time.time() < deadline:
            time.sleep(0.05)
            _, seen, _ = second.http.get(f"/v1/backups/{run['id']}")
        self.assertEqual(seen["status"], "failed", seen)
        _, mine, _ = first.http.get(f"/v1/backups/{run['id']}")
        self.assertEqual(mine, seen)


if __name__ == "__main__":
    main()
