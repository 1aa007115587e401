"""Flow control toward a bank (SPEC section 8, issue 14), end to end on SQLite and PostgreSQL:
`rtjobs serve` with its loops on against the fake bank (tools/fake_baas) playing a rate-limited
bank (`--max-rps`, set through its control API) and a bank in an outage. What must hold: no job
FAILED, no retry used by 429s or by the outage, every idempotency key executed once, and the
bank never sees more than its limit when rtjobs knows it (one instance, or two sharing it)."""
import time

from harness import E2ECase, for_each_backend, main

LOOPS_ON = {"RT_SCHEDULER_ENABLED": "true", "RT_RETRIES_ENABLED": "true", "RT_RETRY_BACKOFF": "0",
            "RT_MAX_RETRIES": "1"}


class FlowCase(E2ECase):
    baas_latency_ms = 20

    def control(self, path, body):
        status, answer, _ = self.baas.http.post("/_control/" + path, body)
        self.assertEqual(status, 200, answer)

    def stats(self):
        status, stats, _ = self.baas.http.get("/_control/stats")
        self.assertEqual(status, 200, stats)
        return stats

    def seed(self, count):
        """`count` transfers with one occurrence due now, created with the loops off."""
        seeder = self.start_server()
        for i in range(count):
            self.create_transfer(seeder, source=f"acc_{i}", count=1, frequency="DAILY")
        seeder.stop()
        self.servers.remove(seeder)

    def wait_all_finished(self, server, count, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            jobs = self.all_pages(server, "/v1/jobs?limit=500")
            if len(jobs) == count and all(j["status"] in ("FINISHED", "FAILED") for j in jobs):
                return jobs
            time.sleep(0.2)
        states = sorted({j["status"] for j in jobs})
        self.fail(f"{len(jobs)} jobs, states {states}, not all finished after {timeout} s")

    def assert_each_executed_once_without_retries(self, jobs):
        self.assertEqual({(j["status"], j["result"], j["retries"]) for j in jobs},
                         {("FINISHED", "SUCCEEDED", 0)})
        keys = sorted(t["idempotency_key"] for t in self.baas.transfers())
        self.assertEqual(keys, sorted(j["idempotency_key"] for j in jobs))

    def wait_paused(self, server, timeout=30):
        """/readyz once it names a paused provider (still 200: the process is ready)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, ready, _ = server.http.get("/readyz", token=None)
            self.assertEqual(status, 200, ready)
            if ready.get("paused_providers"):
                return ready
            time.sleep(0.1)
        self.fail(f"no provider paused after {timeout} s: {ready}")

    def metric(self, server, name):
        status, text, _ = server.http.get("/metrics")
        self.assertEqual(status, 200)
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        self.fail(f"{name} not in /metrics")


@for_each_backend
class FlowControl(FlowCase):
    def test_a_bank_limit_learnt_from_429s_uses_no_retry(self):
        # max_rps not set: rtjobs discovers the bank's 25 a second from its 429s.
        self.control("rate-limit", {"max_rps": 25})
        self.seed(150)
        server = self.start_server(dict(LOOPS_ON, RT_CONCURRENCY="32"))
        jobs = self.wait_all_finished(server, 150)
        self.assert_each_executed_once_without_retries(jobs)
        stats = self.stats()
        self.assertGreater(stats["rate_limited"], 0, stats)
        self.assertEqual(self.metric(server, 'rtjobs_provider_rate_limited_total{provider="bank"}'),
                         stats["rate_limited"])
        self.assertGreater(self.metric(server, 'rtjobs_provider_deferrals_total{provider="bank"}'), 0)
        self.assertLess(self.metric(server, 'rtjobs_provider_rate_limit{provider="bank"}'), 30)

    def test_a_known_limit_is_never_exceeded(self):
        self.control("rate-limit", {"max_rps": 25})
        self.seed(100)
        started = time.time()
        server = self.start_server(dict(LOOPS_ON, RT_CONCURRENCY="32"),
                                   extra_config="max_rps = 25\n")
        jobs = self.wait_all_finished(server, 100)
        elapsed = time.time() - started
        self.assert_each_executed_once_without_retries(jobs)
        stats = self.stats()
        self.assertEqual(stats["rate_limited"], 0, stats)
        self.assertLessEqual(stats["accepted_max_per_second"], 25, stats)
        # 100 calls at 95% of 25 a second after a burst of one, plus a second to join: about 5 s.
        self.assertGreater(elapsed, 3.5)

    def test_an_outage_pauses_the_provider_and_uses_no_retry(self):
        self.control("outage", {"down": True, "mode": "503"})
        self.seed(40)
        server = self.start_server(dict(LOOPS_ON, RT_CONCURRENCY="8"))
        ready = self.wait_paused(server)
        self.assertEqual(ready["paused_providers"][0]["provider"], "bank")
        self.assertIn("503", ready["paused_providers"][0]["reason"])
        self.assertEqual(self.metric(server, 'rtjobs_provider_state{provider="bank",state="active"}'), 0)
        # While paused, the bank sees one probe at a time, a second or more apart.
        before = self.stats()["outage_rejected"]
        time.sleep(3)
        probes = self.stats()["outage_rejected"] - before
        self.assertLessEqual(probes, 3)
        jobs = self.all_pages(server, "/v1/jobs?limit=500")
        self.assertNotIn("FAILED", {j["status"] for j in jobs})
        # At most the calls answered before the circuit opened used a retry (RT_CONCURRENCY 8,
        # 5 failures in a row open it): none failed, the rest kept theirs.
        used = [j for j in jobs if j["retries"] > 0]
        self.assertLessEqual(len(used), 4, used)

        self.control("outage", {"down": False})
        jobs = self.wait_all_finished(server, 40, timeout=60)
        self.assertEqual({(j["status"], j["result"]) for j in jobs}, {("FINISHED", "SUCCEEDED")})
        keys = sorted(t["idempotency_key"] for t in self.baas.transfers())
        self.assertEqual(keys, sorted(j["idempotency_key"] for j in jobs))
        status, ready, _ = server.http.get("/readyz", token=None)
        self.assertEqual(ready["paused_providers"], [])
        self.assertEqual(server.output().count('"msg":"provider paused"'), 1)
        self.assertEqual(server.output().count('"msg":"provider resumed"'), 1)

    def test_a_wrong_api_key_pauses_the_provider(self):
        self.seed(20)
        server = self.start_server(dict(LOOPS_ON, RT_CONCURRENCY="4", BAAS_TOKEN="wrong"))
        ready = self.wait_paused(server)
        self.assertIn("401", ready["paused_providers"][0]["reason"])
        time.sleep(2)
        jobs = self.all_pages(server, "/v1/jobs?limit=500")
        self.assertNotIn("FAILED", {j["status"] for j in jobs})
        self.assertLessEqual(len([j for j in jobs if j["retries"] > 0]), 4)
        self.assertEqual(self.baas.transfers(), [])


class SharedLimit(FlowCase):
    backend = "postgresql"

    def test_two_instances_share_one_limit(self):
        self.control("rate-limit", {"max_rps": 30})
        self.seed(200)
        config = "max_rps = 30\n"
        a = self.start_server(dict(LOOPS_ON, RT_CONCURRENCY="16"), extra_config=config)
        b = self.start_server(dict(LOOPS_ON, RT_CONCURRENCY="16"), extra_config=config)
        jobs = self.wait_all_finished(a, 200)
        self.assert_each_executed_once_without_retries(jobs)
        stats = self.stats()
        self.assertEqual(stats["rate_limited"], 0, stats)
        self.assertLessEqual(stats["accepted_max_per_second"], 33, stats)  # 30 x 1.1
        # Both took part, each at its half.
        for server in (a, b):
            self.assertEqual(self.metric(server, 'rtjobs_provider_rate_limit{provider="bank"}'), 15)
            self.assertIn('"msg":"job processed"', server.output())


if __name__ == "__main__":
    main()
