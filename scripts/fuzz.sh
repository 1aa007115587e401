#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang 19, ASan + UBSan) and runs each for SECONDS
# (default 60) on a copy of its seed corpus, so fuzz/corpus/ stays as committed. Prints the
# executions and findings per target; exits non-zero when any target finds a crash, a leak, a
# timeout or undefined behaviour. Crashing inputs are kept in $RT_FUZZ_OUT/<target>/ (default
# build-fuzz/findings), to be added to fuzz/corpus/<target>/ once fixed (docs/TESTING.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   e.g. scripts/fuzz.sh 300 schedule config
#
# RT_FUZZ_BUILD_DIR (default build-fuzz) is the clang tree; a tree configured with
# RTJOBS_SANITIZE=address,undefined (build-asan) may be named instead: RTJOBS_FUZZ is added to it.
# Installs clang-19 and libclang-rt-19-dev when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(json_mapping schedule config restore_csv s3_xml bank_answer)
BUILD=${RT_FUZZ_BUILD_DIR:-build-fuzz}
OUT=${RT_FUZZ_OUT:-$BUILD/findings}

if ! command -v clang++-19 >/dev/null ||
   ! ls /usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "installing: clang-19 libclang-rt-19-dev" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    clang-19 libclang-rt-19-dev >/dev/null
fi

start=$(date +%s)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++-19 \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTJOBS_FUZZ=ON -DRTJOBS_WERROR=ON >/dev/null
else
  cmake -B "$BUILD" -DRTJOBS_FUZZ=ON -DRTJOBS_WERROR=ON >/dev/null
fi
ninja -C "$BUILD" -j "${RT_BUILD_JOBS:-2}" fuzzers >/dev/null
echo "fuzz: built in $(($(date +%s) - start)) s; running ${#TARGETS[@]} targets, ${SECONDS_EACH} s each" >&2

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
printf '%-14s %12s %10s %s\n' target execs exec/s findings
for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz/${t}_fuzz"
  mkdir -p "$work/$t" "$OUT/$t"
  cp -r "fuzz/corpus/$t/." "$work/$t/"
  log="$OUT/$t/last.log"
  set +e
  "$bin" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$OUT/$t/" "$work/$t" >"$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$status" = 0 ]; then
    findings=none
  else
    failed=1
    findings="$(grep -m1 -E 'invariant broken|ERROR: (libFuzzer|AddressSanitizer)|runtime error' \
      "$log" || echo "exit $status")"
    input=$(find "$OUT/$t" -newer "$work" -name '[cltos][reio]*-*' | head -1)
    findings="$findings; input: ${input:-none}"
  fi
  printf '%-14s %12s %10s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$findings"
done
echo "fuzz: done in $(($(date +%s) - start)) s" >&2
exit "$failed"
