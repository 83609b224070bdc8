// Row primitives (copy, zero, add) for one ISA: vectorized along the row
// width with xsimd batches, plain loops for the scalar ISA. Sums of 16-bit
// rows run in f32 (kernels/half_convert.hpp).
#ifndef ROUTEMAT_ROW_OPS_HPP
#define ROUTEMAT_ROW_OPS_HPP

#include <algorithm>
#include <cstdint>

#include "kernels/half_convert.hpp"
#include "kernels/isa_namespace.hpp"
#include "kernels/stream_store.hpp"

namespace routemat {
namespace ROUTEMAT_ISA_NS {

template <class Arch, class T>
inline void copy_row(const T* __restrict src, T* __restrict dst, std::int64_t width) noexcept {
  constexpr std::int64_t L = vec<Arch, T>::lanes;
  if constexpr (L == 1) {
    for (std::int64_t k = 0; k < width; ++k) dst[k] = src[k];
  } else {
    using batch = typename vec<Arch, T>::batch;
    if (width < L) {
      for (std::int64_t k = 0; k < width; ++k) dst[k] = src[k];
      return;
    }
    std::int64_t k = 0;
    for (; k + 4 * L <= width; k += 4 * L) {
      const batch a = batch::load_unaligned(src + k);
      const batch b = batch::load_unaligned(src + k + L);
      const batch c = batch::load_unaligned(src + k + 2 * L);
      const batch d = batch::load_unaligned(src + k + 3 * L);
      a.store_unaligned(dst + k);
      b.store_unaligned(dst + k + L);
      c.store_unaligned(dst + k + 2 * L);
      d.store_unaligned(dst + k + 3 * L);
    }
    for (; k + L <= width; k += L) batch::load_unaligned(src + k).store_unaligned(dst + k);
    // A copy may rewrite elements it already wrote: finish with one batch
    // ending at the last element instead of a scalar tail.
    if (k < width) batch::load_unaligned(src + width - L).store_unaligned(dst + width - L);
  }
}

template <class Arch, class T>
inline void zero_row(T* dst, std::int64_t width) noexcept {
  for (std::int64_t k = 0; k < width; ++k) dst[k] = T(0);
}

// dst += src. Every element is added exactly once (no overlapping tail). A
// 16-bit T is widened to f32, added, and rounded back once per element.
template <class Arch, class T>
inline void add_row(const T* __restrict src, T* __restrict dst, std::int64_t width) noexcept {
  using A = accumulator_t<T>;
  constexpr std::int64_t L = vec<Arch, A>::lanes;
  std::int64_t k = 0;
  if constexpr (L > 1) {
    using batch = typename vec<Arch, A>::batch;
    for (; k + 2 * L <= width; k += 2 * L) {
      const batch a = load_widened(dst + k) + load_widened(src + k);
      const batch b = load_widened(dst + k + L) + load_widened(src + k + L);
      store_narrowed(dst + k, a);
      store_narrowed(dst + k + L, b);
    }
    for (; k + L <= width; k += L)
      store_narrowed(dst + k, load_widened(dst + k) + load_widened(src + k));
  }
  for (; k < width; ++k) dst[k] = narrow<T>(widen(dst[k]) + widen(src[k]));
}

// out = (overwrite ? 0 : out) + src[rows[0],:] + src[rows[1],:] + ..., in
// that order for every element, one block of registers along the row at a time.
// A 16-bit T is summed in f32 and rounded once per element, when stored.
// Stream: out's rows can take streamed stores (can_stream; f32 and f64 only).
template <class Arch, class T, class P, bool Stream = false>
inline void sum_rows(const T* __restrict src, std::int64_t stride, const P* __restrict rows,
                     std::int64_t count, T* __restrict out, std::int64_t width,
                     bool overwrite) noexcept {
  using A = accumulator_t<T>;
  constexpr std::int64_t L = vec<Arch, A>::lanes;
  std::int64_t k = 0;
  if constexpr (L > 1) {
    using batch = typename vec<Arch, A>::batch;
    auto store = [](T* p, const batch& v) {
      if constexpr (is_half_v<T>) {
        static_assert(!Stream, "16-bit rows are not streamed");
        store_narrowed(p, v);
      } else {
        store_batch<Stream>(p, v);
      }
    };
    const batch zero(A(0));
    for (; k + 4 * L <= width; k += 4 * L) {
      batch a = overwrite ? zero : load_widened(out + k);
      batch b = overwrite ? zero : load_widened(out + k + L);
      batch c = overwrite ? zero : load_widened(out + k + 2 * L);
      batch d = overwrite ? zero : load_widened(out + k + 3 * L);
      for (std::int64_t r = 0; r < count; ++r) {
        const T* row = src + static_cast<std::int64_t>(rows[r]) * stride + k;
        a += load_widened(row);
        b += load_widened(row + L);
        c += load_widened(row + 2 * L);
        d += load_widened(row + 3 * L);
      }
      store(out + k, a);
      store(out + k + L, b);
      store(out + k + 2 * L, c);
      store(out + k + 3 * L, d);
    }
    for (; k + L <= width; k += L) {
      batch a = overwrite ? zero : load_widened(out + k);
      for (std::int64_t r = 0; r < count; ++r)
        a += load_widened(src + static_cast<std::int64_t>(rows[r]) * stride + k);
      store(out + k, a);
    }
  }
  // The tail: fewer than L elements (the whole row on the scalar ISA).
  const std::int64_t tail = L > 1 ? std::min(width - k, L - 1) : width;
  for (std::int64_t t = 0; t < tail; ++t) {
    const std::int64_t e = k + t;
    A acc = overwrite ? A(0) : widen(out[e]);
    for (std::int64_t r = 0; r < count; ++r)
      acc += widen(src[static_cast<std::int64_t>(rows[r]) * stride + e]);
    out[e] = narrow<T>(acc);
  }
}

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
