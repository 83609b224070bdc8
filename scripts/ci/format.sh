#!/usr/bin/env bash
# Stage "format": every C/C++ file tracked by git must be formatted as the
# repository's .clang-format says (Debian 12's clang-format 14); prints the
# offending lines and fails otherwise. Fix with: clang-format -i FILE...
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_packages clang-format git

mapfile -t files < <(git ls-files '*.c' '*.cpp' '*.h' '*.hpp')
if [ "${#files[@]}" -eq 0 ]; then
  echo "format: git lists no C/C++ file (not a git checkout?)" >&2
  exit 1
fi
clang-format --version
clang-format --style=file --dry-run --Werror "${files[@]}"
echo "format: ${#files[@]} files formatted as .clang-format says"
