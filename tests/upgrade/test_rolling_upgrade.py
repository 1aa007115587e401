"""A rolling upgrade of two instances on one PostgreSQL during a drain (issue 20 item 2): the
previous release's binary (tests/upgrade/PREVIOUS_RELEASE, RTJOBS_PREVIOUS_BIN) and the current
one (RTJOBS_BIN) process the same due jobs while the current one migrates the database under the
old one, and the old binary is started again against the migrated schema.

  1. The old binary migrates an empty database; the new one's `migrate --status` says pending (3).
  2. The old binary creates the due jobs (loops off), then old instance A drains.
  3. At 10% of the jobs terminal, the new binary runs `rtjobs migrate` (A keeps draining), and
     new instance B starts beside A.
  4. At 35%, A is stopped (SIGTERM, a graceful drain) and an old instance A2 starts on the
     migrated schema; at 65%, A2 is stopped and a new instance A3 takes its place.
  5. Once every job is terminal: each idempotency key was executed at most once at the fake bank,
     each job's end state agrees with the bank (chaos.money_counts), old instances processed
     jobs after the migration, and every instance stopped cleanly with exit code 0.

The fake bank answers in 300 ms; one transfer in 20 is declined, one fails once (503) and one is
executed after the provider's timeout, as in the chaos runs (chaos.source_account), so retries
of unknown outcomes cross the two binaries. Answers are not checked against the OpenAPI
document (RT_E2E_CONTRACT=off): the two binaries serve different ones.
"""
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import chaos  # noqa: E402
from chaos_env import BANK_TIMEOUT_MS  # noqa: E402
from chaos_env import Database as CountedDatabase  # noqa: E402
from harness import RTJOBS, Database, FakeBaas, Server, http_provider_config  # noqa: E402

PREVIOUS = os.environ.get("RTJOBS_PREVIOUS_BIN", "")
JOBS = int(os.environ.get("RT_UPGRADE_JOBS", "300"))
CONVERGE_TIMEOUT = 180
EXIT_PENDING = 3  # app/migrate_status.hpp


class RollingUpgrade(unittest.TestCase):
    def setUp(self):
        if not os.path.isfile(PREVIOUS):
            raise RuntimeError("RTJOBS_PREVIOUS_BIN must name the previous release's binary "
                               "(tests/upgrade/build_previous.sh)")
        self.workdir = tempfile.mkdtemp(prefix="rtjobs-upgrade-")
        self.db = Database("postgresql", self.workdir)
        self.counted = CountedDatabase("postgresql", self.workdir,
                                       types.SimpleNamespace(create_database=lambda: self.db.url))
        self.bank = FakeBaas(chaos.BANK_LATENCY_MS)
        self.servers = []  # (name, Server)

    def tearDown(self):
        for _, server in self.servers:
            server.stop()
        self.bank.stop()
        self.db.drop()
        failed = any(test is self for test, _ in self._outcome.result.failures +
                     self._outcome.result.errors) if hasattr(self._outcome, "result") else False
        if failed:
            for name, server in self.servers:
                sys.stderr.write(f"--- {name}: {server.log_path} (last lines)\n")
                sys.stderr.write("".join(server.output().splitlines(True)[-30:]))
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def serve(self, name, binary, loops=True):
        switch = "true" if loops else "false"
        env = {"RT_SCHEDULER_ENABLED": switch, "RT_RETRIES_ENABLED": switch,
               "RT_BACKUP_ENABLED": "false", "RT_RETRY_BACKOFF": "1", "RT_MAX_RETRIES": "3",
               "RT_CONCURRENCY": "4"}
        server = Server(self.workdir, self.db.url, env,
                        http_provider_config(self.bank.url, BANK_TIMEOUT_MS), binary=binary)
        self.servers.append((name, server))
        return server

    def cli(self, binary, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
        env["RT_DATABASE_URL"] = self.db.url
        return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=120)

    def wait_done(self, fraction):
        chaos.wait_for_done(self.counted, JOBS, int(JOBS * fraction), CONVERGE_TIMEOUT)

    def processed(self, server):
        return server.output().count('"job processed"')

    def test_old_and_new_instances_drain_together_across_the_migration(self):
        old = self.cli(PREVIOUS, "migrate")
        self.assertEqual(old.returncode, 0, old.stderr)
        status = self.cli(RTJOBS, "migrate", "--status")
        self.assertEqual(status.returncode, EXIT_PENDING, status.stdout + status.stderr)

        seeder = self.serve("seed (old)", PREVIOUS, loops=False)
        chaos.create_due_jobs(seeder, JOBS)
        self.assertEqual(seeder.stop(), 0)
        self.assertEqual(self.counted.scalar(
            "SELECT count(*) FROM recurring_transfer_job WHERE status = 'PENDING'"), JOBS)

        a = self.serve("A (old)", PREVIOUS)
        self.wait_done(0.10)
        new = self.cli(RTJOBS, "migrate")
        self.assertEqual(new.returncode, 0, new.stderr)
        self.assertIn("applied now:", new.stdout)
        status = self.cli(RTJOBS, "migrate", "--status")
        self.assertEqual(status.returncode, 0, status.stdout + status.stderr)
        a_before = self.processed(a)
        b = self.serve("B (new)", RTJOBS)

        self.wait_done(0.35)
        self.assertEqual(a.stop(), 0, "old instance A did not stop cleanly")
        a2 = self.serve("A2 (old, on the migrated schema)", PREVIOUS)
        self.wait_done(0.65)
        self.assertEqual(a2.stop(), 0, "old instance A2 did not stop cleanly")
        a3 = self.serve("A3 (new)", RTJOBS)

        _, left = chaos.wait_converged(self.counted, CONVERGE_TIMEOUT)
        self.assertEqual(left, 0, "jobs not terminal")
        jobs = [dict(zip(("id", "transfer", "sequence", "status", "result", "reference", "key"), r))
                for r in self.counted.rows(chaos.JOBS_SQL)]
        self.assertEqual(len(jobs), JOBS)
        transfers = self.bank.transfers()
        per_key = collections.Counter(t["idempotency_key"] for t in transfers)
        self.assertEqual([k for k, n in per_key.items() if n > 1], [], "keys executed twice")
        self.assertEqual(chaos.money_counts(jobs, transfers), (0, 0),
                         "(occurrences executed twice, jobs whose state disagrees with the bank)")
        succeeded = sum(1 for j in jobs if j["result"] == "SUCCEEDED")
        self.assertEqual(len(transfers), succeeded)

        # Both binaries did the work: the old one after the migration (A's jobs after it, and
        # A2's, started on the migrated schema), the new one beside it.
        self.assertGreater(self.processed(a) - a_before, 0, "A processed nothing after the migration")
        self.assertGreater(self.processed(a2), 0, "A2 (old binary, migrated schema) processed nothing")
        self.assertGreater(self.processed(b), 0)
        for server in (b, a3):
            self.assertEqual(server.stop(), 0)
        print(f"\n{JOBS} jobs, {len(transfers)} bank transfers; processed by A {self.processed(a)}, "
              f"A2 {self.processed(a2)}, B {self.processed(b)}, A3 {self.processed(a3)}", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
