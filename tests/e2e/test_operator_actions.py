"""The operator's actions behind the console (issue 18 item 2), end to end on SQLite and
PostgreSQL through the HTTP API: a transfer's next occurrences, skipping one occurrence, and
the named API tokens that say who called (the caller of a transfer's history to come). Every answer is checked against the
OpenAPI document by the harness."""
import calendar
import datetime
import json
import uuid

from harness import TOKEN, E2ECase, for_each_backend, main


def last_day(date):
    return date.replace(day=calendar.monthrange(date.year, date.month)[1])


@for_each_backend
class Occurrences(E2ECase):
    def test_next_occurrences_go_beyond_the_horizon_after_the_business_day_rule(self):
        server = self.start_server()
        transfer = self.create_transfer(server, day_of_month=-1, business_day="FOLLOWING",
                                        execution_time="09:30", timezone="America/New_York",
                                        count=30)
        tid = transfer["id"]
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{tid}/occurrences?count=100")
        self.assertEqual(status, 200, body)
        listed = body["data"]
        # count=30 from this month: 30 occurrences in all, the first perhaps already due.
        self.assertIn(len(listed), (29, 30))
        self.assertEqual(listed[-1]["sequence"], 30)
        jobs = {j["sequence"]: j for j in self.jobs_of(server, tid)}
        self.assertLess(len(jobs), len(listed))  # beyond the horizon: not stored
        for o in listed:
            unadjusted = datetime.date.fromisoformat(o["unadjusted_date"])
            scheduled = datetime.date.fromisoformat(o["scheduled_for"])
            self.assertEqual(unadjusted, last_day(unadjusted))
            self.assertLess(scheduled.weekday(), 5, o)  # Saturday/Sunday move to the Monday
            self.assertLessEqual((scheduled - unadjusted).days, 3 if unadjusted.weekday() >= 5 else 0)
            if o["sequence"] in jobs:  # the stored job agrees with the computation
                job = jobs[o["sequence"]]
                self.assertEqual((job["scheduled_for"], job["due_at"]), (o["scheduled_for"], o["due_at"]))
        self.assertEqual([o["sequence"] for o in listed], list(range(listed[0]["sequence"], 31)))
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{tid}/occurrences")
        self.assertEqual((status, len(body["data"])), (200, 12))  # the default
        self.assertEqual(body["data"], listed[:12])

        status, body, _ = server.http.post(f"/v1/recurring-transfers/{tid}/cancel")
        self.assertEqual(status, 200, body)
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{tid}/occurrences")
        self.assertEqual((status, body), (200, {"data": []}))

    def test_bad_count_and_unknown_transfer(self):
        server = self.start_server()
        tid = self.create_transfer(server)["id"]
        for bad in ("0", "101", "abc", "-1", "1.5", ""):
            status, body, _ = server.http.get(f"/v1/recurring-transfers/{tid}/occurrences?count={bad}")
            self.assertEqual((status, body["error"].get("field")), (400, "count"), (bad, body))
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{tid}/occurrences?limit=5")
        self.assertEqual((status, body["error"].get("field")), (400, "limit"), body)
        status, body, _ = server.http.get(
            "/v1/recurring-transfers/0190a000-0000-7000-8000-000000000000/occurrences")
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"), body)
        status, body, _ = server.http.get("/v1/recurring-transfers/nope/occurrences")
        self.assertEqual((status, body["error"].get("field")), (400, "id"), body)



@for_each_backend
class Skip(E2ECase):
    def test_a_pending_job_is_skipped_once_and_a_claimed_one_never(self):
        server = self.start_server()  # loops off: jobs stay PENDING until processed
        transfer = self.create_transfer(server, frequency="DAILY")
        first, second = self.jobs_of(server, transfer["id"])[:2]
        status, job, _ = server.http.post(f"/v1/jobs/{second['id']}/skip")
        self.assertEqual((status, job["status"], job["result"]), (200, "SKIPPED", None), job)
        self.assertIsNotNone(job["finished_at"])
        status, body, _ = server.http.post(f"/v1/jobs/{second['id']}/skip")
        self.assertEqual((status, body["error"]["code"], body["error"]["field"]),
                         (409, "job_not_pending", "job_id"), body)
        status, job, _ = server.http.post(f"/v1/jobs/{first['id']}/process")
        self.assertEqual((status, job["status"]), (200, "FINISHED"), job)
        status, body, _ = server.http.post(f"/v1/jobs/{first['id']}/skip")
        self.assertEqual((status, body["error"]["code"]), (409, "job_not_pending"), body)
        # The skipped occurrence moved no money, and the transfer goes on.
        keys = [t["idempotency_key"] for t in self.baas.transfers()]
        self.assertEqual(keys, [first["idempotency_key"]])
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{transfer['id']}")
        self.assertEqual(body["status"], "ACTIVE")
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{transfer['id']}/occurrences?count=3")
        self.assertEqual(len(body["data"]), 3)
        status, body, _ = server.http.get(f"/v1/jobs?status=SKIPPED&recurring_transfer_id={transfer['id']}")
        self.assertEqual([j["id"] for j in body["data"]], [second["id"]])

    def test_a_skipped_occurrence_counts_and_the_last_one_completes_the_transfer(self):
        server = self.start_server()
        transfer = self.create_transfer(server, frequency="DAILY", count=2)
        first, second = self.jobs_of(server, transfer["id"])
        status, job, _ = server.http.post(f"/v1/jobs/{first['id']}/skip")
        self.assertEqual(status, 200, job)
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{transfer['id']}/occurrences")
        self.assertEqual([o["sequence"] for o in body["data"]], [2])  # count=2: no third
        status, job, _ = server.http.post(f"/v1/jobs/{second['id']}/skip")
        self.assertEqual(status, 200, job)
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{transfer['id']}")
        self.assertEqual(body["status"], "COMPLETED")
        self.assertEqual(len(self.jobs_of(server, transfer["id"])), 2)
        self.assertEqual(self.baas.transfers(), [])

    def test_bad_and_unknown_ids(self):
        server = self.start_server()
        status, body, _ = server.http.post("/v1/jobs/nope/skip")
        self.assertEqual((status, body["error"].get("field")), (400, "job_id"), body)
        status, body, _ = server.http.post("/v1/jobs/0190a000-0000-7000-8000-000000000000/skip")
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"), body)
        status, body, _ = server.http.post("/v1/jobs/0190a000-0000-7000-8000-000000000000/skip?x=1")
        self.assertEqual((status, body["error"].get("field")), (400, "x"), body)


class NamedTokens(E2ECase):
    backend = "sqlite"  # the tokens are the HTTP layer's: one backend is enough

    def test_each_named_token_is_accepted_and_logged_by_its_name_never_its_value(self):
        ops, console = "ops-" + uuid.uuid4().hex, "console-" + uuid.uuid4().hex
        server = self.start_server({"RT_API_TOKENS": f"ops:{ops},console:{console}"})
        for token in (ops, console, TOKEN):
            status, body, _ = server.http.get("/v1/jobs", token=token)
            self.assertEqual(status, 200, body)
        status, body, _ = server.http.get("/v1/jobs", token=ops + "x")
        self.assertEqual((status, body["error"]["code"]), (401, "unauthorized"), body)
        server.stop()
        output = server.output()
        self.assertNotIn(ops, output)
        self.assertNotIn(console, output)
        lines = [json.loads(l) for l in output.splitlines() if l.startswith("{")]
        callers = [l.get("caller") for l in lines
                   if l.get("msg") == "http request" and l.get("path") == "/v1/jobs"]
        self.assertEqual(callers, ["ops", "console", "default", ""])

if __name__ == "__main__":
    main()
