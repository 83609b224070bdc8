// The gather and scatter-add kernels for one ISA: loops over a row range of
// a validated map. They never check bounds, never allocate, never throw.
#ifndef ROUTEMAT_ROUTE_KERNELS_HPP
#define ROUTEMAT_ROUTE_KERNELS_HPP

#include <cstdint>

#include "kernels/column_gather.hpp"
#include "kernels/isa_namespace.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/row_ops.hpp"

namespace routemat {
namespace ROUTEMAT_ISA_NS {

// dst[i,:] = src[idx[i],:]; a dropped row (idx -1, only when Drops) gets zeros.
struct gather_op {
  template <class T, class I, bool Drops>
  static void run(const route_args& a) noexcept {
    const I* idx = static_cast<const I*>(a.indices);
    const T* src = static_cast<const T*>(a.src);
    T* dst = static_cast<T*>(a.dst);
    std::int64_t i = a.begin;
    if (a.width == 1) i = gather_column<T, I, Drops>(a);
    for (; i < a.end; ++i) {
      const std::int64_t j = idx[i];
      T* out = dst + i * a.dst_stride;
      if (Drops && j < 0) {
        zero_row<arch>(out, a.width);
      } else {
        copy_row<arch>(src + j * a.src_stride, out, a.width);
      }
    }
  }
};

// dst[idx[i],:] += src[i,:] in increasing i, so duplicate indices accumulate
// in a fixed order; a dropped row contributes nothing.
struct scatter_add_op {
  template <class T, class I, bool Drops>
  static void run(const route_args& a) noexcept {
    const I* idx = static_cast<const I*>(a.indices);
    const T* src = static_cast<const T*>(a.src);
    T* dst = static_cast<T*>(a.dst);
    for (std::int64_t i = a.begin; i < a.end; ++i) {
      const std::int64_t j = idx[i];
      if (Drops && j < 0) continue;
      add_row<arch>(src + i * a.src_stride, dst + j * a.dst_stride, a.width);
    }
  }
};

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
