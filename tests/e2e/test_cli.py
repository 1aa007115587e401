"""The operator CLI (issue 20 item 4) end to end: `rtjobs transfers|jobs|backups` against a real
`rtjobs serve` on SQLite and on PostgreSQL, and `rtjobs check-config [--probe]` against the fake
banks. Scripts rely on the exit codes (src/cli/exit_codes.hpp) and on --json being the API's
JSON; people on the tables and on one line on stderr per failure."""
import json
import os
import pty
import socket
import subprocess
import time
import unittest
import uuid

import harness
from harness import (BANK_TYPES, BAAS_TOKEN, RTJOBS, TOKEN, E2ECase, FakeBaas, FakeBank,
                     bank_provider_config, for_each_backend, http_provider_config, main)

OK, FAILED, USAGE, NOT_FOUND, CONFLICT, AUTH, UNAVAILABLE = 0, 1, 2, 3, 4, 5, 6


def run_cli(args, env=None, url=None, token=TOKEN, timeout=60):
    """Runs `rtjobs ARGS` with only the given RT_* variables; (exit code, stdout, stderr)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
    if url:
        full_env["RT_URL"] = url
    if token:
        full_env["RT_API_TOKEN"] = token
    full_env.update(env or {})
    p = subprocess.run([RTJOBS] + args, env=full_env, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CliCase(E2ECase):
    def cli(self, server, *args, **kw):
        return run_cli(list(args), url=f"http://127.0.0.1:{server.port}", **kw)

    def cli_on_terminal(self, server, *args):
        """Runs the CLI with stderr on a pseudo-terminal; (exit code, stdout, what the terminal
        showed)."""
        main_fd, term_fd = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
        env.update({"RT_URL": f"http://127.0.0.1:{server.port}", "RT_API_TOKEN": TOKEN})
        p = subprocess.Popen([RTJOBS, *args], env=env, stdout=subprocess.PIPE, stderr=term_fd,
                             text=True)
        os.close(term_fd)
        shown = b""
        while True:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # EIO: the terminal's last writer has exited
                break
            if not chunk:
                break
            shown += chunk
        out = p.stdout.read()
        p.stdout.close()
        rc = p.wait(timeout=60)
        os.close(main_fd)
        return rc, out, shown.decode()

    def ok_json(self, server, *args):
        rc, out, err = self.cli(server, *args, "--json")
        self.assertEqual((rc, err), (OK, ""), out)
        return json.loads(out)

    def assert_one_line_error(self, result, code, *fragments):
        rc, out, err = result
        self.assertEqual(rc, code, (out, err))
        self.assertEqual(out, "")
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.startswith("rtjobs: "), err)
        for f in fragments:
            self.assertIn(f, err)

    def table(self, text):
        """The table's lines as {header: cell} rows, cut where the header's columns start (two
        blanks before a name); each cell must start right there, so misaligned columns fail."""
        lines = text.rstrip("\n").split("\n")
        header = lines[0]
        starts = [0] + [i for i in range(2, len(header))
                        if header[i] != " " and header[i - 2:i] == "  "]
        bounds = list(zip(starts, starts[1:] + [None]))
        names = [header[a:b].strip() for a, b in bounds]
        rows = []
        for line in lines[1:]:
            for a in starts[1:]:
                self.assertEqual((line[a - 1], line[a] != " "), (" ", True),
                                 f"not aligned at column {a}: {line!r}")
            rows.append({n: line[a:b].strip() for n, (a, b) in zip(names, bounds)})
        return rows


@for_each_backend
class Cli(CliCase):
    def test_transfers_list_get_pause_resume_cancel(self):
        server = self.start_server()
        created = [self.create_transfer(server, amount=5000 + i) for i in range(3)]
        ids = [t["id"] for t in created]

        # --json is the API's list; --limit pages, and --cursor goes on where it stopped.
        first = self.ok_json(server, "transfers", "list", "--limit", "2")
        self.assertEqual(len(first["data"]), 2)
        self.assertIsNotNone(first["next_cursor"])
        rest = self.ok_json(server, "transfers", "list", "--cursor", first["next_cursor"])
        self.assertIsNone(rest["next_cursor"])
        self.assertEqual(sorted(t["id"] for t in first["data"] + rest["data"]), sorted(ids))
        api_page = server.http.get("/v1/recurring-transfers?limit=2")[1]
        self.assertEqual(first, api_page)

        # The table: one aligned row per transfer, the amount in major units.
        rc, out, err = self.cli(server, "transfers", "list")
        self.assertEqual((rc, err), (OK, ""))
        rows = self.table(out)
        self.assertEqual(list(rows[0])[:4], ["ID", "STATUS", "PROVIDER", "AMOUNT"])
        by_id = {r["ID"]: r for r in rows}
        self.assertEqual(sorted(by_id), sorted(ids))
        self.assertEqual(by_id[ids[1]]["AMOUNT"], "50.01 USD")
        self.assertEqual(by_id[ids[1]]["STATUS"], "ACTIVE")
        self.assertEqual(by_id[ids[1]]["FREQUENCY"], "MONTHLY")
        rc, out, _ = self.cli(server, "transfers", "list", "--limit", "1")
        self.assertEqual(len(self.table(out)), 1)

        tid = ids[0]
        self.assertEqual(self.ok_json(server, "transfers", "get", tid),
                         server.http.get(f"/v1/recurring-transfers/{tid}")[1])
        rc, out, _ = self.cli(server, "transfers", "get", tid)
        fields = dict(line.split(None, 1) for line in out.strip().split("\n"))
        self.assertEqual((rc, fields["id"], fields["status"], fields["schedule.frequency"]),
                         (OK, tid, "ACTIVE", "MONTHLY"))

        self.assertEqual(self.ok_json(server, "transfers", "pause", tid)["status"], "PAUSED")
        self.assertEqual(server.http.get(f"/v1/recurring-transfers/{tid}")[1]["status"], "PAUSED")
        self.assert_one_line_error(self.cli(server, "transfers", "pause", tid), CONFLICT,
                                   "409", "PAUSED")
        self.assertEqual(self.ok_json(server, "transfers", "resume", tid)["status"], "ACTIVE")
        self.assertEqual(self.ok_json(server, "transfers", "cancel", tid)["status"], "CANCELLED")
        self.assert_one_line_error(self.cli(server, "transfers", "resume", tid), CONFLICT, "409")
        status_of = {t["id"]: t["status"] for t in self.ok_json(server, "transfers", "list", "--status",
                                                                 "CANCELLED")["data"]}
        self.assertEqual(status_of, {tid: "CANCELLED"})

        # Bad input: each one line on stderr and its exit code.
        unknown = str(uuid.uuid4())
        self.assert_one_line_error(self.cli(server, "transfers", "get", unknown), NOT_FOUND,
                                   "404", "not_found")
        self.assert_one_line_error(self.cli(server, "transfers", "cancel", unknown), NOT_FOUND, "404")
        self.assert_one_line_error(self.cli(server, "transfers", "get", "not-an-id"), USAGE, "400")
        self.assert_one_line_error(self.cli(server, "transfers", "list", "--status", "NOPE"), USAGE,
                                   "400", "status")
        self.assert_one_line_error(self.cli(server, "transfers", "list", token="wrong-token"), AUTH,
                                   "401", "RT_API_TOKEN")
        # --token wins over RT_API_TOKEN.
        self.assert_one_line_error(
            self.cli(server, "transfers", "get", tid, "--token", "wrong-token"), AUTH, "401")
        self.assertEqual(self.cli(server, "transfers", "get", tid, "--json", "--token", TOKEN,
                                  token="wrong-token")[0], OK)
        port = closed_port()
        self.assert_one_line_error(
            run_cli(["transfers", "list"], url=f"http://127.0.0.1:{port}"), UNAVAILABLE,
            "cannot reach the server", f"127.0.0.1:{port}")
        self.assert_one_line_error(
            run_cli(["jobs", "get", unknown, "--url", f"http://127.0.0.1:{port}"]), UNAVAILABLE,
            "cannot reach the server")
        rc, _, err = self.cli(server, "transfers")
        self.assertEqual(rc, USAGE, err)

    def test_jobs_list_get_retry_and_skip(self):
        server = self.start_server({"RT_MAX_RETRIES": "0"})
        down = self.create_transfer(server, source="down_acc")  # the fake bank answers 503
        job = self.first_job(server, down["id"])
        status, failed, _ = server.http.post(f"/v1/jobs/{job['id']}/process")
        self.assertEqual((status, failed["status"]), (200, "FAILED"), failed)

        listed = self.ok_json(server, "jobs", "list", "--transfer", down["id"])
        self.assertEqual(listed["data"], self.jobs_of(server, down["id"]))
        only_failed = self.ok_json(server, "jobs", "list", "--status", "FAILED")["data"]
        self.assertEqual([j["id"] for j in only_failed], [job["id"]])
        rc, out, _ = self.cli(server, "jobs", "list", "--status", "FAILED")
        rows = self.table(out)
        self.assertEqual(rc, OK)
        self.assertEqual([(r["ID"], r["STATUS"], r["TRANSFER"]) for r in rows],
                         [(job["id"], "FAILED", down["id"])])
        self.assertTrue(rows[0]["LAST ERROR"])
        self.assertEqual(self.ok_json(server, "jobs", "get", job["id"]), failed)

        retried = self.ok_json(server, "jobs", "retry", job["id"])
        self.assertEqual((retried["status"], retried["retries"]), ("RETRY", 0))
        self.assertEqual(server.http.get(f"/v1/jobs/{job['id']}")[1]["status"], "RETRY")
        self.assert_one_line_error(self.cli(server, "jobs", "retry", job["id"]), CONFLICT,
                                   "409", "job_not_failed")
        self.assert_one_line_error(self.cli(server, "jobs", "retry", str(uuid.uuid4())), NOT_FOUND,
                                   "404")

        # A job that has not run is skipped (POST /v1/jobs/{id}/skip). A server without the
        # route (an older one) is reported as such: exit 3, its 404 or 405 on one line.
        later = self.jobs_of(server, down["id"])[1]
        self.assertEqual(later["status"], "PENDING")
        paths = server.http.get("/openapi.json")[1]["paths"]
        if "post" in paths.get("/v1/jobs/{job_id}/skip", {}):
            skipped = self.ok_json(server, "jobs", "skip", later["id"])
            self.assertEqual((skipped["id"], skipped["status"]), (later["id"], "SKIPPED"))
            self.assertEqual(server.http.get(f"/v1/jobs/{later['id']}")[1]["status"], "SKIPPED")
            self.assert_one_line_error(self.cli(server, "jobs", "skip", str(uuid.uuid4())),
                                       NOT_FOUND, "404")
        else:
            rc, out, err = self.cli(server, "jobs", "skip", later["id"])
            self.assertEqual((rc, out, err.count("\n")), (NOT_FOUND, "", 1), err)
            self.assertRegex(err, r"^rtjobs: the server answered HTTP (404|405)")
            self.assertEqual(server.http.get(f"/v1/jobs/{later['id']}")[1]["status"], "PENDING")

    def test_backups_run_and_list(self):
        server = self.start_server()
        rc, out, err = self.cli(server, "backups", "run", "--force", "--json")
        self.assertEqual(rc, OK, err)
        run = json.loads(out)
        self.assertEqual((run["status"], run["phase"]), ("succeeded", "done"))
        self.assertEqual(run, server.http.get(f"/v1/backups/{run['id']}")[1])
        # Not a terminal: plain progress lines naming the run, the last one the end.
        lines = err.strip().split("\n")
        self.assertTrue(all(l.startswith(f"backup run {run['id']}: ") for l in lines), err)
        self.assertTrue(lines[-1].startswith(f"backup run {run['id']}: done: "), err)
        self.assertNotIn("\r", err)

        # On a terminal: a bar redrawn in place, ending full.
        rc, out, bar = self.cli_on_terminal(server, "backups", "run", "--force", "--json")
        self.assertEqual(rc, OK, bar)
        self.assertEqual(json.loads(out)["status"], "succeeded")
        self.assertTrue(bar.startswith("\r["), repr(bar))
        last = bar.rstrip("\r\n").split("\r")[-1]
        self.assertRegex(last, r"^\[#{24}\] done: ")

        listed = self.ok_json(server, "backups", "list")
        self.assertEqual(listed, server.http.get("/v1/backups?limit=50")[1])
        self.assertTrue(listed["data"])
        rc, out, _ = self.cli(server, "backups", "list")
        rows = self.table(out)
        self.assertEqual([r["ID"] for r in rows], [b["id"] for b in listed["data"]])
        self.assertEqual(rows[0]["JOB ROWS"], str(listed["data"][0]["job_rows"]))

        rc, out, err = self.cli(server, "backups", "run")  # the months check: a run, no backup
        self.assertEqual(rc, OK, err)
        fields = dict(line.split(None, 1) for line in out.strip().split("\n"))
        self.assertEqual(fields["status"], "succeeded")
        self.assert_one_line_error(self.cli(server, "backups", "list", token="nope"), AUTH, "401")


class CheckConfig(unittest.TestCase):
    """check-config needs no database: the checks serve makes before opening it."""

    def setUp(self):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="rtjobs-cli-")
        self.fakes = []

    def tearDown(self):
        for f in self.fakes:
            f.stop()
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, config, *args, env=None):
        path = os.path.join(self.dir, "rtjobs.toml")
        with open(path, "w") as f:
            f.write(config)
        base = {"RT_DATABASE_URL": "sqlite://" + os.path.join(self.dir, "never-opened.db")}
        base.update(env or {})
        result = run_cli(["check-config", "--config", path, *args], env=base, token=None)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "never-opened.db")))
        return result

    def test_a_good_configuration_and_its_probe(self):
        baas = FakeBaas()
        self.fakes.append(baas)
        config = http_provider_config(baas.url)
        rc, out, err = self.check(config, env={"BAAS_TOKEN": BAAS_TOKEN})
        self.assertEqual((rc, out, err), (OK, "configuration valid; providers: bank, sandbox\n", ""))
        rc, out, err = self.check(config, "--probe", env={"BAAS_TOKEN": BAAS_TOKEN})
        self.assertEqual((rc, err), (OK, ""), out)
        self.assertRegex(out, rf"provider bank \(http, {baas.url}\): reachable, credentials "
                              r"accepted \(HTTP 404\), \d+ ms\n")
        self.assertIn("provider sandbox (sandbox): not probed (no remote API)\n", out)
        self.assertEqual(len(baas.attempts()), 0)  # a read: no transfer attempted
        # A wrong token: refused, exit 1; the token never printed.
        rc, out, err = self.check(config, "--probe", env={"BAAS_TOKEN": "wrong-secret-value"})
        self.assertEqual(rc, FAILED, out + err)
        self.assertIn("reachable, credentials refused (HTTP 401)", out)
        self.assertNotIn("wrong-secret-value", out + err)
        self.assertNotIn(BAAS_TOKEN, out + err)

    def test_probe_of_each_bank_and_an_unreachable_one(self):
        config, env, secrets = "", {}, []
        for bank in BANK_TYPES:
            fake = FakeBank(bank)
            self.fakes.append(fake)
            config += bank_provider_config(bank, fake)
            env.update(fake.env)
            secrets += fake.secrets()
        rc, out, err = self.check(config, "--probe", env=env)
        self.assertEqual((rc, err), (OK, ""), out)
        for bank in BANK_TYPES:
            self.assertRegex(out, rf"provider {bank} \({bank}, http://127.0.0.1:\d+\): reachable, "
                                  r"credentials accepted \(HTTP \d+\), \d+ ms")
        for s in secrets:
            self.assertNotIn(s, out + err)
        # One bank's credentials swapped for another's, and one bank out of reach.
        env["E2E_UNIT_TOKEN"] = env["E2E_INCREASE_TOKEN"]
        port = closed_port()
        config += (f'[providers.gone]\ntype = "http"\nbase_url = "http://127.0.0.1:{port}"\n'
                   'timeout_ms = 2000\n')
        rc, out, err = self.check(config, "--probe", env=env)
        self.assertEqual(rc, FAILED, out + err)
        self.assertRegex(out, r"provider unit \(unit, [^)]*\): reachable, credentials refused")
        self.assertRegex(out, r"provider increase \(increase, [^)]*\): reachable, credentials "
                              r"accepted")
        self.assertRegex(out, rf"provider gone \(http, http://127.0.0.1:{port}\): unreachable: ")

    def test_a_bad_configuration_names_each_setting(self):
        rc, out, err = self.check('[providers.bank]\ntype = "nope"\n')
        self.assertEqual((rc, out), (USAGE, ""), err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("rtjobs: invalid configuration: providers.bank.type: ", err)
        rc, out, err = self.check("", env={"RT_MAX_RETRIES": "many"})
        self.assertEqual(rc, USAGE, err)
        self.assertIn("invalid configuration: RT_MAX_RETRIES: ", err)
        # Problems found after loading are each reported: an exposed listener without a token,
        # a holiday calendar whose file is missing, and backups to S3 without credentials.
        rc, out, err = self.check('[calendars]\nbank_holidays = "/nonexistent/holidays.txt"\n',
                                  env={"RT_LISTEN": "0.0.0.0:8080",
                                       "RT_BACKUP_URL": "s3://rtjobs-backups/prod",
                                       "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
        self.assertEqual((rc, out), (USAGE, ""), err)
        self.assertEqual(err.count("\n"), 3, err)
        self.assertIn("invalid configuration: AWS_ACCESS_KEY_ID: ", err)
        self.assertIn("invalid configuration: RT_API_TOKEN: ", err)
        self.assertIn("invalid configuration: calendars.bank_holidays: ", err)


if __name__ == "__main__":
    main()
