#!/usr/bin/env bash
# Runs clang-tidy (the checks of .clang-tidy) over the sources of src/ and tests/, warnings as
# errors; exits non-zero on any finding. Needs build/ built (scripts/build.sh).
#   scripts/tidy.sh                 every source file (the full pass)
#   scripts/tidy.sh --record        the full pass; when clean, writes HEAD to .ci/tidy-base
#   scripts/tidy.sh --since REV     only the sources that include a file changed since REV
#                                   (ninja's header dependencies of build/); the full pass when
#                                   .clang-tidy changed or REV is not an ancestor of HEAD
# CI runs `--since` the last recorded clean full pass: a source none of whose files changed
# since then had no finding then, under the same checks.
# Installs clang-tidy-19 when missing: Debian 12's default clang-tidy (14) cannot read GCC 12's
# C++23 <expected>.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=all since=""
case "${1:-}" in
  "") ;;
  --record) mode=record ;;
  --since) since=${2:?"usage: $0 [--record | --since REV]"}; mode=since ;;
  *) echo "usage: $0 [--record | --since REV]" >&2; exit 2 ;;
esac
if ! command -v run-clang-tidy-19 >/dev/null; then
  echo "installing: clang-tidy-19" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang-tidy-19 >/dev/null
fi

files=("$PWD/(src|tests)/.*\.cpp$")
if [ "$mode" = since ]; then
  if ! git merge-base --is-ancestor "$since" HEAD 2>/dev/null; then
    echo "tidy.sh: $since is not an ancestor of HEAD: the full pass" >&2
  elif ! git diff --quiet "$since" HEAD -- .clang-tidy; then
    echo "tidy.sh: .clang-tidy changed since $since: the full pass" >&2
  else
    # Sources (src/, tests/) whose recorded dependencies include a file changed since REV.
    mapfile -t files < <(git diff --name-only "$since" HEAD | ninja -C build -t deps |
      python3 -c '
import os, re, sys
root = os.getcwd()
changed = {os.path.join(root, p.strip()) for p in open("/dev/fd/3") if p.strip()}
source, picked = None, set()
for line in sys.stdin:
    if not line.startswith(" "):
        source = None
        continue
    path = os.path.normpath(os.path.join(root, "build", line.strip()))
    if source is None:
        source = path
    if path in changed and re.match(re.escape(root) + r"/(src|tests)/.*\.cpp$", source):
        picked.add(source)
for s in sorted(picked):
    print("^" + re.escape(s) + "$")
' 3< <(git diff --name-only "$since" HEAD))
    echo "tidy.sh: ${#files[@]} sources include a file changed since $(git rev-parse --short "$since")" >&2
    if [ ${#files[@]} = 0 ]; then echo "clang-tidy: no findings" >&2; exit 0; fi
  fi
fi
echo "clang-tidy over src/ and tests/ (a few minutes per core for the full pass)" >&2
set +e
run-clang-tidy-19 -p build -j "${RT_BUILD_JOBS:-2}" -quiet "${files[@]}" 2>&1 |
  grep -v -e '^\[ *[0-9]*/[0-9]*\]' -e 'warnings generated' -e '^Suppressed ' \
    -e 'Use -header-filter' -e '^Running clang-tidy' -e '^$'
status=${PIPESTATUS[0]}
set -e
if [ "$status" = 0 ]; then
  echo "clang-tidy: no findings" >&2
  if [ "$mode" = record ]; then
    git rev-parse HEAD > .ci/tidy-base
    echo "tidy.sh: recorded $(git rev-parse --short HEAD) in .ci/tidy-base (commit it)" >&2
  fi
fi
exit "$status"
