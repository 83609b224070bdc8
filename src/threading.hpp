// The parallel-for every operation runs its shards through: a host runtime's
// (routemat_set_parallel_for) or the library's own thread pool.
#ifndef ROUTEMAT_SRC_THREADING_HPP
#define ROUTEMAT_SRC_THREADING_HPP

#include <cstdint>

#include "routemat/routemat.h"

namespace routemat {

// Shards for an operation that moves `bytes` of compulsory traffic: 1 (run on
// the calling thread) for small problems, otherwise `per_thread` for every
// thread (fewer when shards would get too small). Use per_thread = 1 when
// every shard repeats some work, such as a scan of all indices.
std::int64_t shards_for(std::int64_t bytes, std::int64_t per_thread = 4) noexcept;

// Calls task(context, s) once for every s in [0, shards), possibly
// concurrently. Nested calls (from inside a shard) run on the calling thread.
void parallel_for(std::int64_t shards, routemat_task task, void* context) noexcept;

template <class Body>
void parallel_for(std::int64_t shards, Body& body) noexcept {
  parallel_for(
      shards, [](void* c, std::int64_t s) { (*static_cast<Body*>(c))(s); }, &body);
}

}  // namespace routemat

#endif
