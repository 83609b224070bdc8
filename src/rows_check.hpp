// Checks of a routemat_rows view before any kernel touches it: pointers,
// sizes, byte extents that fit in memory, and overlap between views.
#ifndef ROUTEMAT_SRC_ROWS_CHECK_HPP
#define ROUTEMAT_SRC_ROWS_CHECK_HPP

#include <cstddef>
#include <cstdint>

#include "routemat/routemat.h"

namespace routemat {

// A view that passed check_rows, with the bytes it spans: [begin, end).
struct checked_rows {
  routemat_rows view;
  std::size_t element_size;
  std::uintptr_t begin;
  std::uintptr_t end;
};

// Checks *view (called `name` in messages), which must have expected_rows rows.
routemat_status check_rows(const routemat_rows* view, const char* name, std::int64_t expected_rows,
                           const char* expected_rows_meaning, checked_rows* out);

// "f32", "f64", "bf16" or "f16" (a checked type).
const char* value_type_name(routemat_value_type t) noexcept;

// A byte range that is not a rows view (the map's indices).
checked_rows byte_range(const void* data, std::size_t bytes);

// False only when no byte is in both views (exact for equal row pitches and
// disjoint extents, conservative otherwise).
bool views_overlap(const checked_rows& a, const checked_rows& b) noexcept;

}  // namespace routemat

#endif
