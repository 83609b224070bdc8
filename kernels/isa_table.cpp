// The kernel table of one ISA. This file is compiled once per ISA with that
// ISA's flags (cmake/isa.cmake); it only instantiates the kernel templates.
#include <cstdint>

#include "kernels/bag_kernels.hpp"
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
  fill_indices<Op, bf16_storage>(k[2]);
  fill_indices<Op, f16_storage>(k[3]);
}
// Bag kernels: Op<T, A, I> for storage T accumulating in A (f32, f64 in
// themselves, bf16 and f16 in f32), I the map's or the plan's index type.
template <template <class, class, class> class Op, class T, class A>
constexpr void fill_bag_indices(bag_kernel (&k)[2]) {
  k[0] = &Op<T, A, std::int32_t>::run;
  k[1] = &Op<T, A, std::int64_t>::run;
}
template <template <class, class, class> class Op>
constexpr void fill_bag_values(bag_kernels_by_type& k) {
  fill_bag_indices<Op, float, float>(k[0]);
  fill_bag_indices<Op, double, double>(k[1]);
  fill_bag_indices<Op, bf16_storage, float>(k[2]);
  fill_bag_indices<Op, f16_storage, float>(k[3]);
}
constexpr kernel_table make_table() {
  kernel_table t{};
  fill_values<gather_op<false>>(t.gather[0]);
  fill_values<gather_op<true>>(t.gather[1]);
  fill_values<scatter_add_op>(t.scatter_add);
  fill_values<pull_sum_op>(t.pull_sum);
  fill_bag_values<bag_forward_op>(t.bag_forward);
  fill_bag_values<bag_push_op>(t.bag_push);
  fill_bag_values<bag_pull_op>(t.bag_pull);
  return t;
}

}  // namespace

extern const kernel_table table;
const kernel_table table = make_table();

}  // namespace ROUTEMAT_ISA_NS
}  // namespace routemat
