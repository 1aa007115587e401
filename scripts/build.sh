#!/usr/bin/env bash
# Configures and builds rtjobs and its tests into build/ (Release with debug info).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j"${RT_BUILD_JOBS:-2}"
