// Per-ISA compilation context. Every kernel file is compiled once per ISA
// (cmake/isa.cmake) with ROUTEMAT_ISA_NS naming a namespace of its own and,
// except for the scalar ISA, ROUTEMAT_XSIMD_ARCH naming the xsimd arch.
// Keeping all kernel code inside that namespace means no inline function is
// shared between objects compiled with different -m flags (see xsimd #633).
#ifndef ROUTEMAT_ISA_NAMESPACE_HPP
#define ROUTEMAT_ISA_NAMESPACE_HPP

#include <cstdint>

#ifndef ROUTEMAT_ISA_NS
#error "compile kernels/ through cmake/isa.cmake, which defines ROUTEMAT_ISA_NS"
#endif

#ifdef ROUTEMAT_XSIMD_ARCH
#include <xsimd/xsimd.hpp>
#endif

namespace routemat {
namespace ROUTEMAT_ISA_NS {

// The arch tag of the scalar ISA (no SIMD batches).
struct scalar_arch {};

#ifdef ROUTEMAT_XSIMD_ARCH
using arch = ROUTEMAT_XSIMD_ARCH;
#else
using arch = scalar_arch;
#endif

// Lanes of one SIMD register of T (1 for the scalar ISA) and its batch type.
template <class Arch, class T>
struct vec {
  static constexpr std::int64_t lanes = 1;
};
#ifdef ROUTEMAT_XSIMD_ARCH
template <class T>
struct vec<arch, T> {
  using batch = xsimd::batch<T, arch>;
  static constexpr std::int64_t lanes = batch::size;
};
#endif

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
