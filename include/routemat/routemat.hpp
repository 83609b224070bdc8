// routemat: SIMD kernels for routing matrices, C++17 API.
//
// A header-only layer over the C ABI (routemat.h): every failure throws
// routemat::error carrying the status and the library's message, and leaves
// the outputs untouched.
#ifndef ROUTEMAT_HPP
#define ROUTEMAT_HPP

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "routemat/routemat.h"

namespace routemat {

enum class status : int {
  ok = ROUTEMAT_OK,
  invalid_argument = ROUTEMAT_ERROR_INVALID_ARGUMENT,
  index_out_of_range = ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE,
  shape_mismatch = ROUTEMAT_ERROR_SHAPE_MISMATCH,
  overflow = ROUTEMAT_ERROR_OVERFLOW,
  aliasing = ROUTEMAT_ERROR_ALIASING,
  unsupported_isa = ROUTEMAT_ERROR_UNSUPPORTED_ISA,
  out_of_memory = ROUTEMAT_ERROR_OUT_OF_MEMORY,
};

enum class isa : int {
  scalar = ROUTEMAT_ISA_SCALAR,
  sse4_2 = ROUTEMAT_ISA_SSE4_2,
  avx2 = ROUTEMAT_ISA_AVX2,
  avx512 = ROUTEMAT_ISA_AVX512,
  neon = ROUTEMAT_ISA_NEON,
};

// The one exception type of the C++ API.
class error : public std::runtime_error {
 public:
  error(status code, const std::string& message) : std::runtime_error(message), code_(code) {}
  status code() const noexcept { return code_; }

 private:
  status code_;
};

namespace detail {
inline void check(routemat_status s) {
  if (s != ROUTEMAT_OK) throw error(static_cast<status>(s), routemat_last_error());
}
template <class T>
constexpr routemat_value_type value_type_of() {
  using U = std::remove_const_t<T>;
  static_assert(std::is_same_v<U, float> || std::is_same_v<U, double>,
                "routemat rows hold float or double");
  return std::is_same_v<U, float> ? ROUTEMAT_F32 : ROUTEMAT_F64;
}
}  // namespace detail

// A strided block of rows: row r starts at data + r * stride. T may be const.
template <class T>
struct rows_view {
  T* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t width = 1;
  std::int64_t stride = 1;

  rows_view() = default;
  rows_view(T* data_, std::int64_t rows_, std::int64_t width_, std::int64_t stride_)
      : data(data_), rows(rows_), width(width_), stride(stride_) {}
  // Densely packed rows (stride == width).
  rows_view(T* data_, std::int64_t rows_, std::int64_t width_)
      : rows_view(data_, rows_, width_, width_) {}
  routemat_rows c_view() const {
    return {const_cast<std::remove_const_t<T>*>(data), rows, width, stride,
            detail::value_type_of<T>()};
  }
};

enum class drop : std::uint32_t { forbid = 0, allow = ROUTEMAT_ALLOW_DROP };

// A validated, non-owning view of G (m x n) over idx[m]. The indices must
// outlive the map and stay unchanged. Move-only.
class map {
 public:
  map(std::int64_t rows, std::int64_t cols, const std::int32_t* indices, drop d = drop::forbid) {
    create(rows, cols, indices, ROUTEMAT_INT32, d);
  }
  map(std::int64_t rows, std::int64_t cols, const std::int64_t* indices, drop d = drop::forbid) {
    create(rows, cols, indices, ROUTEMAT_INT64, d);
  }
  map(map&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  map& operator=(map&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  map(const map&) = delete;
  map& operator=(const map&) = delete;
  ~map() { routemat_map_destroy(handle_); }

  std::int64_t rows() const noexcept { return routemat_map_rows(handle_); }
  std::int64_t cols() const noexcept { return routemat_map_cols(handle_); }
  std::int64_t dropped_rows() const noexcept { return routemat_map_dropped_rows(handle_); }
  const routemat_map* native_handle() const noexcept { return handle_; }

 private:
  void create(std::int64_t rows, std::int64_t cols, const void* indices, routemat_index_type type,
              drop d) {
    detail::check(
        routemat_map_create(&handle_, rows, cols, indices, type, static_cast<std::uint32_t>(d)));
  }
  routemat_map* handle_ = nullptr;
};

namespace detail {
template <class S, class T>
constexpr void check_pair() {
  static_assert(std::is_same_v<std::remove_const_t<S>, T>,
                "source and destination rows hold the same value type; the destination is mutable");
}
}  // namespace detail

// dst = G src (forward of the node module): dst[i,:] = src[idx[i],:].
template <class S, class T>
void gather(const map& g, const rows_view<S>& src, const rows_view<T>& dst) {
  detail::check_pair<S, T>();
  const routemat_rows s = src.c_view(), t = dst.c_view();
  detail::check(routemat_gather(g.native_handle(), &s, &t));
}

// dst += G^T src (backward of the node module): dst[idx[i],:] += src[i,:].
template <class S, class T>
void scatter_add(const map& g, const rows_view<S>& src, const rows_view<T>& dst) {
  detail::check_pair<S, T>();
  const routemat_rows s = src.c_view(), t = dst.c_view();
  detail::check(routemat_scatter_add(g.native_handle(), &s, &t));
}

// The ISA the kernels run on (throws if ROUTEMAT_ISA named one that cannot run).
inline isa active_isa() {
  routemat_isa out = ROUTEMAT_ISA_SCALAR;
  detail::check(routemat_active_isa(&out));
  return static_cast<isa>(out);
}
inline void select_isa(isa target) {
  detail::check(routemat_select_isa(static_cast<routemat_isa>(target)));
}
inline bool isa_supported(isa target) noexcept {
  return routemat_isa_supported(static_cast<routemat_isa>(target)) != 0;
}
inline const char* isa_name(isa target) noexcept {
  return routemat_isa_name(static_cast<routemat_isa>(target));
}

}  // namespace routemat

#endif  // ROUTEMAT_HPP
