// The two examples every user of the library knows, with their exact numbers.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "routemat/routemat.hpp"
#include "test_support.hpp"

namespace {

template <class T>
routemat::rows_view<T> column(std::vector<T>& v) {
  return {v.data(), static_cast<std::int64_t>(v.size()), 1};
}

}  // namespace

TEST_CASE_TEMPLATE("weight sharing: w = G u, and dC/du = G^T dC/dw accumulates", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  // G = [[1,0,0],[0,1,0],[0,0,1],[0,0,1],[0,0,1]]: u3 is shared by w3, w4, w5.
  const std::vector<I> idx{0, 1, 2, 2, 2};
  const std::vector<double> dense{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1};
  CHECK(test::dense_matrix(idx, 3) == dense);
  routemat::map g(5, 3, idx.data());

  std::vector<T> u{1, 2, 3}, w(5, T(-7));
  routemat::gather(g, column(u), column(w));
  CHECK(w == std::vector<T>{1, 2, 3, 3, 3});

  std::vector<T> dw{1, 10, 100, 1000, 10000}, du(3, T(0));
  routemat::scatter_add(g, column(dw), column(du));
  // dC/du3 = dC/dw3 + dC/dw4 + dC/dw5
  CHECK(du == std::vector<T>{1, 10, 11100});
}

TEST_CASE_TEMPLATE("branching: (a,b,c) -> (c,a,b,a,c,b), and back (b+d, g+z, a+e)", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  const std::vector<I> idx{2, 0, 1, 0, 2, 1};
  routemat::map g(6, 3, idx.data());

  const T a = 1, b = 2, c = 3;
  std::vector<T> abc{a, b, c}, routed(6);
  routemat::gather(g, column(abc), column(routed));
  CHECK(routed == std::vector<T>{c, a, b, a, c, b});

  // alpha..zeta sum back to (beta + delta, gamma + zeta, alpha + epsilon).
  const T alpha = 1, beta = 2, gamma = 4, delta = 8, epsilon = 16, zeta = 32;
  std::vector<T> greek{alpha, beta, gamma, delta, epsilon, zeta}, back(3, T(0));
  routemat::scatter_add(g, column(greek), column(back));
  CHECK(back == std::vector<T>{beta + delta, gamma + zeta, alpha + epsilon});
  CHECK(back == std::vector<T>{10, 36, 17});

  // The same routing on rows of width 2: each column routes independently.
  std::vector<T> rows{a, 10 * a, b, 10 * b, c, 10 * c}, routed_rows(12);
  routemat::gather(g, routemat::rows_view<T>(rows.data(), 3, 2),
                   routemat::rows_view<T>(routed_rows.data(), 6, 2));
  CHECK(routed_rows ==
        std::vector<T>{c, 10 * c, a, 10 * a, b, 10 * b, a, 10 * a, c, 10 * c, b, 10 * b});
}
