# Sourced by every stage script in scripts/ci/: strict mode, the repository
# root as the working directory, a job count, and need_packages. The stages'
# base packages come from scripts/install-deps.sh; what only a stage needs
# (clang, clang-tidy, a cross compiler, qemu) from need_packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

jobs="$(nproc 2>/dev/null || echo 2)"

# need_packages PACKAGE...: installs, with apt-get, those of the Debian packages
# that are not installed (as root, or through sudo).
need_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "need_packages: not a Debian system (no dpkg-query); make sure these are installed: $*" >&2
    return 0
  fi
  local package status missing=()
  for package in "$@"; do
    status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
    [ "$status" = "install ok installed" ] || missing+=("$package")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "need_packages: all present ($*)"
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "need_packages: missing ${missing[*]}; run as root or install sudo" >&2
      return 1
    fi
    sudo=(sudo)
  fi
  echo "need_packages: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${missing[@]}"
}
