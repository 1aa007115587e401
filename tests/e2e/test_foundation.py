"""Start-up, configuration, auth and the transfer API's validation, end to end (issue 2 and the
recurring-transfer API): real `rtjobs` processes in empty folders."""
import datetime
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.request
import uuid

from harness import RTJOBS, TOKEN, E2ECase, Http, Server, for_each_backend, main


def run_rtjobs(args, env, cwd, timeout=20):
    full = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
    full.update(env)
    return subprocess.run([RTJOBS] + args, env=full, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


class StartUp(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rtjobs-start-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_serve_in_an_empty_folder_answers_healthz_on_the_embedded_default(self):
        server = Server(self.dir, "sqlite://rtjobs.db", {"RT_API_TOKEN": ""})
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=10) as r:
                self.assertEqual(r.status, 200)
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=10) as r:
                self.assertEqual(r.status, 200)
            self.assertTrue(os.path.exists(os.path.join(self.dir, "rtjobs.db")))
        finally:
            self.assertEqual(server.stop(), 0)

    def test_version_and_commit_in_version_healthz_and_metrics(self):
        r = run_rtjobs(["--version"], {}, self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.fullmatch(r"rtjobs (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)\n",
                         r.stdout)
        self.assertIsNotNone(m, r.stdout)
        version, commit = m.group(1), m.group(2)
        server = Server(self.dir, "sqlite://rtjobs.db")
        try:
            status, health, _ = server.http.get("/healthz")
            self.assertEqual(status, 200)
            self.assertEqual(health, {"status": "ok", "version": version, "commit": commit})
            status, metrics, _ = server.http.get("/metrics")
            self.assertEqual(status, 200)
            self.assertIn(f'rtjobs_build_info{{version="{version}",commit="{commit}"}} 1\n', metrics)
        finally:
            server.stop()

    def test_bogus_database_url_exits_naming_the_setting(self):
        r = run_rtjobs(["serve"], {"RT_DATABASE_URL": "bogus://x"}, self.dir)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("RT_DATABASE_URL", r.stderr)

    def test_invalid_values_exit_naming_the_setting(self):
        for name, value in [("RT_MAX_RETRIES", "many"), ("RT_HORIZON_MONTHS", "0"),
                            ("RT_LISTEN", "127.0.0.1:99999"), ("RT_SCHEDULER_ENABLED", "maybe"),
                            ("RT_BACKUP_URL", "ftp://x"), ("RT_BACKUP_SCHEDULE", "61 * * * *"),
                            ("RT_BACKUP_TIMEZONE", "Mars/Base")]:
            r = run_rtjobs(["serve"], {name: value}, self.dir)
            self.assertNotEqual(r.returncode, 0, name)
            self.assertIn(name, r.stderr, name)

    def test_public_address_without_a_token_is_refused(self):
        r = run_rtjobs(["serve"], {"RT_LISTEN": "0.0.0.0:8080"}, self.dir)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("RT_API_TOKEN", r.stderr)

    def test_token_required_on_every_route_but_health(self):
        server = Server(self.dir, "sqlite://rtjobs.db")
        try:
            anonymous = Http(f"http://127.0.0.1:{server.port}", contract=server.http.contract)
            for path in ("/v1/jobs", "/v1/recurring-transfers", "/metrics", "/openapi.json"):
                status, body, headers = anonymous.get(path)
                self.assertEqual(status, 401, path)
                self.assertEqual(body["error"]["code"], "unauthorized")
                status, _, _ = anonymous.get(path, token="wrong-" + TOKEN)
                self.assertEqual(status, 401, path)
            self.assertEqual(anonymous.post(f"/v1/jobs/{uuid.uuid4()}/process")[0], 401)
            self.assertEqual(anonymous.get("/healthz")[0], 200)
            self.assertEqual(server.http.get("/v1/jobs")[0], 200)
            # Announce a body over 1 MiB; the server answers 413 without reading it.
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.putrequest("POST", "/v1/recurring-transfers")
            conn.putheader("Authorization", "Bearer " + TOKEN)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(1024 * 1024 + 10))
            conn.endheaders()
            conn.send(b"{" * 1024)
            response = conn.getresponse()
            self.assertEqual(response.status, 413)
            self.assertEqual(json.loads(response.read())["error"]["code"], "payload_too_large")
            conn.close()
        finally:
            server.stop()

    def test_openapi_command_prints_the_served_document(self):
        # ctest openapi_lint lints what `rtjobs openapi` prints: it must be what serve answers.
        r = run_rtjobs(["openapi"], {}, self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        printed = json.loads(r.stdout)
        server = Server(self.dir, "sqlite://rtjobs.db")
        try:
            status, served, _ = server.http.get("/openapi.json")
            self.assertEqual(status, 200)
            self.assertEqual(printed, served)
            self.assertIn("/v1/recurring-transfers", printed["paths"])
        finally:
            server.stop()

    def test_migrate_and_help(self):
        r = run_rtjobs(["migrate"], {"RT_DATABASE_URL": "sqlite://m.db"}, self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sqlite database is at schema version 8 (applied now: 1, 2, 3, 4, 5, 6, 7, 8)", r.stdout)
        r = run_rtjobs(["migrate"], {"RT_DATABASE_URL": "sqlite://m.db"}, self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("schema version 8 (up to date, nothing applied)", r.stdout)
        for args in (["--help"], ["serve", "--help"], ["migrate", "--help"], ["backup", "run", "--help"],
                     ["restore", "--help"]):
            r = run_rtjobs(args, {}, self.dir)
            self.assertEqual(r.returncode, 0, args)
            self.assertIn("--config" if args != ["--help"] else "serve", r.stdout)


@for_each_backend
class TransferApi(E2ECase):
    def body(self, **overrides):
        today = datetime.datetime.utcnow().date().isoformat()
        b = {"provider": "sandbox", "source_account": "a", "destination_account": "b", "amount": 100,
             "currency": "USD", "description": "d",
             "schedule": {"frequency": "MONTHLY", "start_date": today}}
        for k, v in overrides.items():
            if k.startswith("schedule_"):
                b["schedule"][k[len("schedule_"):]] = v
            else:
                b[k] = v
        return b

    def test_every_bad_field_is_a_400_naming_it(self):
        server = self.start_server()
        yesterday = (datetime.datetime.utcnow().date() - datetime.timedelta(days=1)).isoformat()
        cases = [
            ("amount", self.body(amount=0)), ("amount", self.body(amount=1.5)),
            ("amount", self.body(amount="100")), ("currency", self.body(currency="usd")),
            ("provider", self.body(provider="nope")), ("surprise", self.body(surprise=1)),
            ("schedule.frequency", self.body(schedule_frequency="HOURLY")),
            ("schedule.interval", self.body(schedule_interval=0)),
            ("schedule.day_of_month", self.body(schedule_day_of_month=32)),
            ("schedule.timezone", self.body(schedule_timezone="Mars/Base")),
            ("schedule.execution_time", self.body(schedule_execution_time="25:00")),
            ("schedule.start_date", self.body(schedule_start_date=yesterday)),
            ("schedule.calendar", self.body(schedule_business_day="FOLLOWING", schedule_calendar="NOPE")),
        ]
        for field, body in cases:
            status, answer, _ = server.http.post("/v1/recurring-transfers", body)
            self.assertEqual(status, 400, (field, answer))
            self.assertEqual(answer["error"]["field"], field, answer)
        self.assertEqual(server.http.get("/v1/recurring-transfers")[1]["data"], [])

    def test_idempotency_key_returns_the_same_transfer_or_422(self):
        server = self.start_server()
        key = {"Idempotency-Key": "k-" + uuid.uuid4().hex}
        s1, t1, _ = server.http.post("/v1/recurring-transfers", self.body(), headers=key)
        s2, t2, _ = server.http.post("/v1/recurring-transfers", self.body(), headers=key)
        self.assertEqual((s1, s2), (201, 200))
        self.assertEqual(t1["id"], t2["id"])
        s3, t3, _ = server.http.post("/v1/recurring-transfers", self.body(amount=999), headers=key)
        self.assertEqual(s3, 422, t3)
        self.assertEqual(len(server.http.get("/v1/recurring-transfers")[1]["data"]), 1)

    def test_list_filters_and_cursor_paging(self):
        server = self.start_server()
        ids = [server.http.post("/v1/recurring-transfers", self.body())[1]["id"] for _ in range(5)]
        server.http.post(f"/v1/recurring-transfers/{ids[0]}/pause")
        seen, cursor = [], None
        while True:
            path = "/v1/recurring-transfers?limit=2" + (f"&cursor={cursor}" if cursor else "")
            status, page, _ = server.http.get(path)
            self.assertEqual(status, 200, page)
            self.assertLessEqual(len(page["data"]), 2)
            seen += [t["id"] for t in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, ids)
        paused = server.http.get("/v1/recurring-transfers?status=PAUSED")[1]["data"]
        self.assertEqual([t["id"] for t in paused], [ids[0]])
        self.assertEqual(server.http.get("/v1/recurring-transfers?status=NOPE")[0], 400)
        self.assertEqual(server.http.get("/v1/recurring-transfers?limit=0")[0], 400)
        self.assertEqual(server.http.get(f"/v1/recurring-transfers/{uuid.uuid4()}")[0], 404)
        status, transfer, _ = server.http.get(f"/v1/recurring-transfers/{ids[1]}")
        self.assertEqual(transfer["schedule"]["frequency"], "MONTHLY")
        self.assertEqual(transfer["amount"], 100)


if __name__ == "__main__":
    main()
