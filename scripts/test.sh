#!/usr/bin/env bash
# Sets everything up and runs every test: installs what is missing, builds, starts a throwaway
# PostgreSQL 15 on loopback, runs the suites through ctest (unit, store conformance on SQLite
# and PostgreSQL, end-to-end against real rtjobs and fake-BaaS processes), and stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
ROOT=$PWD
trap '"$ROOT/scripts/pg.sh" stop' EXIT
RT_TEST_POSTGRES_URL=$(scripts/pg.sh start)
export RT_TEST_POSTGRES_URL
cd build
ctest --output-on-failure --timeout 900 -j"${RT_TEST_JOBS:-1}" "$@"
