// Shared test helpers: index generators, exact-size buffers, and the dense
// reference that materializes G as an m x n 0/1 matrix.
#ifndef ROUTEMAT_TEST_SUPPORT_HPP
#define ROUTEMAT_TEST_SUPPORT_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

#include "routemat/routemat.hpp"

// Every (value type, index type) pair, for TEST_CASE_TEMPLATE.
#define ROUTEMAT_TEST_VALUE_INDEX_TYPES                                                            \
  std::pair<float, std::int32_t>, std::pair<float, std::int64_t>, std::pair<double, std::int32_t>, \
      std::pair<double, std::int64_t>

// The 16-bit (value type, index type) pairs.
#define ROUTEMAT_TEST_HALF_INDEX_TYPES                                              \
  std::pair<routemat::bf16, std::int32_t>, std::pair<routemat::bf16, std::int64_t>, \
      std::pair<routemat::f16, std::int32_t>, std::pair<routemat::f16, std::int64_t>

namespace test {

template <class T>
constexpr bool is_half_v = std::is_same_v<T, routemat::bf16> || std::is_same_v<T, routemat::f16>;

// Any row type as a double (16-bit types convert only explicitly, to float).
template <class T>
double to_double(T v) {
  if constexpr (is_half_v<T>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

// The row type nearest to x (16-bit types through f32: exact for the values
// tests compare exactly, integers below 2^24).
template <class T>
T from_double(double x) {
  if constexpr (is_half_v<T>) {
    return T(static_cast<float>(x));
  } else {
    return static_cast<T>(x);
  }
}

// The distance from 1 to the next value of T.
template <class T>
constexpr double epsilon() {
  if constexpr (std::is_same_v<T, routemat::bf16>) {
    return 0x1p-7;
  } else if constexpr (std::is_same_v<T, routemat::f16>) {
    return 0x1p-10;
  } else {
    return std::numeric_limits<T>::epsilon();
  }
}

// Forces one plan kernel for a scope, then restores the automatic choice.
class plan_kernel_scope {
 public:
  explicit plan_kernel_scope(routemat::plan_kernel k) { routemat::set_plan_kernel(k); }
  ~plan_kernel_scope() { routemat::set_plan_kernel(routemat::plan_kernel::automatic); }
  plan_kernel_scope(const plan_kernel_scope&) = delete;
  plan_kernel_scope& operator=(const plan_kernel_scope&) = delete;
};

// Indices in [0, n) (or -1 for a dropped row with probability drop_rate).
enum class distribution { uniform, hot, zipf, sorted, permutation };

template <class I>
std::vector<I> make_indices(std::int64_t m, std::int64_t n, distribution dist, std::uint32_t seed,
                            double drop_rate = 0.0) {
  std::mt19937_64 rng(seed);
  std::vector<I> idx(static_cast<std::size_t>(m));
  if (n == 0) {
    for (auto& v : idx) v = -1;
    return idx;
  }
  std::uniform_int_distribution<std::int64_t> uniform(0, n - 1);
  std::vector<double> zipf_cdf;
  if (dist == distribution::zipf) {  // P(k) ~ 1 / (k + 1)^1.1
    double total = 0;
    for (std::int64_t k = 0; k < n; ++k) zipf_cdf.push_back(total += std::pow(k + 1.0, -1.1));
    for (auto& c : zipf_cdf) c /= total;
  }
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (std::int64_t i = 0; i < m; ++i) {
    std::int64_t j = 0;
    switch (dist) {
      case distribution::uniform: j = uniform(rng); break;
      case distribution::hot: j = n / 2; break;
      case distribution::zipf: {
        const double u = unit(rng);
        j = std::lower_bound(zipf_cdf.begin(), zipf_cdf.end(), u) - zipf_cdf.begin();
        if (j >= n) j = n - 1;
        break;
      }
      case distribution::sorted: j = i * n / (m > 0 ? m : 1); break;
      case distribution::permutation: j = i % n; break;
    }
    idx[static_cast<std::size_t>(i)] = static_cast<I>(j);
  }
  if (dist == distribution::permutation) std::shuffle(idx.begin(), idx.end(), rng);
  if (drop_rate > 0)
    for (auto& v : idx)
      if (unit(rng) < drop_rate) v = -1;
  return idx;
}

// A rows x stride block (last row only `width` long, so the heap buffer ends
// exactly at the last element a kernel may touch) filled with values.
template <class T>
struct block {
  std::int64_t rows, width, stride;
  std::vector<T> data;
  block(std::int64_t rows_, std::int64_t width_, std::int64_t stride_)
      : rows(rows_),
        width(width_),
        stride(stride_),
        data(rows_ > 0 ? static_cast<std::size_t>((rows_ - 1) * stride_ + width_) : 0) {}
  T& at(std::int64_t r, std::int64_t k) { return data[static_cast<std::size_t>(r * stride + k)]; }
  T at(std::int64_t r, std::int64_t k) const {
    return data[static_cast<std::size_t>(r * stride + k)];
  }
  routemat::rows_view<T> view() { return {data.data(), rows, width, stride}; }
  routemat::rows_view<const T> cview() const { return {data.data(), rows, width, stride}; }
};

// Random values; integer-valued ones make every summation order exact.
template <class T>
void fill(block<T>& b, std::uint32_t seed, bool integer_valued) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  std::uniform_int_distribution<int> integer(-64, 64);
  for (auto& v : b.data)
    v = integer_valued ? static_cast<T>(integer(rng)) : static_cast<T>(real(rng));
}

// G as a dense m x n 0/1 matrix (row-major), from the index map.
template <class I>
std::vector<double> dense_matrix(const std::vector<I>& idx, std::int64_t n) {
  const auto m = static_cast<std::int64_t>(idx.size());
  std::vector<double> g(static_cast<std::size_t>(m * n), 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    if (idx[static_cast<std::size_t>(i)] >= 0)
      g[static_cast<std::size_t>(i * n + idx[static_cast<std::size_t>(i)])] = 1.0;
  return g;
}

// out (m x d) = G (m x n) * u (n x d), by plain loops over every entry of the
// dense G (the inner loop over d runs only for its non-zero entries).
template <class T>
std::vector<T> dense_times(const std::vector<double>& g, std::int64_t m, std::int64_t n,
                           const block<T>& u) {
  const std::int64_t d = u.width;
  std::vector<T> out(static_cast<std::size_t>(m * d), T(0));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const double gij = g[static_cast<std::size_t>(i * n + j)];
      if (gij == 0.0) continue;
      for (std::int64_t k = 0; k < d; ++k)
        out[static_cast<std::size_t>(i * d + k)] += static_cast<T>(gij) * u.at(j, k);
    }
  return out;
}

// out (n x d) = G^T (n x m) * w (m x d). Walks G row by row (cache-friendly);
// each destination still receives its sources in increasing row order.
template <class T>
std::vector<T> dense_transpose_times(const std::vector<double>& g, std::int64_t m, std::int64_t n,
                                     const block<T>& w) {
  const std::int64_t d = w.width;
  std::vector<T> out(static_cast<std::size_t>(n * d), T(0));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const double gij = g[static_cast<std::size_t>(i * n + j)];
      if (gij == 0.0) continue;
      for (std::int64_t k = 0; k < d; ++k)
        out[static_cast<std::size_t>(j * d + k)] += static_cast<T>(gij) * w.at(i, k);
    }
  return out;
}

// The shape catalogue every kernel is checked on: widths around every vector
// width (4, 8, 16 lanes of f32; 2, 4, 8 of f64), and m, n in {0, 1, small,
// larger than the vector loops and the index-scan chunk}.
inline const std::vector<std::int64_t> widths{1,  2,  3,  4,  5,  7,  8,  9,  15,
                                              16, 17, 31, 32, 33, 63, 64, 65, 257};
struct extent {
  std::int64_t m, n;
};
inline const std::vector<extent> extents{{0, 0}, {0, 4}, {1, 1}, {5, 3}, {37, 11}, {1500, 300}};
inline const extent large_extent{4096, 1024};
inline const std::vector<std::int64_t> large_widths{1, 2, 3, 8, 17, 64};
inline const std::vector<distribution> distributions{distribution::uniform, distribution::hot,
                                                     distribution::zipf, distribution::sorted,
                                                     distribution::permutation};

// Row strides (in elements) of the input and the output for width d.
struct strides {
  std::int64_t src, dst;
};
inline std::vector<strides> stride_cases(std::int64_t d) { return {{d, d}, {d + 3, d + 5}}; }

}  // namespace test

#endif
