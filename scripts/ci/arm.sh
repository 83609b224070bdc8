#!/usr/bin/env bash
# Stage "arm": cross-compiles for aarch64 (crossbuild-essential-arm64,
# cmake/toolchain-aarch64-linux-gnu.cmake; warnings as errors) in build-arm/
# and runs every test under qemu-user (qemu-aarch64, the toolchain's
# CMAKE_CROSSCOMPILING_EMULATOR): the suite on neon and on scalar, the C ABI,
# the examples, the installed-tree tests. Off: the benchmarks (no arm64 Google
# Benchmark here) and the Python package (the host's python3 cannot load an
# aarch64 library).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash scripts/install-deps.sh
need_packages crossbuild-essential-arm64 qemu-user

cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DROUTEMAT_WERROR=ON -DROUTEMAT_BUILD_BENCHMARKS=OFF \
  -DROUTEMAT_BUILD_PYTHON=OFF
cmake --build build-arm --parallel "$jobs"
cd build-arm
# routemat_tests.best is routemat_tests.neon on aarch64: run it once, under qemu's ~4x.
ctest --output-on-failure --parallel "$jobs" -E '^routemat_tests[.]best$'
