// The kernels of one ISA: gather, scatter-add (push) and the plan's pull-sum,
// loops over a range of a validated map. They never check bounds, never
// allocate, never throw.
#ifndef ROUTEMAT_ROUTE_KERNELS_HPP
#define ROUTEMAT_ROUTE_KERNELS_HPP

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/column_gather.hpp"
#include "kernels/half_convert.hpp"
#include "kernels/isa_namespace.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/row_ops.hpp"
#include "kernels/stream_store.hpp"

namespace routemat {
namespace ROUTEMAT_ISA_NS {

// Narrow rows (d <= 8) and the common widths 16, 32 and 64 get kernels of
// their own with the width known at compile time: the row loops become
// straight-line code, with no trip-count checks and no vector tails, which
// otherwise cost more than the row itself. Op::rows<T, I, W> takes its width
// from W, or from the call if W == 0.
using fixed_widths = std::integer_sequence<std::int64_t, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64>;

template <class Op, class T, class I, std::int64_t... W>
inline void run_by_width(const route_args& a, std::integer_sequence<std::int64_t, W...>) noexcept {
  const bool fixed = ((a.width == W && (Op::template rows<T, I, W>(a), true)) || ...);
  if (!fixed) Op::template rows<T, I, 0>(a);
}

template <class Op>
struct by_width {
  template <class T, class I>
  static void run(const route_args& a) noexcept {
    run_by_width<Op, T, I>(a, fixed_widths{});
  }
};

// dst[i,:] = src[idx[i],:]; a dropped row (idx -1, only when Drops) gets zeros.
template <bool Drops>
struct gather_op : by_width<gather_op<Drops>> {
  template <class T, class I, std::int64_t W>
  static void rows(const route_args& a) noexcept {
    // 16-bit floats are copied as 16-bit integers: exactly their bits.
    using C = std::conditional_t<is_half_v<T>, std::uint16_t, T>;
    if (can_stream<C>(a)) {
      copy_rows<C, I, W, true>(a);
      stream_fence();
    } else {
      copy_rows<C, I, W, false>(a);
    }
  }

  template <class T, class I, std::int64_t W, bool Stream>
  static void copy_rows(const route_args& a) noexcept {
    // Locals, not a.field: stores through dst could otherwise alias `a` and
    // force a reload of every field on every row.
    const I* __restrict idx = static_cast<const I*>(a.indices);
    const T* __restrict src = static_cast<const T*>(a.src);
    T* __restrict dst = static_cast<T*>(a.dst);
    const std::int64_t end = a.end, width = W > 0 ? W : a.width;
    const std::int64_t src_stride = a.src_stride, dst_stride = a.dst_stride;
    std::int64_t i = a.begin;
    if constexpr (sizeof(T) >= 4) {  // the hardware gather moves 32- and 64-bit lanes
      if (width == 1) i = gather_column<T, I, Drops>(a);
    }
    for (; i < end; ++i) {
      const std::int64_t j = idx[i];
      T* out = dst + i * dst_stride;
      const T* row = Drops && j < 0 ? nullptr : src + j * src_stride;
      if constexpr (Stream) {
        stream_row(row, out, width);
      } else if (row == nullptr) {
        zero_row<arch>(out, width);
      } else {
        copy_row<arch>(row, out, width);
      }
    }
  }
};

// dst[idx[i],:] += src[i,:] in increasing i, for destinations in
// [dst_begin, dst_end): duplicates accumulate in a fixed order, a dropped row
// (idx -1) is in no range, and disjoint ranges can run on different threads.
struct scatter_add_op : by_width<scatter_add_op> {
  template <class T, class I, std::int64_t W>
  static void rows(const route_args& a) noexcept {
    const I* __restrict idx = static_cast<const I*>(a.indices);
    const T* __restrict src = static_cast<const T*>(a.src);
    T* __restrict dst = static_cast<T*>(a.dst);
    const std::int64_t end = a.end, width = W > 0 ? W : a.width;
    const std::int64_t src_stride = a.src_stride, dst_stride = a.dst_stride;
    const std::int64_t dst_begin = a.dst_begin;
    const auto range = static_cast<std::uint64_t>(a.dst_end - a.dst_begin);
    for (std::int64_t i = a.begin; i < end; ++i) {
      if constexpr (is_half_v<T>) {
        if (i + prefetch_rows_ahead < end) {
          const std::int64_t next = idx[i + prefetch_rows_ahead];
          if (static_cast<std::uint64_t>(next - dst_begin) < range)
            prefetch_for_write(dst + next * dst_stride, width);
        }
      }
      const std::int64_t j = idx[i];
      if (static_cast<std::uint64_t>(j - dst_begin) >= range) continue;
      add_row<arch>(src + i * src_stride, dst + j * dst_stride, width);
    }
  }

  // 16-bit rows take several times the instructions of f32 rows per element
  // (widening, rounding), so the out-of-order window no longer reaches the
  // next rows' cache misses by itself: the destination rows are prefetched
  // this many rows ahead (bf16, d = 128, n = 1M, m = 64K: 9.7 to 3.3 ms).
  static constexpr std::int64_t prefetch_rows_ahead = 8;

  template <class T>
  static void prefetch_for_write(const T* row, std::int64_t width) noexcept {
    const char* p = reinterpret_cast<const char*>(row);
    const std::int64_t bytes = width * static_cast<std::int64_t>(sizeof(T));
    for (std::int64_t b = 0; b < std::min<std::int64_t>(bytes, 512); b += 64)
      __builtin_prefetch(p + b, 1);
  }
};

// dst[j,:] = (overwrite ? 0 : dst[j,:]) + the sum of src[s,:] over the sources
// s of j in increasing order: each destination is written once, by one call.
struct pull_sum_op : by_width<pull_sum_op> {
  template <class T, class P, std::int64_t W>
  static void rows(const route_args& a) noexcept {
    // Only an overwrite writes rows it has not read: those may be streamed
    // (f32 and f64; 16-bit rows are rounded from f32 registers, never streamed).
    if constexpr (!is_half_v<T> && (W == 0 || W > 8)) {
      if (a.overwrite && can_stream<T>(a)) {
        sum_destinations<T, P, W, true>(a);
        stream_fence();
        return;
      }
    }
    sum_destinations<T, P, W, false>(a);
  }

  template <class T, class P, std::int64_t W, bool Stream>
  static void sum_destinations(const route_args& a) noexcept {
    const P* __restrict sources = static_cast<const P*>(a.indices);
    const P* __restrict offsets = static_cast<const P*>(a.offsets);
    const T* __restrict src = static_cast<const T*>(a.src);
    T* __restrict dst = static_cast<T*>(a.dst);
    const std::int64_t end = a.end, width = W > 0 ? W : a.width;
    const std::int64_t src_stride = a.src_stride, dst_stride = a.dst_stride;
    const bool overwrite = a.overwrite;
    for (std::int64_t j = a.begin; j < end; ++j) {
      const P* first = sources + offsets[j];
      const std::int64_t count = offsets[j + 1] - offsets[j];
      if (count == 0 && !overwrite) continue;  // nothing to add: leave the row unread
      T* out = dst + j * dst_stride;
      if constexpr (W > 0 && W <= 8) {
        // Narrow rows: the whole row's sums live in registers (f32 for
        // 16-bit rows, rounded once when stored).
        using A = accumulator_t<T>;
        A acc[W];
        for (std::int64_t k = 0; k < W; ++k) acc[k] = overwrite ? A(0) : widen(out[k]);
        for (std::int64_t r = 0; r < count; ++r) {
          const T* row = src + static_cast<std::int64_t>(first[r]) * src_stride;
          for (std::int64_t k = 0; k < W; ++k) acc[k] += widen(row[k]);
        }
        for (std::int64_t k = 0; k < W; ++k) out[k] = narrow<T>(acc[k]);
      } else {
        sum_rows<arch, T, P, Stream>(src, src_stride, first, count, out, width, overwrite);
      }
    }
  }
};

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
