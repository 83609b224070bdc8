// What the CPU and the operating system let us run.
#ifndef ROUTEMAT_SRC_CPU_FEATURES_HPP
#define ROUTEMAT_SRC_CPU_FEATURES_HPP

#include "routemat/routemat.h"

namespace routemat {

// True when the CPU has the instructions of isa and the OS saves the register
// state they use (XGETBV/XCR0 on x86). Says nothing about what was compiled in.
bool cpu_runs(routemat_isa isa) noexcept;

}  // namespace routemat

#endif
