"""The real-bank adapters of SPEC section 8 end to end: one `rtjobs serve` per database with one
provider of each type (treasury_prime, increase, column, unit), each against its own fake bank
process (tools/fake_banks), with the built-in scheduler and retries loops on. Transfers due now
are executed by those loops (no process endpoint calls); the test polls the API until each job
is terminal.

The server, the fakes and the database are shared by the test methods of a class (one per
database), which run in the order of their names: the last two check what all the others left
behind (no credential in any output, nothing executed twice at any bank)."""
import json
import os
import shutil
import sys
import tempfile
import time
import uuid

from harness import (BANK_TYPES, Database, E2ECase, FakeBank, Server, bank_provider_config,
                     for_each_backend, main)

# Provider names in the TOML file: deliberately not the type names, so the test sees that errors
# and rows name the provider, and the configuration's type decides the adapter.
PROVIDER = {"treasury_prime": "tp_bank", "increase": "inc_bank", "column": "col_bank",
            "unit": "unit_bank"}

# What each bank's ACH needs in provider_options (SPEC section 8), and the option the creation
# check must name when it is missing.
ACH_OPTIONS = {
    "increase": {"statement_descriptor": "RENT"},
    "column": {"entry_class_code": "PPD"},
    "treasury_prime": {"sec_code": "ppd"},
    "unit": {"company_entry_description": "RENT"},
}
REQUIRED_ACH_OPTION = {
    "increase": "statement_descriptor",
    "column": "entry_class_code",
    "treasury_prime": "sec_code",
    "unit": "company_entry_description",  # required when the description exceeds 10 characters
}

# The status each fake gives a transfer it has just created (tools/fake_banks/README.md).
CREATED_STATUS = {
    ("increase", "book"): "complete", ("increase", "ach"): "pending_submission",
    ("column", "book"): "COMPLETED", ("column", "ach"): "INITIATED",
    ("unit", "book"): "Sent", ("unit", "ach"): "Pending",
    ("treasury_prime", "book"): "pending", ("treasury_prime", "ach"): "pending",
}

# The bank's own GET of one transfer. Treasury Prime's book transfer is left out: the fake's
# first GET moves it from pending to sent (the bank completes it asynchronously).
GET_PATH = {
    ("increase", "book"): "/account_transfers/{}", ("increase", "ach"): "/ach_transfers/{}",
    ("column", "book"): "/transfers/book/{}", ("column", "ach"): "/transfers/ach/{}",
    ("unit", "book"): "/payments/{}", ("unit", "ach"): "/payments/{}",
    ("treasury_prime", "ach"): "/ach/{}",
}

# The outage status each fake answers first for a flaky<N>_ source account.
OUTAGE_STATUS = {"increase": 500, "column": 503, "unit": 503, "treasury_prime": 502}

# Request paths of a create call, per bank.
CREATE_PATHS = {
    "increase": ("/account_transfers", "/ach_transfers"),
    "column": ("/transfers/book", "/transfers/ach"),
    "unit": ("/payments",),
    "treasury_prime": ("/book", "/ach"),
}

AMOUNT = 5000


def fake_amount(bank, minor):
    """The amount as the bank receives it: Treasury Prime a decimal string, the others cents."""
    return f"{minor // 100}.{minor % 100:02d}" if bank == "treasury_prime" else minor


class BanksCase(E2ECase):
    """Class-level fixture: a database, four fake banks and one `rtjobs serve` for all tests."""

    failed = False

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="rtjobs-e2e-banks-")
        cls.db = Database(cls.backend, cls.workdir)
        cls.fakes = {}
        cls.server = None
        cls.outputs = []  # (what, text) of every rtjobs process started, for the secrets check
        try:
            for bank in BANK_TYPES:
                cls.fakes[bank] = FakeBank(bank)
            env = {"RT_SCHEDULER_ENABLED": "true", "RT_RETRIES_ENABLED": "true",
                   "RT_BACKUP_ENABLED": "false", "RT_RETRY_BACKOFF": "0",
                   "RT_LOG_LEVEL": "debug"}
            for fake in cls.fakes.values():
                env.update(fake.env)
            cls.env = env
            cls.server = Server(cls.workdir, cls.db.url, env, cls.providers_config())
        except BaseException:
            cls.failed = True
            cls.tearDownClass()
            raise

    @classmethod
    def providers_config(cls):
        return "\n".join(bank_provider_config(PROVIDER[bank], fake)
                         for bank, fake in cls.fakes.items())

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.stop()
        for fake in cls.fakes.values():
            fake.stop()
        cls.db.drop()
        if cls.failed or os.environ.get("RT_E2E_KEEP"):
            sys.stderr.write(f"--- kept {cls.workdir}\n")
        else:
            shutil.rmtree(cls.workdir, ignore_errors=True)

    def setUp(self):
        pass

    def tearDown(self):
        if self._failed():
            type(self).failed = True
            if self.server is not None:
                sys.stderr.write(f"--- rtjobs log {self.server.log_path} (last lines)\n")
                sys.stderr.write("".join(self.server.output().splitlines(True)[-60:]))

    # --- helpers ---

    def create(self, bank, source, rail="book", options=None, amount=AMOUNT, description="rent",
               currency="USD", provider=None, expect=201):
        today = time.strftime("%Y-%m-%d", time.gmtime())
        body = {"provider": provider or PROVIDER[bank], "source_account": source,
                "destination_account": f"dst_{bank}_{uuid.uuid4().hex[:8]}",
                "amount": amount, "currency": currency, "description": description,
                "rail": rail,
                "schedule": {"frequency": "MONTHLY", "start_date": today}}
        if options is not None:
            body["provider_options"] = options
        status, answer, _ = self.server.http.post("/v1/recurring-transfers", body)
        self.assertEqual(status, expect, answer)
        return answer

    def wait_terminal(self, job_ids, timeout=60):
        """Polls GET /v1/jobs/{id} until every job is terminal; returns them by id."""
        terminal = {"FINISHED", "FAILED", "SKIPPED", "CANCELLED"}
        done, deadline = {}, time.time() + timeout
        while time.time() < deadline:
            for job_id in job_ids:
                if job_id in done:
                    continue
                status, job, _ = self.server.http.get(f"/v1/jobs/{job_id}")
                self.assertEqual(status, 200, job)
                if job["status"] in terminal:
                    done[job_id] = job
            if len(done) == len(job_ids):
                return done
            time.sleep(0.1)
        late = {j: self.server.http.get(f"/v1/jobs/{j}")[1]["status"]
                for j in job_ids if j not in done}
        self.fail(f"jobs not terminal after {timeout} s: {late}")

    def statuses(self, job_id):
        status, body, _ = self.server.http.get(f"/v1/jobs/{job_id}/provider-statuses")
        self.assertEqual(status, 200, body)
        return body["data"]

    def executed(self, bank, key):
        return [t for t in self.fakes[bank].transfers() if t["idempotency_key"] == key]

    def attempts(self, bank):
        """The fake's record of every request, without the credentials each one carried."""
        return [{k: v for k, v in a.items() if k != "authorization"}
                for a in self.fakes[bank].attempts()]

    def create_attempts(self, bank, key):
        return [a for a in self.attempts(bank)
                if a["method"] == "POST" and a["idempotency_key"] == key]

    def all_jobs(self, query=""):
        return self.all_pages(self.server, "/v1/jobs?limit=500" + query)

    def one_book_transfer_per_bank(self, prefix):
        """Creates a book transfer due now at each bank from the account `{prefix}{bank}` and
        waits until the scheduler has taken each first job to a terminal state.
        Returns {bank: (job as created, job when terminal)}."""
        created = {}
        for bank in BANK_TYPES:
            transfer = self.create(bank, f"{prefix}{bank}")
            created[bank] = self.first_job(self.server, transfer["id"])
        done = self.wait_terminal([job["id"] for job in created.values()])
        return {bank: (job, done[job["id"]]) for bank, job in created.items()}

    def run_start_up(self, name, config):
        """Starts `rtjobs serve` with `config`, expecting it to refuse; returns its output."""
        workdir = os.path.join(self.workdir, "start-up-" + name)
        os.makedirs(workdir, exist_ok=True)
        server = Server(workdir, self.db.url, self.env, config, wait=False)
        try:
            rc = server.wait_exit(30)
        except Exception:
            server.kill()
            raise
        output = server.output()
        type(self).outputs.append((f"start-up {name}", output))
        self.assertNotEqual(rc, 0, output)
        self.assertNotIn('"listening"', output)
        return output


@for_each_backend
class Banks(BanksCase):
    def test_1_book_and_ach_transfers_succeed_at_each_bank(self):
        created = []  # (bank, rail, job)
        for bank in BANK_TYPES:
            for rail in ("book", "ach"):
                options = ACH_OPTIONS[bank] if rail == "ach" else None
                transfer = self.create(bank, f"acc_{bank}_{rail}", rail=rail, options=options)
                self.assertEqual((transfer["rail"], transfer["provider_options"]), (rail, options))
                created.append((bank, rail, self.first_job(self.server, transfer["id"])))
        done = self.wait_terminal([job["id"] for _, _, job in created])
        for bank, rail, job in created:
            with self.subTest(bank=bank, rail=rail):
                final = done[job["id"]]
                self.assertEqual((final["status"], final["result"], final["retries"]),
                                 ("FINISHED", "SUCCEEDED", 0), final)
                executed = self.executed(bank, job["idempotency_key"])
                self.assertEqual(len(executed), 1, executed)
                transfer = executed[0]
                self.assertEqual(final["provider_reference"], transfer["id"])
                self.assertEqual(transfer["kind"], rail)
                self.assertEqual(transfer["amount"], fake_amount(bank, AMOUNT))
                self.assertEqual(transfer["source"], f"acc_{bank}_{rail}")
                self.assertEqual(final["bank_status"], CREATED_STATUS[(bank, rail)])
                if (bank, rail) in GET_PATH:
                    status, seen, _ = self.fakes[bank].bank_get(
                        GET_PATH[(bank, rail)].format(transfer["id"]))
                    self.assertEqual(status, 200, seen)
                    seen = seen.get("data", seen) if bank == "unit" else seen
                    seen_status = seen["attributes"]["status"] if bank == "unit" else seen["status"]
                    self.assertEqual(final["bank_status"], seen_status)
                self.assertEqual(self.statuses(job["id"]), [])
                # One call, and the ACH one carried the bank's option as its field.
                attempts = self.create_attempts(bank, job["idempotency_key"])
                self.assertEqual(len(attempts), 1, attempts)
                sent = json.loads(attempts[0]["body"])
                if rail == "ach":
                    if bank == "unit":
                        self.assertEqual(sent["data"]["attributes"]["description"], "RENT")
                    else:
                        (name, value), = ACH_OPTIONS[bank].items()
                        self.assertEqual(sent[name], value)

    def test_2_refusals_finish_declined_with_the_bank_answer(self):
        for bank, (job, final) in self.one_book_transfer_per_bank("decline_").items():
            with self.subTest(bank=bank):
                self.assertEqual((final["status"], final["result"], final["retries"]),
                                 ("FINISHED", "DECLINED", 0), final)
                rows = self.statuses(job["id"])
                self.assertEqual(len(rows), 1, rows)
                row = rows[0]
                self.assertEqual((row["code"], row["attempt"], row["provider"]),
                                 ("insufficient_funds", 1, PROVIDER[bank]), row)
                raw = json.loads(row["response_body"])
                if bank == "increase":
                    self.assertEqual(row["http_status"], 409)
                    self.assertEqual(raw["type"], "invalid_operation_error")
                    self.assertIn("insufficient balance", raw["detail"])
                elif bank == "column":
                    self.assertEqual(row["http_status"], 400)
                    self.assertEqual((raw["type"], raw["code"]), ("transfer_error", "insufficient_funds"))
                elif bank == "unit":
                    self.assertEqual(row["http_status"], 201)  # a created payment, Rejected
                    attributes = raw["data"]["attributes"]
                    self.assertEqual((attributes["status"], attributes["reason"]),
                                     ("Rejected", "InsufficientFunds"))
                    # The refused payment has an id at the bank: the job keeps it.
                    self.assertEqual(final["provider_reference"], raw["data"]["id"])
                    self.assertEqual(final["bank_status"], "Rejected")
                else:
                    self.assertEqual(row["http_status"], 200)  # a created object, status error
                    self.assertEqual((raw["status"], raw["error"]), ("error", "Insufficient funds"))
                    self.assertEqual(final["provider_reference"], raw["id"])
                    self.assertEqual(final["bank_status"], "error")
                self.assertEqual(self.executed(bank, job["idempotency_key"]), [])
                self.assertEqual(len(self.create_attempts(bank, job["idempotency_key"])), 1)

    def test_3_an_outage_is_retried_under_the_same_key_and_executes_once(self):
        for bank, (job, final) in self.one_book_transfer_per_bank("flaky1_").items():
            with self.subTest(bank=bank):
                self.assertEqual((final["status"], final["result"], final["retries"]),
                                 ("FINISHED", "SUCCEEDED", 1), final)
                key = job["idempotency_key"]
                self.assertEqual(final["idempotency_key"], key)
                # Every call about this job, lookups by key included, in arrival order.
                attempts = [a for a in self.attempts(bank)
                            if a["idempotency_key"] == key or key in (a["path"] or "")
                            or key in (a["body"] or "")]
                creates = [a for a in attempts if a["method"] == "POST"]
                self.assertEqual([(a["idempotency_key"], a["status"]) for a in creates],
                                 [(key, OUTAGE_STATUS[bank]), (key, creates[1]["status"])],
                                 attempts)
                self.assertTrue(200 <= creates[1]["status"] <= 299, creates[1])
                self.assertTrue(all(a["path"] in CREATE_PATHS[bank] for a in creates), creates)
                executed = self.executed(bank, key)
                self.assertEqual(len(executed), 1, executed)
                self.assertEqual(final["provider_reference"], executed[0]["id"])
                rows = self.statuses(job["id"])
                self.assertEqual([(r["attempt"], r["http_status"]) for r in rows],
                                 [(1, OUTAGE_STATUS[bank])], rows)

    def test_4_creation_checks_each_bank_rules(self):
        status, before, _ = self.server.http.get("/v1/recurring-transfers?limit=500")
        self.assertEqual(status, 200, before)
        for bank in BANK_TYPES:
            with self.subTest(bank=bank, check="ach without its option"):
                answer = self.create(bank, f"acc_{bank}_invalid", rail="ach", options={},
                                     description="monthly rent payment", expect=400)
                self.assertEqual(answer["error"]["field"],
                                 "provider_options." + REQUIRED_ACH_OPTION[bank], answer)
            with self.subTest(bank=bank, check="rail wire"):
                answer = self.create(bank, f"acc_{bank}_invalid", rail="wire", expect=400)
                self.assertEqual(answer["error"]["field"], "rail", answer)
        with self.subTest(check="ach at the sandbox"):
            answer = self.create("sandbox", "acc_sandbox", rail="ach", provider="sandbox",
                                 expect=400)
            self.assertEqual(answer["error"]["field"], "rail", answer)
        with self.subTest(check="JPY at Increase"):
            answer = self.create("increase", "acc_increase_jpy", currency="JPY", expect=400)
            self.assertEqual(answer["error"]["field"], "currency", answer)
        status, after, _ = self.server.http.get("/v1/recurring-transfers?limit=500")
        self.assertEqual(len(after["data"]), len(before["data"]))

    def test_5_start_up_refuses_bad_provider_tables(self):
        fake = self.fakes["increase"]
        unset = "E2E_UNSET_" + uuid.uuid4().hex
        self.assertNotIn(unset, os.environ)
        valid_others = "\n".join(bank_provider_config(PROVIDER[b], self.fakes[b])
                                 for b in BANK_TYPES if b != "increase")
        cases = {
            # name: (table body, the key the message must name)
            "no_token_env": (f'type = "increase"\nbase_url = "{fake.url}"\n', "token_env"),
            "unset_token_env": (f'type = "increase"\nbase_url = "{fake.url}"\n'
                                f'token_env = "{unset}"\n', "token_env"),
            "unknown_key": (f'type = "increase"\nbase_url = "{fake.url}"\n'
                            f'token_env = "E2E_INCREASE_TOKEN"\napi_key_env = "E2E_INCREASE_TOKEN"\n',
                            "api_key_env"),
            "unknown_type": (f'type = "wise"\nbase_url = "{fake.url}"\n'
                             f'token_env = "E2E_INCREASE_TOKEN"\n', "type"),
            "ftp_base_url": ('type = "increase"\nbase_url = "ftp://x"\n'
                             'token_env = "E2E_INCREASE_TOKEN"\n', "base_url"),
            "column_no_api_key_env": ('type = "column"\n', "api_key_env"),
            "unit_no_token_env": ('type = "unit"\n', "token_env"),
            "tp_no_secret_env": ('type = "treasury_prime"\nkey_id_env = "E2E_TP_KEY_ID"\n',
                                 "secret_env"),
        }
        for name, (table, key) in cases.items():
            with self.subTest(case=name):
                config = valid_others + f"\n[providers.bad_bank]\n{table}"
                output = self.run_start_up(name, config)
                self.assertIn(f"providers.bad_bank.{key}", output)
                if name == "unset_token_env":
                    self.assertIn(unset, output)  # the operator learns which variable
        self.assertEqual(self.server.proc.poll(), None)  # the serving process is untouched

    def test_8_credentials_never_appear_in_output_metrics_or_openapi(self):
        secrets = [s for fake in self.fakes.values() for s in fake.secrets()]
        self.assertEqual(len(secrets), 7)
        status, metrics, _ = self.server.http.get("/metrics")
        self.assertEqual(status, 200, metrics)
        status, openapi, _ = self.server.http.get("/openapi.json")
        self.assertEqual(status, 200, openapi)
        status, ready, _ = self.server.http.get("/readyz", token=None)
        texts = [("GET /metrics", metrics), ("GET /openapi.json", json.dumps(openapi)),
                 ("GET /readyz", json.dumps(ready)),
                 ("rtjobs serve output", self.server.output())] + self.outputs
        jobs = self.all_jobs()
        texts.append(("GET /v1/jobs", json.dumps(jobs)))
        for job in jobs:
            texts.append((f"provider statuses of {job['id']}", json.dumps(self.statuses(job["id"]))))
        self.assertIn('"level":"debug"', self.server.output().replace(" ", ""))
        for what, text in texts:
            for secret in secrets:
                at = text.find(secret)
                if at >= 0:  # the context, without the credential itself
                    context = text[max(0, at - 120):at] + "<credential>"
                    self.fail(f"a credential appears in {what}: ...{context}")

    def test_9_nothing_executed_twice_at_any_bank(self):
        succeeded = {}
        for job in self.all_jobs("&status=FINISHED"):
            if job["result"] == "SUCCEEDED":
                succeeded.setdefault(job["provider"], []).append(job)
        for bank, fake in self.fakes.items():
            with self.subTest(bank=bank):
                executed = fake.transfers()
                keys = [t["idempotency_key"] for t in executed]
                self.assertEqual(len(keys), len(set(keys)), executed)
                jobs = succeeded.get(PROVIDER[bank], [])
                self.assertEqual(len(executed), len(jobs))
                self.assertEqual(set(keys), {j["idempotency_key"] for j in jobs})
                self.assertEqual({t["id"] for t in executed},
                                 {j["provider_reference"] for j in jobs})


if __name__ == "__main__":
    main()
