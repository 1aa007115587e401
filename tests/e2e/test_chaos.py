"""The chaos run of scripts/chaos.sh scaled down for CI (chaos.py, scale "ci": 500 jobs, 5
SIGKILLs per database, 2 on two PostgreSQL instances, one PostgreSQL restart, the backup's full
disk and S3 kill), and its counting checked on made-up bank records. RT_CHAOS_SEED replays a
run's random moments; the seed is printed either way."""
import os
import random
import unittest

import chaos
from harness import main


def job(i, status="FINISHED", result="SUCCEEDED", reference=None):
    return {"id": f"job{i}", "transfer": f"tr{i}", "sequence": "1", "status": status,
            "result": result, "reference": reference or f"bank{i}", "key": f"tr{i}:1"}


def executed(i, key=None, reference=None, bank_id=None):
    return {"id": bank_id or f"bank{i}", "idempotency_key": key or f"tr{i}:1",
            "reference": reference or f"job{i}"}


class MoneyCounts(unittest.TestCase):
    """The counts would see the defects they are there for."""

    def test_one_execution_per_job_counts_nothing(self):
        jobs = [job(1), job(2), job(3, "FINISHED", "DECLINED", reference="")]
        self.assertEqual(chaos.money_counts(jobs, [executed(1), executed(2)]), (0, 0))

    def test_a_second_execution_is_counted_by_key_reference_or_occurrence(self):
        jobs = [job(1), job(2)]
        same_key = executed(1, bank_id="other", reference="job2")
        self.assertEqual(chaos.money_counts(jobs, [executed(1), executed(2), same_key])[0], 2)
        same_job = executed(1, key="another-key", bank_id="other")
        self.assertEqual(chaos.money_counts(jobs, [executed(1), executed(2), same_job])[0], 1)
        # A second job row for the same occurrence (transfer, sequence) with its own key.
        twin = dict(job(9), transfer="tr1", key="tr1:again")
        jobs.append(twin)
        self.assertEqual(chaos.money_counts(jobs, [executed(1), executed(2), executed(9, key="tr1:again")])[0], 1)

    def test_an_end_state_the_bank_contradicts_is_counted(self):
        failed_with_money_moved = job(1, "FAILED", "")
        succeeded_without_transfer = job(2)
        wrong_reference = job(3, reference="bank-other")
        jobs = [failed_with_money_moved, succeeded_without_transfer, wrong_reference]
        self.assertEqual(chaos.money_counts(jobs, [executed(1), executed(3)]), (0, 3))


class ChaosCi(unittest.TestCase):
    def test_faults_during_drains_and_backups_leave_every_count_at_zero(self):
        seed = int(os.environ.get("RT_CHAOS_SEED") or random.SystemRandom().randrange(1 << 32))
        rows = chaos.run(chaos.SCALES["ci"], seed)
        print(f"\nchaos seed {seed}\n" + chaos.table(rows), flush=True)
        expected = [("kills", "sqlite"), ("backup", "sqlite"), ("kills", "postgresql"),
                    ("two instances", "postgresql"), ("pg restart", "postgresql"),
                    ("backup", "postgresql")]
        self.assertEqual([(r.scenario, r.database) for r in rows], expected)
        for r in rows:
            with self.subTest(scenario=r.scenario, database=r.database, seed=seed):
                self.assertEqual(r.problems, [])
                self.assertEqual(r.faults_done, r.planned_faults)
                if r.scenario == "backup":
                    self.assertEqual(r.rows_lost, 0)
                else:
                    self.assertEqual((r.not_terminal, r.executed_twice, r.state_vs_bank), (0, 0, 0))


if __name__ == "__main__":
    main()
