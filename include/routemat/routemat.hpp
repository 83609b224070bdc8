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

// bfloat16 and IEEE binary16 row values (ROUTEMAT_BF16, ROUTEMAT_F16): the
// 16-bit pattern, with the library's conversions (routemat/half.h): from float
// rounding to nearest even, to float exactly.
struct bf16 {
  std::uint16_t bits;

  bf16() = default;
  explicit bf16(float x) noexcept : bits(routemat_f32_to_bf16(x)) {}
  explicit operator float() const noexcept { return routemat_bf16_to_f32(bits); }
  static constexpr bf16 from_bits(std::uint16_t b) noexcept { return bf16(b, 0); }

 private:
  constexpr bf16(std::uint16_t b, int) noexcept : bits(b) {}
};

struct f16 {
  std::uint16_t bits;

  f16() = default;
  explicit f16(float x) noexcept : bits(routemat_f32_to_f16(x)) {}
  explicit operator float() const noexcept { return routemat_f16_to_f32(bits); }
  static constexpr f16 from_bits(std::uint16_t b) noexcept { return f16(b, 0); }

 private:
  constexpr f16(std::uint16_t b, int) noexcept : bits(b) {}
};
static_assert(sizeof(bf16) == 2 && std::is_trivially_copyable_v<bf16>, "bf16 is its 16 bits");
static_assert(sizeof(f16) == 2 && std::is_trivially_copyable_v<f16>, "f16 is its 16 bits");

namespace detail {
inline void check(routemat_status s) {
  if (s != ROUTEMAT_OK) throw error(static_cast<status>(s), routemat_last_error());
}
template <class T>
constexpr routemat_value_type value_type_of() {
  using U = std::remove_const_t<T>;
  static_assert(std::is_same_v<U, float> || std::is_same_v<U, double> || std::is_same_v<U, bf16> ||
                    std::is_same_v<U, f16>,
                "routemat rows hold float, double, routemat::bf16 or routemat::f16");
  if constexpr (std::is_same_v<U, float>) return ROUTEMAT_F32;
  if constexpr (std::is_same_v<U, double>) return ROUTEMAT_F64;
  if constexpr (std::is_same_v<U, bf16>) return ROUTEMAT_BF16;
  return ROUTEMAT_F16;
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

// ---- Bags (see routemat.h): weighted routes summed per output row ----------

enum class reduce : std::int32_t { sum = ROUTEMAT_REDUCE_SUM, mean = ROUTEMAT_REDUCE_MEAN };

// m values, one per route (weights, weight gradients). data == nullptr (count
// 0): none, i.e. all-ones weights or a skipped dw.
template <class T>
struct route_values {
  T* data = nullptr;
  std::int64_t count = 0;

  route_values() = default;
  route_values(T* data_, std::int64_t count_) : data(data_), count(count_) {}
};

// A map's routes grouped into bags: by offsets[bags + 1] (offsets[0] == 0,
// non-decreasing, offsets[bags] == m), or every bag `size` routes
// (bags::fixed). Reads the map's indices, which must outlive it. Move-only.
class bags {
 public:
  bags(const map& g, std::int64_t count, const std::int32_t* offsets) {
    detail::check(
        routemat_bags_create(&handle_, g.native_handle(), count, offsets, ROUTEMAT_INT32));
  }
  bags(const map& g, std::int64_t count, const std::int64_t* offsets) {
    detail::check(
        routemat_bags_create(&handle_, g.native_handle(), count, offsets, ROUTEMAT_INT64));
  }
  static bags fixed(const map& g, std::int64_t size) {
    bags b;
    detail::check(routemat_bags_create_fixed(&b.handle_, g.native_handle(), size));
    return b;
  }
  bags(bags&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  bags& operator=(bags&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  bags(const bags&) = delete;
  bags& operator=(const bags&) = delete;
  ~bags() { routemat_bags_destroy(handle_); }

  std::int64_t count() const noexcept { return routemat_bags_count(handle_); }
  const routemat_bags* native_handle() const noexcept { return handle_; }

 private:
  bags() = default;
  routemat_bags* handle_ = nullptr;
};

// y[b,:] = scale(b) * sum over the kept routes r of bag b of w[r] * u[idx[r],:].
template <class S, class T, class W = const std::remove_const_t<S>>
void bag_forward(const bags& b, const rows_view<S>& u, const rows_view<T>& y,
                 reduce r = reduce::sum, route_values<W> weights = {}) {
  static_assert(
      std::is_same_v<std::remove_const_t<S>, T> && std::is_same_v<std::remove_const_t<W>, T>,
      "u, y and the weights hold the same value type; y is mutable");
  const routemat_rows uv = u.c_view(), yv = y.c_view();
  detail::check(routemat_bag_forward(b.native_handle(), &uv, weights.data, weights.count,
                                     static_cast<routemat_reduce>(r), &yv));
}

// du += the transpose of bag_forward applied to dy, and dw[r] = scale(b) *
// <dy[b,:], u[idx[r],:]>. du == nullptr or dw.data == nullptr skips that
// output; u is needed for dw only. p: nullptr, or a plan of the
// bags' map (the pull); the bits are the same either way.
template <class T>
void bag_backward(const bags& b, const rows_view<const T>& dy, const rows_view<const T>* u,
                  const rows_view<T>* du, route_values<T> dw, reduce r = reduce::sum,
                  route_values<const T> weights = {}, const plan* p = nullptr) {
  const routemat_rows dyv = dy.c_view();
  routemat_rows uv{}, duv{};
  if (u != nullptr) uv = u->c_view();
  if (du != nullptr) duv = du->c_view();
  detail::check(routemat_bag_backward(
      b.native_handle(), p != nullptr ? p->native_handle() : nullptr, &dyv,
      u != nullptr ? &uv : nullptr, weights.data, weights.count, static_cast<routemat_reduce>(r),
      du != nullptr ? &duv : nullptr, dw.data, dw.count));
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
