// Helpers of the bad-input tests: exact-size guarded buffers that prove a
// refused call wrote nothing, raw enum values as a C caller passes them, and
// the macros that check a call's status and exact message.
#ifndef ROUTEMAT_BAD_INPUT_SUPPORT_HPP
#define ROUTEMAT_BAD_INPUT_SUPPORT_HPP

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "routemat/routemat.h"
#include "routemat/routemat.hpp"

namespace bad_input {

inline std::string status_text(routemat_status s) {
  return std::to_string(static_cast<int>(s)) + " (" + routemat_status_name(s) + ")";
}

// Concatenates its arguments as text: the expected messages with numbers.
template <class... A>
inline std::string cat(const A&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// An exact-size heap buffer filled with a byte pattern (or values, then
// seal()), with a snapshot of its bytes to prove a refused call wrote nothing.
template <class T>
struct guarded {
  std::vector<T> data;
  std::vector<unsigned char> snapshot;

  explicit guarded(std::size_t count, unsigned char pattern = 0xA5) : data(count) {
    if (count > 0) std::memset(static_cast<void*>(data.data()), pattern, count * sizeof(T));
    seal();
  }
  void fill_values() {
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<T>(i % 97 + 1);
    seal();
  }
  void seal() { snapshot.assign(raw(), raw() + data.size() * sizeof(T)); }
  const unsigned char* raw() const {
    return reinterpret_cast<const unsigned char*>(static_cast<const void*>(data.data()));
  }
  bool untouched() const {
    return snapshot.empty() || std::memcmp(raw(), snapshot.data(), snapshot.size()) == 0;
  }
  T* ptr() { return data.data(); }
};

// Elements a rows x width view with the given stride spans (no padding).
inline std::size_t span(std::int64_t rows, std::int64_t width, std::int64_t stride) {
  return rows > 0 ? static_cast<std::size_t>((rows - 1) * stride + width) : 0;
}

template <class T>
constexpr routemat_value_type value_type_of() {
  return std::is_same_v<T, float> ? ROUTEMAT_F32 : ROUTEMAT_F64;
}
template <class T>
constexpr const char* value_name() {
  return std::is_same_v<T, float> ? "f32" : "f64";
}
template <class I>
constexpr routemat_index_type index_type_of() {
  return std::is_same_v<I, std::int32_t> ? ROUTEMAT_INT32 : ROUTEMAT_INT64;
}

template <class T>
inline routemat_rows rows_of(T* data, std::int64_t rows, std::int64_t width, std::int64_t stride) {
  return {static_cast<void*>(data), rows, width, stride, value_type_of<T>()};
}

// An enum value outside the declared enumerators, as a C caller can pass one.
// In C++ such a value is outside the enum's range of values, so it is only
// ever copied bytewise here, never loaded as the enum type (UBSan's enum check).
inline void set_raw_type(routemat_rows& view, int value) {
  static_assert(sizeof view.type == sizeof value, "C enums are int-sized here");
  std::memcpy(&view.type, &value, sizeof value);
}
#if defined(__GNUC__)
__attribute__((no_sanitize("enum")))
#endif
inline routemat_status
map_create_raw_type(routemat_map** out, std::int64_t rows, std::int64_t cols, const void* indices,
                    int index_type, std::uint32_t flags) {
  routemat_index_type type;
  static_assert(sizeof type == sizeof index_type, "C enums are int-sized here");
  std::memcpy(&type, &index_type, sizeof type);
  return routemat_map_create(out, rows, cols, indices, type, flags);
}

// The value a refused routemat_map_create must leave in *out.
inline routemat_map* untouched_map() {
  static int marker = 0;
  return reinterpret_cast<routemat_map*>(&marker);
}

// A real, aligned address used as the data of views whose size check fails
// before anything is dereferenced.
inline void* dummy_pointer() {
  alignas(64) static double storage[8] = {};
  return storage;
}

// 64 bytes below the top of the address space: base + bytes wraps around.
inline void* near_top_pointer() { return reinterpret_cast<void*>(~std::uintptr_t{63}); }

// RAII for a map created through the C ABI.
struct c_map {
  routemat_map* handle = nullptr;
  c_map() = default;
  c_map(const c_map&) = delete;
  c_map& operator=(const c_map&) = delete;
  ~c_map() { routemat_map_destroy(handle); }
};

}  // namespace bad_input

// The call fails with want_status and routemat_last_error() is want_message.
#define CHECK_FAILS(call, want_status, want_message)                        \
  do {                                                                      \
    const routemat_status got_status_ = (call);                             \
    CHECK(status_text(got_status_) == status_text(want_status));            \
    CHECK(std::string(routemat_last_error()) == std::string(want_message)); \
  } while (false)

// routemat_map_create over a vector of indices fails and leaves *out alone.
#define CHECK_MAP_REFUSED(idx, cols, flags, want_status, want_message)                      \
  do {                                                                                      \
    routemat_map* out_ = untouched_map();                                                   \
    using index_t_ = typename std::decay_t<decltype(idx)>::value_type;                      \
    CHECK_FAILS(routemat_map_create(&out_, static_cast<std::int64_t>((idx).size()), (cols), \
                                    (idx).data(), index_type_of<index_t_>(), (flags)),      \
                want_status, want_message);                                                 \
    CHECK(out_ == untouched_map());                                                         \
  } while (false)

// The C++ expression throws routemat::error with this code and message.
#define CHECK_THROWS_ROUTEMAT(expr, want_code, want_message)             \
  do {                                                                   \
    bool thrown_ = false;                                                \
    try {                                                                \
      expr;                                                              \
    } catch (const routemat::error& e_) {                                \
      thrown_ = true;                                                    \
      CHECK(static_cast<int>(e_.code()) == static_cast<int>(want_code)); \
      CHECK(std::string(e_.what()) == std::string(want_message));        \
    }                                                                    \
    CHECK(thrown_);                                                      \
  } while (false)

#endif
