#!/bin/sh
# ctest's routemat_consumer_pkgconfig: builds examples/consumer with its Makefile,
# out of source, against the routemat installed in <prefix> and found through
# pkg-config only, runs both programs without LD_LIBRARY_PATH, and checks that
# ./consumer loads the installed libroutemat.so and ./consumer_static none.
# Exits 77 (ctest: skipped) when make or pkg-config is missing.
# Usage: consumer_make.sh <examples/consumer> <build dir> <prefix> <libdir, relative> <C compiler>
#                         [more make arguments, e.g. CFLAGS=...]
set -eu
src=$1 build=$2 prefix=$3 libdir=$4 cc=$5
shift 5

for tool in make pkg-config; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIPPED: no $tool on PATH, so the pkg-config/Makefile consumer is not built"
    exit 77
  fi
done
unset LD_LIBRARY_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

rm -rf "$build"
mkdir -p "$build"
pcdir=$prefix/$libdir/pkgconfig
make -C "$build" -f "$src/Makefile" PKG_CONFIG_PATH="$pcdir" CC="$cc" "$@" check

# pkg-config must have taken the installed routemat.pc, and the programs its library.
want=$(cd "$prefix/$libdir" && pwd -P)
got=$(cd "$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir routemat)" && pwd -P)
if [ "$got" != "$want" ]; then
  echo "FAILED: pkg-config's libdir is $got, not the installed $want"
  exit 1
fi
if command -v ldd >/dev/null 2>&1; then
  so=$(ldd "$build/consumer" | sed -n 's/^[[:space:]]*libroutemat\.so[^ ]* => \([^ ]*\) .*/\1/p')
  if [ -z "$so" ] || [ "$(cd "$(dirname "$so")" && pwd -P)" != "$want" ]; then
    echo "FAILED: consumer loads libroutemat from '${so:-nowhere}', not from $want"
    exit 1
  fi
  if ldd "$build/consumer_static" | grep -q libroutemat; then
    echo "FAILED: consumer_static depends on libroutemat.so"
    exit 1
  fi
  echo "consumer loads $so; consumer_static has routemat linked in"
fi
