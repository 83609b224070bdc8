#!/usr/bin/env bash
# Builds routemat in Release in build/ and runs the Google Benchmark suite.
# Extra arguments go to the benchmark binary, e.g.
#   bash scripts/bench.sh --benchmark_filter=gather --benchmark_repetitions=5
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh

jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DROUTEMAT_BUILD_BENCHMARKS=ON
cmake --build build --parallel "$jobs"

bench=build/bench/routemat_bench
if [ ! -x "$bench" ]; then
  echo "bench.sh: $bench was not built (does bench/CMakeLists.txt define routemat_bench?)" >&2
  exit 1
fi
exec "$bench" "$@"
