#!/usr/bin/env bash
# Row 3: the database's own commit limit. pgbench on the benchmark's PostgreSQL server (a
# database of its own, "pgbench"), one single-row UPDATE per transaction, 2 clients per core,
# prepared statements. Prints one JSON line: {"tps", "clients", "seconds", "scale"}.
#   bench/pgbench.sh POSTGRES_URL [SECONDS] [SCALE]
set -euo pipefail
URL=$1
SECONDS_TO_RUN=${2:-30}
SCALE=${3:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENTS=$(( 2 * $(nproc) ))
DB_URL="${URL%/*}/pgbench"

if [ "$(psql -X -At "$URL" -c "SELECT 1 FROM pg_database WHERE datname = 'pgbench'")" != 1 ]; then
  psql -X -q "$URL" -c "CREATE DATABASE pgbench"
fi
pgbench -i -q -s "$SCALE" "$DB_URL" >/dev/null 2>&1
out=$(pgbench -n -M prepared -c "$CLIENTS" -j "$(nproc)" -T "$SECONDS_TO_RUN" -D "scale=$SCALE" \
  -f "$HERE/pgbench_update.sql" "$DB_URL" 2>&1)
tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out")
if [ -z "$tps" ]; then echo "$out" >&2; exit 1; fi
printf '{"tps": %s, "clients": %d, "seconds": %d, "scale": %d}\n' "$tps" "$CLIENTS" "$SECONDS_TO_RUN" "$SCALE"
