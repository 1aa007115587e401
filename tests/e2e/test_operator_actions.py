"""The operator's actions behind the console (issue 18 item 2), end to end on SQLite and
PostgreSQL through the HTTP API: a transfer's next occurrences, skipping one occurrence, and
(later suites) amending a transfer and its history. Every answer is checked against the
OpenAPI document by the harness."""
import calendar
import datetime

from harness import E2ECase, for_each_backend, main


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


if __name__ == "__main__":
    main()
