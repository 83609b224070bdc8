// The contract between the baseline code (src/) and the per-ISA kernels:
// plain data only, so no inline function is shared across ISA objects.
#ifndef ROUTEMAT_KERNEL_TABLE_HPP
#define ROUTEMAT_KERNEL_TABLE_HPP

#include <cstdint>

namespace routemat {

// One call on a range of a validated map. Strides are in elements.
//   gather:      for rows i in [begin, end):  dst row i = src row idx[i]
//   scatter_add: for rows i in [begin, end) with idx[i] in [dst_begin, dst_end):
//                dst row idx[i] += src row i (a dropped row is in no range)
//   pull_sum:    for destinations j in [begin, end):
//                dst row j = (overwrite ? 0 : dst row j) + sum of src rows
//                sources[offsets[j] .. offsets[j+1]) in that order
// gather and scatter_add read `indices` as the map's index type; pull_sum
// reads `indices` (sources) and `offsets` as the plan's index type.
struct route_args {
  const void* indices;
  std::int64_t begin;
  std::int64_t end;
  const void* src;
  std::int64_t src_stride;
  std::int64_t src_rows;
  void* dst;
  std::int64_t dst_stride;
  std::int64_t width;
  std::int64_t dst_begin;
  std::int64_t dst_end;
  const void* offsets;
  bool overwrite;
  // The output is large and written without being read: use non-temporal
  // stores where the kernel can (kernels/stream_store.hpp).
  bool stream;
};

using route_kernel = void (*)(const route_args&) noexcept;

// Indexed [value type: f32, f64, bf16, f16][index type: int32, int64].
using kernels_by_type = route_kernel[4][2];

// One call of a bag kernel (kernels/bag_kernels.hpp) on a validated bags
// object. Bags group routes: bag b holds routes [offsets[b], offsets[b+1]),
// route r reads source row idx[r] (-1: dropped). Strides are in elements.
//   bag_forward:  for bags b in [begin, end):
//                 bag row b = scale(b) * sum of w[r] * src row idx[r] over kept r
//   bag_push:     for bags b in [begin, end), routes r in order, idx[r] in
//                 [dst_begin, dst_end): grad row idx[r] += c(r) * bag row b
//                 (if grad) and weight_grad[r] = scale(b) * <bag row b, src
//                 row idx[r]> (if weight_grad)
//   bag_pull:     the same for destinations j in [begin, end), their routes
//                 sources[source_offsets[j] ..) in increasing order
// with scale(b) = mean ? 1 / kept[b] : 1 and c(r) = w[r] * scale(bag_of[r]).
// bag_forward and bag_push read `indices` as the map's index type; bag_pull
// reads `sources` and `source_offsets` as the plan's index type.
struct bag_args {
  const void* indices;
  const std::int64_t* offsets;  // [bags + 1]
  const std::int64_t* kept;     // [bags]: routes of each bag that are not dropped
  const std::int64_t* bag_of;   // [m]: the bag of each route
  const void* sources;
  const void* source_offsets;
  std::int64_t begin;
  std::int64_t end;
  std::int64_t dst_begin;
  std::int64_t dst_end;
  const void* src;  // U (n rows)
  std::int64_t src_stride;
  const void* weights;  // m values of the row type, or null (all 1)
  void* bag_rows;       // Y (written by bag_forward) or dY (read by the backward)
  std::int64_t bag_stride;
  void* grad;  // dU (n rows) or null
  std::int64_t grad_stride;
  void* weight_grad;  // dw (m values) or null
  std::int64_t width;
  bool mean;
};

using bag_kernel = void (*)(const bag_args&) noexcept;

// Indexed [value type: f32, f64, bf16, f16][index type: int32, int64] (the
// map's for bag_forward and bag_push, the plan's CSR type for bag_pull).
using bag_kernels_by_type = bag_kernel[4][2];

struct kernel_table {
  kernels_by_type gather[2];  // [map has dropped rows]
  kernels_by_type scatter_add;
  kernels_by_type pull_sum;
  bag_kernels_by_type bag_forward;
  bag_kernels_by_type bag_push;
  bag_kernels_by_type bag_pull;
};

}  // namespace routemat

#endif
