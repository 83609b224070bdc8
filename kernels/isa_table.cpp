// The kernel table of one ISA. This file is compiled once per ISA with that
// ISA's flags (cmake/isa.cmake); it only instantiates the kernel templates.
#include <cstdint>

#include "kernels/kernel_table.hpp"
#include "kernels/route_kernels.hpp"

namespace routemat {
namespace ROUTEMAT_ISA_NS {
namespace {

template <class Op, class T, class I>
constexpr void fill_drops(route_kernel (&k)[2]) {
  k[0] = &Op::template run<T, I, false>;
  k[1] = &Op::template run<T, I, true>;
}
template <class Op, class T>
constexpr void fill_indices(route_kernel (&k)[2][2]) {
  fill_drops<Op, T, std::int32_t>(k[0]);
  fill_drops<Op, T, std::int64_t>(k[1]);
}
template <class Op>
constexpr void fill_values(route_kernel (&k)[2][2][2]) {
  fill_indices<Op, float>(k[0]);
  fill_indices<Op, double>(k[1]);
}
constexpr kernel_table make_table() {
  kernel_table t{};
  fill_values<gather_op>(t.gather);
  fill_values<scatter_add_op>(t.scatter_add);
  return t;
}

}  // namespace

extern const kernel_table table;
const kernel_table table = make_table();

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat
