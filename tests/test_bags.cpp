// Bags (EmbeddingBag sum/mean, MoE top-k combine, weighted routes) on the
// active ISA: forward and backward (dU and dw) against a dense reference in
// f64, weight gradients against central differences, the special shapes
// (empty bags, one bag holding every route, B = 0, m = 0, k = 1 equal to the
// gather), and backward bits that depend neither on the thread count nor on
// whether a plan is used.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "routemat/routemat.h"
#include "routemat/routemat.hpp"
#include "test_support.hpp"

namespace {

constexpr double gap_value = -12345.0;  // stride gaps, which no call may write

// Bag boundaries: B bags over m routes, cut at random points (so some bags
// are empty and some long), or every bag k routes.
std::vector<std::int64_t> random_offsets(std::int64_t m, std::int64_t bags, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> cut(0, m);
  std::vector<std::int64_t> offsets(static_cast<std::size_t>(bags + 1), 0);
  for (std::int64_t b = 1; b < bags; ++b) offsets[static_cast<std::size_t>(b)] = cut(rng);
  offsets[static_cast<std::size_t>(bags)] = m;
  std::sort(offsets.begin(), offsets.end());
  return offsets;
}

std::vector<std::int64_t> fixed_offsets(std::int64_t m, std::int64_t k) {
  std::vector<std::int64_t> offsets;
  for (std::int64_t r = 0; r <= m; r += k) offsets.push_back(r);
  return offsets;
}

// Integer-valued weights in [-3, 3] (every product and sum stays exact) or
// uniform in [-1, 1).
template <class T>
std::vector<T> random_weights(std::int64_t m, std::uint32_t seed, bool integer_valued) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> integer(-3, 3);
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  std::vector<T> w(static_cast<std::size_t>(m));
  for (auto& v : w) v = test::from_double<T>(integer_valued ? integer(rng) : real(rng));
  return w;
}

template <class T>
void fill_gaps(test::block<T>& b) {
  for (std::int64_t r = 0; r + 1 < b.rows; ++r)
    for (std::int64_t k = b.width; k < b.stride; ++k) b.at(r, k) = test::from_double<T>(gap_value);
}

template <class T>
std::int64_t gaps_changed(const test::block<T>& b) {
  const T gap = test::from_double<T>(gap_value);
  std::int64_t changed = 0;
  for (std::int64_t r = 0; r + 1 < b.rows; ++r)
    for (std::int64_t k = b.width; k < b.stride; ++k) {
      const T v = b.at(r, k);
      changed += std::memcmp(&v, &gap, sizeof v) != 0;
    }
  return changed;
}

template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// The bag matrix times G as a dense B x n matrix in f64: P[b, j] = the sum of
// scale(b) * w[r] over the kept routes r of bag b with idx[r] = j. With
// `magnitude`, |scale(b) * w[r]| (for error bounds).
template <class T, class I>
std::vector<double> dense_bag_matrix(const std::vector<I>& idx,
                                     const std::vector<std::int64_t>& offsets, std::int64_t n,
                                     const std::vector<T>& weights, bool mean, bool magnitude) {
  const auto bags = static_cast<std::int64_t>(offsets.size()) - 1;
  const std::vector<double> g = test::dense_matrix(idx, n);  // m x n
  std::vector<double> p(static_cast<std::size_t>(bags * n), 0.0);
  for (std::int64_t b = 0; b < bags; ++b) {
    std::int64_t kept = 0;
    for (std::int64_t r = offsets[b]; r < offsets[b + 1]; ++r) kept += idx[r] >= 0;
    const double scale = mean && kept > 0 ? 1.0 / static_cast<double>(kept) : 1.0;
    for (std::int64_t r = offsets[b]; r < offsets[b + 1]; ++r) {
      const double w = weights.empty() ? 1.0 : test::to_double(weights[r]);
      for (std::int64_t j = 0; j < n; ++j) {
        const double gij = g[static_cast<std::size_t>(r * n + j)];
        if (gij != 0.0)
          p[static_cast<std::size_t>(b * n + j)] += magnitude ? std::abs(scale * w) : scale * w;
      }
    }
  }
  return p;
}

// out (rows x d) = P (rows x cols) * x (cols x d) in f64, P dense row-major;
// `transpose` multiplies by P^T instead (then P is cols x rows).
template <class T>
std::vector<double> dense_product(const std::vector<double>& p, std::int64_t rows,
                                  std::int64_t cols, const test::block<T>& x, bool transpose,
                                  bool magnitude) {
  const std::int64_t d = x.width;
  std::vector<double> out(static_cast<std::size_t>(rows * d), 0.0);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) {
      const double pij = transpose ? p[static_cast<std::size_t>(j * rows + i)]
                                   : p[static_cast<std::size_t>(i * cols + j)];
      if (pij == 0.0) continue;
      for (std::int64_t k = 0; k < d; ++k) {
        const double v = test::to_double(x.at(j, k));
        out[static_cast<std::size_t>(i * d + k)] += pij * (magnitude ? std::abs(v) : v);
      }
    }
  return out;
}

// Tolerance on random inputs, relative to the sum of the terms' magnitudes:
// a few ulps of the accumulator per term of the longest sum, and for 16-bit
// rows the one rounding of the result.
template <class T>
double tolerance(std::int64_t terms) {
  const double per_term = 4.0 * static_cast<double>(terms + 2);
  if constexpr (test::is_half_v<T>) return per_term * test::epsilon<float>() + test::epsilon<T>();
  return per_term * test::epsilon<T>();
}

// The same for dU, which 16-bit rows round once per route added into a row:
// up to `hottest` roundings of a partial sum no larger than the bound.
template <class T>
double accumulate_tolerance(std::int64_t terms, std::int64_t hottest) {
  if constexpr (test::is_half_v<T>)
    return tolerance<T>(terms) + static_cast<double>(hottest + 1) * test::epsilon<T>();
  return tolerance<T>(terms);
}

// The absolute error a result in T's subnormal range may have on top of the
// relative one: f16's subnormals are 2^-24 apart (f32's and bf16's, far
// below any sum here, are taken as 0).
template <class T>
constexpr double subnormal_spacing() {
  return std::is_same_v<T, routemat::f16> ? 0x1p-24 : 0.0;
}

// Integer-valued f16 rows in [-4, 4] rather than [-64, 64], so that no exact
// sum or dot of the catalogue leaves f16's range (65504).
template <class T>
void fit_f16_range(test::block<T>& b, bool integer_valued) {
  if constexpr (std::is_same_v<T, routemat::f16>) {
    if (!integer_valued) return;
    for (auto& v : b.data) v = T(std::trunc(static_cast<float>(v) / 16.0f));
  } else {
    (void)b, (void)integer_valued;
  }
}

// Elements of `got` (rows x width) that miss the reference: exactly (exact) or
// by more than tol * bound.
template <class T>
std::int64_t misses(const test::block<T>& got, const std::vector<double>& want,
                    const std::vector<double>& bound, bool exact, double tol) {
  std::int64_t wrong = 0;
  for (std::int64_t r = 0; r < got.rows; ++r)
    for (std::int64_t k = 0; k < got.width; ++k) {
      const auto e = static_cast<std::size_t>(r * got.width + k);
      const double g = test::to_double(got.at(r, k));
      wrong += exact ? g != test::to_double(test::from_double<T>(want[e]))
                     : !(std::abs(g - want[e]) <= tol * bound[e] + subnormal_spacing<T>());
    }
  return wrong;
}

struct bag_shape {
  std::int64_t m, n, d;
  std::int64_t bags;      // with random offsets
  std::int64_t bag_size;  // > 0: fixed-size bags instead
  test::strides s;
  test::distribution dist;
  double drop_rate;
  bool weighted, mean, integer_valued;
};

// Forward and backward of one shape against the dense reference; the
// backward with and without a plan, which must agree bit for bit, and with
// each output alone.
template <class T, class I>
void check_bags(const bag_shape& c, std::uint32_t seed) {
  CAPTURE(c.m);
  CAPTURE(c.n);
  CAPTURE(c.d);
  CAPTURE(c.bags);
  CAPTURE(c.bag_size);
  CAPTURE(c.s.src);
  CAPTURE(c.s.dst);
  CAPTURE(static_cast<int>(c.dist));
  CAPTURE(c.drop_rate);
  CAPTURE(c.weighted);
  CAPTURE(c.mean);
  CAPTURE(c.integer_valued);
  const std::vector<I> idx = test::make_indices<I>(c.m, c.n, c.dist, seed, c.drop_rate);
  const std::vector<std::int64_t> offsets =
      c.bag_size > 0 ? fixed_offsets(c.m, c.bag_size) : random_offsets(c.m, c.bags, seed + 1);
  const auto bags_count = static_cast<std::int64_t>(offsets.size()) - 1;
  const routemat::map g(c.m, c.n, idx.data(), routemat::drop::allow);
  const routemat::bags bags = c.bag_size > 0 ? routemat::bags::fixed(g, c.bag_size)
                                             : routemat::bags(g, bags_count, offsets.data());
  REQUIRE(bags.count() == bags_count);
  const std::vector<T> weights =
      c.weighted ? random_weights<T>(c.m, seed + 2, c.integer_valued) : std::vector<T>{};
  const routemat::route_values<const T> w(c.weighted ? weights.data() : nullptr,
                                          c.weighted ? c.m : 0);
  const routemat::reduce reduce = c.mean ? routemat::reduce::mean : routemat::reduce::sum;
  const bool exact = c.integer_valued && !c.mean;
  std::int64_t longest = 0;  // routes of the longest bag, and the longest dot
  for (std::int64_t b = 0; b < bags_count; ++b)
    longest = std::max(longest, offsets[b + 1] - offsets[b]);
  std::vector<std::int64_t> in_degree(static_cast<std::size_t>(c.n), 0);
  for (const I j : idx)
    if (j >= 0) ++in_degree[static_cast<std::size_t>(j)];
  const std::int64_t hottest =
      in_degree.empty() ? 0 : *std::max_element(in_degree.begin(), in_degree.end());

  const std::vector<double> p = dense_bag_matrix(idx, offsets, c.n, weights, c.mean, false);
  const std::vector<double> p_abs = dense_bag_matrix(idx, offsets, c.n, weights, c.mean, true);

  // Forward.
  test::block<T> u(c.n, c.d, c.s.src), y(bags_count, c.d, c.s.dst);
  test::fill(u, seed + 3, c.integer_valued);
  fit_f16_range(u, c.integer_valued);
  fill_gaps(y);
  routemat::bag_forward(bags, u.cview(), y.view(), reduce, w);
  const std::vector<double> y_ref = dense_product(p, bags_count, c.n, u, false, false);
  const std::vector<double> y_bound = dense_product(p_abs, bags_count, c.n, u, false, true);
  CHECK(misses(y, y_ref, y_bound, exact, tolerance<T>(longest)) == 0);
  CHECK(gaps_changed(y) == 0);

  // Backward: dU += P^T dY, dw[r] = scale(b) <dY[b], U[idx[r]]>.
  test::block<T> dy(bags_count, c.d, c.s.dst), du(c.n, c.d, c.s.src);
  test::fill(dy, seed + 4, c.integer_valued);
  test::fill(du, seed + 5, c.integer_valued);
  fit_f16_range(dy, c.integer_valued);
  fit_f16_range(du, c.integer_valued);
  fill_gaps(du);
  std::vector<double> du_ref = dense_product(p, c.n, bags_count, dy, true, false);
  std::vector<double> du_bound = dense_product(p_abs, c.n, bags_count, dy, true, true);
  for (std::int64_t j = 0; j < c.n; ++j)
    for (std::int64_t k = 0; k < c.d; ++k) {
      const auto e = static_cast<std::size_t>(j * c.d + k);
      du_ref[e] += test::to_double(du.at(j, k));
      du_bound[e] += std::abs(test::to_double(du.at(j, k)));
    }
  test::block<double> dw_ref(c.m, 1, 1), dw_bound(c.m, 1, 1);
  for (std::int64_t b = 0; b < bags_count; ++b) {
    std::int64_t kept = 0;
    for (std::int64_t r = offsets[b]; r < offsets[b + 1]; ++r) kept += idx[r] >= 0;
    const double scale = c.mean && kept > 0 ? 1.0 / static_cast<double>(kept) : 1.0;
    for (std::int64_t r = offsets[b]; r < offsets[b + 1]; ++r) {
      if (idx[r] < 0) continue;
      double dot = 0, bound = 0;
      for (std::int64_t k = 0; k < c.d; ++k) {
        const double prod = test::to_double(dy.at(b, k)) * test::to_double(u.at(idx[r], k));
        dot += prod;
        bound += std::abs(prod);
      }
      dw_ref.at(r, 0) = scale * dot;
      dw_bound.at(r, 0) = scale * bound;
    }
  }
  const test::block<T> du_before = du;
  const routemat::plan plan(g);
  const routemat::rows_view<const T> u_view = u.cview();
  std::vector<test::block<T>> du_results;
  std::vector<std::vector<T>> dw_results;
  for (const bool use_plan : {false, true}) {
    CAPTURE(use_plan);
    test::block<T> du_out = du_before;
    std::vector<T> dw_out(static_cast<std::size_t>(c.m), T(7));
    const routemat::rows_view<T> du_view = du_out.view();
    routemat::bag_backward(bags, dy.cview(), &u_view, &du_view,
                           routemat::route_values<T>(dw_out.data(), c.m), reduce, w,
                           use_plan ? &plan : nullptr);
    // 16-bit dU rounds per route: exact only where f32 would need no rounding.
    CHECK(misses(du_out, du_ref, du_bound, exact && !test::is_half_v<T>,
                 accumulate_tolerance<T>(c.m, hottest)) == 0);
    CHECK(gaps_changed(du_out) == 0);
    test::block<T> dw_got(c.m, 1, 1);
    std::copy(dw_out.begin(), dw_out.end(), dw_got.data.begin());
    std::vector<double> dw_want(dw_ref.data.begin(), dw_ref.data.end());
    std::vector<double> dw_scale(dw_bound.data.begin(), dw_bound.data.end());
    CHECK(misses(dw_got, dw_want, dw_scale, c.integer_valued && !c.mean, tolerance<T>(c.d)) == 0);
    // Each output alone gives the same bits as both together.
    test::block<T> du_alone = du_before;
    const routemat::rows_view<T> du_alone_view = du_alone.view();
    routemat::bag_backward(
        bags, dy.cview(), static_cast<const routemat::rows_view<const T>*>(nullptr), &du_alone_view,
        routemat::route_values<T>(), reduce, w, use_plan ? &plan : nullptr);
    CHECK(same_bytes(du_alone.data, du_out.data));
    std::vector<T> dw_alone(static_cast<std::size_t>(c.m), T(9));
    routemat::bag_backward(
        bags, dy.cview(), &u_view, static_cast<const routemat::rows_view<T>*>(nullptr),
        routemat::route_values<T>(dw_alone.data(), c.m), reduce, w, use_plan ? &plan : nullptr);
    CHECK(same_bytes(dw_alone, dw_out));
    du_results.push_back(du_out);
    dw_results.push_back(dw_out);
  }
  CHECK(same_bytes(du_results[0].data, du_results[1].data));  // plan == no plan
  CHECK(same_bytes(dw_results[0], dw_results[1]));
}

// Every width, extent, stride, distribution, drop rate, weighting and
// reduction; the largest extent (hundreds of bags, which costs the dense
// reference most) with test::large_widths only, as its rows' tails are the
// small extents' tails.
template <class T, class I>
void check_catalogue(bool integer_valued) {
  std::uint32_t seed = 700;
  const test::extent largest = test::extents.back();
  for (const std::int64_t d : test::widths)
    for (const test::extent e : test::extents) {
      if (e.m == largest.m && std::find(test::large_widths.begin(), test::large_widths.end(), d) ==
                                  test::large_widths.end())
        continue;
      for (const test::strides s : test::stride_cases(d))
        for (const test::distribution dist :
             {test::distribution::uniform, test::distribution::hot, test::distribution::zipf})
          for (const double drop_rate : {0.0, 0.25})
            for (const bool weighted : {false, true})
              for (const bool mean : {false, true}) {
                const std::int64_t bags = std::max<std::int64_t>(1, e.m / 3);
                check_bags<T, I>(
                    {e.m, e.n, d, bags, 0, s, dist, drop_rate, weighted, mean, integer_valued},
                    seed++);
                // Top-2 combine where m is even, else bags of one route.
                const std::int64_t k = e.m % 2 == 0 ? 2 : 1;
                check_bags<T, I>(
                    {e.m, e.n, d, 0, k, s, dist, drop_rate, weighted, mean, integer_valued},
                    seed++);
              }
    }
}

}  // namespace

TEST_CASE_TEMPLATE("bags: forward and backward match the dense reference exactly on integers", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  check_catalogue<typename P::first_type, typename P::second_type>(true);
}

TEST_CASE_TEMPLATE("bags: forward and backward match the dense reference within tolerance", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  check_catalogue<typename P::first_type, typename P::second_type>(false);
}

TEST_CASE_TEMPLATE("bags: 16-bit rows match the dense reference on integers", P,
                   ROUTEMAT_TEST_HALF_INDEX_TYPES) {
  check_catalogue<typename P::first_type, typename P::second_type>(true);
}

TEST_CASE_TEMPLATE("bags: 16-bit rows match the dense reference within tolerance", P,
                   ROUTEMAT_TEST_HALF_INDEX_TYPES) {
  check_catalogue<typename P::first_type, typename P::second_type>(false);
}

TEST_CASE_TEMPLATE("bags: bags of one route without weights equal the gather bit for bit", T, float,
                   double, routemat::bf16, routemat::f16) {
  // Random values plus -0.0, infinities and a NaN: copied, not added to zero.
  const std::int64_t m = 301, n = 97;
  for (const std::int64_t d : test::widths) {
    CAPTURE(d);
    const std::vector<std::int32_t> idx =
        test::make_indices<std::int32_t>(m, n, test::distribution::uniform, 5, 0.2);
    const routemat::map g(m, n, idx.data(), routemat::drop::allow);
    test::block<T> u(n, d, d + 1);
    test::fill(u, 11, false);
    u.at(3, 0) = test::from_double<T>(-0.0);
    u.at(4, d - 1) = test::from_double<T>(std::numeric_limits<double>::infinity());
    u.at(5, 0) = test::from_double<T>(std::numeric_limits<double>::quiet_NaN());
    test::block<T> gathered(m, d, d), summed(m, d, d), averaged(m, d, d);
    routemat::gather(g, u.cview(), gathered.view());
    const routemat::bags one = routemat::bags::fixed(g, 1);
    routemat::bag_forward(one, u.cview(), summed.view());
    routemat::bag_forward(one, u.cview(), averaged.view(), routemat::reduce::mean);
    CHECK(same_bytes(summed.data, gathered.data));
    CHECK(same_bytes(averaged.data, gathered.data));
  }
}

TEST_CASE_TEMPLATE("bags: empty bags, one bag of every route, B = 0 and m = 0", T, float, double) {
  const std::vector<std::int64_t> idx{2, 0, -1, 1, 2, 2};
  const routemat::map g(6, 3, idx.data(), routemat::drop::allow);
  const T u_data[3 * 2] = {1, 10, 2, 20, 4, 40};
  const routemat::rows_view<const T> u(u_data, 3, 2);

  // Bags {}, {2, 0, -1}, {}, {-1 only: route 2 is in bag 1}, ...: offsets
  // 0 0 3 3 6 with an empty first and third bag.
  const std::int32_t offsets[5] = {0, 0, 3, 3, 6};
  const routemat::bags b(g, 4, offsets);
  for (const auto reduce : {routemat::reduce::sum, routemat::reduce::mean}) {
    T y[4 * 2];
    std::fill(y, y + 8, T(99));
    routemat::bag_forward(b, u, routemat::rows_view<T>(y, 4, 2), reduce);
    const bool mean = reduce == routemat::reduce::mean;
    // bag 1 keeps routes 0 and 1 (rows 2 and 0): (4 + 1, 40 + 10); bag 3 rows 1, 2, 2.
    const T want[8] = {0,
                       0,
                       mean ? T(2.5) : T(5),
                       mean ? T(25) : T(50),
                       0,
                       0,
                       mean ? T(10) * (T(1) / T(3)) : T(10),
                       mean ? T(100) * (T(1) / T(3)) : T(100)};
    for (int e = 0; e < 8; ++e) {
      CAPTURE(e);
      CHECK(y[e] == want[e]);
      CHECK(!std::isnan(y[e]));
    }
  }

  // A bag whose only route is dropped: the mean is zeros, not NaN.
  const std::int64_t dropped_idx[2] = {-1, 1};
  const routemat::map dropped(2, 3, dropped_idx, routemat::drop::allow);
  const routemat::bags singles = routemat::bags::fixed(dropped, 1);
  T y2[2 * 2] = {5, 5, 5, 5};
  routemat::bag_forward(singles, u, routemat::rows_view<T>(y2, 2, 2), routemat::reduce::mean);
  CHECK(y2[0] == T(0));
  CHECK(y2[1] == T(0));
  CHECK(y2[2] == T(2));
  CHECK(y2[3] == T(20));
  // ... and it gets no gradient and dw = 0.
  const T dy2[4] = {1, 1, 1, 1};
  T du2[6] = {0, 0, 0, 0, 0, 0}, dw2[2] = {7, 7};
  const routemat::rows_view<const T> u_for_dw = u;
  const routemat::rows_view<T> du2_view(du2, 3, 2);
  routemat::bag_backward(singles, routemat::rows_view<const T>(dy2, 2, 2), &u_for_dw, &du2_view,
                         routemat::route_values<T>(dw2, 2), routemat::reduce::mean);
  CHECK(dw2[0] == T(0));
  CHECK(dw2[1] == T(22));
  const T du2_want[6] = {0, 0, 1, 1, 0, 0};
  for (int e = 0; e < 6; ++e) CHECK(du2[e] == du2_want[e]);

  // One bag holding every route.
  const std::int64_t all[2] = {0, 6};
  const routemat::bags one_bag(g, 1, all);
  T y1[2];
  routemat::bag_forward(one_bag, u, routemat::rows_view<T>(y1, 1, 2));
  CHECK(y1[0] == T(4 + 1 + 2 + 4 + 4));
  CHECK(y1[1] == T(40 + 10 + 20 + 40 + 40));

  // B = 0 over m = 0, and B = 0 with offsets {0} over an empty map.
  const routemat::map empty(0, 3, static_cast<const std::int64_t*>(nullptr));
  const std::int64_t zero[1] = {0};
  const routemat::bags none(empty, 0, zero);
  CHECK(none.count() == 0);
  routemat::bag_forward(none, u, routemat::rows_view<T>(nullptr, 0, 2));
  T du0[6] = {1, 2, 3, 4, 5, 6};
  const routemat::rows_view<T> du0_view(du0, 3, 2);
  routemat::bag_backward(none, routemat::rows_view<const T>(nullptr, 0, 2), &u_for_dw, &du0_view,
                         routemat::route_values<T>());
  for (int e = 0; e < 6; ++e) CHECK(du0[e] == T(e + 1));
  // m = 0 with bags: every bag is empty and gives zeros.
  const std::int64_t empties[4] = {0, 0, 0, 0};
  const routemat::bags three_empty(empty, 3, empties);
  T y3[6] = {9, 9, 9, 9, 9, 9};
  routemat::bag_forward(three_empty, u, routemat::rows_view<T>(y3, 3, 2), routemat::reduce::mean);
  for (int e = 0; e < 6; ++e) CHECK(y3[e] == T(0));
  const routemat::bags fixed_empty = routemat::bags::fixed(empty, 4);
  CHECK(fixed_empty.count() == 0);
}

TEST_CASE("bags: weight gradients match central differences (f64)") {
  // L = <R, forward(w)>, so dL/dw = backward(dY = R).dw. L is linear in w:
  // the central difference is exact but for rounding.
  const std::int64_t m = 120, n = 17, d = 13;
  const std::vector<std::int32_t> idx =
      test::make_indices<std::int32_t>(m, n, test::distribution::zipf, 3, 0.1);
  const std::vector<std::int64_t> offsets = random_offsets(m, 30, 4);
  const routemat::map g(m, n, idx.data(), routemat::drop::allow);
  const routemat::bags b(g, 30, offsets.data());
  test::block<double> u(n, d, d), r(30, d, d);
  test::fill(u, 5, false);
  test::fill(r, 6, false);
  std::vector<double> w = random_weights<double>(m, 7, false);
  for (const auto reduce : {routemat::reduce::sum, routemat::reduce::mean}) {
    CAPTURE(static_cast<int>(reduce));
    auto loss = [&](const std::vector<double>& weights) {
      test::block<double> y(30, d, d);
      routemat::bag_forward(b, u.cview(), y.view(), reduce,
                            routemat::route_values<const double>(weights.data(), m));
      double l = 0;
      for (std::size_t e = 0; e < y.data.size(); ++e) l += y.data[e] * r.data[e];
      return l;
    };
    std::vector<double> dw(static_cast<std::size_t>(m));
    const routemat::rows_view<const double> u_view = u.cview();
    routemat::bag_backward(b, r.cview(), &u_view,
                           static_cast<const routemat::rows_view<double>*>(nullptr),
                           routemat::route_values<double>(dw.data(), m), reduce,
                           routemat::route_values<const double>(w.data(), m));
    const double h = 1e-4;
    for (std::int64_t i = 0; i < m; ++i) {
      std::vector<double> plus = w, minus = w;
      plus[static_cast<std::size_t>(i)] += h;
      minus[static_cast<std::size_t>(i)] -= h;
      const double fd = (loss(plus) - loss(minus)) / (2 * h);
      CAPTURE(i);
      CHECK(std::abs(fd - dw[static_cast<std::size_t>(i)]) <= 1e-9 * (1 + std::abs(fd)));
      if (idx[static_cast<std::size_t>(i)] < 0) CHECK(dw[static_cast<std::size_t>(i)] == 0.0);
    }
  }
}

namespace {

// The backward (and forward) of T rows over I indices, for 1 to 8 threads,
// with and without a plan, sum and mean: every result has the bits of the first.
template <class T, class I>
void check_thread_independence() {
  struct threads_reset {
    ~threads_reset() { routemat_set_num_threads(0); }
  } reset;
  const std::int64_t n = 50000;
  // d = 64 f32 (256-byte rows) and d = 128 16-bit also shard the plan-less push.
  for (const std::int64_t d : {std::int64_t{1}, std::int64_t{16}, std::int64_t{256 / sizeof(T)}}) {
    CAPTURE(d);
    const std::int64_t m = d * std::int64_t{sizeof(T)} == 256 ? 60000 : 300000, bags_count = m / 7;
    const std::vector<I> idx = test::make_indices<I>(m, n, test::distribution::zipf, 21, 0.05);
    const std::vector<std::int64_t> offsets = random_offsets(m, bags_count, 22);
    const routemat::map g(m, n, idx.data(), routemat::drop::allow);
    const routemat::bags b(g, bags_count, offsets.data());
    const routemat::plan p(g);
    test::block<T> u(n, d, d), dy(bags_count, d, d), du0(n, d, d);
    test::fill(u, 23, false);
    test::fill(dy, 24, false);
    test::fill(du0, 25, false);
    const std::vector<T> w = random_weights<T>(m, 26, false);
    const routemat::rows_view<const T> u_view = u.cview();
    std::vector<T> first_du[2], first_dw[2], first_y[2];  // [sum, mean]
    for (const int threads : {1, 2, 3, 4, 7, 8}) {
      routemat::set_num_threads(threads);
      for (const bool use_plan : {false, true}) {
        for (const auto reduce : {routemat::reduce::sum, routemat::reduce::mean}) {
          CAPTURE(threads);
          CAPTURE(use_plan);
          test::block<T> du = du0, y(bags_count, d, d);
          std::vector<T> dw(static_cast<std::size_t>(m));
          const routemat::rows_view<T> du_view = du.view();
          routemat::bag_backward(
              b, dy.cview(), &u_view, &du_view, routemat::route_values<T>(dw.data(), m), reduce,
              routemat::route_values<const T>(w.data(), m), use_plan ? &p : nullptr);
          routemat::bag_forward(b, u.cview(), y.view(), reduce,
                                routemat::route_values<const T>(w.data(), m));
          const auto k = static_cast<std::size_t>(reduce == routemat::reduce::mean);
          if (first_du[k].empty()) {
            first_du[k] = du.data;
            first_dw[k] = dw;
            first_y[k] = y.data;
          }
          CHECK(same_bytes(du.data, first_du[k]));
          CHECK(same_bytes(dw, first_dw[k]));
          CHECK(same_bytes(y.data, first_y[k]));
        }
      }
    }
  }
}

}  // namespace

TEST_CASE_TEMPLATE("bags: backward bits do not depend on threads or on a plan", I, std::int32_t,
                   std::int64_t) {
  check_thread_independence<float, I>();
}

TEST_CASE_TEMPLATE("bags: 16-bit backward bits do not depend on threads or on a plan", T,
                   routemat::bf16, routemat::f16) {
  check_thread_independence<T, std::int32_t>();
}
