// The routing plan behind the opaque routemat_plan handle: G^T as CSR by
// destination, plus the facts that unlock fast paths.
#ifndef ROUTEMAT_SRC_PLAN_HPP
#define ROUTEMAT_SRC_PLAN_HPP

#include <cstdint>
#include <memory>

#include "routemat/routemat.h"
#include "src/map.hpp"

struct routemat_plan {
  routemat_map map;  // the plan's own copy of the map it was built from
  // offsets[n + 1] then sources[m - dropped], each of csr_type (int32 when
  // m < 2^31): the sources of destination j are sources[offsets[j] ..
  // offsets[j + 1]), in increasing row order.
  routemat_index_type csr_type;
  std::unique_ptr<unsigned char[]> storage;
  const void* offsets;
  const void* sources;
  routemat_plan_facts facts;
};

namespace routemat {

// The first destination of each of `shards` ranges that carry about equal
// work (sources + 1 per destination): boundaries[s] for s in [0, shards].
void balanced_destinations(const routemat_plan& plan, std::int64_t shards,
                           std::int64_t* boundaries) noexcept;

}  // namespace routemat

#endif
