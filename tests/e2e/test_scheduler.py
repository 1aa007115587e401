"""The built-in loops of `rtjobs serve` (SPEC sections 2-4): scheduler, retries, rescuer and
transfer lifecycle, end to end on SQLite and PostgreSQL, with no call to the process endpoint."""
import datetime
import time

from harness import E2ECase, for_each_backend, main

LOOPS_ON = {"RT_SCHEDULER_ENABLED": "true", "RT_RETRIES_ENABLED": "true", "RT_RETRY_BACKOFF": "0"}


@for_each_backend
class Scheduler(E2ECase):
    def wait_for(self, server, job_id, statuses, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, job, _ = server.http.get(f"/v1/jobs/{job_id}")
            self.assertEqual(status, 200, job)
            if job["status"] in statuses:
                return job
            time.sleep(0.1)
        self.fail(f"job {job_id} still {job['status']}, expected {statuses}")

    def test_a_transfer_due_now_finishes_without_a_process_call(self):
        server = self.start_server(LOOPS_ON)
        transfer = self.create_transfer(server)
        job = self.wait_for(server, self.first_job(server, transfer["id"])["id"], {"FINISHED"})
        self.assertEqual(job["result"], "SUCCEEDED")
        self.assertEqual(len([t for t in self.baas.transfers() if t["idempotency_key"] == job["idempotency_key"]]), 1)

    def test_a_flaky_bank_finishes_after_retries_and_a_down_bank_fails(self):
        # One after the other: five failures in a row, whichever jobs they come from, would pause
        # the provider (SPEC section 8), and a failure while paused uses no retry.
        server = self.start_server(LOOPS_ON)
        flaky = self.create_transfer(server, source="flaky2_acc")
        job = self.wait_for(server, self.first_job(server, flaky["id"])["id"], {"FINISHED"})
        self.assertEqual((job["result"], job["retries"]), ("SUCCEEDED", 2))
        down = self.create_transfer(server, source="down_acc")
        job = self.wait_for(server, self.first_job(server, down["id"])["id"], {"FAILED"})
        self.assertEqual(job["retries"], 3)
        status, rows, _ = server.http.get(f"/v1/jobs/{job['id']}/provider-statuses")
        self.assertEqual(len(rows["data"]), 4)

    def test_pausing_skips_due_jobs_and_resuming_runs_the_next(self):
        server = self.start_server()  # loops off: the job stays PENDING while we pause
        transfer = self.create_transfer(server, frequency="DAILY")
        status, body, _ = server.http.post(f"/v1/recurring-transfers/{transfer['id']}/pause")
        self.assertEqual((status, body["status"]), (200, "PAUSED"))
        status, body, _ = server.http.post(f"/v1/recurring-transfers/{transfer['id']}/pause")
        self.assertEqual(status, 409, body)
        server.stop()
        self.servers.remove(server)
        server = self.start_server(LOOPS_ON)
        jobs = self.jobs_of(server, transfer["id"])
        job = self.wait_for(server, jobs[0]["id"], {"SKIPPED"})
        self.assertIsNone(job["result"])
        self.assertEqual(self.baas.transfers(), [])
        self.assertEqual(jobs[1]["status"], "PENDING")  # tomorrow's is not due yet
        status, body, _ = server.http.post(f"/v1/recurring-transfers/{transfer['id']}/resume")
        self.assertEqual((status, body["status"]), (200, "ACTIVE"))

    def test_cancelling_cancels_the_pending_jobs(self):
        server = self.start_server()
        tomorrow = (datetime.datetime.utcnow().date() + datetime.timedelta(days=1)).isoformat()
        transfer = self.create_transfer(server, frequency="WEEKLY", start_date=tomorrow)
        status, body, _ = server.http.post(f"/v1/recurring-transfers/{transfer['id']}/cancel")
        self.assertEqual((status, body["status"]), (200, "CANCELLED"))
        jobs = self.jobs_of(server, transfer["id"])
        self.assertTrue(jobs)
        self.assertEqual({j["status"] for j in jobs}, {"CANCELLED"})
        status, body, _ = server.http.post(f"/v1/recurring-transfers/{transfer['id']}/resume")
        self.assertEqual(status, 409, body)

    def test_rescuer_finishes_a_job_whose_server_died_during_the_bank_call(self):
        server = self.start_server(LOOPS_ON, timeout_ms=1000)  # lease 2 s
        transfer = self.create_transfer(server, source="slow700_acc")
        job_id = self.first_job(server, transfer["id"])["id"]
        self.wait_for(server, job_id, {"PROCESSING"})
        server.kill()
        restarted = self.start_server(LOOPS_ON, timeout_ms=1000)
        job = self.wait_for(restarted, job_id, {"FINISHED"}, timeout=30)
        self.assertEqual((job["result"], job["retries"]), ("SUCCEEDED", 1))
        self.assertEqual(len([t for t in self.baas.transfers() if t["idempotency_key"] == job["idempotency_key"]]), 1)

    def test_with_one_call_slot_jobs_are_claimed_one_at_a_time(self):
        # Loops off while the four jobs are created, so all four are due at once. With
        # RT_CONCURRENCY=1 the loop claims only what it can call at once (issue 14): one job,
        # then the next when the bank answers. Each call takes 0.7 s and a lease is 2 s: had the
        # four been claimed together, the last would wait 2.1 s under its lease and the rescuer
        # would take it back, so the bank would be called twice for it.
        server = self.start_server()
        transfers = [self.create_transfer(server, source=f"slow700_acc{i}") for i in range(4)]
        server.stop()
        self.servers.remove(server)
        server = self.start_server(dict(LOOPS_ON, RT_CONCURRENCY="1"), timeout_ms=1000)
        jobs = [self.wait_for(server, self.first_job(server, t["id"])["id"], {"FINISHED"}, timeout=60)
                for t in transfers]
        self.assertEqual({(j["result"], j["retries"]) for j in jobs}, {("SUCCEEDED", 0)})
        keys = sorted(a["idempotency_key"] for a in self.baas.attempts())
        self.assertEqual(keys, sorted(j["idempotency_key"] for j in jobs))
        status, stats, _ = self.baas.http.get("/_control/stats")
        self.assertEqual(stats["peak_in_flight"], 1, stats)

    def test_sigterm_finishes_the_job_in_flight(self):
        server = self.start_server(LOOPS_ON, timeout_ms=5000)
        transfer = self.create_transfer(server, source="slow1000_acc")
        job_id = self.first_job(server, transfer["id"])["id"]
        self.wait_for(server, job_id, {"PROCESSING"})
        self.assertEqual(server.stop(), 0)
        self.servers.remove(server)
        after = self.start_server()
        status, job, _ = after.http.get(f"/v1/jobs/{job_id}")
        self.assertEqual((job["status"], job["result"]), ("FINISHED", "SUCCEEDED"))


class TwoInstances(E2ECase):
    backend = "postgresql"

    def test_two_servers_execute_each_of_1000_due_jobs_exactly_once(self):
        seeder = self.start_server()
        jobs = []
        for i in range(1000):
            transfer = self.create_transfer(seeder, source=f"acc_{i}", count=1, frequency="DAILY")
            jobs.append(self.first_job(seeder, transfer["id"]))
        seeder.stop()
        self.servers.remove(seeder)
        a = self.start_server(dict(LOOPS_ON, RT_CONCURRENCY="32"))
        b = self.start_server(dict(LOOPS_ON, RT_CONCURRENCY="32"))
        deadline = time.time() + 120
        while time.time() < deadline:
            status, page, _ = a.http.get("/v1/jobs?status=FINISHED&limit=500")
            done = len(page["data"])
            if page["next_cursor"]:
                status, page2, _ = a.http.get("/v1/jobs?status=FINISHED&limit=500&cursor=" + page["next_cursor"])
                done += len(page2["data"])
            if done == 1000:
                break
            time.sleep(0.5)
        self.assertEqual(done, 1000)
        executed = self.baas.transfers()
        self.assertEqual(len(executed), 1000)
        self.assertEqual({t["idempotency_key"] for t in executed}, {j["idempotency_key"] for j in jobs})
        self.assertEqual(len(self.baas.attempts()), 1000)


if __name__ == "__main__":
    main()
