"""Events to the main API (SPEC section 8, issue 16) end to end: real `rtjobs serve` processes, the
fake BaaS, and a client's webhook receiver (tools/webhook_receiver) that verifies every delivery
with `standardwebhooks`, the Standard Webhooks reference library, with the secrets rtjobs gave.

The scheduler and retries loops are off: jobs are sent by POST /v1/jobs/{id}/process, so each
test decides when a state changes. Retries of deliveries are quick (RT_WEBHOOK_BACKOFF_MS=100,
at most 1 s apart). Every wait polls with a deadline.
"""
import json
import os
import sqlite3
import subprocess
import time

from harness import (TOKEN, E2ECase, Http, Server, for_each_backend, http_provider_config, main,
                     read_json_line)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RECEIVER = os.path.join(ROOT, "tools", "webhook_receiver", "server.js")
WAIT = 60  # seconds: the deadline of every wait

FAST_RETRIES = {"RT_WEBHOOK_ALLOW_PRIVATE": "true", "RT_WEBHOOK_BACKOFF_MS": "100",
                "RT_WEBHOOK_BACKOFF_MAX_SECONDS": "1"}


class Receiver:
    """The webhook receiver process: one name per registered endpoint (/hooks/{name})."""

    def __init__(self):
        self.proc = subprocess.Popen(["node", RECEIVER, "--port", "0", "--host", "127.0.0.1"],
                                     stdout=subprocess.PIPE, text=True)
        self.port = read_json_line(self.proc, "listening")["listening"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = Http(self.url)

    def hook(self, name):
        return f"{self.url}/hooks/{name}"

    def secrets(self, name, *secrets):
        status, body, _ = self.http.post(f"/_control/secrets/{name}", {"secrets": list(secrets)})
        assert status == 200, body

    def mode(self, name, status=200, delay_ms=0):
        status_code, body, _ = self.http.post(f"/_control/mode/{name}",
                                              {"status": status, "delay_ms": delay_ms})
        assert status_code == 200, body

    def received(self, name):
        status, body, _ = self.http.get(f"/_control/received/{name}")
        assert status == 200, body
        return body

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class EventsCase(E2ECase):
    env = FAST_RETRIES

    def setUp(self):
        super().setUp()
        self.receiver = Receiver()

    def tearDown(self):
        super().tearDown()
        self.receiver.stop()

    def start(self, env=None):
        merged = dict(self.env)
        merged.update(env or {})
        return self.start_server(merged)

    def register(self, server, name, **fields):
        body = {"url": self.receiver.hook(name)}
        body.update(fields)
        status, endpoint, _ = server.http.post("/v1/webhook-endpoints", body)
        self.assertEqual(status, 201, endpoint)
        self.assertTrue(endpoint["secret"].startswith("whsec_"), endpoint)
        self.receiver.secrets(name, endpoint["secret"])
        return endpoint

    def events(self, server):
        return self.all_pages(server, "/v1/events?limit=500")

    def wait_for(self, what, check, timeout=WAIT):
        deadline = time.time() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.time() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.05)

    def delivered(self, name):
        """The receiver's verified, 2xx-answered deliveries of `name`, in arrival order."""
        return [r for r in self.receiver.received(name) if r["verified"] and r["answered"] < 300]

    def wait_delivered(self, server, name, event_ids, timeout=WAIT):
        """Waits until every event of `event_ids` came to `name` verified and answered 2xx."""
        want = set(event_ids)
        self.wait_for(f"{len(want)} events at {name}",
                      lambda: want <= {r["webhook_id"] for r in self.delivered(name)}, timeout)
        return self.delivered(name)

    def process(self, server, job_id):
        status, body, _ = server.http.post(f"/v1/jobs/{job_id}/process")
        self.assertEqual(status, 200, body)
        return body

    def assert_in_order_per_transfer(self, events, deliveries):
        """Per transfer, the first 2xx arrival of each event follows the events' order."""
        order = {e["id"]: i for i, e in enumerate(events)}
        transfer_of = {e["id"]: self.transfer_of(e) for e in events}
        seen, last = set(), {}
        for r in deliveries:
            if r["webhook_id"] in seen:
                continue
            seen.add(r["webhook_id"])
            t = transfer_of[r["webhook_id"]]
            if t is None:
                continue
            self.assertGreater(order[r["webhook_id"]], last.get(t, -1),
                               f"event {r['webhook_id']} ({r['type']}) came out of order")
            last[t] = order[r["webhook_id"]]

    @staticmethod
    def transfer_of(event):
        data = event["data"]
        if event["type"].startswith("job."):
            return data["recurring_transfer_id"]
        if event["type"].startswith("transfer."):
            return data["id"]
        return None


class Delivery(EventsCase):
    def test_every_state_change_arrives_verified_with_its_object(self):
        server = self.start()
        endpoint = self.register(server, "all", description="the main API")
        transfer = self.create_transfer(server)
        job = self.first_job(server, transfer["id"])
        self.process(server, job["id"])
        for action in ("pause", "resume", "cancel"):
            status, body, _ = server.http.post(f"/v1/recurring-transfers/{transfer['id']}/{action}")
            self.assertEqual(status, 200, body)
        events = self.events(server)
        types = [e["type"] for e in events]
        self.assertEqual(types[:5], ["transfer.created", "job.succeeded", "transfer.paused",
                                     "transfer.resumed", "transfer.cancelled"], types)
        # The cancel cascades to the jobs of the next occurrences that were still pending.
        self.assertTrue(types[5:] and set(types[5:]) == {"job.cancelled"}, types)

        got = self.wait_delivered(server, "all", [e["id"] for e in events])
        by_id = {r["webhook_id"]: r for r in got}
        for e in events:
            r = by_id[e["id"]]
            self.assertEqual(r["type"], e["type"])
            self.assertEqual(r["data"], e["data"])
            self.assertEqual(r["signatures"], 1)
        succeeded = by_id[events[1]["id"]]["data"]
        self.assertEqual(succeeded["id"], job["id"])
        self.assertEqual(succeeded["status"], "FINISHED")
        self.assertEqual(succeeded["result"], "SUCCEEDED")
        self.assertEqual(by_id[events[2]["id"]]["data"]["status"], "PAUSED")
        self.assertEqual(by_id[events[4]["id"]]["data"]["status"], "CANCELLED")
        self.assert_in_order_per_transfer(events, got)

        # Each event went out once (the receiver said 2xx at once); the deliveries say so.
        self.assertEqual(len(got), len(events))
        deliveries = self.all_pages(server, f"/v1/webhook-deliveries?endpoint_id={endpoint['id']}")
        self.assertEqual({d["event_id"] for d in deliveries}, {e["id"] for e in events})
        self.assertTrue(all(d["status"] == "delivered" and d["attempts"] == 1 for d in deliveries))
        # The secret is shown once: never listed, never read back.
        status, listed, _ = server.http.get("/v1/webhook-endpoints")
        self.assertEqual(status, 200, listed)
        self.assertNotIn("secret", listed["data"][0])
        self.assertNotIn(endpoint["secret"], json.dumps(listed))
        self.assertNotIn(endpoint["secret"], server.output())
        status, metrics, _ = server.http.get("/metrics")
        self.assertIn(f'rtjobs_webhook_deliveries_total{{endpoint="{endpoint["id"]}",'
                      f'result="delivered"}} {len(events)}', metrics)

    def test_event_types_filter(self):
        server = self.start()
        self.register(server, "paused", event_types=["transfer.paused"])
        transfer = self.create_transfer(server)
        server.http.post(f"/v1/recurring-transfers/{transfer['id']}/pause")
        paused = [e for e in self.events(server) if e["type"] == "transfer.paused"]
        self.assertEqual(len(paused), 1)
        self.wait_delivered(server, "paused", [paused[0]["id"]])
        # Only that type: the transfer.created before it never comes (checked after the paused
        # one arrived: events of one transfer are delivered in order).
        self.assertEqual([r["type"] for r in self.delivered("paused")], ["transfer.paused"])

    def test_bad_input_names_the_field(self):
        server = self.start({"RT_WEBHOOK_ALLOW_PRIVATE": "false"})
        cases = [
            ({"url": "ftp://example.com/hook"}, "url"),
            ({"url": "not a url"}, "url"),
            ({"url": self.receiver.hook("x")}, "url"),  # loopback, not allowed here
            ({"url": "http://10.1.2.3/hook"}, "url"),
            ({"url": "http://169.254.169.254/latest"}, "url"),
            ({}, "url"),
            ({"url": "https://93.184.215.14/h", "event_types": ["job.exploded"]}, "event_types"),
            ({"url": "https://93.184.215.14/h", "event_types": []}, "event_types"),
            ({"url": "https://93.184.215.14/h", "description": 7}, "description"),
            ({"url": "https://93.184.215.14/h", "colour": "red"}, "colour"),
        ]
        for body, field in cases:
            status, answer, _ = server.http.post("/v1/webhook-endpoints", body)
            self.assertEqual(status, 400, (body, answer))
            self.assertEqual(answer["error"]["field"], field, (body, answer))
        status, page, _ = server.http.get("/v1/webhook-endpoints")
        self.assertEqual(page["data"], [])
        status, answer, _ = server.http.get("/v1/webhook-deliveries?status=lost")
        self.assertEqual((status, answer["error"]["field"]), (400, "status"))
        status, answer, _ = server.http.post(
            "/v1/webhook-deliveries/0190a000-0000-7000-8000-000000000000/replay")
        self.assertEqual(status, 404, answer)

    def test_rotated_secret_both_sign_for_a_day(self):
        server = self.start()
        endpoint = self.register(server, "rot")
        old = endpoint["secret"]
        status, rotated, _ = server.http.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
        self.assertEqual(status, 200, rotated)
        new = rotated["secret"]
        self.assertNotEqual(new, old)
        self.assertIsNotNone(rotated["previous_secret_expires_at"])
        # A receiver that knows only the new secret verifies; one that knows only the old does too.
        self.receiver.secrets("rot", new)
        t1 = self.create_transfer(server)
        created1 = [e for e in self.events(server) if e["type"] == "transfer.created"]
        got = self.wait_delivered(server, "rot", [created1[0]["id"]])
        self.assertEqual(got[0]["signatures"], 2)
        self.receiver.secrets("rot", old)
        server.http.post(f"/v1/recurring-transfers/{t1['id']}/pause")
        paused = [e for e in self.events(server) if e["type"] == "transfer.paused"]
        self.wait_delivered(server, "rot", [paused[0]["id"]])
        # A secret it never had verifies nothing: the receiver refuses, rtjobs retries.
        self.receiver.secrets("rot", "whsec_" + "A" * 32)
        server.http.post(f"/v1/recurring-transfers/{t1['id']}/resume")
        self.wait_for("a refused delivery", lambda: any(
            not r["verified"] for r in self.receiver.received("rot")))

    def test_endpoint_down_gets_every_event_in_order_with_its_id(self):
        server = self.start()
        endpoint = self.register(server, "down")
        self.receiver.mode("down", status=503)
        transfers = [self.create_transfer(server, source=f"acc_{i}") for i in range(2)]
        for _ in range(3):
            for t in transfers:
                server.http.post(f"/v1/recurring-transfers/{t['id']}/pause")
                server.http.post(f"/v1/recurring-transfers/{t['id']}/resume")
        events = self.events(server)
        self.assertEqual(len(events), 14)
        # While it is down, each transfer's first event is tried again and again; the later
        # ones wait behind it.
        self.wait_for("retries while down", lambda: len(self.receiver.received("down")) >= 6)
        status, pending, _ = server.http.get(
            f"/v1/webhook-deliveries?endpoint_id={endpoint['id']}&status=pending&limit=500")
        self.assertEqual(len(pending["data"]), 14)
        # The later events of each transfer wait behind its first: not due, so the dispatcher's
        # claims pass over them.
        waiting = [d for d in pending["data"] if d["waiting"]]
        self.assertEqual(len(waiting), 12, pending["data"])
        self.assertTrue(all(d["next_attempt_at"] is None for d in waiting))
        self.assertTrue(all(not r["verified"] or r["answered"] == 503
                            for r in self.receiver.received("down")))
        tried = {r["webhook_id"] for r in self.receiver.received("down")}
        first = {e["id"] for e in events if e["type"] == "transfer.created"}
        self.assertEqual(tried, first, "only each transfer's first event is tried while down")
        self.receiver.mode("down", status=200)
        got = self.wait_delivered(server, "down", [e["id"] for e in events])
        self.assert_in_order_per_transfer(events, got)
        ids = {e["id"] for e in events}
        self.assertTrue({r["webhook_id"] for r in self.receiver.received("down")} <= ids)
        deliveries = self.all_pages(server, f"/v1/webhook-deliveries?endpoint_id={endpoint['id']}")
        first_delivery = [d for d in deliveries if d["event_id"] in first]
        self.assertTrue(all(d["attempts"] > 1 and d["status"] == "delivered"
                            for d in first_delivery), first_delivery)

    def test_replay_sends_the_same_event_again(self):
        server = self.start()
        endpoint = self.register(server, "replay")
        self.create_transfer(server)
        created = self.events(server)[0]
        self.wait_delivered(server, "replay", [created["id"]])
        deliveries = self.all_pages(server, f"/v1/webhook-deliveries?endpoint_id={endpoint['id']}")
        status, replay, _ = server.http.post(f"/v1/webhook-deliveries/{deliveries[0]['id']}/replay")
        self.assertEqual(status, 201, replay)
        self.assertEqual(replay["replay_of"], deliveries[0]["id"])
        self.wait_for("the replay", lambda: len(self.delivered("replay")) == 2)
        self.assertEqual({r["webhook_id"] for r in self.delivered("replay")}, {created["id"]})


class Crash(EventsCase):
    def test_sigkill_during_delivery_loses_no_event(self):
        # A delivery's lease is the timeout + 30 s: the restarted server sends again what was in
        # flight at the kill once that has passed.
        server = self.start({"RT_WEBHOOK_TIMEOUT_SECONDS": "2"})
        self.register(server, "slow")
        # Answers come late: rtjobs is killed while deliveries are in flight.
        self.receiver.mode("slow", status=200, delay_ms=1500)
        transfers = [self.create_transfer(server, source=f"acc_{i}") for i in range(4)]
        for t in transfers:
            server.http.post(f"/v1/recurring-transfers/{t['id']}/pause")
        self.wait_for("deliveries in flight", lambda: len(self.receiver.received("slow")) >= 1)
        server.kill()
        # Sent before the kill, and their 2xx never read by rtjobs (the receiver was still
        # waiting to answer): they must come again, with the same webhook-id.
        in_flight = {r["webhook_id"] for r in self.receiver.received("slow")}
        self.receiver.mode("slow", status=200, delay_ms=0)
        # The lease of a delivery in flight at the kill runs out, then it is sent again.
        restarted = self.start({"RT_WEBHOOK_TIMEOUT_SECONDS": "2"})
        events = self.events(restarted)
        self.assertEqual(len(events), 8)
        got = self.wait_delivered(restarted, "slow", [e["id"] for e in events], timeout=90)
        self.assert_in_order_per_transfer(events, got)
        again = [r["webhook_id"] for r in got if r["webhook_id"] in in_flight]
        self.assertTrue(all(again.count(i) >= 2 for i in in_flight), (in_flight, again))


class Rollback(EventsCase):
    """A change whose transaction rolls back sends nothing: a trigger makes the pause fail."""

    def test_rolled_back_change_sends_nothing(self):
        server = self.start()
        self.register(server, "rb")
        transfer = self.create_transfer(server)
        refuse = self.refuse_pause(transfer["id"])
        status, body, _ = server.http.post(f"/v1/recurring-transfers/{transfer['id']}/pause")
        self.assertGreaterEqual(status, 500, body)
        self.assertEqual(self.get_status(server, transfer["id"]), "ACTIVE")
        refuse()
        status, body, _ = server.http.post(f"/v1/recurring-transfers/{transfer['id']}/cancel")
        self.assertEqual(status, 200, body)
        events = self.events(server)
        types = [e["type"] for e in events if self.transfer_of(e) == transfer["id"]]
        self.assertNotIn("transfer.paused", types)
        self.assertEqual(types[:2], ["transfer.created", "transfer.cancelled"])
        got = self.wait_delivered(server, "rb", [e["id"] for e in events])
        self.assertNotIn("transfer.paused", [r["type"] for r in got])

    def get_status(self, server, transfer_id):
        status, t, _ = server.http.get(f"/v1/recurring-transfers/{transfer_id}")
        self.assertEqual(status, 200, t)
        return t["status"]

    def refuse_pause(self, transfer_id):
        """Installs a trigger that fails the UPDATE pausing this transfer; returns its remover."""
        if self.backend == "sqlite":
            path = self.db.url[len("sqlite://"):]
            db = sqlite3.connect(path, timeout=30)
            db.execute(f"""CREATE TRIGGER refuse_pause BEFORE UPDATE OF status ON recurring_transfer
                WHEN NEW.status = 'PAUSED' AND NEW.id = '{transfer_id}'
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END""")
            db.commit()

            def remove():
                db.execute("DROP TRIGGER refuse_pause")
                db.commit()
                db.close()
            return remove
        sql = f"""CREATE FUNCTION refuse_pause() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
            CREATE TRIGGER refuse_pause BEFORE UPDATE OF status ON recurring_transfer FOR EACH ROW
            WHEN (NEW.status = 'PAUSED' AND NEW.id = '{transfer_id}') EXECUTE FUNCTION refuse_pause();"""
        subprocess.run(["psql", self.db.url, "-qc", sql], check=True, stdout=subprocess.DEVNULL)

        def remove():
            subprocess.run(["psql", self.db.url, "-qc",
                            "DROP TRIGGER refuse_pause ON recurring_transfer"],
                           check=True, stdout=subprocess.DEVNULL)
        return remove


class TwoInstances(EventsCase):
    """Two instances on one database deliver each event once (PostgreSQL: SKIP LOCKED claims)."""

    def test_each_event_delivered_once(self):
        a = self.start()
        b = self.start()
        self.register(a, "two")
        transfers = [self.create_transfer(a if i % 2 else b, source=f"acc_{i}") for i in range(10)]
        for i, t in enumerate(transfers):
            server = b if i % 2 else a
            server.http.post(f"/v1/recurring-transfers/{t['id']}/pause")
            server.http.post(f"/v1/recurring-transfers/{t['id']}/resume")
        events = self.events(a)
        self.assertEqual(len(events), 30)
        got = self.wait_delivered(a, "two", [e["id"] for e in events])
        ids = [r["webhook_id"] for r in got]
        self.assertEqual(sorted(ids), sorted(e["id"] for e in events), "each event exactly once")
        self.assert_in_order_per_transfer(events, got)


for_each_backend(Delivery)
for_each_backend(Crash)
for_each_backend(Rollback)
# Several instances share PostgreSQL only (SPEC section 7).
TwoInstancesPostgres = type("TwoInstancesPostgres", (TwoInstances,), {"backend": "postgresql"})
del Delivery, Crash, Rollback, TwoInstances, EventsCase

if __name__ == "__main__":
    main()
