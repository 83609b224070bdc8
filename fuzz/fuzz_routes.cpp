// routemat_fuzz: a differential libFuzzer target for routemat's C ABI.
//
// Every input decodes into one operation -- gather, scatter_add, plan
// scatter-add (accumulate or overwrite), sum_forward, sum_backward,
// bag_forward or bag_backward -- on a small routing map, with rows of f32,
// f64, bf16 or f16 and hostile indices, views, bag offsets, aliasing and
// settings mixed in. The operation runs once per ISA that
// routemat_isa_supported() reports, each time on fresh copies of the buffers,
// and is judged against a scalar reference computed here (plain loops in row
// order):
//   - a valid call must return ROUTEMAT_OK, give exactly the reference bytes
//     (gathers are copies; routemat adds duplicates in increasing row order,
//     so sums are bit-exact too -- only the payload of a NaN may differ) and
//     write no other byte (strided gaps, inputs, indices included);
//   - 16-bit sums (bf16, f16: widened to f32, rounded to nearest even): the
//     push (routemat_scatter_add, a forced ROUTEMAT_PLAN_PUSH) rounds each
//     dst element after every routed row, the pull (ROUTEMAT_PLAN_PULL) once
//     after all its sources; with the kernel AUTO (or untouched) either
//     result is accepted;
//   - bags: an unweighted forward (sum or mean) is bit-exact (the first kept
//     row as it is, the others added in route order, times 1 / kept for a
//     mean of more than one, rounded once); weighted forwards, du and dw are
//     judged within a tolerance of a double reference (fma and lane-wise dot
//     products are not reproducible by a scalar loop), a dropped route's dw
//     is +0 exactly, and the backward without a plan and with one must give
//     the same bits on each ISA;
//   - an invalid call (by the rules of README.md / routemat.h, mirrored in
//     this file) must return a non-OK status of the kind its fault allows,
//     with a fresh, non-empty routemat_last_error(), and leave every buffer
//     and every *out untouched.
// Buffers are exact-size heap blocks whose leading alignment slack is
// poisoned, so ASan reports any access outside a view's extent. Settings that
// an input changes (ISA, threads, parallel-for, plan kernel, stream
// threshold) are restored after it. Any disagreement prints the decoded input
// and aborts.
//
// Input format (little endian; bytes past the end read as 0):
//   [0]      op: % 8 -> gather, scatter_add, plan accumulate, plan overwrite,
//            sum_forward, sum_backward, bag_forward, bag_backward
//   [1]      bit 0 ROUTEMAT_ALLOW_DROP, bit 1 int64 indices, bit 2 f64 values
//            (with bit 6: f16), bit 6 16-bit values (bf16, or f16 with bit 2),
//            bit 4 gathers through routemat_plan_map(), bits 3 and 5 both set:
//            big shapes (m 4096..36863, n < 4096, d 1..4: plan builds and
//            kernels sharded over threads; about 10 ms an input)
//   [2]      settings: bits 0-1 plan kernel (untouched, AUTO, PULL, PUSH),
//            bits 2-3 stream threshold (untouched, 0, -1, 4096 bytes),
//            bits 4-5 threads (untouched, 1, 2, a host parallel-for of 3
//            threads that runs shards in reverse order)
//   [3..4]   m, [5..6] n: bit 15 set -> (bits 0-14) % 512, else % 40
//   [7]      d = 1 + byte % 70
//   [8] [9]  src / dst stride extra: bit 7 set -> stride = d + (byte & 63)
//   [10]     index pattern (% 8): uniform, sorted, cyclic, constant,
//            permutation, 1/4 dropped, identity, few columns in reverse
//   [11..14] seed of the generator of indices and values
//   [15]     values (% 4): small integers, finite floats of mixed exponents,
//            raw bits (NaN, inf, denormals), special values
//   [16] [17] [18]  src / dst / index lead, in elements (% 16): alignment
//   [19] [20]  faults (% 32, see enum fault), [21] a fault parameter. For
//            bag ops null_map passes NULL bags, write_mode an unknown reduce;
//            src is u (forward) / dy (backward), dst y / du.
//   [22]     arena (& 7): bit 0 src, bit 1 dst, bit 2 indices share one block
//   [23..28] int16 offsets of src, dst, indices in the arena (units of the
//            widest element)
//   [29]     misc checks of the setters and getters (bit per check)
//   bag ops only (the patches then start at [36]):
//   [30]     bit 0 routemat_bags_create_fixed (else offsets), bit 1 int64
//            offsets, bit 2 ROUTEMAT_REDUCE_MEAN, bit 3 weights, backward: bit 4
//            du NULL, bit 5 dw NULL, bit 6 u NULL (when dw is NULL)
//   [31..32] offsets: B = u16 % (m + 2); fixed: bag size (% 4: 0 -> 1 +
//            (u16 >> 2) % 8, 1 -> m, else the largest divisor of m <= that)
//   [33]     bag fault (% 21, see enum bag_fault), [34] its parameter
//   [35]     offsets pattern (% 4): random cuts, equal, all in the last bag,
//            one route per bag
//   [30..] / [36..]  index patches, 3 bytes each: row (u16 % m), kind (% 16,
//            see patch_value)
// fuzz/make_corpus.py writes the seed corpus in this format.
//
// Environment: ROUTEMAT_FUZZ_VERBOSE=1 prints every decoded input and its
// outcome.
#include <routemat/routemat.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

#include <algorithm>
#include <cfloat>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

// fuzz/c_abi_calls.c: ISA calls with enum values converted by C's rules.
extern "C" routemat_status routemat_fuzz_select_isa(std::int32_t isa);
extern "C" const char* routemat_fuzz_isa_name(std::int32_t isa);
extern "C" int routemat_fuzz_isa_supported(std::int32_t isa);

namespace {

// The harness's bulk loops (generators, the reference, scans over indices)
// carry no coverage instrumentation: their branches say nothing about
// routemat, and their comparison callbacks would cost most of the time.
#define FUZZ_BULK __attribute__((no_sanitize("coverage"), noinline))

// ---------------------------------------------------------------------------
// Failure reporting.

std::string current_case;  // the decoded input, printed with any failure

[[noreturn]] void fail_case(const char* format, ...) __attribute__((format(printf, 1, 2)));
void fail_case(const char* format, ...) {
  std::fprintf(stderr, "\nroutemat_fuzz: FAILURE: ");
  std::va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fprintf(stderr, "\nroutemat_fuzz: input: %s\n", current_case.c_str());
  std::fflush(stderr);
  std::abort();
}

// Sanitizer reports (ASan, UBSan) end here: name the input that caused them.
void print_case_on_death() {
  std::fprintf(stderr, "routemat_fuzz: input: %s\n", current_case.c_str());
}

#define FUZZ_CHECK(cond, ...)            \
  do {                                   \
    if (!(cond)) fail_case(__VA_ARGS__); \
  } while (0)

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[1024];
  std::va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

// ---------------------------------------------------------------------------
// Input decoding and a generator for the bulk (indices, values).

struct reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  std::uint8_t u8() { return at < size ? data[at++] : 0; }
  std::uint16_t u16() {
    const std::uint16_t lo = u8();
    return static_cast<std::uint16_t>(lo | (u8() << 8));
  }
  std::uint32_t u32() {
    const std::uint32_t lo = u16();
    return lo | (static_cast<std::uint32_t>(u16()) << 16);
  }
  std::int16_t i16() { return static_cast<std::int16_t>(u16()); }
  bool more() const { return at < size; }
};

struct rng {  // splitmix64
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
};

enum op_kind {
  op_gather,
  op_scatter_add,
  op_plan_accumulate,
  op_plan_overwrite,
  op_sum_forward,
  op_sum_backward,
  op_bag_forward,
  op_bag_backward,
  op_count
};
const char* const op_names[] = {"gather",      "scatter_add",  "plan_accumulate", "plan_overwrite",
                                "sum_forward", "sum_backward", "bag_forward",     "bag_backward"};

bool gathers(int op) { return op == op_gather || op == op_sum_backward; }
bool is_bag_op(int op) { return op == op_bag_forward || op == op_bag_backward; }
bool uses_plan(int op) {
  return (op >= op_plan_accumulate && op <= op_sum_backward) || op == op_bag_backward;
}
bool overwrites_sum(int op) { return op == op_plan_overwrite || op == op_sum_forward; }

const char* type_name(std::int32_t t) {
  switch (t) {
    case ROUTEMAT_F32: return "f32";
    case ROUTEMAT_F64: return "f64";
    case ROUTEMAT_BF16: return "bf16";
    case ROUTEMAT_F16: return "f16";
    default: return "bad-type";
  }
}
std::int64_t type_size(std::int32_t t) {
  return t == ROUTEMAT_F64 ? 8 : (t == ROUTEMAT_BF16 || t == ROUTEMAT_F16) ? 2 : 4;
}

// Faults of the bag operations (input byte [33], see the header).
enum bag_fault {
  bf_none = 0,
  bf_create_out_null,     // routemat_bags_create*(NULL, ...)
  bf_create_map_null,     // ... a NULL map
  bf_bags_negative,       // bags < 0 (offsets), bag_size < 1 (fixed)
  bf_bags_huge,           // bags whose storage overflows (offsets), a hostile bag_size (fixed)
  bf_offset_type,         // an offset type that is neither INT32 nor INT64
  bf_offsets_null,        // offsets NULL
  bf_offsets_first,       // offsets[0] != 0
  bf_offsets_decrease,    // offsets[b + 1] < offsets[b] somewhere
  bf_offsets_last,        // offsets[B] != m
  bf_offsets_wide,        // one offset + 2^32 (int32: truncated back, valid)
  bf_fixed_size,          // bag_size not dividing m (fixed)
  bf_weight_count,        // weights given, weight_count != m (hostile values)
  bf_weights_null_count,  // weights NULL with weight_count != 0
  bf_dw_count,            // dw given, dw_count != m (backward)
  bf_dw_null_count,       // dw NULL with dw_count != 0 (backward)
  bf_u_null_with_dw,      // u NULL while dw is asked for (backward)
  bf_plan_other_map,      // a plan of another map over a copy of the indices (backward)
  bf_weights_alias_out,   // weights placed inside y (forward) / du (backward)
  bf_dw_alias,            // dw placed inside dy, u, weights, the indices or du (backward)
  bf_u_alias_du,          // u placed inside du (backward)
  bf_count_
};
const char* const bag_fault_names[] = {
    "none",          "create_out_null", "create_map_null", "bags_negative",      "bags_huge",
    "offset_type",   "offsets_null",    "offsets_first",   "offsets_decrease",   "offsets_last",
    "offsets_wide",  "fixed_size",      "weight_count",    "weights_null_count", "dw_count",
    "dw_null_count", "u_null_with_dw",  "plan_other_map",  "weights_alias_out",  "dw_alias",
    "u_alias_du"};
static_assert(sizeof bag_fault_names / sizeof bag_fault_names[0] == bf_count_,
              "one name per bag fault");

enum fault {
  fault_none = 0,
  fault_map_out_null,       // routemat_map_create(NULL, ...)
  fault_map_rows_negative,  // rows < 0
  fault_map_cols_negative,  // cols < 0
  fault_map_index_type,     // an index type that is neither INT32 nor INT64
  fault_map_flags,          // unknown flag bits
  fault_map_indices_null,   // indices NULL (an error only when rows > 0)
  fault_map_rows_overflow,  // rows * index size beyond PTRDIFF_MAX
  fault_map_pointer_wrap,   // indices + rows * size wraps the address space
  fault_null_map,           // the op gets a NULL map or plan
  fault_src_view_null,      // routemat_rows* src == NULL
  fault_dst_view_null,
  fault_src_type,  // a value type that is none of F32, F64, BF16, F16
  fault_dst_type,
  fault_src_rows_negative,
  fault_dst_rows_negative,
  fault_src_rows_wrong,  // rows the map does not need
  fault_dst_rows_wrong,
  fault_src_width,  // width < 1
  fault_dst_width,
  fault_src_stride_short,  // stride < width
  fault_dst_stride_short,
  fault_src_data_null,  // data NULL (an error only when rows > 0)
  fault_dst_data_null,
  fault_src_stride_huge,  // stride >= 2^62: overflow when rows >= 2, valid with one row
  fault_dst_stride_huge,
  fault_type_mismatch,   // dst holds the other value type
  fault_width_mismatch,  // dst width differs from src width
  fault_write_mode,      // an unknown routemat_write (plan scatter-adds only)
  fault_huge_width,      // both widths >= 2^62: valid only when neither view has rows
  fault_count_ = 32
};
const char* const fault_names[] = {"none",
                                   "map_out_null",
                                   "map_rows_negative",
                                   "map_cols_negative",
                                   "map_index_type",
                                   "map_flags",
                                   "map_indices_null",
                                   "map_rows_overflow",
                                   "map_pointer_wrap",
                                   "null_map",
                                   "src_view_null",
                                   "dst_view_null",
                                   "src_type",
                                   "dst_type",
                                   "src_rows_negative",
                                   "dst_rows_negative",
                                   "src_rows_wrong",
                                   "dst_rows_wrong",
                                   "src_width",
                                   "dst_width",
                                   "src_stride_short",
                                   "dst_stride_short",
                                   "src_data_null",
                                   "dst_data_null",
                                   "src_stride_huge",
                                   "dst_stride_huge",
                                   "type_mismatch",
                                   "width_mismatch",
                                   "write_mode",
                                   "huge_width",
                                   "none",
                                   "none"};

static_assert(sizeof fault_names / sizeof fault_names[0] == fault_count_, "one name per fault");

struct fuzz_case {
  int op = 0;
  bool drop = false, idx64 = false, f64 = false, big = false, via_plan_map = false;
  std::int32_t vtype = ROUTEMAT_F32;  // the value type (f32, f64, bf16, f16)
  int plan_kernel_mode = 0, stream_mode = 0, thread_mode = 0;
  std::int64_t m = 0, n = 0, d = 1, src_extra = 0, dst_extra = 0;
  int pattern = 0;
  std::uint32_t seed = 0;
  int value_mode = 0;
  int src_lead = 0, dst_lead = 0, idx_lead = 0;
  int faults[2] = {0, 0};
  std::uint8_t fault_param = 0;
  int arena = 0;
  std::int16_t arena_offsets[3] = {0, 0, 0};
  std::uint8_t misc = 0;
  // Bag operations only ([30..35]).
  bool bag_fixed = false, bag_off64 = false, bag_mean = false, bag_weighted = false;
  bool bag_no_du = false, bag_no_dw = false, bag_no_u = false;
  std::uint16_t bag_count_raw = 0;
  int bag_fault = 0;
  std::uint8_t bag_param = 0, bag_pattern = 0;
  std::vector<std::pair<std::uint16_t, std::uint8_t>> patches;

  bool has(fault f) const { return faults[0] == f || faults[1] == f; }
};

fuzz_case decode(const std::uint8_t* data, std::size_t size) {
  reader in{data, size};
  fuzz_case c;
  c.op = in.u8() % op_count;
  const std::uint8_t types = in.u8();
  c.drop = types & 1;
  c.idx64 = types & 2;
  c.f64 = types & 4;
  c.vtype =
      (types & 64) ? (c.f64 ? ROUTEMAT_F16 : ROUTEMAT_BF16) : (c.f64 ? ROUTEMAT_F64 : ROUTEMAT_F32);
  c.big = (types & 0x28) == 0x28;
  c.via_plan_map = types & 16;
  const std::uint8_t settings = in.u8();
  c.plan_kernel_mode = settings & 3;
  c.stream_mode = (settings >> 2) & 3;
  c.thread_mode = (settings >> 4) & 3;
  const std::uint16_t m_raw = in.u16(), n_raw = in.u16();
  const std::uint8_t d_raw = in.u8();
  if (c.big) {
    c.m = 4096 + m_raw % 32768;
    c.n = n_raw % 4096;
    c.d = 1 + d_raw % 4;
  } else {  // mostly small (fast); up to 511 where the top bit is set
    c.m = (m_raw & 0x8000) ? (m_raw & 0x7FFF) % 512 : (m_raw & 0x7FFF) % 40;
    c.n = (n_raw & 0x8000) ? (n_raw & 0x7FFF) % 512 : (n_raw & 0x7FFF) % 40;
    c.d = 1 + d_raw % 70;
  }
  const std::uint8_t se = in.u8(), de = in.u8();
  const int extra_mod = c.big ? 4 : 64;
  c.src_extra = (se & 0x80) ? (se & 63) % extra_mod : 0;
  c.dst_extra = (de & 0x80) ? (de & 63) % extra_mod : 0;
  c.pattern = in.u8() % 8;
  c.seed = in.u32();
  c.value_mode = in.u8() % 4;
  c.src_lead = in.u8() % 16;
  c.dst_lead = in.u8() % 16;
  c.idx_lead = in.u8() % 16;
  c.faults[0] = in.u8() % fault_count_;
  c.faults[1] = in.u8() % fault_count_;
  c.fault_param = in.u8();
  c.arena = in.u8() & 7;
  for (auto& o : c.arena_offsets) o = in.i16();
  c.misc = in.u8();
  if (is_bag_op(c.op)) {
    const std::uint8_t flags = in.u8();
    c.bag_fixed = flags & 1;
    c.bag_off64 = flags & 2;
    c.bag_mean = flags & 4;
    c.bag_weighted = flags & 8;
    c.bag_no_du = flags & 16;
    c.bag_no_dw = flags & 32;
    c.bag_no_u = flags & 64;
    c.bag_count_raw = in.u16();
    c.bag_fault = in.u8() % bf_count_;
    c.bag_param = in.u8();
    c.bag_pattern = in.u8();
  }
  while (in.more()) {
    const std::uint16_t row = in.u16();
    const std::uint8_t kind = in.u8();
    c.patches.emplace_back(row, kind);
  }
  return c;
}

// A hostile (or valid) index for a patch at `row`.
std::int64_t patch_value(int kind, std::int64_t n, std::int64_t row) {
  const std::int64_t valid = n > 0 ? row % n : 0;
  switch (kind % 16) {
    case 0: return n;
    case 1: return n + 1 + row % 7;
    case 2: return -1;
    case 3: return -2;
    case 4: return -n - 1;
    case 5: return INT32_MIN;
    case 6: return INT32_MAX;
    case 7: return INT64_MIN;
    case 8: return INT64_MAX;
    case 9: return (std::int64_t{1} << 32) + valid;                            // low 32 bits valid
    case 10: return (std::int64_t{1} << 32) - 1;                               // low 32 bits are -1
    case 11: return static_cast<std::int64_t>(0xFFFFFFFF00000000ull) + valid;  // low 32 bits valid
    case 12: return 0;
    case 13: return n - 1;
    case 14: return std::int64_t{1} << 31;  // int32: INT32_MIN
    default: return valid;
  }
}

FUZZ_BULK std::vector<std::int64_t> make_indices(const fuzz_case& c, rng& r) {
  const std::int64_t m = c.m, n = c.n;
  std::vector<std::int64_t> idx(static_cast<std::size_t>(m));
  const std::int64_t none = c.drop ? -1 : 0;  // with n == 0: a drop, or an invalid 0
  auto uniform = [&] { return n > 0 ? static_cast<std::int64_t>(r.below(n)) : none; };
  switch (c.pattern) {
    case 0:
      for (auto& v : idx) v = uniform();
      break;
    case 1:  // sorted, with runs
      for (std::int64_t i = 0; i < m; ++i) idx[i] = n > 0 ? i * n / m : none;
      break;
    case 2:
      for (std::int64_t i = 0; i < m; ++i) idx[i] = n > 0 ? i % n : none;
      break;
    case 3: {
      const std::int64_t j = uniform();
      for (auto& v : idx) v = j;
      break;
    }
    case 4:  // a permutation of the cyclic map
      for (std::int64_t i = 0; i < m; ++i) idx[i] = n > 0 ? i % n : none;
      for (std::int64_t i = m - 1; i > 0; --i) std::swap(idx[i], idx[r.below(i + 1)]);
      break;
    case 5:
      for (auto& v : idx) v = c.drop && r.below(4) == 0 ? -1 : uniform();
      break;
    case 6:
      for (std::int64_t i = 0; i < m; ++i) idx[i] = i < n ? i : uniform();
      break;
    default: {  // few columns, decreasing
      const std::int64_t k = 1 + static_cast<std::int64_t>(r.below(4));
      for (std::int64_t i = 0; i < m; ++i)
        idx[i] = n > 0 ? (n - 1 - ((m - 1 - i) * k / (m > 0 ? m : 1)) % n) : none;
      break;
    }
  }
  if (m > 0)
    for (const auto& p : c.patches) {
      const std::int64_t row = p.first % m;
      idx[row] = patch_value(p.second, n, row);
    }
  return idx;
}

// ---------------------------------------------------------------------------
// Values: bit patterns of f32 / f64 elements.

template <class T>
T from_bits(std::uint64_t bits) {
  T v;
  if constexpr (sizeof(T) == 4) {
    const auto b = static_cast<std::uint32_t>(bits);
    std::memcpy(&v, &b, 4);
  } else {
    std::memcpy(&v, &bits, 8);
  }
  return v;
}

template <class T>
__attribute__((no_sanitize("coverage"))) T make_value(int mode, rng& r) {
  constexpr bool is32 = sizeof(T) == 4;
  switch (mode) {
    case 0: return static_cast<T>(static_cast<int>(r.below(17)) - 8);
    case 1: {  // finite, mixed exponents: sums round, so their order shows
      const std::uint64_t x = r.next();
      if constexpr (is32) {
        const std::uint64_t exp = 127 - 20 + (x >> 40) % 41;
        return from_bits<T>(((x >> 63) << 31) | (exp << 23) | (x & 0x7FFFFF));
      } else {
        const std::uint64_t exp = 1023 - 40 + (x >> 52) % 81;
        return from_bits<T>(((x >> 63) << 63) | (exp << 52) | (x & 0xFFFFFFFFFFFFFull));
      }
    }
    case 2: return from_bits<T>(r.next());
    default: {
      static const double specials[] = {0.0, -0.0, 1.0, -1.0, 0.1, 3.0, 1e-30, -2.5e10};
      const std::uint64_t pick = r.below(16);
      if (pick < 8) return static_cast<T>(specials[pick]);
      switch (pick) {
        case 8: return INFINITY;
        case 9: return -INFINITY;
        case 10: return std::numeric_limits<T>::quiet_NaN();
        case 11: return from_bits<T>(is32 ? 0x7F800001u : 0x7FF0000000000001ull);  // sNaN
        case 12: return std::numeric_limits<T>::denorm_min();
        case 13: return -std::numeric_limits<T>::max();
        case 14: return std::numeric_limits<T>::max();
        default: return make_value<T>(1, r);
      }
    }
  }
}

// A 16-bit value (bits) of the mode: the f32 generator rounded, except raw
// bits and, for f16, finite values of exponents it can hold.
__attribute__((no_sanitize("coverage"))) std::uint16_t make_half(bool f16, int mode, rng& r) {
  if (mode == 2) return static_cast<std::uint16_t>(r.next());
  if (mode == 1 && f16) {  // exponent field 5..25: finite, sums round
    const std::uint64_t x = r.next();
    return static_cast<std::uint16_t>(((x >> 63) << 15) | ((5 + (x >> 32) % 21) << 10) |
                                      (x & 0x3FF));
  }
  const float v = make_value<float>(mode, r);
  return f16 ? routemat_f32_to_f16(v) : routemat_f32_to_bf16(v);
}

FUZZ_BULK void fill_values(unsigned char* p, std::size_t bytes, std::int32_t type, int mode,
                           rng& r) {
  const bool f64 = type == ROUTEMAT_F64;
  const bool half = type == ROUTEMAT_BF16 || type == ROUTEMAT_F16;
  const std::size_t es = static_cast<std::size_t>(type_size(type));
  std::size_t k = 0;
  for (; k + es <= bytes; k += es) {
    if (half) {
      const std::uint16_t h = make_half(type == ROUTEMAT_F16, mode, r);
      std::memcpy(p + k, &h, 2);
    } else if (f64) {
      const double v = make_value<double>(mode, r);
      std::memcpy(p + k, &v, 8);
    } else {
      const float v = make_value<float>(mode, r);
      std::memcpy(p + k, &v, 4);
    }
  }
  for (; k < bytes; ++k) p[k] = static_cast<unsigned char>(r.next());
}

// ---------------------------------------------------------------------------
// Exact-size heap blocks; the lead (alignment slack before data()) is poisoned.

class buffer {
 public:
  buffer() = default;
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  ~buffer() { release(); }

  void allocate(std::size_t lead, std::size_t bytes) {
    release();
    void* p = nullptr;
    if (posix_memalign(&p, 64, lead + bytes) != 0)
      fail_case("posix_memalign(%zu) failed", lead + bytes);
    raw_ = static_cast<unsigned char*>(p);
    lead_ = lead;
    bytes_ = bytes;
    if (raw_ != nullptr) ASAN_POISON_MEMORY_REGION(raw_, lead_);
  }
  void release() {
    if (raw_ != nullptr) {
      ASAN_UNPOISON_MEMORY_REGION(raw_, lead_);
      std::free(raw_);
    }
    raw_ = nullptr;
    lead_ = bytes_ = 0;
  }
  unsigned char* data() const { return raw_ != nullptr ? raw_ + lead_ : nullptr; }
  std::size_t size() const { return bytes_; }
  bool allocated() const { return raw_ != nullptr || bytes_ != 0; }

 private:
  unsigned char* raw_ = nullptr;
  std::size_t lead_ = 0, bytes_ = 0;
};

// ---------------------------------------------------------------------------
// Views as declared, with the statuses their faults allow.

std::int64_t wrap_add(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}
std::int64_t wrap_neg(std::int64_t a) {
  return static_cast<std::int64_t>(0 - static_cast<std::uint64_t>(a));
}

constexpr unsigned status_bit(routemat_status s) { return 1u << static_cast<unsigned>(s); }

// Bytes spanned by rows of (width, stride) elements of es bytes, exactly as
// routemat counts them; false when the count overflows.
bool span_bytes(std::int64_t rows, std::int64_t width, std::int64_t stride, std::int64_t es,
                std::int64_t* bytes) {
  *bytes = 0;
  if (rows <= 0) return true;
  std::int64_t e = 0;
  return !(__builtin_mul_overflow(rows - 1, stride, &e) || __builtin_add_overflow(e, width, &e) ||
           __builtin_mul_overflow(e, es, bytes));
}

struct view_decl {
  const char* name;
  bool pass_null = false;  // the routemat_rows* itself
  bool null_data = false;
  std::int32_t type = ROUTEMAT_F32;  // as declared (may be invalid)
  std::int64_t rows = 0, width = 0, stride = 0;
  std::int64_t expected_rows = 0;
  // Storage: buffer index (0 src, 1 dst, 2 indices, 3 arena), offset in it.
  int buf = -1;
  std::size_t offset = 0;
  std::size_t bytes = 0;     // allocated extent
  bool well_formed = false;  // passes every single-view check

  bool type_valid() const {
    return type == ROUTEMAT_F32 || type == ROUTEMAT_F64 || type == ROUTEMAT_BF16 ||
           type == ROUTEMAT_F16;
  }
  std::int64_t es() const { return type_size(type); }
};

// The statuses check_rows may return for this view (0: the view is fine).
unsigned view_faults(const view_decl& v) {
  unsigned allowed = 0;
  if (v.pass_null) return status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  if (!v.type_valid()) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  if (v.rows < 0) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  if (v.rows != v.expected_rows) allowed |= status_bit(ROUTEMAT_ERROR_SHAPE_MISMATCH);
  if (v.width < 1) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  if (v.stride < v.width) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  if (v.rows > 0 && v.null_data) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  std::int64_t bytes = 0;
  if (v.rows > 0 && v.width >= 1 && v.stride >= v.width &&
      !span_bytes(v.rows, v.width, v.stride, v.es(), &bytes))
    allowed |= status_bit(ROUTEMAT_ERROR_OVERFLOW);
  return allowed;
}

// A byte range [begin, end) with rows of `width` bytes every `pitch` bytes.
struct extent {
  std::uintptr_t begin = 0, end = 0, pitch = 0, width = 0;
};

extent view_extent(const view_decl& v, const unsigned char* data) {
  extent e;
  std::int64_t bytes = 0;
  span_bytes(v.rows, v.width, v.stride, v.es(), &bytes);
  e.begin = reinterpret_cast<std::uintptr_t>(data);
  e.end = e.begin + static_cast<std::uintptr_t>(bytes);
  // Unsigned, as routemat computes them: a one-row view may have any stride.
  e.pitch = static_cast<std::uintptr_t>(v.stride) * static_cast<std::uintptr_t>(v.es());
  e.width = static_cast<std::uintptr_t>(v.width) * static_cast<std::uintptr_t>(v.es());
  return e;
}

__attribute__((no_sanitize("coverage"))) std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Whether rows [0, a_rows) of a and [0, b_rows) of b share a byte: for each
// row of a, the rows j of b with j * pitch < a1 and j * pitch + width > a0.
FUZZ_BULK bool share_a_byte(const extent& a, std::int64_t a_rows, const extent& b,
                            std::int64_t b_rows) {
  if (a_rows > 1 && b_rows <= 1) return share_a_byte(b, b_rows, a, a_rows);
  if (b_rows <= 0) return false;
  if (b_rows == 1) {  // (any pitch) row 0 only; a's pitch is then bounded by its extent
    for (std::int64_t i = 0; i < a_rows; ++i) {
      const std::uintptr_t a0 = a.begin + static_cast<std::uintptr_t>(i) * a.pitch;
      if (a0 < b.begin + b.width && b.begin < a0 + a.width) return true;
    }
    return false;
  }
  // b has >= 2 rows, so its extent (and pitch) fits in int64.
  const auto p = static_cast<std::int64_t>(b.pitch), w = static_cast<std::int64_t>(b.width);
  for (std::int64_t i = 0; i < a_rows; ++i) {
    const auto a0 = static_cast<std::int64_t>(a.begin + static_cast<std::uintptr_t>(i) * a.pitch -
                                              b.begin);  // relative to b.begin
    const std::int64_t a1 = a0 + static_cast<std::int64_t>(a.width);
    std::int64_t lo = floor_div(a0 - w, p) + 1, hi = floor_div(a1 - 1, p);
    lo = lo < 0 ? 0 : lo;
    hi = hi > b_rows - 1 ? b_rows - 1 : hi;
    if (lo <= hi) return true;
  }
  return false;
}

// No byte shared, by the equal-pitch residue rule (sound: true means disjoint).
bool residues_disjoint(const extent& a, const extent& b) {
  if (a.pitch != b.pitch || a.pitch == 0) return false;
  const std::uintptr_t p = a.pitch;
  const std::uintptr_t delta =
      b.begin >= a.begin ? (b.begin - a.begin) % p : (p - (a.begin - b.begin) % p) % p;
  return delta >= a.width && delta + b.width <= p;
}

// The indices as stored (int32 truncates): all in [0, n) or -1 with drops?
FUZZ_BULK bool indices_valid(const std::vector<std::int64_t>& idx, bool idx64, std::int64_t n,
                             bool drop, std::int64_t* dropped) {
  bool ok = true;
  *dropped = 0;
  for (const std::int64_t raw : idx) {
    const std::int64_t v = idx64 ? raw : static_cast<std::int32_t>(raw);
    ok &= (v >= 0 && v < n) || (drop && v == -1);
    *dropped += v == -1;
  }
  return ok;
}

FUZZ_BULK void store_indices(const std::vector<std::int64_t>& idx, bool idx64, unsigned char* at) {
  for (std::size_t i = 0; i < idx.size(); ++i) {
    if (idx64) {
      std::memcpy(at + 8 * i, &idx[i], 8);
    } else {
      const auto v = static_cast<std::int32_t>(idx[i]);
      std::memcpy(at + 4 * i, &v, 4);
    }
  }
}

// ---------------------------------------------------------------------------
// Global settings: the defaults, checked and restored around every input.

struct defaults {
  routemat_isa isa = ROUTEMAT_ISA_SCALAR;
  std::int64_t stream_threshold = 0;
  std::int32_t threads = 0;
  std::vector<routemat_isa> isas;  // every ISA that runs here
  bool verbose = false;
};

const defaults& the_defaults() {
  static const defaults d = [] {
    defaults x;
    __sanitizer_set_death_callback(print_case_on_death);
    if (routemat_active_isa(&x.isa) != ROUTEMAT_OK) {
      std::fprintf(stderr, "routemat_fuzz: no active ISA: %s\n", routemat_last_error());
      std::abort();
    }
    x.stream_threshold = routemat_get_stream_threshold();
    x.threads = routemat_get_num_threads();
    for (int i = 0; i <= ROUTEMAT_ISA_NEON; ++i)
      if (routemat_isa_supported(static_cast<routemat_isa>(i)))
        x.isas.push_back(static_cast<routemat_isa>(i));
    const char* v = std::getenv("ROUTEMAT_FUZZ_VERBOSE");
    x.verbose = v != nullptr && v[0] != '\0' && v[0] != '0';
    std::string names;
    for (routemat_isa i : x.isas)
      names += std::string(names.empty() ? "" : ", ") + routemat_isa_name(i);
    std::fprintf(stderr, "routemat_fuzz: ISAs %s (default %s), %d threads\n", names.c_str(),
                 routemat_isa_name(x.isa), x.threads);
    return x;
  }();
  return d;
}

// Puts a known message in routemat_last_error() (a refused setter) so that a
// failure after it must write a message of its own.
constexpr int sentinel_kernel = 0x5EED;
std::string sentinel_message;

void arm_sentinel() {
  const routemat_status s =
      routemat_set_plan_kernel(static_cast<routemat_plan_kernel>(sentinel_kernel));
  FUZZ_CHECK(s == ROUTEMAT_ERROR_INVALID_ARGUMENT,
             "routemat_set_plan_kernel(%d) returned %d, want INVALID_ARGUMENT", sentinel_kernel, s);
  if (sentinel_message.empty()) sentinel_message = routemat_last_error();
  FUZZ_CHECK(!sentinel_message.empty() && sentinel_message == routemat_last_error(),
             "routemat_set_plan_kernel(%d) left no stable message", sentinel_kernel);
}

std::string status_list(unsigned allowed) {
  std::string s;
  for (int k = 0; k < 32; ++k)
    if (allowed & (1u << k))
      s += std::string(s.empty() ? "" : " | ") +
           routemat_status_name(static_cast<routemat_status>(k));
  return s.empty() ? "OK" : s;
}

// A refused call: a status of an allowed kind and a fresh, non-empty message
// ("" if so, else what is wrong).
std::string check_refused(routemat_status s, unsigned allowed, const char* what) {
  if (s == ROUTEMAT_OK)
    return format("%s returned OK; want %s", what, status_list(allowed).c_str());
  if (static_cast<unsigned>(s) >= 32 || !(allowed & status_bit(s)))
    return format("%s returned %d (%s); want %s (message: %s)", what, s, routemat_status_name(s),
                  status_list(allowed).c_str(), routemat_last_error());
  const char* msg = routemat_last_error();
  if (msg == nullptr || msg[0] == '\0')
    return format("%s returned %s with an empty routemat_last_error()", what,
                  routemat_status_name(s));
  if (sentinel_message == msg)
    return format("%s returned %s but left a stale routemat_last_error(): %s", what,
                  routemat_status_name(s), msg);
  return "";
}

void expect_refused(routemat_status s, unsigned allowed, const char* what) {
  const std::string problem = check_refused(s, allowed, what);
  FUZZ_CHECK(problem.empty(), "%s", problem.c_str());
}

// ---------------------------------------------------------------------------
// Host parallel-for: runs every shard, in reverse order, on the caller.

struct host_pool {
  std::int64_t calls = 0;
};
void reverse_parallel_for(void* pool, routemat_task task, void* context, std::int64_t shards) {
  ++static_cast<host_pool*>(pool)->calls;
  for (std::int64_t s = shards - 1; s >= 0; --s) task(context, s);
}

// ---------------------------------------------------------------------------
// The scalar reference, on byte images of the buffers.

template <class T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <class T>
void store(unsigned char* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

__attribute__((no_sanitize("coverage"))) std::int64_t index_at(const unsigned char* idx, bool idx64,
                                                               std::int64_t i) {
  return idx64 ? load<std::int64_t>(idx + 8 * i) : load<std::int32_t>(idx + 4 * i);
}

// Gathers: dst[i,:] = idx[i] == -1 ? +0 : src[idx[i],:] (bytes copied).
// Sums: dst (overwrite: its rows zeroed first) += src rows in row order.
template <class T>
FUZZ_BULK void reference(int op, const unsigned char* idx, bool idx64, std::int64_t m,
                         std::int64_t n, const unsigned char* src, std::int64_t ss,
                         unsigned char* dst, std::int64_t ds, std::int64_t d) {
  constexpr std::int64_t es = sizeof(T);
  if (gathers(op)) {
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t j = index_at(idx, idx64, i);
      unsigned char* out = dst + i * ds * es;
      if (j == -1) {
        for (std::int64_t k = 0; k < d; ++k) store<T>(out + k * es, T(0));
      } else {
        std::memcpy(out, src + j * ss * es, static_cast<std::size_t>(d * es));
      }
    }
    return;
  }
  if (overwrites_sum(op))
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t k = 0; k < d; ++k) store<T>(dst + (j * ds + k) * es, T(0));
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int64_t j = index_at(idx, idx64, i);
    if (j == -1) continue;
    for (std::int64_t k = 0; k < d; ++k) {
      unsigned char* o = dst + (j * ds + k) * es;
      const T sum = load<T>(o) + load<T>(src + (i * ss + k) * es);
      store<T>(o, sum);
    }
  }
}

// 16-bit rows (bf16, f16): gathers copy bits; sums widen to f32 and round to
// nearest even when storing. push: each routed row's update of a dst element
// is rounded as it is stored (routemat_scatter_add, ROUTEMAT_PLAN_PUSH);
// otherwise (the pull) each dst element's sources are summed in f32 in row
// order onto widen(dst) (or 0 for an overwrite) and rounded once, and a dst
// row with no source is not touched by an accumulate.
__attribute__((no_sanitize("coverage"))) float widen16(bool f16, std::uint16_t h) {
  return f16 ? routemat_f16_to_f32(h) : routemat_bf16_to_f32(h);
}
__attribute__((no_sanitize("coverage"))) std::uint16_t narrow16(bool f16, float x) {
  return f16 ? routemat_f32_to_f16(x) : routemat_f32_to_bf16(x);
}

FUZZ_BULK void reference_half(int op, bool push, bool f16, const unsigned char* idx, bool idx64,
                              std::int64_t m, std::int64_t n, const unsigned char* src,
                              std::int64_t ss, unsigned char* dst, std::int64_t ds,
                              std::int64_t d) {
  if (gathers(op)) {
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t j = index_at(idx, idx64, i);
      unsigned char* out = dst + i * ds * 2;
      if (j == -1) {
        std::memset(out, 0, static_cast<std::size_t>(d * 2));
      } else {
        std::memcpy(out, src + j * ss * 2, static_cast<std::size_t>(d * 2));
      }
    }
    return;
  }
  const bool overwrite = overwrites_sum(op);
  if (push) {
    if (overwrite)
      for (std::int64_t j = 0; j < n; ++j) std::memset(dst + j * ds * 2, 0, d * 2);
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t j = index_at(idx, idx64, i);
      if (j == -1) continue;
      for (std::int64_t k = 0; k < d; ++k) {
        unsigned char* o = dst + (j * ds + k) * 2;
        const float sum = widen16(f16, load<std::uint16_t>(o)) +
                          widen16(f16, load<std::uint16_t>(src + (i * ss + k) * 2));
        store<std::uint16_t>(o, narrow16(f16, sum));
      }
    }
    return;
  }
  // The pull: f32 sums of every destination element, rounded once.
  std::vector<std::vector<std::int64_t>> sources(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int64_t j = index_at(idx, idx64, i);
    if (j != -1) sources[static_cast<std::size_t>(j)].push_back(i);
  }
  for (std::int64_t j = 0; j < n; ++j) {
    const auto& from = sources[static_cast<std::size_t>(j)];
    if (from.empty() && !overwrite) continue;
    for (std::int64_t k = 0; k < d; ++k) {
      unsigned char* o = dst + (j * ds + k) * 2;
      float acc = overwrite ? 0.0f : widen16(f16, load<std::uint16_t>(o));
      for (const std::int64_t i : from)
        acc += widen16(f16, load<std::uint16_t>(src + (i * ss + k) * 2));
      store<std::uint16_t>(o, narrow16(f16, acc));
    }
  }
}

// An element of any value type, as a double.
__attribute__((no_sanitize("coverage"))) double value_at(std::int32_t type,
                                                         const unsigned char* p) {
  switch (type) {
    case ROUTEMAT_F64: return load<double>(p);
    case ROUTEMAT_BF16: return widen16(false, load<std::uint16_t>(p));
    case ROUTEMAT_F16: return widen16(true, load<std::uint16_t>(p));
    default: return load<float>(p);
  }
}

// ---------------------------------------------------------------------------
// One input.

struct facts_ref {
  std::int64_t dropped = 0, max_fan_in = 0, empty_cols = 0, kept = 0;
  bool identity = false, permutation = false, sorted = true;
};

FUZZ_BULK facts_ref reference_facts(const unsigned char* idx, bool idx64, std::int64_t m,
                                    std::int64_t n) {
  facts_ref f;
  std::vector<std::int64_t> fan(static_cast<std::size_t>(n), 0);
  f.identity = m == n;
  std::int64_t last = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int64_t j = index_at(idx, idx64, i);
    f.identity &= j == i;
    if (j == -1) {
      ++f.dropped;
      continue;
    }
    ++fan[static_cast<std::size_t>(j)];
    f.sorted &= j >= last;
    last = j;
  }
  for (const std::int64_t c : fan) {
    f.max_fan_in = c > f.max_fan_in ? c : f.max_fan_in;
    f.empty_cols += c == 0;
  }
  f.kept = m - f.dropped;
  f.identity &= f.dropped == 0;
  f.permutation = m == n && f.dropped == 0 && f.max_fan_in <= 1;
  return f;
}

std::string describe(const fuzz_case& c) {
  std::string s =
      format("op=%s m=%" PRId64 " n=%" PRId64 " d=%" PRId64
             " %s %s drop=%d big=%d via_plan_map=%d "
             "src_stride=d+%" PRId64 " dst_stride=d+%" PRId64
             " pattern=%d seed=%u values=%d "
             "leads=%d/%d/%d faults=%s,%s param=%u arena=%d offsets=%d/%d/%d misc=0x%02x "
             "plan_kernel=%d stream=%d threads=%d patches=%zu",
             op_names[c.op], c.m, c.n, c.d, c.idx64 ? "int64" : "int32", type_name(c.vtype), c.drop,
             c.big, c.via_plan_map, c.src_extra, c.dst_extra, c.pattern, c.seed, c.value_mode,
             c.src_lead, c.dst_lead, c.idx_lead, fault_names[c.faults[0]], fault_names[c.faults[1]],
             c.fault_param, c.arena, c.arena_offsets[0], c.arena_offsets[1], c.arena_offsets[2],
             c.misc, c.plan_kernel_mode, c.stream_mode, c.thread_mode, c.patches.size());
  if (is_bag_op(c.op))
    s += format(" bags: %s%s %s%s%s%s%s count=%u fault=%s param=%u pattern=%u",
                c.bag_fixed ? "fixed" : "offsets", c.bag_fixed ? "" : (c.bag_off64 ? "64" : "32"),
                c.bag_mean ? "mean" : "sum", c.bag_weighted ? " weighted" : "",
                c.bag_no_du ? " no-du" : "", c.bag_no_dw ? " no-dw" : "", c.bag_no_u ? " no-u" : "",
                c.bag_count_raw, bag_fault_names[c.bag_fault], c.bag_param, c.bag_pattern);
  for (std::size_t k = 0; k < c.patches.size() && k < 8; ++k)
    s += format(" [row %u kind %u]", c.patches[k].first, c.patches[k].second % 16);
  return s;
}

// An element judged within a tolerance: |got - ref| <= tol; any: not judged
// (non-finite inputs, or magnitudes where the library's type may overflow);
// a NaN ref wants a NaN, an infinite one the same infinity.
struct tol_check {
  int buf;
  std::size_t at;
  std::int32_t type;
  double ref, tol;
  bool any;
};

constexpr int nbufs = 8;

class runner {
 public:
  explicit runner(const fuzz_case& c) : c_(c), r_{0x243F6A8885A308D3ull ^ c.seed} {}
  void run();
  ~runner() { cleanup(); }

 private:
  void apply_settings();
  void restore_settings();
  void misc_checks_before();
  void misc_checks_with_map(const routemat_map* map);
  void setup_views();
  void layout();
  bool map_stage();
  void plan_stage();
  void op_stage();
  routemat_status call_op(const routemat_rows* src, const routemat_rows* dst);
  void reset_buffers();
  std::string compare_buffers(const char* isa, bool lenient_dst,
                              const std::vector<unsigned char>* expected);
  std::string untouched(const char* what, routemat_status s);
  // Bag operations.
  void bag_setup();
  void bag_layout();
  bool bags_stage();
  void bag_op_stage();
  // What both bag references read: the initial indices, rows (u or dy) and
  // weights, and the bags' offsets, the bag of each route, the kept routes.
  struct bag_reference_inputs {
    const unsigned char* idx;
    const unsigned char* rows;
    const unsigned char* weights;
    std::vector<std::int64_t> offsets, bag_of, kept;
  };
  bag_reference_inputs reference_inputs() const;
  // The routemat_rows of a declared view over the current buffers.
  routemat_rows rows_of(const view_decl& v) {
    return {v.null_data ? nullptr : bufs_[v.buf].data() + v.offset, v.rows, v.width, v.stride,
            static_cast<routemat_value_type>(v.type)};
  }
  void bag_forward_reference();
  void bag_backward_reference(bool with_du, bool with_dw);
  void cleanup() {
    if (bags_ != nullptr) routemat_bags_destroy(bags_);
    if (other_plan_ != nullptr) routemat_plan_destroy(other_plan_);
    if (other_map_ != nullptr) routemat_map_destroy(other_map_);
    if (plan_ != nullptr) routemat_plan_destroy(plan_);
    if (map_ != nullptr) routemat_map_destroy(map_);
    bags_ = nullptr;
    other_plan_ = nullptr;
    other_map_ = nullptr;
    plan_ = nullptr;
    map_ = nullptr;
  }

  const fuzz_case& c_;
  rng r_;
  std::int32_t value_type_ = ROUTEMAT_F32;
  std::vector<std::int64_t> indices_;
  view_decl src_{"src"}, dst_{"dst"};
  // Index storage.
  int idx_buf_ = 2;
  std::size_t idx_offset_ = 0, idx_bytes_ = 0;
  // 0 src, 1 dst, 2 indices, 3 arena; bag operations: 4 u (backward), 5
  // weights, 6 dw, 7 offsets.
  buffer bufs_[nbufs];
  std::vector<unsigned char> initial_[nbufs], expected_[nbufs];
  // The pull's result of a 16-bit sum whose kernel AUTO picks (either is right).
  std::vector<unsigned char> expected_pull_[nbufs];
  bool have_pull_ = false;
  // Elements judged within a tolerance instead of exactly (bag operations).
  std::vector<tol_check> tols_;
  routemat_map* map_ = nullptr;
  routemat_plan* plan_ = nullptr;
  // Bags.
  routemat_bags* bags_ = nullptr;
  routemat_map* other_map_ = nullptr;
  routemat_plan* other_plan_ = nullptr;
  std::vector<std::int64_t> other_indices_;
  std::int64_t bag_count_ = 0;         // B, as the bags object must report it
  std::int64_t bag_size_ = 1;          // as passed to routemat_bags_create_fixed
  std::int64_t bags_arg_ = 0;          // as passed to routemat_bags_create
  std::vector<std::int64_t> offsets_;  // as stored (int32: truncated)
  view_decl u_{"u"};                   // backward: u, n rows
  struct place {
    int buf = -1;
    std::size_t offset = 0;
    bool null = true;
  } weights_, dw_;
  std::int64_t weight_count_ = 0, dw_count_ = 0;
  host_pool host_;
  bool changed_kernel_ = false, changed_stream_ = false, changed_threads_ = false,
       changed_host_ = false;
  std::string outcome_;
};

void runner::apply_settings() {
  static const routemat_plan_kernel kernels[] = {ROUTEMAT_PLAN_AUTO, ROUTEMAT_PLAN_AUTO,
                                                 ROUTEMAT_PLAN_PULL, ROUTEMAT_PLAN_PUSH};
  if (c_.plan_kernel_mode != 0) {
    FUZZ_CHECK(routemat_set_plan_kernel(kernels[c_.plan_kernel_mode]) == ROUTEMAT_OK,
               "routemat_set_plan_kernel(%d) failed", kernels[c_.plan_kernel_mode]);
    FUZZ_CHECK(routemat_get_plan_kernel() == kernels[c_.plan_kernel_mode],
               "routemat_get_plan_kernel() does not return the kernel just set");
    changed_kernel_ = true;
  }
  static const std::int64_t thresholds[] = {0, 0, -1, 4096};
  if (c_.stream_mode != 0) {
    FUZZ_CHECK(routemat_set_stream_threshold(thresholds[c_.stream_mode]) == ROUTEMAT_OK,
               "routemat_set_stream_threshold failed");
    FUZZ_CHECK(routemat_get_stream_threshold() == thresholds[c_.stream_mode],
               "routemat_get_stream_threshold() does not return the threshold just set");
    changed_stream_ = true;
  }
  if (c_.thread_mode == 1 || c_.thread_mode == 2) {
    FUZZ_CHECK(routemat_set_num_threads(c_.thread_mode) == ROUTEMAT_OK,
               "routemat_set_num_threads(%d) failed", c_.thread_mode);
    FUZZ_CHECK(routemat_get_num_threads() == c_.thread_mode,
               "routemat_get_num_threads() = %d after routemat_set_num_threads(%d)",
               routemat_get_num_threads(), c_.thread_mode);
    changed_threads_ = true;
  } else if (c_.thread_mode == 3) {
    FUZZ_CHECK(routemat_set_parallel_for(reverse_parallel_for, &host_, 3) == ROUTEMAT_OK,
               "routemat_set_parallel_for failed");
    FUZZ_CHECK(routemat_get_num_threads() == 3, "routemat_get_num_threads() = %d with a host of 3",
               routemat_get_num_threads());
    changed_host_ = true;
  }
}

void runner::restore_settings() {
  const defaults& def = the_defaults();
  FUZZ_CHECK(routemat_select_isa(def.isa) == ROUTEMAT_OK, "cannot restore the default ISA");
  if (changed_kernel_) routemat_set_plan_kernel(ROUTEMAT_PLAN_AUTO);
  if (changed_stream_) routemat_set_stream_threshold(def.stream_threshold);
  if (changed_threads_) routemat_set_num_threads(0);
  if (changed_host_) routemat_set_parallel_for(nullptr, nullptr, 1);
  routemat_isa isa = ROUTEMAT_ISA_SCALAR;
  FUZZ_CHECK(routemat_active_isa(&isa) == ROUTEMAT_OK && isa == def.isa, "ISA not restored");
  FUZZ_CHECK(routemat_get_plan_kernel() == ROUTEMAT_PLAN_AUTO, "plan kernel not restored");
  FUZZ_CHECK(routemat_get_stream_threshold() == def.stream_threshold,
             "stream threshold not restored");
  FUZZ_CHECK(routemat_get_num_threads() == def.threads, "thread count not restored (%d, want %d)",
             routemat_get_num_threads(), def.threads);
}

// Setters and getters refusing bad values and keeping their state.
void runner::misc_checks_before() {
  const std::uint8_t m = c_.misc;
  const std::uint8_t p = c_.fault_param;
  if (m & 1) {
    const routemat_plan_kernel before = routemat_get_plan_kernel();
    static const int bad[] = {3, -1, INT32_MIN, INT32_MAX, 0x100};
    const auto k = static_cast<routemat_plan_kernel>(bad[p % 5]);
    arm_sentinel();
    expect_refused(routemat_set_plan_kernel(k), status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT),
                   "routemat_set_plan_kernel(bad)");
    FUZZ_CHECK(routemat_get_plan_kernel() == before, "a refused plan kernel changed the setting");
  }
  if (m & 2) {
    routemat_isa before = ROUTEMAT_ISA_SCALAR, after = ROUTEMAT_ISA_SCALAR;
    routemat_active_isa(&before);
    static const std::int32_t bad[] = {5, -1, INT32_MIN, INT32_MAX, 99};
    const std::int32_t value = bad[p % 5];
    arm_sentinel();
    expect_refused(routemat_fuzz_select_isa(value), status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT),
                   "routemat_select_isa(unknown)");
    routemat_active_isa(&after);
    FUZZ_CHECK(after == before, "a refused ISA changed the active ISA");
  }
  if (m & 4) {
    for (int i = 0; i <= ROUTEMAT_ISA_NEON; ++i) {
      const auto isa = static_cast<routemat_isa>(i);
      if (routemat_isa_supported(isa)) continue;
      routemat_isa before = ROUTEMAT_ISA_SCALAR, after = ROUTEMAT_ISA_SCALAR;
      routemat_active_isa(&before);
      arm_sentinel();
      expect_refused(routemat_select_isa(isa), status_bit(ROUTEMAT_ERROR_UNSUPPORTED_ISA),
                     "routemat_select_isa(unsupported)");
      routemat_active_isa(&after);
      FUZZ_CHECK(after == before, "a refused ISA changed the active ISA");
    }
  }
  if (m & 8) {
    const std::int32_t before = routemat_get_num_threads();
    static const int bad[] = {-1, INT32_MIN, -2};
    arm_sentinel();
    expect_refused(routemat_set_num_threads(bad[p % 3]),
                   status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT),
                   "routemat_set_num_threads(negative)");
    FUZZ_CHECK(routemat_get_num_threads() == before, "a refused thread count changed the setting");
  }
  if (m & 16) {
    const std::int32_t before = routemat_get_num_threads();
    static const int bad[] = {0, -1, INT32_MIN};
    arm_sentinel();
    expect_refused(routemat_set_parallel_for(reverse_parallel_for, &host_, bad[p % 3]),
                   status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT),
                   "routemat_set_parallel_for(threads < 1)");
    FUZZ_CHECK(routemat_get_num_threads() == before, "a refused parallel-for changed the backend");
  }
  if (m & 64) {
    static const std::int32_t bad[] = {5, 7, -1, INT32_MIN, INT32_MAX};
    for (int k = 0; k < 5; ++k) {
      FUZZ_CHECK(routemat_fuzz_isa_name(bad[k]) == nullptr, "routemat_isa_name(%d) is not NULL",
                 bad[k]);
      FUZZ_CHECK(routemat_fuzz_isa_supported(bad[k]) == 0, "routemat_isa_supported(%d) is not 0",
                 bad[k]);
    }
    const char* name = routemat_status_name(static_cast<routemat_status>(bad[p % 5]));
    FUZZ_CHECK(name != nullptr && name[0] != '\0', "routemat_status_name(bad) is empty");
    routemat_map_destroy(nullptr);
    routemat_plan_destroy(nullptr);
    FUZZ_CHECK(routemat_map_rows(nullptr) == 0 && routemat_map_cols(nullptr) == 0 &&
                   routemat_map_dropped_rows(nullptr) == 0 && routemat_plan_map(nullptr) == nullptr,
               "a NULL map or plan is not reported as empty");
  }
  if (m & 128) {
    arm_sentinel();
    expect_refused(routemat_active_isa(nullptr), status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT),
                   "routemat_active_isa(NULL)");
  }
}

void runner::misc_checks_with_map(const routemat_map* map) {
  if (!(c_.misc & 32)) return;
  routemat_plan* const sentinel = reinterpret_cast<routemat_plan*>(std::uintptr_t{0x5EED0});
  routemat_plan* out = sentinel;
  arm_sentinel();
  expect_refused(routemat_plan_create(&out, nullptr), status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT),
                 "routemat_plan_create(&out, NULL)");
  FUZZ_CHECK(out == sentinel, "a refused routemat_plan_create wrote *out");
  arm_sentinel();
  expect_refused(routemat_plan_create(nullptr, map), status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT),
                 "routemat_plan_create(NULL, map)");
  routemat_plan_facts facts, before;
  std::memset(&facts, 0xA5, sizeof facts);
  before = facts;
  arm_sentinel();
  expect_refused(routemat_plan_get_facts(nullptr, &facts),
                 status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT), "routemat_plan_get_facts(NULL, ...)");
  FUZZ_CHECK(std::memcmp(&facts, &before, sizeof facts) == 0,
             "a refused routemat_plan_get_facts wrote *out");
  if (plan_ != nullptr) {
    arm_sentinel();
    expect_refused(routemat_plan_get_facts(plan_, nullptr),
                   status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT),
                   "routemat_plan_get_facts(plan, NULL)");
  }
  // A map refused for one bad index never leaves a map behind.
  if (c_.n > 0 && c_.m > 0) {
    std::vector<std::int32_t> bad(static_cast<std::size_t>(c_.m), 0);
    bad[static_cast<std::size_t>(c_.m - 1)] = static_cast<std::int32_t>(c_.n);
    routemat_map* const map_sentinel = reinterpret_cast<routemat_map*>(std::uintptr_t{0x5EED8});
    routemat_map* mout = map_sentinel;
    arm_sentinel();
    expect_refused(routemat_map_create(&mout, c_.m, c_.n, bad.data(), ROUTEMAT_INT32, 0),
                   status_bit(ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE),
                   "routemat_map_create(last index n)");
    FUZZ_CHECK(mout == map_sentinel, "a refused routemat_map_create wrote *out");
  }
}

// Declared views, before the faults that change them.
void runner::setup_views() {
  value_type_ = c_.vtype;
  std::int64_t in_rows = gathers(c_.op) ? c_.n : c_.m;
  std::int64_t out_rows = gathers(c_.op) ? c_.m : c_.n;
  if (is_bag_op(c_.op)) {  // forward: u (n rows) -> y (B rows); backward: dy (B) -> du (n)
    bag_setup();
    in_rows = c_.op == op_bag_forward ? c_.n : bag_count_;
    out_rows = c_.op == op_bag_forward ? bag_count_ : c_.n;
  }
  src_.type = dst_.type = value_type_;
  src_.rows = src_.expected_rows = in_rows;
  dst_.rows = dst_.expected_rows = out_rows;
  src_.width = dst_.width = c_.d;
  src_.stride = c_.d + c_.src_extra;
  dst_.stride = c_.d + c_.dst_extra;

  const std::uint8_t p = c_.fault_param;
  static const std::int32_t bad_types[] = {4, -1, INT32_MIN, INT32_MAX};
  static const std::int64_t huge[] = {INT64_MAX, std::int64_t{1} << 62, (std::int64_t{1} << 62) + 1,
                                      INT64_MAX - 7};
  for (int k = 0; k < 2; ++k) {
    const int f = c_.faults[k];
    const bool on_src = f % 2 == 0;  // the src / dst fault pairs start on even numbers
    view_decl& v = on_src ? src_ : dst_;
    switch (f) {
      case fault_src_view_null: src_.pass_null = true; break;
      case fault_dst_view_null: dst_.pass_null = true; break;
      case fault_src_type:
      case fault_dst_type: v.type = bad_types[p % 4]; break;
      case fault_src_rows_negative:
      case fault_dst_rows_negative: {
        const std::int64_t bad[] = {-1, -2, INT64_MIN, -v.expected_rows - 1};
        v.rows = bad[p % 4];
        break;
      }
      case fault_src_rows_wrong:
      case fault_dst_rows_wrong: {
        const std::int64_t e = v.expected_rows;
        const std::int64_t bad[] = {e + 1, e > 0 ? e - 1 : e + 2, e + 1 + p % 61, e > 0 ? 0 : 3};
        v.rows = bad[(p >> 2) % 4];
        break;
      }
      case fault_src_width:
      case fault_dst_width: {
        const std::int64_t bad[] = {0, -1, INT64_MIN, -c_.d};
        v.width = bad[p % 4];
        break;
      }
      case fault_src_stride_short:
      case fault_dst_stride_short: {
        // Wrapping: an earlier fault may have left INT64_MIN here.
        const std::int64_t bad[] = {wrap_add(v.width, -1), 0, -1, INT64_MIN, wrap_neg(v.stride)};
        v.stride = bad[p % 5];
        break;
      }
      case fault_src_data_null:
      case fault_dst_data_null: v.null_data = true; break;
      case fault_src_stride_huge:
      case fault_dst_stride_huge: v.stride = huge[p % 4]; break;
      case fault_type_mismatch:  // the other type of the same size class, or (param bit 7)
        // the one of the other size (f32 <-> bf16, f64 <-> f16)
        dst_.type = value_type_ ^ ((p & 0x80) ? 2 : 1);
        break;
      case fault_width_mismatch:
        dst_.width = (p & 1) && c_.d > 1 ? c_.d - 1 : c_.d + 1 + p % 8;
        dst_.stride = dst_.width + c_.dst_extra;
        break;
      case fault_huge_width: {
        const std::int64_t w = huge[p % 3];
        src_.width = src_.stride = dst_.width = dst_.stride = w;
        break;
      }
      default: break;
    }
  }
}

// Allocates the buffers (exact extents) and places src, dst and the indices
// in them, in one arena for the views and indices that share one.
void runner::layout() {
  const std::size_t idx_es = c_.idx64 ? 8 : 4;
  idx_bytes_ = static_cast<std::size_t>(c_.m) * idx_es;
  view_decl* views[2] = {&src_, &dst_};
  for (view_decl* v : views) {
    std::int64_t bytes = 0;
    v->well_formed = v->type_valid() && v->rows >= 0 && v->width >= 1 && v->stride >= v->width &&
                     span_bytes(v->rows, v->width, v->stride, v->es(), &bytes);
    if (v->well_formed) {
      FUZZ_CHECK(bytes <= (std::int64_t{256} << 20), "fuzzer bug: a %s of %" PRId64 " bytes",
                 v->name, bytes);
      v->bytes = static_cast<std::size_t>(bytes);
    } else {  // refused anyway: room for the rows the map needs, at width d
      std::int64_t fallback = 0;
      span_bytes(v->expected_rows, c_.d, c_.d, 8, &fallback);
      v->bytes = static_cast<std::size_t>(fallback);
    }
  }
  // Arena: only views with a pointer to place.
  const bool in_arena[3] = {(c_.arena & 1) && !src_.pass_null && !src_.null_data,
                            (c_.arena & 2) && !dst_.pass_null && !dst_.null_data,
                            (c_.arena & 4) != 0 && !c_.has(fault_map_indices_null)};
  const std::size_t sizes[3] = {src_.bytes, dst_.bytes, idx_bytes_};
  const int arena_members = in_arena[0] + in_arena[1] + in_arena[2];
  std::size_t offsets[3] = {0, 0, 0};
  if (arena_members >= 2) {
    std::size_t unit = idx_es;
    if (src_.type_valid() && static_cast<std::size_t>(src_.es()) > unit) unit = src_.es();
    if (dst_.type_valid() && static_cast<std::size_t>(dst_.es()) > unit) unit = dst_.es();
    std::size_t largest = 0;
    for (int k = 0; k < 3; ++k)
      if (in_arena[k] && sizes[k] > largest) largest = sizes[k];
    const std::int64_t range = static_cast<std::int64_t>(largest / unit) + 2;
    std::int64_t at[3] = {0, 0, 0}, lowest = INT64_MAX;
    for (int k = 0; k < 3; ++k) {
      if (!in_arena[k]) continue;
      std::int64_t o = c_.arena_offsets[k] % (2 * range + 1);
      if (o > range) o -= 2 * range + 1;
      if (o < -range) o += 2 * range + 1;
      at[k] = o;
      lowest = o < lowest ? o : lowest;
    }
    std::size_t total = 0;
    for (int k = 0; k < 3; ++k) {
      if (!in_arena[k]) continue;
      offsets[k] = static_cast<std::size_t>(at[k] - lowest) * unit;
      total = offsets[k] + sizes[k] > total ? offsets[k] + sizes[k] : total;
    }
    bufs_[3].allocate(static_cast<std::size_t>(c_.src_lead) * unit, total);
  }
  const bool arena_used = arena_members >= 2;
  auto place_view = [&](view_decl& v, int own, int member, int lead) {
    if (arena_used && in_arena[member]) {
      v.buf = 3;
      v.offset = offsets[member];
    } else {
      v.buf = own;
      v.offset = 0;
      bufs_[own].allocate(static_cast<std::size_t>(lead) * (v.type_valid() ? v.es() : 4), v.bytes);
    }
  };
  place_view(src_, 0, 0, c_.src_lead);
  place_view(dst_, 1, 1, c_.dst_lead);
  if (arena_used && in_arena[2]) {
    idx_buf_ = 3;
    idx_offset_ = offsets[2];
  } else {
    idx_buf_ = 2;
    idx_offset_ = 0;
    bufs_[2].allocate(static_cast<std::size_t>(c_.idx_lead) * idx_es, idx_bytes_);
  }

  // Contents: values everywhere (the arena as src's type), then the indices.
  if (bufs_[3].allocated())
    fill_values(bufs_[3].data(), bufs_[3].size(), src_.type, c_.value_mode, r_);
  if (bufs_[0].allocated())
    fill_values(bufs_[0].data(), bufs_[0].size(), src_.type, c_.value_mode, r_);
  if (bufs_[1].allocated())
    fill_values(bufs_[1].data(), bufs_[1].size(), dst_.type, c_.value_mode, r_);
  store_indices(indices_, c_.idx64, bufs_[idx_buf_].data() + idx_offset_);
  if (is_bag_op(c_.op)) bag_layout();
  for (int b = 0; b < nbufs; ++b) {
    initial_[b].assign(bufs_[b].data(), bufs_[b].data() + bufs_[b].size());
    expected_[b] = initial_[b];
  }
}

// Creates the map (or checks that a bad one is refused); false ends the input.
bool runner::map_stage() {
  std::int64_t rows = c_.m, cols = c_.n;
  std::int32_t type = c_.idx64 ? ROUTEMAT_INT64 : ROUTEMAT_INT32;
  std::uint32_t flags = c_.drop ? ROUTEMAT_ALLOW_DROP : 0;
  const void* indices = bufs_[idx_buf_].data() + idx_offset_;
  bool out_null = false;
  unsigned allowed = 0;
  const std::uint8_t p = c_.fault_param;
  const std::int64_t index_size = c_.idx64 ? 8 : 4;
  for (const int f : c_.faults) {
    switch (f) {
      case fault_map_out_null: out_null = true; break;
      case fault_map_rows_negative: {
        const std::int64_t bad[] = {-1, -c_.m - 1, INT64_MIN, -2};
        rows = bad[p % 4];
        break;
      }
      case fault_map_cols_negative: {
        const std::int64_t bad[] = {-1, -c_.n - 1, INT64_MIN, -2};
        cols = bad[p % 4];
        break;
      }
      case fault_map_index_type: {
        const std::int32_t bad[] = {2, -1, INT32_MIN, INT32_MAX, 0x100};
        type = bad[p % 5];
        break;
      }
      case fault_map_flags: {
        const std::uint32_t bad[] = {2, 3, 0x80000000u, 0xFFFFFFFFu, 0x100};
        flags = bad[p % 5];
        break;
      }
      case fault_map_indices_null: indices = nullptr; break;
      case fault_map_rows_overflow: {
        const std::int64_t bad[] = {PTRDIFF_MAX / index_size + 1, INT64_MAX, std::int64_t{1} << 62};
        rows = bad[p % 3];
        break;
      }
      case fault_map_pointer_wrap:
        // 16 indices from 32 bytes below the top of the address space; never read.
        indices = reinterpret_cast<const void*>(~std::uintptr_t{0} - 31 - (p % 4) * 8);
        rows = 16;
        break;
      default: break;
    }
  }
  // What routemat_map_create must refuse, from the arguments as passed.
  const bool type_ok = type == ROUTEMAT_INT32 || type == ROUTEMAT_INT64;
  if (out_null) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  if (rows < 0 || cols < 0 || !type_ok || (flags & ~ROUTEMAT_ALLOW_DROP) != 0)
    allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  if (rows > 0 && indices == nullptr) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  if (rows > 0 && type_ok) {
    const auto size = static_cast<std::uint64_t>(type == ROUTEMAT_INT64 ? 8 : 4);
    const auto begin = reinterpret_cast<std::uintptr_t>(indices);
    if (static_cast<std::uint64_t>(rows) > PTRDIFF_MAX / size ||
        begin + static_cast<std::uintptr_t>(rows) * size < begin)
      allowed |= status_bit(ROUTEMAT_ERROR_OVERFLOW);
  }
  // The indices themselves: [0, n), or -1 with ROUTEMAT_ALLOW_DROP.
  std::int64_t dropped = 0;
  if (!indices_valid(indices_, c_.idx64, c_.n, c_.drop, &dropped))
    allowed |= status_bit(ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE);

  routemat_map* const sentinel = reinterpret_cast<routemat_map*>(std::uintptr_t{0x5EED8});
  routemat_map* out = sentinel;
  if (allowed != 0) arm_sentinel();
  const routemat_status s = routemat_map_create(out_null ? nullptr : &out, rows, cols, indices,
                                                static_cast<routemat_index_type>(type), flags);
  if (allowed != 0) {
    if (s == ROUTEMAT_OK && out != sentinel) map_ = out;  // destroyed in cleanup
    expect_refused(s, allowed, "routemat_map_create");
    FUZZ_CHECK(out == sentinel, "a refused routemat_map_create wrote *out");
    for (int b = 0; b < nbufs; ++b)
      FUZZ_CHECK(initial_[b].empty() ||
                     std::memcmp(bufs_[b].data(), initial_[b].data(), initial_[b].size()) == 0,
                 "a refused routemat_map_create wrote buffer %d", b);
    outcome_ = format("map refused: %s", routemat_status_name(s));
    return false;
  }
  FUZZ_CHECK(s == ROUTEMAT_OK, "routemat_map_create refused a valid map: %s: %s",
             routemat_status_name(s), routemat_last_error());
  FUZZ_CHECK(out != sentinel && out != nullptr, "routemat_map_create returned OK without a map");
  map_ = out;
  FUZZ_CHECK(routemat_map_rows(map_) == c_.m && routemat_map_cols(map_) == c_.n &&
                 routemat_map_dropped_rows(map_) == dropped,
             "map reports %" PRId64 " x %" PRId64 " with %" PRId64 " dropped, want %" PRId64
             " x %" PRId64 " with %" PRId64,
             routemat_map_rows(map_), routemat_map_cols(map_), routemat_map_dropped_rows(map_),
             c_.m, c_.n, dropped);
  return true;
}

void runner::plan_stage() {
  if (!uses_plan(c_.op) && !(c_.via_plan_map && c_.op == op_gather) && !(c_.misc & 32)) return;
  routemat_plan* out = nullptr;
  const routemat_status s = routemat_plan_create(&out, map_);
  FUZZ_CHECK(s == ROUTEMAT_OK && out != nullptr, "routemat_plan_create failed: %s: %s",
             routemat_status_name(s), routemat_last_error());
  plan_ = out;
  const routemat_map* pm = routemat_plan_map(plan_);
  FUZZ_CHECK(pm != nullptr && routemat_map_rows(pm) == c_.m && routemat_map_cols(pm) == c_.n &&
                 routemat_map_dropped_rows(pm) == routemat_map_dropped_rows(map_),
             "routemat_plan_map() does not describe the map");
  routemat_plan_facts f;
  FUZZ_CHECK(routemat_plan_get_facts(plan_, &f) == ROUTEMAT_OK, "routemat_plan_get_facts failed");
  const unsigned char* idx = bufs_[idx_buf_].data() + idx_offset_;
  const facts_ref want = reference_facts(idx, c_.idx64, c_.m, c_.n);
  FUZZ_CHECK(f.rows == c_.m && f.cols == c_.n && f.dropped_rows == want.dropped &&
                 f.max_fan_in == want.max_fan_in && f.empty_cols == want.empty_cols &&
                 (f.identity != 0) == want.identity && (f.permutation != 0) == want.permutation &&
                 (f.sorted != 0) == want.sorted && f.bytes >= 4 * (c_.n + 1 + want.kept),
             "plan facts: rows %" PRId64 " cols %" PRId64 " dropped %" PRId64 " max_fan_in %" PRId64
             " empty %" PRId64 " identity %d permutation %d sorted %d bytes %" PRId64
             "; want dropped %" PRId64 " max_fan_in %" PRId64 " empty %" PRId64
             " identity %d permutation %d sorted %d",
             f.rows, f.cols, f.dropped_rows, f.max_fan_in, f.empty_cols, f.identity, f.permutation,
             f.sorted, f.bytes, want.dropped, want.max_fan_in, want.empty_cols, want.identity,
             want.permutation, want.sorted);
}

routemat_status runner::call_op(const routemat_rows* src, const routemat_rows* dst) {
  const bool null_handle = c_.has(fault_null_map);
  const routemat_map* map = null_handle ? nullptr : map_;
  const routemat_plan* plan = null_handle ? nullptr : plan_;
  routemat_write mode = c_.op == op_plan_overwrite ? ROUTEMAT_OVERWRITE : ROUTEMAT_ACCUMULATE;
  if (c_.has(fault_write_mode)) {
    static const int bad[] = {2, -1, INT32_MIN, INT32_MAX, 3};
    mode = static_cast<routemat_write>(bad[c_.fault_param % 5]);
  }
  switch (c_.op) {
    case op_gather:
      return routemat_gather(c_.via_plan_map ? routemat_plan_map(plan) : map, src, dst);
    case op_scatter_add: return routemat_scatter_add(map, src, dst);
    case op_plan_accumulate:
    case op_plan_overwrite: return routemat_plan_scatter_add(plan, src, dst, mode);
    case op_sum_forward: return routemat_sum_forward(plan, src, dst);
    default: return routemat_sum_backward(plan, src, dst);
  }
}

void runner::reset_buffers() {
  for (int b = 0; b < nbufs; ++b)
    if (!initial_[b].empty()) std::memcpy(bufs_[b].data(), initial_[b].data(), initial_[b].size());
}

// Every buffer against its expected image; with lenient_dst, a dst element
// that is NaN in both may differ in its payload (sums only); the elements of
// tols_ are judged by their tolerance instead.
std::string runner::compare_buffers(const char* isa, bool lenient_dst,
                                    const std::vector<unsigned char>* expected) {
  std::string tol_problem;
  std::vector<unsigned char> seen[nbufs];
  for (const tol_check& t : tols_) {
    std::vector<unsigned char>& v = seen[t.buf];
    if (v.empty()) v.assign(bufs_[t.buf].data(), bufs_[t.buf].data() + bufs_[t.buf].size());
    const auto es = static_cast<std::size_t>(type_size(t.type));
    const double got = value_at(t.type, &v[t.at]);
    bool ok = t.any;
    if (!ok && std::isnan(t.ref)) {
      ok = std::isnan(got);
    } else if (!ok && std::isinf(t.ref)) {
      ok = got == t.ref;
    } else if (!ok) {
      ok = std::isfinite(got) && std::fabs(got - t.ref) <= t.tol;
    }
    if (ok) {
      std::memcpy(&v[t.at], &expected[t.buf][t.at], es);
    } else if (tol_problem.empty()) {
      tol_problem = format(
          "%s on %s: buffer %d byte %zu (element %zu of its %s): got %.17g, want "
          "%.17g within %.3g",
          op_names[c_.op], isa, t.buf, t.at, t.at / es, type_name(t.type), got, t.ref, t.tol);
    }
  }
  if (!tol_problem.empty()) return tol_problem;
  for (int b = 0; b < nbufs; ++b) {
    const std::size_t size = expected[b].size();
    if (size == 0) continue;
    if (seen[b].empty()) {
      if (std::memcmp(bufs_[b].data(), expected[b].data(), size) == 0) continue;
      seen[b].assign(bufs_[b].data(), bufs_[b].data() + size);
    } else if (std::memcmp(seen[b].data(), expected[b].data(), size) == 0) {
      continue;
    }
    const std::vector<unsigned char>& want = expected[b];
    const std::int64_t es = dst_.es();
    if (lenient_dst && dst_.buf == b) {
      for (std::int64_t i = 0; i < dst_.rows; ++i)
        for (std::int64_t k = 0; k < dst_.width; ++k) {
          const std::size_t at = dst_.offset + static_cast<std::size_t>((i * dst_.stride + k) * es);
          if (std::isnan(value_at(dst_.type, &seen[b][at])) &&
              std::isnan(value_at(dst_.type, &want[at])))
            std::memcpy(&seen[b][at], &want[at], static_cast<std::size_t>(es));
        }
      if (std::memcmp(seen[b].data(), want.data(), size) == 0) continue;
    }
    std::size_t at = 0;
    while (seen[b][at] == want[at]) ++at;
    std::string where = format("byte %zu of buffer %d", at, b);
    if (dst_.buf == b && at >= dst_.offset && dst_.stride > 0) {
      const std::size_t rel = (at - dst_.offset) / static_cast<std::size_t>(es);
      const std::int64_t row = static_cast<std::int64_t>(rel) / dst_.stride;
      const std::int64_t col = static_cast<std::int64_t>(rel) % dst_.stride;
      const std::size_t el = dst_.offset + rel * static_cast<std::size_t>(es);
      where += format(" = dst element (row %" PRId64 ", col %" PRId64 ")%s: got %.17g, want %.17g",
                      row, col, col >= dst_.width || row >= dst_.rows ? " [outside the rows]" : "",
                      value_at(dst_.type, &seen[b][el]), value_at(dst_.type, &want[el]));
    } else if (b == src_.buf) {
      where += " (src: an input was written)";
    } else if (b == idx_buf_) {
      where += " (the indices were written)";
    }
    return format("%s on %s: result differs from the reference at %s", op_names[c_.op], isa,
                  where.c_str());
  }
  return "";
}

// "" when every buffer still holds its initial bytes after a refused call.
std::string runner::untouched(const char* what, routemat_status s) {
  for (int b = 0; b < nbufs; ++b)
    if (!initial_[b].empty() &&
        std::memcmp(bufs_[b].data(), initial_[b].data(), initial_[b].size()) != 0)
      return format("%s was refused (%s) but wrote buffer %d", what, routemat_status_name(s), b);
  return "";
}

void runner::op_stage() {
  if (is_bag_op(c_.op)) {
    bag_op_stage();
    return;
  }
  // The statuses the call may return.
  unsigned allowed = view_faults(src_) | view_faults(dst_);
  if (c_.has(fault_null_map)) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  if ((c_.op == op_plan_accumulate || c_.op == op_plan_overwrite) && c_.has(fault_write_mode))
    allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  const bool both_ok = !src_.pass_null && !dst_.pass_null && src_.well_formed && dst_.well_formed &&
                       view_faults(src_) == 0 && view_faults(dst_) == 0;
  if (both_ok && src_.type != dst_.type) allowed |= status_bit(ROUTEMAT_ERROR_SHAPE_MISMATCH);
  if (both_ok && src_.width != dst_.width) allowed |= status_bit(ROUTEMAT_ERROR_SHAPE_MISMATCH);

  routemat_rows src{}, dst{};
  src = rows_of(src_);
  dst = rows_of(dst_);

  // Aliasing: a shared byte must be refused; disjoint extents, or equal row
  // pitches with disjoint columns, must be accepted; anything else may be
  // refused conservatively.
  bool alias_maybe = false;
  if (both_ok && allowed == 0) {
    const extent out = view_extent(dst_, static_cast<const unsigned char*>(dst.data));
    const unsigned char* idx_ptr =
        c_.has(fault_map_indices_null) ? nullptr : bufs_[idx_buf_].data() + idx_offset_;
    extent idx;
    idx.begin = reinterpret_cast<std::uintptr_t>(idx_ptr);
    idx.end = idx.begin + (idx_ptr != nullptr ? idx_bytes_ : 0);
    idx.pitch = idx.width = idx.end - idx.begin;
    const extent in = view_extent(src_, static_cast<const unsigned char*>(src.data));
    struct pair_check {
      const extent* other;
      bool is_view;
      const view_decl* view;
    } checks[2] = {{&in, true, &src_}, {&idx, false, nullptr}};
    for (const pair_check& pc : checks) {
      const extent& o = *pc.other;
      if (out.begin == out.end || o.begin == o.end || out.end <= o.begin || o.end <= out.begin)
        continue;  // disjoint extents
      if (share_a_byte(out, dst_.rows, o, pc.is_view ? pc.view->rows : 1)) {
        allowed |= status_bit(ROUTEMAT_ERROR_ALIASING);
      } else if (!residues_disjoint(out, o)) {
        alias_maybe = true;
      }
    }
  }

  // The expected result of a valid call.
  const bool valid = allowed == 0;
  if (valid) {
    const unsigned char* idx = bufs_[idx_buf_].data() + idx_offset_;
    const unsigned char* idx_image = idx_buf_ >= 0 && !initial_[idx_buf_].empty()
                                         ? initial_[idx_buf_].data() + idx_offset_
                                         : idx;
    const unsigned char* in =
        initial_[src_.buf].empty() ? nullptr : initial_[src_.buf].data() + src_.offset;
    unsigned char* out =
        expected_[dst_.buf].empty() ? nullptr : expected_[dst_.buf].data() + dst_.offset;
    if (value_type_ == ROUTEMAT_BF16 || value_type_ == ROUTEMAT_F16) {
      // The push for routemat_scatter_add and a forced PUSH, the pull for a
      // forced PULL; for AUTO (or untouched) either is right, so both are
      // computed (the pull into expected_pull_).
      const bool f16 = value_type_ == ROUTEMAT_F16;
      const bool auto_kernel = c_.plan_kernel_mode <= 1 && c_.op != op_scatter_add;
      const bool push = c_.op == op_scatter_add || c_.plan_kernel_mode == 3 || auto_kernel;
      reference_half(c_.op, push, f16, idx_image, c_.idx64, c_.m, c_.n, in, src_.stride, out,
                     dst_.stride, c_.d);
      if (auto_kernel && !gathers(c_.op)) {
        for (int b = 0; b < nbufs; ++b) expected_pull_[b] = initial_[b];
        unsigned char* alt = expected_pull_[dst_.buf].empty()
                                 ? nullptr
                                 : expected_pull_[dst_.buf].data() + dst_.offset;
        reference_half(c_.op, false, f16, idx_image, c_.idx64, c_.m, c_.n, in, src_.stride, alt,
                       dst_.stride, c_.d);
        have_pull_ = true;
      }
    } else if (c_.f64) {
      reference<double>(c_.op, idx_image, c_.idx64, c_.m, c_.n, in, src_.stride, out, dst_.stride,
                        c_.d);
    } else {
      reference<float>(c_.op, idx_image, c_.idx64, c_.m, c_.n, in, src_.stride, out, dst_.stride,
                       c_.d);
    }
  }

  // Every ISA runs, so that a failure names all the ISAs it affects.
  const defaults& def = the_defaults();
  int refused_as_alias = 0;
  std::string problems;
  for (const routemat_isa isa : def.isas) {
    FUZZ_CHECK(routemat_select_isa(isa) == ROUTEMAT_OK, "routemat_select_isa(%s) failed",
               routemat_isa_name(isa));
    reset_buffers();
    if (!valid) arm_sentinel();
    const routemat_status s =
        call_op(src_.pass_null ? nullptr : &src, dst_.pass_null ? nullptr : &dst);
    const std::string what = format("%s on %s", op_names[c_.op], routemat_isa_name(isa));
    std::string problem;
    if (!valid) {
      problem = check_refused(s, allowed, what.c_str());
      if (problem.empty()) problem = untouched(what.c_str(), s);
    } else if (alias_maybe && s == ROUTEMAT_ERROR_ALIASING) {  // conservative, nothing written
      ++refused_as_alias;
      problem = untouched(what.c_str(), s);
    } else if (s != ROUTEMAT_OK) {
      problem = format("%s refused a valid call: %s: %s", what.c_str(), routemat_status_name(s),
                       routemat_last_error());
    } else {
      problem = compare_buffers(routemat_isa_name(isa), !gathers(c_.op), expected_);
      if (!problem.empty() && have_pull_) {
        const std::string pull = compare_buffers(routemat_isa_name(isa), true, expected_pull_);
        if (pull.empty()) {
          problem.clear();
        } else {
          problem = "against the push: " + problem + "; against the pull: " + pull;
        }
      }
    }
    if (!problem.empty()) problems += "\n  " + problem;
  }
  FUZZ_CHECK(problems.empty(), "%s", problems.c_str());
  FUZZ_CHECK(refused_as_alias == 0 || refused_as_alias == static_cast<int>(def.isas.size()),
             "the aliasing check depends on the ISA");
  outcome_ = valid ? (refused_as_alias
                          ? "op: refused (conservative aliasing)"
                          : format("op: OK, equal to the reference on %zu ISAs", def.isas.size()))
                   : format("op: refused (%s)", status_list(allowed).c_str());
}

// ---------------------------------------------------------------------------
// Bag operations: routemat_bags_create / _create_fixed, routemat_bag_forward
// and routemat_bag_backward. src_ is u (forward) or dy (backward), dst_ is y
// (forward) or du (backward); the extra blocks are u (backward), weights, dw
// and the offsets.

// [begin, end) of a byte range that is not a rows view, as routemat sees it.
extent byte_extent(const unsigned char* p, std::size_t bytes) {
  extent e;
  e.begin = reinterpret_cast<std::uintptr_t>(p);
  e.end = e.begin + (p != nullptr ? bytes : 0);
  e.pitch = e.width = e.end - e.begin;
  return e;
}

// An output against an input: 0 disjoint, 1 sharing a byte (must be refused),
// 2 overlapping extents without a shared byte (may be refused).
int alias_class(const extent& out, std::int64_t out_rows, const extent& in, std::int64_t in_rows) {
  if (out.begin == out.end || in.begin == in.end || out.end <= in.begin || in.end <= out.begin)
    return 0;
  if (share_a_byte(out, out_rows, in, in_rows)) return 1;
  return residues_disjoint(out, in) ? 0 : 2;
}

void runner::bag_setup() {
  const std::int64_t m = c_.m;
  const std::uint8_t p = c_.bag_param;
  const std::uint16_t raw = c_.bag_count_raw;
  if (c_.bag_fixed) {
    std::int64_t k = 1 + (raw >> 2) % 8;
    if (raw % 4 == 1) {
      k = m > 0 ? m : 1;  // one bag
    } else if (raw % 4 != 0) {
      while (m % k != 0) --k;  // a divisor
    }
    if (c_.bag_fault == bf_bags_negative) {
      const std::int64_t bad[] = {0, -1, INT64_MIN, -m};
      k = bad[p % 4];
    } else if (c_.bag_fault == bf_bags_huge || c_.bag_fault == bf_fixed_size) {
      const std::int64_t bad[] = {m + 1, INT64_MAX, m > 2 ? m - 1 : 3, 2 * m + 3};
      k = bad[p % 4];
    }
    bag_size_ = k;
    bag_count_ = k >= 1 && m % k == 0 ? m / k : 0;
    return;
  }
  const std::int64_t B = raw % (m + 2);
  std::vector<std::int64_t> off(static_cast<std::size_t>(B + 1), 0);
  switch (c_.bag_pattern % 4) {
    case 0: {  // random cuts
      for (std::int64_t b = 1; b < B; ++b) off[b] = static_cast<std::int64_t>(r_.below(m + 1));
      if (B >= 2) std::sort(off.begin() + 1, off.begin() + B);
      break;
    }
    case 1:
      for (std::int64_t b = 1; b < B; ++b) off[b] = b * m / B;
      break;
    case 2: break;  // every route in the last bag
    default:
      for (std::int64_t b = 1; b < B; ++b) off[b] = b < m ? b : m;
      break;
  }
  off[B] = m;
  switch (c_.bag_fault) {
    case bf_offsets_first: {
      const std::int64_t bad[] = {1, -1, INT32_MIN, m > 0 ? m : 2};
      off[0] = bad[p % 4];
      break;
    }
    case bf_offsets_decrease:
      if (B >= 2) {
        const std::int64_t b = 1 + p % (B - 1);
        off[b] = (p & 0x80) ? off[b + 1] + 1 + p % 3 : off[b - 1] - 1 - p % 3;
      } else if (B == 1) {
        off[1] = -1;
      }
      break;
    case bf_offsets_last: {
      const std::int64_t bad[] = {m + 1, m - 1, INT64_MAX, m + (std::int64_t{1} << 32)};
      off[B] = bad[p % 4];
      break;
    }
    case bf_offsets_wide: off[p % (B + 1)] += std::int64_t{1} << 32; break;
    default: break;
  }
  for (auto& v : off)
    if (!c_.bag_off64) v = static_cast<std::int32_t>(v);  // as stored
  offsets_ = off;
  bags_arg_ = B;
  if (c_.bag_fault == bf_bags_negative) {
    const std::int64_t bad[] = {-1, INT64_MIN, -2, -B - 1};
    bags_arg_ = bad[p % 4];
  } else if (c_.bag_fault == bf_bags_huge) {
    const std::int64_t bad[] = {INT64_MAX, std::int64_t{1} << 62};
    bags_arg_ = bad[p % 2];
  }
  bag_count_ = B;
}

void runner::bag_layout() {
  const std::int64_t m = c_.m;
  const std::uint8_t p = c_.bag_param;
  const auto es = static_cast<std::size_t>(type_size(value_type_));
  const auto routes_bytes = static_cast<std::size_t>(m) * es;
  // Offsets, as their type stores them.
  if (!c_.bag_fixed) {
    const std::size_t oes = c_.bag_off64 ? 8 : 4;
    bufs_[7].allocate(0, offsets_.size() * oes);
    for (std::size_t b = 0; b < offsets_.size(); ++b) {
      if (c_.bag_off64) {
        store<std::int64_t>(bufs_[7].data() + 8 * b, offsets_[b]);
      } else {
        store<std::int32_t>(bufs_[7].data() + 4 * b, static_cast<std::int32_t>(offsets_[b]));
      }
    }
  }
  // Places `bytes` inside buffer `buf` from byte `from` on (shifted by
  // shift elements where it fits), aligned for the value type; false if it
  // does not fit.
  auto inside = [&](place& pl, int buf, std::size_t from, std::size_t shift, std::size_t bytes) {
    if (buf < 0 || !bufs_[buf].allocated() || bufs_[buf].data() == nullptr) return false;
    const std::size_t size = bufs_[buf].size();
    if (bytes > size || from > size) return false;
    std::size_t o = from + shift * es;
    if (o + bytes > size) o = size - bytes;
    o -= (reinterpret_cast<std::uintptr_t>(bufs_[buf].data()) + o) % es;
    if (o + bytes > size) return false;
    pl.buf = buf;
    pl.offset = o;
    pl.null = false;
    return true;
  };
  auto own = [&](place& pl, int buf, std::size_t bytes) {
    bufs_[buf].allocate(0, bytes);
    fill_values(bufs_[buf].data(), bytes, value_type_, c_.value_mode, r_);
    pl.buf = buf;
    pl.offset = 0;
    pl.null = bufs_[buf].data() == nullptr;
  };
  // Weights.
  const bool weights_given =
      (c_.bag_weighted || c_.bag_fault == bf_weight_count) && c_.bag_fault != bf_weights_null_count;
  if (weights_given && !(c_.bag_fault == bf_weights_alias_out &&
                         inside(weights_, dst_.buf, dst_.offset, p % 8, routes_bytes)))
    own(weights_, 5, routes_bytes);
  weight_count_ = weights_given ? m : 0;
  if (c_.bag_fault == bf_weight_count) {
    const std::int64_t bad[] = {m + 1, m > 0 ? m - 1 : 1, m > 0 ? 0 : 2, -1, INT64_MIN};
    weight_count_ = bad[p % 5];
  } else if (c_.bag_fault == bf_weights_null_count) {
    const std::int64_t bad[] = {m > 0 ? m : 1, 1, -1};
    weight_count_ = bad[p % 3];
  }
  if (c_.op != op_bag_backward) return;
  // u: n rows like dy's width, in a block of its own (or inside du).
  u_.type = value_type_;
  u_.rows = u_.expected_rows = c_.n;
  u_.width = c_.d;
  u_.stride = c_.d + ((p >> 4) & 3);
  std::int64_t u_bytes = 0;
  span_bytes(u_.rows, u_.width, u_.stride, u_.es(), &u_bytes);
  u_.bytes = static_cast<std::size_t>(u_bytes);
  u_.well_formed = true;
  const bool dw_given = c_.bag_fault == bf_u_null_with_dw || c_.bag_fault == bf_dw_count ||
                        (!c_.bag_no_dw && c_.bag_fault != bf_dw_null_count);
  u_.pass_null = c_.bag_fault == bf_u_null_with_dw || (c_.bag_no_u && !dw_given);
  place u_place;
  if (!(c_.bag_fault == bf_u_alias_du &&
        inside(u_place, dst_.buf, dst_.offset, (p >> 2) % 8, u_.bytes)))
    own(u_place, 4, u_.bytes);
  u_.buf = u_place.buf;
  u_.offset = u_place.offset;
  u_.null_data = u_place.null;
  // dw.
  if (dw_given) {
    bool placed = false;
    if (c_.bag_fault == bf_dw_alias) {
      switch (p % 5) {
        case 0: placed = inside(dw_, src_.buf, src_.offset, p >> 3, routes_bytes); break;
        case 1: placed = inside(dw_, u_.buf, u_.offset, p >> 3, routes_bytes); break;
        case 2:
          placed =
              !weights_.null && inside(dw_, weights_.buf, weights_.offset, p >> 3, routes_bytes);
          break;
        case 3: placed = inside(dw_, idx_buf_, idx_offset_, p >> 3, routes_bytes); break;
        default: placed = inside(dw_, dst_.buf, dst_.offset, p >> 3, routes_bytes); break;
      }
    }
    if (!placed) own(dw_, 6, routes_bytes);
  }
  dw_count_ = dw_given ? m : 0;
  if (c_.bag_fault == bf_dw_count) {
    const std::int64_t bad[] = {m + 1, m > 0 ? m - 1 : 1, m > 0 ? 0 : 2, -1, INT64_MIN};
    dw_count_ = bad[p % 5];
  } else if (c_.bag_fault == bf_dw_null_count) {
    const std::int64_t bad[] = {m > 0 ? m : 1, 1, -1};
    dw_count_ = bad[p % 3];
  }
}

// Creates the bags (or checks that bad ones are refused); false ends the input.
bool runner::bags_stage() {
  const std::uint8_t p = c_.bag_param;
  const bool out_null = c_.bag_fault == bf_create_out_null;
  const bool map_null = c_.bag_fault == bf_create_map_null;
  unsigned allowed = 0;
  if (out_null || map_null) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  routemat_bags* const sentinel = reinterpret_cast<routemat_bags*>(std::uintptr_t{0x5EEDB0});
  routemat_bags* out = sentinel;
  routemat_status s;
  const char* what = c_.bag_fixed ? "routemat_bags_create_fixed" : "routemat_bags_create";
  if (c_.bag_fixed) {
    if (bag_size_ < 1 || c_.m % bag_size_ != 0)
      allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
    if (allowed != 0) arm_sentinel();
    s = routemat_bags_create_fixed(out_null ? nullptr : &out, map_null ? nullptr : map_, bag_size_);
  } else {
    std::int32_t type = c_.bag_off64 ? ROUTEMAT_INT64 : ROUTEMAT_INT32;
    if (c_.bag_fault == bf_offset_type) {
      const std::int32_t bad[] = {2, -1, INT32_MIN, INT32_MAX};
      type = bad[p % 4];
      allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
    }
    const void* offsets = bufs_[7].data();
    if (c_.bag_fault == bf_offsets_null) {
      offsets = nullptr;
      allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
    }
    if (bags_arg_ < 0) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
    if (bags_arg_ > c_.m + 1) allowed |= status_bit(ROUTEMAT_ERROR_OVERFLOW);
    if (bags_arg_ == bag_count_) {  // the offsets as stored
      bool ok = offsets_[0] == 0 && offsets_[static_cast<std::size_t>(bag_count_)] == c_.m;
      for (std::size_t b = 0; b + 1 < offsets_.size(); ++b) ok &= offsets_[b + 1] >= offsets_[b];
      if (!ok) allowed |= status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
    }
    if (allowed != 0) arm_sentinel();
    s = routemat_bags_create(out_null ? nullptr : &out, map_null ? nullptr : map_, bags_arg_,
                             offsets, static_cast<routemat_index_type>(type));
  }
  if (allowed != 0) {
    if (s == ROUTEMAT_OK && out != sentinel) bags_ = out;  // destroyed in cleanup
    expect_refused(s, allowed, what);
    FUZZ_CHECK(out == sentinel, "a refused %s wrote *out", what);
    const std::string problem = untouched(what, s);
    FUZZ_CHECK(problem.empty(), "%s", problem.c_str());
    outcome_ = format("bags refused: %s", routemat_status_name(s));
    return false;
  }
  FUZZ_CHECK(s == ROUTEMAT_OK && out != sentinel && out != nullptr, "%s refused valid bags: %s: %s",
             what, routemat_status_name(s), routemat_last_error());
  bags_ = out;
  FUZZ_CHECK(routemat_bags_count(bags_) == bag_count_,
             "routemat_bags_count() = %" PRId64 ", want %" PRId64, routemat_bags_count(bags_),
             bag_count_);
  FUZZ_CHECK(routemat_bags_count(nullptr) == 0, "routemat_bags_count(NULL) is not 0");
  const std::string problem = untouched(what, s);
  FUZZ_CHECK(problem.empty(), "%s wrote a buffer", what);
  return true;
}

// Tolerances: the unit roundoff of the accumulator type A and of the storage
// type T, the largest finite T, the smallest subnormals.
struct type_limits {
  double eps_a, eps_t, max_t, tiny_a, tiny_t, max_a;
};
type_limits limits_of(std::int32_t type) {
  switch (type) {
    case ROUTEMAT_F64: return {0x1p-53, 0x1p-53, DBL_MAX, 0x1p-1074, 0x1p-1074, DBL_MAX};
    case ROUTEMAT_BF16: return {0x1p-24, 0x1p-8, 0x1.FEp127, 0x1p-149, 0x1p-133, FLT_MAX};
    case ROUTEMAT_F16: return {0x1p-24, 0x1p-11, 65504.0, 0x1p-149, 0x1p-24, FLT_MAX};
    default: return {0x1p-24, 0x1p-24, FLT_MAX, 0x1p-149, 0x1p-149, FLT_MAX};
  }
}

// Stores a value of the accumulator (float; double for f64) as the value type.
void store_value(std::int32_t type, unsigned char* p, double v) {
  switch (type) {
    case ROUTEMAT_F64: store<double>(p, v); break;
    case ROUTEMAT_BF16: store<std::uint16_t>(p, narrow16(false, static_cast<float>(v))); break;
    case ROUTEMAT_F16: store<std::uint16_t>(p, narrow16(true, static_cast<float>(v))); break;
    default: store<float>(p, static_cast<float>(v)); break;
  }
}

// The bag b of every route, the kept routes of every bag.
void bag_structure(const std::vector<std::int64_t>& offsets, const unsigned char* idx, bool idx64,
                   std::vector<std::int64_t>* bag_of, std::vector<std::int64_t>* kept) {
  const std::size_t B = offsets.size() - 1;
  kept->assign(B, 0);
  bag_of->assign(static_cast<std::size_t>(offsets[B]), 0);
  for (std::size_t b = 0; b < B; ++b)
    for (std::int64_t r = offsets[b]; r < offsets[b + 1]; ++r) {
      (*bag_of)[static_cast<std::size_t>(r)] = static_cast<std::int64_t>(b);
      (*kept)[b] += index_at(idx, idx64, r) != -1;
    }
}

std::vector<std::int64_t> runner_offsets(bool fixed, std::int64_t size, std::int64_t count,
                                         const std::vector<std::int64_t>& given) {
  if (!fixed) return given;
  std::vector<std::int64_t> off(static_cast<std::size_t>(count + 1));
  for (std::int64_t b = 0; b <= count; ++b) off[b] = b * size;
  return off;
}

runner::bag_reference_inputs runner::reference_inputs() const {
  bag_reference_inputs in{};
  in.idx = initial_[idx_buf_].data() + idx_offset_;
  in.rows = initial_[src_.buf].data() + src_.offset;
  in.weights = weights_.null ? nullptr : initial_[weights_.buf].data() + weights_.offset;
  in.offsets = runner_offsets(c_.bag_fixed, bag_size_, bag_count_, offsets_);
  bag_structure(in.offsets, in.idx, c_.idx64, &in.bag_of, &in.kept);
  return in;
}

// y: unweighted sums (and means) exactly -- the first kept row as it is, the
// others added in route order in the accumulator type, times 1 / kept for a
// mean of more than one, rounded once; weighted ones within a tolerance.
FUZZ_BULK void runner::bag_forward_reference() {
  const std::int32_t t = value_type_;
  const std::int64_t es = type_size(t), d = c_.d;
  const type_limits lim = limits_of(t);
  const bag_reference_inputs in = reference_inputs();
  const unsigned char* idx = in.idx;
  const unsigned char* u = in.rows;
  const unsigned char* w = in.weights;
  const std::vector<std::int64_t>& off = in.offsets;
  const std::vector<std::int64_t>& kept = in.kept;
  for (std::int64_t b = 0; b < bag_count_; ++b) {
    const std::size_t row_at = dst_.offset + static_cast<std::size_t>(b * dst_.stride * es);
    unsigned char* y = expected_[dst_.buf].data() + row_at;
    std::vector<std::int64_t> rows;  // (route, source row)
    for (std::int64_t r = off[b]; r < off[b + 1]; ++r)
      if (index_at(idx, c_.idx64, r) != -1) rows.push_back(r);
    if (rows.empty()) {
      std::memset(y, 0, static_cast<std::size_t>(d * es));
      continue;
    }
    const bool scaled = c_.bag_mean && kept[b] > 1;
    for (std::int64_t k = 0; k < d; ++k) {
      auto at = [&](std::int64_t r) {
        return u + (index_at(idx, c_.idx64, r) * src_.stride + k) * es;
      };
      if (w == nullptr) {
        if (t == ROUTEMAT_F64) {
          double acc = load<double>(at(rows[0]));
          for (std::size_t q = 1; q < rows.size(); ++q) acc = acc + load<double>(at(rows[q]));
          if (scaled) acc = acc * (1.0 / static_cast<double>(kept[b]));
          store<double>(y + k * es, acc);
        } else {
          float acc = static_cast<float>(value_at(t, at(rows[0])));
          if (t == ROUTEMAT_F32) acc = load<float>(at(rows[0]));  // the bits as they are
          for (std::size_t q = 1; q < rows.size(); ++q)
            acc = acc + static_cast<float>(value_at(t, at(rows[q])));
          if (scaled) acc = acc * (1.0f / static_cast<float>(kept[b]));
          if (t == ROUTEMAT_F32) {
            store<float>(y + k * es, acc);
          } else {
            store_value(t, y + k * es, acc);
          }
        }
        continue;
      }
      double ref = 0, mag = 0;
      bool finite = true;
      for (const std::int64_t r : rows) {
        const double wr = value_at(t, w + r * es), v = value_at(t, at(r));
        finite &= std::isfinite(wr) && std::isfinite(v);
        ref += wr * v;
        mag += std::fabs(wr * v);
      }
      const double scale = c_.bag_mean ? 1.0 / static_cast<double>(kept[b]) : 1.0;
      finite &= mag < lim.max_a / 4;  // the sum before the scale fits the accumulator
      ref *= scale;
      mag *= scale;
      const auto terms = static_cast<double>(rows.size() + 4);
      const double tol = 2 * (terms * lim.eps_a * mag + lim.eps_t * std::fabs(ref) +
                              terms * lim.tiny_a + lim.tiny_t);
      tols_.push_back({dst_.buf, row_at + static_cast<std::size_t>(k * es), t, ref, tol,
                       !finite || !(mag < lim.max_t / 4)});
    }
  }
}

// du (routed elements) and dw (kept routes) within a tolerance; dw of a
// dropped route is +0 exactly; nothing else changes.
FUZZ_BULK void runner::bag_backward_reference(bool with_du, bool with_dw) {
  const std::int32_t t = value_type_;
  const std::int64_t es = type_size(t), d = c_.d, m = c_.m;
  const type_limits lim = limits_of(t);
  const bag_reference_inputs in = reference_inputs();
  const unsigned char* idx = in.idx;
  const unsigned char* dy = in.rows;
  const unsigned char* w = in.weights;
  const std::vector<std::int64_t>& bag_of = in.bag_of;
  const std::vector<std::int64_t>& kept = in.kept;
  auto scale_of = [&](std::int64_t b) {
    return c_.bag_mean && kept[b] > 0 ? 1.0 / static_cast<double>(kept[b]) : 1.0;
  };
  auto dy_at = [&](std::int64_t b, std::int64_t k) {
    return value_at(t, dy + (b * src_.stride + k) * es);
  };
  if (with_du) {
    std::vector<std::vector<std::int64_t>> routes(static_cast<std::size_t>(c_.n));
    for (std::int64_t r = 0; r < m; ++r) {
      const std::int64_t j = index_at(idx, c_.idx64, r);
      if (j != -1) routes[static_cast<std::size_t>(j)].push_back(r);
    }
    for (std::int64_t j = 0; j < c_.n; ++j) {
      const auto& from = routes[static_cast<std::size_t>(j)];
      if (from.empty()) continue;
      for (std::int64_t k = 0; k < d; ++k) {
        const std::size_t at = dst_.offset + static_cast<std::size_t>((j * dst_.stride + k) * es);
        const double du0 = value_at(t, &initial_[dst_.buf][at]);
        double ref = du0, mag = std::fabs(du0);
        bool finite = std::isfinite(du0);
        for (const std::int64_t r : from) {
          const std::int64_t b = bag_of[static_cast<std::size_t>(r)];
          const double c = (w != nullptr ? value_at(t, w + r * es) : 1.0) * scale_of(b);
          const double y = dy_at(b, k);
          finite &= std::isfinite(c) && std::isfinite(y);
          ref += c * y;
          mag += std::fabs(c * y);
        }
        const auto steps = static_cast<double>(from.size() + 4);
        const double tol = 2 * (steps * lim.eps_t * mag + steps * (lim.tiny_a + lim.tiny_t));
        tols_.push_back({dst_.buf, at, t, ref, tol, !finite || !(mag < lim.max_t / 4)});
      }
    }
  }
  if (with_dw) {
    const unsigned char* u = initial_[u_.buf].data() + u_.offset;
    for (std::int64_t r = 0; r < m; ++r) {
      const std::size_t at = dw_.offset + static_cast<std::size_t>(r * es);
      const std::int64_t j = index_at(idx, c_.idx64, r);
      if (j == -1) {
        std::memset(&expected_[dw_.buf][at], 0, static_cast<std::size_t>(es));
        continue;
      }
      const std::int64_t b = bag_of[static_cast<std::size_t>(r)];
      double ref = 0, mag = 0;
      bool finite = true;
      for (std::int64_t k = 0; k < d; ++k) {
        const double y = dy_at(b, k), v = value_at(t, u + (j * u_.stride + k) * es);
        finite &= std::isfinite(y) && std::isfinite(v);
        ref += y * v;
        mag += std::fabs(y * v);
      }
      finite &= mag < lim.max_a / 4;  // the dot before the scale fits the accumulator
      ref *= scale_of(b);
      mag *= scale_of(b);
      const auto terms = static_cast<double>(d + 4);
      const double tol = 2 * (terms * lim.eps_a * mag + lim.eps_t * std::fabs(ref) +
                              terms * lim.tiny_a + lim.tiny_t);
      tols_.push_back({dw_.buf, at, t, ref, tol, !finite || !(mag < lim.max_t / 4)});
    }
  }
}

void runner::bag_op_stage() {
  const bool forward = c_.op == op_bag_forward;
  const std::int64_t m = c_.m;
  const unsigned invalid = status_bit(ROUTEMAT_ERROR_INVALID_ARGUMENT);
  const unsigned shape = status_bit(ROUTEMAT_ERROR_SHAPE_MISMATCH);
  routemat_reduce reduce = c_.bag_mean ? ROUTEMAT_REDUCE_MEAN : ROUTEMAT_REDUCE_SUM;
  unsigned allowed = 0;
  if (c_.has(fault_write_mode)) {  // an unknown reduce
    static const int bad[] = {2, -1, INT32_MIN, INT32_MAX, 3};
    reduce = static_cast<routemat_reduce>(bad[c_.fault_param % 5]);
    allowed |= invalid;
  }
  const routemat_bags* bags = c_.has(fault_null_map) ? nullptr : bags_;
  if (bags == nullptr) allowed |= invalid;

  // Forward: u = src_, y = dst_. Backward: dy = src_, du = dst_ (or NULL), u, dw.
  const bool du_passed = forward || (!dst_.pass_null && !c_.bag_no_du);
  const bool u_passed = !forward && !u_.pass_null;
  const bool dw_passed = !forward && !dw_.null;
  allowed |= view_faults(src_);
  if (du_passed) allowed |= view_faults(dst_);
  const bool src_ok = !src_.pass_null && src_.well_formed && view_faults(src_) == 0;
  if (du_passed && src_ok && !dst_.pass_null && dst_.well_formed && view_faults(dst_) == 0 &&
      (src_.type != dst_.type || src_.width != dst_.width))
    allowed |= shape;
  if (dw_passed && !u_passed) allowed |= invalid;
  if (u_passed && src_ok && (u_.type != src_.type || u_.width != src_.width)) allowed |= shape;
  const unsigned char* weights =
      weights_.null ? nullptr : bufs_[weights_.buf].data() + weights_.offset;
  unsigned char* dw = dw_passed ? bufs_[dw_.buf].data() + dw_.offset : nullptr;
  auto per_route = [&](const void* p, std::int64_t count) {
    if (p == nullptr) return count != 0 ? invalid : 0u;
    return count != m ? shape : 0u;
  };
  allowed |= per_route(weights, weight_count_);
  if (!forward) allowed |= per_route(dw, dw_count_);
  // Extents and aliasing (checked last by routemat, so only then).
  routemat_rows src{}, dst{}, u{};
  src = rows_of(src_);
  dst = rows_of(dst_);
  if (!forward) u = rows_of(u_);
  bool alias_maybe = false;
  if (allowed == 0) {
    const std::size_t es = static_cast<std::size_t>(src_.es());
    const extent in = view_extent(src_, static_cast<const unsigned char*>(src.data));
    const extent out = view_extent(dst_, static_cast<const unsigned char*>(dst.data));
    const extent ue =
        u_passed ? view_extent(u_, static_cast<const unsigned char*>(u.data)) : extent{};
    const extent we = byte_extent(weights, static_cast<std::size_t>(m) * es);
    const extent ie =
        byte_extent(c_.has(fault_map_indices_null) ? nullptr : bufs_[idx_buf_].data() + idx_offset_,
                    idx_bytes_);
    const extent dwe = byte_extent(dw, static_cast<std::size_t>(m) * es);
    auto judge = [&](int k) {
      if (k == 1) allowed |= status_bit(ROUTEMAT_ERROR_ALIASING);
      if (k == 2) alias_maybe = true;
    };
    if (du_passed) {
      judge(alias_class(out, dst_.rows, in, src_.rows));
      if (u_passed) judge(alias_class(out, dst_.rows, ue, u_.rows));
      judge(alias_class(out, dst_.rows, we, 1));
      judge(alias_class(out, dst_.rows, ie, 1));
    }
    if (dw_passed) {
      judge(alias_class(dwe, 1, in, src_.rows));
      if (u_passed) judge(alias_class(dwe, 1, ue, u_.rows));
      judge(alias_class(dwe, 1, we, 1));
      judge(alias_class(dwe, 1, ie, 1));
      if (du_passed) judge(alias_class(dwe, 1, out, dst_.rows));
    }
  }
  const bool valid = allowed == 0;
  tols_.clear();
  if (valid) {
    if (forward) {
      bag_forward_reference();
    } else {
      bag_backward_reference(du_passed, dw_passed);
    }
  }
  // The backward runs without a plan, then with one (a plan of another map:
  // refused); both must give the same bits.
  if (c_.bag_fault == bf_plan_other_map && !forward) {
    const std::size_t ies = c_.idx64 ? 8 : 4;
    other_indices_.assign(static_cast<std::size_t>(m) + 1, 0);
    std::memcpy(other_indices_.data(), bufs_[idx_buf_].data() + idx_offset_,
                static_cast<std::size_t>(m) * ies);
    routemat_map* om = nullptr;
    FUZZ_CHECK(routemat_map_create(&om, m, c_.n, other_indices_.data(),
                                   c_.idx64 ? ROUTEMAT_INT64 : ROUTEMAT_INT32,
                                   c_.drop ? ROUTEMAT_ALLOW_DROP : 0) == ROUTEMAT_OK,
               "routemat_map_create of a copy of a valid map failed: %s", routemat_last_error());
    other_map_ = om;
    routemat_plan* op = nullptr;
    FUZZ_CHECK(routemat_plan_create(&op, other_map_) == ROUTEMAT_OK, "routemat_plan_create failed");
    other_plan_ = op;
  }
  const int passes = forward ? 1 : 2;
  const defaults& def = the_defaults();
  int refused_as_alias = 0, calls = 0;
  std::string problems;
  std::vector<unsigned char> first[nbufs];
  for (const routemat_isa isa : def.isas) {
    FUZZ_CHECK(routemat_select_isa(isa) == ROUTEMAT_OK, "routemat_select_isa(%s) failed",
               routemat_isa_name(isa));
    bool first_ok = false;
    for (int pass = 0; pass < passes; ++pass) {
      const routemat_plan* plan = nullptr;
      unsigned pass_allowed = allowed;
      if (pass == 1) {
        plan = other_plan_ != nullptr ? other_plan_ : plan_;
        if (other_plan_ != nullptr) pass_allowed |= invalid;
      }
      const bool pass_valid = pass_allowed == 0;
      reset_buffers();
      if (!pass_valid) arm_sentinel();
      routemat_status s;
      if (forward) {
        s = routemat_bag_forward(bags, src_.pass_null ? nullptr : &src, weights, weight_count_,
                                 reduce, dst_.pass_null ? nullptr : &dst);
      } else {
        s = routemat_bag_backward(bags, plan, src_.pass_null ? nullptr : &src,
                                  u_passed ? &u : nullptr, weights, weight_count_, reduce,
                                  du_passed ? &dst : nullptr, dw, dw_count_);
      }
      calls += pass_valid;
      const std::string what =
          format("%s%s on %s", op_names[c_.op],
                 forward ? "" : (pass == 0 ? " (no plan)" : " (plan)"), routemat_isa_name(isa));
      std::string problem;
      if (!pass_valid) {
        problem = check_refused(s, pass_allowed, what.c_str());
        if (problem.empty()) problem = untouched(what.c_str(), s);
      } else if (alias_maybe && s == ROUTEMAT_ERROR_ALIASING) {
        ++refused_as_alias;
        problem = untouched(what.c_str(), s);
      } else if (s != ROUTEMAT_OK) {
        problem = format("%s refused a valid call: %s: %s", what.c_str(), routemat_status_name(s),
                         routemat_last_error());
      } else {
        problem = compare_buffers(format("%s%s", routemat_isa_name(isa),
                                         forward ? "" : (pass == 0 ? " (no plan)" : " (plan)"))
                                      .c_str(),
                                  true, expected_);
        if (problem.empty() && pass == 0) {
          for (int b = 0; b < nbufs; ++b)
            first[b].assign(bufs_[b].data(), bufs_[b].data() + bufs_[b].size());
          first_ok = true;
        } else if (problem.empty() && first_ok) {
          for (int b = 0; b < nbufs && problem.empty(); ++b)
            if (!first[b].empty() && std::memcmp(first[b].data(), bufs_[b].data(), first[b].size()))
              problem =
                  format("%s: buffer %d differs from the call without a plan", what.c_str(), b);
        }
      }
      if (!problem.empty()) problems += "\n  " + problem;
    }
  }
  FUZZ_CHECK(problems.empty(), "%s", problems.c_str());
  FUZZ_CHECK(refused_as_alias == 0 || refused_as_alias == calls,
             "the aliasing check depends on the ISA or the plan");
  outcome_ = valid ? (refused_as_alias ? "bag op: refused (conservative aliasing)"
                                       : format("bag op: OK on %zu ISAs (%zu elements within a "
                                                "tolerance)",
                                                def.isas.size(), tols_.size()))
                   : format("bag op: refused (%s)", status_list(allowed).c_str());
}

void runner::run() {
  const defaults& def = the_defaults();
  if (def.verbose) std::fprintf(stderr, "routemat_fuzz: %s\n", current_case.c_str());
  // The previous input must have left the defaults.
  routemat_isa isa = ROUTEMAT_ISA_SCALAR;
  FUZZ_CHECK(routemat_active_isa(&isa) == ROUTEMAT_OK && isa == def.isa &&
                 routemat_get_plan_kernel() == ROUTEMAT_PLAN_AUTO &&
                 routemat_get_stream_threshold() == def.stream_threshold &&
                 routemat_get_num_threads() == def.threads,
             "global settings were not restored by the previous input");
  apply_settings();
  misc_checks_before();
  indices_ = make_indices(c_, r_);
  setup_views();
  layout();
  if (map_stage()) {
    plan_stage();
    misc_checks_with_map(map_);
    if (!is_bag_op(c_.op) || bags_stage()) op_stage();
  }
  cleanup();
  restore_settings();
  if (def.verbose) std::fprintf(stderr, "routemat_fuzz:   -> %s\n", outcome_.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz_case c = decode(data, size);
  current_case = describe(c);
  runner(c).run();
  return 0;
}
