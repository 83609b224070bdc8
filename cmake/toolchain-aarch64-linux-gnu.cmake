# Cross-compiling for aarch64 with Debian's crossbuild-essential-arm64; run the
# results with qemu-user: qemu-aarch64 -L /usr/aarch64-linux-gnu ./binary
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
# xsimd and doctest are header-only: the build machine's package config serves
# the target too (Debian installs xsimd's under the host's multiarch directory).
file(GLOB _routemat_xsimd_dirs /usr/lib/*/cmake/xsimd)
if(_routemat_xsimd_dirs AND NOT xsimd_DIR)
  list(GET _routemat_xsimd_dirs 0 _routemat_xsimd_dir)
  set(xsimd_DIR ${_routemat_xsimd_dir} CACHE PATH "xsimd package config (header-only)")
endif()
