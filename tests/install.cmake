# routemat as installed (included from tests/CMakeLists.txt). The build is
# installed into <build>/install-test; examples/consumer is then built and run
# against that prefix only, through the CMake package and through pkg-config,
# and the installed shared library's exports are checked.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}"
   OR IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  message(STATUS "routemat: absolute install directories, which --prefix cannot move: "
                 "no install tests")
  return()
endif()

set(install_prefix ${PROJECT_BINARY_DIR}/install-test)
set(consumer_src ${PROJECT_SOURCE_DIR}/examples/consumer)
set(consumer_cmake_dir ${PROJECT_BINARY_DIR}/consumer-cmake)
set(consumer_make_dir ${PROJECT_BINARY_DIR}/consumer-make)

# Fixture routemat_installed: a fresh install of this build (its configuration).
add_test(NAME routemat_install_clean
         COMMAND ${CMAKE_COMMAND} -E rm -rf ${install_prefix} ${consumer_cmake_dir}
                 ${consumer_make_dir})
add_test(NAME routemat_install
         COMMAND ${CMAKE_COMMAND} --install ${PROJECT_BINARY_DIR} --prefix ${install_prefix}
                 --config $<CONFIG>)
set_tests_properties(routemat_install_clean PROPERTIES FIXTURES_SETUP routemat_install_clean)
set_tests_properties(routemat_install PROPERTIES FIXTURES_REQUIRED routemat_install_clean
                                                 FIXTURES_SETUP routemat_installed)

# The CMake consumer, a project of its own: find_package(routemat) must take the
# installed package and nothing else, so routemat_DIR names its config directory
# and the package registries (where a build tree could be exported) are off. Its
# own ctest runs the program linked to the shared and to the static library.
set(consumer_options
    -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${install_prefix}
    -Droutemat_DIR=${install_prefix}/${CMAKE_INSTALL_LIBDIR}/cmake/routemat
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
    -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER}
    -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER})
if(CMAKE_TOOLCHAIN_FILE)
  list(APPEND consumer_options -DCMAKE_TOOLCHAIN_FILE=${CMAKE_TOOLCHAIN_FILE})
endif()
if(ROUTEMAT_WERROR)
  list(APPEND consumer_options -DCMAKE_COMPILE_WARNING_AS_ERROR=ON)
endif()
set(generator_options --build-generator ${CMAKE_GENERATOR})
if(CMAKE_GENERATOR_PLATFORM)
  list(APPEND generator_options --build-generator-platform ${CMAKE_GENERATOR_PLATFORM})
endif()
if(CMAKE_GENERATOR_TOOLSET)
  list(APPEND generator_options --build-generator-toolset ${CMAKE_GENERATOR_TOOLSET})
endif()
if(CMAKE_MAKE_PROGRAM)
  list(APPEND generator_options --build-makeprogram ${CMAKE_MAKE_PROGRAM})
endif()
add_test(NAME routemat_consumer_cmake
         COMMAND ${CMAKE_CTEST_COMMAND} -C Release
                 --build-and-test ${consumer_src} ${consumer_cmake_dir} ${generator_options}
                 --build-options ${consumer_options}
                 --test-command ${CMAKE_CTEST_COMMAND} -C Release -V)
set_tests_properties(routemat_consumer_cmake PROPERTIES FIXTURES_REQUIRED routemat_installed)

# The Makefile consumer, through pkg-config (shared with an rpath, and static).
# A host tool chain: not when cross-compiling. Skipped without make or pkg-config.
if(NOT WIN32 AND NOT CMAKE_CROSSCOMPILING)
  set(make_options "")
  if(ROUTEMAT_WERROR)
    set(make_options "CFLAGS=-O2 -Wall -Wextra -Werror")
  endif()
  add_test(NAME routemat_consumer_pkgconfig
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/consumer_make.sh ${consumer_src}
                   ${consumer_make_dir} ${install_prefix} ${CMAKE_INSTALL_LIBDIR}
                   ${CMAKE_C_COMPILER} ${make_options})
  set_tests_properties(routemat_consumer_pkgconfig PROPERTIES FIXTURES_REQUIRED routemat_installed
                                                              SKIP_RETURN_CODE 77)
endif()

# The installed shared library exports only routemat_ symbols too.
add_test(NAME routemat_exports_only_routemat_symbols.installed
         COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM}
                 -DLIBRARY=${install_prefix}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:routemat>
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/check_exports.cmake)
set_tests_properties(routemat_exports_only_routemat_symbols.installed PROPERTIES
                     FIXTURES_REQUIRED routemat_installed)
