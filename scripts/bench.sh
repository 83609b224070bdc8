#!/usr/bin/env bash
# The main job: builds routemat in Release in build/, runs the Google Benchmark
# suite (routemat, the plain loops, Eigen, dense G U and the copy ceiling), then
# the side-by-side comparison with PyTorch and NumPy (bench/compare.py, with
# Debian's /usr/bin/python3), and ends with the comparison's table. Writes
#   out/bench.json, out/bench.txt      the Google Benchmark suite
#   out/compare.json, out/compare.png  the comparison and its chart
# Options:
#   --quick        a short run: a subset of the suite and compare.py --quick
#   --all-isas     the suite on every ISA this CPU runs, not only the best
#   --threads N    threads for the comparison (default 1; the suite runs both
#                  1 thread and all threads)
#   --publish      also copy the chart to docs/compare.png (the README's)
#   -- ARGS        the rest goes to the benchmark binary, e.g.
#                  -- --benchmark_filter=gather --benchmark_repetitions=5
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
publish=0
threads=1
suite_args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --all-isas) suite_args+=(--routemat_isa=all) ;;
    --threads)
      threads="${2:?--threads needs a number}"
      shift
      ;;
    --publish) publish=1 ;;
    --)
      shift
      suite_args+=("$@")
      break
      ;;
    *)
      echo "bench.sh: unknown option '$1' (see the comment at the top of scripts/bench.sh)" >&2
      exit 2
      ;;
  esac
  shift
done

bash scripts/install-deps.sh --bench

jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DROUTEMAT_BUILD_BENCHMARKS=ON
cmake --build build --parallel "$jobs"

bench=build/bench/routemat_bench
if [ ! -x "$bench" ]; then
  echo "bench.sh: $bench was not built (does bench/CMakeLists.txt define routemat_bench?)" >&2
  exit 1
fi

mkdir -p out
compare_args=(--threads "$threads" --json out/compare.json --png out/compare.png)
if [ "$quick" -eq 1 ]; then
  # The graph workload (f32, i32, uniform, 1 thread) for every op and
  # baseline, the 5x3 overhead and the ceiling.
  suite_args=(--benchmark_filter='/f32/i32/d=16/n=100000/m=1000000(/[a-z0-9_]+)?$|seed_5x3|copy_ceiling'
    --benchmark_min_time=0.05 "${suite_args[@]}")
  compare_args+=(--quick)
fi

echo "== 1/2: Google Benchmark suite ($bench ${suite_args[*]})" >&2
"$bench" --benchmark_out=out/bench.json --benchmark_out_format=json "${suite_args[@]}" |
  tee out/bench.txt

echo "== 2/2: routemat against PyTorch and NumPy (bench/compare.py ${compare_args[*]})" >&2
/usr/bin/python3 bench/compare.py "${compare_args[@]}"

if [ "$publish" -eq 1 ]; then
  mkdir -p docs
  cp out/compare.png docs/compare.png
  echo "bench.sh: copied the chart to docs/compare.png" >&2
fi
echo "bench.sh: suite in out/bench.txt and out/bench.json; comparison in out/compare.json," \
  "chart in out/compare.png" >&2
