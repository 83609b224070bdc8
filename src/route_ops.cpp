// The operations of the C ABI: every check before the first write, then the
// active ISA's kernel over shards that never write the same row, so results
// are the same for any thread count.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "routemat/routemat.h"
#include "src/dispatch.hpp"
#include "src/error.hpp"
#include "src/map.hpp"
#include "src/plan.hpp"
#include "src/rows_check.hpp"
#include "src/stream_policy.hpp"
#include "src/threading.hpp"

namespace routemat {
namespace {

// A validated operation: reads `in`, writes `out`.
struct checked_route {
  const kernel_table* kernels;
  checked_rows in, out;
};

// Checks that src has in_rows rows and dst out_rows rows of the same type and
// width, that dst overlaps neither src nor the map's indices, and that an ISA
// can run.
routemat_status check_route(const routemat_map& map, const routemat_rows* src, std::int64_t in_rows,
                            const char* in_meaning, const routemat_rows* dst, std::int64_t out_rows,
                            const char* out_meaning, checked_route* r) {
  r->kernels = active_kernels();
  if (r->kernels == nullptr) return ROUTEMAT_ERROR_UNSUPPORTED_ISA;
  routemat_status s = check_rows(src, "src", in_rows, in_meaning, &r->in);
  if (s != ROUTEMAT_OK) return s;
  s = check_rows(dst, "dst", out_rows, out_meaning, &r->out);
  if (s != ROUTEMAT_OK) return s;
  const routemat_rows &in = r->in.view, &out = r->out.view;
  if (in.type != out.type)
    return fail(ROUTEMAT_ERROR_SHAPE_MISMATCH, "src holds %s values but dst holds %s",
                value_type_name(in.type), value_type_name(out.type));
  if (in.width != out.width)
    return fail(ROUTEMAT_ERROR_SHAPE_MISMATCH, "src width %lld differs from dst width %lld",
                (long long)in.width, (long long)out.width);
  if (views_overlap(r->out, r->in)) return fail(ROUTEMAT_ERROR_ALIASING, "dst overlaps src");
  const std::size_t index_bytes =
      static_cast<std::size_t>(map.rows) * (map.index_type == ROUTEMAT_INT32 ? 4 : 8);
  if (views_overlap(r->out, byte_range(map.indices, index_bytes)))
    return fail(ROUTEMAT_ERROR_ALIASING, "dst overlaps the map's indices");
  return ROUTEMAT_OK;
}

std::int64_t row_bytes(const checked_route& r) {
  return r.in.view.width * static_cast<std::int64_t>(r.in.element_size);
}

route_args base_args(const checked_route& r, const void* indices) {
  route_args a{};
  a.indices = indices;
  a.src = r.in.view.data;
  a.src_stride = r.in.view.stride;
  a.src_rows = r.in.view.rows;
  a.dst = r.out.view.data;
  a.dst_stride = r.out.view.stride;
  a.width = r.in.view.width;
  return a;
}

// Bytes of the output's rows (without the gaps of a stride).
std::int64_t output_bytes(const checked_route& r) { return r.out.view.rows * row_bytes(r); }

// Runs kernel on `shards` copies of args; place(a, k) sets shard k's range.
template <class Place>
void run_sharded(route_kernel kernel, const route_args& args, std::int64_t shards, Place place) {
  auto shard = [&](std::int64_t k) {
    route_args a = args;
    place(a, k);
    kernel(a);
  };
  parallel_for(shards, shard);
}

// dst = G src, sharded over output rows.
routemat_status gather(const routemat_map* map, const routemat_rows* src,
                       const routemat_rows* dst) {
  if (map == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "map is NULL");
  checked_route r{};
  const routemat_status s =
      check_route(*map, src, map->cols, "its cols n", dst, map->rows, "its rows m", &r);
  if (s != ROUTEMAT_OK || map->rows == 0) return s;
  const route_kernel kernel = r.kernels->gather[map->dropped > 0][r.in.view.type][map->index_type];
  route_args args = base_args(r, map->indices);
  args.stream = should_stream(output_bytes(r));
  const std::int64_t m = map->rows;
  const std::int64_t shards = shards_for(m * 2 * row_bytes(r));
  run_sharded(kernel, args, shards, [&](route_args& a, std::int64_t k) {
    a.begin = m * k / shards;
    a.end = m * (k + 1) / shards;
  });
  return ROUTEMAT_OK;
}

// dst += G^T src without a plan. Wide rows are sharded over destination
// ranges: each shard scans every index and adds the rows routed into its
// range, in row order. Narrow rows run on one thread: there the scan and its
// unpredictable range test cost more than the rows (measured: 2 threads were
// 0.5-0.6x as fast at d = 1 and d = 16); a plan parallelizes them instead.
constexpr std::int64_t min_row_bytes_to_shard = 256;

// The push over a checked route: dst += G^T src in row order, wide rows
// sharded over destination ranges.
void push_sum(const checked_route& r, const routemat_map& map) {
  const route_kernel kernel = r.kernels->scatter_add[r.in.view.type][map.index_type];
  route_args args = base_args(r, map.indices);
  args.begin = 0;
  args.end = map.rows;
  const std::int64_t n = map.cols;
  const std::int64_t shards =
      row_bytes(r) < min_row_bytes_to_shard ? 1 : shards_for(map.rows * 3 * row_bytes(r), 1);
  run_sharded(kernel, args, shards, [&](route_args& a, std::int64_t k) {
    a.dst_begin = n * k / shards;
    a.dst_end = n * (k + 1) / shards;
  });
}

routemat_status scatter_add(const routemat_map* map, const routemat_rows* src,
                            const routemat_rows* dst) {
  if (map == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "map is NULL");
  checked_route r{};
  const routemat_status s =
      check_route(*map, src, map->rows, "its rows m", dst, map->cols, "its cols n", &r);
  if (s != ROUTEMAT_OK || map->rows == 0) return s;
  push_sum(r, *map);
  return ROUTEMAT_OK;
}

// Which kernel a plan's scatter-add runs by default. Both add each
// destination's sources in row order, so the bits are the same either way.
// The pull reads the sources in random order and visits every destination;
// the push reads them in order and read-modify-writes only routed
// destinations. So the push wins when m < n (few destinations touched; wide
// rows are still sharded over destination ranges), and for narrow rows on
// one thread or into a destination block that stays in L2; the pull wins for
// wide rows with m >= n (each destination written once) and is the kernel
// that parallelizes narrow rows. Measured (f32, avx512), pull against push:
// 1 thread d=1 n=64K m=4M 24.5 against 5.6 ms, d=64 n=1M m=64K 9.5 against
// 3.9 ms, d=1024 n=8K m=16K 7.8 against 10.2 ms; 2 threads against the
// 1-thread push: d=4 n=1M m=256K 2.74 against 1.44 ms, d=1 n=64K m=4M 12.4
// against 6.7 ms, d=1 n=1M m=4M 14.9 against 21.1 ms.
constexpr std::int64_t cache_resident_bytes = std::int64_t{1} << 20;

// 16-bit rows (bf16, f16) round differently in the two kernels (once per
// element in the pull, once per routed row in the push), so for them the
// choice depends on the shape alone, never on the thread count.
bool push_beats_pull(const routemat_map& map, std::int64_t bytes_per_row, std::int64_t shards,
                     bool half) {
  if (map.rows < map.cols) return true;
  if (half) return false;
  if (bytes_per_row >= min_row_bytes_to_shard) return false;
  return shards == 1 || map.cols * bytes_per_row <= cache_resident_bytes;
}

std::atomic<std::int32_t> plan_kernel_setting{ROUTEMAT_PLAN_AUTO};

// Zeros the rows of a checked output (+0.0 is all bits zero in every value type).
void zero_rows(const checked_rows& out) {
  const routemat_rows& v = out.view;
  auto* base = static_cast<unsigned char*>(v.data);
  const auto row = static_cast<std::size_t>(v.width) * out.element_size;
  const auto stride = static_cast<std::size_t>(v.stride) * out.element_size;
  if (v.stride == v.width) {
    std::memset(base, 0, row * static_cast<std::size_t>(v.rows));
    return;
  }
  for (std::int64_t i = 0; i < v.rows; ++i)
    std::memset(base + static_cast<std::size_t>(i) * stride, 0, row);
}

// dst (+)= G^T src through the plan: the pull, sharded over destination
// ranges of about equal work (sources + destinations), or the push when it is
// the faster one (push_beats_pull) or forced (routemat_set_plan_kernel).
routemat_status plan_sum(const routemat_plan* plan, const routemat_rows* src,
                         const routemat_rows* dst, routemat_write mode) {
  if (plan == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "plan is NULL");
  if (mode != ROUTEMAT_ACCUMULATE && mode != ROUTEMAT_OVERWRITE)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                "write mode %d is neither ROUTEMAT_ACCUMULATE nor ROUTEMAT_OVERWRITE",
                static_cast<int>(mode));
  const routemat_map& map = plan->map;
  checked_route r{};
  const routemat_status s =
      check_route(map, src, map.rows, "its rows m", dst, map.cols, "its cols n", &r);
  if (s != ROUTEMAT_OK || map.cols == 0) return s;
  const route_kernel kernel = r.kernels->pull_sum[r.in.view.type][plan->csr_type];
  route_args args = base_args(r, plan->sources);
  args.offsets = plan->offsets;
  args.overwrite = mode == ROUTEMAT_OVERWRITE;
  args.stream = args.overwrite && should_stream(output_bytes(r));
  const std::int64_t traffic = (map.rows + map.cols) * 2 * row_bytes(r);
  constexpr std::int64_t max_shards = 256;
  const std::int64_t shards = std::min(shards_for(traffic), max_shards);
  const auto kernel_setting = plan_kernel_setting.load(std::memory_order_relaxed);
  const bool use_push = kernel_setting == ROUTEMAT_PLAN_PUSH ||
                        (kernel_setting == ROUTEMAT_PLAN_AUTO &&
                         push_beats_pull(map, row_bytes(r), shards, r.in.element_size == 2));
  if (use_push) {
    if (args.overwrite) zero_rows(r.out);
    push_sum(r, map);
    return ROUTEMAT_OK;
  }
  std::int64_t boundaries[max_shards + 1];
  balanced_destinations(*plan, shards, boundaries);
  run_sharded(kernel, args, shards, [&](route_args& a, std::int64_t k) {
    a.begin = boundaries[k];
    a.end = boundaries[k + 1];
  });
  return ROUTEMAT_OK;
}

}  // namespace
}  // namespace routemat

extern "C" routemat_status routemat_gather(const routemat_map* map, const routemat_rows* src,
                                           const routemat_rows* dst) {
  return routemat::gather(map, src, dst);
}

extern "C" routemat_status routemat_scatter_add(const routemat_map* map, const routemat_rows* src,
                                                const routemat_rows* dst) {
  return routemat::scatter_add(map, src, dst);
}

extern "C" routemat_status routemat_plan_scatter_add(const routemat_plan* plan,
                                                     const routemat_rows* src,
                                                     const routemat_rows* dst,
                                                     routemat_write mode) {
  return routemat::plan_sum(plan, src, dst, mode);
}

extern "C" routemat_status routemat_sum_forward(const routemat_plan* plan, const routemat_rows* x,
                                                const routemat_rows* v) {
  return routemat::plan_sum(plan, x, v, ROUTEMAT_OVERWRITE);
}

extern "C" routemat_status routemat_sum_backward(const routemat_plan* plan, const routemat_rows* dv,
                                                 const routemat_rows* dx) {
  if (plan == nullptr) return routemat::fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "plan is NULL");
  return routemat::gather(&plan->map, dv, dx);
}

extern "C" routemat_status routemat_set_plan_kernel(routemat_plan_kernel kernel) {
  if (kernel != ROUTEMAT_PLAN_AUTO && kernel != ROUTEMAT_PLAN_PULL && kernel != ROUTEMAT_PLAN_PUSH)
    return routemat::fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                          "plan kernel %d is none of ROUTEMAT_PLAN_AUTO, ROUTEMAT_PLAN_PULL, "
                          "ROUTEMAT_PLAN_PUSH",
                          static_cast<int>(kernel));
  routemat::plan_kernel_setting.store(kernel, std::memory_order_relaxed);
  return ROUTEMAT_OK;
}

extern "C" routemat_plan_kernel routemat_get_plan_kernel(void) {
  return static_cast<routemat_plan_kernel>(
      routemat::plan_kernel_setting.load(std::memory_order_relaxed));
}
