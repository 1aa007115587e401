#!/usr/bin/env bash
# Chaos with counts, the full run (issue 17 item 5; docs/TESTING.md, "Chaos"): SIGKILLs during
# a 5,000-job drain against a 300 ms fake bank on SQLite and PostgreSQL, two PostgreSQL
# instances killed in turn, PostgreSQL restarted (immediate) during a drain, a backup's disk
# filled and its S3 server killed; prints a table of counts and fails unless each is as it must
# be. CI runs the same code scaled down (tests/e2e/test_chaos.py).
#   scripts/chaos.sh [--seed N] [--scale ci] [--only kills,...]   (tests/e2e/chaos.py --help)
# Uses RTJOBS_BIN (default build/rtjobs, built by scripts/build.sh when missing). Starts its own
# PostgreSQL 15 on RT_CHAOS_PG_PORT (default 54371) and S3 server (scripts/s3rver.sh); needs node,
# the AWS CLI, and root for the full disk (a tmpfs mount). Takes about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${RTJOBS_BIN:-}" ]; then
  [ -x build/rtjobs ] || scripts/build.sh
  RTJOBS_BIN=build/rtjobs
fi
RTJOBS_BIN=$(realpath "$RTJOBS_BIN")
export RTJOBS_BIN
exec python3 tests/e2e/chaos.py --scale full "$@"
