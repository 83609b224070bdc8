/* routemat: bf16 and f16 values (ROUTEMAT_BF16, ROUTEMAT_F16) and f32, the
 * conversions the library itself performs, for C and C++ callers.
 *
 * Rows of bf16 (bfloat16) and f16 (IEEE binary16) are stored as their 16-bit
 * patterns (uint16_t). Widening to f32 is exact; narrowing rounds to nearest
 * even, overflows to infinity, keeps -0.0 and turns a NaN into a quiet NaN
 * with its sign and top payload bits. The kernels' SIMD conversions give the
 * same bits (tests/test_half_types.cpp checks every pattern).
 *
 * The functions are static inline: every translation unit that includes this
 * header gets its own copy, so code compiled with different instruction-set
 * flags never shares one (and the library exports none of them). */
#ifndef ROUTEMAT_HALF_H
#define ROUTEMAT_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t routemat_f32_bits(float x) {
  uint32_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}

static inline float routemat_bits_f32(uint32_t b) {
  float x;
  memcpy(&x, &b, sizeof x);
  return x;
}

/* bf16 is the top half of an f32. */
static inline float routemat_bf16_to_f32(uint16_t h) {
  return routemat_bits_f32((uint32_t)h << 16);
}

/* (bits + 0x7FFF + lowest kept bit) >> 16 rounds to nearest even, carrying
 * into the exponent (and to infinity) where it must. */
static inline uint16_t routemat_f32_to_bf16(float x) {
  const uint32_t b = routemat_f32_bits(x);
  if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((b >> 16) | 0x0040u); /* quiet NaN */
  return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
}

static inline float routemat_f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  if (exp == 0x1F) /* infinity, or a NaN made quiet (as F16C and NEON do) */
    return routemat_bits_f32(sign | 0x7F800000u | (mant << 13) | (mant != 0 ? 0x00400000u : 0u));
  if (exp != 0) return routemat_bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
  /* zero or subnormal: mant * 2^-24, exact in f32 */
  return routemat_bits_f32(sign | routemat_f32_bits((float)mant * routemat_bits_f32(0x33800000u)));
}

static inline uint16_t routemat_f32_to_f16(float x) {
  const uint32_t b = routemat_f32_bits(x);
  const uint16_t sign = (uint16_t)((b >> 16) & 0x8000u);
  const uint32_t a = b & 0x7FFFFFFFu;
  uint32_t exp, mant, shift;
  if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu)); /* quiet NaN */
  if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* >= 65520 rounds to infinity */
  if (a >= 0x38800000u) { /* a normal f16 (>= 2^-14): rebias, round to nearest even */
    const uint32_t r = a - 0x38000000u;
    return (uint16_t)(sign | ((r + 0xFFFu + ((r >> 13) & 1u)) >> 13));
  }
  if (a <= 0x33000000u) return sign; /* <= 2^-25, the tie included, rounds to zero */
  /* a subnormal f16: k * 2^-24, k = (the mantissa with its leading 1) >> shift, rounded */
  exp = a >> 23;
  mant = (a & 0x7FFFFFu) | 0x800000u;
  shift = 126 - exp; /* 14 .. 24 */
  return (uint16_t)(sign | ((mant + (1u << (shift - 1)) - 1u + ((mant >> shift) & 1u)) >> shift));
}

#endif
