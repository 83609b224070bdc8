// bf16 and f16 rows (ROUTEMAT_BF16, ROUTEMAT_F16) on the active ISA:
//   - the conversions, exhaustively over all 65536 16-bit patterns and over a
//     sweep of f32 values, against a slow reference rounding (the C++ API's
//     routemat::bf16 / routemat::f16, the kernels' software conversions, and
//     the active ISA's SIMD conversions through the library);
//   - gathers copy the bits exactly (NaN payloads, -0.0, inf), drops give +0.0;
//   - sums (push, plan pull and push, ACCUMULATE and OVERWRITE, sum_forward)
//     equal, bit for bit, a scalar reference doing the same f32 additions in
//     the same order with the same roundings, and lie within a derived
//     tolerance of the dense f64 reference;
//   - the same bits for any thread count; NaN, inf and -0.0 propagate;
//   - mixed 16-bit types are refused with their exact message, nothing written.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "routemat/routemat.h"
#include "routemat/routemat.hpp"
#include "test_support.hpp"

// The kernels' own element conversions (software; the scalar ISA's code),
// compiled here in a namespace of the test's own.
#define ROUTEMAT_ISA_NS isa_test_half
#include "kernels/half_convert.hpp"
#undef ROUTEMAT_ISA_NS

namespace {

using routemat::bf16;
using routemat::f16;
namespace kern = routemat::isa_test_half;

float as_float(std::uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}
std::uint32_t bits_of(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// ---- A slow reference: the formats described by their parameters ------------
struct format {
  int mant_bits;  // stored fraction bits: bf16 7, f16 10
  int exp_bits;   // bf16 8, f16 5
  int bias() const { return (1 << (exp_bits - 1)) - 1; }
  std::uint16_t inf_bits() const {
    return static_cast<std::uint16_t>(((1 << exp_bits) - 1) << mant_bits);
  }
  std::uint16_t quiet_bit() const { return static_cast<std::uint16_t>(1 << (mant_bits - 1)); }
  bool is_nan(std::uint16_t h) const { return (h & 0x7FFF) > inf_bits(); }
  // The value of a non-NaN pattern, in double (exact). The infinity pattern
  // is given the value the next exponent would have (for rounding).
  double value(std::uint16_t h) const {
    const int e = (h & 0x7FFF) >> mant_bits, f = h & ((1 << mant_bits) - 1);
    const double mag = e == 0 ? std::ldexp(f, 1 - bias() - mant_bits)
                              : std::ldexp((1 << mant_bits) + f, e - bias() - mant_bits);
    return (h & 0x8000) ? -mag : mag;
  }
  // Round a double that f32 holds exactly to nearest even, overflow to inf.
  std::uint16_t round(double x) const {
    if (std::isnan(x)) return 0x7FFF;  // not used for NaN
    const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double a = std::fabs(x);
    if (std::isinf(a)) return static_cast<std::uint16_t>(sign | inf_bits());
    // Binary search over the non-negative patterns 0 .. inf (monotone values).
    std::uint32_t lo = 0, hi = inf_bits();
    if (a >= value(inf_bits())) return static_cast<std::uint16_t>(sign | inf_bits());
    while (hi - lo > 1) {  // value(lo) <= a < value(hi)
      const std::uint32_t mid = (lo + hi) / 2;
      if (value(static_cast<std::uint16_t>(mid)) <= a)
        lo = mid;
      else
        hi = mid;
    }
    const double dl = a - value(static_cast<std::uint16_t>(lo)),
                 dh = value(static_cast<std::uint16_t>(hi)) - a;
    const std::uint32_t pick = dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi);
    return static_cast<std::uint16_t>(sign | pick);
  }
};
constexpr format bf16_format{7, 8}, f16_format{10, 5};

template <class H>
constexpr format format_of() {
  return std::is_same_v<H, bf16> ? bf16_format : f16_format;
}
template <class H>
constexpr routemat_value_type type_of() {
  return std::is_same_v<H, bf16> ? ROUTEMAT_BF16 : ROUTEMAT_F16;
}
template <class H>
using kernel_storage =
    std::conditional_t<std::is_same_v<H, bf16>, kern::bf16_storage, kern::f16_storage>;

template <class H>
H from_bits(std::uint16_t b) {
  return H::from_bits(b);
}

// ---- Conversions --------------------------------------------------------------

TEST_CASE_TEMPLATE("16-bit conversions: every pattern widens exactly and narrows back", H, bf16,
                   f16) {
  constexpr format fmt = format_of<H>();
  std::int64_t wrong = 0;
  for (std::uint32_t p = 0; p < 65536; ++p) {
    const auto h = static_cast<std::uint16_t>(p);
    const float wide = static_cast<float>(from_bits<H>(h));
    const float kwide = kern::widen(kernel_storage<H>{h});
    if (fmt.is_nan(h)) {
      // NaN stays NaN: quiet, sign and top payload bits kept.
      const auto want = static_cast<std::uint16_t>(h | fmt.quiet_bit());
      wrong += !std::isnan(wide) || !std::isnan(kwide);
      wrong += H(wide).bits != want;
      wrong += kern::narrow<kernel_storage<H>>(kwide).bits != want;
      wrong += std::signbit(wide) != ((h & 0x8000) != 0);
      continue;
    }
    const double want = fmt.value(h);
    const bool inf = (h & 0x7FFF) == fmt.inf_bits();
    wrong += inf ? !(std::isinf(wide) && std::signbit(wide) == ((h & 0x8000) != 0))
                 : static_cast<double>(wide) != want;
    wrong += bits_of(wide) != bits_of(kwide);
    wrong += std::signbit(wide) != ((h & 0x8000) != 0);  // -0.0 included
    wrong += H(wide).bits != h;
    wrong += kern::narrow<kernel_storage<H>>(kwide).bits != h;
  }
  CHECK(wrong == 0);
}

TEST_CASE_TEMPLATE("16-bit conversions: a sweep of f32 values rounds to nearest even", H, bf16,
                   f16) {
  constexpr format fmt = format_of<H>();
  std::vector<std::uint32_t> sweep;
  for (std::uint64_t b = 0; b <= 0xFFFFFFFFu; b += 65521)
    sweep.push_back(static_cast<std::uint32_t>(b));
  // Every midpoint between neighbouring patterns and its two f32 neighbours
  // (ties to even, just below, just above), for every pattern.
  for (std::uint32_t p = 0; p < 0x7FFF; ++p) {
    const auto h = static_cast<std::uint16_t>(p);
    if (fmt.is_nan(h) || p == fmt.inf_bits()) continue;
    const double mid = (fmt.value(h) + fmt.value(static_cast<std::uint16_t>(p + 1))) / 2;
    const float f = static_cast<float>(mid);
    if (static_cast<double>(f) != mid) continue;  // below f32's subnormals
    for (const std::uint32_t b : {bits_of(f) - 1, bits_of(f), bits_of(f) + 1})
      for (const std::uint32_t s : {0u, 0x80000000u}) sweep.push_back(b | s);
  }
  std::int64_t wrong = 0, checked = 0;
  for (const std::uint32_t b : sweep) {
    const float x = as_float(b);
    const std::uint16_t got = H(x).bits;
    const std::uint16_t kgot = kern::narrow<kernel_storage<H>>(x).bits;
    if (std::isnan(x)) {
      const auto want =
          static_cast<std::uint16_t>(((b >> 16) & 0x8000) | fmt.inf_bits() | fmt.quiet_bit() |
                                     ((b & 0x7FFFFF) >> (23 - fmt.mant_bits)));
      wrong += got != want || kgot != want;
    } else {
      const std::uint16_t want = fmt.round(static_cast<double>(x));
      wrong += got != want || kgot != want;
    }
    ++checked;
  }
  CHECK(checked > 100000);
  CHECK(wrong == 0);
}

// ---- Buffers -----------------------------------------------------------------

// A rows x stride block of 16-bit values in an exact-size heap vector.
template <class H>
using hblock = test::block<H>;

template <class H>
void fill_bits(hblock<H>& b, std::uint32_t seed) {  // any pattern: NaN, inf, -0.0, subnormals
  std::mt19937 rng(seed);
  for (auto& v : b.data) v = H::from_bits(static_cast<std::uint16_t>(rng()));
}
template <class H>
void fill_values(hblock<H>& b, std::uint32_t seed) {  // finite values in [-1, 1]
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  for (auto& v : b.data) v = H(real(rng));
}
template <class H>
bool same_bits(const std::vector<H>& a, const std::vector<H>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(H)) == 0);
}

// ---- Gathers -----------------------------------------------------------------

template <class H, class I>
void check_gather(std::int64_t m, std::int64_t n, std::int64_t d, test::strides s,
                  test::distribution dist, double drop_rate, bool via_plan, std::uint32_t seed) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(d);
  CAPTURE(s.src);
  CAPTURE(s.dst);
  CAPTURE(static_cast<int>(dist));
  CAPTURE(drop_rate);
  CAPTURE(via_plan);
  const std::vector<I> idx = test::make_indices<I>(m, n, dist, seed, drop_rate);
  hblock<H> u(n, d, s.src), y(m, d, s.dst);
  fill_bits(u, seed + 1);
  for (auto& v : y.data) v = H::from_bits(0x5A5A);
  const routemat::map g(m, n, idx.data(),
                        drop_rate > 0 ? routemat::drop::allow : routemat::drop::forbid);
  if (via_plan) {
    const routemat::plan p(g);
    routemat::sum_backward(p, u.cview(), y.view());
  } else {
    routemat::gather(g, u.cview(), y.view());
  }
  std::int64_t wrong = 0, gaps = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    const I j = idx[static_cast<std::size_t>(i)];
    for (std::int64_t k = 0; k < d; ++k) wrong += y.at(i, k).bits != (j < 0 ? 0 : u.at(j, k).bits);
    if (i + 1 < m)
      for (std::int64_t k = d; k < s.dst; ++k) gaps += y.at(i, k).bits != 0x5A5A;
  }
  CHECK(wrong == 0);
  CHECK(gaps == 0);
}

#define HALF_INDEX_TYPES                                                                      \
  std::pair<bf16, std::int32_t>, std::pair<bf16, std::int64_t>, std::pair<f16, std::int32_t>, \
      std::pair<f16, std::int64_t>

class stream_threshold_scope {
 public:
  explicit stream_threshold_scope(std::int64_t bytes) : saved_(routemat::stream_threshold()) {
    routemat::set_stream_threshold(bytes);
  }
  ~stream_threshold_scope() { routemat::set_stream_threshold(saved_); }
  stream_threshold_scope(const stream_threshold_scope&) = delete;
  stream_threshold_scope& operator=(const stream_threshold_scope&) = delete;

 private:
  std::int64_t saved_;
};

TEST_CASE_TEMPLATE("16-bit gathers copy the bits exactly on every shape (streamed or not)", P,
                   HALF_INDEX_TYPES) {
  using H = typename P::first_type;
  using I = typename P::second_type;
  std::uint32_t seed = 7;
  for (const std::int64_t threshold : {std::int64_t{-1}, std::int64_t{0}}) {
    CAPTURE(threshold);
    const stream_threshold_scope stream(threshold);
    for (const std::int64_t d : test::widths)
      for (const test::extent e : test::extents)
        for (const test::strides s : test::stride_cases(d))
          for (const test::distribution dist : test::distributions)
            for (const double drop_rate : {0.0, 0.25}) {
              const bool via_plan = seed % 2 == 0;
              check_gather<H, I>(e.m, e.n, d, s, dist, drop_rate, via_plan, seed++);
            }
    for (const std::int64_t d : test::large_widths)
      for (const test::strides s : test::stride_cases(d))
        check_gather<H, I>(test::large_extent.m, test::large_extent.n, d, s,
                           test::distribution::uniform, 0.0, false, seed++);
  }
  // Streamed rows aligned to every register width (64-byte lines, 32 lanes).
  const stream_threshold_scope stream(0);
  for (const std::int64_t d : {8, 16, 32, 64, 96, 128})
    check_gather<H, I>(777, 100, d, {d, d}, test::distribution::uniform, 0.1, false, seed++);
}

// ---- Sums --------------------------------------------------------------------

enum class sum_op { push, plan_pull_acc, plan_pull_over, plan_push_acc, plan_push_over, forward };
const sum_op all_sum_ops[] = {sum_op::push,          sum_op::plan_pull_acc,  sum_op::plan_pull_over,
                              sum_op::plan_push_acc, sum_op::plan_push_over, sum_op::forward};
bool overwrites(sum_op op) {
  return op == sum_op::plan_pull_over || op == sum_op::plan_push_over || op == sum_op::forward;
}
// Whether the op runs the push (one rounding per routed row): routemat_scatter_add,
// a forced push, or AUTO choosing it (m < n for 16-bit rows).
bool runs_push(sum_op op, std::int64_t m, std::int64_t n) {
  if (op == sum_op::push || op == sum_op::plan_push_acc || op == sum_op::plan_push_over)
    return true;
  if (op == sum_op::forward) return m < n;
  return false;
}

template <class H>
void run_sum(sum_op op, const routemat::map& g, const hblock<H>& src, hblock<H>& dst) {
  const auto pull = routemat::plan_kernel::pull, push = routemat::plan_kernel::push;
  switch (op) {
    case sum_op::push: routemat::scatter_add(g, src.cview(), dst.view()); return;
    case sum_op::forward: {
      const routemat::plan p(g);
      routemat::sum_forward(p, src.cview(), dst.view());
      return;
    }
    default: break;
  }
  const bool pulls = op == sum_op::plan_pull_acc || op == sum_op::plan_pull_over;
  const test::plan_kernel_scope kernel(pulls ? pull : push);
  const routemat::plan p(g);
  routemat::scatter_add(p, src.cview(), dst.view(),
                        overwrites(op) ? routemat::write::overwrite : routemat::write::accumulate);
}

// The scalar reference: the same f32 additions in the same order, rounded
// once per element (pull) or once per routed row (push).
template <class H, class I>
std::vector<H> reference_sum(const std::vector<I>& idx, std::int64_t n, const hblock<H>& src,
                             const hblock<H>& dst, bool overwrite, bool push) {
  const std::int64_t d = src.width;
  std::vector<H> out(static_cast<std::size_t>(n * d));
  std::vector<float> acc(static_cast<std::size_t>(n * d));
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t k = 0; k < d; ++k) {
      const H start = overwrite ? H::from_bits(0) : dst.at(j, k);
      out[static_cast<std::size_t>(j * d + k)] = start;
      acc[static_cast<std::size_t>(j * d + k)] = overwrite ? 0.0f : static_cast<float>(start);
    }
  for (std::size_t i = 0; i < idx.size(); ++i) {
    const I j = idx[i];
    if (j < 0) continue;
    for (std::int64_t k = 0; k < d; ++k) {
      const auto e = static_cast<std::size_t>(j * d + k);
      const float x = static_cast<float>(src.at(static_cast<std::int64_t>(i), k));
      if (push) {
        out[e] = H(static_cast<float>(out[e]) + x);
      } else {
        acc[e] += x;
      }
    }
  }
  if (!push) {
    std::vector<bool> has(static_cast<std::size_t>(n), false);
    for (const I j : idx)
      if (j >= 0) has[static_cast<std::size_t>(j)] = true;
    for (std::int64_t j = 0; j < n; ++j)
      if (has[static_cast<std::size_t>(j)] ||
          overwrite)  // the pull leaves a row without source unread
        for (std::int64_t k = 0; k < d; ++k)
          out[static_cast<std::size_t>(j * d + k)] = H(acc[static_cast<std::size_t>(j * d + k)]);
  }
  return out;
}

// Tolerance against the exact (f64) sum S of an element with |terms| summing to
// A (|dst| included), f the largest fan-in: the f32 sum of f + 1 terms is within
// (f + 1) * 2^-24 * A of S (each addition's error is at most 2^-24 of a partial
// sum, and every partial sum is at most A in magnitude); rounding it once to
// the 16-bit type adds at most u * (|S| + that) with u = 2^-8 (bf16) or 2^-11
// (f16), the unit roundoff of 8 and 11 significant bits; f16 results near zero
// are subnormal, with an absolute error of at most 2^-25 per rounding. The push
// rounds after every routed row, so its u-term counts f + 1 times:
//   pull |R - S| <= u * A + 2 * (f + 1) * 2^-24 * A + 2^-25
//   push |R - S| <= (f + 1) * (u * A + 2 * 2^-24 * A + 2^-25)
// (e.g. for the pull of bf16: the exact f32 sum rounded once is within 2^-8
// relative of the f64 value, plus the f32 summation error).
template <class H>
double tolerance(double magnitude, std::int64_t fan_in, bool push) {
  const double u = std::is_same_v<H, bf16> ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);
  const double f32 = std::ldexp(1.0, -24), sub = std::ldexp(1.0, -25);
  const double terms = static_cast<double>(fan_in + 1);
  if (push) return terms * (u * magnitude + 2 * f32 * magnitude + sub);
  return u * magnitude + 2 * terms * f32 * magnitude + sub;
}

template <class H, class I>
void check_sum(sum_op op, std::int64_t m, std::int64_t n, std::int64_t d, test::strides s,
               test::distribution dist, double drop_rate, std::uint32_t seed) {
  CAPTURE(static_cast<int>(op));
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(d);
  CAPTURE(s.src);
  CAPTURE(s.dst);
  CAPTURE(static_cast<int>(dist));
  CAPTURE(drop_rate);
  const std::vector<I> idx = test::make_indices<I>(m, n, dist, seed, drop_rate);
  hblock<H> src(m, d, s.src), dst(n, d, s.dst);
  fill_values(src, seed + 1);
  fill_values(dst, seed + 2);
  for (std::int64_t j = 0; j + 1 < n; ++j)
    for (std::int64_t k = d; k < s.dst; ++k) dst.at(j, k) = H::from_bits(0x5A5A);
  const hblock<H> before = dst;
  const routemat::map g(m, n, idx.data(),
                        drop_rate > 0 ? routemat::drop::allow : routemat::drop::forbid);
  run_sum(op, g, src, dst);

  const bool push = runs_push(op, m, n), overwrite = overwrites(op);
  const std::vector<H> want = reference_sum(idx, n, src, before, overwrite, push);
  std::vector<double> exact(static_cast<std::size_t>(n * d)), magnitude(exact.size());
  std::vector<std::int64_t> fan(static_cast<std::size_t>(n), 0);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t k = 0; k < d; ++k) {
      const double v = overwrite ? 0.0 : static_cast<double>(static_cast<float>(before.at(j, k)));
      exact[static_cast<std::size_t>(j * d + k)] = v;
      magnitude[static_cast<std::size_t>(j * d + k)] = std::fabs(v);
    }
  for (std::size_t i = 0; i < idx.size(); ++i) {
    if (idx[i] < 0) continue;
    ++fan[static_cast<std::size_t>(idx[i])];
    for (std::int64_t k = 0; k < d; ++k) {
      const double x = static_cast<float>(src.at(static_cast<std::int64_t>(i), k));
      exact[static_cast<std::size_t>(idx[i] * d + k)] += x;
      magnitude[static_cast<std::size_t>(idx[i] * d + k)] += std::fabs(x);
    }
  }
  const std::int64_t fan_in = n > 0 ? *std::max_element(fan.begin(), fan.end()) : 0;
  std::int64_t not_reference = 0, out_of_tolerance = 0, gaps = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    for (std::int64_t k = 0; k < d; ++k) {
      const auto e = static_cast<std::size_t>(j * d + k);
      not_reference += dst.at(j, k).bits != want[e].bits;
      const double got = static_cast<float>(dst.at(j, k));
      out_of_tolerance += !(std::fabs(got - exact[e]) <= tolerance<H>(magnitude[e], fan_in, push));
    }
    if (j + 1 < n)
      for (std::int64_t k = d; k < s.dst; ++k) gaps += dst.at(j, k).bits != 0x5A5A;
  }
  CHECK(not_reference == 0);
  CHECK(out_of_tolerance == 0);
  CHECK(gaps == 0);
}

TEST_CASE_TEMPLATE(
    "16-bit sums equal the same-order f32 reference bit for bit and the f64 one "
    "within tolerance",
    P, HALF_INDEX_TYPES) {
  using H = typename P::first_type;
  using I = typename P::second_type;
  std::uint32_t seed = 300;
  for (const sum_op op : all_sum_ops) {
    for (const std::int64_t d : test::widths)
      for (const test::extent e : test::extents)
        for (const test::strides s : test::stride_cases(d))
          for (const test::distribution dist :
               {test::distribution::uniform, test::distribution::hot, test::distribution::zipf})
            for (const double drop_rate : {0.0, 0.25})
              check_sum<H, I>(op, e.m, e.n, d, s, dist, drop_rate, seed++);
    // m < n (AUTO pushes 16-bit rows) and a larger extent.
    for (const std::int64_t d : {1, 3, 16, 17, 64})
      check_sum<H, I>(op, 40, 300, d, {d, d}, test::distribution::uniform, 0.1, seed++);
    for (const std::int64_t d : test::large_widths)
      check_sum<H, I>(op, test::large_extent.m, test::large_extent.n, d, {d, d},
                      test::distribution::zipf, 0.0, seed++);
  }
}

// Through the library's own (SIMD, then scalar-tail) conversions: every
// pattern added to -0.0 (the exact identity of addition) comes back as
// itself, a NaN made quiet. Row of 65536 (SIMD) and 65536 rows of 1 (scalar).
TEST_CASE_TEMPLATE("16-bit sums: every pattern survives widening and rounding on this ISA", H, bf16,
                   f16) {
  constexpr format fmt = format_of<H>();
  for (const bool wide : {true, false}) {
    CAPTURE(wide);
    const std::int64_t rows = wide ? 1 : 65536, d = wide ? 65536 : 1;
    std::vector<std::int32_t> idx(static_cast<std::size_t>(rows));
    for (std::int64_t i = 0; i < rows; ++i)
      idx[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
    const routemat::map g(rows, rows, idx.data());
    hblock<H> src(rows, d, d);
    for (std::uint32_t p = 0; p < 65536; ++p)
      src.data[p] = H::from_bits(static_cast<std::uint16_t>(p));
    for (const sum_op op : {sum_op::push, sum_op::plan_pull_acc, sum_op::plan_push_acc}) {
      CAPTURE(static_cast<int>(op));
      hblock<H> dst(rows, d, d);
      for (auto& v : dst.data) v = H::from_bits(0x8000);  // -0.0
      run_sum(op, g, src, dst);
      std::int64_t wrong = 0;
      for (std::uint32_t p = 0; p < 65536; ++p) {
        const auto h = static_cast<std::uint16_t>(p);
        const std::uint16_t want =
            fmt.is_nan(h) ? static_cast<std::uint16_t>(h | fmt.quiet_bit()) : h;
        wrong += dst.data[p].bits != want;
      }
      CHECK(wrong == 0);
    }
  }
}

// Two sources per destination whose f32 sum is exact: the library must round
// that sum to nearest even like the slow reference (ties, overflow to inf,
// subnormal results), through the SIMD lanes and the scalar tail.
TEST_CASE_TEMPLATE("16-bit sums: rounding of exact f32 sums matches the slow reference", H, bf16,
                   f16) {
  constexpr format fmt = format_of<H>();
  const std::int64_t n = 6000, d = 37;  // 37: registers and a tail on every ISA
  std::vector<std::int32_t> idx(static_cast<std::size_t>(2 * n));
  for (std::int64_t i = 0; i < 2 * n; ++i)
    idx[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i / 2);
  const routemat::map g(2 * n, n, idx.data());
  hblock<H> src(2 * n, d, d);
  std::mt19937 rng(11);
  // bf16: exponents up to 253, so that a + b stays below f32's overflow.
  const int max_exp = (1 << fmt.exp_bits) - (std::is_same_v<H, bf16> ? 3 : 2);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t k = 0; k < d; ++k) {
      // a: a finite pattern; b: up to 12 binades below it, so that a + b
      // needs at most 11 + 12 + 1 = 24 significant bits (exact in f32).
      const auto ea = static_cast<int>(rng() % static_cast<unsigned>(max_exp)) + 1;
      const int eb = std::max(0, ea - static_cast<int>(rng() % 13));
      const auto frac = [&] {
        return static_cast<std::uint16_t>(rng() & ((1u << fmt.mant_bits) - 1));
      };
      const auto pa = static_cast<std::uint16_t>((rng() & 0x8000) | (ea << fmt.mant_bits) | frac());
      const auto pb = static_cast<std::uint16_t>((rng() & 0x8000) | (eb << fmt.mant_bits) | frac());
      src.at(2 * j, k) = H::from_bits(pa);
      src.at(2 * j + 1, k) = H::from_bits(pb);
    }
  for (const sum_op op : {sum_op::forward, sum_op::plan_pull_over}) {
    CAPTURE(static_cast<int>(op));
    hblock<H> dst(n, d, d);
    run_sum(op, g, src, dst);
    std::int64_t wrong = 0;
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t k = 0; k < d; ++k) {
        const double sum = fmt.value(src.at(2 * j, k).bits) + fmt.value(src.at(2 * j + 1, k).bits);
        REQUIRE(static_cast<double>(static_cast<float>(sum)) == sum);  // exact in f32
        // 0 + a + b: the sum of a zero is +0.0 (x + (-x) = +0.0 under RNE).
        const std::uint16_t want = sum == 0 ? 0 : fmt.round(sum);
        wrong += dst.at(j, k).bits != want;
      }
    CHECK(wrong == 0);
  }
}

// ---- Determinism across thread counts ----------------------------------------

struct num_threads_guard {
  num_threads_guard() = default;
  num_threads_guard(const num_threads_guard&) = delete;
  num_threads_guard& operator=(const num_threads_guard&) = delete;
  ~num_threads_guard() { routemat_set_num_threads(0); }
};

TEST_CASE_TEMPLATE("16-bit sums give the same bits for 1, 2, 3, 4, 7 and 8 threads", H, bf16, f16) {
  const num_threads_guard restore;
  const std::int64_t n = 50000;
  for (const auto& shape :
       {std::pair<std::int64_t, std::int64_t>{1, 300000}, {3, 300000}, {64, 40000}, {64, 20000}}) {
    const std::int64_t d = shape.first, m = shape.second;
    CAPTURE(d);
    CAPTURE(m);
    const std::vector<std::int32_t> idx =
        test::make_indices<std::int32_t>(m, n, test::distribution::zipf, 5, 0.0);
    const routemat::map g(m, n, idx.data());
    hblock<H> src(m, d, d), start(n, d, d);
    fill_values(src, 6);
    fill_values(start, 7);
    const sum_op auto_ops[] = {sum_op::push, sum_op::plan_pull_acc, sum_op::plan_push_over,
                               sum_op::forward};
    for (const sum_op op : auto_ops) {
      CAPTURE(static_cast<int>(op));
      std::vector<H> first;
      for (const int threads : {1, 2, 3, 4, 7, 8}) {
        CAPTURE(threads);
        routemat::set_num_threads(threads);
        hblock<H> dst = start;
        run_sum(op, g, src, dst);
        if (first.empty()) {
          first = dst.data;
        } else {
          CHECK(same_bits(dst.data, first));
        }
      }
    }
    // AUTO plan scatter-adds too (the kernel choice must not follow the threads).
    std::vector<H> first;
    for (const int threads : {1, 2, 3, 4, 7, 8}) {
      routemat::set_num_threads(threads);
      const routemat::plan p(g);
      hblock<H> dst = start;
      routemat::scatter_add(p, src.cview(), dst.view());
      if (first.empty()) {
        first = dst.data;
      } else {
        CHECK(same_bits(dst.data, first));
      }
    }
  }
}

// ---- Special values ----------------------------------------------------------

TEST_CASE_TEMPLATE("16-bit sums propagate NaN, infinities and -0.0", H, bf16, f16) {
  constexpr format fmt = format_of<H>();
  const std::uint16_t inf = fmt.inf_bits(), ninf = static_cast<std::uint16_t>(0x8000 | inf);
  const std::uint16_t one = H(1.0f).bits, nzero = 0x8000;
  const std::uint16_t snan = static_cast<std::uint16_t>(0x8000 | inf | 1);  // signalling, negative
  // dst column k receives src rows 0 and 1 (idx = 0, 0); d = 6 special cases:
  //  k: dst      src0   src1   -> result
  //  0: -0.0     -0.0   -0.0   -> -0.0
  //  1: 1        inf    1      -> inf
  //  2: 1        inf    -inf   -> NaN
  //  3: -NaN(s)  1      1      -> NaN (quiet, negative)
  //  4: 1        -inf   -0.0   -> -inf
  //  5: -0.0     +0.0   -0.0   -> +0.0
  const std::int64_t d = 6;
  const std::vector<std::int32_t> idx{0, 0};
  const routemat::map g(2, 1, idx.data());
  hblock<H> src(2, d, d), start(1, d, d);
  const std::uint16_t s0[d] = {nzero, inf, inf, one, ninf, 0};
  const std::uint16_t s1[d] = {nzero, one, ninf, one, nzero, nzero};
  const std::uint16_t d0[d] = {nzero, one, one, snan, one, nzero};
  for (std::int64_t k = 0; k < d; ++k) {
    src.at(0, k) = H::from_bits(s0[k]);
    src.at(1, k) = H::from_bits(s1[k]);
    start.at(0, k) = H::from_bits(d0[k]);
  }
  for (const sum_op op : {sum_op::push, sum_op::plan_pull_acc, sum_op::plan_push_acc}) {
    CAPTURE(static_cast<int>(op));
    hblock<H> dst = start;
    run_sum(op, g, src, dst);
    CHECK(dst.at(0, 0).bits == nzero);
    CHECK(dst.at(0, 1).bits == inf);
    CHECK(fmt.is_nan(dst.at(0, 2).bits));
    CHECK((dst.at(0, 2).bits & fmt.quiet_bit()) != 0);
    CHECK(fmt.is_nan(dst.at(0, 3).bits));
    CHECK((dst.at(0, 3).bits & fmt.quiet_bit()) != 0);
    CHECK((dst.at(0, 3).bits & 0x8000) != 0);
    CHECK(dst.at(0, 4).bits == ninf);
    CHECK(dst.at(0, 5).bits == 0);
  }
  // A lone NaN source keeps its sign and becomes quiet; -0.0 sources into a
  // -0.0 destination stay -0.0 (ACCUMULATE; an overwrite starts from +0.0).
  const std::vector<std::int32_t> one_idx{0};
  const routemat::map g1(1, 1, one_idx.data());
  hblock<H> x(1, 2, 2), v(1, 2, 2);
  x.at(0, 0) = H::from_bits(snan);
  x.at(0, 1) = H::from_bits(nzero);
  const routemat::plan p(g1);
  routemat::sum_forward(p, x.cview(), v.view());
  CHECK(v.at(0, 0).bits == (snan | fmt.quiet_bit()));
  CHECK(v.at(0, 1).bits == 0);
}

// ---- Refusals ----------------------------------------------------------------

template <class H>
routemat_rows half_rows(H* data, std::int64_t rows, std::int64_t width) {
  return {static_cast<void*>(data), rows, width, width, type_of<H>()};
}

TEST_CASE(
    "bad input: bf16 and f16 (and f32) views mixed in one call are refused, nothing written") {
  const std::vector<std::int32_t> idx{2, 0, 1, 0, 2, 1};
  const routemat::map g(6, 3, idx.data());
  const routemat::plan p(g);
  const routemat_map* m = g.native_handle();
  const routemat_plan* q = p.native_handle();
  // Exact-size buffers with a byte pattern and a snapshot.
  std::vector<bf16> b_small(3 * 2), b_big(6 * 2);
  std::vector<f16> h_small(3 * 2), h_big(6 * 2);
  std::vector<float> f_small(3 * 2, 1.0f), f_big(6 * 2, 1.0f);
  for (auto& v : b_small) v = bf16::from_bits(0x3F80);
  for (auto& v : b_big) v = bf16::from_bits(0x3F80);
  for (auto& v : h_small) v = f16::from_bits(0x3C00);
  for (auto& v : h_big) v = f16::from_bits(0x3C00);
  const auto b_small0 = b_small, b_big0 = b_big;
  const auto h_small0 = h_small, h_big0 = h_big;
  const auto f_small0 = f_small, f_big0 = f_big;
  const routemat_rows bs = half_rows(b_small.data(), 3, 2), bb = half_rows(b_big.data(), 6, 2);
  const routemat_rows hs = half_rows(h_small.data(), 3, 2), hb = half_rows(h_big.data(), 6, 2);
  const routemat_rows fs{f_small.data(), 3, 2, 2, ROUTEMAT_F32},
      fb{f_big.data(), 6, 2, 2, ROUTEMAT_F32};
  auto check_refused = [](routemat_status s, const char* want) {
    CHECK(s == ROUTEMAT_ERROR_SHAPE_MISMATCH);
    CHECK(std::string(routemat_last_error()) == want);
  };
  // Gathers read n = 3 rows, write m = 6; sums read m, write n.
  check_refused(routemat_gather(m, &bs, &hb), "src holds bf16 values but dst holds f16");
  check_refused(routemat_gather(m, &hs, &bb), "src holds f16 values but dst holds bf16");
  check_refused(routemat_sum_backward(q, &bs, &hb), "src holds bf16 values but dst holds f16");
  check_refused(routemat_scatter_add(m, &bb, &hs), "src holds bf16 values but dst holds f16");
  check_refused(routemat_scatter_add(m, &hb, &bs), "src holds f16 values but dst holds bf16");
  for (const routemat_write mode : {ROUTEMAT_ACCUMULATE, ROUTEMAT_OVERWRITE}) {
    check_refused(routemat_plan_scatter_add(q, &bb, &hs, mode),
                  "src holds bf16 values but dst holds f16");
    check_refused(routemat_plan_scatter_add(q, &fb, &bs, mode),
                  "src holds f32 values but dst holds bf16");
  }
  check_refused(routemat_sum_forward(q, &bb, &hs), "src holds bf16 values but dst holds f16");
  check_refused(routemat_sum_forward(q, &hb, &fs), "src holds f16 values but dst holds f32");
  check_refused(routemat_gather(m, &fs, &bb), "src holds f32 values but dst holds bf16");
  // An unknown value type names all four.
  routemat_rows bad = hb;
  const int four = 4;
  std::memcpy(&bad.type, &four, sizeof four);
  CHECK(routemat_scatter_add(m, &bad, &hs) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(routemat_last_error()) ==
        "src type 4 is none of ROUTEMAT_F32, ROUTEMAT_F64, ROUTEMAT_BF16, ROUTEMAT_F16");
  CHECK(same_bits(b_small, b_small0));
  CHECK(same_bits(b_big, b_big0));
  CHECK(same_bits(h_small, h_small0));
  CHECK(same_bits(h_big, h_big0));
  CHECK(f_small == f_small0);
  CHECK(f_big == f_big0);
  // The C++ API refuses mixed types at compile time; a bf16 row block through
  // it names its type in the overflow message like every other type.
  try {
    routemat::gather(g,
                     routemat::rows_view<const bf16>(b_small.data(), 3, 2, std::int64_t{1} << 62),
                     routemat::rows_view<bf16>(b_big.data(), 6, 2));
    CHECK(false);
  } catch (const routemat::error& e) {
    CHECK(e.code() == routemat::status::overflow);
    CHECK(std::string(e.what()) ==
          "src with 3 rows of stride 4611686018427387904 and width 2 (bf16) spans more bytes "
          "than memory has");
  }
  CHECK(same_bits(b_big, b_big0));
}

}  // namespace
