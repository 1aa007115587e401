"""The operator's actions behind the console (issue 18 item 2), end to end on SQLite and
PostgreSQL through the HTTP API: a transfer's next occurrences, skipping one occurrence,
changing the terms of future attempts with If-Match, the transfer's history, and the named API
tokens that say who called. Every answer is checked against the OpenAPI document by the
harness."""
import calendar
import datetime
import json
import time
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


@for_each_backend
class ChangeTerms(E2ECase):
    def patch(self, server, tid, body, if_match=None, token=...):
        headers = {} if if_match is None else {"If-Match": if_match}
        return server.http.request("PATCH", f"/v1/recurring-transfers/{tid}", body,
                                   headers=headers, token=token)

    def test_a_change_needs_the_version_read_and_reaches_only_later_attempts(self):
        server = self.start_server()  # loops off: jobs run when processed
        transfer = self.create_transfer(server, source="flaky1_acc", frequency="DAILY")
        tid = transfer["id"]
        status, body, headers = server.http.get(f"/v1/recurring-transfers/{tid}")
        self.assertEqual((status, body["version"], headers.get("ETag")), (200, 1, '"1"'))
        first, second = self.jobs_of(server, tid)[:2]
        # The first attempt reaches the bank (503: RETRY) before the change.
        status, job, _ = server.http.post(f"/v1/jobs/{first['id']}/process")
        self.assertEqual((status, job["status"]), (200, "RETRY"), job)

        status, body, _ = self.patch(server, tid, {"amount": 7777})
        self.assertEqual((status, body["error"]["field"]), (428, "If-Match"), body)
        status, body, _ = self.patch(server, tid, {"amount": 7777}, '"2"')
        self.assertEqual((status, body["error"]["code"], body["error"]["field"]),
                         (412, "version_mismatch", "If-Match"), body)
        for bad, field in (({"amount": 0}, "amount"), ({"amount": "1"}, "amount"),
                           ({"schedule": {"frequency": "DAILY"}}, "schedule.frequency"),
                           ({"schedule": {"count": 0}}, "schedule.count"),
                           ({"schedule": {"end_date": "2026-13-01"}}, "schedule.end_date"),
                           ({"schedule": {"end_date": "2000-01-01"}}, "schedule.end_date"),
                           ({"schedule": None}, "schedule"), ({"schedule": 5}, "schedule"),
                           ({"source_account": "x"}, "source_account"),
                           ({"description": 5}, "description")):
            status, body, _ = self.patch(server, tid, bad, '"1"')
            self.assertEqual((status, body["error"].get("field")), (400, field), (bad, body))
        status, body, _ = self.patch(server, tid, {"amount": 7777}, "W/1")
        self.assertEqual((status, body["error"].get("field")), (400, "If-Match"), body)
        status, body, headers = self.patch(server, tid, {"amount": 7777, "description": "rent+"}, '"1"')
        self.assertEqual((status, body["amount"], body["description"], body["version"]),
                         (200, 7777, "rent+", 2), body)
        self.assertEqual(headers.get("ETag"), '"2"')
        status, body, _ = self.patch(server, tid, {"amount": 8888}, '"1"')  # the same version again
        self.assertEqual(status, 412, body)

        # The retry of the attempt made before the change sends what that attempt sent (the
        # occurrences first claimed after it send the new terms: tomorrow's here, which the
        # store conformance suite covers, AClaimPinsTheTermsAndEveryRetrySendsThem).
        status, job, _ = server.http.post(f"/v1/jobs/{first['id']}/process")
        self.assertEqual((status, job["status"], job["result"]), (200, "FINISHED", "SUCCEEDED"), job)
        # flaky1: the first attempt was answered 503 unexecuted, so the bank executed what the
        # retry sent.
        self.assertEqual([a["status"] for a in self.baas.attempts()], [503, 201])
        executed = {t["idempotency_key"]: t["amount"] for t in self.baas.transfers()}
        self.assertEqual(executed, {first["idempotency_key"]: 5000})
        status, body, _ = server.http.get(f"/v1/jobs/{second['id']}")
        self.assertEqual(body["status"], "PENDING")

        status, body, _ = server.http.post(f"/v1/recurring-transfers/{tid}/cancel")
        self.assertEqual((status, body["version"]), (200, 3), body)
        status, body, _ = self.patch(server, tid, {"amount": 1}, '"3"')
        self.assertEqual((status, body["error"]["code"]), (409, "transfer_final"), body)
        status, body, _ = self.patch(server, "0190a000-0000-7000-8000-000000000000", {"amount": 1}, '"1"')
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"), body)

    def test_a_new_schedule_end_replans_the_occurrences_not_yet_acted_on(self):
        server = self.start_server()  # loops off: jobs run when processed
        tid = self.create_transfer(server, frequency="DAILY")["id"]
        jobs = self.jobs_of(server, tid)
        self.assertGreater(len(jobs), 30)  # the horizon's worth
        status, job, _ = server.http.post(f"/v1/jobs/{jobs[0]['id']}/process")
        self.assertEqual((status, job["status"]), (200, "FINISHED"), job)

        status, body, headers = self.patch(server, tid, {"schedule": {"count": 3}}, '"1"')
        self.assertEqual((status, body["schedule"]["count"], body["version"]), (200, 3, 2), body)
        self.assertEqual(headers.get("ETag"), '"2"')
        self.assertEqual([j["sequence"] for j in self.jobs_of(server, tid)], [1, 2, 3])
        status, listed, _ = server.http.get(f"/v1/recurring-transfers/{tid}/occurrences?count=100")
        self.assertEqual([o["sequence"] for o in listed["data"]], [2, 3])

        # An occurrence acted on (skipped) past the new end refuses it, and nothing changes.
        self.assertEqual(server.http.post(f"/v1/jobs/{jobs[2]['id']}/skip")[0], 200)
        status, body, _ = self.patch(server, tid, {"schedule": {"count": 2}}, '"2"')
        self.assertEqual((status, body["error"]["code"], body["error"]["field"]),
                         (409, "occurrence_past_end", "schedule.count"), body)
        self.assertEqual([j["sequence"] for j in self.jobs_of(server, tid)], [1, 2, 3])

        # A later end brings the occurrences back up to it; the same ids for those kept.
        status, body, _ = self.patch(server, tid, {"schedule": {"count": 5}}, '"2"')
        self.assertEqual((status, body["version"]), (200, 3), body)
        now = self.jobs_of(server, tid)
        self.assertEqual([j["sequence"] for j in now], [1, 2, 3, 4, 5])
        self.assertEqual([j["id"] for j in now[:3]], [j["id"] for j in jobs[:3]])
        self.assertEqual([(j["sequence"], j["due_at"]) for j in now],
                         [(j["sequence"], j["due_at"]) for j in jobs[:5]])
        last = jobs[4]["scheduled_for"]
        status, body, _ = self.patch(server, tid, {"schedule": {"count": None, "end_date": last}}, '"3"')
        self.assertEqual((status, body["schedule"].get("count"), body["schedule"]["end_date"]),
                         (200, None, last), body)
        self.assertEqual(len(self.jobs_of(server, tid)), 5)
        status, body, _ = self.patch(server, tid, {"schedule": {"end_date": None}}, '"4"')
        self.assertEqual((status, body["schedule"].get("end_date")), (200, None), body)
        self.assertEqual([j["id"] for j in self.jobs_of(server, tid)][:3], [j["id"] for j in jobs[:3]])
        self.assertEqual(len(self.jobs_of(server, tid)), len(jobs))

        status, page, _ = server.http.get(f"/v1/recurring-transfers/{tid}/history")
        updates = [c["changes"] for c in page["data"] if c["action"] == "updated"]
        self.assertEqual(updates[-1], {"schedule.count": {"before": None, "after": 3},
                                       "version": {"before": 1, "after": 2}})
        self.assertEqual(updates[0], {"schedule.end_date": {"before": last, "after": None},
                                      "version": {"before": 4, "after": 5}})

    def test_an_end_reached_with_every_job_final_completes_the_transfer(self):
        server = self.start_server()
        tid = self.create_transfer(server, frequency="DAILY")["id"]
        first = self.jobs_of(server, tid)[0]
        status, job, _ = server.http.post(f"/v1/jobs/{first['id']}/process")
        self.assertEqual((status, job["status"]), (200, "FINISHED"), job)
        status, body, _ = self.patch(server, tid, {"schedule": {"end_date": first["scheduled_for"]}}, '"1"')
        self.assertEqual((status, body["status"]), (200, "COMPLETED"), body)
        self.assertEqual([j["sequence"] for j in self.jobs_of(server, tid)], [1])
        status, events, _ = server.http.get("/v1/events")
        self.assertIn("transfer.completed", [e["type"] for e in events["data"]])

    def test_the_history_names_each_caller_and_what_changed(self):
        ops, console = "ops-" + uuid.uuid4().hex, "console-" + uuid.uuid4().hex
        server = self.start_server({"RT_API_TOKENS": f"ops:{ops},console:{console}"})
        status, transfer, _ = server.http.post("/v1/recurring-transfers", {
            "provider": "bank", "source_account": "acc_src", "destination_account": "acc_dst",
            "amount": 5000, "currency": "USD", "description": "rent",
            "schedule": {"frequency": "DAILY", "start_date": time.strftime("%Y-%m-%d", time.gmtime())}},
            token=ops)
        self.assertEqual(status, 201, transfer)
        tid = transfer["id"]
        jobs = self.jobs_of(server, tid)
        status, body, _ = self.patch(server, tid, {"amount": 6000}, '"1"', token=console)
        self.assertEqual(status, 200, body)
        self.assertEqual(server.http.post(f"/v1/recurring-transfers/{tid}/pause", token=console)[0], 200)
        self.assertEqual(server.http.post(f"/v1/recurring-transfers/{tid}/resume")[0], 200)
        self.assertEqual(server.http.post(f"/v1/jobs/{jobs[1]['id']}/skip", token=ops)[0], 200)
        status, page, _ = server.http.get(f"/v1/recurring-transfers/{tid}/history")
        self.assertEqual(status, 200, page)
        self.assertEqual([(c["action"], c["actor"]) for c in page["data"]],
                         [("job_skipped", "ops"), ("resumed", "default"), ("paused", "console"),
                          ("updated", "console"), ("created", "ops")])
        self.assertEqual(page["data"][0]["job_id"], jobs[1]["id"])
        self.assertEqual(page["data"][3]["changes"],
                         {"amount": {"before": 5000, "after": 6000},
                          "version": {"before": 1, "after": 2}})
        status, first, _ = server.http.get(f"/v1/recurring-transfers/{tid}/history?limit=2")
        self.assertEqual(len(first["data"]), 2)
        status, rest, _ = server.http.get(
            f"/v1/recurring-transfers/{tid}/history?limit=10&cursor={first['next_cursor']}")
        self.assertEqual(first["data"] + rest["data"], page["data"])
        status, body, _ = server.http.get("/v1/recurring-transfers/0190a000-0000-7000-8000-000000000000/history")
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"), body)
        status, body, _ = server.http.get(f"/v1/recurring-transfers/{tid}/history?limit=0")
        self.assertEqual((status, body["error"].get("field")), (400, "limit"), body)


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
