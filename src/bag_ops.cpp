// The bag operations of the C ABI: every check before the first write, then
// the active ISA's bag kernels over shards that never write the same row.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "routemat/routemat.h"
#include "src/bags.hpp"
#include "src/dispatch.hpp"
#include "src/error.hpp"
#include "src/map.hpp"
#include "src/plan.hpp"
#include "src/rows_check.hpp"
#include "src/threading.hpp"

namespace routemat {
namespace {

const char* type_name(routemat_value_type t) { return value_type_name(t); }

routemat_status check_reduce(routemat_reduce reduce) {
  if (reduce == ROUTEMAT_REDUCE_SUM || reduce == ROUTEMAT_REDUCE_MEAN) return ROUTEMAT_OK;
  return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "reduce %d is neither ROUTEMAT_REDUCE_SUM nor ROUTEMAT_REDUCE_MEAN",
              static_cast<int>(reduce));
}

// `b` has the type and width of the reference view `a`.
routemat_status check_same_shape(const checked_rows& a, const char* a_name, const checked_rows& b,
                                 const char* b_name) {
  if (a.view.type != b.view.type)
    return fail(ROUTEMAT_ERROR_SHAPE_MISMATCH, "%s holds %s values but %s holds %s", a_name,
                type_name(a.view.type), b_name, type_name(b.view.type));
  if (a.view.width != b.view.width)
    return fail(ROUTEMAT_ERROR_SHAPE_MISMATCH, "%s width %lld differs from %s width %lld", a_name,
                (long long)a.view.width, b_name, (long long)b.view.width);
  return ROUTEMAT_OK;
}

// A per-route array (weights, dw): data with count values of element_size
// bytes; NULL only with count 0, otherwise exactly one value per route.
routemat_status check_per_route(const void* data, std::int64_t count, const char* name,
                                const char* count_name, const char* meaning, std::int64_t m,
                                std::size_t element_size, checked_rows* out) {
  if (data == nullptr) {
    if (count != 0)
      return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "%s is NULL but %s is %lld", name, count_name,
                  (long long)count);
    *out = byte_range(nullptr, 0);
    return ROUTEMAT_OK;
  }
  if (count != m)
    return fail(ROUTEMAT_ERROR_SHAPE_MISMATCH, "%s %lld differs from the map's rows m = %lld (%s)",
                count_name, (long long)count, (long long)m, meaning);
  *out = byte_range(data, static_cast<std::size_t>(m) * element_size);
  return ROUTEMAT_OK;
}

checked_rows index_range(const routemat_map& map) {
  return byte_range(
      map.indices, static_cast<std::size_t>(map.rows) * (map.index_type == ROUTEMAT_INT32 ? 4 : 8));
}

constexpr std::int64_t max_shards = 256;

// The first bag of each of `shards` ranges of about equal work (routes + 1
// per bag): boundaries[s] for s in [0, shards].
void balanced_bags(const routemat_bags& bags, std::int64_t shards, std::int64_t* boundaries) {
  const std::int64_t count = bags.count, total = bags.map.rows + count;
  boundaries[0] = 0;
  for (std::int64_t s = 1; s < shards; ++s) {
    const std::int64_t target = static_cast<std::int64_t>(static_cast<unsigned __int128>(total) *
                                                          static_cast<std::uint64_t>(s) / shards);
    std::int64_t lo = boundaries[s - 1], hi = count;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (bags.offsets[mid] + mid < target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    boundaries[s] = lo;
  }
  boundaries[shards] = count;
}

// Runs kernel on `shards` copies of args; place(a, k) sets shard k's range.
template <class Place>
void run_bag_shards(bag_kernel kernel, const bag_args& args, std::int64_t shards, Place place) {
  auto shard = [&](std::int64_t k) {
    bag_args a = args;
    place(a, k);
    kernel(a);
  };
  parallel_for(shards, shard);
}

// Runs kernel over every bag, split into ranges of about equal work.
void run_over_bags(bag_kernel kernel, const bag_args& args, const routemat_bags& bags,
                   std::int64_t traffic) {
  const std::int64_t shards = std::min(shards_for(traffic), max_shards);
  std::int64_t boundaries[max_shards + 1];
  balanced_bags(bags, shards, boundaries);
  run_bag_shards(kernel, args, shards, [&](bag_args& a, std::int64_t k) {
    a.begin = boundaries[k];
    a.end = boundaries[k + 1];
  });
}

bag_args base_args(const routemat_bags& bags, const void* weights, routemat_reduce reduce,
                   std::int64_t width) {
  bag_args a{};
  a.indices = bags.map.indices;
  a.offsets = bags.offsets;
  a.kept = bags.kept;
  a.bag_of = bags.bag_of;
  a.weights = weights;
  a.width = width;
  a.mean = reduce == ROUTEMAT_REDUCE_MEAN;
  return a;
}

routemat_status bag_forward(const routemat_bags* bags, const routemat_rows* u, const void* weights,
                            std::int64_t weight_count, routemat_reduce reduce,
                            const routemat_rows* y) {
  if (bags == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "bags is NULL");
  routemat_status s = check_reduce(reduce);
  if (s != ROUTEMAT_OK) return s;
  const kernel_table* kernels = active_kernels();
  if (kernels == nullptr) return ROUTEMAT_ERROR_UNSUPPORTED_ISA;
  const routemat_map& map = bags->map;
  checked_rows in{}, out{}, w{};
  if ((s = check_rows(u, "u", map.cols, "the map's cols n", &in)) != ROUTEMAT_OK ||
      (s = check_rows(y, "y", bags->count, "the bags B", &out)) != ROUTEMAT_OK ||
      (s = check_same_shape(in, "u", out, "y")) != ROUTEMAT_OK ||
      (s = check_per_route(weights, weight_count, "weights", "weight_count", "one weight per route",
                           map.rows, in.element_size, &w)) != ROUTEMAT_OK)
    return s;
  if (views_overlap(out, in)) return fail(ROUTEMAT_ERROR_ALIASING, "y overlaps u");
  if (views_overlap(out, w)) return fail(ROUTEMAT_ERROR_ALIASING, "y overlaps weights");
  if (views_overlap(out, index_range(map)))
    return fail(ROUTEMAT_ERROR_ALIASING, "y overlaps the map's indices");
  if (bags->count == 0) return ROUTEMAT_OK;

  bag_args args = base_args(*bags, weights, reduce, in.view.width);
  args.src = in.view.data;
  args.src_stride = in.view.stride;
  args.bag_rows = out.view.data;
  args.bag_stride = out.view.stride;
  const auto row_bytes = in.view.width * static_cast<std::int64_t>(in.element_size);
  const std::int64_t traffic = map.rows * (8 + row_bytes) + bags->count * row_bytes;
  run_over_bags(kernels->bag_forward[in.view.type][map.index_type], args, *bags, traffic);
  return ROUTEMAT_OK;
}

// Sets dw[r] = 0 for every dropped route (no kernel visits them).
template <class I>
void zero_dropped(const routemat_map& map, void* dw, std::size_t element_size) {
  const I* idx = static_cast<const I*>(map.indices);
  auto* out = static_cast<unsigned char*>(dw);
  for (std::int64_t r = 0; r < map.rows; ++r)
    if (idx[r] < 0) std::memset(out + static_cast<std::size_t>(r) * element_size, 0, element_size);
}

// The plan describes the bags' map: the same indices, rows and columns.
bool same_map(const routemat_map& a, const routemat_map& b) {
  return a.indices == b.indices && a.rows == b.rows && a.cols == b.cols &&
         a.index_type == b.index_type;
}

// Plan-less dU is split over destination ranges only for rows this wide
// (as routemat_scatter_add: below it each shard's scan of every route costs
// more than its share of the rows).
constexpr std::int64_t min_row_bytes_to_shard = 256;

routemat_status bag_backward(const routemat_bags* bags, const routemat_plan* plan,
                             const routemat_rows* dy, const routemat_rows* u, const void* weights,
                             std::int64_t weight_count, routemat_reduce reduce,
                             const routemat_rows* du, void* dw, std::int64_t dw_count) {
  if (bags == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "bags is NULL");
  routemat_status s = check_reduce(reduce);
  if (s != ROUTEMAT_OK) return s;
  const kernel_table* kernels = active_kernels();
  if (kernels == nullptr) return ROUTEMAT_ERROR_UNSUPPORTED_ISA;
  const routemat_map& map = bags->map;
  if (plan != nullptr && !same_map(plan->map, map))
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "plan was built from another map than the bags");
  checked_rows grad_in{}, src{}, grad{}, w{}, wgrad{};
  if ((s = check_rows(dy, "dy", bags->count, "the bags B", &grad_in)) != ROUTEMAT_OK) return s;
  if (du != nullptr &&
      ((s = check_rows(du, "du", map.cols, "the map's cols n", &grad)) != ROUTEMAT_OK ||
       (s = check_same_shape(grad_in, "dy", grad, "du")) != ROUTEMAT_OK))
    return s;
  if (dw != nullptr && u == nullptr)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "u is NULL; dw needs it");
  if (u != nullptr &&
      ((s = check_rows(u, "u", map.cols, "the map's cols n", &src)) != ROUTEMAT_OK ||
       (s = check_same_shape(grad_in, "dy", src, "u")) != ROUTEMAT_OK))
    return s;
  const std::size_t element = grad_in.element_size;
  if ((s = check_per_route(weights, weight_count, "weights", "weight_count", "one weight per route",
                           map.rows, element, &w)) != ROUTEMAT_OK ||
      (s = check_per_route(dw, dw_count, "dw", "dw_count", "one weight gradient per route",
                           map.rows, element, &wgrad)) != ROUTEMAT_OK)
    return s;
  const checked_rows indices = index_range(map);
  if (du != nullptr) {
    if (views_overlap(grad, grad_in)) return fail(ROUTEMAT_ERROR_ALIASING, "du overlaps dy");
    if (views_overlap(grad, src)) return fail(ROUTEMAT_ERROR_ALIASING, "du overlaps u");
    if (views_overlap(grad, w)) return fail(ROUTEMAT_ERROR_ALIASING, "du overlaps weights");
    if (views_overlap(grad, indices))
      return fail(ROUTEMAT_ERROR_ALIASING, "du overlaps the map's indices");
  }
  if (dw != nullptr) {
    if (views_overlap(wgrad, grad_in)) return fail(ROUTEMAT_ERROR_ALIASING, "dw overlaps dy");
    if (views_overlap(wgrad, src)) return fail(ROUTEMAT_ERROR_ALIASING, "dw overlaps u");
    if (views_overlap(wgrad, w)) return fail(ROUTEMAT_ERROR_ALIASING, "dw overlaps weights");
    if (views_overlap(wgrad, indices))
      return fail(ROUTEMAT_ERROR_ALIASING, "dw overlaps the map's indices");
    if (du != nullptr && views_overlap(wgrad, grad))
      return fail(ROUTEMAT_ERROR_ALIASING, "dw overlaps du");
  }
  if (map.rows == 0 || (du == nullptr && dw == nullptr)) return ROUTEMAT_OK;

  if (dw != nullptr && map.dropped > 0) {
    if (map.index_type == ROUTEMAT_INT32) {
      zero_dropped<std::int32_t>(map, dw, element);
    } else {
      zero_dropped<std::int64_t>(map, dw, element);
    }
  }
  const routemat_value_type type = grad_in.view.type;
  bag_args args = base_args(*bags, weights, reduce, grad_in.view.width);
  args.bag_rows = grad_in.view.data;
  args.bag_stride = grad_in.view.stride;
  args.src = dw != nullptr ? src.view.data : nullptr;
  args.src_stride = src.view.stride;
  args.grad = du != nullptr ? grad.view.data : nullptr;
  args.grad_stride = grad.view.stride;
  args.weight_grad = dw;
  const std::int64_t n = map.cols;
  const auto row_bytes = grad_in.view.width * static_cast<std::int64_t>(element);
  const std::int64_t row_reads = (dw != nullptr) + (du != nullptr ? 2 : 0) + 1;
  const std::int64_t traffic = map.rows * (8 + row_reads * row_bytes);

  if (du == nullptr) {  // dw only: each route written once, any split of the bags
    args.dst_begin = 0;
    args.dst_end = n;
    run_over_bags(kernels->bag_push[type][map.index_type], args, *bags, traffic);
    return ROUTEMAT_OK;
  }
  if (plan != nullptr) {  // the pull: each dU row written by one shard
    args.sources = plan->sources;
    args.source_offsets = plan->offsets;
    const std::int64_t shards = std::min(shards_for(traffic + n * row_bytes), max_shards);
    std::int64_t boundaries[max_shards + 1];
    balanced_destinations(*plan, shards, boundaries);
    run_bag_shards(kernels->bag_pull[type][plan->csr_type], args, shards,
                   [&](bag_args& a, std::int64_t k) {
                     a.begin = boundaries[k];
                     a.end = boundaries[k + 1];
                   });
    return ROUTEMAT_OK;
  }
  // The push: every shard walks all routes in order, adding those routed into
  // its destination range.
  args.begin = 0;
  args.end = bags->count;
  const std::int64_t shards =
      row_bytes < min_row_bytes_to_shard ? 1 : std::min(shards_for(traffic, 1), max_shards);
  run_bag_shards(kernels->bag_push[type][map.index_type], args, shards,
                 [&](bag_args& a, std::int64_t k) {
                   a.dst_begin = n * k / shards;
                   a.dst_end = n * (k + 1) / shards;
                 });
  return ROUTEMAT_OK;
}

}  // namespace
}  // namespace routemat

extern "C" routemat_status routemat_bag_forward(const routemat_bags* bags, const routemat_rows* u,
                                                const void* weights, int64_t weight_count,
                                                routemat_reduce reduce, const routemat_rows* y) {
  return routemat::bag_forward(bags, u, weights, weight_count, reduce, y);
}

extern "C" routemat_status routemat_bag_backward(const routemat_bags* bags,
                                                 const routemat_plan* plan, const routemat_rows* dy,
                                                 const routemat_rows* u, const void* weights,
                                                 int64_t weight_count, routemat_reduce reduce,
                                                 const routemat_rows* du, void* dw,
                                                 int64_t dw_count) {
  return routemat::bag_backward(bags, plan, dy, u, weights, weight_count, reduce, du, dw, dw_count);
}
