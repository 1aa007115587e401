#!/usr/bin/env bash
# ctest upgrade_rolling: builds the previous release's binary (build_previous.sh; its time is
# printed) and runs test_rolling_upgrade.py with it beside the current binary, $1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
started=$(date +%s)
previous="$("$here/build_previous.sh")"
echo "previous release ($(head -n1 "$here/PREVIOUS_RELEASE")) built in $(($(date +%s) - started)) s"
export RTJOBS_BIN="$1" RTJOBS_PREVIOUS_BIN="$previous" RT_E2E_CONTRACT=off PYTHONDONTWRITEBYTECODE=1
exec python3 "$here/test_rolling_upgrade.py"
