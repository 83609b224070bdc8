#!/usr/bin/env bash
# Stage "clang": the GCC Release build of scripts/test.sh, with clang++ instead:
# warnings as errors (benchmarks included), then every test except the Python
# package's (off: scripts/test.sh runs those), in build-clang/.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash scripts/install-deps.sh
need_packages clang

cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DROUTEMAT_WERROR=ON -DROUTEMAT_BUILD_PYTHON=OFF
cmake --build build-clang --parallel "$jobs"
cd build-clang
ctest --output-on-failure --parallel "$jobs"
