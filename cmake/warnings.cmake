# routemat_warnings: the warning flags every routemat target compiles with.
option(ROUTEMAT_WERROR "Treat warnings as errors" OFF)
add_library(routemat_warnings INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(routemat_warnings INTERFACE -Wall -Wextra -Wshadow
                                                     $<$<BOOL:${ROUTEMAT_WERROR}>:-Werror>)
endif()
