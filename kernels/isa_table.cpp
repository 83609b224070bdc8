// The kernel table of one ISA. This file is compiled once per ISA with that
// ISA's flags (cmake/isa.cmake); it only instantiates the kernel templates.
#include <cstdint>

#include "kernels/kernel_table.hpp"
#include "kernels/route_kernels.hpp"

namespace routemat {
namespace ROUTEMAT_ISA_NS {
namespace {

template <class Op, class T>
constexpr void fill_indices(route_kernel (&k)[2]) {
  k[0] = &Op::template run<T, std::int32_t>;
  k[1] = &Op::template run<T, std::int64_t>;
}
template <class Op>
constexpr void fill_values(kernels_by_type& k) {
  fill_indices<Op, float>(k[0]);
  fill_indices<Op, double>(k[1]);
}
constexpr kernel_table make_table() {
  kernel_table t{};
  fill_values<gather_op<false>>(t.gather[0]);
  fill_values<gather_op<true>>(t.gather[1]);
  fill_values<scatter_add_op>(t.scatter_add);
  fill_values<pull_sum_op>(t.pull_sum);
  return t;
}

}  // namespace

extern const kernel_table table;
const kernel_table table = make_table();

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat
