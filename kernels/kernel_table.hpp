// The contract between the baseline code (src/) and the per-ISA kernels:
// plain data only, so no inline function is shared across ISA objects.
#ifndef ROUTEMAT_KERNEL_TABLE_HPP
#define ROUTEMAT_KERNEL_TABLE_HPP

#include <cstdint>

namespace routemat {

// One call on rows [begin, end) of a validated map. Strides are in elements.
// gather:      dst row i     = src row idx[i]      (src has src_rows rows)
// scatter_add: dst row idx[i] += src row i
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
};

using route_kernel = void (*)(const route_args&) noexcept;

// Indexed [value type: f32, f64][index type: int32, int64][map has dropped rows].
struct kernel_table {
  route_kernel gather[2][2][2];
  route_kernel scatter_add[2][2][2];
};

}  // namespace routemat

#endif
