// The bag kernels of one ISA: the forward (each bag's weighted routes summed
// into one output row, the gathered rows never materialised) and the two
// backward kernels, the push in route order and the plan's pull by
// destination. Both backward kernels run every route through route_row, so
// every element of dU and every dw sees the same operations in the same
// order: the push and the pull give the same bits (for 16-bit rows too: each
// route's update of a dU row is rounded as it is stored, in both).
//
// Templates over the storage type T of the rows and the accumulator type A:
// bag_storage<T, A> says how a T is read into A and written back, so a
// narrower storage type (bf16, f16 in f32 registers) needs only its own
// bag_storage and an instantiation in kernels/isa_table.cpp.
#ifndef ROUTEMAT_BAG_KERNELS_HPP
#define ROUTEMAT_BAG_KERNELS_HPP

#include <algorithm>
#include <cstdint>

#include "kernels/half_convert.hpp"
#include "kernels/isa_namespace.hpp"
#include "kernels/kernel_table.hpp"

namespace routemat {
namespace ROUTEMAT_ISA_NS {

// How rows of T are read into accumulators of A and written back. T == A:
// plain loads and stores.
template <class T, class A>
struct bag_storage;

template <class T>
struct bag_storage<T, T> {
  static T to_acc(T v) noexcept { return v; }
  static T from_acc(T v) noexcept { return v; }
#ifdef ROUTEMAT_XSIMD_ARCH
  static typename vec<arch, T>::batch load(const T* p) noexcept {
    return vec<arch, T>::batch::load_unaligned(p);
  }
  static void store(T* p, const typename vec<arch, T>::batch& b) noexcept { b.store_unaligned(p); }
#endif
};

// 16-bit storage in f32 accumulators: widened on load, rounded to nearest
// even on every store (kernels/half_convert.hpp).
template <class T>
struct half_bag_storage {
  static float to_acc(T v) noexcept { return widen(v); }
  static T from_acc(float v) noexcept { return narrow<T>(v); }
#ifdef ROUTEMAT_XSIMD_ARCH
  static f32_batch load(const T* p) noexcept { return load_widened(p); }
  static void store(T* p, const f32_batch& b) noexcept { store_narrowed(p, b); }
#endif
};
template <>
struct bag_storage<bf16_storage, float> : half_bag_storage<bf16_storage> {};
template <>
struct bag_storage<f16_storage, float> : half_bag_storage<f16_storage> {};

// a * b + c and the sum of the lanes on batches. The scalar ISA has no
// batches: there they are declared only, for the branches it discards.
#ifdef ROUTEMAT_XSIMD_ARCH
template <class B>
inline B batch_fma(const B& a, const B& b, const B& c) noexcept {
  return xsimd::fma(a, b, c);
}
// Lane by lane, in lane order (xsimd 8.1's hadd for avx512f needs AVX512DQ).
template <class B>
inline auto batch_sum(const B& a) noexcept {
  using A = typename B::value_type;
  alignas(64) A lanes[B::size];
  a.store_aligned(lanes);
  A sum = lanes[0];
  for (std::size_t l = 1; l < B::size; ++l) sum += lanes[l];
  return sum;
}
#else
template <class B>
B batch_fma(const B& a, const B& b, const B& c) noexcept;
template <class B>
auto batch_sum(const B& a) noexcept;
#endif

// a * b + c on scalars: one definition for every tail element, so the push
// and the pull round their tails alike.
template <class A>
inline A mul_add(A a, A b, A c) noexcept {
  return a * b + c;
}

// 1 / kept for a mean, 1 for a sum (and for a bag with nothing kept, which
// has no route to scale).
template <class A>
inline A bag_scale(const bag_args& a, std::int64_t bag) noexcept {
  return a.mean && a.kept[bag] > 0 ? A(1) / static_cast<A>(a.kept[bag]) : A(1);
}

// Routes ahead of the current one whose rows the forward prefetches: the rows
// are random reads from a table far bigger than the caches, and one bag's sum
// is a dependency chain that would otherwise wait for each row in turn.
constexpr std::int64_t prefetch_routes = 16;
constexpr std::int64_t prefetch_row_lines = 8;

template <class T, class I>
inline void prefetch_row(const T* src, std::int64_t stride, const I* idx, std::int64_t r,
                         std::int64_t width) noexcept {
  const std::int64_t j = idx[r];
  if (j < 0) return;
  const char* row = reinterpret_cast<const char*>(src + j * stride);
  const std::int64_t bytes = width * static_cast<std::int64_t>(sizeof(T));
  const std::int64_t lines = std::min<std::int64_t>((bytes + 63) / 64, prefetch_row_lines);
  for (std::int64_t l = 0; l < lines; ++l) __builtin_prefetch(row + l * 64);
}

// out = scale * (w[r0] * src row idx[r0] + w[r] * src row idx[r] + ...) over
// the kept routes r0 < r < last (r0 the first kept one), register-blocked
// along the row; without weights the first row is loaded as it is, so one
// unweighted route copies its row bit for bit (as a gather does, -0.0
// included).
template <class T, class A, class I, bool Weighted>
inline void sum_bag_row(const T* __restrict src, std::int64_t stride, const I* __restrict idx,
                        const T* __restrict weights, std::int64_t r0, std::int64_t last,
                        bool scaled, A scale, T* __restrict out, std::int64_t width) noexcept {
  using S = bag_storage<T, A>;
  constexpr std::int64_t L = vec<arch, A>::lanes;
  const T* first_row = src + static_cast<std::int64_t>(idx[r0]) * stride;
  std::int64_t k = 0;
  if constexpr (L > 1) {
    using batch = typename vec<arch, A>::batch;
    const batch w0(Weighted ? S::to_acc(weights[r0]) : A(1));
    auto start = [&](const T* p) {
      if constexpr (Weighted) return batch(w0 * S::load(p));
      return S::load(p);
    };
    auto add = [&](const batch& w, const T* p, batch& acc) {
      if constexpr (Weighted) {
        acc = batch_fma(w, S::load(p), acc);
      } else {
        (void)w;
        acc += S::load(p);
      }
    };
    const batch s(scale);
    for (; k + 4 * L <= width; k += 4 * L) {
      batch a = start(first_row + k), b = start(first_row + k + L);
      batch c = start(first_row + k + 2 * L), d = start(first_row + k + 3 * L);
      for (std::int64_t r = r0 + 1; r < last; ++r) {
        const std::int64_t j = idx[r];
        if (j < 0) continue;
        const T* row = src + j * stride + k;
        const batch w(Weighted ? S::to_acc(weights[r]) : A(1));
        add(w, row, a);
        add(w, row + L, b);
        add(w, row + 2 * L, c);
        add(w, row + 3 * L, d);
      }
      if (scaled) a *= s, b *= s, c *= s, d *= s;
      S::store(out + k, a);
      S::store(out + k + L, b);
      S::store(out + k + 2 * L, c);
      S::store(out + k + 3 * L, d);
    }
    for (; k + L <= width; k += L) {
      batch a = start(first_row + k);
      for (std::int64_t r = r0 + 1; r < last; ++r) {
        const std::int64_t j = idx[r];
        if (j < 0) continue;
        add(batch(Weighted ? S::to_acc(weights[r]) : A(1)), src + j * stride + k, a);
      }
      if (scaled) a *= s;
      S::store(out + k, a);
    }
  }
  for (; k < width; ++k) {
    A acc = Weighted ? S::to_acc(weights[r0]) * S::to_acc(first_row[k]) : S::to_acc(first_row[k]);
    for (std::int64_t r = r0 + 1; r < last; ++r) {
      const std::int64_t j = idx[r];
      if (j < 0) continue;
      const A v = S::to_acc(src[j * stride + k]);
      acc = Weighted ? mul_add(S::to_acc(weights[r]), v, acc) : acc + v;
    }
    out[k] = S::from_acc(scaled ? acc * scale : acc);
  }
}

// bag row b = scale(b) * sum of w[r] * src row idx[r] over the kept routes
// of b; a bag with no kept route gets zeros.
template <class T, class A, class I>
struct bag_forward_op {
  static void run(const bag_args& a) noexcept {
    if (a.weights != nullptr) {
      rows<true>(a);
    } else {
      rows<false>(a);
    }
  }

  template <bool Weighted>
  static void rows(const bag_args& a) noexcept {
    const I* __restrict idx = static_cast<const I*>(a.indices);
    const std::int64_t* __restrict offsets = a.offsets;
    const T* __restrict src = static_cast<const T*>(a.src);
    const T* __restrict weights = static_cast<const T*>(a.weights);
    T* __restrict out = static_cast<T*>(a.bag_rows);
    const std::int64_t end = a.end, width = a.width;
    const std::int64_t src_stride = a.src_stride, out_stride = a.bag_stride;
    const std::int64_t route_end = offsets[end];
    std::int64_t ahead = offsets[a.begin];  // the next route to prefetch
    for (std::int64_t b = a.begin; b < end; ++b) {
      const std::int64_t first = offsets[b], last = offsets[b + 1];
      const std::int64_t horizon = std::min(last + prefetch_routes, route_end);
      for (ahead = std::max(ahead, first); ahead < horizon; ++ahead)
        prefetch_row(src, src_stride, idx, ahead, width);
      T* row = out + b * out_stride;
      std::int64_t r0 = first;
      while (r0 < last && idx[r0] < 0) ++r0;
      if (r0 == last) {
        for (std::int64_t k = 0; k < width; ++k) row[k] = bag_storage<T, A>::from_acc(A(0));
        continue;
      }
      const bool scaled = a.mean && a.kept[b] > 1;
      sum_bag_row<T, A, I, Weighted>(src, src_stride, idx, weights, r0, last, scaled,
                                     bag_scale<A>(a, b), row, width);
    }
  }
};

// One route of the backward: du += c * dy (Axpy) and returns <dy, u> (Dot),
// dy read once for both. The dot sums lane-wise partial sums, then the lanes,
// then the tail, in a fixed order.
template <class T, class A, bool Dot, bool Axpy>
inline A route_row(A c, const T* __restrict dy, const T* __restrict u, T* __restrict du,
                   std::int64_t width) noexcept {
  using S = bag_storage<T, A>;
  constexpr std::int64_t L = vec<arch, A>::lanes;
  A dot = A(0);
  std::int64_t k = 0;
  if constexpr (L > 1) {
    using batch = typename vec<arch, A>::batch;
    const batch cv(c);
    batch acc0(A(0)), acc1(A(0));
    for (; k + 2 * L <= width; k += 2 * L) {
      const batch y0 = S::load(dy + k), y1 = S::load(dy + k + L);
      if constexpr (Dot) {
        acc0 = batch_fma(y0, S::load(u + k), acc0);
        acc1 = batch_fma(y1, S::load(u + k + L), acc1);
      }
      if constexpr (Axpy) {
        S::store(du + k, batch_fma(cv, y0, S::load(du + k)));
        S::store(du + k + L, batch_fma(cv, y1, S::load(du + k + L)));
      }
    }
    for (; k + L <= width; k += L) {
      const batch y0 = S::load(dy + k);
      if constexpr (Dot) acc0 = batch_fma(y0, S::load(u + k), acc0);
      if constexpr (Axpy) S::store(du + k, batch_fma(cv, y0, S::load(du + k)));
    }
    if constexpr (Dot) dot = batch_sum(acc0 + acc1);
  }
  for (; k < width; ++k) {
    const A y = S::to_acc(dy[k]);
    if constexpr (Dot) dot = mul_add(y, S::to_acc(u[k]), dot);
    if constexpr (Axpy) du[k] = S::from_acc(mul_add(c, y, S::to_acc(du[k])));
  }
  (void)c, (void)u, (void)du;
  return dot;
}

// What the backward does for route r of bag b into destination j: the
// gradient row and the weight gradient.
template <class T, class A, bool Dot, bool Axpy>
inline void backward_route(const bag_args& a, std::int64_t r, std::int64_t b, std::int64_t j,
                           A scale) noexcept {
  using S = bag_storage<T, A>;
  const T* dy = static_cast<const T*>(a.bag_rows) + b * a.bag_stride;
  const T* u = Dot ? static_cast<const T*>(a.src) + j * a.src_stride : nullptr;
  T* du = Axpy ? static_cast<T*>(a.grad) + j * a.grad_stride : nullptr;
  A c = a.weights != nullptr ? S::to_acc(static_cast<const T*>(a.weights)[r]) : A(1);
  if (a.mean) c = c * scale;
  const A dot = route_row<T, A, Dot, Axpy>(c, dy, u, du, a.width);
  if constexpr (Dot) static_cast<T*>(a.weight_grad)[r] = S::from_acc(a.mean ? dot * scale : dot);
}

// Picks the instantiation for the outputs the call asked for.
template <class Op>
inline void run_backward(const bag_args& a) noexcept {
  const bool dot = a.weight_grad != nullptr, axpy = a.grad != nullptr;
  if (dot && axpy) {
    Op::template rows<true, true>(a);
  } else if (dot) {
    Op::template rows<true, false>(a);
  } else if (axpy) {
    Op::template rows<false, true>(a);
  }
}

// The push: bags b in [begin, end), their routes in order, those routed into
// [dst_begin, dst_end) (a dropped route, -1, is in no range).
template <class T, class A, class I>
struct bag_push_op {
  static void run(const bag_args& a) noexcept { run_backward<bag_push_op>(a); }

  template <bool Dot, bool Axpy>
  static void rows(const bag_args& a) noexcept {
    const I* __restrict idx = static_cast<const I*>(a.indices);
    const std::int64_t dst_begin = a.dst_begin;
    const auto range = static_cast<std::uint64_t>(a.dst_end - a.dst_begin);
    for (std::int64_t b = a.begin; b < a.end; ++b) {
      const A scale = bag_scale<A>(a, b);
      for (std::int64_t r = a.offsets[b]; r < a.offsets[b + 1]; ++r) {
        const std::int64_t j = idx[r];
        if (static_cast<std::uint64_t>(j - dst_begin) >= range) continue;
        backward_route<T, A, Dot, Axpy>(a, r, b, j, scale);
      }
    }
  }
};

// The pull: destinations j in [begin, end), each summing its routes in
// increasing order, so each gradient row is written by one call.
template <class T, class A, class P>
struct bag_pull_op {
  static void run(const bag_args& a) noexcept { run_backward<bag_pull_op>(a); }

  template <bool Dot, bool Axpy>
  static void rows(const bag_args& a) noexcept {
    const P* __restrict sources = static_cast<const P*>(a.sources);
    const P* __restrict offsets = static_cast<const P*>(a.source_offsets);
    for (std::int64_t j = a.begin; j < a.end; ++j) {
      for (std::int64_t s = offsets[j]; s < offsets[j + 1]; ++s) {
        const std::int64_t r = sources[s];
        const std::int64_t b = a.bag_of[r];
        backward_route<T, A, Dot, Axpy>(a, r, b, j, bag_scale<A>(a, b));
      }
    }
  }
};

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat

#endif
