#!/usr/bin/env bash
# Installs the Debian 12 packages that routemat's build, tests and benchmarks
# need, if any is missing. Runs apt-get as root (through sudo when not root).
#   --python  also the Python package's test dependencies: python3,
#             python3-numpy, python3-torch (used by /usr/bin/python3)
#   --bench   also the comparison's Python side: the --python packages and
#             python3-matplotlib
set -euo pipefail

packages=(cmake g++ make libxsimd-dev doctest-dev libbenchmark-dev libeigen3-dev pkg-config)
for arg in "$@"; do
  case "$arg" in
    --python) packages+=(python3 python3-numpy python3-torch) ;;
    --bench) packages+=(python3 python3-numpy python3-torch python3-matplotlib) ;;
    *)
      echo "install-deps.sh: unknown option '$arg' (known: --python, --bench)" >&2
      exit 2
      ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps.sh: not a Debian system (no dpkg-query); make sure these are installed:" \
    "${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
  if [ "$status" != "install ok installed" ]; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps.sh: all packages present (${packages[*]})"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps.sh: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "install-deps.sh: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  "${missing[@]}"
