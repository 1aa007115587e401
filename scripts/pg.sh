#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL 15 on loopback for the tests.
#   scripts/pg.sh start   -> prints the connection URL on stdout
#   scripts/pg.sh stop
# Data lives in $RT_PG_DIR (default .run/pg); port $RT_PG_PORT (default 54329).
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=/usr/lib/postgresql/15/bin
DIR=${RT_PG_DIR:-$PWD/.run/pg}
PORT=${RT_PG_PORT:-54329}
URL="postgresql://rtjobs@127.0.0.1:${PORT}/rtjobs"

# PostgreSQL refuses to run as root: run it as the unprivileged "postgres" user when root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    if [ -f "$DIR/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
      echo "$URL"; exit 0
    fi
    rm -rf "$DIR"; mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_owner "$PGBIN/initdb" -D "$DIR/data" -U rtjobs --auth=trust -E UTF8 --no-locale >"$DIR/initdb.log" 2>&1
    as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c max_connections=200 -c fsync=on" \
      start >/dev/null
    as_owner "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U rtjobs rtjobs
    echo "$URL"
    ;;
  stop)
    if [ -d "$DIR/data" ]; then as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
