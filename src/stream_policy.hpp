// When an operation writes its output with non-temporal stores.
#ifndef ROUTEMAT_STREAM_POLICY_HPP
#define ROUTEMAT_STREAM_POLICY_HPP

#include <cstdint>

namespace routemat {

// Whether an output of `bytes` bytes, written once without being read, should
// bypass the caches (routemat_set_stream_threshold).
bool should_stream(std::int64_t bytes) noexcept;

}  // namespace routemat

#endif
