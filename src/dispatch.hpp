// Runtime ISA dispatch: which compiled kernel table runs on this machine.
#ifndef ROUTEMAT_SRC_DISPATCH_HPP
#define ROUTEMAT_SRC_DISPATCH_HPP

#include "kernels/kernel_table.hpp"

namespace routemat {

// The active kernel table; nullptr (with the error recorded) when the
// ROUTEMAT_ISA environment variable named an ISA that cannot run here.
const kernel_table* active_kernels() noexcept;

}  // namespace routemat

#endif
