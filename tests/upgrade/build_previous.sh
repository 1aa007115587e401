#!/usr/bin/env bash
# Builds the `rtjobs` binary of the previous release (the commit on the first line of
# tests/upgrade/PREVIOUS_RELEASE) into build-previous/ inside the checkout and prints its path.
#
# The sources come from `git archive` of that commit into build-previous/tree, and the build tree
# is build-previous/tree/build. Only the `rtjobs` target is built, with the build type
# scripts/build.sh gives build/ (Release or RelWithDebInfo). Nothing is rebuilt when the binary
# of that commit is there already.
#
# ccache: paths are made relative to the checkout (CCACHE_BASEDIR, which that commit's
# CMakeLists.txt does not set), so a second build of the commit in any clone hits the cache. It
# cannot share objects with the current build: that commit's CMakeLists.txt orders the warning
# flags differently (-Werror before -Wno-missing-field-initializers) and most of its sources
# include headers changed since, so a fresh CI machine compiles it whole (docs/UPGRADES.md).
#
#   tests/upgrade/build_previous.sh            # prints build-previous/tree/build/rtjobs
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
commit="$(head -n1 tests/upgrade/PREVIOUS_RELEASE)"
out="$root/build-previous"
tree="$out/tree"
if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
  echo "build_previous.sh: commit $commit is not in this clone (a shallow clone? fetch the history)" >&2
  exit 1
fi
if [[ "$(cat "$out/COMMIT" 2>/dev/null)" != "$commit" ]]; then
  rm -rf "$tree"
  mkdir -p "$tree"
  git archive "$commit" | tar -x -C "$tree"
  echo "$commit" >"$out/COMMIT"
fi
build_type="$(sed -n 's/.*-DCMAKE_BUILD_TYPE=\([A-Za-z]*\).*/\1/p' scripts/build.sh | head -n1)"
build_type="${build_type:-RelWithDebInfo}"
# Warnings are always errors at that commit, and GCC 12's -Wrestrict false positive inside
# std::string (issue 20 item 5) stops its Release build: that one warning stays a warning.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
if ! cmake -S "$tree" -B "$tree/build" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
  -DCMAKE_CXX_FLAGS=-Wno-error=restrict >"$out/configure.log" 2>&1; then
  echo "build_previous.sh: configuring $commit failed (log: $out/configure.log):" >&2
  tail -n 20 "$out/configure.log" >&2
  exit 1
fi
if ! ninja -C "$tree/build" -j"${RT_BUILD_JOBS:-2}" rtjobs >"$out/build.log" 2>&1; then
  echo "build_previous.sh: building $commit failed (log: $out/build.log):" >&2
  tail -n 30 "$out/build.log" >&2
  exit 1
fi
echo "$tree/build/rtjobs"
