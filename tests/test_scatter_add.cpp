// scatter_add (dU += G^T dY) on the active ISA against the dense reference:
// exact on integer-valued inputs, within a stated tolerance on random ones.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "routemat/routemat.hpp"
#include "test_support.hpp"

namespace {

// Random inputs: |kernel - reference| <= tolerance * (sum of |terms| of that
// element), tolerance a few ulps times the longest possible sum. The kernel
// adds each destination's sources in increasing row order starting from dU,
// the reference sums them from zero and then adds dU: only rounding differs.
template <class T>
double tolerance(std::int64_t terms) {
  return 4.0 * static_cast<double>(terms + 1) * std::numeric_limits<T>::epsilon();
}

template <class T, class I>
void check_scatter_add(std::int64_t m, std::int64_t n, std::int64_t d, test::strides s,
                       test::distribution dist, double drop_rate, bool integer_valued,
                       std::uint32_t seed) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(d);
  CAPTURE(s.src);
  CAPTURE(s.dst);
  CAPTURE(static_cast<int>(dist));
  CAPTURE(drop_rate);
  CAPTURE(integer_valued);
  const std::vector<I> idx = test::make_indices<I>(m, n, dist, seed, drop_rate);
  test::block<T> dy(m, d, s.src), du(n, d, s.dst);
  test::fill(dy, seed + 1, integer_valued);
  test::fill(du, seed + 2, integer_valued);
  for (std::int64_t j = 0; j + 1 < n; ++j)  // the gaps between rows must stay as they are
    for (std::int64_t k = d; k < s.dst; ++k) du.at(j, k) = T(-12345);
  const test::block<T> du_before = du;

  routemat::map g(m, n, idx.data(), drop_rate > 0 ? routemat::drop::allow : routemat::drop::forbid);
  routemat::scatter_add(g, dy.cview(), du.view());

  const std::vector<double> dense = test::dense_matrix(idx, n);
  const std::vector<T> sum = test::dense_transpose_times(dense, m, n, dy);
  test::block<T> magnitude = dy;  // |dY|, for the error bound
  for (auto& v : magnitude.data) v = std::abs(v);
  const std::vector<T> bound = test::dense_transpose_times(dense, m, n, magnitude);
  std::vector<std::int64_t> sources(static_cast<std::size_t>(n), 0);
  for (const I j : idx)
    if (j >= 0) ++sources[static_cast<std::size_t>(j)];
  const std::int64_t fan_in = n > 0 ? *std::max_element(sources.begin(), sources.end()) : 0;

  std::int64_t wrong = 0, gaps_written = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    for (std::int64_t k = 0; k < d; ++k) {
      const std::size_t e = static_cast<std::size_t>(j * d + k);
      const T expected = du_before.at(j, k) + sum[e];
      if (integer_valued) {
        wrong += du.at(j, k) != expected;
      } else {
        const double scale = std::abs(du_before.at(j, k)) + bound[e];
        wrong += std::abs(static_cast<double>(du.at(j, k)) - static_cast<double>(expected)) >
                 tolerance<T>(fan_in) * scale;
      }
    }
    if (j + 1 < n)
      for (std::int64_t k = d; k < s.dst; ++k) gaps_written += du.at(j, k) != T(-12345);
  }
  CHECK(wrong == 0);
  CHECK(gaps_written == 0);
}

template <class T, class I>
void check_catalogue(bool integer_valued) {
  std::uint32_t seed = 100;
  for (const std::int64_t d : test::widths)
    for (const test::extent e : test::extents)
      for (const test::strides s : test::stride_cases(d))
        for (const test::distribution dist : test::distributions)
          for (const double drop_rate : {0.0, 0.25})
            check_scatter_add<T, I>(e.m, e.n, d, s, dist, drop_rate, integer_valued, seed++);
  for (const std::int64_t d : test::large_widths)
    for (const test::strides s : test::stride_cases(d))
      for (const test::distribution dist :
           {test::distribution::uniform, test::distribution::zipf, test::distribution::hot})
        check_scatter_add<T, I>(test::large_extent.m, test::large_extent.n, d, s, dist, 0.0,
                                integer_valued, seed++);
}

}  // namespace

TEST_CASE_TEMPLATE("scatter_add matches the dense reference exactly on integer-valued inputs", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  check_catalogue<typename P::first_type, typename P::second_type>(true);
}

TEST_CASE_TEMPLATE("scatter_add matches the dense reference within tolerance on random inputs", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  check_catalogue<typename P::first_type, typename P::second_type>(false);
}

TEST_CASE("scatter_add: every source into one hot row loses no update") {
  // 100003 duplicates of one index: a lost update would show as a missing 1.
  const std::int64_t m = 100003;
  const std::vector<std::int64_t> idx(static_cast<std::size_t>(m), 2);
  routemat::map g(m, 5, idx.data());
  std::vector<float> dy(static_cast<std::size_t>(m * 3), 1.0f), du(5 * 3, 0.0f);
  routemat::scatter_add(g, routemat::rows_view<float>(dy.data(), m, 3),
                        routemat::rows_view<float>(du.data(), 5, 3));
  CHECK(du == std::vector<float>{0, 0, 0, 0, 0, 0, 100003, 100003, 100003, 0, 0, 0, 0, 0, 0});
}
