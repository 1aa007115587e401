#!/usr/bin/env bash
# Builds the Debian package of rtjobs from a Release build tree (default build/, the tree
# scripts/build.sh makes and CI tests) with CPack: BUILD_DIR/packages/rtjobs_VERSION_ARCH.deb,
# its path printed on stdout. Installs dpkg-dev (dpkg-shlibdeps computes Depends) when missing.
# Usage: scripts/package.sh [BUILD_DIR]. docs/PACKAGING.md has what the package holds.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}

if ! command -v dpkg-shlibdeps >/dev/null; then
  echo "installing: dpkg-dev" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
fi

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
BUILD=$(cd "$BUILD" && pwd)
# The package is what users run: refuse a Debug or sanitizer tree rather than ship it.
type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
sanitize=$(sed -n 's/^RTJOBS_SANITIZE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
if [ "$type" != Release ] || [ -n "$sanitize" ]; then
  echo "package.sh: $BUILD is a '$type' tree${sanitize:+ with sanitizers ($sanitize)}; the package is built from a Release tree without sanitizers (scripts/build.sh makes one)" >&2
  exit 1
fi

ninja -C "$BUILD" -j"${RT_BUILD_JOBS:-2}" rtjobs >/dev/null
rm -rf "$BUILD/packages"
if ! (cd "$BUILD" && cpack -G DEB >cpack.log 2>&1); then
  echo "package.sh: cpack failed ($BUILD/cpack.log):" >&2
  tail -n 30 "$BUILD/cpack.log" >&2
  exit 1
fi
ls "$BUILD"/packages/rtjobs_*.deb
