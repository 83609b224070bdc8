#!/usr/bin/env bash
# Stage "tidy": clang-tidy (Debian 12's clang-tidy 14, checks in .clang-tidy)
# over the library's translation units, src/*.cpp and the per-ISA kernel TU
# kernels/isa_table.cpp, once for each compile command of each file (so the
# kernel TU once per ISA, with that ISA's flags), from the compile_commands.json
# of a clang configure in build-tidy/. Every finding is an error.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bash scripts/install-deps.sh
need_packages clang clang-tidy

# Configure only: the generated routemat_isa_list.inc is written at configure time.
cmake -S . -B build-tidy -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DROUTEMAT_BUILD_TESTS=OFF \
  -DROUTEMAT_BUILD_BENCHMARKS=OFF -DROUTEMAT_BUILD_PYTHON=OFF

files=(src/*.cpp kernels/isa_table.cpp)
clang-tidy --version
echo "tidy: ${#files[@]} files on $jobs jobs: ${files[*]}"
# One clang-tidy per file, $jobs at a time; xargs exits non-zero if any fails.
printf '%s\n' "${files[@]}" |
  xargs -P "$jobs" -I{} clang-tidy -p build-tidy --quiet --warnings-as-errors='*' {}
echo "tidy: no finding in ${#files[@]} files"
