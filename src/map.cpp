// Map construction: the one place indices are checked against [0, cols).
#include "src/map.hpp"

#include <cstddef>
#include <cstdint>
#include <new>

#include "src/error.hpp"

namespace routemat {
namespace {

struct scan_result {
  std::int64_t first_bad = -1;  // row of the first invalid index, -1 if none
  std::int64_t dropped = 0;
};

// One pass over idx. An index v is valid when v in [0, cols), or v == -1 with
// allow_drop: shifting by one when drops are allowed makes both a single
// unsigned comparison, so the chunk loop has no branch and vectorizes.
template <class I>
scan_result scan_indices(const I* idx, std::int64_t rows, std::int64_t cols, bool allow_drop) {
  const std::uint64_t shift = allow_drop ? 1 : 0;
  const std::uint64_t limit = static_cast<std::uint64_t>(cols) + shift;
  constexpr std::int64_t chunk = 1024;
  scan_result r;
  for (std::int64_t begin = 0; begin < rows; begin += chunk) {
    const std::int64_t end = rows - begin < chunk ? rows : begin + chunk;
    bool bad = false;
    std::int64_t dropped = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t v = idx[i];
      bad |= static_cast<std::uint64_t>(v) + shift >= limit;
      dropped += v == -1;
    }
    if (bad) {
      for (std::int64_t i = begin; i < end; ++i) {
        if (static_cast<std::uint64_t>(static_cast<std::int64_t>(idx[i])) + shift >= limit) {
          r.first_bad = i;
          return r;
        }
      }
    }
    r.dropped += dropped;
  }
  if (!allow_drop) r.dropped = 0;
  return r;
}

std::int64_t index_at(const void* indices, routemat_index_type type, std::int64_t row) {
  return type == ROUTEMAT_INT32 ? static_cast<const std::int32_t*>(indices)[row]
                                : static_cast<const std::int64_t*>(indices)[row];
}

}  // namespace
}  // namespace routemat

extern "C" routemat_status routemat_map_create(routemat_map** out, int64_t rows, int64_t cols,
                                               const void* indices, routemat_index_type index_type,
                                               uint32_t flags) {
  using routemat::fail;
  if (out == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  if (rows < 0)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "map rows %lld is negative", (long long)rows);
  if (cols < 0)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "map cols %lld is negative", (long long)cols);
  if (index_type != ROUTEMAT_INT32 && index_type != ROUTEMAT_INT64)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                "index type %d is neither ROUTEMAT_INT32 nor ROUTEMAT_INT64",
                static_cast<int>(index_type));
  if ((flags & ~ROUTEMAT_ALLOW_DROP) != 0)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "unknown map flags 0x%x",
                flags & ~ROUTEMAT_ALLOW_DROP);
  if (rows > 0 && indices == nullptr)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "indices is NULL with %lld rows", (long long)rows);
  const std::size_t index_size = index_type == ROUTEMAT_INT32 ? 4 : 8;
  if (static_cast<std::uint64_t>(rows) > PTRDIFF_MAX / index_size ||
      reinterpret_cast<std::uintptr_t>(indices) + static_cast<std::uintptr_t>(rows) * index_size <
          reinterpret_cast<std::uintptr_t>(indices))
    return fail(ROUTEMAT_ERROR_OVERFLOW, "%lld indices of %zu bytes do not fit in memory",
                (long long)rows, index_size);

  const bool allow_drop = (flags & ROUTEMAT_ALLOW_DROP) != 0;
  const routemat::scan_result scan =
      index_type == ROUTEMAT_INT32
          ? routemat::scan_indices(static_cast<const std::int32_t*>(indices), rows, cols,
                                   allow_drop)
          : routemat::scan_indices(static_cast<const std::int64_t*>(indices), rows, cols,
                                   allow_drop);
  if (scan.first_bad >= 0) {
    const long long v = routemat::index_at(indices, index_type, scan.first_bad);
    const char* hint = allow_drop ? " and is not the drop marker -1"
                       : v == -1  ? "; pass ROUTEMAT_ALLOW_DROP to mark dropped rows with -1"
                                  : "";
    return fail(ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE, "index %lld at row %lld is outside [0, %lld)%s",
                v, (long long)scan.first_bad, (long long)cols, hint);
  }

  auto* map = new (std::nothrow) routemat_map{rows, cols, indices, index_type, scan.dropped};
  if (map == nullptr) return fail(ROUTEMAT_ERROR_OUT_OF_MEMORY, "cannot allocate a map");
  *out = map;
  return ROUTEMAT_OK;
}

extern "C" void routemat_map_destroy(routemat_map* map) { delete map; }
extern "C" int64_t routemat_map_rows(const routemat_map* map) { return map ? map->rows : 0; }
extern "C" int64_t routemat_map_cols(const routemat_map* map) { return map ? map->cols : 0; }
extern "C" int64_t routemat_map_dropped_rows(const routemat_map* map) {
  return map ? map->dropped : 0;
}
