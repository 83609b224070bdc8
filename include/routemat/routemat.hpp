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
// Calls a C ABI operation fn(handle, &src, &dst, extra...) and throws on failure.
template <class F, class H, class S, class T, class... Extra>
void route(F fn, H handle, const rows_view<S>& src, const rows_view<T>& dst, Extra... extra) {
  static_assert(std::is_same_v<std::remove_const_t<S>, T>,
                "source and destination rows hold the same value type; the destination is mutable");
  const routemat_rows s = src.c_view(), t = dst.c_view();
  check(fn(handle, &s, &t, extra...));
}
}  // namespace detail

// dst = G src (forward of the node module): dst[i,:] = src[idx[i],:].
template <class S, class T>
void gather(const map& g, const rows_view<S>& src, const rows_view<T>& dst) {
  detail::route(routemat_gather, g.native_handle(), src, dst);
}

// dst += G^T src (backward of the node module): dst[idx[i],:] += src[i,:].
template <class S, class T>
void scatter_add(const map& g, const rows_view<S>& src, const rows_view<T>& dst) {
  detail::route(routemat_scatter_add, g.native_handle(), src, dst);
}

enum class write : std::int32_t {
  accumulate = ROUTEMAT_ACCUMULATE,
  overwrite = ROUTEMAT_OVERWRITE
};

// Which kernel plan scatter-adds run (see routemat_plan_kernel): the same
// bits either way.
enum class plan_kernel : std::int32_t {
  automatic = ROUTEMAT_PLAN_AUTO,
  pull = ROUTEMAT_PLAN_PULL,
  push = ROUTEMAT_PLAN_PUSH
};
inline void set_plan_kernel(plan_kernel k) {
  detail::check(routemat_set_plan_kernel(static_cast<routemat_plan_kernel>(k)));
}
inline plan_kernel get_plan_kernel() noexcept {
  return static_cast<plan_kernel>(routemat_get_plan_kernel());
}

// What a plan knows about its map (see routemat_plan_facts).
using plan_facts = routemat_plan_facts;

// G^T as CSR by destination, built once from a map and reused for every call
// while the routing is unchanged (see routemat.h for its memory). It copies
// what it needs from the map, which may be destroyed; the indices must
// outlive the plan. Move-only.
class plan {
 public:
  explicit plan(const map& g) { detail::check(routemat_plan_create(&handle_, g.native_handle())); }
  plan(plan&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  plan& operator=(plan&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  plan(const plan&) = delete;
  plan& operator=(const plan&) = delete;
  ~plan() { routemat_plan_destroy(handle_); }

  plan_facts facts() const {
    plan_facts f{};
    detail::check(routemat_plan_get_facts(handle_, &f));
    return f;
  }
  const routemat_plan* native_handle() const noexcept { return handle_; }
  const routemat_map* map_handle() const noexcept { return routemat_plan_map(handle_); }

 private:
  routemat_plan* handle_ = nullptr;
};

// dst += G^T src (or dst = G^T src with write::overwrite) through a plan:
// deterministic for any thread count, bitwise equal to scatter_add(map, ...).
template <class S, class T>
void scatter_add(const plan& p, const rows_view<S>& src, const rows_view<T>& dst,
                 write mode = write::accumulate) {
  detail::route(routemat_plan_scatter_add, p.native_handle(), src, dst,
                static_cast<routemat_write>(mode));
}

// The node module (weight sharing, branching; w = G u) as its autograd pair.
template <class S, class T>
void node_forward(const plan& p, const rows_view<S>& u, const rows_view<T>& w) {
  detail::route(routemat_gather, p.map_handle(), u, w);
}
template <class S, class T>
void node_backward(const plan& p, const rows_view<S>& dw, const rows_view<T>& du,
                   write mode = write::accumulate) {
  scatter_add(p, dw, du, mode);
}

// The sum module (fan-in; v = G^T x) as its autograd pair: forward is a
// segment-sum that overwrites v, backward a gather that overwrites dx.
template <class S, class T>
void sum_forward(const plan& p, const rows_view<S>& x, const rows_view<T>& v) {
  detail::route(routemat_sum_forward, p.native_handle(), x, v);
}
template <class S, class T>
void sum_backward(const plan& p, const rows_view<S>& dv, const rows_view<T>& dx) {
  detail::route(routemat_sum_backward, p.native_handle(), dv, dx);
}

// Threads of the library's own pool (0: one per hardware thread).
inline void set_num_threads(int threads) { detail::check(routemat_set_num_threads(threads)); }
inline int num_threads() noexcept { return routemat_get_num_threads(); }
// Runs every operation's shards on a host runtime's pool (see routemat.h);
// fn == nullptr restores the library's own pool.
inline void set_parallel_for(routemat_parallel_for fn, void* pool_context, int threads) {
  detail::check(routemat_set_parallel_for(fn, pool_context, threads));
}

// Outputs of at least `bytes` bytes are written with non-temporal stores
// where possible (see routemat.h); negative: never.
inline void set_stream_threshold(std::int64_t bytes) {
  detail::check(routemat_set_stream_threshold(bytes));
}
inline std::int64_t stream_threshold() noexcept { return routemat_get_stream_threshold(); }

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
