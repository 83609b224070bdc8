// The validated index map behind the opaque routemat_map handle.
#ifndef ROUTEMAT_SRC_MAP_HPP
#define ROUTEMAT_SRC_MAP_HPP

#include <cstdint>

#include "routemat/routemat.h"

struct routemat_map {
  std::int64_t rows;  // m
  std::int64_t cols;  // n
  const void* indices;
  routemat_index_type index_type;
  std::int64_t dropped;  // rows whose index is the drop marker -1
};

#endif
