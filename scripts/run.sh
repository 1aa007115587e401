#!/usr/bin/env bash
# Sets everything up and runs `rtjobs serve` on the embedded default: SQLite (./rtjobs.db), the
# sandbox provider, backups to ./backups, listening on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
exec ./build/rtjobs serve "$@"
