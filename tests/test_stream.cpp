// Outputs written with non-temporal stores (routemat_set_stream_threshold):
// gather, the plan's overwrite and sum_forward give the same bytes as with
// ordinary stores, for every alignment of the output, and write nothing
// outside its rows.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "routemat/routemat.hpp"
#include "test_support.hpp"

namespace {

// Sets the stream threshold for one scope and restores the previous one.
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

constexpr double sentinel = -777.0;

// An output block placed `shift` elements after a 64-byte boundary, with
// sentinel guards before and after it and in the gaps of its stride.
template <class T>
struct guarded_rows {
  guarded_rows(std::int64_t rows_, std::int64_t width_, std::int64_t stride_, std::int64_t shift)
      : rows(rows_), width(width_), stride(stride_) {
    const std::int64_t guard = 64 / sizeof(T);
    const std::int64_t span = rows > 0 ? (rows - 1) * stride + width : 0;
    storage.assign(static_cast<std::size_t>(span + 2 * guard + shift + guard), T(sentinel));
    // Start `shift` elements after the first 64-byte boundary past the guard.
    const auto base = reinterpret_cast<std::uintptr_t>(storage.data() + guard);
    const std::uintptr_t aligned = (base + 63) / 64 * 64;
    first = static_cast<std::int64_t>((aligned - reinterpret_cast<std::uintptr_t>(storage.data())) /
                                      sizeof(T)) +
            shift;
  }
  T* data() { return storage.data() + first; }
  routemat::rows_view<T> view() { return {data(), rows, width, stride}; }
  bool inside(std::int64_t e) const {
    const std::int64_t off = e - first;
    return off >= 0 && off / stride < rows && off % stride < width;
  }
  std::int64_t rows, width, stride, first = 0;
  std::vector<T> storage;
};

template <class T>
std::int64_t guards_written(const guarded_rows<T>& out) {
  std::int64_t written = 0;
  for (std::int64_t e = 0; e < static_cast<std::int64_t>(out.storage.size()); ++e)
    if (!out.inside(e)) written += out.storage[static_cast<std::size_t>(e)] != T(sentinel);
  return written;
}

template <class T, class I>
void check_streamed(std::int64_t m, std::int64_t n, std::int64_t d, std::int64_t stride_extra,
                    std::int64_t shift, double drop_rate, std::uint32_t seed) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(d);
  CAPTURE(stride_extra);
  CAPTURE(shift);
  CAPTURE(drop_rate);
  const std::vector<I> idx =
      test::make_indices<I>(m, n, test::distribution::uniform, seed, drop_rate);
  const routemat::map g(m, n, idx.data(),
                        drop_rate > 0 ? routemat::drop::allow : routemat::drop::forbid);
  test::block<T> u(n, d, d), x(m, d, d);
  test::fill(u, seed + 1, false);
  test::fill(x, seed + 2, false);

  // Gather: Y[i] = U[idx[i]] or zeros.
  guarded_rows<T> y(m, d, d + stride_extra, shift);
  routemat::gather(g, u.cview(), y.view());
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t k = 0; k < d; ++k) {
      const T want = idx[static_cast<std::size_t>(i)] < 0 ? T(0) : u.at(idx[i], k);
      wrong += std::memcmp(&y.data()[i * y.stride + k], &want, sizeof(T)) != 0;
    }
  CHECK(wrong == 0);
  CHECK(guards_written(y) == 0);

  // Overwrite through a plan and sum_forward: the push into zeros, bit for bit.
  const routemat::plan p(g);
  test::block<T> pushed(n, d, d);
  for (auto& v : pushed.data) v = T(0);
  routemat::scatter_add(g, x.cview(), pushed.view());
  guarded_rows<T> over(n, d, d + stride_extra, shift), summed(n, d, d + stride_extra, shift);
  routemat::scatter_add(p, x.cview(), over.view(), routemat::write::overwrite);
  routemat::sum_forward(p, x.cview(), summed.view());
  std::int64_t wrong_over = 0, wrong_sum = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    wrong_over += std::memcmp(&over.data()[j * over.stride], &pushed.at(j, 0), d * sizeof(T)) != 0;
    wrong_sum += std::memcmp(&summed.data()[j * over.stride], &pushed.at(j, 0), d * sizeof(T)) != 0;
  }
  CHECK(wrong_over == 0);
  CHECK(wrong_sum == 0);
  CHECK(guards_written(over) == 0);
  CHECK(guards_written(summed) == 0);
}

}  // namespace

TEST_CASE("stream threshold: set, read back, negative turns streaming off") {
  stream_threshold_scope scope(12345);
  CHECK(routemat::stream_threshold() == 12345);
  routemat::set_stream_threshold(-1);
  CHECK(routemat::stream_threshold() == -1);
}

TEST_CASE_TEMPLATE("streamed outputs equal the reference at every alignment, width and stride", P,
                   ROUTEMAT_TEST_VALUE_INDEX_TYPES) {
  using T = typename P::first_type;
  using I = typename P::second_type;
  stream_threshold_scope stream_everything(0);
  std::uint32_t seed = 9100;
  // Widths around every register size (4, 8, 16 f32 lanes; 2, 4, 8 f64);
  // shifts that keep or break register alignment; strides that do too.
  for (const std::int64_t d : {1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 80})
    for (const std::int64_t stride_extra : {0, 1, 16})
      for (const std::int64_t shift : {0, 1, 4, 8})
        for (const double drop_rate : {0.0, 0.3})
          check_streamed<T, I>(97, 41, d, stride_extra, shift, drop_rate, seed++);
  // Column gathers with heads and tails around the hardware-gather step.
  for (std::int64_t m = 0; m <= 40; ++m)
    for (const std::int64_t shift : {0, 3}) check_streamed<T, I>(m, 13, 1, 0, shift, 0.2, seed++);
  // Large enough to be sharded over threads.
  check_streamed<T, I>(20000, 3000, 16, 0, 0, 0.1, seed++);
}
