#!/usr/bin/env bash
# The README's set-up steps from a checkout in a private directory (mode 0700, as root's home is
# on Debian): scripts/deps.sh, the configure step of scripts/build.sh, and scripts/pg.sh start
# and stop, which runs PostgreSQL as the "postgres" user when root. The compile itself does not
# depend on the checkout's place and is left to the main build. Usage: private_checkout_test.sh
# SOURCE_DIR (the checkout whose tracked files, as they are now, are copied).
set -euo pipefail
SRC=$1
WORK=$(mktemp -d)  # 0700
trap 'RT_PG_PORT=54393 "$WORK/rt/scripts/pg.sh" stop 2>/dev/null || true; rm -rf "$WORK"' EXIT
[ "$(stat -c %a "$WORK")" = 700 ] || { echo "mktemp -d did not make a private directory" >&2; exit 1; }
mkdir "$WORK/rt"
(cd "$SRC" && git ls-files -z --cached | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$WORK/rt"
# The npm tools as installed beside the source (deps.sh would fetch them again otherwise).
for tool in "$SRC"/tools/*/node_modules; do
  [ -d "$tool" ] && ln -s "$tool" "$WORK/rt/tools/$(basename "$(dirname "$tool")")/node_modules"
done
cd "$WORK/rt"
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
url=$(RT_PG_PORT=54393 scripts/pg.sh start)
[ "$url" = "postgresql://rtjobs@127.0.0.1:54393/rtjobs" ] || { echo "unexpected URL: $url" >&2; exit 1; }
if command -v psql >/dev/null; then
  [ "$(psql "$url" -tAc 'SELECT 1')" = 1 ] || { echo "PostgreSQL does not answer" >&2; exit 1; }
fi
RT_PG_PORT=54393 scripts/pg.sh stop
if ls -d /tmp/rtjobs-pg-*-54393 >/dev/null 2>&1; then
  echo "pg.sh stop left its data directory in /tmp" >&2
  exit 1
fi
# A data directory the postgres user cannot reach is refused with its cause, not a bare exit 1.
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$WORK/private" && chmod 700 "$WORK/private"
  out=$(RT_PG_DIR="$WORK/private/pg" RT_PG_PORT=54393 scripts/pg.sh start 2>&1) && rc=0 || rc=$?
  [ "$rc" != 0 ] || { echo "pg.sh started in a private directory" >&2; exit 1; }
  grep -q "cannot reach $WORK/private/pg" <<<"$out" || { echo "no cause given: $out" >&2; exit 1; }
fi
echo "private checkout: deps, configure and PostgreSQL set up from $WORK/rt"
