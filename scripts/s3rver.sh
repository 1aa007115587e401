#!/usr/bin/env bash
# Starts or stops a local S3-compatible server (@20minutes/s3rver, tools/s3rver) on loopback for
# the backup tests. Credentials are s3rver's fixed S3RVER / S3RVER.
#   scripts/s3rver.sh start   -> prints the endpoint (http://127.0.0.1:PORT) on stdout
#   scripts/s3rver.sh stop
# Data lives in $RT_S3RVER_DIR (default .run/s3rver), port $RT_S3RVER_PORT (default 54569),
# buckets created at start: $RT_S3RVER_BUCKETS (default "rtjobs-backups").
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${RT_S3RVER_DIR:-$PWD/.run/s3rver}
PORT=${RT_S3RVER_PORT:-54569}
BUCKETS=${RT_S3RVER_BUCKETS:-rtjobs-backups}
PIDFILE="$DIR/s3rver.pid"
ENDPOINT="http://127.0.0.1:${PORT}"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    if running; then echo "$ENDPOINT"; exit 0; fi
    if [ ! -d tools/s3rver/node_modules/@20minutes/s3rver ]; then
      (cd tools/s3rver && npm ci --no-audit --no-fund --silent) >&2
    fi
    mkdir -p "$DIR/data"
    args=()
    for b in $BUCKETS; do args+=(--configure-bucket "$b"); done
    # s3rver 5 needs OpenSSL's legacy provider for MD5 on Node's OpenSSL 3 builds.
    nohup node --openssl-legacy-provider tools/s3rver/run.js -d "$DIR/data" -a 127.0.0.1 \
      -p "$PORT" --silent "${args[@]}" >"$DIR/server.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do
      if grep -q "listening" "$DIR/server.log" 2>/dev/null; then echo "$ENDPOINT"; exit 0; fi
      if ! running; then cat "$DIR/server.log" >&2; exit 1; fi
      sleep 0.1
    done
    echo "s3rver did not start; see $DIR/server.log" >&2
    exit 1
    ;;
  stop)
    if running; then
      kill "$(cat "$PIDFILE")" 2>/dev/null || true
      for _ in $(seq 1 50); do running || break; sleep 0.1; done
    fi
    rm -f "$PIDFILE"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
