"""The operator console (issue 18 items 1 and 4), used as a person would: Debian's chromium,
headless, driven by playwright-core (tools/console_test/console_test.js) against a real
`rtjobs serve` with the fake BaaS, on SQLite and PostgreSQL. This file prepares the scene
through the API (transfers, a declined and a failed job, a description holding markup, and
10,000 more transfers written straight into the database) and checks the console's HTTP
headers; the browser script then signs in, searches, reads, acts, checks every page with axe,
the console's weight and the first load's time, and saves a screenshot of each page into
CONSOLE_SCREENSHOTS (the ctest build tree: build/tests/console-screenshots/<backend>)."""
import os
import sqlite3
import subprocess
import time
import uuid

from harness import ROOT, TOKEN, E2ECase, for_each_backend, main

CONSOLE_TEST = os.path.join(ROOT, "tools", "console_test")
CHROMIUM = os.environ.get("RT_CHROMIUM", "/usr/bin/chromium")
SEEDED = 10000
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


@for_each_backend
class Console(E2ECase):
    def setUp(self):
        if not os.path.exists(os.path.join(CONSOLE_TEST, "node_modules", "playwright-core")):
            self.fail("playwright-core is not installed: run scripts/deps.sh (npm ci in tools/console_test)")
        if not os.access(CHROMIUM, os.X_OK):
            self.fail(f"{CHROMIUM} is missing: run scripts/deps.sh (apt install chromium)")
        super().setUp()

    def test_an_operator_reads_and_acts_in_the_console(self):
        # The retry loop runs, so a job the operator retries is called again and finishes.
        server = self.start_server(env={"RT_RETRIES_ENABLED": "true", "RT_MAX_RETRIES": "0"})
        self.check_console_headers(server)
        rent = self.create(server, "acc_console", external_id="console-rent",
                           schedule={"frequency": "MONTHLY", "day_of_month": -1,
                                     "start_date": tomorrow(), "execution_time": "09:30",
                                     "timezone": "America/New_York", "business_day": "FOLLOWING"})
        declined = self.create(server, "decline_console")
        failed = self.create(server, "acc_down_console")
        xss = self.create(server, "acc_xss", description=XSS)
        # A refusal (FINISHED, DECLINED) and a failure (503, no retry left: FAILED).
        self.process_first(server, declined["id"], "FINISHED")
        self.behave("acc_down_console", "down")
        self.process_first(server, failed["id"], "FAILED")
        self.behave("acc_down_console", "normal")  # the operator's retry will succeed
        status, overview, _ = server.http.get("/v1/overview")  # checked against its schema
        self.assertEqual(status, 200, overview)
        self.assertEqual(sum(h["declined"] for h in overview["outcomes"]["hours"]), 1, overview)
        self.assertEqual(sum(h["failed"] for h in overview["outcomes"]["hours"]), 1, overview)
        self.seed(rent["id"])
        status, page, _ = server.http.get("/v1/recurring-transfers?limit=1&account=seed_42")
        self.assertEqual((status, len(page["data"])), (200, 1), page)

        shots = os.path.join(os.environ.get("CONSOLE_SCREENSHOTS", os.path.join(self.workdir, "shots")),
                             self.backend)
        os.makedirs(shots, exist_ok=True)
        env = dict(os.environ, RT_URL=f"http://127.0.0.1:{server.port}", RT_TOKEN=TOKEN,
                   RT_CHROMIUM=CHROMIUM, CONSOLE_SCREENSHOTS=shots, RT_TODAY=today(),
                   RENT_ID=rent["id"], DECLINED_ID=declined["id"], FAILED_ID=failed["id"],
                   XSS_ID=xss["id"], XSS_TEXT=XSS, SEEDED=str(SEEDED))
        run = subprocess.run(["node", os.path.join(CONSOLE_TEST, "console_test.js")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
        print(run.stdout)
        self.assertEqual(run.returncode, 0, "the browser scenarios failed (output above)")

    def check_console_headers(self, server):
        status, body, headers = server.http.get("/console/", token=None)  # no token needed
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("text/html"), headers)
        csp = headers["Content-Security-Policy"]
        self.assertIn("default-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        self.assertIn('<script type="module" src="app.js">', body)
        status, _, js = server.http.get("/console/app.js", token=None)
        self.assertEqual((status, js["Content-Type"].split(";")[0]), (200, "text/javascript"))
        status, _, again = server.http.get("/console/app.js", token=None,
                                           headers={"If-None-Match": js["ETag"]})
        self.assertEqual((status, again["ETag"]), (304, js["ETag"]))
        status, body, _ = server.http.get("/console/nope.js", token=None)
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"), body)
        status, body, _ = server.http.get("/v1/overview", token=None)  # the data needs the token
        self.assertEqual(status, 401, body)
        status, body, _ = server.http.get("/v1/overview?x=1")
        self.assertEqual((status, body["error"]["field"]), (400, "x"), body)
        status, body, _ = server.http.get("/v1/recurring-transfers?external_id=")
        self.assertEqual((status, body["error"]["field"]), (400, "external_id"), body)
        status, body, _ = server.http.get("/v1/recurring-transfers?account=" + "a" * 256)
        self.assertEqual((status, body["error"]["field"]), (400, "account"), body)

    def create(self, server, source, description="rent", schedule=None, **fields):
        """A transfer from `source`; by default monthly from today, its first job due now."""
        body = {"provider": "bank", "source_account": source, "destination_account": "acc_dst",
                "amount": 5000, "currency": "USD", "description": description,
                "schedule": schedule or {"frequency": "MONTHLY", "start_date": today()}, **fields}
        status, transfer, _ = server.http.post("/v1/recurring-transfers", body)
        self.assertEqual(status, 201, transfer)
        return transfer

    def process_first(self, server, transfer_id, want):
        job = self.jobs_of(server, transfer_id)[0]
        status, job, _ = server.http.post(f"/v1/jobs/{job['id']}/process")
        self.assertEqual((status, job["status"]), (200, want), job)

    def behave(self, account, behaviour):
        status, body, _ = self.baas.http.post("/_control/behaviour",
                                              {"account": account, "behaviour": behaviour})
        self.assertEqual(status, 200, body)

    def seed(self, model_id):
        """SEEDED copies of the transfer `model_id` (no jobs; nothing left to schedule), written
        straight into the database: the API would take minutes for the lists' scale."""
        if self.backend == "sqlite":
            con = sqlite3.connect(self.db.url[len("sqlite://"):], timeout=30)
            cur = con.execute("SELECT * FROM recurring_transfer WHERE id = ?", (model_id,))
            columns = [d[0] for d in cur.description]
            model = dict(zip(columns, cur.fetchone()))
            rows = []
            for i in range(SEEDED):
                r = dict(model, id=str(uuid.uuid4()), source_account=f"seed_{i}", external_id=f"seed-{i}",
                         idempotency_key=None, next_occurrence_at=None, status="COMPLETED")
                rows.append([r[c] for c in columns])
            names = ", ".join(f'"{c}"' for c in columns)
            con.executemany(f"INSERT INTO recurring_transfer ({names}) VALUES "
                            f"({', '.join('?' * len(columns))})", rows)
            con.commit()
            con.close()
        else:
            sql = f"""
CREATE TEMP TABLE seed AS SELECT t.* FROM recurring_transfer t, generate_series(1, {SEEDED})
  WHERE t.id = '{model_id}';
UPDATE seed SET id = gen_random_uuid(), idempotency_key = NULL, next_occurrence_at = NULL,
  status = 'COMPLETED';
UPDATE seed SET source_account = 'seed_' || n, external_id = 'seed-' || n
  FROM (SELECT id AS sid, row_number() OVER () - 1 AS n FROM seed) numbered WHERE id = sid;
INSERT INTO recurring_transfer SELECT * FROM seed;
"""
            subprocess.run(["psql", self.db.url, "-qv", "ON_ERROR_STOP=1", "-c", sql], check=True,
                           stdout=subprocess.DEVNULL)


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def tomorrow():
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))


if __name__ == "__main__":
    main()
