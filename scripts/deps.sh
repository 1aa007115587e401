#!/usr/bin/env bash
# Installs the Debian packages rtjobs needs to build, run and test, skipping what is present.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(
  g++ cmake ninja-build ccache pkg-config git ca-certificates tzdata
  libsqlite3-dev libpq-dev libboost-dev libcurl4-openssl-dev libssl-dev
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libhowardhinnant-date-dev
  libgtest-dev libgmock-dev libbenchmark-dev libmimalloc-dev
  postgresql-15 postgresql-client-15 sqlite3 nodejs python3 curl
  chromium  # the console's browser tests (tests/e2e/test_console.py)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages of the test tools (the local S3 server; the webhook receiver, which verifies
# rtjobs' events with the Standard Webhooks reference library; Redocly CLI, which lints the
# OpenAPI document; playwright-core and axe, which drive Debian's chromium through the console),
# pinned by their package-lock.json.
for tool in s3rver webhook_receiver openapi console_test; do
  if [ ! -d "tools/$tool/node_modules" ]; then
    (cd "tools/$tool" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
