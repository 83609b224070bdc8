#!/usr/bin/env bash
# Builds the libFuzzer differential fuzz target (fuzz/fuzz_routes.cpp) with
# clang, ASan and UBSan in build-fuzz/ and fuzzes routemat for SECONDS
# (default 60), starting from a copy of the seed corpus fuzz/corpus/ (its
# regressions/ included), so the checked-in corpus is never changed. Exits
# non-zero on any crash, sanitizer report, mismatch or timeout; ends with
#   fuzz: N executions in S s (R exec/s), no failures
#
#   bash scripts/fuzz.sh [SECONDS] [-- LIBFUZZER_FLAGS...]
#
# Installs what it needs with apt-get if missing (as root, or through sudo):
# the base packages of scripts/install-deps.sh, then clang and libFuzzer's
# runtime (clang, libclang-rt-dev). Environment:
#   ROUTEMAT_FUZZ_VERBOSE=1            print every input and its outcome
# Files: build-fuzz/run/corpus (the working corpus, with what the run added),
# build-fuzz/run/artifacts (crash-*, timeout-*: the failing inputs),
# build-fuzz/run/fuzz.log. Reproduce a failure with
#   build-fuzz/fuzz/routemat_fuzz build-fuzz/run/artifacts/crash-...
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=60
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  seconds="$1"
  shift
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: SECONDS must be a positive integer, got '$seconds'" >&2
  echo "usage: bash scripts/fuzz.sh [SECONDS] [-- LIBFUZZER_FLAGS...]" >&2
  exit 2
fi
if [ $# -gt 0 ]; then
  if [ "$1" != "--" ]; then
    echo "fuzz.sh: unexpected argument '$1' (usage: bash scripts/fuzz.sh [SECONDS] [-- LIBFUZZER_FLAGS...])" >&2
    exit 2
  fi
  shift
fi
extra_flags=("$@")

# ---- Packages: the base build dependencies, then clang with libFuzzer.
bash scripts/install-deps.sh

libfuzzer_links() {
  local dir
  dir="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$dir/probe.cpp"
  local ok=1
  clang++ -fsanitize=fuzzer,address,undefined "$dir/probe.cpp" -o "$dir/probe" >/dev/null 2>&1 || ok=0
  rm -rf "$dir"
  [ "$ok" -eq 1 ]
}

if ! command -v clang >/dev/null 2>&1 || ! command -v clang++ >/dev/null 2>&1 || ! libfuzzer_links; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "fuzz.sh: clang with libFuzzer is missing; run as root or install sudo (packages: clang libclang-rt-dev)" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  echo "fuzz.sh: installing clang libclang-rt-dev"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    clang libclang-rt-dev
  if ! libfuzzer_links; then
    echo "fuzz.sh: clang++ -fsanitize=fuzzer,address,undefined still cannot link a fuzz target" >&2
    exit 1
  fi
fi

# ---- Build: the library's objects with ASan + UBSan, the target with libFuzzer.
jobs="$(nproc 2>/dev/null || echo 2)"
sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  "-DCMAKE_C_FLAGS=$sanitizers" "-DCMAKE_CXX_FLAGS=$sanitizers" \
  -DROUTEMAT_BUILD_FUZZ=ON -DROUTEMAT_BUILD_TESTS=OFF -DROUTEMAT_BUILD_BENCHMARKS=OFF \
  -DROUTEMAT_BUILD_PYTHON=OFF
cmake --build build-fuzz --parallel "$jobs" --target routemat_fuzz

# ---- Run on a fresh copy of the seed corpus.
run=build-fuzz/run
rm -rf "$run"
mkdir -p "$run/corpus" "$run/artifacts"
cp -R fuzz/corpus/. "$run/corpus/"
unset ROUTEMAT_ISA # every ISA the CPU runs is compared, from the best one down

echo "fuzz.sh: fuzzing for ${seconds} s from $(find "$run/corpus" -type f | wc -l) seed inputs"
set +e
build-fuzz/fuzz/routemat_fuzz "$run/corpus" -max_total_time="$seconds" -print_final_stats=1 \
  -timeout=60 -artifact_prefix="$run/artifacts/" "${extra_flags[@]}" 2>&1 | tee "$run/fuzz.log"
status="${PIPESTATUS[0]}"
set -e

executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/fuzz.log" | tail -n 1)"
rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$run/fuzz.log" | tail -n 1)"
elapsed="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$run/fuzz.log" | tail -n 1)"
artifacts=("$run"/artifacts/*)

if [ "$status" -ne 0 ] || [ -e "${artifacts[0]}" ]; then
  echo "fuzz: FAILED (exit status $status) after ${executions:-?} executions" >&2
  for artifact in "${artifacts[@]}"; do
    [ -e "$artifact" ] || continue
    echo "fuzz: failing input: $artifact" >&2
    for known in fuzz/corpus/regressions/*; do
      if [ -f "$known" ] && cmp -s "$artifact" "$known"; then
        echo "fuzz:   = the checked-in regression $known (a known bug, not yet fixed)" >&2
      fi
    done
  done
  echo "fuzz: reproduce with: build-fuzz/fuzz/routemat_fuzz <failing input>; log: $run/fuzz.log" >&2
  exit 1
fi
if [ -z "$executions" ] || [ -z "$elapsed" ]; then
  echo "fuzz: FAILED: no final statistics in $run/fuzz.log" >&2
  exit 1
fi
echo "fuzz: $executions executions in $elapsed s ($rate exec/s), no failures"
