// 16-bit float storage (bf16, f16) for one ISA: the storage types, their
// accumulator (f32), and the conversions between them, one element at a time
// (routemat/half.h, the conversions the public API gives callers) and one
// register of f32 lanes at a time:
//   bf16 <-> f32  integer shifts and adds, the rounding of routemat_f32_to_bf16
//   f16 <-> f32   the hardware where the ISA has it (F16C on avx2, AVX-512F,
//                 NEON), else the element conversions lane by lane
// Every ISA gives the same bits for every input (tests/test_half_types.cpp).
// xsimd 8.1 has no 16-bit float batches, so this file calls the intrinsics.
#ifndef ROUTEMAT_HALF_CONVERT_HPP
#define ROUTEMAT_HALF_CONVERT_HPP

#include <cstdint>
#include <type_traits>

#include "kernels/isa_namespace.hpp"
#include "routemat/half.h"

#if defined(ROUTEMAT_XSIMD_ARCH) && defined(__SSE4_1__)
#include <immintrin.h>
#endif
#if defined(ROUTEMAT_XSIMD_ARCH) && defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace routemat {
namespace ROUTEMAT_ISA_NS {

// The bits of one value; distinct types so that kernel templates tell them apart.
struct bf16_storage {
  std::uint16_t bits;
};
struct f16_storage {
  std::uint16_t bits;
};

template <class T>
constexpr bool is_half_v = std::is_same_v<T, bf16_storage> || std::is_same_v<T, f16_storage>;

// The type sums of T are computed in: f32 for the 16-bit types, T otherwise.
template <class T>
using accumulator_t = std::conditional_t<is_half_v<T>, float, T>;

// ---- One element: the public header's conversions (routemat/half.h) ---------

inline float widen(float x) noexcept { return x; }
inline double widen(double x) noexcept { return x; }
inline float widen(bf16_storage v) noexcept { return routemat_bf16_to_f32(v.bits); }
inline float widen(f16_storage v) noexcept { return routemat_f16_to_f32(v.bits); }

// The storage value of an accumulator.
template <class T>
inline T narrow(accumulator_t<T> x) noexcept {
  if constexpr (std::is_same_v<T, bf16_storage>) {
    return {routemat_f32_to_bf16(x)};
  } else if constexpr (std::is_same_v<T, f16_storage>) {
    return {routemat_f32_to_f16(x)};
  } else {
    return x;
  }
}

// ---- One register of f32 lanes -------------------------------------------------
// load_widened: vec<arch, float>::lanes values of T from p, as f32.
// store_narrowed: those lanes rounded to T at p. f32 and f64 pass through.

#ifdef ROUTEMAT_XSIMD_ARCH
using f32_batch = typename vec<arch, float>::batch;
constexpr std::int64_t f32_lanes = vec<arch, float>::lanes;

#if defined(__AVX512F__)
inline __m512 bf16_widen_lanes(const std::uint16_t* p) noexcept {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline void bf16_narrow_lanes(std::uint16_t* p, __m512 v) noexcept {
  const __m512i b = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  const __m512i rounded =
      _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)), odd), 16);
  const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  const __m512i r = _mm512_mask_blend_epi32(nan, rounded, quiet);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(r));
}
inline __m512 f16_widen_lanes(const std::uint16_t* p) noexcept {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline void f16_narrow_lanes(std::uint16_t* p, __m512 v) noexcept {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                      _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#define ROUTEMAT_HAS_F16_LANES 1
#elif defined(__AVX2__)
inline __m256 bf16_widen_lanes(const std::uint16_t* p) noexcept {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline void bf16_narrow_lanes(std::uint16_t* p, __m256 v) noexcept {
  const __m256i b = _mm256_castps_si256(v);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x7FFF)), odd), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(0x40));
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  const __m256i r = _mm256_blendv_epi8(rounded, quiet, nan);  // every lane <= 0xFFFF
  const __m256i packed =
      _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), _MM_SHUFFLE(3, 1, 2, 0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
}
#ifdef __F16C__
inline __m256 f16_widen_lanes(const std::uint16_t* p) noexcept {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline void f16_narrow_lanes(std::uint16_t* p, __m256 v) noexcept {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
#define ROUTEMAT_HAS_F16_LANES 1
#endif
#elif defined(__SSE4_1__)
inline __m128 bf16_widen_lanes(const std::uint16_t* p) noexcept {
  const __m128i h = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return _mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu16_epi32(h), 16));
}
inline void bf16_narrow_lanes(std::uint16_t* p, __m128 v) noexcept {
  const __m128i b = _mm_castps_si128(v);
  const __m128i odd = _mm_and_si128(_mm_srli_epi32(b, 16), _mm_set1_epi32(1));
  const __m128i rounded =
      _mm_srli_epi32(_mm_add_epi32(_mm_add_epi32(b, _mm_set1_epi32(0x7FFF)), odd), 16);
  const __m128i quiet = _mm_or_si128(_mm_srli_epi32(b, 16), _mm_set1_epi32(0x40));
  const __m128i nan = _mm_castps_si128(_mm_cmpunord_ps(v, v));
  const __m128i r = _mm_blendv_epi8(rounded, quiet, nan);  // every lane <= 0xFFFF
  _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi32(r, r));
}
#elif defined(__aarch64__)
inline float32x4_t bf16_widen_lanes(const std::uint16_t* p) noexcept {
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}
inline void bf16_narrow_lanes(std::uint16_t* p, float32x4_t v) noexcept {
  const uint32x4_t b = vreinterpretq_u32_f32(v);
  const uint32x4_t odd = vandq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(1));
  const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(vaddq_u32(b, vdupq_n_u32(0x7FFF)), odd), 16);
  const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(b, 16), vdupq_n_u32(0x40));
  const uint32x4_t number = vceqq_f32(v, v);  // all ones unless NaN
  vst1_u16(p, vmovn_u32(vbslq_u32(number, rounded, quiet)));
}
inline float32x4_t f16_widen_lanes(const std::uint16_t* p) noexcept {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}
inline void f16_narrow_lanes(std::uint16_t* p, float32x4_t v) noexcept {
  vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v)));
}
#define ROUTEMAT_HAS_F16_LANES 1
#endif

template <class T>
inline typename vec<arch, accumulator_t<T>>::batch load_widened(const T* p) noexcept {
  if constexpr (std::is_same_v<T, bf16_storage>) {
    return f32_batch(bf16_widen_lanes(reinterpret_cast<const std::uint16_t*>(p)));
  } else if constexpr (std::is_same_v<T, f16_storage>) {
#ifdef ROUTEMAT_HAS_F16_LANES
    return f32_batch(f16_widen_lanes(reinterpret_cast<const std::uint16_t*>(p)));
#else
    alignas(64) float lanes[f32_lanes];
    for (std::int64_t l = 0; l < f32_lanes; ++l) lanes[l] = widen(p[l]);
    return f32_batch::load_aligned(lanes);
#endif
  } else {
    return vec<arch, T>::batch::load_unaligned(p);
  }
}

template <class T>
inline void store_narrowed(T* p, const typename vec<arch, accumulator_t<T>>::batch& v) noexcept {
  if constexpr (std::is_same_v<T, bf16_storage>) {
    bf16_narrow_lanes(reinterpret_cast<std::uint16_t*>(p), v);
  } else if constexpr (std::is_same_v<T, f16_storage>) {
#ifdef ROUTEMAT_HAS_F16_LANES
    f16_narrow_lanes(reinterpret_cast<std::uint16_t*>(p), v);
#else
    alignas(64) float lanes[f32_lanes];
    v.store_aligned(lanes);
    for (std::int64_t l = 0; l < f32_lanes; ++l) p[l] = narrow<T>(lanes[l]);
#endif
  } else {
    v.store_unaligned(p);
  }
}
#endif

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
