#!/usr/bin/env bash
# Checks the Debian package as CI does (docs/PACKAGING.md): lintian without errors, installs it on
# this machine with dpkg -i, verifies the unit as installed (systemd-analyze verify), runs
# /usr/bin/rtjobs --version, then a short serve from the installed files the way rtjobs.service
# would (user rtjobs, /etc/rtjobs/env, /etc/rtjobs/rtjobs.toml, cwd /var/lib/rtjobs): waits for
# /readyz, calls /healthz, stops it with SIGTERM and expects exit 0. Last, dpkg --purge and a
# check that nothing of the package is left. Runs as root (through sudo otherwise); installs
# lintian when missing.
# Usage: scripts/package-check.sh [DEB]   (default: the one scripts/package.sh made in build/)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || exec sudo "$0" "$@"  # dpkg -i and setpriv need root
DEB=${1-$(ls build/packages/rtjobs_*.deb 2>/dev/null | head -n 1)}
[ -f "$DEB" ] || { echo "package-check.sh: no package '$DEB' (scripts/package.sh makes it)" >&2; exit 1; }
fail() { echo "package-check.sh: $*" >&2; exit 1; }

for tool in lintian:lintian systemd-analyze:systemd curl:curl; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    echo "installing: ${tool#*:}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${tool#*:}" >/dev/null
  fi
done

echo "lintian $DEB" >&2
# Errors fail; the warnings kept are listed with their reasons in docs/PACKAGING.md.
lintian --fail-on error --tag-display-limit 0 "$DEB" >&2 || fail "lintian reports errors"

if dpkg-query -W -f='${Status}' rtjobs 2>/dev/null | grep -q "ok installed"; then
  fail "rtjobs is installed on this machine already; this check installs and purges its own"
fi
WORK=$(mktemp -d)
SERVER=""
cleanup() {
  [ -z "$SERVER" ] || kill -KILL "$SERVER" 2>/dev/null || true
  dpkg --purge rtjobs >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

dpkg -i "$DEB" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; fail "dpkg -i failed"; }
UNIT=/lib/systemd/system/rtjobs.service
# verify also checks that ExecStart's binary exists and that the unit's options parse.
systemd-analyze verify "$UNIT" >&2 || fail "systemd-analyze verify $UNIT failed"
version=$(/usr/bin/rtjobs --version) || fail "/usr/bin/rtjobs --version failed"
echo "installed: $version" >&2
[ "$(stat -c '%U:%G %a' /etc/rtjobs/env)" = "root:rtjobs 640" ] ||
  fail "/etc/rtjobs/env is $(stat -c '%U:%G %a' /etc/rtjobs/env), not root:rtjobs 640"
[ "$(stat -c '%U:%G' /var/lib/rtjobs)" = "rtjobs:rtjobs" ] || fail "/var/lib/rtjobs is not owned by rtjobs"

# The unit's ExecStart as its user, environment file, configuration and working directory;
# setpriv execs (no parent left, unlike runuser), so $SERVER is rtjobs and its exit code is ours.
# systemd is not PID 1 in CI containers, so no `systemctl start`; the sandboxing options are
# checked by systemd-analyze only. One change: a free port (RT_LISTEN in the environment wins
# over the file), so the check never meets another server on 8080.
: >"$WORK/serve.log"  # exists before the background job opens it, for the polls below
mapfile -t envfile < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' /etc/rtjobs/env || true)
(cd /var/lib/rtjobs &&
  exec setpriv --reuid=rtjobs --regid=rtjobs --init-groups --no-new-privs \
    env -i PATH=/usr/bin:/bin "${envfile[@]}" RT_LISTEN=127.0.0.1:0 \
    /usr/bin/rtjobs serve --config /etc/rtjobs/rtjobs.toml) >"$WORK/serve.log" 2>&1 &
SERVER=$!

port=""
ready=""
for _ in $(seq 1 300); do  # polls every 0.1 s, gives up after 30 s
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log" >&2; fail "serve exited during start-up"; }
  [ -n "$port" ] || port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$WORK/serve.log")
  if [ -n "$port" ] && curl -fsS "http://127.0.0.1:$port/readyz" >"$WORK/readyz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
[ -n "$ready" ] || { cat "$WORK/serve.log" >&2; fail "/readyz did not answer 200 within 30 s"; }
health=$(curl -fsS "http://127.0.0.1:$port/healthz") || fail "/healthz failed"
echo "healthz: $health" >&2
grep -q '"status":"ok"' <<<"$health" || fail "/healthz is not ok: $health"
[ "$(stat -c %U /var/lib/rtjobs/rtjobs.db)" = rtjobs ] || fail "the database is not in the state directory"

kill -TERM "$SERVER"
status=0
wait "$SERVER" || status=$?
SERVER=""
[ "$status" = 0 ] || { cat "$WORK/serve.log" >&2; fail "serve exited with $status after SIGTERM"; }
grep -q '"msg":"stopped"' "$WORK/serve.log" || fail "serve did not log its clean stop"

dpkg --purge rtjobs >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; fail "dpkg --purge failed"; }
left=()
dpkg-query -W rtjobs >/dev/null 2>&1 && left+=("the package in dpkg's database")
for path in /usr/bin/rtjobs "$UNIT" /etc/rtjobs /var/lib/rtjobs /usr/share/doc/rtjobs; do
  [ ! -e "$path" ] || left+=("$path")
done
getent passwd rtjobs >/dev/null && left+=("user rtjobs")
getent group rtjobs >/dev/null && left+=("group rtjobs")
[ ${#left[@]} = 0 ] || fail "left after dpkg --purge: ${left[*]}"
echo "package-check: lintian, unit verify, install, --version, serve as rtjobs, purge: ok" >&2
