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

// Indexed [value type: f32, f64][index type: int32, int64].
using kernels_by_type = route_kernel[2][2];

struct kernel_table {
  kernels_by_type gather[2];  // [map has dropped rows]
  kernels_by_type scatter_add;
  kernels_by_type pull_sum;
};

}  // namespace routemat

#endif
