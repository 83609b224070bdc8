#!/usr/bin/env bash
# Stage "fuzz": scripts/fuzz.sh (libFuzzer, differential) for SECONDS seconds
# (default 90). Skipped, successfully, while scripts/fuzz.sh does not exist.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
seconds="${1:-90}"
if [ ! -f scripts/fuzz.sh ]; then
  echo "fuzz: skipped, no scripts/fuzz.sh"
  exit 0
fi
bash scripts/fuzz.sh "$seconds"
