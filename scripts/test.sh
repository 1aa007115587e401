#!/usr/bin/env bash
# Sets everything up and runs every test: installs what is missing, builds, starts a throwaway
# PostgreSQL 15 on loopback, runs the suites through ctest (unit, store conformance on SQLite
# and PostgreSQL, end-to-end against real rtjobs and fake-BaaS processes, chaos, the API
# contract), then the suites under clang's sanitizers (scripts/sanitize.sh), the fuzz targets
# (scripts/fuzz.sh) and clang-tidy (scripts/tidy.sh, over what changed since its last full
# pass), and stops it all. docs/TESTING.md has what each measured.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
ROOT=$PWD
trap '"$ROOT/scripts/pg.sh" stop' EXIT
RT_TEST_POSTGRES_URL=$(scripts/pg.sh start)
export RT_TEST_POSTGRES_URL
(cd build && ctest --output-on-failure --timeout 900 -j"${RT_TEST_JOBS:-1}" "$@")
# The Debian package of this tree: lintian, install, unit, serve, purge (docs/PACKAGING.md).
deb=$(scripts/package.sh); scripts/package-check.sh "$deb"
# Sanitizers (docs/TESTING.md): clang 19 builds under ASan+UBSan and TSan, run against the same
# PostgreSQL; RT_SKIP_SANITIZE=1 skips them for a quick local run.
[ "${RT_SKIP_SANITIZE:-0}" = 1 ] || scripts/sanitize.sh all
# Fuzzing (docs/TESTING.md): every fuzz target 30 s in its own clang tree; RT_SKIP_FUZZ=1 skips it.
[ "${RT_SKIP_FUZZ:-0}" = 1 ] || scripts/fuzz.sh 30
# Static analysis, warnings as errors (STYLE.md): the sources that include a file changed since
# the last clean full pass recorded in .ci/tidy-base (`scripts/tidy.sh --record` runs the full
# pass and records it); RT_SKIP_TIDY=1 skips it for a quick local run.
[ "${RT_SKIP_TIDY:-0}" = 1 ] || scripts/tidy.sh --since "$(cat .ci/tidy-base)"
