"""Settlement and returns (SPEC section 8, issue 15) end to end: real `rtjobs serve` processes
against the fake banks (tools/fake_banks), which settle, return and cancel ACH transfers on
control calls and send the banks' own webhooks to rtjobs' POST /v1/bank-webhooks/{provider}.

The scheduler and retries loops are off: every job is sent by POST /v1/jobs/{id}/process, so
the test decides when a transfer (or a re-presentment) reaches the bank. Every wait polls the
API or a fake's control API with a deadline.

Classes (each once per database), each sharing one database, its fakes and one server between
its tests (the test methods of a class never depend on each other's jobs):
- WebhookSettlement: the four banks with webhooks, polling pushed out of reach (an hour): settle
  by webhook at each bank; R01 without re-presentment at each bank; R02 pausing the transfer;
  duplicate, out-of-order, badly signed, stale and unknown-transfer deliveries.
- PollingSettlement: the four banks without webhooks, polled every second.
- Represent: re-presentment of R01 (RT_REPRESENT_MAX=2, RT_REPRESENT_AFTER_DAYS=0) and an R02
  with RT_PAUSE_ON_ACCOUNT_RETURN=false.
- CrashBetweenAcceptAndApply: kill -9 with an accepted, not yet applied, thin Increase event.
- GenericProtocol: the rtjobs BaaS protocol's settlement extension (tools/fake_baas --settle:
  GET /transfers/{id}, Standard Webhooks with a whsec_ secret), one server per test.
"""
import base64
import hashlib
import hmac
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

from harness import (BANK_TYPES, Database, E2ECase, FakeBank, Server, bank_provider_config,
                     for_each_backend, main)
from test_banks import ACH_OPTIONS, PROVIDER, BanksCase
from test_banks import GET_PATH as BANK_GET_PATH

# The bank's own GET of an ACH transfer (tools/fake_banks/README.md).
GET_PATH = {bank: BANK_GET_PATH[(bank, "ach")] for bank in BANK_TYPES}
HOOK_ENV = {bank: f"E2E_HOOK_{bank.upper()}" for bank in BANK_TYPES}
TERMINAL = {"FINISHED", "FAILED", "SKIPPED", "CANCELLED"}
WAIT = 30  # seconds: the deadline of every wait


def hook_secret(bank):
    """A fresh webhook secret in the form the bank uses (Treasury Prime: Basic user:password)."""
    if bank == "treasury_prime":
        return f"hookuser{uuid.uuid4().hex[:8]}:hookpass{uuid.uuid4().hex}"
    return f"{bank}-hook-{uuid.uuid4().hex}"


def standard_webhook_headers(secret, event_id, timestamp, body):
    """Standard Webhooks headers as Increase sends them (key = the secret's UTF-8 bytes)."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
    return {"webhook-id": event_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + signature.decode()}


def column_headers(secret, body):
    return {"Column-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def parse_metrics(text):
    """Prometheus text -> {(name, ((label, value), ...)): number}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$', line)
        if not m:
            continue
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


class SettlementCase(BanksCase):
    """Class-level fixture (test_banks.BanksCase's, whose tearDown and tearDownClass it keeps):
    one database, a fake of each bank in `banks`, one `rtjobs serve`. With `webhooks`, each
    provider has a webhook_secret_env and each fake sends its webhooks to rtjobs (registered
    once the server's port is known)."""

    banks = BANK_TYPES
    webhooks = True
    env = {}
    failed = False

    @classmethod
    def setUpClass(cls):
        cls.started = time.time()
        cls.workdir = tempfile.mkdtemp(prefix="rtjobs-e2e-settlement-")
        cls.db = Database(cls.backend, cls.workdir)
        cls.fakes, cls.secrets, cls.server, cls.old_servers = {}, {}, None, []
        try:
            for bank in cls.banks:
                cls.fakes[bank] = FakeBank(bank)
                if cls.webhooks:
                    cls.secrets[bank] = hook_secret(bank)
            cls.start_server()
        except BaseException:
            cls.failed = True
            cls.tearDownClass()
            raise

    @classmethod
    def server_env(cls):
        env = {"RT_SCHEDULER_ENABLED": "false", "RT_RETRIES_ENABLED": "false",
               "RT_BACKUP_ENABLED": "false", "RT_RETRY_BACKOFF": "0", "RT_LOG_LEVEL": "debug"}
        for bank, fake in cls.fakes.items():
            env.update(fake.env)
            if bank in cls.secrets:
                env[HOOK_ENV[bank]] = cls.secrets[bank]
        env.update(cls.env)
        return env

    @classmethod
    def start_server(cls):
        config = "\n".join(
            bank_provider_config(PROVIDER[bank], fake,
                                 **({"webhook_secret_env": HOOK_ENV[bank]} if cls.webhooks else {}))
            for bank, fake in cls.fakes.items())
        if cls.server is not None:
            cls.old_servers.append(cls.server)
        cls.server = Server(cls.workdir, cls.db.url, cls.server_env(), config)
        if cls.webhooks:
            for bank, fake in cls.fakes.items():
                url = f"http://127.0.0.1:{cls.server.port}/v1/bank-webhooks/{PROVIDER[bank]}"
                status, body, _ = fake.http.post(
                    "/_control/webhook", {"url": url, "secret": cls.secrets[bank],
                                          "retry_base_ms": 200})
                assert status == 200, body

    @classmethod
    def tearDownClass(cls):
        for server in cls.old_servers:  # killed ones (the current one is BanksCase's)
            server.stop()
        super().tearDownClass()
        sys.stderr.write(f"--- {cls.__name__}: {time.time() - cls.started:.1f} s\n")

    # --- helpers ---

    def wait_for(self, what, probe, timeout=WAIT, interval=0.1):
        """Calls probe() until it returns something truthy, and returns that; fails after
        `timeout` seconds naming `what` and the last value seen."""
        deadline, last = time.time() + timeout, None
        while time.time() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(interval)
        self.fail(f"timed out after {timeout} s waiting for {what}; last seen: {last!r}")

    def create_ach(self, bank, frequency="MONTHLY", source=None):
        today = time.strftime("%Y-%m-%d", time.gmtime())
        body = {"provider": PROVIDER[bank], "source_account": source or f"acc_{bank}",
                "destination_account": f"ext_{uuid.uuid4().hex[:10]}", "amount": 5000,
                "currency": "USD", "description": "rent", "rail": "ach",
                "provider_options": ACH_OPTIONS[bank],
                "schedule": {"frequency": frequency, "start_date": today,
                             "execution_time": "00:00"}}
        status, transfer, _ = self.server.http.post("/v1/recurring-transfers", body)
        self.assertEqual(status, 201, transfer)
        return transfer

    def ok(self, method, path):
        """The body of an API call that must answer 200."""
        status, body, _ = self.server.http.request(method, path, {} if method == "POST" else None)
        self.assertEqual(status, 200, (method, path, body))
        return body

    def job(self, job_id):
        return self.ok("GET", f"/v1/jobs/{job_id}")

    def transfer(self, transfer_id):
        return self.ok("GET", f"/v1/recurring-transfers/{transfer_id}")

    def process(self, job_id):
        return self.ok("POST", f"/v1/jobs/{job_id}/process")

    def send_pending(self, bank, **kw):
        """Creates an ACH transfer at `bank` and sends its first job, which the bank accepts
        pending. Returns (transfer, job)."""
        transfer = self.create_ach(bank, **kw)
        job = self.process(self.first_job(self.server, transfer["id"])["id"])
        self.assertEqual((job["status"], job["result"], job["settlement_status"]),
                         ("FINISHED", "SUCCEEDED", "pending"), job)
        self.assertIsNone(job["settled_at"], job)
        self.assertEqual(job["presentment"], 0, job)
        self.assertTrue(job["provider_reference"], job)
        return transfer, job

    def settle_each(self, sent, check):
        """Settles each {bank: (transfer, job)} at its bank, waits until rtjobs has it settled,
        then calls check(bank, job settled), inside a subTest of the bank."""
        for bank, (_, job) in sent.items():
            self.control(bank, "settle", {"id": job["provider_reference"]})
        for bank, (_, job) in sent.items():
            with self.subTest(bank=bank):
                settled = self.wait_settlement(job["id"], "settled")
                self.assertEqual((settled["status"], settled["result"], settled["return_code"]),
                                 ("FINISHED", "SUCCEEDED", None), settled)
                self.assertTrue(settled["settled_at"], settled)
                check(bank, settled)

    def control(self, bank, action, body):
        status, answer, _ = self.fakes[bank].http.post(f"/_control/{action}", body)
        self.assertEqual(status, 200, (action, body, answer))
        return answer

    def wait_job(self, job_id, what, predicate, timeout=WAIT):
        return self.wait_for(f"job {job_id} {what}",
                             lambda: (lambda j: j if predicate(j) else None)(self.job(job_id)),
                             timeout)

    def wait_settlement(self, job_id, settlement, timeout=WAIT):
        return self.wait_job(job_id, f"settlement_status {settlement}",
                             lambda j: j["settlement_status"] == settlement, timeout)

    def hook_events(self, bank, transfer_id=None):
        status, body, _ = self.fakes[bank].http.get("/_control/webhooks")
        self.assertEqual(status, 200, body)
        return [e for e in body["events"] if transfer_id is None or e["transfer_id"] == transfer_id]

    def wait_delivered(self, bank, transfer_id, count=None, replays=0):
        """Waits until every webhook event of the transfer (at least `count` of them) had a try
        answered 200 (and `replays` replayed tries answered); returns the events."""
        def probe():
            events = self.hook_events(bank, transfer_id)
            if count is not None and len(events) < count:
                return None
            if not all(any(a["status"] == 200 for a in e["attempts"]) for e in events):
                return None
            answered = sum(1 for e in events for a in e["attempts"]
                           if a.get("replay") and a["status"] is not None)
            return events if answered >= replays else None
        return self.wait_for(f"{bank}'s webhooks of {transfer_id} answered 200", probe)

    def metrics(self, server=None):
        status, text, _ = (server or self.server).http.get("/metrics")
        self.assertEqual(status, 200, text)
        return parse_metrics(text)

    def metric(self, name, server=None, **labels):
        return self.metrics(server).get((name, tuple(sorted(labels.items()))), 0.0)

    def events_pending(self, server=None):
        return self.metric("rtjobs_bank_events_pending", server)

    def wait_inbox_empty(self):
        return self.wait_for("rtjobs_bank_events_pending 0",
                             lambda: self.events_pending() == 0 or None)

    def at_bank(self, bank, key_prefix):
        """The bank's executed transfers whose idempotency key is key_prefix or starts with
        key_prefix + ':'."""
        return [t for t in self.fakes[bank].transfers()
                if t["idempotency_key"] == key_prefix
                or str(t["idempotency_key"]).startswith(key_prefix + ":")]

    def lookups(self, bank, reference):
        path = GET_PATH[bank].format(reference)
        return [a for a in self.fakes[bank].attempts()
                if a["method"] == "GET" and a["path"].split("?")[0] == path]

    def column_event(self, job, settled_id=None):
        """A Column "settled" event body for the job's transfer as the bank's GET shows it
        (with its id replaced by `settled_id` when given), and that body's valid headers."""
        status, seen, _ = self.fakes["column"].bank_get(
            GET_PATH["column"].format(job["provider_reference"]))
        self.assertEqual(status, 200, seen)
        seen.update({"status": "SETTLED", "settled_at": seen.get("updated_at")})
        if settled_id:
            seen["id"] = settled_id
        body = json.dumps({"id": "evnt_" + uuid.uuid4().hex, "created_at": seen.get("updated_at"),
                           "type": "ach.outgoing_transfer.settled", "data": seen}).encode()
        return body, column_headers(self.secrets["column"], body)

    def deliver(self, provider, body, headers):
        """POSTs one webhook delivery to rtjobs as the bank does (no bearer token)."""
        return self.server.http.post(f"/v1/bank-webhooks/{provider}", body, token=None,
                                     headers=headers)[:2]

    def provider_statuses(self, job_id):
        return self.ok("GET", f"/v1/jobs/{job_id}/provider-statuses")["data"]

    def make_due_like(self, job_id, like_job_id):
        """Makes a later occurrence due now by giving it an earlier job's due_at (no start date
        in the past is accepted, and the service has no clock to move)."""
        sql = (f"UPDATE recurring_transfer_job SET due_at = (SELECT due_at FROM "
               f"recurring_transfer_job WHERE id = '{like_job_id}') WHERE id = '{job_id}'")
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.db.url[len("sqlite://"):], timeout=30)
            try:
                with conn:
                    self.assertEqual(conn.execute(sql).rowcount, 1)
            finally:
                conn.close()
        else:
            subprocess.run(["psql", self.db.url, "-qc", sql], check=True,
                           stdout=subprocess.DEVNULL)

    def check_account_return_pauses(self, bank, pause):
        """An R02 on a DAILY transfer's first occurrence, then its second occurrence made due
        and processed: skipped (paused) or sent (not paused)."""
        transfer, job = self.send_pending(bank, frequency="DAILY")
        jobs = self.jobs_of(self.server, transfer["id"])
        self.assertGreater(len(jobs), 1, jobs)
        second = next(j for j in jobs if j["sequence"] == 2)
        self.control(bank, "return", {"id": job["provider_reference"], "code": "R02"})
        returned = self.wait_settlement(job["id"], "returned")
        self.assertEqual((returned["status"], returned["result"], returned["return_code"],
                          returned["presentment"]), ("FINISHED", "RETURNED", "R02", 0), returned)
        after = self.wait_for(
            "the transfer's status after the R02",
            lambda: (lambda t: t if t["status"] == ("PAUSED" if pause else "ACTIVE") else None)(
                self.transfer(transfer["id"])))
        if pause:
            self.assertEqual(after["status_reason"], "account_return:R02", after)
        else:
            self.assertIsNone(after.get("status_reason"), after)
        self.make_due_like(second["id"], job["id"])
        done = self.process(second["id"])
        if pause:
            self.assertEqual(done["status"], "SKIPPED", done)
            self.assertEqual(self.at_bank(bank, second["idempotency_key"]), [])
        else:
            self.assertEqual((done["status"], done["result"]), ("FINISHED", "SUCCEEDED"), done)
            self.assertEqual(len(self.at_bank(bank, second["idempotency_key"])), 1)
        # The returned occurrence itself was never presented again.
        self.assertEqual(len(self.at_bank(bank, job["idempotency_key"])), 1)
        return transfer, job


@for_each_backend
class WebhookSettlement(SettlementCase):
    env = {"RT_SETTLEMENT_POLL_SECONDS": "3600", "RT_SETTLEMENT_POLL_MAX_SECONDS": "7200"}

    def test_settled_by_webhook_at_each_bank(self):
        sent = {bank: self.send_pending(bank) for bank in BANK_TYPES}
        before = {bank: self.metric("rtjobs_settlement_updates_total",
                                    provider=PROVIDER[bank], outcome="settled")
                  for bank in BANK_TYPES}
        def check(bank, job):
            # The bank delivered its webhook(s) and rtjobs answered 200.
            events = self.wait_delivered(bank, job["provider_reference"], count=1)
            self.assertTrue(events, bank)
            # Polling is an hour away: the bank saw no look-up of the transfer, except those
            # its own events asked for (Column's events carry the transfer; the others' make
            # rtjobs fetch it).
            if bank == "column":
                self.assertEqual(self.lookups(bank, job["provider_reference"]), [])
            self.assertEqual(self.metric("rtjobs_settlement_updates_total",
                                         provider=PROVIDER[bank], outcome="settled"),
                             before[bank] + 1)
        self.settle_each(sent, check)
        page = self.ok("GET", "/v1/jobs?settlement_status=settled&limit=500")
        ids = {j["id"] for j in page["data"]}
        self.assertTrue({job["id"] for _, job in sent.values()} <= ids)

    def test_return_r01_without_representment_at_each_bank(self):
        sent = {bank: self.send_pending(bank) for bank in BANK_TYPES}
        page = self.ok("GET", "/v1/jobs?settlement_status=pending&limit=500")
        self.assertTrue({job["id"] for _, job in sent.values()} <= {j["id"] for j in page["data"]})
        for bank, (_, job) in sent.items():
            self.control(bank, "return", {"id": job["provider_reference"], "code": "R01"})
        for bank, (transfer, job) in sent.items():
            with self.subTest(bank=bank):
                returned = self.wait_settlement(job["id"], "returned")
                self.assertEqual((returned["status"], returned["result"], returned["return_code"],
                                  returned["presentment"]),
                                 ("FINISHED", "RETURNED", "R01", 0), returned)
                rows = self.provider_statuses(job["id"])
                self.assertEqual(len(rows), 1, rows)
                self.assertEqual(rows[0]["provider"], PROVIDER[bank], rows)
                self.assertIn("R01", json.dumps([rows[0]["code"], rows[0]["message"]]), rows)
                # R01 without RT_REPRESENT_MAX: not presented again, the transfer not paused.
                self.assertEqual(len(self.at_bank(bank, job["idempotency_key"])), 1)
                t = self.transfer(transfer["id"])
                self.assertEqual(t["status"], "ACTIVE", t)
                self.wait_delivered(bank, job["provider_reference"], count=1)
        found = {j["id"] for j in self.all_pages(self.server, "/v1/jobs?result=RETURNED&limit=500")}
        self.assertTrue({job["id"] for _, job in sent.values()} <= found, found)
        found = {j["id"] for j in self.all_pages(self.server,
                                                 "/v1/jobs?settlement_status=returned&limit=500")}
        self.assertTrue({job["id"] for _, job in sent.values()} <= found, found)
        pending = {j["id"] for j in self.all_pages(self.server,
                                                   "/v1/jobs?settlement_status=pending&limit=500")}
        self.assertFalse({job["id"] for _, job in sent.values()} & pending)

    def test_account_return_r02_pauses_the_transfer(self):
        self.check_account_return_pauses("increase", pause=True)

    def test_return_after_settlement(self):
        for bank in ("increase", "column"):
            with self.subTest(bank=bank):
                _, job = self.send_pending(bank)
                self.control(bank, "settle", {"id": job["provider_reference"]})
                settled = self.wait_settlement(job["id"], "settled")
                self.wait_delivered(bank, job["provider_reference"])
                self.wait_inbox_empty()
                self.control(bank, "return", {"id": job["provider_reference"], "code": "R01"})
                self.wait_delivered(bank, job["provider_reference"], count=len(
                    self.hook_events(bank, job["provider_reference"])))
                returned = self.wait_settlement(job["id"], "returned")
                self.assertEqual((returned["status"], returned["result"],
                                  returned["return_code"]), ("FINISHED", "RETURNED", "R01"),
                                 returned)
                self.assertEqual(returned["settled_at"], settled["settled_at"], returned)

    def test_duplicate_delivery_is_accepted_once(self):
        bank, provider = "column", PROVIDER["column"]
        _, job = self.send_pending(bank)
        self.control(bank, "settle", {"id": job["provider_reference"]})
        self.wait_settlement(job["id"], "settled")
        events = self.wait_delivered(bank, job["provider_reference"], count=2)
        self.wait_inbox_empty()
        settled = self.job(job["id"])
        self.assertEqual(settled["settlement_status"], "settled", settled)
        duplicates = self.metric("rtjobs_bank_webhooks_total", provider=provider,
                                 result="duplicate")
        updates = self.metrics()
        # The bank delivers the settled event once more: same id and body, fresh signature.
        last = events[-1]
        self.control(bank, "webhooks/replay", {"event_id": last["event_id"]})
        self.wait_delivered(bank, job["provider_reference"], count=2, replays=1)
        replayed = [a for e in self.hook_events(bank, job["provider_reference"])
                    for a in e["attempts"] if a.get("replay")]
        self.assertEqual([a["status"] for a in replayed], [200], replayed)
        self.wait_for("the duplicate counted", lambda: self.metric(
            "rtjobs_bank_webhooks_total", provider=provider, result="duplicate") == duplicates + 1
            or None)
        # The same body posted again directly: 200 with duplicates = 1.
        body = last["body"].encode()
        status, answer = self.deliver(provider, body, column_headers(self.secrets[bank], body))
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer, {"received": 1, "duplicates": 1})
        self.assertEqual(self.events_pending(), 0)
        self.assertEqual(self.job(job["id"]), settled)
        now = self.metrics()
        for key, value in now.items():
            if key[0] == "rtjobs_settlement_updates_total":
                self.assertEqual(value, updates.get(key, 0.0), key)

    def test_out_of_order_delivery_never_settles_over_a_return(self):
        bank = "column"
        _, job = self.send_pending(bank)
        reference = job["provider_reference"]
        self.control(bank, "webhooks/hold", {})
        try:
            self.control(bank, "settle", {"id": reference})
            self.control(bank, "return", {"id": reference, "code": "R01"})
        finally:
            released = self.control(bank, "webhooks/release", {"order": "reverse"})
        events = self.wait_delivered(bank, reference, count=3)
        types = [e["type"] for e in events]
        self.assertEqual(types, ["ach.outgoing_transfer.submitted",
                                 "ach.outgoing_transfer.settled",
                                 "ach.outgoing_transfer.returned"], types)
        # Released newest first: the return arrived before the settlement.
        order = released["released"]
        self.assertEqual(order, [e["event_id"] for e in reversed(events)], order)
        self.wait_inbox_empty()
        final = self.wait_settlement(job["id"], "returned")
        self.assertEqual((final["status"], final["result"], final["return_code"]),
                         ("FINISHED", "RETURNED", "R01"), final)
        # Still returned once everything is applied (and a moment later).
        self.assertEqual(self.job(job["id"])["settlement_status"], "returned")

    def test_badly_signed_delivery_is_refused_and_stores_nothing(self):
        bank, provider = "column", PROVIDER["column"]
        _, job = self.send_pending(bank)
        self.wait_inbox_empty()
        # A Column settled event for this job's transfer, as the bank would send it.
        body, signed = self.column_event(job)
        unauthenticated = self.metric("rtjobs_bank_webhooks_total", provider=provider,
                                      result="unauthenticated")
        for headers in (column_headers("not-the-secret", body), {}):
            status, answer = self.deliver(provider, body, headers)
            self.assertEqual(status, 401, answer)
        # A body changed after signing is refused too.
        status, answer = self.deliver(provider, body.replace(b"SETTLED", b"RETURNED"), signed)
        self.assertEqual(status, 401, answer)
        self.assertEqual(self.metric("rtjobs_bank_webhooks_total", provider=provider,
                                     result="unauthenticated"), unauthenticated + 3)
        self.assertEqual(self.events_pending(), 0)
        # Correctly signed, but not a Column event: 400, counted as invalid, nothing stored.
        invalid = self.metric("rtjobs_bank_webhooks_total", provider=provider, result="invalid")
        status, answer = self.deliver(provider, b"{}", column_headers(self.secrets[bank], b"{}"))
        self.assertEqual(status, 400, answer)
        self.assertEqual(self.metric("rtjobs_bank_webhooks_total", provider=provider,
                                     result="invalid"), invalid + 1)
        # Treasury Prime's Basic credentials: wrong ones (or none) are refused.
        tp_body = json.dumps({"event": "ach.update", "op": "update",
                              "id": "ach_" + uuid.uuid4().hex, "url": "http://x/ach/1"}).encode()
        for headers in ({"Authorization": "Basic " + base64.b64encode(b"hookuser:wrong").decode()},
                        {}):
            status, answer = self.deliver(PROVIDER["treasury_prime"], tp_body, headers)
            self.assertEqual(status, 401, answer)
        self.assertEqual(self.events_pending(), 0)
        # An unknown provider: 404.
        status, answer = self.deliver("no_such_bank", body, signed)
        self.assertEqual(status, 404, answer)
        # Nothing was stored (each refusal is answered before anything is written), so nothing
        # can move the job.
        after = self.job(job["id"])
        self.assertEqual((after["settlement_status"], after["settled_at"]), ("pending", None), after)

    def test_stale_increase_signature_is_refused(self):
        bank, provider = "increase", PROVIDER["increase"]
        _, job = self.send_pending(bank)
        self.wait_delivered(bank, job["provider_reference"], count=1)  # ach_transfer.created
        self.wait_inbox_empty()
        secret = self.secrets[bank]

        def event():
            event_id = "event_" + uuid.uuid4().hex
            return event_id, json.dumps({
                "id": event_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "category": "ach_transfer.updated", "associated_object_type": "ach_transfer",
                "associated_object_id": job["provider_reference"], "type": "event"}).encode()

        accepted = self.metric("rtjobs_bank_webhooks_total", provider=provider, result="accepted")
        for age in (600, -600):  # ten minutes old, ten minutes ahead
            event_id, body = event()
            status, answer = self.deliver(provider, body, standard_webhook_headers(
                secret, event_id, int(time.time()) - age, body))
            self.assertEqual(status, 401, (age, answer))
        self.assertEqual(self.events_pending(), 0)
        # The same construction with a fresh timestamp is accepted: only the age was wrong.
        event_id, body = event()
        status, answer = self.deliver(provider, body, standard_webhook_headers(
            secret, event_id, int(time.time()), body))
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer, {"received": 1, "duplicates": 0})
        self.assertEqual(self.metric("rtjobs_bank_webhooks_total", provider=provider,
                                     result="accepted"), accepted + 1)
        self.wait_inbox_empty()
        self.assertEqual(self.job(job["id"])["settlement_status"], "pending")

    def test_webhook_for_an_unknown_transfer_changes_nothing(self):
        bank, provider = "column", PROVIDER["column"]
        _, job = self.send_pending(bank)
        self.wait_inbox_empty()
        unknown_id = "acht_" + uuid.uuid4().hex
        body, headers = self.column_event(job, settled_id=unknown_id)
        before = self.metric("rtjobs_settlement_updates_total", provider=provider,
                             outcome="unknown_transfer")
        status, answer = self.deliver(provider, body, headers)
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer, {"received": 1, "duplicates": 0})
        self.wait_for("the unknown transfer's event applied", lambda: self.metric(
            "rtjobs_settlement_updates_total", provider=provider,
            outcome="unknown_transfer") == before + 1 or None)
        self.wait_inbox_empty()
        self.wait_for("a log line naming the unknown transfer",
                      lambda: any(unknown_id in line and "does not know" in line
                                  for line in self.server.output().splitlines()))
        after = self.job(job["id"])
        self.assertEqual((after["settlement_status"], after["settled_at"]), ("pending", None), after)


@for_each_backend
class PollingSettlement(SettlementCase):
    webhooks = False
    env = {"RT_SETTLEMENT_POLL_SECONDS": "1", "RT_SETTLEMENT_POLL_MAX_SECONDS": "2"}

    def test_settled_by_polling_at_each_bank(self):
        sent = {bank: self.send_pending(bank) for bank in BANK_TYPES}
        # Followed while pending: the bank sees look-ups of each transfer before any change.
        for bank, (_, job) in sent.items():
            self.wait_for(f"a look-up of the {bank} transfer",
                          lambda: self.lookups(bank, job["provider_reference"]))
            self.assertEqual(self.job(job["id"])["settlement_status"], "pending")
        def check(bank, job):
            gets = self.lookups(bank, job["provider_reference"])
            self.assertTrue(all(a["status"] == 200 for a in gets if a["status"]), gets)
            # No webhook URL: the bank recorded its events and sent none.
            self.assertEqual([e for e in self.hook_events(bank, job["provider_reference"])
                              if e["attempts"]], [])
        self.settle_each(sent, check)
        # Settled transfers are not looked up any more: a pending witness at each bank is looked
        # up twice after the count is taken (so the follower went round at least once more).
        counts = {bank: len(self.lookups(bank, job["provider_reference"]))
                  for bank, (_, job) in sent.items()}
        witnesses = {bank: self.send_pending(bank)[1]["provider_reference"] for bank in sent}
        for bank, reference in witnesses.items():
            self.wait_for(f"two look-ups of the {bank} witness",
                          lambda: len(self.lookups(bank, reference)) >= 2)
        for bank, (_, job) in sent.items():
            self.assertLessEqual(len(self.lookups(bank, job["provider_reference"])),
                                 counts[bank] + 1, bank)

    def test_return_and_cancel_found_by_polling(self):
        _, returned = self.send_pending("unit")
        _, canceled = self.send_pending("increase")
        self.control("unit", "return", {"id": returned["provider_reference"], "code": "R01"})
        self.control("increase", "cancel", {"id": canceled["provider_reference"]})
        job = self.wait_settlement(returned["id"], "returned")
        self.assertEqual((job["status"], job["result"], job["return_code"]),
                         ("FINISHED", "RETURNED", "R01"), job)
        job = self.wait_settlement(canceled["id"], "canceled")
        self.assertEqual((job["status"], job["result"]), ("FINISHED", "DECLINED"), job)


@for_each_backend
class Represent(SettlementCase):
    banks = ("column", "increase")
    env = {"RT_SETTLEMENT_POLL_SECONDS": "3600", "RT_SETTLEMENT_POLL_MAX_SECONDS": "7200",
           "RT_REPRESENT_MAX": "2", "RT_REPRESENT_AFTER_DAYS": "0",
           "RT_PAUSE_ON_ACCOUNT_RETURN": "false"}

    def test_r01_is_presented_again_twice_then_stays_returned(self):
        bank = "column"
        transfer, job = self.send_pending(bank)
        key = job["idempotency_key"]
        reference = job["provider_reference"]
        for n in (1, 2):
            self.control(bank, "return", {"id": reference, "code": "R01"})
            again = self.wait_job(job["id"], f"re-presentment {n}",
                                  lambda j: j["status"] == "RETRY" and j["presentment"] == n)
            self.assertEqual((again["id"], again["sequence"]), (job["id"], job["sequence"]))
            sent = self.process(job["id"])
            self.assertEqual((sent["status"], sent["result"], sent["settlement_status"],
                              sent["presentment"]), ("FINISHED", "SUCCEEDED", "pending", n), sent)
            self.assertNotEqual(sent["provider_reference"], reference, sent)
            reference = sent["provider_reference"]
            at_bank = self.at_bank(bank, key)
            self.assertEqual(sorted(t["idempotency_key"] for t in at_bank),
                             sorted([key] + [f"{key}:r{i}" for i in range(1, n + 1)]), at_bank)
            mine = [t for t in at_bank if t["idempotency_key"] == f"{key}:r{n}"]
            self.assertEqual([t["id"] for t in mine], [reference], at_bank)
        self.control(bank, "return", {"id": reference, "code": "R01"})
        final = self.wait_settlement(job["id"], "returned")
        self.assertEqual((final["status"], final["result"], final["return_code"],
                          final["presentment"]), ("FINISHED", "RETURNED", "R01", 2), final)
        # Terminal: processing it again sends nothing more.
        self.assertEqual(self.process(job["id"])["status"], "FINISHED")
        self.wait_inbox_empty()
        self.assertEqual(len(self.at_bank(bank, key)), 3)
        jobs = self.jobs_of(self.server, transfer["id"])
        self.assertEqual([j["id"] for j in jobs if j["sequence"] == job["sequence"]], [job["id"]])
        self.assertEqual(self.transfer(transfer["id"])["status"], "ACTIVE")

    def test_thin_events_of_one_return_present_it_once(self):
        # Increase's return from pending sends two events (submitted, returned); rtjobs fetches
        # the transfer for each and sees "returned" twice: one re-presentment only.
        bank = "increase"
        _, job = self.send_pending(bank)
        key, reference = job["idempotency_key"], job["provider_reference"]
        self.control(bank, "return", {"id": reference, "code": "R01"})
        events = self.wait_delivered(bank, reference, count=3)  # created, submitted, returned
        self.wait_inbox_empty()
        again = self.wait_job(job["id"], "re-presentment 1", lambda j: j["status"] == "RETRY")
        self.assertEqual(again["presentment"], 1, again)
        sent = self.process(job["id"])
        self.assertEqual((sent["status"], sent["settlement_status"], sent["presentment"]),
                         ("FINISHED", "pending", 1), sent)
        self.assertEqual(sorted(t["idempotency_key"] for t in self.at_bank(bank, key)),
                         [key, key + ":r1"])
        # The first presentment's return delivered once more, after the second was sent: it
        # is about the old transfer and changes nothing.
        replayed = len(self.hook_events(bank, reference)[-1]["attempts"])
        self.control(bank, "webhooks/replay", {"event_id": events[-1]["event_id"]})
        self.wait_for("the replay answered", lambda: len(
            [a for a in self.hook_events(bank, reference)[-1]["attempts"]
             if a["status"] is not None]) > replayed)
        self.wait_inbox_empty()
        after = self.job(job["id"])
        self.assertEqual((after["status"], after["settlement_status"], after["presentment"],
                          after["provider_reference"]),
                         ("FINISHED", "pending", 1, sent["provider_reference"]), after)
        self.assertEqual(len(self.at_bank(bank, key)), 2)

    def test_account_return_without_pause_keeps_the_transfer_active(self):
        self.check_account_return_pauses("increase", pause=False)


@for_each_backend
class CrashBetweenAcceptAndApply(SettlementCase):
    banks = ("increase",)
    env = {"RT_SETTLEMENT_POLL_SECONDS": "3600", "RT_SETTLEMENT_POLL_MAX_SECONDS": "7200"}

    def test_accepted_event_survives_kill_9(self):
        bank, provider = "increase", PROVIDER["increase"]
        _, job = self.send_pending(bank)
        reference = job["provider_reference"]
        created = self.wait_delivered(bank, reference, count=1)  # ach_transfer.created
        self.wait_inbox_empty()
        self.control(bank, "outage", {"down": True})
        self.control(bank, "settle", {"id": reference})
        # Delivered although the bank's API is down; rtjobs accepts and stores them, and cannot
        # apply them (its look-ups are answered 503).
        events = self.wait_delivered(bank, reference, count=len(created) + 1)
        fresh = len(events) - len(created)
        self.wait_for(f"rtjobs_bank_events_pending {fresh}",
                      lambda: self.events_pending() == fresh or None)
        self.wait_for("a look-up answered 503",
                      lambda: any(a["status"] == 503 for a in self.lookups(bank, reference)))
        self.assertEqual(self.job(job["id"])["settlement_status"], "pending")
        self.server.kill()
        self.control(bank, "outage", {"down": False})
        type(self).start_server()  # same database; the fake's webhook URL moves to it
        settled = self.wait_settlement(job["id"], "settled", timeout=60)
        self.assertTrue(settled["settled_at"], settled)
        self.wait_inbox_empty()
        # Applied exactly once: one settled outcome, the other event found nothing new.
        self.assertEqual(self.metric("rtjobs_settlement_updates_total", provider=provider,
                                     outcome="settled"), 1)
        self.assertEqual(self.metric("rtjobs_bank_webhooks_total", provider=provider,
                                     result="accepted"), 0)
        outcomes = {dict(labels)["outcome"]: value for (name, labels), value in
                    self.metrics().items() if name == "rtjobs_settlement_updates_total"
                    and dict(labels)["provider"] == provider}
        self.assertEqual(sum(outcomes.values()), fresh, outcomes)
        final = self.job(job["id"])
        self.assertEqual((final["status"], final["result"], final["settlement_status"]),
                         ("FINISHED", "SUCCEEDED", "settled"), final)
        self.assertEqual(len(self.at_bank(bank, job["idempotency_key"])), 1)



@for_each_backend
class GenericProtocol(E2ECase):
    """The generic http provider against tools/fake_baas answering transfers pending: settled
    and returned by its Standard Webhooks (whsec_ secret, key = the decoded bytes), and a
    delivery signed with another secret refused."""

    def setUp(self):
        super().setUp()
        status, body, _ = self.baas.http.post("/_control/settlement", {"pending": True})
        self.assertEqual(status, 200, body)
        self.secret = "whsec_" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
        self.server = self.start_server(
            env={"E2E_GENERIC_HOOK": self.secret, "RT_SCHEDULER_ENABLED": "true",
                 "RT_SETTLEMENT_POLL_SECONDS": "3600"},
            extra_config='webhook_secret_env = "E2E_GENERIC_HOOK"\n')
        url = f"http://127.0.0.1:{self.server.port}/v1/bank-webhooks/bank"
        status, body, _ = self.baas.http.post(
            "/_control/webhook", {"url": url, "secret": self.secret, "retry_base_ms": 200})
        self.assertEqual(status, 200, body)

    def pending_job(self):
        """A transfer due now, executed by the scheduler and accepted pending by the bank."""
        transfer = self.create_transfer(self.server)
        deadline = time.time() + WAIT
        while time.time() < deadline:
            job = self.first_job(self.server, transfer["id"])
            if job["status"] in TERMINAL:
                break
            time.sleep(0.1)
        self.assertEqual((job["status"], job["result"], job["settlement_status"]),
                         ("FINISHED", "SUCCEEDED", "pending"), job)
        return job

    def settled_state(self, job_id, state):
        deadline = time.time() + WAIT
        while time.time() < deadline:
            status, job, _ = self.server.http.get(f"/v1/jobs/{job_id}")
            self.assertEqual(status, 200, job)
            if job["settlement_status"] == state:
                return job
            time.sleep(0.1)
        self.fail(f"job {job_id} never {state}: {job}")

    def test_settled_and_returned_by_the_generic_protocols_webhooks(self):
        settled, returned = self.pending_job(), self.pending_job()
        status, body, _ = self.baas.http.post("/_control/settle",
                                              {"id": settled["provider_reference"]})
        self.assertEqual(status, 200, body)
        status, body, _ = self.baas.http.post(
            "/_control/return", {"id": returned["provider_reference"], "code": "R09"})
        self.assertEqual(status, 200, body)
        job = self.settled_state(settled["id"], "settled")
        self.assertIsNotNone(job["settled_at"])
        job = self.settled_state(returned["id"], "returned")
        self.assertEqual((job["status"], job["result"], job["return_code"]),
                         ("FINISHED", "RETURNED", "R09"), job)

    def test_a_delivery_signed_with_another_secret_is_refused(self):
        job = self.pending_job()
        other = "whsec_" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
        body = json.dumps({"type": "transfer.updated",
                           "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "data": {"id": job["provider_reference"], "status": "settled"}}).encode()
        key = base64.b64decode(other[len("whsec_"):])
        event_id, ts = "msg_" + uuid.uuid4().hex, int(time.time())
        signature = base64.b64encode(hmac.new(key, f"{event_id}.{ts}.".encode() + body,
                                              hashlib.sha256).digest()).decode()
        status, answer, _ = self.server.http.post(
            "/v1/bank-webhooks/bank", body, token=None,
            headers={"webhook-id": event_id, "webhook-timestamp": str(ts),
                     "webhook-signature": "v1," + signature})
        self.assertEqual(status, 401, answer)
        # Refused before anything was stored: the job is as it was.
        status, after, _ = self.server.http.get(f"/v1/jobs/{job['id']}")
        self.assertEqual(after["settlement_status"], "pending", after)

if __name__ == "__main__":
    main()
