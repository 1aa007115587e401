#!/usr/bin/env bash
# Restore drill (docs/OPERATIONS.md, "Backup and restore"): proves that a running server's data
# can be brought back, without touching the server or its database.
#
#   RT_DATABASE_URL=postgresql://... RT_BACKUP_URL=s3://bucket/prefix scripts/restore-drill.sh
#   RT_DATABASE_URL=sqlite:///var/lib/rtjobs/rtjobs.db scripts/restore-drill.sh --keep
#
# 1. Snapshots the live database while it runs: SQLite's online backup (`sqlite3 .backup`), or
#    `pg_dump -Fc` (one consistent snapshot).
# 2. Restores the snapshot into a fresh database: a new SQLite file, or a new PostgreSQL database
#    `rtjobs_drill_<random>` on the same server (RT_DRILL_ADMIN_URL: another server, or a role
#    allowed to CREATE DATABASE), and runs `rtjobs migrate` on it (the binary accepts it).
# 3. Compares the row counts of the snapshot and the restored copy, table by table.
# 4. Loads every archive the snapshot's backup history names (RT_BACKUP_URL's objects: CSVs of
#    old jobs that the backup deleted) into the restored copy with `rtjobs restore`, which
#    checks every row before writing any, and checks that the jobs and provider-status rows grew by
#    what the history says each archive holds.
# Prints one line per check; exits 0 when all agree, 1 otherwise. The restored copy is dropped
# at the end unless --keep. The rtjobs binary: --rtjobs PATH, else `rtjobs` on PATH (or the
# checkout's build/rtjobs). S3 archives need the server's AWS_* variables (and RT_S3_ENDPOINT
# and RT_S3_REGION when not AWS's defaults) in the environment.
set -euo pipefail

RTJOBS=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rtjobs) RTJOBS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "restore-drill: unknown argument $1" >&2; exit 2 ;;
  esac
done
: "${RT_DATABASE_URL:?restore-drill: set RT_DATABASE_URL to the live database}"
if [ -z "$RTJOBS" ]; then
  RTJOBS=$(command -v rtjobs || echo "$(dirname "$0")/../build/rtjobs")
fi
[ -x "$RTJOBS" ] || { echo "restore-drill: no rtjobs binary at $RTJOBS (--rtjobs PATH)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/rtjobs-drill.XXXXXX)
SOURCE=$RT_DATABASE_URL
TARGET=""
cleanup() {
  if [ "$KEEP" = 1 ]; then
    echo "restore-drill: kept $WORK and the restored database $TARGET" >&2
    return
  fi
  case "$TARGET" in
    postgres*) psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DRILL_DB WITH (FORCE)" >/dev/null 2>&1 || true ;;
  esac
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "restore-drill: FAILED: $*" >&2; exit 1; }

# count URL TABLE: the table's row count (0 when the table does not exist in that schema).
count() {
  case "$1" in
    sqlite://*) sqlite3 "${1#sqlite://}" "SELECT count(*) FROM $2" 2>/dev/null || echo 0 ;;
    *) psql "$1" -Atqc "SELECT count(*) FROM $2" 2>/dev/null || echo 0 ;;
  esac
}
# query URL SQL: one value.
query() {
  case "$1" in
    sqlite://*) sqlite3 "${1#sqlite://}" "$2" ;;
    *) psql "$1" -Atqc "$2" ;;
  esac
}

# 1 and 2: snapshot, then restore into a fresh database.
start=$(date +%s)
case "$SOURCE" in
  sqlite://*)
    SNAPSHOT="sqlite://$WORK/snapshot.db"
    sqlite3 "${SOURCE#sqlite://}" ".timeout 10000" ".backup '$WORK/snapshot.db'" ||
      fail "sqlite3 .backup of ${SOURCE#sqlite://}"
    cp "$WORK/snapshot.db" "$WORK/restored.db"
    TARGET="sqlite://$WORK/restored.db"
    ;;
  postgres://* | postgresql://*)
    pg_dump -Fc -f "$WORK/snapshot.dump" "$SOURCE" || fail "pg_dump"
    ADMIN_URL=${RT_DRILL_ADMIN_URL:-$SOURCE}
    DRILL_DB="rtjobs_drill_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
    psql "$ADMIN_URL" -qc "CREATE DATABASE $DRILL_DB" >/dev/null || fail "CREATE DATABASE $DRILL_DB"
    TARGET="${ADMIN_URL%/*}/$DRILL_DB"
    pg_restore --no-owner -d "$TARGET" "$WORK/snapshot.dump" || fail "pg_restore into $DRILL_DB"
    # The snapshot's counts come from the dump itself (step 3), not from the live database,
    # which moves on meanwhile.
    SNAPSHOT=""
    ;;
  *) fail "RT_DATABASE_URL must be sqlite://, postgres:// or postgresql://" ;;
esac
echo "restore-drill: snapshot restored into $TARGET in $(( $(date +%s) - start )) s"
RT_DATABASE_URL=$TARGET "$RTJOBS" migrate >/dev/null 2>"$WORK/migrate.log" ||
  fail "rtjobs migrate on the restored copy: $(tail -1 "$WORK/migrate.log")"

# 3: counts, table by table.
TABLES="recurring_transfer recurring_transfer_job recurring_transfer_provider_status
        recurring_transfer_backup backup_run event webhook_endpoint webhook_delivery
        bank_webhook_event"
bad=0
for t in $TABLES; do
  restored=$(count "$TARGET" "$t")
  if [ -n "$SNAPSHOT" ]; then
    expected=$(count "$SNAPSHOT" "$t")
  else
    # PostgreSQL: the rows of the table's COPY block in the dump.
    expected=$(pg_restore --data-only -t "$t" -f - "$WORK/snapshot.dump" |
      awk '/^COPY /{on=1; next} on && /^\\\.$/{on=0} on{n++} END{print n+0}')
  fi
  status=ok; [ "$restored" = "$expected" ] || { status=MISMATCH; bad=1; }
  printf 'restore-drill: %-36s snapshot %8s  restored %8s  %s\n' "$t" "$expected" "$restored" "$status"
done
[ "$bad" = 0 ] || fail "the restored copy's counts differ from the snapshot's"

# 4: the archives the backup history names, loaded into the restored copy.
jobs_before=$(count "$TARGET" recurring_transfer_job)
statuses_before=$(count "$TARGET" recurring_transfer_provider_status)
want_jobs=$(query "$TARGET" "SELECT coalesce(sum(job_rows), 0) FROM recurring_transfer_backup")
want_statuses=$(query "$TARGET" "SELECT coalesce(sum(provider_status_rows), 0) FROM recurring_transfer_backup")
objects=$(query "$TARGET" "SELECT objects FROM recurring_transfer_backup ORDER BY backup_at" |
  python3 -c 'import json, sys
for line in sys.stdin:
    for url in json.loads(line or "[]"):
        print(url)')
n=0
for object in $objects; do
  RT_DATABASE_URL=$TARGET "$RTJOBS" restore "$object" >>"$WORK/restore.log" 2>"$WORK/restore.err" ||
    fail "rtjobs restore $object: $(tail -1 "$WORK/restore.err")"
  n=$((n + 1))
done
jobs_after=$(count "$TARGET" recurring_transfer_job)
statuses_after=$(count "$TARGET" recurring_transfer_provider_status)
printf 'restore-drill: %d archive objects: jobs %s + %s = %s, provider statuses %s + %s = %s\n' \
  "$n" "$jobs_before" "$want_jobs" "$jobs_after" "$statuses_before" "$want_statuses" "$statuses_after"
[ $((jobs_before + want_jobs)) = "$jobs_after" ] || fail "archived jobs: expected $want_jobs more rows"
[ $((statuses_before + want_statuses)) = "$statuses_after" ] ||
  fail "archived provider statuses: expected $want_statuses more rows"
echo "restore-drill: OK in $(( $(date +%s) - start )) s"
