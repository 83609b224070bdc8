#include "src/rows_check.hpp"

#include "src/error.hpp"

namespace routemat {

const char* value_type_name(routemat_value_type t) noexcept {
  switch (t) {
    case ROUTEMAT_F32: return "f32";
    case ROUTEMAT_F64: return "f64";
    case ROUTEMAT_BF16: return "bf16";
    case ROUTEMAT_F16: return "f16";
    default: return "?";
  }
}

routemat_status check_rows(const routemat_rows* view, const char* name, std::int64_t expected_rows,
                           const char* expected_rows_meaning, checked_rows* out) {
  if (view == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "%s is NULL", name);
  const routemat_rows& v = *view;
  if (v.type != ROUTEMAT_F32 && v.type != ROUTEMAT_F64 && v.type != ROUTEMAT_BF16 &&
      v.type != ROUTEMAT_F16)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                "%s type %d is none of ROUTEMAT_F32, ROUTEMAT_F64, ROUTEMAT_BF16, ROUTEMAT_F16",
                name, static_cast<int>(v.type));
  if (v.rows < 0)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "%s rows %lld is negative", name,
                (long long)v.rows);
  if (v.rows != expected_rows)
    return fail(ROUTEMAT_ERROR_SHAPE_MISMATCH, "%s has %lld rows; the map needs %lld (%s)", name,
                (long long)v.rows, (long long)expected_rows, expected_rows_meaning);
  if (v.width < 1)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "%s width %lld must be at least 1", name,
                (long long)v.width);
  if (v.stride < v.width)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "%s stride %lld is less than its width %lld", name,
                (long long)v.stride, (long long)v.width);
  if (v.rows > 0 && v.data == nullptr)
    return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "%s data is NULL with %lld rows", name,
                (long long)v.rows);

  const std::size_t size = v.type == ROUTEMAT_F64 ? 8 : v.type == ROUTEMAT_F32 ? 4 : 2;
  std::int64_t elements = 0;  // (rows - 1) * stride + width
  std::int64_t bytes = 0;
  const auto base = reinterpret_cast<std::uintptr_t>(v.data);
  std::uintptr_t end = 0;
  if (v.rows > 0 && (__builtin_mul_overflow(v.rows - 1, v.stride, &elements) ||
                     __builtin_add_overflow(elements, v.width, &elements) ||
                     __builtin_mul_overflow(elements, static_cast<std::int64_t>(size), &bytes) ||
                     static_cast<std::uint64_t>(bytes) > PTRDIFF_MAX ||
                     __builtin_add_overflow(base, static_cast<std::uintptr_t>(bytes), &end)))
    return fail(ROUTEMAT_ERROR_OVERFLOW,
                "%s with %lld rows of stride %lld and width %lld (%s) spans more bytes than "
                "memory has",
                name, (long long)v.rows, (long long)v.stride, (long long)v.width,
                value_type_name(v.type));
  *out = {v, size, base, v.rows > 0 ? end : base};
  return ROUTEMAT_OK;
}

checked_rows byte_range(const void* data, std::size_t bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const auto n = static_cast<std::int64_t>(bytes);
  return {{const_cast<void*>(data), n > 0 ? 1 : 0, n, n, ROUTEMAT_F32}, 1, begin, begin + bytes};
}

bool views_overlap(const checked_rows& a, const checked_rows& b) noexcept {
  if (a.begin == a.end || b.begin == b.end) return false;
  if (a.end <= b.begin || b.end <= a.begin) return false;
  // Equal row pitches: a's bytes sit at offsets [0, a_width) of every pitch
  // (counted from a.begin), b's at [delta, delta + b_width). The views share no
  // byte when those residues are disjoint, as for two column blocks of one tensor.
  const std::uintptr_t pitch = static_cast<std::uintptr_t>(a.view.stride) * a.element_size;
  if (pitch == static_cast<std::uintptr_t>(b.view.stride) * b.element_size) {
    const std::uintptr_t delta = b.begin >= a.begin ? (b.begin - a.begin) % pitch
                                                    : (pitch - (a.begin - b.begin) % pitch) % pitch;
    const std::uintptr_t a_width = static_cast<std::uintptr_t>(a.view.width) * a.element_size;
    const std::uintptr_t b_width = static_cast<std::uintptr_t>(b.view.width) * b.element_size;
    if (delta >= a_width && delta + b_width <= pitch) return false;
  }
  return true;
}

}  // namespace routemat
