#!/usr/bin/env bash
# Runs clang-tidy (the checks of .clang-tidy) over every source file of src/ and tests/, warnings
# as errors; exits non-zero on any finding. Needs build/compile_commands.json (scripts/build.sh).
# Installs clang-tidy-19 when missing: Debian 12's default clang-tidy (14) cannot read GCC 12's
# C++23 <expected>.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v run-clang-tidy-19 >/dev/null; then
  echo "installing: clang-tidy-19" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang-tidy-19 >/dev/null
fi
echo "clang-tidy over src/ and tests/ (a few minutes per core)" >&2
set +e
run-clang-tidy-19 -p build -j "${RT_BUILD_JOBS:-2}" -quiet "$PWD/(src|tests)/.*\.cpp$" 2>&1 |
  grep -v -e '^\[ *[0-9]*/[0-9]*\]' -e 'warnings generated' -e '^Suppressed ' \
    -e 'Use -header-filter' -e '^Running clang-tidy' -e '^$'
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] && echo "clang-tidy: no findings" >&2
exit "$status"
