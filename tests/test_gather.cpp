// gather (Y = G U) on the active ISA against the dense reference, bit for bit.
#include <doctest/doctest.h>

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "routemat/routemat.hpp"
#include "test_support.hpp"

namespace {

constexpr double sentinel = -12345.0;  // marks elements the kernel must not write

template <class T, class I>
void check_gather(std::int64_t m, std::int64_t n, std::int64_t d, test::strides s,
                  test::distribution dist, double drop_rate, std::uint32_t seed) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(d);
  CAPTURE(s.src);
  CAPTURE(s.dst);
  CAPTURE(static_cast<int>(dist));
  CAPTURE(drop_rate);
  const std::vector<I> idx = test::make_indices<I>(m, n, dist, seed, drop_rate);
  test::block<T> u(n, d, s.src), y(m, d, s.dst);
  test::fill(u, seed + 1, false);
  for (auto& v : y.data) v = static_cast<T>(sentinel);

  routemat::map g(m, n, idx.data(), drop_rate > 0 ? routemat::drop::allow : routemat::drop::forbid);
  routemat::gather(g, u.cview(), y.view());

  const std::vector<T> expected = test::dense_times(test::dense_matrix(idx, n), m, n, u);
  std::int64_t wrong = 0, gaps_written = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    wrong += std::memcmp(&y.at(i, 0), &expected[static_cast<std::size_t>(i * d)],
                         static_cast<std::size_t>(d) * sizeof(T)) != 0;
    if (i + 1 < m)
      for (std::int64_t k = d; k < s.dst; ++k)
        gaps_written += y.at(i, k) != static_cast<T>(sentinel);
  }
  CHECK(wrong == 0);
  CHECK(gaps_written == 0);
}

template <class T, class I>
void check_catalogue() {
  std::uint32_t seed = 1;
  for (const std::int64_t d : test::widths)
    for (const test::extent e : test::extents)
      for (const test::strides s : test::stride_cases(d))
        for (const test::distribution dist : test::distributions)
          for (const double drop_rate : {0.0, 0.25})
            check_gather<T, I>(e.m, e.n, d, s, dist, drop_rate, seed++);
  for (const std::int64_t d : test::large_widths)
    for (const test::strides s : test::stride_cases(d))
      for (const test::distribution dist : {test::distribution::uniform, test::distribution::zipf})
        check_gather<T, I>(test::large_extent.m, test::large_extent.n, d, s, dist, 0.0, seed++);
}

}  // namespace

TEST_CASE_TEMPLATE("gather matches the dense reference bit for bit on every shape", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  check_catalogue<typename P::first_type, typename P::second_type>();
}

TEST_CASE("gather of dropped rows writes zeros, of all-dropped rows with n = 0 too") {
  const std::vector<std::int32_t> idx{-1, 1,  -1, 0,  -1, -1, -1, -1, -1,
                                      -1, -1, -1, -1, -1, -1, -1, 1};
  routemat::map g(17, 2, idx.data(), routemat::drop::allow);
  CHECK(g.dropped_rows() == 14);
  std::vector<float> u{5, 7}, y(17, 9.0f);
  routemat::gather(g, routemat::rows_view<float>(u.data(), 2, 1),
                   routemat::rows_view<float>(y.data(), 17, 1));
  const std::vector<float> expected{0, 7, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
  CHECK(y == expected);

  const std::vector<std::int64_t> all_dropped(20, -1);
  routemat::map none(20, 0, all_dropped.data(), routemat::drop::allow);
  std::vector<double> out(20 * 3, 1.0);
  routemat::gather(none, routemat::rows_view<const double>(nullptr, 0, 3),
                   routemat::rows_view<double>(out.data(), 20, 3));
  CHECK(out == std::vector<double>(60, 0.0));
}

TEST_CASE_TEMPLATE("gather with element offsets beyond 32 bits (hardware-gather fallback)", T,
                   float, double) {
  // n * stride > 2^31 elements: offsets no longer fit the 32-bit lanes of the
  // hardware gather. A sparse mapping holds the 8-16 GiB table; only the
  // pages of the rows read are touched.
  const std::int64_t n = 4096, stride = std::int64_t(1) << 20;  // 2^32 elements in all
  const std::size_t bytes = static_cast<std::size_t>((n - 1) * stride + 1) * sizeof(T);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    MESSAGE("skipped: cannot map " << bytes << " bytes of address space");
    return;
  }
  T* table = static_cast<T*>(mem);
  const std::int64_t m = 64;
  std::vector<std::int32_t> idx(static_cast<std::size_t>(m));
  for (std::int64_t i = 0; i < m; ++i) {
    idx[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 977 + 4095 * (i % 2)) % n);
    table[idx[static_cast<std::size_t>(i)] * stride] = static_cast<T>(i + 1);
  }
  routemat::map g(m, n, idx.data());
  std::vector<T> y(static_cast<std::size_t>(m));
  routemat::gather(g, routemat::rows_view<const T>(table, n, 1, stride),
                   routemat::rows_view<T>(y.data(), m, 1));
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < m; ++i)
    wrong += y[static_cast<std::size_t>(i)] != table[idx[static_cast<std::size_t>(i)] * stride];
  CHECK(wrong == 0);
  munmap(mem, bytes);
}

// Found by the fuzzer: a one-row source may have any stride. The d = 1
// hardware gather keeps 32-bit lane offsets, and a stride truncated to 32
// bits once turned a dropped row (-1 * stride) into a live lane that read past
// the source. Every ISA must give zeros for dropped rows and src[0] otherwise,
// and a one-row output with a huge stride must not overflow the stream check.
TEST_CASE_TEMPLATE("gather from a one-row source with a huge stride (fuzzer regression)", T, float,
                   double) {
  for (const std::int64_t stride : {std::int64_t{1} << 31, std::int64_t{1} << 62, INT64_MAX}) {
    CAPTURE(stride);
    const std::int64_t m = 40;
    std::vector<std::int32_t> idx(static_cast<std::size_t>(m));
    for (std::int64_t i = 0; i < m; ++i) idx[static_cast<std::size_t>(i)] = i % 3 == 0 ? -1 : 0;
    const routemat::map g(m, 1, idx.data(), routemat::drop::allow);
    std::vector<T> u{T(7)}, y(static_cast<std::size_t>(m), T(sentinel));
    routemat::gather(g, routemat::rows_view<const T>(u.data(), 1, 1, stride),
                     routemat::rows_view<T>(y.data(), m, 1));
    std::int64_t wrong = 0;
    for (std::int64_t i = 0; i < m; ++i)
      wrong += y[static_cast<std::size_t>(i)] != (i % 3 == 0 ? T(0) : T(7));
    CHECK(wrong == 0);
    // A one-row output with a huge stride, streamed or not.
    const routemat::map one(1, 1, idx.data() + 1);
    std::vector<T> out{T(sentinel)};
    routemat::set_stream_threshold(0);
    routemat::gather(one, routemat::rows_view<const T>(u.data(), 1, 1),
                     routemat::rows_view<T>(out.data(), 1, 1, stride));
    routemat::set_stream_threshold(std::int64_t{8} << 20);
    CHECK(out[0] == T(7));
  }
}
