#!/usr/bin/env bash
# Lints the OpenAPI document an rtjobs binary serves (`rtjobs openapi` prints it) with Redocly
# CLI, pinned by this folder's package-lock.json (scripts/deps.sh runs npm ci), under the rules of
# redocly.yaml. Any error or warning fails: each is printed with its rule and JSON pointer.
# Usage: tools/openapi/lint.sh path/to/rtjobs   (ctest openapi_lint)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:?usage: tools/openapi/lint.sh RTJOBS_BINARY}"
redocly="$here/node_modules/.bin/redocly"
if [ ! -x "$redocly" ]; then
  echo "openapi_lint: Redocly CLI is not installed: run scripts/deps.sh (npm ci in $here)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" openapi > "$work/openapi.json"
# Its exit status says errors only; the JSON report counts warnings too, and is what decides.
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$redocly" lint --config "$here/redocly.yaml" --format=json --max-problems 1000 \
  "$work/openapi.json" > "$work/report.json" 2> "$work/stderr.txt" || true
python3 - "$work/report.json" "$work/stderr.txt" <<'PY'
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except ValueError:
    sys.stderr.write("openapi_lint: redocly gave no report:\n" + open(sys.argv[2]).read())
    sys.exit(1)
for p in report["problems"]:
    where = p["location"][0]["pointer"] if p.get("location") else "?"
    print(f'{p["severity"]}: {p["ruleId"]} at {where}: {p["message"]}')
totals = report["totals"]
print(f'openapi_lint: redocly {report.get("version", "?")}: {totals["errors"]} errors, '
      f'{totals["warnings"]} warnings')
sys.exit(1 if totals["errors"] or totals["warnings"] else 0)
PY
