// Row primitives (copy, zero, add) for one ISA: vectorized along the row
// width with xsimd batches, plain loops for the scalar ISA.
#ifndef ROUTEMAT_ROW_OPS_HPP
#define ROUTEMAT_ROW_OPS_HPP

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

// dst += src. Every element is added exactly once (no overlapping tail).
template <class Arch, class T>
inline void add_row(const T* __restrict src, T* __restrict dst, std::int64_t width) noexcept {
  constexpr std::int64_t L = vec<Arch, T>::lanes;
  std::int64_t k = 0;
  if constexpr (L > 1) {
    using batch = typename vec<Arch, T>::batch;
    for (; k + 2 * L <= width; k += 2 * L) {
      const batch a = batch::load_unaligned(dst + k) + batch::load_unaligned(src + k);
      const batch b = batch::load_unaligned(dst + k + L) + batch::load_unaligned(src + k + L);
      a.store_unaligned(dst + k);
      b.store_unaligned(dst + k + L);
    }
    for (; k + L <= width; k += L)
      (batch::load_unaligned(dst + k) + batch::load_unaligned(src + k)).store_unaligned(dst + k);
  }
  for (; k < width; ++k) dst[k] += src[k];
}

// out = (overwrite ? 0 : out) + src[rows[0],:] + src[rows[1],:] + ..., in
// that order for every element, one block of registers along the row at a time.
// Stream: out's rows can take streamed stores (can_stream).
template <class Arch, class T, class P, bool Stream = false>
inline void sum_rows(const T* __restrict src, std::int64_t stride, const P* __restrict rows,
                     std::int64_t count, T* __restrict out, std::int64_t width,
                     bool overwrite) noexcept {
  constexpr std::int64_t L = vec<Arch, T>::lanes;
  std::int64_t k = 0;
  if constexpr (L > 1) {
    using batch = typename vec<Arch, T>::batch;
    const batch zero(T(0));
    for (; k + 4 * L <= width; k += 4 * L) {
      batch a = overwrite ? zero : batch::load_unaligned(out + k);
      batch b = overwrite ? zero : batch::load_unaligned(out + k + L);
      batch c = overwrite ? zero : batch::load_unaligned(out + k + 2 * L);
      batch d = overwrite ? zero : batch::load_unaligned(out + k + 3 * L);
      for (std::int64_t r = 0; r < count; ++r) {
        const T* row = src + static_cast<std::int64_t>(rows[r]) * stride + k;
        a += batch::load_unaligned(row);
        b += batch::load_unaligned(row + L);
        c += batch::load_unaligned(row + 2 * L);
        d += batch::load_unaligned(row + 3 * L);
      }
      store_batch<Stream>(out + k, a);
      store_batch<Stream>(out + k + L, b);
      store_batch<Stream>(out + k + 2 * L, c);
      store_batch<Stream>(out + k + 3 * L, d);
    }
    for (; k + L <= width; k += L) {
      batch a = overwrite ? zero : batch::load_unaligned(out + k);
      for (std::int64_t r = 0; r < count; ++r)
        a += batch::load_unaligned(src + static_cast<std::int64_t>(rows[r]) * stride + k);
      store_batch<Stream>(out + k, a);
    }
  }
  for (; k < width; ++k) {
    T acc = overwrite ? T(0) : out[k];
    for (std::int64_t r = 0; r < count; ++r)
      acc += src[static_cast<std::int64_t>(rows[r]) * stride + k];
    out[k] = acc;
  }
}

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
