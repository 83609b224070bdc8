// routemat::map: what a valid map records, and that it owns nothing but its handle.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "routemat/routemat.hpp"

TEST_CASE("a map records its shape and its dropped rows") {
  const std::vector<std::int32_t> idx{0, 4, -1, 3, -1};
  routemat::map g(5, 5, idx.data(), routemat::drop::allow);
  CHECK(g.rows() == 5);
  CHECK(g.cols() == 5);
  CHECK(g.dropped_rows() == 2);

  routemat::map moved(std::move(g));
  CHECK(moved.rows() == 5);
  CHECK(moved.dropped_rows() == 2);
  CHECK(g.native_handle() == nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
}

TEST_CASE("the extreme valid indices pass: 0, n - 1, and -1 with drops") {
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const std::vector<std::int64_t> idx{0, big - 1, -1};
  routemat::map g(3, big, idx.data(), routemat::drop::allow);
  CHECK(g.dropped_rows() == 1);

  const std::vector<std::int32_t> idx32{std::numeric_limits<std::int32_t>::max(), 0};
  routemat::map g32(2, std::int64_t(1) << 40, idx32.data());
  CHECK(g32.cols() == std::int64_t(1) << 40);
  CHECK(g32.dropped_rows() == 0);
}

TEST_CASE("an empty map is valid with any number of columns, even zero") {
  routemat::map g(0, 0, static_cast<const std::int32_t*>(nullptr));
  CHECK(g.rows() == 0);
  routemat::map h(0, 7, static_cast<const std::int64_t*>(nullptr));
  CHECK(h.cols() == 7);
}

TEST_CASE("the drop marker is counted across many scan chunks") {
  std::vector<std::int32_t> idx(10000, 3);
  for (std::size_t i = 0; i < idx.size(); i += 7) idx[i] = -1;
  routemat::map g(10000, 4, idx.data(), routemat::drop::allow);
  CHECK(g.dropped_rows() == 1429);  // rows 0, 7, ..., 9996
}
