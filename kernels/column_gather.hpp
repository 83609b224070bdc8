// Gather of width-1 rows (d = 1, a column) with the hardware gather
// instruction: vgatherdps/vgatherdpd on AVX2 and AVX-512. xsimd 8.1's
// batch::gather never emits them, so this file calls the intrinsics.
// Other ISAs gather row by row (the generic path in route_kernels.hpp).
#ifndef ROUTEMAT_COLUMN_GATHER_HPP
#define ROUTEMAT_COLUMN_GATHER_HPP

#include <climits>
#include <cstdint>

#include "kernels/isa_namespace.hpp"
#include "kernels/kernel_table.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace routemat {
namespace ROUTEMAT_ISA_NS {

// Rows per hardware-gather step; 0 where the ISA has no gather.
#if defined(__AVX512F__)
constexpr std::int64_t column_lanes = 16;
#elif defined(__AVX2__)
constexpr std::int64_t column_lanes = 8;
#else
constexpr std::int64_t column_lanes = 0;
#endif

#if defined(__AVX512F__)
using lane_offsets = __m512i;
inline lane_offsets load_offsets(const std::int32_t* idx) noexcept {
  return _mm512_loadu_si512(idx);
}
// Indices were validated to lie in [-1, n) with n * stride < 2^31, so the low
// 32 bits of each int64 index are the index.
inline lane_offsets load_offsets(const std::int64_t* idx) noexcept {
  const __m256i lo = _mm512_cvtepi64_epi32(_mm512_loadu_si512(idx));
  const __m256i hi = _mm512_cvtepi64_epi32(_mm512_loadu_si512(idx + 8));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
inline lane_offsets scale_offsets(lane_offsets off, std::int32_t stride) noexcept {
  return _mm512_mullo_epi32(off, _mm512_set1_epi32(stride));
}

// The masked gather with a zero source for every step: dropped rows (index
// -1, negative offset) are masked off, and no lane depends on the old
// register (GCC 12 warns about the unmasked intrinsics, bug 105593).
template <bool Drops>
inline __mmask16 live_lanes(lane_offsets off) noexcept {
  if constexpr (Drops) return _mm512_cmpgt_epi32_mask(off, _mm512_set1_epi32(-1));
  return 0xFFFF;
}
inline void store_lanes(float* out, __m512 v, bool stream) noexcept {
  if (stream) {
    _mm512_stream_ps(out, v);
  } else {
    _mm512_storeu_ps(out, v);
  }
}
inline void store_lanes(double* out, __m512d v, bool stream) noexcept {
  if (stream) {
    _mm512_stream_pd(out, v);
  } else {
    _mm512_storeu_pd(out, v);
  }
}
// U steps: all U gathers first, then their stores (measured faster than
// alternating them). Stream: out is aligned to 64 bytes, store non-temporally.
template <bool Drops, bool Stream, int U>
inline void gather16(const float* src, const lane_offsets* off, float* out) noexcept {
  __m512 v[U];
  for (int u = 0; u < U; ++u)
    v[u] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live_lanes<Drops>(off[u]), off[u], src, 4);
  for (int u = 0; u < U; ++u) store_lanes(out + std::int64_t{16} * u, v[u], Stream);
}
template <bool Drops, bool Stream, int U>
inline void gather16(const double* src, const lane_offsets* off, double* out) noexcept {
  const __m512d zero = _mm512_setzero_pd();
  __m512d v[2 * U];
  for (int u = 0; u < U; ++u) {
    const __mmask16 live = live_lanes<Drops>(off[u]);
    v[2 * u] = _mm512_mask_i32gather_pd(zero, static_cast<__mmask8>(live),
                                        _mm512_castsi512_si256(off[u]), src, 8);
    v[2 * u + 1] = _mm512_mask_i32gather_pd(zero, static_cast<__mmask8>(live >> 8),
                                            _mm512_extracti64x4_epi64(off[u], 1), src, 8);
  }
  for (int u = 0; u < 2 * U; ++u) store_lanes(out + std::int64_t{8} * u, v[u], Stream);
}
constexpr std::int64_t column_step_bytes = 64;
#define ROUTEMAT_GATHER_STEP gather16
#elif defined(__AVX2__)
using lane_offsets = __m256i;
inline lane_offsets load_offsets(const std::int32_t* idx) noexcept {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx));
}
// Indices were validated to lie in [-1, n) with n * stride < 2^31, so the low
// 32 bits of each int64 index are the index: keep the even 32-bit lanes.
inline lane_offsets load_offsets(const std::int64_t* idx) noexcept {
  const __m256 a = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx)));
  const __m256 b =
      _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + 4)));
  const __m256i low = _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  return _mm256_permute4x64_epi64(low, _MM_SHUFFLE(3, 1, 2, 0));
}
inline lane_offsets scale_offsets(lane_offsets off, std::int32_t stride) noexcept {
  return _mm256_mullo_epi32(off, _mm256_set1_epi32(stride));
}

// The masked gather with a zero source for every step: dropped rows (index
// -1, negative offset) are masked off, and no lane depends on the old
// register (GCC 12 warns about the unmasked intrinsics, bug 105593).
template <bool Drops>
inline __m256i live_lanes(lane_offsets off) noexcept {
  if constexpr (Drops) return _mm256_cmpgt_epi32(off, _mm256_set1_epi32(-1));
  return _mm256_set1_epi32(-1);
}
inline void store_lanes(float* out, __m256 v, bool stream) noexcept {
  if (stream) {
    _mm256_stream_ps(out, v);
  } else {
    _mm256_storeu_ps(out, v);
  }
}
inline void store_lanes(double* out, __m256d v, bool stream) noexcept {
  if (stream) {
    _mm256_stream_pd(out, v);
  } else {
    _mm256_storeu_pd(out, v);
  }
}
// U steps: all U gathers first, then their stores (measured faster than
// alternating them). Stream: out is aligned to 32 bytes, store non-temporally.
template <bool Drops, bool Stream, int U>
inline void gather8(const float* src, const lane_offsets* off, float* out) noexcept {
  __m256 v[U];
  for (int u = 0; u < U; ++u) {
    const __m256 live = _mm256_castsi256_ps(live_lanes<Drops>(off[u]));
    v[u] = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), src, off[u], live, 4);
  }
  for (int u = 0; u < U; ++u) store_lanes(out + std::int64_t{8} * u, v[u], Stream);
}
template <bool Drops, bool Stream, int U>
inline void gather8(const double* src, const lane_offsets* off, double* out) noexcept {
  const __m256d zero = _mm256_setzero_pd();
  __m256d v[2 * U];
  for (int u = 0; u < U; ++u) {
    const __m256i live = live_lanes<Drops>(off[u]);
    const __m256d live_lo =
        _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(live)));
    const __m256d live_hi =
        _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(live, 1)));
    v[2 * u] = _mm256_mask_i32gather_pd(zero, src, _mm256_castsi256_si128(off[u]), live_lo, 8);
    v[2 * u + 1] =
        _mm256_mask_i32gather_pd(zero, src, _mm256_extracti128_si256(off[u], 1), live_hi, 8);
  }
  for (int u = 0; u < 2 * U; ++u) store_lanes(out + std::int64_t{4} * u, v[u], Stream);
}
constexpr std::int64_t column_step_bytes = 32;
#define ROUTEMAT_GATHER_STEP gather8
#endif

template <class T, class I, bool Drops, bool Stream>
inline std::int64_t gather_column_steps(const route_args& a, std::int64_t i) noexcept {
#ifdef ROUTEMAT_GATHER_STEP
  const I* idx = static_cast<const I*>(a.indices);
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  const auto stride = static_cast<std::int32_t>(a.src_stride);
  auto offsets_at = [&](std::int64_t row) {
    const lane_offsets off = load_offsets(idx + row);
    return stride == 1 ? off : scale_offsets(off, stride);
  };
  // 4 gathers in flight: 3-12% faster than 1 on a DRAM-sized source (n = 1M,
  // avx512), no change from L2.
  constexpr int unroll = 4;
  lane_offsets off[unroll];
  if (Stream || a.dst_stride == 1) {
    for (; i + unroll * column_lanes <= a.end; i += unroll * column_lanes) {
      for (int u = 0; u < unroll; ++u) off[u] = offsets_at(i + u * column_lanes);
      ROUTEMAT_GATHER_STEP<Drops, Stream, unroll>(src, off, dst + i);
    }
  }
  alignas(64) T lanes[column_lanes];
  for (; i + column_lanes <= a.end; i += column_lanes) {
    off[0] = offsets_at(i);
    if (Stream || a.dst_stride == 1) {
      ROUTEMAT_GATHER_STEP<Drops, Stream, 1>(src, off, dst + i);
    } else {
      ROUTEMAT_GATHER_STEP<Drops, false, 1>(src, off, lanes);
      for (std::int64_t l = 0; l < column_lanes; ++l) dst[(i + l) * a.dst_stride] = lanes[l];
    }
  }
#else
  (void)a;
#endif
  return i;
}

// Gathers rows [begin, end) of a width-1 gather in steps of column_lanes and
// returns the first row left for the generic path (begin when the hardware
// gather cannot be used: no gather instruction, or lane_offsets beyond 32
// bits). A contiguous output with a.stream set is stored non-temporally from
// its first step-aligned row on; the rows before it are copied one by one.
template <class T, class I, bool Drops>
inline std::int64_t gather_column(const route_args& a) noexcept {
  std::int64_t i = a.begin;
#ifdef ROUTEMAT_GATHER_STEP
  // 32-bit lane offsets: the stride itself must fit too (a one-row source may
  // have any stride; truncated, -1 * stride could turn a dropped row live).
  if (a.src_rows == 0 || a.src_stride > INT32_MAX || (a.src_rows - 1) > INT32_MAX / a.src_stride)
    return i;
  T* dst = static_cast<T*>(a.dst);
  if (!a.stream || a.dst_stride != 1 || reinterpret_cast<std::uintptr_t>(dst) % sizeof(T) != 0)
    return gather_column_steps<T, I, Drops, false>(a, i);
  const I* idx = static_cast<const I*>(a.indices);
  const T* src = static_cast<const T*>(a.src);
  for (; i < a.end && reinterpret_cast<std::uintptr_t>(dst + i) % column_step_bytes != 0; ++i)
    dst[i] = Drops && idx[i] < 0 ? T(0) : src[static_cast<std::int64_t>(idx[i]) * a.src_stride];
  i = gather_column_steps<T, I, Drops, true>(a, i);
  _mm_sfence();  // streamed stores are weakly ordered (see stream_store.hpp)
#undef ROUTEMAT_GATHER_STEP
#else
  (void)a;
#endif
  return i;
}

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
