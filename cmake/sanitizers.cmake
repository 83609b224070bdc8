# ROUTEMAT_SANITIZE: sanitizers for every target of this build, compile and
# link, e.g. -DROUTEMAT_SANITIZE=address,undefined or -DROUTEMAT_SANITIZE=thread
# (empty, the default: none). Any recovery is off, so the first report fails
# the program, and frame pointers are kept for readable stacks. Use a build type
# with debug info (RelWithDebInfo). scripts/ci/asan.sh and scripts/ci/tsan.sh
# use it.
#
# Programs that load libroutemat without being built with the same sanitizer
# cannot run it: /usr/bin/python3 (turn ROUTEMAT_BUILD_PYTHON off), and
# programs built outside this tree, such as examples/consumer, which must link
# with the same -fsanitize flags (scripts/ci/asan.sh passes them in LDFLAGS).
set(ROUTEMAT_SANITIZE "" CACHE STRING
    "Sanitizers for every target, e.g. address,undefined or thread (empty: none)")
if(ROUTEMAT_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "ROUTEMAT_SANITIZE needs GCC or Clang, not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(ROUTEMAT_SANITIZE MATCHES "thread" AND ROUTEMAT_SANITIZE MATCHES "address|leak|memory")
    message(FATAL_ERROR "ROUTEMAT_SANITIZE=${ROUTEMAT_SANITIZE}: ThreadSanitizer cannot be "
                        "combined with AddressSanitizer, LeakSanitizer or MemorySanitizer")
  endif()
  set(ROUTEMAT_SANITIZE_FLAGS -fsanitize=${ROUTEMAT_SANITIZE} -fno-sanitize-recover=all
                              -fno-omit-frame-pointer)
  # Directory-wide: every target defined after this include, in every subdirectory.
  add_compile_options(${ROUTEMAT_SANITIZE_FLAGS})
  add_link_options(${ROUTEMAT_SANITIZE_FLAGS})
  # Clang links UBSan's C++ part (vptr, function checks) only when clang++ links:
  # C programs that load the C++ library need it too.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    add_link_options(-fsanitize-link-c++-runtime)
  endif()
  message(STATUS "routemat: sanitizers ${ROUTEMAT_SANITIZE} on every target")
  if(ROUTEMAT_BUILD_PYTHON)
    message(WARNING "ROUTEMAT_SANITIZE=${ROUTEMAT_SANITIZE} with ROUTEMAT_BUILD_PYTHON=ON: "
                    "/usr/bin/python3 is not built with the sanitizer, so the Python tests "
                    "cannot load libroutemat; configure with -DROUTEMAT_BUILD_PYTHON=OFF")
  endif()
endif()
