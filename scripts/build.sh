#!/usr/bin/env bash
# Configures and builds rtjobs and its tests into build/ in Release (-O3, the build packagers and
# users run; the Debian package is made from this tree, scripts/package.sh), warnings as errors
# (RTJOBS_WERROR).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DRTJOBS_WERROR=ON >/dev/null
ninja -C build -j"${RT_BUILD_JOBS:-2}"
