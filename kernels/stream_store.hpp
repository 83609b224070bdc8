// Non-temporal (streaming) stores of whole SIMD registers, for outputs larger
// than the caches: the store goes to memory through the write-combining
// buffers, so the line is not read first (no read-for-ownership) and does not
// evict the working set. x86 only; elsewhere can_stream is always false.
// xsimd 8.1 has no streaming store, so this file calls the intrinsics.
#ifndef ROUTEMAT_STREAM_STORE_HPP
#define ROUTEMAT_STREAM_STORE_HPP

#include <cstdint>

#include "kernels/isa_namespace.hpp"
#include "kernels/kernel_table.hpp"

#if defined(ROUTEMAT_XSIMD_ARCH) && defined(__SSE2__)
#include <immintrin.h>
#define ROUTEMAT_HAS_STREAM 1
#endif

namespace routemat {
namespace ROUTEMAT_ISA_NS {

#ifdef ROUTEMAT_HAS_STREAM
inline void stream_register(float* dst, __m128 v) noexcept { _mm_stream_ps(dst, v); }
inline void stream_register(double* dst, __m128d v) noexcept { _mm_stream_pd(dst, v); }
// 16-bit floats (bf16, f16) are copied as 16-bit integers.
inline void stream_register(std::uint16_t* dst, __m128i v) noexcept {
  _mm_stream_si128(reinterpret_cast<__m128i*>(dst), v);
}
#ifdef __AVX__
inline void stream_register(float* dst, __m256 v) noexcept { _mm256_stream_ps(dst, v); }
inline void stream_register(double* dst, __m256d v) noexcept { _mm256_stream_pd(dst, v); }
inline void stream_register(std::uint16_t* dst, __m256i v) noexcept {
  _mm256_stream_si256(reinterpret_cast<__m256i*>(dst), v);
}
#endif
#ifdef __AVX512F__
inline void stream_register(float* dst, __m512 v) noexcept { _mm512_stream_ps(dst, v); }
inline void stream_register(double* dst, __m512d v) noexcept { _mm512_stream_pd(dst, v); }
inline void stream_register(std::uint16_t* dst, __m512i v) noexcept {
  _mm512_stream_si512(reinterpret_cast<__m512i*>(dst), v);
}
#endif
#endif

// Whether the rows of a.dst may be streamed: the caller asked (a.stream), the
// ISA can, and every row starts and ends on a register boundary, so no line
// is shared by streamed and ordinary stores.
template <class T>
inline bool can_stream(const route_args& a) noexcept {
#ifdef ROUTEMAT_HAS_STREAM
  // In lanes, not bytes: a one-row view may have any stride, and stride *
  // sizeof(T) could overflow.
  constexpr std::int64_t lanes = vec<arch, T>::lanes;
  constexpr std::int64_t bytes = lanes * static_cast<std::int64_t>(sizeof(T));
  return a.stream && reinterpret_cast<std::uintptr_t>(a.dst) % bytes == 0 && a.width % lanes == 0 &&
         a.dst_stride % lanes == 0;
#else
  (void)a;
  return false;
#endif
}

// Streamed stores are weakly ordered: fence them before the shard reports
// that it is done, so another thread that synchronizes with it sees them.
inline void stream_fence() noexcept {
#ifdef ROUTEMAT_HAS_STREAM
  _mm_sfence();
#endif
}

// One register to dst: streamed (dst aligned to it) or an ordinary store.
template <bool Stream, class T, class Batch>
inline void store_batch(T* dst, const Batch& b) noexcept {
#ifdef ROUTEMAT_HAS_STREAM
  if constexpr (Stream) {
    stream_register(dst, b);
    return;
  }
#endif
  b.store_unaligned(dst);
}

// dst = src (or zeros when src is null) with streamed stores; dst aligned to
// a register and width a multiple of its lanes (can_stream).
template <class T>
inline void stream_row(const T* __restrict src, T* __restrict dst, std::int64_t width) noexcept {
#ifdef ROUTEMAT_HAS_STREAM
  using batch = typename vec<arch, T>::batch;
  constexpr std::int64_t L = batch::size;
  for (std::int64_t k = 0; k < width; k += L)
    stream_register(dst + k, src ? batch::load_unaligned(src + k) : batch(T(0)));
#else
  (void)src, (void)dst, (void)width;
#endif
}

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
