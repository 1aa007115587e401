#!/usr/bin/env bash
# Benchmarks rtjobs against its peers and the hardware, and prints one table (docs/BENCHMARKS.md).
#   scripts/bench.sh            full run (about 27 minutes; rows 7-10, flow control, about 16)
#   scripts/bench.sh --quick    smoke run with small sizes (a few minutes)
#   scripts/bench.sh --rows 1,5 only some rows
#   scripts/bench.sh --rows 11  bank-webhook ingestion alone, SQLite and PostgreSQL (about 2 minutes)
#   scripts/bench.sh --rows 12  events to the main API: the PostgreSQL burn-down, webhooks on vs off
#   scripts/bench.sh --rows 1,3,6  issue 19's rows: the PostgreSQL burn-down beside Graphile no-op
#               (1), Graphile doing the equivalent work (1e), its write set in pgbench (3b),
#               and memory (6); about 5 minutes
# Installs what it needs (wrk, nginx, pgbench, Graphile Worker via npm ci), builds rtjobs
# Release into build-bench/, and runs its own PostgreSQL (.run/bench-pg, port 54339), apart from
# the tests'. Sizes are overridable by environment (BENCH_JOBS=5000 ...; see docs/BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# ---- tools ----
scripts/deps.sh
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v pgbench >/dev/null || need+=(postgresql-contrib)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"
(cd bench/graphile && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# ---- rtjobs, Release ----
# The packagers' build: Release, warnings not errors (GCC 12 at -O3 reports false positives in
# std::variant and std::string).
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DRTJOBS_WERROR=OFF >/dev/null
ninja -C build-bench -j"${RT_BUILD_JOBS:-2}" rtjobs
if ninja -C build-bench -t targets all 2>/dev/null | grep -q '^backup_bench:'; then
  ninja -C build-bench -j"${RT_BUILD_JOBS:-2}" backup_bench >/dev/null 2>&1 || true
fi

# ---- the benchmark's own PostgreSQL ----
export RT_PG_DIR=${BENCH_PG_DIR:-$ROOT/.run/bench-pg}
export RT_PG_PORT=${BENCH_PG_PORT:-54339}
BENCH_PG_URL=$(scripts/pg.sh start)
export BENCH_PG_URL
export BENCH_RTJOBS=$ROOT/build-bench/rtjobs
export BENCH_TMP=${BENCH_TMP:-$(mktemp -d /tmp/rtjobs-bench.XXXXXX)}
cleanup() {
  scripts/pg.sh stop || true
  [ -n "${BENCH_KEEP_TMP:-}" ] || rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

# wrk's 1,000 connections (and the servers' side of them) need file descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

python3 bench/run.py "$@"
