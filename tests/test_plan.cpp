// Plans (G^T as CSR by destination): the pull-based scatter-add in both write
// modes and the sum module against the dense reference on the whole shape
// catalogue, the facts a plan reports, special maps, a plan's lifetime, its
// errors, and the README's module pairs computed through a plan.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "routemat/routemat.h"
#include "routemat/routemat.hpp"
#include "test_support.hpp"

namespace {

constexpr double sentinel = -12345.0;  // marks elements a call must not write

// Every element of b, stride gaps included, set to v.
template <class T>
void fill_with(test::block<T>& b, T v) {
  std::fill(b.data.begin(), b.data.end(), v);
}

// The stride gaps of b (elements [width, stride) of every row but the last).
template <class T>
void fill_gaps(test::block<T>& b, T v) {
  for (std::int64_t r = 0; r + 1 < b.rows; ++r)
    for (std::int64_t k = b.width; k < b.stride; ++k) b.at(r, k) = v;
}

// Gap elements of b that no longer hold v.
template <class T>
std::int64_t gaps_changed(const test::block<T>& b, T v) {
  std::int64_t changed = 0;
  for (std::int64_t r = 0; r + 1 < b.rows; ++r)
    for (std::int64_t k = b.width; k < b.stride; ++k) changed += b.at(r, k) != v;
  return changed;
}

// Rows of b whose width elements differ, as bytes, from the row-major
// (rows x width) `expected`.
template <class T>
std::int64_t rows_differing(const test::block<T>& b, const std::vector<T>& expected) {
  std::int64_t wrong = 0;
  for (std::int64_t r = 0; r < b.rows; ++r)
    wrong += std::memcmp(b.data.data() + r * b.stride,
                         expected.data() + static_cast<std::size_t>(r * b.width),
                         static_cast<std::size_t>(b.width) * sizeof(T)) != 0;
  return wrong;
}

// Two buffers hold the same bytes (stride gaps included).
template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// The facts a plan of idx (n columns) must report, counted here.
template <class I>
routemat::plan_facts expected_facts(const std::vector<I>& idx, std::int64_t n) {
  routemat::plan_facts f{};
  const auto m = static_cast<std::int64_t>(idx.size());
  f.rows = m;
  f.cols = n;
  std::vector<std::int64_t> fan_in(static_cast<std::size_t>(n), 0);
  bool identity = m == n, sorted = true;
  std::int64_t last = std::numeric_limits<std::int64_t>::min();
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int64_t j = idx[static_cast<std::size_t>(i)];
    identity = identity && j == i;
    if (j == -1) {
      ++f.dropped_rows;
      continue;
    }
    ++fan_in[static_cast<std::size_t>(j)];
    sorted = sorted && j >= last;
    last = j;
  }
  for (const std::int64_t c : fan_in) {
    f.max_fan_in = std::max(f.max_fan_in, c);
    f.empty_cols += c == 0;
  }
  f.identity = identity;
  f.sorted = sorted;
  f.permutation = m == n && f.dropped_rows == 0 && n > 0 &&
                  std::all_of(fan_in.begin(), fan_in.end(), [](std::int64_t c) { return c == 1; });
  return f;
}

template <class I>
void check_facts(const routemat::plan& p, const std::vector<I>& idx, std::int64_t n) {
  const routemat::plan_facts got = p.facts(), want = expected_facts(idx, n);
  CHECK(got.rows == want.rows);
  CHECK(got.cols == want.cols);
  CHECK(got.dropped_rows == want.dropped_rows);
  CHECK(got.max_fan_in == want.max_fan_in);
  CHECK(got.empty_cols == want.empty_cols);
  CHECK(got.sorted == want.sorted);
  if (want.rows > 0) {  // a 0 x 0 map is vacuously both; either answer is fine
    CHECK(got.identity == want.identity);
    CHECK(got.permutation == want.permutation);
  }
  // Documented memory: (n + 1) offsets and (m - dropped) sources of 4 bytes
  // (m < 2^31 here), plus a fixed header.
  const std::int64_t csr = 4 * (want.cols + 1 + want.rows - want.dropped_rows);
  CHECK(got.bytes > csr);
  CHECK(got.bytes <= csr + 4096);
}

// One map of the catalogue with what every check of it needs.
template <class I>
struct catalogue_map {
  test::distribution dist;
  double drop_rate;
  std::vector<I> idx;
  routemat::map g;
  routemat::plan p;
  std::vector<double> dense;
  std::vector<bool> has_source;

  catalogue_map(test::extent e, test::distribution dist_, double drop_rate_, std::uint32_t seed)
      : dist(dist_),
        drop_rate(drop_rate_),
        idx(test::make_indices<I>(e.m, e.n, dist_, seed, drop_rate_)),
        g(e.m, e.n, idx.data(), drop_rate_ > 0 ? routemat::drop::allow : routemat::drop::forbid),
        p(g),
        dense(test::dense_matrix(idx, e.n)),
        has_source(static_cast<std::size_t>(e.n), false) {
    for (const I j : idx)
      if (j >= 0) has_source[static_cast<std::size_t>(j)] = true;
  }
};

// The inputs of one width and pair of strides, shared by every map of an
// extent: integer-valued X (m rows), dU and dV (n rows), random Xr and dUr.
template <class T>
struct inputs {
  test::block<T> x, du, dv, xr, dur;
  inputs(std::int64_t m, std::int64_t n, std::int64_t d, test::strides s, std::uint32_t seed)
      : x(m, d, s.src), du(n, d, s.dst), dv(n, d, s.src), xr(m, d, s.src), dur(n, d, s.dst) {
    test::fill(x, seed + 1, true);
    test::fill(du, seed + 2, true);
    fill_gaps(du, static_cast<T>(sentinel));
    test::fill(dv, seed + 3, true);
    test::fill(xr, seed + 4, false);
    test::fill(dur, seed + 5, false);
  }
};

// Every product of the plan on one width and pair of strides: integer-valued
// inputs against the dense reference bit for bit, random inputs against the
// push kernel bit for bit.
template <class T, class I>
void check_products(const catalogue_map<I>& c, const inputs<T>& in) {
  const routemat::map& g = c.g;
  const routemat::plan& p = c.p;
  const std::int64_t m = g.rows(), n = g.cols(), d = in.x.width, dst_stride = in.du.stride;
  CAPTURE(static_cast<int>(c.dist));
  CAPTURE(c.drop_rate);
  const T mark = static_cast<T>(sentinel);
  const test::block<T>& x = in.x;
  const test::block<T>& du = in.du;
  const std::vector<T> sum = test::dense_transpose_times(c.dense, m, n, x);

  // Accumulate: dU + G^T X, and the same bytes as the push kernel.
  test::block<T> acc = du;
  routemat::scatter_add(p, x.cview(), acc.view());
  std::vector<T> want_acc(sum.size());
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t k = 0; k < d; ++k)
      want_acc[static_cast<std::size_t>(j * d + k)] =
          du.at(j, k) + sum[static_cast<std::size_t>(j * d + k)];
  CHECK(rows_differing(acc, want_acc) == 0);
  CHECK(gaps_changed(acc, mark) == 0);
  test::block<T> push = du;
  routemat::scatter_add(g, x.cview(), push.view());
  CHECK(same_bytes(acc.data, push.data));

  // Overwrite: G^T X; destinations without source exactly (+)zero, gaps kept.
  test::block<T> over(n, d, dst_stride);
  fill_with(over, mark);
  routemat::scatter_add(p, x.cview(), over.view(), routemat::write::overwrite);
  CHECK(rows_differing(over, sum) == 0);
  CHECK(gaps_changed(over, mark) == 0);
  std::int64_t empty_not_zero = 0;
  for (std::int64_t j = 0; j < n; ++j)
    if (!c.has_source[static_cast<std::size_t>(j)])
      for (std::int64_t k = 0; k < d; ++k)
        empty_not_zero += over.at(j, k) != T(0) || std::signbit(over.at(j, k));
  CHECK(empty_not_zero == 0);

  // Sum forward: V = G^T X, the overwrite of the node module's backward.
  test::block<T> v(n, d, dst_stride);
  fill_with(v, mark);
  routemat::sum_forward(p, x.cview(), v.view());
  CHECK(same_bytes(v.data, over.data));

  // Sum backward: dX = G dV, a gather through the plan's map.
  test::block<T> dx(m, d, dst_stride);
  fill_with(dx, mark);
  routemat::sum_backward(p, in.dv.cview(), dx.view());
  CHECK(rows_differing(dx, test::dense_times(c.dense, m, n, in.dv)) == 0);
  CHECK(gaps_changed(dx, mark) == 0);

  // Random values: summation order shows in the low bits, and both kernels
  // add each destination's sources in increasing row order starting from dU.
  test::block<T> pulled = in.dur, pushed = in.dur;
  routemat::scatter_add(p, in.xr.cview(), pulled.view());
  routemat::scatter_add(g, in.xr.cview(), pushed.view());
  CHECK(same_bytes(pulled.data, pushed.data));
  // ... and sum_forward is the push kernel into zeros, bit for bit.
  test::block<T> summed(n, d, dst_stride), pushed_zero(n, d, dst_stride);
  fill_with(summed, T(0));
  fill_with(pushed_zero, T(0));
  routemat::sum_forward(p, in.xr.cview(), summed.view());
  routemat::scatter_add(g, in.xr.cview(), pushed_zero.view());
  CHECK(same_bytes(summed.data, pushed_zero.data));
}

// One extent of the catalogue: the facts of its maps (every distribution,
// drop rates 0 and 0.25), then every width and stride pair on each map.
template <class T, class I>
void check_extent(test::extent e, std::uint32_t& seed) {
  CAPTURE(e.m);
  CAPTURE(e.n);
  std::vector<std::unique_ptr<catalogue_map<I>>> maps;
  for (const test::distribution dist : test::distributions)
    for (const double drop_rate : {0.0, 0.25}) {
      maps.push_back(std::make_unique<catalogue_map<I>>(e, dist, drop_rate, seed++));
      CAPTURE(static_cast<int>(dist));
      CAPTURE(drop_rate);
      check_facts(maps.back()->p, maps.back()->idx, e.n);
    }
  for (const std::int64_t d : test::widths)
    for (const test::strides s : test::stride_cases(d)) {
      CAPTURE(d);
      CAPTURE(s.src);
      CAPTURE(s.dst);
      const inputs<T> in(e.m, e.n, d, s, seed);
      seed += 8;
      for (const auto& c : maps) check_products<T, I>(*c, in);
    }
}

// Larger maps (sharded across threads): the plan against the push kernel and
// the gather, bit for bit, on random values (no dense reference).
template <class T, class I>
void check_large(std::int64_t d, test::distribution dist, std::uint32_t seed) {
  const std::int64_t m = test::large_extent.m, n = test::large_extent.n;
  CAPTURE(d);
  CAPTURE(static_cast<int>(dist));
  const std::vector<I> idx = test::make_indices<I>(m, n, dist, seed, 0.1);
  const routemat::map g(m, n, idx.data(), routemat::drop::allow);
  const routemat::plan p(g);
  check_facts(p, idx, n);
  test::block<T> x(m, d, d + 1), du(n, d, d + 2), dv(n, d, d);
  test::fill(x, seed + 1, false);
  test::fill(du, seed + 2, false);
  test::fill(dv, seed + 3, false);
  test::block<T> pulled = du, pushed = du, over = du, zero(n, d, d + 2);
  fill_with(zero, T(0));
  routemat::scatter_add(p, x.cview(), pulled.view());
  routemat::scatter_add(g, x.cview(), pushed.view());
  CHECK(same_bytes(pulled.data, pushed.data));
  fill_gaps(over, T(0));  // gaps of `zero` are zero too
  routemat::scatter_add(p, x.cview(), over.view(), routemat::write::overwrite);
  routemat::scatter_add(g, x.cview(), zero.view());
  CHECK(same_bytes(over.data, zero.data));
  test::block<T> dx(m, d, d), gathered(m, d, d);
  routemat::sum_backward(p, dv.cview(), dx.view());
  routemat::gather(g, dv.cview(), gathered.view());
  CHECK(same_bytes(dx.data, gathered.data));
}

template <class T>
routemat::rows_view<T> column(std::vector<T>& v) {
  return {v.data(), static_cast<std::int64_t>(v.size()), 1};
}

// The call throws routemat::error; returns its code and message.
template <class F>
std::pair<int, std::string> error_of(F&& call) {
  try {
    call();
  } catch (const routemat::error& e) {
    return {static_cast<int>(e.code()), e.what()};
  }
  return {0, "no routemat::error thrown"};
}

std::pair<int, std::string> error(routemat::status code, const std::string& message) {
  return {static_cast<int>(code), message};
}

}  // namespace

TEST_CASE_TEMPLATE("plan: scatter-add (both modes) and the sum module on every shape", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  // Every kernel a plan can run: the automatic choice, then each forced.
  for (const routemat::plan_kernel k : {routemat::plan_kernel::automatic,
                                        routemat::plan_kernel::pull, routemat::plan_kernel::push}) {
    CAPTURE(static_cast<int>(k));
    test::plan_kernel_scope scope(k);
    std::uint32_t seed = 7000;
    for (const test::extent e : test::extents) check_extent<T, I>(e, seed);
    for (const std::int64_t d : {1, 3, 17, 64})
      for (const test::distribution dist : {test::distribution::uniform, test::distribution::zipf,
                                            test::distribution::hot, test::distribution::sorted})
        check_large<T, I>(d, dist, seed++);
  }
}

TEST_CASE("plan: the kernel setting reads back, and an unknown one is refused") {
  test::plan_kernel_scope scope(routemat::plan_kernel::pull);
  CHECK(routemat::get_plan_kernel() == routemat::plan_kernel::pull);
  CHECK(routemat_set_plan_kernel(static_cast<routemat_plan_kernel>(7)) ==
        ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(routemat_last_error()) ==
        "plan kernel 7 is none of ROUTEMAT_PLAN_AUTO, ROUTEMAT_PLAN_PULL, ROUTEMAT_PLAN_PUSH");
  CHECK(routemat::get_plan_kernel() == routemat::plan_kernel::pull);
}

TEST_CASE_TEMPLATE("plan: destinations without a source", I, std::int32_t, std::int64_t) {
  // n = 8; only 0, 3 and 5 receive anything.
  const std::vector<I> idx{3, 0, 5, 3, 0, 3};
  const routemat::map g(6, 8, idx.data());
  const routemat::plan p(g);
  const routemat::plan_facts f = p.facts();
  CHECK(f.empty_cols == 5);
  CHECK(f.max_fan_in == 3);
  CHECK(f.sorted == 0);
  CHECK(f.permutation == 0);
  CHECK(f.identity == 0);

  std::vector<double> x{1, 2, 4, 8, 16, 32};
  std::vector<double> du{-1, -2, -3, -4, -5, -6, -7, -8};
  routemat::scatter_add(p, column(x), column(du));
  CHECK(du == std::vector<double>{17, -2, -3, 37, -5, -2, -7, -8});
  std::vector<double> over(8, sentinel);
  routemat::scatter_add(p, column(x), column(over), routemat::write::overwrite);
  CHECK(over == std::vector<double>{18, 0, 0, 41, 0, 4, 0, 0});
  std::vector<double> v(8, sentinel);
  routemat::sum_forward(p, column(x), column(v));
  CHECK(v == std::vector<double>{18, 0, 0, 41, 0, 4, 0, 0});
  for (const double e : v) CHECK_FALSE(std::signbit(e));
}

TEST_CASE_TEMPLATE("plan: every source into one hot destination", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  // Large enough to be sharded: one destination carries all the work.
  const std::int64_t m = 100003, n = 5, d = 3;
  const std::vector<I> idx(static_cast<std::size_t>(m), I(2));
  const routemat::map g(m, n, idx.data());
  const routemat::plan p(g);
  const routemat::plan_facts f = p.facts();
  CHECK(f.max_fan_in == m);
  CHECK(f.empty_cols == n - 1);
  CHECK(f.sorted == 1);

  std::vector<T> ones(static_cast<std::size_t>(m * d), T(1)), du(n * d, T(1));
  routemat::scatter_add(p, routemat::rows_view<T>(ones.data(), m, d),
                        routemat::rows_view<T>(du.data(), n, d));
  CHECK(du == std::vector<T>{1, 1, 1, 1, 1, 1, 100004, 100004, 100004, 1, 1, 1, 1, 1, 1});
  std::vector<T> v(n * d, T(sentinel));
  routemat::sum_forward(p, routemat::rows_view<T>(ones.data(), m, d),
                        routemat::rows_view<T>(v.data(), n, d));
  CHECK(v == std::vector<T>{0, 0, 0, 0, 0, 0, 100003, 100003, 100003, 0, 0, 0, 0, 0, 0});

  test::block<T> x(m, d, d), pulled(n, d, d);
  test::fill(x, 11, false);
  test::fill(pulled, 12, false);
  test::block<T> pushed = pulled;
  routemat::scatter_add(p, x.cview(), pulled.view());
  routemat::scatter_add(g, x.cview(), pushed.view());
  CHECK(same_bytes(pulled.data, pushed.data));
}

TEST_CASE_TEMPLATE("plan: a permutation, and sum_forward is the gather through its inverse", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  for (const std::int64_t n : {1, 7, 1000, 70000}) {
    CAPTURE(n);
    const std::int64_t d = 3;
    const std::vector<I> idx = test::make_indices<I>(n, n, test::distribution::permutation, 5);
    std::vector<I> inverse(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      inverse[static_cast<std::size_t>(idx[static_cast<std::size_t>(i)])] = static_cast<I>(i);
    const routemat::map g(n, n, idx.data()), g_inverse(n, n, inverse.data());
    const routemat::plan p(g);
    const routemat::plan_facts f = p.facts();
    CHECK(f.permutation == 1);
    CHECK(f.max_fan_in == 1);
    CHECK(f.empty_cols == 0);
    CHECK(f.dropped_rows == 0);

    test::block<T> x(n, d, d + 1), v(n, d, d), through_inverse(n, d, d);
    test::fill(x, 21, false);
    fill_with(v, T(sentinel));
    routemat::sum_forward(p, x.cview(), v.view());
    routemat::gather(g_inverse, x.cview(), through_inverse.view());
    CHECK(same_bytes(v.data, through_inverse.data));

    // Backward of the sum module: the gather through the permutation itself.
    test::block<T> dx(n, d, d), gathered(n, d, d);
    routemat::sum_backward(p, v.cview(), dx.view());
    routemat::gather(g, v.cview(), gathered.view());
    CHECK(same_bytes(dx.data, gathered.data));
    // G G^T = I for a permutation: the round trip gives x back.
    std::int64_t wrong = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < d; ++k) wrong += dx.at(i, k) != x.at(i, k);
    CHECK(wrong == 0);
  }
}

TEST_CASE_TEMPLATE("plan: the identity", I, std::int32_t, std::int64_t) {
  const std::int64_t n = 5000, d = 2;
  std::vector<I> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = static_cast<I>(i);
  const routemat::map g(n, n, idx.data());
  const routemat::plan p(g);
  const routemat::plan_facts f = p.facts();
  CHECK(f.identity == 1);
  CHECK(f.permutation == 1);
  CHECK(f.sorted == 1);
  CHECK(f.max_fan_in == 1);
  CHECK(f.empty_cols == 0);

  test::block<float> x(n, d, d), du(n, d, d), v(n, d, d);
  test::fill(x, 31, false);
  test::fill(du, 32, false);
  routemat::sum_forward(p, x.cview(), v.view());
  CHECK(same_bytes(v.data, x.data));
  test::block<float> acc = du;
  routemat::scatter_add(p, x.cview(), acc.view());
  std::int64_t wrong = 0;
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t k = 0; k < d; ++k) wrong += acc.at(j, k) != du.at(j, k) + x.at(j, k);
  CHECK(wrong == 0);
  test::block<float> dx(n, d, d);
  routemat::sum_backward(p, du.cview(), dx.view());
  CHECK(same_bytes(dx.data, du.data));

  // Not the identity: m != n, one index off, or a dropped row.
  const std::vector<I> longer{0, 1, 2, 2};
  CHECK(routemat::plan(routemat::map(4, 3, longer.data())).facts().identity == 0);
  const std::vector<I> swapped{0, 2, 1};
  const routemat::plan swapped_plan(routemat::map(3, 3, swapped.data()));
  CHECK(swapped_plan.facts().identity == 0);
  CHECK(swapped_plan.facts().permutation == 1);
  const std::vector<I> with_drop{0, -1, 2};
  const routemat::plan drop_plan(routemat::map(3, 3, with_drop.data(), routemat::drop::allow));
  CHECK(drop_plan.facts().identity == 0);
  CHECK(drop_plan.facts().permutation == 0);
}

TEST_CASE_TEMPLATE("plan: sorted indices", I, std::int32_t, std::int64_t) {
  const std::vector<I> sorted = test::make_indices<I>(1000, 300, test::distribution::sorted, 3);
  CHECK(routemat::plan(routemat::map(1000, 300, sorted.data())).facts().sorted == 1);
  // Drops between sorted kept indices keep it sorted.
  const std::vector<I> sorted_drops{-1, 0, 0, -1, 1, 4, -1, 4, 6, -1};
  const routemat::plan p(routemat::map(10, 7, sorted_drops.data(), routemat::drop::allow));
  CHECK(p.facts().sorted == 1);
  CHECK(p.facts().dropped_rows == 4);
  const std::vector<I> unsorted{0, 1, 3, 2, 4};
  CHECK(routemat::plan(routemat::map(5, 5, unsorted.data())).facts().sorted == 0);
  const std::vector<I> last_pair{0, 0, 1, 2, 4, 3};
  CHECK(routemat::plan(routemat::map(6, 5, last_pair.data())).facts().sorted == 0);
}

TEST_CASE_TEMPLATE("plan: dropped rows contribute nothing", P, ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  const std::int64_t m = 2000, n = 97, d = 5;
  const std::vector<I> idx = test::make_indices<I>(m, n, test::distribution::zipf, 41, 0.3);
  const routemat::map g(m, n, idx.data(), routemat::drop::allow);
  const routemat::plan p(g);
  const std::int64_t dropped = std::count(idx.begin(), idx.end(), I(-1));
  CHECK(dropped > 0);
  CHECK(p.facts().dropped_rows == dropped);
  check_facts(p, idx, n);

  // Dropped rows hold NaN: any contribution would show.
  test::block<T> x(m, d, d);
  test::fill(x, 42, true);
  for (std::int64_t i = 0; i < m; ++i)
    if (idx[static_cast<std::size_t>(i)] == -1)
      for (std::int64_t k = 0; k < d; ++k) x.at(i, k) = std::numeric_limits<T>::quiet_NaN();
  std::vector<I> kept_idx;
  test::block<T> kept_x(m - dropped, d, d);
  for (std::int64_t i = 0, r = 0; i < m; ++i)
    if (idx[static_cast<std::size_t>(i)] != -1) {
      kept_idx.push_back(idx[static_cast<std::size_t>(i)]);
      for (std::int64_t k = 0; k < d; ++k) kept_x.at(r, k) = x.at(i, k);
      ++r;
    }
  const std::vector<T> want =
      test::dense_transpose_times(test::dense_matrix(kept_idx, n), m - dropped, n, kept_x);
  test::block<T> v(n, d, d), acc(n, d, d);
  routemat::sum_forward(p, x.cview(), v.view());
  CHECK(rows_differing(v, want) == 0);
  fill_with(acc, T(0));
  routemat::scatter_add(p, x.cview(), acc.view());
  CHECK(rows_differing(acc, want) == 0);

  // Backward: dropped rows of dX get zeros.
  test::block<T> dv(n, d, d), dx(m, d, d);
  test::fill(dv, 43, false);
  fill_with(dx, T(sentinel));
  routemat::sum_backward(p, dv.cview(), dx.view());
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int64_t j = idx[static_cast<std::size_t>(i)];
    for (std::int64_t k = 0; k < d; ++k)
      wrong += j == -1 ? dx.at(i, k) != T(0) : dx.at(i, k) != dv.at(j, k);
  }
  CHECK(wrong == 0);
}

TEST_CASE_TEMPLATE("plan: facts count fan-in and empty destinations", I, std::int32_t,
                   std::int64_t) {
  std::uint32_t seed = 500;
  for (const std::int64_t m : {1, 10, 1000, 30000})
    for (const std::int64_t n : {1, 3, 1000})
      for (const test::distribution dist :
           {test::distribution::uniform, test::distribution::zipf, test::distribution::hot})
        for (const double drop_rate : {0.0, 0.5}) {
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(static_cast<int>(dist));
          CAPTURE(drop_rate);
          const std::vector<I> idx = test::make_indices<I>(m, n, dist, seed++, drop_rate);
          const routemat::plan p(routemat::map(m, n, idx.data(), routemat::drop::allow));
          check_facts(p, idx, n);
        }
}

TEST_CASE_TEMPLATE("plan: m = 0", P, ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  const std::int64_t n = 4, d = 3;
  const routemat::map g(0, n, static_cast<const I*>(nullptr));
  const routemat::plan p(g);
  const routemat::plan_facts f = p.facts();
  CHECK(f.rows == 0);
  CHECK(f.cols == n);
  CHECK(f.max_fan_in == 0);
  CHECK(f.empty_cols == n);
  CHECK(f.dropped_rows == 0);
  CHECK(f.permutation == 0);
  CHECK(f.identity == 0);

  const routemat::rows_view<const T> none(nullptr, 0, d);
  std::vector<T> du(n * d, T(5));
  routemat::scatter_add(p, none, routemat::rows_view<T>(du.data(), n, d));
  CHECK(du == std::vector<T>(n * d, T(5)));
  routemat::scatter_add(p, none, routemat::rows_view<T>(du.data(), n, d),
                        routemat::write::overwrite);
  CHECK(du == std::vector<T>(n * d, T(0)));
  std::vector<T> v(n * d, T(5));
  routemat::sum_forward(p, none, routemat::rows_view<T>(v.data(), n, d));
  CHECK(v == std::vector<T>(n * d, T(0)));
  routemat::sum_backward(p, routemat::rows_view<const T>(v.data(), n, d),
                         routemat::rows_view<T>(nullptr, 0, d));
}

TEST_CASE_TEMPLATE("plan: n = 0 with every row dropped", P, ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  const std::int64_t m = 20, d = 3;
  const std::vector<I> idx(static_cast<std::size_t>(m), I(-1));
  const routemat::map g(m, 0, idx.data(), routemat::drop::allow);
  const routemat::plan p(g);
  const routemat::plan_facts f = p.facts();
  CHECK(f.rows == m);
  CHECK(f.cols == 0);
  CHECK(f.dropped_rows == m);
  CHECK(f.max_fan_in == 0);
  CHECK(f.empty_cols == 0);
  CHECK(f.permutation == 0);
  CHECK(f.identity == 0);

  std::vector<T> x(m * d, T(1));
  const routemat::rows_view<T> none(nullptr, 0, d);
  routemat::scatter_add(p, routemat::rows_view<const T>(x.data(), m, d), none);
  routemat::scatter_add(p, routemat::rows_view<const T>(x.data(), m, d), none,
                        routemat::write::overwrite);
  routemat::sum_forward(p, routemat::rows_view<const T>(x.data(), m, d), none);
  CHECK(x == std::vector<T>(m * d, T(1)));
  std::vector<T> dx(m * d, T(sentinel));
  routemat::sum_backward(p, routemat::rows_view<const T>(nullptr, 0, d),
                         routemat::rows_view<T>(dx.data(), m, d));
  CHECK(dx == std::vector<T>(m * d, T(0)));
}

TEST_CASE("plan: outlives its map (the indices stay alive)") {
  const std::int64_t m = 300, n = 40, d = 4;
  const std::vector<std::int64_t> idx =
      test::make_indices<std::int64_t>(m, n, test::distribution::uniform, 61, 0.1);
  test::block<double> x(m, d, d), u(n, d, d), du(n, d, d);
  test::fill(x, 62, true);
  test::fill(u, 63, true);
  test::fill(du, 64, true);
  const std::vector<double> dense = test::dense_matrix(idx, n);

  auto make = [&] {
    auto g = std::make_unique<routemat::map>(m, n, idx.data(), routemat::drop::allow);
    routemat::plan p(*g);
    g.reset();  // the map is gone; the plan keeps its own copy
    return p;   // and the plan itself moves
  };
  routemat::plan p = make();
  routemat::plan moved = std::move(p);
  CHECK(moved.facts().rows == m);
  CHECK(moved.facts().dropped_rows == std::count(idx.begin(), idx.end(), -1));
  CHECK(routemat_plan_map(moved.native_handle()) == moved.map_handle());
  CHECK(routemat_map_rows(moved.map_handle()) == m);
  CHECK(routemat_map_cols(moved.map_handle()) == n);

  test::block<double> acc = du;
  routemat::node_backward(moved, x.cview(), acc.view());
  const std::vector<double> sum = test::dense_transpose_times(dense, m, n, x);
  std::int64_t wrong = 0;
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t k = 0; k < d; ++k)
      wrong += acc.at(j, k) != du.at(j, k) + sum[static_cast<std::size_t>(j * d + k)];
  CHECK(wrong == 0);
  test::block<double> v(n, d, d);
  routemat::sum_forward(moved, x.cview(), v.view());
  CHECK(rows_differing(v, sum) == 0);
  test::block<double> w(m, d, d);
  routemat::node_forward(moved, u.cview(), w.view());
  CHECK(rows_differing(w, test::dense_times(dense, m, n, u)) == 0);
  test::block<double> dx(m, d, d);
  routemat::sum_backward(moved, u.cview(), dx.view());
  CHECK(same_bytes(dx.data, w.data));
}

TEST_CASE_TEMPLATE("plan: outputs of the wrong shape are refused and left untouched", T, float,
                   double) {
  const std::vector<std::int32_t> idx{2, 0, 1, 0, 2, 1};  // G is 6 x 3
  const routemat::plan p(routemat::map(6, 3, idx.data()));
  std::vector<T> x(6 * 2, T(1)), dv(3 * 2, T(1));
  for (std::size_t e = 0; e < x.size(); ++e) x[e] = static_cast<T>(e + 1);
  const std::vector<T> untouched(8 * 2, T(sentinel));
  std::vector<T> out = untouched;
  const routemat::rows_view<const T> x_view(x.data(), 6, 2), dv_view(dv.data(), 3, 2);

  for (const routemat::write mode : {routemat::write::accumulate, routemat::write::overwrite}) {
    CAPTURE(static_cast<int>(mode));
    CHECK(error_of([&] {
            routemat::scatter_add(p, x_view, routemat::rows_view<T>(out.data(), 4, 2), mode);
          }) ==
          error(routemat::status::shape_mismatch, "dst has 4 rows; the map needs 3 (its cols n)"));
    CHECK(error_of([&] {
            routemat::scatter_add(p, x_view, routemat::rows_view<T>(out.data(), 6, 2), mode);
          }) ==
          error(routemat::status::shape_mismatch, "dst has 6 rows; the map needs 3 (its cols n)"));
    CHECK(error_of([&] {
            routemat::scatter_add(p, x_view, routemat::rows_view<T>(out.data(), 3, 3), mode);
          }) == error(routemat::status::shape_mismatch, "src width 2 differs from dst width 3"));
    CHECK(error_of([&] {
            routemat::scatter_add(p, routemat::rows_view<const T>(x.data(), 5, 2),
                                  routemat::rows_view<T>(out.data(), 3, 2), mode);
          }) ==
          error(routemat::status::shape_mismatch, "src has 5 rows; the map needs 6 (its rows m)"));
    CHECK(same_bytes(out, untouched));
  }
  CHECK(error_of(
            [&] { routemat::sum_forward(p, x_view, routemat::rows_view<T>(out.data(), 2, 2)); }) ==
        error(routemat::status::shape_mismatch, "dst has 2 rows; the map needs 3 (its cols n)"));
  CHECK(error_of(
            [&] { routemat::sum_forward(p, dv_view, routemat::rows_view<T>(out.data(), 3, 2)); }) ==
        error(routemat::status::shape_mismatch, "src has 3 rows; the map needs 6 (its rows m)"));
  CHECK(error_of([&] {
          routemat::sum_backward(p, dv_view, routemat::rows_view<T>(out.data(), 3, 2));
        }) ==
        error(routemat::status::shape_mismatch, "dst has 3 rows; the map needs 6 (its rows m)"));
  CHECK(error_of(
            [&] { routemat::sum_backward(p, x_view, routemat::rows_view<T>(out.data(), 6, 2)); }) ==
        error(routemat::status::shape_mismatch, "src has 6 rows; the map needs 3 (its cols n)"));
  CHECK(error_of([&] {
          routemat::node_forward(p, dv_view, routemat::rows_view<T>(out.data(), 5, 2));
        }) ==
        error(routemat::status::shape_mismatch, "dst has 5 rows; the map needs 6 (its rows m)"));
  CHECK(error_of([&] {
          routemat::node_backward(p, x_view, routemat::rows_view<T>(out.data(), 7, 2));
        }) ==
        error(routemat::status::shape_mismatch, "dst has 7 rows; the map needs 3 (its cols n)"));
  CHECK(same_bytes(out, untouched));
}

TEST_CASE("plan: bad write modes, null plans and null maps through the C ABI") {
  const std::vector<std::int64_t> idx{2, 0, 1, 0, 2, 1};
  const routemat::map g(6, 3, idx.data());
  const routemat::plan p(g);
  std::vector<float> x{1, 2, 3, 4, 5, 6};
  const std::vector<float> untouched(3, float(sentinel));
  std::vector<float> out = untouched;
  const routemat_rows src = {x.data(), 6, 1, 1, ROUTEMAT_F32};
  const routemat_rows dst = {out.data(), 3, 1, 1, ROUTEMAT_F32};
  const routemat_rows dv = {x.data(), 3, 1, 1, ROUTEMAT_F32};
  const routemat_rows dx = {out.data(), 3, 1, 1, ROUTEMAT_F32};

  for (const int mode : {7, 2, -1, INT32_MIN, INT32_MAX}) {  // the enum spans int32: no UB
    CAPTURE(mode);
    CHECK(routemat_plan_scatter_add(p.native_handle(), &src, &dst,
                                    static_cast<routemat_write>(mode)) ==
          ROUTEMAT_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(routemat_last_error()) ==
          "write mode " + std::to_string(mode) +
              " is neither ROUTEMAT_ACCUMULATE nor ROUTEMAT_OVERWRITE");
    CHECK(same_bytes(out, untouched));
  }
  CHECK(error_of([&] {
          routemat::scatter_add(p, routemat::rows_view<const float>(x.data(), 6, 1),
                                routemat::rows_view<float>(out.data(), 3, 1),
                                static_cast<routemat::write>(7));
        }) == error(routemat::status::invalid_argument,
                    "write mode 7 is neither ROUTEMAT_ACCUMULATE nor ROUTEMAT_OVERWRITE"));
  CHECK(same_bytes(out, untouched));

  // A null plan.
  CHECK(routemat_plan_scatter_add(nullptr, &src, &dst, ROUTEMAT_ACCUMULATE) ==
        ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(routemat_last_error()) == "plan is NULL");
  CHECK(routemat_plan_scatter_add(nullptr, &src, &dst, ROUTEMAT_OVERWRITE) ==
        ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(routemat_sum_forward(nullptr, &src, &dst) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(routemat_last_error()) == "plan is NULL");
  CHECK(routemat_sum_backward(nullptr, &dv, &dx) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(routemat_last_error()) == "plan is NULL");
  routemat_plan_facts facts{};
  facts.rows = 99;
  CHECK(routemat_plan_get_facts(nullptr, &facts) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(routemat_last_error()) == "plan is NULL");
  CHECK(facts.rows == 99);
  CHECK(routemat_plan_get_facts(p.native_handle(), nullptr) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(routemat_last_error()) == "out is NULL");
  CHECK(routemat_plan_map(nullptr) == nullptr);
  routemat_plan_destroy(nullptr);  // like free(NULL)
  CHECK(same_bytes(out, untouched));

  // routemat_plan_create with a null map or a null out.
  int marker = 0;
  routemat_plan* created = reinterpret_cast<routemat_plan*>(&marker);
  CHECK(routemat_plan_create(&created, nullptr) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(routemat_last_error()) == "map is NULL");
  CHECK(created == reinterpret_cast<routemat_plan*>(&marker));
  CHECK(routemat_plan_create(nullptr, g.native_handle()) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(routemat_last_error()) == "out is NULL");

  // A plan from a bad map cannot exist: routemat_map_create validates every
  // index and hands out no map when one is bad, so the only map a plan can be
  // given is a valid one (or NULL, refused above).
  const std::vector<std::int64_t> bad{0, 3};
  routemat_map* bad_map = nullptr;
  CHECK(routemat_map_create(&bad_map, 2, 3, bad.data(), ROUTEMAT_INT64, 0) ==
        ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE);
  CHECK(bad_map == nullptr);
  CHECK(routemat_plan_create(&created, bad_map) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(created == reinterpret_cast<routemat_plan*>(&marker));
}

TEST_CASE_TEMPLATE("plan: README weight sharing through node_forward / node_backward", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  // G = [[1,0,0],[0,1,0],[0,0,1],[0,0,1],[0,0,1]]: u3 is shared by w3, w4, w5.
  const std::vector<I> idx{0, 1, 2, 2, 2};
  const routemat::plan p(routemat::map(5, 3, idx.data()));
  const routemat::plan_facts f = p.facts();
  CHECK(f.max_fan_in == 3);
  CHECK(f.empty_cols == 0);
  CHECK(f.sorted == 1);
  CHECK(f.permutation == 0);

  std::vector<T> u{1, 2, 3}, w(5, T(-7));
  routemat::node_forward(p, column(u), column(w));
  CHECK(w == std::vector<T>{1, 2, 3, 3, 3});

  std::vector<T> dw{1, 10, 100, 1000, 10000}, du(3, T(0));
  routemat::node_backward(p, column(dw), column(du));
  CHECK(du == std::vector<T>{1, 10, 11100});           // dC/du3 = dC/dw3 + dC/dw4 + dC/dw5
  routemat::node_backward(p, column(dw), column(du));  // accumulates
  CHECK(du == std::vector<T>{2, 20, 22200});
  routemat::node_backward(p, column(dw), column(du), routemat::write::overwrite);
  CHECK(du == std::vector<T>{1, 10, 11100});
}

TEST_CASE_TEMPLATE("plan: README branching through sum_forward / sum_backward", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  // idx = [2,0,1,0,2,1]: the sum module's forward is G^T (six rows fan in to
  // three), its backward G (three gradients branch out to six).
  const std::vector<I> idx{2, 0, 1, 0, 2, 1};
  const routemat::plan p(routemat::map(6, 3, idx.data()));

  const T alpha = 1, beta = 2, gamma = 4, delta = 8, epsilon = 16, zeta = 32;
  std::vector<T> greek{alpha, beta, gamma, delta, epsilon, zeta}, v(3, T(sentinel));
  routemat::sum_forward(p, column(greek), column(v));
  CHECK(v == std::vector<T>{beta + delta, gamma + zeta, alpha + epsilon});
  CHECK(v == std::vector<T>{10, 36, 17});

  const T a = 1, b = 2, c = 3;
  std::vector<T> abc{a, b, c}, dx(6, T(sentinel));
  routemat::sum_backward(p, column(abc), column(dx));
  CHECK(dx == std::vector<T>{c, a, b, a, c, b});

  // Rows of width 2 (stride 3): each column routes independently.
  std::vector<T> rows{alpha, 10 * alpha, 0, beta,    10 * beta,    0, gamma, 10 * gamma, 0,
                      delta, 10 * delta, 0, epsilon, 10 * epsilon, 0, zeta,  10 * zeta};
  std::vector<T> v2(6, T(sentinel));
  routemat::sum_forward(p, routemat::rows_view<const T>(rows.data(), 6, 2, 3),
                        routemat::rows_view<T>(v2.data(), 3, 2));
  CHECK(v2 == std::vector<T>{10, 100, 36, 360, 17, 170});
  std::vector<T> abc2{a, 10 * a, b, 10 * b, c, 10 * c}, dx2(12, T(sentinel));
  routemat::sum_backward(p, routemat::rows_view<const T>(abc2.data(), 3, 2),
                         routemat::rows_view<T>(dx2.data(), 6, 2));
  CHECK(dx2 == std::vector<T>{c, 10 * c, a, 10 * a, b, 10 * b, a, 10 * a, c, 10 * c, b, 10 * b});
}
