/* Calls into routemat's C ABI made the way a C program makes them: enum
 * arguments converted from plain ints by C's rules (any int converts to an
 * enum type in C; in C++ a value outside the enum's range would be undefined
 * behaviour of the caller, not of routemat). fuzz_routes.cpp passes its
 * unknown enum values through these. */
#include <routemat/routemat.h>

#include <stdint.h>

routemat_status routemat_fuzz_select_isa(int32_t isa);
const char* routemat_fuzz_isa_name(int32_t isa);
int routemat_fuzz_isa_supported(int32_t isa);

routemat_status routemat_fuzz_select_isa(int32_t isa) {
  return routemat_select_isa((routemat_isa)isa);
}
const char* routemat_fuzz_isa_name(int32_t isa) { return routemat_isa_name((routemat_isa)isa); }
int routemat_fuzz_isa_supported(int32_t isa) { return routemat_isa_supported((routemat_isa)isa); }
