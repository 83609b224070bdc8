#!/usr/bin/env bash
# Stage "tsan": the threaded tests (routemat_tests' threads* cases: pool,
# host parallel-for, nested and concurrent calls, thread-count changes) and the
# plan tests (parallel plan build and pull) under ThreadSanitizer (GCC,
# RelWithDebInfo, -DROUTEMAT_SANITIZE=thread), in build-tsan/. The first report
# fails the run.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash scripts/install-deps.sh

cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROUTEMAT_SANITIZE=thread \
  -DROUTEMAT_BUILD_PYTHON=OFF -DROUTEMAT_BUILD_BENCHMARKS=OFF
cmake --build build-tsan --parallel "$jobs" --target routemat_tests

export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
build-tsan/tests/routemat_tests --test-case='threads*,plan*,*bits do not depend on threads*,16-bit sums give the same bits*'
