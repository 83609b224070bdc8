// The gather and scatter-add kernels for one ISA: loops over a row range of
// a validated map. They never check bounds, never allocate, never throw.
#ifndef ROUTEMAT_ROUTE_KERNELS_HPP
#define ROUTEMAT_ROUTE_KERNELS_HPP

#include <cstdint>
#include <utility>

#include "kernels/column_gather.hpp"
#include "kernels/isa_namespace.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/row_ops.hpp"

namespace routemat {
namespace ROUTEMAT_ISA_NS {

// Narrow rows (d <= 8) get kernels of their own with the width known at
// compile time: the row loops become straight-line code, with no trip-count
// checks and no vector tails, which otherwise cost more than the row itself.
// Op::rows<T, I, Drops, W> takes its width from W, or from the call if W == 0.
template <class Op, class T, class I, bool Drops, std::int64_t... W>
inline void run_by_width(const route_args& a, std::integer_sequence<std::int64_t, W...>) noexcept {
  const bool fixed =
      ((a.width == W + 1 && (Op::template rows<T, I, Drops, W + 1>(a), true)) || ...);
  if (!fixed) Op::template rows<T, I, Drops, 0>(a);
}
constexpr std::int64_t fixed_widths = 8;

// dst[i,:] = src[idx[i],:]; a dropped row (idx -1, only when Drops) gets zeros.
struct gather_op {
  template <class T, class I, bool Drops>
  static void run(const route_args& a) noexcept {
    run_by_width<gather_op, T, I, Drops>(a,
                                         std::make_integer_sequence<std::int64_t, fixed_widths>{});
  }
  template <class T, class I, bool Drops, std::int64_t W>
  static void rows(const route_args& a) noexcept {
    // Locals, not a.field: stores through dst could otherwise alias `a` and
    // force a reload of every field on every row.
    const I* __restrict idx = static_cast<const I*>(a.indices);
    const T* __restrict src = static_cast<const T*>(a.src);
    T* __restrict dst = static_cast<T*>(a.dst);
    const std::int64_t end = a.end, width = W > 0 ? W : a.width;
    const std::int64_t src_stride = a.src_stride, dst_stride = a.dst_stride;
    std::int64_t i = width == 1 ? gather_column<T, I, Drops>(a) : a.begin;
    for (; i < end; ++i) {
      const std::int64_t j = idx[i];
      T* out = dst + i * dst_stride;
      if (Drops && j < 0) {
        zero_row<arch>(out, width);
      } else {
        copy_row<arch>(src + j * src_stride, out, width);
      }
    }
  }
};

// dst[idx[i],:] += src[i,:] in increasing i, so duplicate indices accumulate
// in a fixed order; a dropped row contributes nothing.
struct scatter_add_op {
  template <class T, class I, bool Drops>
  static void run(const route_args& a) noexcept {
    run_by_width<scatter_add_op, T, I, Drops>(
        a, std::make_integer_sequence<std::int64_t, fixed_widths>{});
  }
  template <class T, class I, bool Drops, std::int64_t W>
  static void rows(const route_args& a) noexcept {
    const I* __restrict idx = static_cast<const I*>(a.indices);
    const T* __restrict src = static_cast<const T*>(a.src);
    T* __restrict dst = static_cast<T*>(a.dst);
    const std::int64_t end = a.end, width = W > 0 ? W : a.width;
    const std::int64_t src_stride = a.src_stride, dst_stride = a.dst_stride;
    for (std::int64_t i = a.begin; i < end; ++i) {
      const std::int64_t j = idx[i];
      if (Drops && j < 0) continue;
      add_row<arch>(src + i * src_stride, dst + j * dst_stride, width);
    }
  }
};

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
