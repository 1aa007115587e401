#!/usr/bin/env bash
# Configures and builds rtjobs and its tests into build/ (Release with debug info), warnings as
# errors (RTJOBS_WERROR).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTJOBS_WERROR=ON >/dev/null
ninja -C build -j"${RT_BUILD_JOBS:-2}"
