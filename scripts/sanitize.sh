#!/usr/bin/env bash
# Runs the C++ suites under clang 19's sanitizers; any finding fails the run.
#   scripts/sanitize.sh [asan|tsan|all]    (default: all)
# asan: AddressSanitizer + UndefinedBehaviorSanitizer (build-asan) over the unit tests, the store
#       conformance suite on SQLite and PostgreSQL, the concurrency tests, and end-to-end suites
#       whose `rtjobs serve`, `backup` and `restore` processes are the instrumented binary.
# tsan: ThreadSanitizer (build-tsan) over the tests that run threads: the group commit
#       (CompletionWriter) and JobProcessor, the maintenance workers, the store conformance suite
#       (claims from many threads, webhook fan-out from two stores, racing cancels) and SQLite's
#       one writer inside serve.
# The PostgreSQL tests need RT_TEST_POSTGRES_URL (scripts/test.sh starts a server and sets it).
# Builds only those test programs, at -O0 with line tables: the instrumented code is compiled at
# a third of the cost of -O1 and the tests wait on databases, not on the CPU (docs/TESTING.md).
# Installs clang-19 and libclang-rt-19-dev (the sanitizer runtimes) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
case "$what" in asan | tsan | all) ;; *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;; esac

missing=()
command -v clang++-19 >/dev/null || missing+=(clang-19)
[ -e /usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.tsan-x86_64.a ] || missing+=(libclang-rt-19-dev)
command -v llvm-symbolizer >/dev/null || missing+=(llvm)  # names the frames of a report
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A finding stops the process with its stack (halt_on_error), and every report is written to a
# file under TREE/sanitizer-reports, so a finding in a server an e2e suite stops and deletes the
# log of is still seen: the run fails when that directory holds a report, and prints it. The
# symbolizer is named explicitly: clang 19's TSan runtime did not find it on PATH ("invalid path
# to external symbolizer"), which leaves a report without function names.
sym="external_symbolizer_path=$(command -v llvm-symbolizer)"

# run TREE SANITIZERS TESTS_REGEX TARGET...: configures TREE with clang++-19, builds the targets
# and runs the ctest tests matching TESTS_REGEX; fails on a failed test or any report.
run() {
  local tree=$1 sanitize=$2 tests=$3
  shift 3
  CXX=clang++-19 cmake -S . -B "$tree" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize \
    -DCMAKE_CXX_FLAGS_SANITIZE="-O0 -gline-tables-only" -DRTJOBS_SANITIZE="$sanitize" -DRTJOBS_WERROR=ON >/dev/null
  echo "sanitize.sh: building $* in $tree ($sanitize)" >&2
  ninja -C "$tree" -j"${RT_BUILD_JOBS:-2}" "$@"
  local reports=$PWD/$tree/sanitizer-reports status=0
  rm -rf "$reports" && mkdir -p "$reports"
  (
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1:log_path=$reports/asan:$sym"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan:$sym"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan:$sym"
    cd "$tree" && ctest --output-on-failure --timeout 900 -j"${RT_TEST_JOBS:-1}" -R "$tests"
  ) || status=$?
  if [ -n "$(ls -A "$reports")" ]; then
    for f in "$reports"/*; do echo "=== sanitizer report $f" >&2; cat "$f" >&2; done
    status=1
  fi
  return "$status"
}

units=(core config schedule store baas flow jobs maintenance backup http app)
# The e2e suites that drive the server's main paths without timing-based waits of a minute or
# more (flow's pauses, events' backoff, hostile clients' 2,000 connections stay on the GCC build).
e2e=(foundation processing scheduler backup banks settlement hostile_input restore)
if [ "$what" != tsan ]; then
  run build-asan address,undefined \
    "^(($(IFS='|'; echo "${units[*]}"))_unit_tests|store_conformance|backup_restore_tests|e2e_($(IFS='|'; echo "${e2e[*]}")))\$" \
    "${units[@]/%/_unit_tests}" store_conformance_test backup_restore_tests rtjobs
fi
if [ "$what" != asan ]; then
  run build-tsan thread "^((core|jobs|maintenance)_unit_tests|store_conformance)\$" \
    core_unit_tests jobs_unit_tests maintenance_unit_tests store_conformance_test backup_restore_tests
  # Of backup_restore_tests only the one-writer test runs threads.
  GTEST_FILTER='SqliteOneWriter.*' run build-tsan thread '^backup_restore_tests$' backup_restore_tests
fi
