#!/usr/bin/env bash
# Stage "asan": every test under AddressSanitizer and UndefinedBehaviorSanitizer
# (GCC, RelWithDebInfo, -DROUTEMAT_SANITIZE=address,undefined: no recovery, so
# the first report fails its test; leaks are reported too), in build-asan/.
# Off: the Python package (/usr/bin/python3 cannot load an ASan library) and the
# benchmarks. The installed-tree tests stay: examples/consumer, a project of its
# own built against the installed (instrumented) library, links with the same
# -fsanitize flags through LDFLAGS, which its CMake configure and its Makefile read.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash scripts/install-deps.sh

sanitize=address,undefined
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROUTEMAT_SANITIZE="$sanitize" \
  -DROUTEMAT_BUILD_PYTHON=OFF -DROUTEMAT_BUILD_BENCHMARKS=OFF
cmake --build build-asan --parallel "$jobs"

export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LDFLAGS="-fsanitize=$sanitize"
cd build-asan
# routemat_tests.best repeats the per-ISA run of the ISA it picks: run that one once.
ctest --output-on-failure --parallel "$jobs" -E '^routemat_tests[.]best$'
