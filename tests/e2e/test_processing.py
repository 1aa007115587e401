"""The jobs server contract of SPEC sections 2 and 4, end to end: real rtjobs processes, a real
fake-BaaS process, on SQLite and on PostgreSQL."""
import calendar
import concurrent.futures
import datetime
import time
import uuid

from harness import E2ECase, for_each_backend, main


def executed_for(baas, key):
    return [t for t in baas.transfers() if t["idempotency_key"] == key]


def instant(text):
    """Seconds since the epoch of an API timestamp such as 2026-11-28T00:00:00.000Z."""
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def attempts_for(baas, key):
    return [a for a in baas.attempts() if a["idempotency_key"] == key]


@for_each_backend
class Processing(E2ECase):
    def process(self, server, job_id):
        return server.http.post(f"/v1/jobs/{job_id}/process")

    def statuses(self, server, job_id):
        status, body, _ = server.http.get(f"/v1/jobs/{job_id}/provider-statuses")
        self.assertEqual(status, 200, body)
        return body["data"]

    def test_success_finishes_with_the_provider_reference(self):
        server = self.start_server()
        transfer = self.create_transfer(server)
        job = self.first_job(server, transfer["id"])
        self.assertEqual(job["status"], "PENDING")
        status, done, _ = self.process(server, job["id"])
        self.assertEqual(status, 200, done)
        self.assertEqual((done["status"], done["result"], done["retries"]), ("FINISHED", "SUCCEEDED", 0))
        executed = executed_for(self.baas, job["idempotency_key"])
        self.assertEqual(len(executed), 1)
        self.assertEqual(done["provider_reference"], executed[0]["id"])
        self.assertEqual(executed[0]["amount"], 5000)
        self.assertEqual(executed[0]["reference"], job["id"])
        self.assertIsNotNone(done["finished_at"])
        self.assertEqual(self.statuses(server, job["id"]), [])

    def test_refusal_finishes_declined_with_the_bank_answer_saved(self):
        server = self.start_server()
        job = self.first_job(server, self.create_transfer(server, source="decline_acc")["id"])
        status, done, _ = self.process(server, job["id"])
        self.assertEqual(status, 200, done)
        self.assertEqual((done["status"], done["result"], done["retries"]), ("FINISHED", "DECLINED", 0))
        rows = self.statuses(server, job["id"])
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["http_status"], 422)
        self.assertEqual(rows[0]["code"], "insufficient_funds")
        self.assertIn("insufficient_funds", rows[0]["response_body"])
        self.assertEqual(rows[0]["attempt"], 1)
        self.assertEqual(executed_for(self.baas, job["idempotency_key"]), [])
        # Declines are final: processing again calls nobody.
        before = len(attempts_for(self.baas, job["idempotency_key"]))
        status, again, _ = self.process(server, job["id"])
        self.assertEqual((status, again["status"]), (200, "FINISHED"))
        self.assertEqual(len(attempts_for(self.baas, job["idempotency_key"])), before)

    def test_unavailable_bank_retries_then_fails_after_max_retries(self):
        server = self.start_server({"RT_MAX_RETRIES": "3"})
        job = self.first_job(server, self.create_transfer(server, source="down_acc")["id"])
        for expected_retries in (1, 2, 3):
            status, body, _ = self.process(server, job["id"])
            self.assertEqual(status, 200, body)
            self.assertEqual((body["status"], body["retries"]), ("RETRY", expected_retries))
            self.assertIsNotNone(body["next_attempt_at"])
        status, body, _ = self.process(server, job["id"])
        self.assertEqual((status, body["status"], body["retries"], body["result"]), (200, "FAILED", 3, None))
        rows = self.statuses(server, job["id"])
        self.assertEqual([r["attempt"] for r in rows], [1, 2, 3, 4])
        self.assertTrue(all(r["http_status"] == 503 for r in rows))
        self.assertEqual(len(attempts_for(self.baas, job["idempotency_key"])), 4)
        # FAILED is terminal: no fifth call.
        status, body, _ = self.process(server, job["id"])
        self.assertEqual((status, body["status"]), (200, "FAILED"))
        self.assertEqual(len(attempts_for(self.baas, job["idempotency_key"])), 4)
        # A success in between shows the bank up: the next failure is this job's again (five
        # failures in a row would pause the provider, and a failure while paused uses no retry).
        ok = self.first_job(server, self.create_transfer(server, source="acc_ok")["id"])
        self.assertEqual(self.process(server, ok["id"])[1]["result"], "SUCCEEDED")
        # An operator's retry gives it another round, with the same idempotency key.
        status, body, _ = server.http.post(f"/v1/jobs/{job['id']}/retry")
        self.assertEqual((status, body["status"], body["retries"]), (200, "RETRY", 0))
        status, body, _ = self.process(server, job["id"])
        self.assertEqual((status, body["status"], body["retries"]), (200, "RETRY", 1))
        status, body, _ = server.http.post(f"/v1/jobs/{job['id']}/retry")
        self.assertEqual(status, 409, body)
        # Once the transfer is cancelled, a FAILED job cannot be retried into moving money.
        for _ in range(3):
            self.process(server, job["id"])
        self.assertEqual(server.http.get(f"/v1/jobs/{job['id']}")[1]["status"], "FAILED")
        status, body, _ = server.http.post(f"/v1/recurring-transfers/{job['recurring_transfer_id']}/cancel")
        self.assertEqual(status, 200, body)
        status, body, _ = server.http.post(f"/v1/jobs/{job['id']}/retry")
        self.assertEqual((status, body["error"]["code"]), (409, "transfer_cancelled"))

    def metrics(self, server):
        status, text, headers = server.http.get("/metrics")
        self.assertEqual(status, 200, text)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"), headers)
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def test_metrics_count_bank_calls_and_written_outcomes(self):
        server = self.start_server({"RT_MAX_RETRIES": "0"})
        jobs = [self.first_job(server, self.create_transfer(server, source=source)["id"])
                for source in ("acc_src", "decline_acc", "down_acc")]
        values = self.metrics(server)
        self.assertEqual(values['rtjobs_jobs_due{kind="pending"}'], 3)
        self.assertEqual(values['rtjobs_jobs_due{kind="retry"}'], 0)
        for job in jobs:
            status, body, _ = self.process(server, job["id"])
            self.assertEqual(status, 200, body)
        values = self.metrics(server)
        self.assertEqual(values['rtjobs_jobs_due{kind="pending"}'], 0)
        self.assertEqual(values['rtjobs_bank_calls_total{provider="bank",answer="succeeded"}'], 1)
        self.assertEqual(values['rtjobs_bank_calls_total{provider="bank",answer="declined"}'], 1)
        self.assertEqual(values['rtjobs_bank_calls_total{provider="bank",answer="unavailable"}'], 1)
        self.assertGreater(
            values['rtjobs_bank_call_duration_seconds_sum{provider="bank",answer="succeeded"}'], 0)
        outcomes = 'rtjobs_job_outcomes_total{provider="bank",'
        self.assertEqual(values[outcomes + 'status="FINISHED",result="SUCCEEDED"}'], 1)
        self.assertEqual(values[outcomes + 'status="FINISHED",result="DECLINED"}'], 1)
        self.assertEqual(values[outcomes + 'status="FAILED"}'], 1)  # no retries allowed
        self.assertEqual(values[outcomes + 'status="RETRY"}'], 0)
        self.assertEqual(values['rtjobs_job_leases_lost_total{provider="bank"}'], 0)
        self.assertEqual(values["rtjobs_bank_calls_in_flight"], 0)

    def test_flaky_bank_succeeds_on_a_retry_with_the_same_key(self):
        server = self.start_server()
        job = self.first_job(server, self.create_transfer(server, source="flaky2_acc")["id"])
        results = [self.process(server, job["id"])[1] for _ in range(3)]
        self.assertEqual([(r["status"], r["retries"]) for r in results],
                         [("RETRY", 1), ("RETRY", 2), ("FINISHED", 2)])
        self.assertEqual(results[-1]["result"], "SUCCEEDED")
        keys = {a["idempotency_key"] for a in attempts_for(self.baas, job["idempotency_key"])}
        self.assertEqual(keys, {job["idempotency_key"]})
        self.assertEqual(len(executed_for(self.baas, job["idempotency_key"])), 1)
        self.assertEqual(len(self.statuses(server, job["id"])), 2)

    def test_timeout_and_rate_limit_are_retried_without_http_status_for_timeouts(self):
        server = self.start_server(timeout_ms=300)
        slow = self.first_job(server, self.create_transfer(server, source="slow2000_acc")["id"])
        status, body, _ = self.process(server, slow["id"])
        self.assertEqual((status, body["status"], body["retries"]), (200, "RETRY", 1))
        row = self.statuses(server, slow["id"])[0]
        self.assertIsNone(row["http_status"])
        self.assertEqual(row["code"], "timeout")
        limited = self.first_job(server, self.create_transfer(server, source="ratelimit_acc")["id"])
        status, body, _ = self.process(server, limited["id"])
        # SPEC section 8: a 429 uses up no retry and defers the job by the bank's Retry-After (1 s).
        self.assertEqual((status, body["status"], body["retries"]), (200, "RETRY", 0))
        self.assertEqual(self.statuses(server, limited["id"])[0]["http_status"], 429)
        def instant(text):
            return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
        self.assertEqual(instant(body["next_attempt_at"]) - instant(body["updated_at"]),
                         datetime.timedelta(seconds=1))

    def test_not_due_unknown_and_malformed_ids(self):
        server = self.start_server({"RT_RETRY_BACKOFF": "3600"})
        tomorrow = (datetime.datetime.utcnow().date() + datetime.timedelta(days=1)).isoformat()
        later = self.first_job(server, self.create_transfer(server, start_date=tomorrow)["id"])
        status, body, _ = self.process(server, later["id"])
        self.assertEqual((status, body["error"]["code"]), (409, "job_not_due"))
        down = self.first_job(server, self.create_transfer(server, source="down_acc")["id"])
        self.assertEqual(self.process(server, down["id"])[1]["status"], "RETRY")
        status, body, _ = self.process(server, down["id"])  # next attempt is an hour away
        self.assertEqual((status, body["error"]["code"]), (409, "job_not_due"))
        status, body, _ = self.process(server, str(uuid.uuid4()))
        self.assertEqual(status, 404, body)
        status, body, _ = self.process(server, "not-a-uuid")
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["field"], "job_id")

    def test_twenty_concurrent_process_calls_execute_once(self):
        server = self.start_server()
        job = self.first_job(server, self.create_transfer(server, source="slow300_acc")["id"])
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: self.process(server, job["id"]), range(20)))
        codes = [a[0] for a in answers]
        self.assertTrue(set(codes) <= {200, 409}, codes)
        self.assertGreaterEqual(codes.count(200), 1)
        for code, body, _ in answers:
            if code == 409:
                self.assertEqual(body["error"]["code"], "job_in_progress")
        self.assertEqual(len(attempts_for(self.baas, job["idempotency_key"])), 1)
        self.assertEqual(len(executed_for(self.baas, job["idempotency_key"])), 1)
        status, body, _ = server.http.get(f"/v1/jobs/{job['id']}")
        self.assertEqual((body["status"], body["result"]), ("FINISHED", "SUCCEEDED"))

    def test_batch_endpoint_answers_each_id_in_order(self):
        server = self.start_server()
        ok = self.first_job(server, self.create_transfer(server)["id"])
        declined = self.first_job(server, self.create_transfer(server, source="decline_x")["id"])
        unknown = str(uuid.uuid4())
        status, body, _ = server.http.post("/v1/jobs/process",
                                           {"job_ids": [ok["id"], unknown, declined["id"], "bad"]})
        self.assertEqual(status, 200, body)
        results = body["results"]
        self.assertEqual([r["job_id"] for r in results], [ok["id"], unknown, declined["id"], "bad"])
        self.assertEqual([r["http_status"] for r in results], [200, 404, 200, 400])
        self.assertEqual(results[0]["job"]["result"], "SUCCEEDED")
        self.assertEqual(results[2]["job"]["result"], "DECLINED")
        self.assertIn("error", results[1])
        status, body, _ = server.http.post("/v1/jobs/process", {"job_ids": [unknown] * 101})
        self.assertEqual(status, 400, body)

    def test_killed_during_the_bank_call_recovers_after_the_lease_and_executes_once(self):
        # timeout 2 s -> lease 4 s. The bank takes 1.5 s; the server dies 0.5 s into the call.
        server = self.start_server(timeout_ms=2000)
        transfer = self.create_transfer(server, source="slow1500_acc")
        job = self.first_job(server, transfer["id"])
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(self.process, server, job["id"])
            time.sleep(0.5)
            server.kill()
            try:
                pending.result(timeout=10)
            except Exception:
                pass  # the connection died with the server
        restarted = self.start_server(timeout_ms=2000)
        status, body, _ = restarted.http.get(f"/v1/jobs/{job['id']}")
        self.assertEqual(body["status"], "PROCESSING")
        claimed_at, expires_at = instant(body["updated_at"]), instant(body["lease_expires_at"])
        self.assertAlmostEqual(expires_at - claimed_at, 4.0, places=3)  # the timeout, twice
        status, body, _ = self.process(restarted, job["id"])
        self.assertEqual((status, body["error"]["code"]), (409, "job_in_progress"))
        time.sleep(max(0.0, expires_at + 0.3 - time.time()))
        status, body, _ = self.process(restarted, job["id"])
        self.assertEqual(status, 200, body)
        self.assertEqual((body["status"], body["result"], body["retries"]), ("FINISHED", "SUCCEEDED", 1))
        executed = executed_for(self.baas, job["idempotency_key"])
        self.assertEqual(len(executed), 1)
        self.assertEqual(body["provider_reference"], executed[0]["id"])

    def test_terminal_jobs_make_no_bank_call(self):
        server = self.start_server()
        job = self.first_job(server, self.create_transfer(server)["id"])
        self.assertEqual(self.process(server, job["id"])[1]["status"], "FINISHED")
        for _ in range(3):
            status, body, _ = self.process(server, job["id"])
            self.assertEqual((status, body["status"]), (200, "FINISHED"))
        self.assertEqual(len(attempts_for(self.baas, job["idempotency_key"])), 1)

    def test_concurrent_calls_on_many_jobs_each_get_their_own_answer(self):
        # Terminal and unknown jobs are answered from reads the IO threads share (SQLite); a
        # due job among them is still claimed and executed once.
        server = self.start_server()
        finished = self.first_job(server, self.create_transfer(server)["id"])
        declined = self.first_job(server, self.create_transfer(server, source="decline_x")["id"])
        for job in (finished, declined):
            self.assertEqual(self.process(server, job["id"])[0], 200)
        due = self.first_job(server, self.create_transfer(server)["id"])
        unknown = str(uuid.uuid4())
        ids = [finished["id"], declined["id"], due["id"], unknown] * 15
        with concurrent.futures.ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(lambda job_id: self.process(server, job_id), ids))
        for job_id, (status, body, _) in zip(ids, answers):
            if job_id == unknown:
                self.assertEqual((status, body["error"]["code"]), (404, "not_found"))
            elif job_id == due["id"]:
                self.assertIn(status, (200, 409), body)
            else:
                self.assertEqual(status, 200, body)
                self.assertEqual(body["id"], job_id)
                expected = "SUCCEEDED" if job_id == finished["id"] else "DECLINED"
                self.assertEqual((body["status"], body["result"]), ("FINISHED", expected))
        for job in (finished, declined, due):
            self.assertEqual(len(attempts_for(self.baas, job["idempotency_key"])), 1)
        status, body, _ = server.http.get(f"/v1/jobs/{due['id']}")
        self.assertEqual((body["status"], body["result"]), ("FINISHED", "SUCCEEDED"))


def add_months(d, months):
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    return datetime.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@for_each_backend
class Horizon(E2ECase):
    def test_daily_transfer_has_exactly_the_occurrences_within_the_horizon(self):
        server = self.start_server({"RT_HORIZON_MONTHS": "2"})
        today = datetime.datetime.utcnow().date()
        transfer = self.create_transfer(server, frequency="DAILY", start_date=today.isoformat())
        expected = [(today + datetime.timedelta(days=i)).isoformat()
                    for i in range((add_months(today, 2) - today).days + 1)]
        jobs = self.jobs_of(server, transfer["id"])
        self.assertEqual([j["scheduled_for"] for j in jobs], expected)
        self.assertEqual([j["sequence"] for j in jobs], list(range(1, len(expected) + 1)))
        for _ in range(2):
            status, body, _ = server.http.post(f"/v1/jobs/{jobs[0]['id']}/process")
            self.assertEqual(status, 200, body)
            self.assertEqual(len(self.jobs_of(server, transfer["id"])), len(expected))
        self.assertEqual(len({j["idempotency_key"] for j in jobs}), len(jobs))

    def test_weekly_interval_and_finite_monthly_transfer_completes(self):
        server = self.start_server({"RT_HORIZON_MONTHS": "3"})
        today = datetime.datetime.utcnow().date()
        weekly = self.create_transfer(server, frequency="WEEKLY", interval=2, start_date=today.isoformat())
        dates = [j["scheduled_for"] for j in self.jobs_of(server, weekly["id"])]
        expected, d = [], today
        while d <= add_months(today, 3):
            expected.append(d.isoformat())
            d += datetime.timedelta(days=14)
        self.assertEqual(dates, expected)

        once = self.create_transfer(server, frequency="DAILY", count=1, start_date=today.isoformat())
        jobs = self.jobs_of(server, once["id"])
        self.assertEqual(len(jobs), 1)
        status, body, _ = server.http.post(f"/v1/jobs/{jobs[0]['id']}/process")
        self.assertEqual((status, body["status"]), (200, "FINISHED"))
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{once['id']}")
        self.assertEqual(body["status"], "COMPLETED")


if __name__ == "__main__":
    main()
