#!/usr/bin/env bash
# Builds routemat in Release with tests (warnings are errors) in build/ and
# runs every test, the Python package's too (so it installs python3-torch and
# python3-numpy); exits with ctest's status.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh --python

jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DROUTEMAT_BUILD_TESTS=ON -DROUTEMAT_WERROR=ON
cmake --build build --parallel "$jobs"

cd build
exec ctest --output-on-failure --parallel "$jobs"
