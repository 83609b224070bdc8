// Bags construction: the one place bag boundaries are checked.
#include "src/bags.hpp"

#include <cstdint>
#include <new>

#include "src/error.hpp"

namespace routemat {
namespace {

template <class O>
routemat_status copy_offsets(const O* given, std::int64_t bags, std::int64_t m,
                             std::int64_t* offsets) {
  if (given[0] != 0)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                "offsets[0] is %lld; the first bag must start at route 0", (long long)given[0]);
  offsets[0] = 0;
  for (std::int64_t b = 0; b < bags; ++b) {
    if (given[b + 1] < given[b])
      return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                  "offsets decrease at bag %lld: offsets[%lld] = %lld > offsets[%lld] = %lld",
                  (long long)b, (long long)b, (long long)given[b], (long long)b + 1,
                  (long long)given[b + 1]);
    offsets[b + 1] = given[b + 1];
  }
  if (offsets[bags] != m)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                "offsets[%lld] is %lld; the last bag must end at the map's rows m = %lld",
                (long long)bags, (long long)offsets[bags], (long long)m);
  return ROUTEMAT_OK;
}

template <class I>
void count_routes(const routemat_map& map, routemat_bags& bags, std::int64_t* kept,
                  std::int64_t* bag_of) {
  const I* idx = static_cast<const I*>(map.indices);
  for (std::int64_t b = 0; b < bags.count; ++b) {
    std::int64_t k = 0;
    for (std::int64_t r = bags.offsets[b]; r < bags.offsets[b + 1]; ++r) {
      bag_of[r] = b;
      k += idx[r] >= 0;
    }
    kept[b] = k;
  }
}

// Allocates the object for B bags over map; offsets are filled by fill(offsets).
template <class Fill>
routemat_status make_bags(routemat_bags** out, const routemat_map& map, std::int64_t count,
                          std::int64_t bag_size, Fill fill) {
  // offsets [B + 1], kept [B], bag_of [m]
  std::int64_t elements = 0;
  if (count == INT64_MAX || __builtin_add_overflow(count, count + 1, &elements) ||
      __builtin_add_overflow(elements, map.rows, &elements) ||
      static_cast<std::uint64_t>(elements) > PTRDIFF_MAX / sizeof(std::int64_t))
    return fail(ROUTEMAT_ERROR_OVERFLOW, "%lld bags over %lld routes do not fit in memory",
                (long long)count, (long long)map.rows);
  std::unique_ptr<routemat_bags> bags(new (std::nothrow) routemat_bags{});
  if (bags != nullptr)
    bags->storage.reset(new (std::nothrow) std::int64_t[static_cast<std::size_t>(elements)]);
  if (bags == nullptr || bags->storage == nullptr)
    return fail(ROUTEMAT_ERROR_OUT_OF_MEMORY, "cannot allocate %lld bytes for %lld bags",
                (long long)elements * 8, (long long)count);
  std::int64_t* offsets = bags->storage.get();
  const routemat_status s = fill(offsets);
  if (s != ROUTEMAT_OK) return s;
  std::int64_t* kept = offsets + count + 1;
  std::int64_t* bag_of = kept + count;
  bags->map = map;
  bags->count = count;
  bags->bag_size = bag_size;
  bags->offsets = offsets;
  bags->kept = kept;
  bags->bag_of = bag_of;
  if (map.index_type == ROUTEMAT_INT32) {
    count_routes<std::int32_t>(map, *bags, kept, bag_of);
  } else {
    count_routes<std::int64_t>(map, *bags, kept, bag_of);
  }
  *out = bags.release();
  return ROUTEMAT_OK;
}

}  // namespace
}  // namespace routemat

extern "C" routemat_status routemat_bags_create(routemat_bags** out, const routemat_map* map,
                                                int64_t bags, const void* offsets,
                                                routemat_index_type offset_type) {
  using routemat::fail;
  if (out == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  if (map == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "map is NULL");
  if (bags < 0)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "bags %lld is negative", (long long)bags);
  if (offset_type != ROUTEMAT_INT32 && offset_type != ROUTEMAT_INT64)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                "offset type %d is neither ROUTEMAT_INT32 nor ROUTEMAT_INT64",
                static_cast<int>(offset_type));
  if (offsets == nullptr)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                "offsets is NULL with %lld bags (it has bags + 1 values)", (long long)bags);
  const std::int64_t m = map->rows;
  return routemat::make_bags(out, *map, bags, 0, [&](std::int64_t* copy) {
    return offset_type == ROUTEMAT_INT32
               ? routemat::copy_offsets(static_cast<const std::int32_t*>(offsets), bags, m, copy)
               : routemat::copy_offsets(static_cast<const std::int64_t*>(offsets), bags, m, copy);
  });
}

extern "C" routemat_status routemat_bags_create_fixed(routemat_bags** out, const routemat_map* map,
                                                      int64_t bag_size) {
  using routemat::fail;
  if (out == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  if (map == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "map is NULL");
  if (bag_size < 1)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "bag size %lld must be at least 1",
                (long long)bag_size);
  const std::int64_t m = map->rows;
  if (m % bag_size != 0)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                "the map's rows m = %lld are not a multiple of the bag size %lld", (long long)m,
                (long long)bag_size);
  const std::int64_t count = m / bag_size;
  return routemat::make_bags(out, *map, count, bag_size, [&](std::int64_t* offsets) {
    for (std::int64_t b = 0; b <= count; ++b) offsets[b] = b * bag_size;
    return ROUTEMAT_OK;
  });
}

extern "C" void routemat_bags_destroy(routemat_bags* bags) { delete bags; }

extern "C" int64_t routemat_bags_count(const routemat_bags* bags) {
  return bags != nullptr ? bags->count : 0;
}
