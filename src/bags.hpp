// The bags object behind the opaque routemat_bags handle: a map's routes
// grouped into bags, with what the kernels need precomputed.
#ifndef ROUTEMAT_SRC_BAGS_HPP
#define ROUTEMAT_SRC_BAGS_HPP

#include <cstdint>
#include <memory>

#include "routemat/routemat.h"
#include "src/map.hpp"

struct routemat_bags {
  routemat_map map;       // a copy of the map the bags were built on
  std::int64_t count;     // B
  std::int64_t bag_size;  // k for routemat_bags_create_fixed, 0 for offsets
  std::unique_ptr<std::int64_t[]> storage;
  const std::int64_t* offsets;  // [B + 1]
  const std::int64_t* kept;     // [B]: routes of each bag that are not dropped
  const std::int64_t* bag_of;   // [m]: the bag of each route
};

#endif
