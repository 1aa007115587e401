#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL 15 on loopback for the tests.
#   scripts/pg.sh start   -> prints the connection URL on stdout
#   scripts/pg.sh stop
# Data lives in $RT_PG_DIR (default .run/pg in the checkout); port $RT_PG_PORT (default 54329).
# As root, PostgreSQL runs as the "postgres" user, which cannot enter a checkout in a private
# home (root's is 0700 on Debian): the default data directory is then under /tmp instead, named
# by the checkout and the port. A step that fails prints its cause (the end of its log).
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=/usr/lib/postgresql/15/bin
PORT=${RT_PG_PORT:-54329}
URL="postgresql://rtjobs@127.0.0.1:${PORT}/rtjobs"

# PostgreSQL refuses to run as root: run it as the unprivileged "postgres" user when root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -n "${RT_PG_DIR:-}" ]; then
  DIR=$RT_PG_DIR
elif [ "$(id -u)" != 0 ] || as_owner test -x "$PWD"; then
  DIR=$PWD/.run/pg
else
  DIR=/tmp/rtjobs-pg-$(printf '%s' "$PWD" | md5sum | cut -c1-12)-$PORT
  OUTSIDE=1  # removed by stop: nothing is left in /tmp
fi

# Runs a step; on failure says which and shows the end of its log (or of its output).
step() {
  local what=$1 log=$2
  shift 2
  if ! "$@" >>"$log" 2>&1; then
    echo "pg.sh: $what failed; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
}

case "${1:-}" in
  start)
    if [ -f "$DIR/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
      echo "$URL"; exit 0
    fi
    rm -rf "$DIR"
    if ! mkdir -p "$DIR"; then
      echo "pg.sh: cannot create the data directory $DIR (set RT_PG_DIR)" >&2
      exit 1
    fi
    if [ "$(id -u)" = 0 ]; then
      chown postgres "$DIR"
      if ! as_owner test -w "$DIR"; then
        echo "pg.sh: the postgres user cannot reach $DIR (a parent directory is private);" \
          "set RT_PG_DIR to a directory it can enter" >&2
        exit 1
      fi
    fi
    log="$DIR/initdb.log"
    as_owner touch "$log" "$DIR/server.log"
    step "initdb" "$log" as_owner "$PGBIN/initdb" -D "$DIR/data" -U rtjobs --auth=trust -E UTF8 --no-locale
    if ! as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c max_connections=200 -c fsync=on" \
      start >/dev/null 2>&1; then
      echo "pg.sh: the server did not start on port $PORT; the end of $DIR/server.log:" >&2
      tail -n 20 "$DIR/server.log" >&2
      exit 1
    fi
    step "createdb" "$log" as_owner "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U rtjobs rtjobs
    echo "$URL"
    ;;
  stop)
    if [ -d "$DIR/data" ]; then as_owner "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true; fi
    if [ "${OUTSIDE:-0}" = 1 ]; then rm -rf "$DIR"; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
