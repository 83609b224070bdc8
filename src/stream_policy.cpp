// The output size from which operations stream their stores.
#include "src/stream_policy.hpp"

#include <atomic>

#include "routemat/routemat.h"

namespace routemat {
namespace {

// 8 MiB: on the development Xeon (2 MiB L2 per core) a gather of 64-byte rows
// into an output of 8 MiB or more ran faster with streamed stores, one of
// 4 MiB slower (bench/bench_routes.cpp, gather .../d=16 shapes).
constexpr std::int64_t default_stream_threshold = std::int64_t{8} << 20;

std::atomic<std::int64_t> threshold{default_stream_threshold};

}  // namespace

bool should_stream(std::int64_t bytes) noexcept {
  const std::int64_t t = threshold.load(std::memory_order_relaxed);
  return t >= 0 && bytes >= t;
}

}  // namespace routemat

extern "C" routemat_status routemat_set_stream_threshold(int64_t bytes) {
  routemat::threshold.store(bytes, std::memory_order_relaxed);
  return ROUTEMAT_OK;
}

extern "C" int64_t routemat_get_stream_threshold(void) {
  return routemat::threshold.load(std::memory_order_relaxed);
}
