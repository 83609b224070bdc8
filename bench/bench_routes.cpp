// routemat_bench: Google Benchmark suite of the routing kernels.
//
// Names are op/f32/i32/d=D/n=N/m=M[/zipf=1.1|/sorted|/permutation|/k=K][/isa][/threads=T]
// (Google Benchmark appends /real_time to the /threads= ones, see Threads),
// e.g. gather/f32/i32/d=64/n=1048576/m=65536/avx512,
// bag_sum/f32/i32/d=64/n=16384/m=327680/k=20/avx512 or
// eigen_scatter_add/f32/i64/d=16/n=100000/m=1000000; plan_build, seed_5x3
// and copy_ceiling are named as listed under "Also". routemat's own
// benchmarks carry the ISA they ran on (each selects it with
// routemat::select_isa before timing: only the best one this CPU runs by
// default, every one of the build it runs with --routemat_isa=all); the
// baselines carry none.
//
// Workloads (G is m x n, rows of d f32 values; the first six are bench/compare.py's):
//   vec_dram   d=1    n=1048576 m=4194304  a column, source far bigger than the caches
//   vec_cache  d=1    n=65536   m=4194304  a column, source in L2
//   embedding  d=64   n=1048576 m=65536    wide rows from a 256 MiB table
//   graph      d=16   n=100000  m=1000000  message passing, 6.4 MB source
//   moe        d=1024 n=8192    m=16384    token dispatch, 4 KiB rows
//   narrow     d=4    n=1048576 m=262144   rows narrower than one SIMD register
//   dense_fit  d=64   n=2048    m=8192     small enough for the dense baseline
// Every workload, with uniform indices, i32 and i64, gets
//   gather            routemat::gather(map, U, Y)
//   scatter_add       routemat::scatter_add(map, dY, dU): the push kernel
//   plan_scatter_add  routemat::scatter_add(plan, dY, dU, write::accumulate):
//                     (plan built before timing), the library's automatic
//                     choice of push or pull (routemat_plan_kernel)
// each at 1 thread and at all threads, and, at 1 thread, the baselines
//   plain_loop_gather       `for i: for k < d: Y[i*d+k] = U[idx[i]*d+k]`
//   plain_loop_scatter_add  `for i: for k < d: dU[idx[i]*d+k] += dY[i*d+k]`
//                     written out in this file (templated on the index type,
//                     d a runtime value), scalar C++ at the benchmark's own
//                     flags: what a caller writes without routemat
//   eigen_gather, eigen_scatter_add  Eigen's SparseMatrix (row-major, the
//                     index type as its StorageIndex, built outside the
//                     timing): Y = G U and dU += G^T dY on dense row-major blocks
//   dense_gather, dense_scatter_add  G as a dense row-major m x n float
//                     matrix (Eigen, built outside the timing): Y = G U and
//                     dU += G^T dY as GEMMs. Registered only where it fits:
//                     the dense G takes at most 256 MiB (m * n * 4 bytes) and
//                     a product at most 2e10 flops (2 * m * n * d). Of the
//                     shapes here that admits dense_fit and the seed below.
// Index distributions other than uniform, for vec_dram and graph, the three
// routemat benchmarks, i32 and i64, 1 thread (graph /zipf=1.1 also at all
// threads):
//   /zipf=1.1      P(idx = j) proportional to (j + 1)^-1.1, so the hottest
//                  destinations are the first ones, as in a frequency-sorted
//                  vocabulary (for n = 1M row 0 gets about 12% of the rows
//                  and the first half of the destinations about 98%: the hard
//                  case for splitting destinations into equal ranges)
//   /sorted        non-decreasing, idx[i] = i * n / m
//   /permutation   every destination m / n times (idx[i] = i % n), shuffled
// Also:
//   plan_scatter_add_overwrite  graph, i32 and i64, 1 thread: the same with
//                     write::overwrite (dU = G^T dY)
//   plan_build        constructing a routemat::plan from a map (once, not per
//                     ISA: it has no SIMD kernel), e.g.
//                     plan_build/i32/n=1048576/m=4194304, for vec_dram and
//                     graph with every distribution, i32 and i64, 1 thread,
//                     uniform also at all threads; destroying the plan is not
//                     timed, allocating and faulting in its memory is
//   graph_l2          d=16 n=8192 m=65536 (dU in L2), i32, the three routemat
//                     benchmarks at 1 thread and at all threads
//   graph in f64      gather/f64/i32/d=16/n=100000/m=1000000 and the two
//                     scatters, 1 thread
//   embedding in bf16 gather/bf16/i32/d=128/n=1048576/m=65536 (routemat::bf16
//                     rows, a 256 MiB table) and the two scatters, i32 and
//                     i64, at 1 thread and at all threads
//   bags              routemat::bag_forward over routemat::bags::fixed(map, k)
//                     (B = m / k bags of k routes, reduce::sum, f32), i32 and
//                     i64, at 1 thread and at all threads:
//     bag_sum/f32/i32/d=64/n=1048576/m=327680/k=20  EmbeddingBag sum, bags of
//                     20 rows of a 256 MiB table; also with n=16384 (a 4 MiB
//                     table, resident in the caches)
//     bag_combine/f32/i32/d=1024/n=16384/m=16384/k=2  MoE top-2 combine, with
//                     a weight per route
//     bag_combine_backward/f32/i32/d=1024/n=16384/m=16384/k=2  its
//                     routemat::bag_backward: dU += and dw = (both outputs,
//                     with a plan of the map, built before timing)
//   seed              the README's 5 x 3 weight-sharing matrix as a workload
//                     (d=1 n=3 m=5, idx = 0 1 2 2 2), i32 and i64, 1 thread:
//                     the three routemat benchmarks and every baseline,
//                     times in ns
//   seed_5x3/gather+scatter_add/f32/i32/d=1  per-call overhead on that matrix:
//                     a forward gather and a backward scatter-add per
//                     iteration, through the C++ API with all its checks;
//                     items_per_second counts calls
//   copy_ceiling/memcpy/512MiB  the DRAM copy bandwidth of this machine
//                     (bytes = read + write = 2 * 512 MiB per iteration), the
//                     ceiling of the shapes whose data does not fit in the
//                     caches; shapes that do fit (e.g. moe) can exceed it
//
// Threads. A name without a /threads= suffix runs with the library pinned to
// one thread (routemat::set_num_threads(1)) and reports rates per CPU second
// (Google Benchmark's default), so time the process spends preempted on a
// busy machine does not count against the kernels. A name with /threads=N
// runs with N = std::thread::hardware_concurrency() threads and reports rates
// per wall-clock second (UseRealTime, so Google Benchmark appends /real_time
// to the name): the CPU time of the calling thread would leave out the
// library's workers. On an idle machine the two clocks agree for one thread,
// so the unsuffixed name is the one-thread side of a scaling comparison; on a
// busy one the /threads=N figure also pays for preemption. Each benchmark sets
// its thread count and makes one untimed call (which starts the workers)
// before its timing loop. The baselines run on the calling thread only.
//
// bytes_per_second counts the compulsory traffic of one call, in useful bytes
// (a random d = 1 gather really moves a whole cache line per row it reads):
//   gather       m * sizeof(I)      the indices
//              + m * d * sizeof(T)  the rows read from U
//              + m * d * sizeof(T)  the rows written to Y
//   scatter_add  m * sizeof(I)      the indices
//              + m * d * sizeof(T)  the rows read from dY
//              + 2 * m * d * sizeof(T)  the read-modify-write of dU, counted as
//                                       one read and one write per routed row
//   plain_loop_*, eigen_*, dense_*  as gather and scatter_add: the same count
//                for every contender of a workload, so ratios of rates are
//                ratios of times (the dense products really read m * n * 4
//                bytes of G and do 2 * m * n * d flops)
//   plan_scatter_add (both modes)  as scatter_add, except that the index term
//                counts the plan's CSR, which the pull reads instead of the
//                indices (the push reads the indices, m * sizeof(I)): the
//                term m * sizeof(I) becomes (m - dropped) * c + (n + 1) * c, the sources and the
//                offsets, with c = 4 bytes (8 when m >= 2^31). So with no
//                dropped rows and i32 indices it is scatter_add's count plus
//                (n + 1) * 4. The dU term keeps scatter_add's per-routed-row
//                convention, although the pull reads and writes each dU row
//                once, and the overwrite mode does not read dU at all.
//   plan_build   no bytes
//   bag_sum, bag_combine (B = m / k bags)
//                m * sizeof(I)      the indices
//              + m * d * 4          the routed rows read from U
//              + B * d * 4          the bags written to Y
//              + m * 4              the weights (bag_combine only)
//   bag_combine_backward
//                m * sizeof(I)      the indices
//              + m * 4 + m * 4      the weights read and dw written
//              + B * d * 4          dY, read once
//              + m * d * 4          the routed rows read from U (for dw)
//              + 2 * m * d * 4      the read-modify-write of dU, per routed row
//                                   as for scatter_add
//                (the plan's CSR and the bags' own tables are not counted)
// items_per_second counts rows routed (m per call; for plan_build, m per plan).
//
// Inputs. Values are uniform in [-1, 1); indices are drawn from a generator
// seeded by the shape only, so i32 and i64 get the same indices. The inputs
// of one (value type, index type, shape, distribution) are built on the first
// benchmark that needs them and shared by every ISA, thread count and
// baseline of it; registrations are grouped by it, and the run frees them
// (and the plan, the Eigen matrices) when it moves on to the next one, so at
// most one workload's buffers are alive (a bag shape is a group of its own,
// with U, Y and the weights, and dY, dU, dw and the plan for the backward).
// Weights are uniform in [-1, 1) too. The scatter benchmarks (and the bag
// backward) zero dU once per run and then accumulate into it across
// iterations, as the kernel does.
// After timing, every benchmark checks itself: a gather (routemat's or a
// baseline) recomputes Y over a poisoned Y and compares every (m / 61 + 1)-th
// row bit for bit with the row of U it names; a scatter recomputes one call
// into a zeroed dU and compares the destinations of those rows, bit for bit,
// with G^T dY summed in row order (dense_scatter_add within
// 1e-5 * (1 + |reference|): a GEMM sums in blocks; bf16 within
// 2^-6 * (1 + |reference|) of G^T dY summed in f64: the kernels round every
// routed row to bf16). A bag forward recomputes Y over a poisoned Y and
// compares every (B / 61 + 1)-th bag with its (weighted) sum in f64; the bag
// backward recomputes one call into a zeroed dU and a poisoned dw and
// compares, for every (m / 61 + 1)-th route r, dw[r] and the row dU[idx[r]]
// with their f64 values. Those f64 comparisons allow t * 2^-23 * (1 + s) for
// a value summing t terms whose magnitudes sum to s (twice the bound of any
// f32 summation order). A mismatch skips the benchmark with an error naming
// the row.
//
// Progress. Before a benchmark starts, "[k/N] name" goes to stderr (stdout
// stays Google Benchmark's table), once however often Google Benchmark calls
// it; N counts the benchmarks --benchmark_filter selects, matched as Google
// Benchmark does (std::regex, extended syntax, searched in the full name; a
// leading '-' negates).
//
// Run time. The default --benchmark_min_time here is 0.2 s per benchmark; a
// default run (best ISA, 237 benchmarks) took 1 min 55 s on a shared 2-vCPU
// Xeon, before the 28 bf16 and bag benchmarks; with them (265) 3 min 1 s on a
// busier shared 2-vCPU AMD EPYC, where those 28 alone take about 14 s at
// --benchmark_min_time=0.1; --routemat_isa=all registers 778.
#include <benchmark/benchmark.h>
#include <Eigen/Core>
#include <Eigen/SparseCore>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <new>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "routemat/routemat.hpp"

namespace {

// The default --benchmark_min_time (seconds per benchmark), given as a flag
// rather than with MinTime() so that names carry no /min_time: suffix and the
// command line can still override it.
char kDefaultMinTime[] = "--benchmark_min_time=0.2";

constexpr double kZipf = 1.1;

// splitmix64: fast, deterministic, good enough for benchmark inputs.
class rng {
 public:
  explicit rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (multiply-shift, bias below 2^-32 for n < 2^32).
  std::int64_t below(std::int64_t n) {
    return static_cast<std::int64_t>(((next() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
  }
  // Uniform in [-1, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0; }
  // Uniform in [0, 1).
  double fraction() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t s_;
};

// Zipf(s) over [0, n): P(j) proportional to (j + 1)^-s, by inversion of the
// CDF with a guide table (guide_[k] is the first j whose CDF reaches k / n),
// so a draw searches only the few entries of its bucket.
class zipf_sampler {
 public:
  zipf_sampler(std::int64_t n, double s)
      : n_(n), cdf_(static_cast<std::size_t>(n)), guide_(static_cast<std::size_t>(n) + 1) {
    double sum = 0;
    for (std::int64_t j = 0; j < n; ++j) cdf_[j] = sum += std::pow(static_cast<double>(j + 1), -s);
    for (double& c : cdf_) c /= sum;
    cdf_.back() = 1.0;
    std::int64_t j = 0;
    for (std::int64_t k = 0; k <= n; ++k) {
      const double level = static_cast<double>(k) / static_cast<double>(n);
      while (j < n - 1 && cdf_[j] < level) ++j;
      guide_[k] = j;
    }
  }
  // The first j with cdf[j] > u, u uniform in [0, 1).
  std::int64_t operator()(rng& r) const {
    const double u = r.fraction();
    const std::int64_t k = std::min(static_cast<std::int64_t>(u * static_cast<double>(n_)), n_ - 1);
    const auto first = cdf_.begin() + guide_[k], last = cdf_.begin() + guide_[k + 1] + 1;
    return std::upper_bound(first, last, u) - cdf_.begin();
  }

 private:
  std::int64_t n_;
  std::vector<double> cdf_;
  std::vector<std::int64_t> guide_;
};

// Allocates on 64-byte boundaries, as ML runtimes do (PyTorch's CPU allocator
// aligns to 64): with malloc's 16-byte alignment a 64-byte row would straddle
// two cache lines and every wide load would split.
template <class T>
struct aligned64 {
  using value_type = T;
  aligned64() = default;
  template <class U>
  aligned64(const aligned64<U>&) {}
  T* allocate(std::size_t count) {
    return static_cast<T*>(::operator new (count * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, std::size_t) { ::operator delete (p, std::align_val_t{64}); }
  template <class U>
  bool operator==(const aligned64<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const aligned64<U>&) const {
    return false;
  }
};
template <class T>
using buffer = std::vector<T, aligned64<T>>;

// How the indices are drawn. seed: idx[i] = min(i, n - 1), the README's
// weight-sharing matrix for n = 3, m = 5 (no name suffix: it is one shape).
enum class dist { uniform, zipf, sorted, permutation, seed };

struct shape {
  std::int64_t d, n, m;
  dist kind = dist::uniform;
  std::int64_t k = 0;  // routes per bag (the bag benchmarks; 0 elsewhere)
};

// The name suffix of a distribution ("" for uniform and seed).
const char* dist_suffix(dist kind) {
  switch (kind) {
    case dist::zipf: return "/zipf=1.1";
    case dist::sorted: return "/sorted";
    case dist::permutation: return "/permutation";
    default: return "";
  }
}

using routemat::bf16;

template <class T>
const char* value_name() {
  if constexpr (std::is_same_v<T, bf16>) return "bf16";
  return sizeof(T) == 4 ? "f32" : "f64";
}

// What a reference sums in: T itself, so that f32 and f64 compare bit for
// bit, but f64 for bf16 (whose kernels round every routed row).
template <class T>
using ref_type = std::conditional_t<std::is_same_v<T, bf16>, double, T>;
template <class T>
ref_type<T> ref_value(T x) {
  if constexpr (std::is_same_v<T, bf16>) {
    return static_cast<float>(x);
  } else {
    return x;
  }
}

template <class I>
const char* index_name() {
  return sizeof(I) == 4 ? "i32" : "i64";
}

// ---------------------------------------------------------------------------
// One group's objects: the inputs of one (value type, index type, shape,
// distribution) and what is built from them (plan, Eigen matrices). A
// benchmark asks for them with group_object; asking for another group frees
// every object of the previous one first, so registrations are grouped.

using group_key = std::tuple<std::size_t, std::size_t, std::int64_t, std::int64_t, std::int64_t,
                             int, std::int64_t>;

std::vector<void (*)()>& group_resets() {
  static std::vector<void (*)()> resets;
  return resets;
}

void release_group() {
  for (void (*reset)() : group_resets()) reset();
}

// Makes key the current group, freeing the previous one's objects.
void enter_group(const group_key& key) {
  static std::optional<group_key> current;
  if (current == key) return;
  release_group();
  current = key;
}

template <class T, class I>
group_key key_of(const shape& s) {
  return {sizeof(T), sizeof(I), s.d, s.n, s.m, static_cast<int>(s.kind), s.k};
}

// The V of the group `key`, built from args on first use.
template <class V, class... Args>
V& group_object(const group_key& key, const Args&... args) {
  static std::unique_ptr<V> slot;
  static const bool registered = (group_resets().push_back([] { slot.reset(); }), true);
  (void)registered;
  enter_group(key);
  if (!slot) slot = std::make_unique<V>(args...);
  return *slot;
}

// count values uniform in [-1, 1), from a generator seeded by the shape and
// the stream.
template <class T>
buffer<T> random_values(const shape& s, std::int64_t count, std::uint64_t stream) {
  rng r(0xF00D0000u + stream * 0x1000u + static_cast<std::uint64_t>(s.d + s.n + s.m));
  buffer<T> v(static_cast<std::size_t>(count));
  for (T& x : v) x = static_cast<T>(r.unit());
  return v;
}

// The inputs and outputs of one group.
template <class T, class I>
struct inputs {
  explicit inputs(const shape& s) : sh(s), idx(static_cast<std::size_t>(s.m)) {
    rng r(0x5EED0000u + static_cast<std::uint64_t>(s.d * 31 + s.n * 7 + s.m));
    switch (s.kind) {
      case dist::uniform:
        for (I& j : idx) j = static_cast<I>(r.below(s.n));
        break;
      case dist::zipf: {
        const zipf_sampler draw(s.n, kZipf);
        for (I& j : idx) j = static_cast<I>(draw(r));
        break;
      }
      case dist::sorted:
        for (std::int64_t i = 0; i < s.m; ++i) idx[i] = static_cast<I>(i * s.n / s.m);
        break;
      case dist::permutation:
        for (std::int64_t i = 0; i < s.m; ++i) idx[i] = static_cast<I>(i % s.n);
        for (std::int64_t i = s.m - 1; i > 0; --i) std::swap(idx[i], idx[r.below(i + 1)]);
        break;
      case dist::seed:
        for (std::int64_t i = 0; i < s.m; ++i) idx[i] = static_cast<I>(std::min(i, s.n - 1));
        break;
    }
    g = std::make_unique<routemat::map>(s.m, s.n, idx.data());
  }
  // U (n x d, random) and Y (m x d); zero-filled vectors have their pages
  // touched before any timing.
  void need_gather() {
    if (!u.empty()) return;
    u = random_values<T>(sh, sh.n * sh.d, 1);
    y.assign(static_cast<std::size_t>(sh.m * sh.d), T(0));
  }
  // dY (m x d, random) and dU (n x d).
  void need_scatter() {
    if (!dy.empty()) return;
    dy = random_values<T>(sh, sh.m * sh.d, 2);
    du.assign(static_cast<std::size_t>(sh.n * sh.d), T(0));
  }
  void need_plan() {
    if (!p) p = std::make_unique<routemat::plan>(*g);
  }
  // The destinations of every (m / 61 + 1)-th row and G^T dY on them, summed
  // in row order from zero: what any scatter-add leaves there in a zeroed dU.
  void need_reference() {
    need_scatter();
    if (!ref_cols.empty()) return;
    std::vector<std::int32_t> slot(static_cast<std::size_t>(sh.n), -1);
    for (std::int64_t i = 0; i < sh.m; i += sh.m / 61 + 1) {
      std::int32_t& k = slot[static_cast<std::size_t>(idx[i])];
      if (k >= 0) continue;
      k = static_cast<std::int32_t>(ref_cols.size());
      ref_cols.push_back(idx[i]);
    }
    ref.assign(ref_cols.size() * static_cast<std::size_t>(sh.d), 0);
    for (std::int64_t i = 0; i < sh.m; ++i) {
      const std::int32_t k = slot[static_cast<std::size_t>(idx[i])];
      if (k < 0) continue;
      for (std::int64_t c = 0; c < sh.d; ++c) ref[k * sh.d + c] += ref_value(dy[i * sh.d + c]);
    }
  }

  shape sh;
  buffer<I> idx;
  std::unique_ptr<routemat::map> g;
  std::unique_ptr<routemat::plan> p;
  buffer<T> u, y, dy, du;
  std::vector<std::int64_t> ref_cols;
  std::vector<ref_type<T>> ref;
};

template <class T, class I>
inputs<T, I>& inputs_for(const shape& s) {
  return group_object<inputs<T, I>>(key_of<T, I>(s), s);
}

void report(benchmark::State& state, const shape& s, std::int64_t bytes_per_call) {
  state.SetBytesProcessed(state.iterations() * bytes_per_call);
  state.SetItemsProcessed(state.iterations() * s.m);
}

template <class T, class I>
std::int64_t gather_bytes(const shape& s) {
  return s.m * static_cast<std::int64_t>(sizeof(I)) +
         2 * s.m * s.d * static_cast<std::int64_t>(sizeof(T));
}

template <class T, class I>
std::int64_t scatter_bytes(const shape& s) {
  return s.m * static_cast<std::int64_t>(sizeof(I)) +
         3 * s.m * s.d * static_cast<std::int64_t>(sizeof(T));
}

// Runs call() once over a poisoned Y and compares every (m / 61 + 1)-th row
// bit for bit with the row of U it names; on a mismatch, skips the benchmark
// with an error naming the row. A fast wrong kernel is not a result.
template <class T, class I, class Call>
bool gather_is_right(benchmark::State& state, inputs<T, I>& in, const char* op, Call call) {
  std::fill(in.y.begin(), in.y.end(), T(-7));
  call();
  const std::int64_t d = in.sh.d;
  for (std::int64_t i = 0; i < in.sh.m; i += in.sh.m / 61 + 1) {
    const T* want = in.u.data() + static_cast<std::int64_t>(in.idx[i]) * d;
    if (std::memcmp(in.y.data() + i * d, want, sizeof(T) * d) != 0) {
      state.SkipWithError((std::string(op) + " wrote a wrong row " + std::to_string(i)).c_str());
      return false;
    }
  }
  return true;
}

// Runs call() once into a zeroed dU and compares the reference rows, bit for
// bit (tolerance 0) or within tolerance * (1 + |reference|), bf16 rows within
// 2^-6 * (1 + |reference|); on a mismatch, skips the benchmark with an error
// naming the row.
template <class T, class I, class Call>
bool scatter_is_right(benchmark::State& state, inputs<T, I>& in, const char* op, Call call,
                      double tolerance = 0) {
  if constexpr (std::is_same_v<T, bf16>) tolerance = 0x1p-6;
  in.need_reference();
  std::fill(in.du.begin(), in.du.end(), T(0));
  call();
  const std::int64_t d = in.sh.d;
  for (std::size_t k = 0; k < in.ref_cols.size(); ++k) {
    const T* got = in.du.data() + in.ref_cols[k] * d;
    const ref_type<T>* want = in.ref.data() + k * d;
    bool same = false;
    if constexpr (std::is_same_v<T, ref_type<T>>) same = std::memcmp(got, want, sizeof(T) * d) == 0;
    if (!same && tolerance > 0) {
      same = true;
      for (std::int64_t c = 0; c < d; ++c) {
        const double w = static_cast<double>(want[c]);
        const double g = static_cast<double>(ref_value(got[c]));
        if (!(std::abs(g - w) <= tolerance * (1 + std::abs(w)))) {
          same = false;
          break;
        }
      }
    }
    if (!same) {
      state.SkipWithError(
          (std::string(op) + " wrote a wrong row " + std::to_string(in.ref_cols[k])).c_str());
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// routemat's kernels.

template <class T, class I>
void bm_gather(benchmark::State& state, int threads, routemat::isa target, shape s) {
  try {
    routemat::set_num_threads(threads);
    routemat::select_isa(target);
    inputs<T, I>& in = inputs_for<T, I>(s);
    in.need_gather();
    const routemat::rows_view<const T> src(in.u.data(), s.n, s.d);
    const routemat::rows_view<T> dst(in.y.data(), s.m, s.d);
    auto call = [&] { routemat::gather(*in.g, src, dst); };
    call();
    for (auto _ : state) {
      call();
      benchmark::DoNotOptimize(in.y.data());
      benchmark::ClobberMemory();
    }
    if (!gather_is_right(state, in, "gather", call)) return;
    report(state, s, gather_bytes<T, I>(s));
  } catch (const routemat::error& e) {
    state.SkipWithError(e.what());
  }
}

template <class T, class I>
void bm_scatter_add(benchmark::State& state, int threads, routemat::isa target, shape s) {
  try {
    routemat::set_num_threads(threads);
    routemat::select_isa(target);
    inputs<T, I>& in = inputs_for<T, I>(s);
    in.need_scatter();
    std::fill(in.du.begin(), in.du.end(), T(0));
    const routemat::rows_view<const T> src(in.dy.data(), s.m, s.d);
    const routemat::rows_view<T> dst(in.du.data(), s.n, s.d);
    auto call = [&] { routemat::scatter_add(*in.g, src, dst); };
    call();
    for (auto _ : state) {
      call();
      benchmark::DoNotOptimize(in.du.data());
      benchmark::ClobberMemory();
    }
    if (!scatter_is_right(state, in, "scatter_add", call)) return;
    report(state, s, scatter_bytes<T, I>(s));
  } catch (const routemat::error& e) {
    state.SkipWithError(e.what());
  }
}

template <class T, class I>
void bm_plan_scatter_add(benchmark::State& state, int threads, routemat::isa target, shape s,
                         routemat::write mode) {
  try {
    routemat::set_num_threads(threads);
    routemat::select_isa(target);
    inputs<T, I>& in = inputs_for<T, I>(s);
    in.need_scatter();
    in.need_plan();
    std::fill(in.du.begin(), in.du.end(), T(0));
    const routemat::rows_view<const T> src(in.dy.data(), s.m, s.d);
    const routemat::rows_view<T> dst(in.du.data(), s.n, s.d);
    auto call = [&] { routemat::scatter_add(*in.p, src, dst, mode); };
    call();
    for (auto _ : state) {
      call();
      benchmark::DoNotOptimize(in.du.data());
      benchmark::ClobberMemory();
    }
    if (!scatter_is_right(state, in, "plan_scatter_add", call)) return;
    // The CSR replaces the indices: (m - dropped) sources and n + 1 offsets.
    const std::int64_t csr_element = s.m <= INT32_MAX ? 4 : 8;
    const std::int64_t csr_bytes = (s.m - in.g->dropped_rows() + s.n + 1) * csr_element;
    report(state, s,
           scatter_bytes<T, I>(s) - s.m * static_cast<std::int64_t>(sizeof(I)) + csr_bytes);
  } catch (const routemat::error& e) {
    state.SkipWithError(e.what());
  }
}

// Plan construction from an existing map; only the construction is timed.
template <class I>
void bm_plan_build(benchmark::State& state, int threads, shape s) {
  try {
    routemat::set_num_threads(threads);
    inputs<float, I>& in = inputs_for<float, I>(s);
    std::optional<routemat::plan> p(std::in_place, *in.g);
    p.reset();
    for (auto _ : state) {
      p.emplace(*in.g);
      benchmark::DoNotOptimize(p->native_handle());
      benchmark::ClobberMemory();
      state.PauseTiming();
      p.reset();
      state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * s.m);
  } catch (const routemat::error& e) {
    state.SkipWithError(e.what());
  }
}

// ---------------------------------------------------------------------------
// Bags: m routes with uniform indices (as inputs makes them), in B = m / k
// bags of k routes, f32 rows, summed (reduce::sum), with per-route weights
// for the combine.

template <class I>
struct bag_inputs {
  explicit bag_inputs(const shape& s)
      : routes(s),
        b(routemat::bags::fixed(*routes.g, s.k)),
        count(s.m / s.k),
        u(random_values<float>(s, s.n * s.d, 1)),
        w(random_values<float>(s, s.m, 3)),
        y(static_cast<std::size_t>(count * s.d), 0.0f) {}
  // dY (B x d, random), dU (n x d), dw (m) and the plan of the backward.
  void need_backward() {
    if (!dy.empty()) return;
    dy = random_values<float>(routes.sh, count * routes.sh.d, 2);
    du.assign(static_cast<std::size_t>(routes.sh.n * routes.sh.d), 0.0f);
    dw.assign(static_cast<std::size_t>(routes.sh.m), 0.0f);
    routes.need_plan();
  }

  inputs<float, I> routes;  // the indices, their map and (backward) plan
  routemat::bags b;
  std::int64_t count;  // B
  buffer<float> u, w, y, dy, du, dw;
};

template <class I>
bag_inputs<I>& bag_inputs_for(const shape& s) {
  return group_object<bag_inputs<I>>(key_of<float, I>(s), s);
}

// Whether got is within terms * 2^-23 * (1 + sum_abs) of want, sum_abs the sum
// of the magnitudes of the terms of want: the error bound of summing them in
// f32 in any order, with a factor 2 to spare for rounding their products.
bool near(double got, double want, double sum_abs, std::int64_t terms) {
  return std::abs(got - want) <= static_cast<double>(terms) * 0x1p-23 * (1 + sum_abs);
}

void skip_wrong(benchmark::State& state, const char* op, const char* what, std::int64_t row) {
  state.SkipWithError(
      (std::string(op) + " wrote a wrong " + what + " " + std::to_string(row)).c_str());
}

// Runs call() once over a poisoned Y and compares every (B / 61 + 1)-th bag
// with its sum of (weighted) rows in f64.
template <class I, class Call>
bool bag_forward_is_right(benchmark::State& state, bag_inputs<I>& in, bool weighted, const char* op,
                          Call call) {
  std::fill(in.y.begin(), in.y.end(), -7.0f);
  call();
  const std::int64_t d = in.routes.sh.d, k = in.routes.sh.k;
  for (std::int64_t bag = 0; bag < in.count; bag += in.count / 61 + 1) {
    for (std::int64_t c = 0; c < d; ++c) {
      double want = 0, sum_abs = 0;
      for (std::int64_t r = bag * k; r < (bag + 1) * k; ++r) {
        const double term = (weighted ? static_cast<double>(in.w[r]) : 1.0) *
                            in.u[static_cast<std::int64_t>(in.routes.idx[r]) * d + c];
        want += term;
        sum_abs += std::abs(term);
      }
      if (!near(in.y[bag * d + c], want, sum_abs, k)) {
        skip_wrong(state, op, "bag", bag);
        return false;
      }
    }
  }
  return true;
}

// Runs call() once into a zeroed dU and a poisoned dw and compares, for every
// (m / 61 + 1)-th route r, dw[r] = <dY[r / k], U[idx[r]]> and the row
// dU[idx[r]] = the sum of w[r'] dY[r' / k] over the routes r' into it, with
// their f64 values.
template <class I, class Call>
bool bag_backward_is_right(benchmark::State& state, bag_inputs<I>& in, const char* op, Call call) {
  std::fill(in.du.begin(), in.du.end(), 0.0f);
  std::fill(in.dw.begin(), in.dw.end(), -7.0f);
  call();
  const std::int64_t d = in.routes.sh.d, k = in.routes.sh.k, m = in.routes.sh.m;
  auto row = [&](const buffer<float>& v, std::int64_t i) { return v.data() + i * d; };
  for (std::int64_t r = 0; r < m; r += m / 61 + 1) {
    const std::int64_t j = static_cast<std::int64_t>(in.routes.idx[r]);
    double want = 0, sum_abs = 0;
    for (std::int64_t c = 0; c < d; ++c) {
      const double term = static_cast<double>(row(in.dy, r / k)[c]) * row(in.u, j)[c];
      want += term;
      sum_abs += std::abs(term);
    }
    if (!near(in.dw[r], want, sum_abs, d)) {
      skip_wrong(state, op, "dw of route", r);
      return false;
    }
    std::vector<double> sum(static_cast<std::size_t>(d), 0.0), abs_sum(sum);
    std::int64_t terms = 0;
    for (std::int64_t q = 0; q < m; ++q) {
      if (static_cast<std::int64_t>(in.routes.idx[q]) != j) continue;
      ++terms;
      for (std::int64_t c = 0; c < d; ++c) {
        const double term = static_cast<double>(in.w[q]) * row(in.dy, q / k)[c];
        sum[c] += term;
        abs_sum[c] += std::abs(term);
      }
    }
    for (std::int64_t c = 0; c < d; ++c) {
      if (!near(row(in.du, j)[c], sum[c], abs_sum[c], terms)) {
        skip_wrong(state, op, "dU row", j);
        return false;
      }
    }
  }
  return true;
}

// Bytes of one bag_forward: the indices, the routed rows of U, the bags of Y
// and, weighted, the weights.
template <class I>
std::int64_t bag_forward_bytes(const shape& s, bool weighted) {
  return s.m * static_cast<std::int64_t>(sizeof(I) + (weighted ? 4 : 0)) + s.m * s.d * 4 +
         s.m / s.k * s.d * 4;
}

// Bytes of one weighted bag_backward with du and dw: the indices, the weights
// read and dw written, dY once, the routed rows of U (for dw) and the
// read-modify-write of dU per routed row.
template <class I>
std::int64_t bag_backward_bytes(const shape& s) {
  return s.m * static_cast<std::int64_t>(sizeof(I) + 8) + s.m / s.k * s.d * 4 + 3 * s.m * s.d * 4;
}

// Y = the bags' sums (weighted: the combine) of U's rows.
template <class I>
void bm_bag_forward(benchmark::State& state, int threads, routemat::isa target, shape s,
                    bool weighted) {
  try {
    routemat::set_num_threads(threads);
    routemat::select_isa(target);
    bag_inputs<I>& in = bag_inputs_for<I>(s);
    const routemat::rows_view<const float> u(in.u.data(), s.n, s.d);
    const routemat::rows_view<float> y(in.y.data(), in.count, s.d);
    const auto w = weighted ? routemat::route_values<const float>(in.w.data(), s.m)
                            : routemat::route_values<const float>();
    auto call = [&] { routemat::bag_forward(in.b, u, y, routemat::reduce::sum, w); };
    call();
    for (auto _ : state) {
      call();
      benchmark::DoNotOptimize(in.y.data());
      benchmark::ClobberMemory();
    }
    if (!bag_forward_is_right(state, in, weighted, weighted ? "bag_combine" : "bag_sum", call))
      return;
    report(state, s, bag_forward_bytes<I>(s, weighted));
  } catch (const routemat::error& e) {
    state.SkipWithError(e.what());
  }
}

// The combine's backward through the plan: dU += and dw =.
template <class I>
void bm_bag_combine_backward(benchmark::State& state, int threads, routemat::isa target, shape s) {
  try {
    routemat::set_num_threads(threads);
    routemat::select_isa(target);
    bag_inputs<I>& in = bag_inputs_for<I>(s);
    in.need_backward();
    std::fill(in.du.begin(), in.du.end(), 0.0f);
    const routemat::rows_view<const float> dy(in.dy.data(), in.count, s.d),
        u(in.u.data(), s.n, s.d);
    const routemat::rows_view<float> du(in.du.data(), s.n, s.d);
    const routemat::route_values<float> dw(in.dw.data(), s.m);
    const routemat::route_values<const float> w(in.w.data(), s.m);
    auto call = [&] {
      routemat::bag_backward(in.b, dy, &u, &du, dw, routemat::reduce::sum, w, in.routes.p.get());
    };
    call();
    for (auto _ : state) {
      call();
      benchmark::DoNotOptimize(in.du.data());
      benchmark::ClobberMemory();
    }
    if (!bag_backward_is_right(state, in, "bag_combine_backward", call)) return;
    report(state, s, bag_backward_bytes<I>(s));
  } catch (const routemat::error& e) {
    state.SkipWithError(e.what());
  }
}

// ---------------------------------------------------------------------------
// Baselines, on the calling thread, f32 only.

using dense_rows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The loops a caller writes without routemat.
template <class I>
void bm_plain_loop_gather(benchmark::State& state, int threads, shape s) {
  (void)threads;
  inputs<float, I>& in = inputs_for<float, I>(s);
  in.need_gather();
  const I* idx = in.idx.data();
  const float* u = in.u.data();
  float* y = in.y.data();
  const std::int64_t m = s.m, d = s.d;
  auto call = [&] {
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t k = 0; k < d; ++k) y[i * d + k] = u[idx[i] * d + k];
  };
  call();
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(y);
    benchmark::ClobberMemory();
  }
  if (!gather_is_right(state, in, "plain_loop_gather", call)) return;
  report(state, s, gather_bytes<float, I>(s));
}

template <class I>
void bm_plain_loop_scatter_add(benchmark::State& state, int threads, shape s) {
  (void)threads;
  inputs<float, I>& in = inputs_for<float, I>(s);
  in.need_scatter();
  std::fill(in.du.begin(), in.du.end(), 0.0f);
  const I* idx = in.idx.data();
  const float* dy = in.dy.data();
  float* du = in.du.data();
  const std::int64_t m = s.m, d = s.d;
  auto call = [&] {
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t k = 0; k < d; ++k) du[idx[i] * d + k] += dy[i * d + k];
  };
  call();
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(du);
    benchmark::ClobberMemory();
  }
  if (!scatter_is_right(state, in, "plain_loop_scatter_add", call)) return;
  report(state, s, scatter_bytes<float, I>(s));
}

// Eigen's SparseMatrix, what a C++ user would otherwise reach for: G as a
// row-major m x n sparse matrix with the index type as its StorageIndex.
template <class I>
struct eigen_sparse {
  explicit eigen_sparse(const inputs<float, I>& in) : g(in.sh.m, in.sh.n) {
    std::vector<Eigen::Triplet<float, I>> ones;
    ones.reserve(in.idx.size());
    for (std::int64_t i = 0; i < in.sh.m; ++i)
      ones.emplace_back(static_cast<I>(i), in.idx[i], 1.0f);
    g.setFromTriplets(ones.begin(), ones.end());
  }
  Eigen::SparseMatrix<float, Eigen::RowMajor, I> g;
};

// G as a dense row-major m x n matrix of zeros and ones.
template <class I>
struct eigen_dense {
  explicit eigen_dense(const inputs<float, I>& in) : g(dense_rows::Zero(in.sh.m, in.sh.n)) {
    for (std::int64_t i = 0; i < in.sh.m; ++i) g(i, static_cast<std::int64_t>(in.idx[i])) = 1.0f;
  }
  dense_rows g;
};

// Y = G U or dU += G^T dY with Eigen, G a sparse or a dense matrix.
template <class I, class G>
void bm_eigen_product(benchmark::State& state, int threads, shape s, bool gather) {
  (void)threads;
  inputs<float, I>& in = inputs_for<float, I>(s);
  const auto& g = group_object<G>(key_of<float, I>(s), in).g;
  constexpr bool dense = std::is_same_v<G, eigen_dense<I>>;
  if (gather) {
    in.need_gather();
    Eigen::Map<const dense_rows> u(in.u.data(), s.n, s.d);
    Eigen::Map<dense_rows> y(in.y.data(), s.m, s.d);
    auto call = [&] { y.noalias() = g * u; };
    call();
    for (auto _ : state) {
      call();
      benchmark::DoNotOptimize(in.y.data());
      benchmark::ClobberMemory();
    }
    if (!gather_is_right(state, in, dense ? "dense_gather" : "eigen_gather", call)) return;
    report(state, s, gather_bytes<float, I>(s));
  } else {
    in.need_scatter();
    std::fill(in.du.begin(), in.du.end(), 0.0f);
    Eigen::Map<const dense_rows> dy(in.dy.data(), s.m, s.d);
    Eigen::Map<dense_rows> du(in.du.data(), s.n, s.d);
    auto call = [&] { du.noalias() += g.transpose() * dy; };
    call();
    for (auto _ : state) {
      call();
      benchmark::DoNotOptimize(in.du.data());
      benchmark::ClobberMemory();
    }
    // A GEMM sums each destination's sources in blocks, not in row order.
    if (!scatter_is_right(state, in, dense ? "dense_scatter_add" : "eigen_scatter_add", call,
                          dense ? 1e-5 : 0))
      return;
    report(state, s, scatter_bytes<float, I>(s));
  }
}

// The dense baseline only where it fits: G at most 256 MiB, a product at
// most 2e10 flops.
bool dense_fits(const shape& s) {
  return s.m * s.n * 4 <= (std::int64_t{256} << 20) &&
         2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.d) <=
             2e10;
}

// Per-call overhead: the README's 5 x 3 weight-sharing matrix (d = 1), a
// forward gather and a backward scatter-add per iteration, through the C++
// API with all its checks. items_per_second counts calls.
void bm_seed_calls(benchmark::State& state) {
  static const std::int32_t idx[] = {0, 1, 2, 2, 2};
  static const routemat::map g(5, 3, idx);
  float u[3] = {1, 2, 3}, w[5] = {}, dw[5] = {1, 10, 100, 1000, 10000}, du[3] = {};
  const routemat::rows_view<const float> u_view(u, 3, 1), dw_view(dw, 5, 1);
  const routemat::rows_view<float> w_view(w, 5, 1), du_view(du, 3, 1);
  for (auto _ : state) {
    routemat::gather(g, u_view, w_view);
    routemat::scatter_add(g, dw_view, du_view);
    benchmark::DoNotOptimize(w);
    benchmark::DoNotOptimize(du);
  }
  state.SetItemsProcessed(2 * state.iterations());
}

void bm_copy_ceiling(benchmark::State& state) {
  release_group();  // the last workload's buffers
  constexpr std::size_t size = std::size_t{512} << 20;
  static std::vector<char> from(size, 1), to(size, 2);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), size);
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * size));
}

// ---------------------------------------------------------------------------
// Progress on stderr: "[k/N] name" when a benchmark starts.

struct progress {
  std::vector<std::string> names;  // every registered benchmark, as reported
  std::vector<bool> started;
  int selected = 0;  // how many --benchmark_filter selects
  int begun = 0;
};

progress& the_progress() {
  static progress p;
  return p;
}

// Counts the registered names --benchmark_filter selects, as Google Benchmark
// matches them: "" and "all" select everything, a leading '-' negates, the
// rest is an extended std::regex searched in the name.
void count_selected() {
  progress& p = the_progress();
  std::string spec = benchmark::GetBenchmarkFilter();
  if (spec.empty() || spec == "all") spec = ".";
  bool negative = false;
  if (spec[0] == '-') {
    negative = true;
    spec.erase(0, 1);
  }
  p.started.assign(p.names.size(), false);
  try {
    const std::regex re(spec, std::regex::extended);
    p.selected = static_cast<int>(std::count_if(p.names.begin(), p.names.end(), [&](const auto& n) {
      return std::regex_search(n, re) != negative;
    }));
  } catch (const std::regex_error&) {
    p.selected = 0;  // Google Benchmark will refuse the filter itself
  }
}

void announce(std::size_t id) {
  progress& p = the_progress();
  if (id >= p.started.size() || p.started[id]) return;
  p.started[id] = true;
  std::fprintf(stderr, "[%d/%d] %s\n", ++p.begun, p.selected, p.names[id].c_str());
}

// Registers body under name (Google Benchmark appends /real_time to the
// reported name when real_time is set).
void add_benchmark(const std::string& name, bool real_time, benchmark::TimeUnit unit,
                   std::function<void(benchmark::State&)> body) {
  progress& p = the_progress();
  const std::size_t id = p.names.size();
  p.names.push_back(real_time ? name + "/real_time" : name);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [id, body](benchmark::State& state) {
    announce(id);
    body(state);
  });
  b->Unit(unit);
  if (real_time) b->UseRealTime();
}

// Registers fn(state, threads, args...). threads == 0: the library pinned to
// one thread, rates per CPU second, no suffix; threads >= 1: that many
// threads, rates per wall-clock second, "/threads=N" appended.
template <class Fn, class... Args>
void add(std::string name, int threads, benchmark::TimeUnit unit, Fn fn, Args... args) {
  if (threads > 0) name += "/threads=" + std::to_string(threads);
  const int run_threads = std::max(threads, 1);
  add_benchmark(name, threads > 0, unit,
                [=](benchmark::State& state) { fn(state, run_threads, args...); });
}

// ---------------------------------------------------------------------------
// Names and registration.

// "n=.../m=..." plus the distribution's suffix and, for bags, "/k=...".
std::string nm_name(const shape& s) {
  return "n=" + std::to_string(s.n) + "/m=" + std::to_string(s.m) + dist_suffix(s.kind) +
         (s.k > 0 ? "/k=" + std::to_string(s.k) : "");
}

std::string shape_name(const char* op, const char* t, const char* i, const shape& s) {
  return std::string(op) + "/" + t + "/" + i + "/d=" + std::to_string(s.d) + "/" + nm_name(s);
}

std::string shape_name(const char* op, const char* t, const char* i, const shape& s,
                       routemat::isa target) {
  return shape_name(op, t, i, s) + "/" + routemat::isa_name(target);
}

// Milliseconds, except for the tiny seed shape.
benchmark::TimeUnit unit_for(const shape& s) {
  return s.m * s.d < 1024 ? benchmark::kNanosecond : benchmark::kMillisecond;
}

using isa_list = std::vector<routemat::isa>;
using thread_list = std::initializer_list<int>;

// gather, scatter_add and plan_scatter_add for every ISA, each at every
// thread count of `threads` (0: one thread, unsuffixed).
template <class T, class I>
void register_ops(const isa_list& isas, const shape& s, thread_list threads) {
  const char* t = value_name<T>();
  const char* i = index_name<I>();
  const auto unit = unit_for(s);
  for (routemat::isa target : isas) {
    for (int n : threads)
      add(shape_name("gather", t, i, s, target), n, unit, bm_gather<T, I>, target, s);
    for (int n : threads)
      add(shape_name("scatter_add", t, i, s, target), n, unit, bm_scatter_add<T, I>, target, s);
    for (int n : threads)
      add(shape_name("plan_scatter_add", t, i, s, target), n, unit, bm_plan_scatter_add<T, I>,
          target, s, routemat::write::accumulate);
  }
}

// bag_sum (weighted false) or bag_combine and bag_combine_backward, for every
// ISA, at one thread and at all threads.
template <class I>
void register_bags(const isa_list& isas, const shape& s, int all, bool weighted) {
  const char* i = index_name<I>();
  for (routemat::isa target : isas) {
    for (int n : {0, all})
      add(shape_name(weighted ? "bag_combine" : "bag_sum", "f32", i, s, target), n,
          benchmark::kMillisecond, bm_bag_forward<I>, target, s, weighted);
    if (!weighted) continue;
    for (int n : {0, all})
      add(shape_name("bag_combine_backward", "f32", i, s, target), n, benchmark::kMillisecond,
          bm_bag_combine_backward<I>, target, s);
  }
}

// Plan construction reads only the indices, so the name carries no d and no
// ISA.
template <class I>
void register_plan_build(const shape& s, thread_list threads) {
  for (int n : threads)
    add(std::string("plan_build/") + index_name<I>() + "/" + nm_name(s), n, benchmark::kMillisecond,
        bm_plan_build<I>, s);
}

// Every baseline of the shape, 1 thread (the dense one where it fits).
template <class I>
void register_baselines(const shape& s) {
  const char* i = index_name<I>();
  const auto unit = unit_for(s);
  add(shape_name("plain_loop_gather", "f32", i, s), 0, unit, bm_plain_loop_gather<I>, s);
  add(shape_name("plain_loop_scatter_add", "f32", i, s), 0, unit, bm_plain_loop_scatter_add<I>, s);
  add(shape_name("eigen_gather", "f32", i, s), 0, unit, bm_eigen_product<I, eigen_sparse<I>>, s,
      true);
  add(shape_name("eigen_scatter_add", "f32", i, s), 0, unit, bm_eigen_product<I, eigen_sparse<I>>,
      s, false);
  if (!dense_fits(s)) return;
  add(shape_name("dense_gather", "f32", i, s), 0, unit, bm_eigen_product<I, eigen_dense<I>>, s,
      true);
  add(shape_name("dense_scatter_add", "f32", i, s), 0, unit, bm_eigen_product<I, eigen_dense<I>>, s,
      false);
}

constexpr std::int64_t K = 1024, M = 1024 * 1024;
const shape vec_dram{1, M, 4 * M};
const shape graph{16, 100000, 1000000};
const shape workloads[] = {
    vec_dram,               // vec_dram
    {1, 64 * K, 4 * M},     // vec_cache
    {64, M, 64 * K},        // embedding
    graph,                  // graph
    {1024, 8 * K, 16 * K},  // moe
    {4, M, 256 * K},        // narrow
    {64, 2 * K, 8 * K},     // dense_fit
};

bool same_shape(const shape& a, const shape& b) { return a.d == b.d && a.n == b.n && a.m == b.m; }

// One workload with uniform indices and one index type: its group.
template <class I>
void register_uniform(const isa_list& isas, const shape& s, int all) {
  register_ops<float, I>(isas, s, {0, all});
  if (same_shape(s, graph)) {
    for (routemat::isa target : isas)
      add(shape_name("plan_scatter_add_overwrite", "f32", index_name<I>(), s, target), 0,
          benchmark::kMillisecond, bm_plan_scatter_add<float, I>, target, s,
          routemat::write::overwrite);
  }
  if (same_shape(s, graph) || same_shape(s, vec_dram)) register_plan_build<I>(s, {0, all});
  register_baselines<I>(s);
}

// vec_dram and graph with a skewed, sorted or permuted map: one group.
template <class I>
void register_distribution(const isa_list& isas, const shape& s, int all) {
  if (s.kind == dist::zipf && same_shape(s, graph)) {
    register_ops<float, I>(isas, s, {0, all});
  } else {
    register_ops<float, I>(isas, s, {0});
  }
  register_plan_build<I>(s, {0});
}

void register_all(const isa_list& isas, int all) {
  using i32 = std::int32_t;
  using i64 = std::int64_t;
  for (const shape& s : workloads) {
    register_uniform<i32>(isas, s, all);
    register_uniform<i64>(isas, s, all);
  }
  for (const shape& base : {vec_dram, graph}) {
    for (dist kind : {dist::zipf, dist::sorted, dist::permutation}) {
      const shape s{base.d, base.n, base.m, kind};
      register_distribution<i32>(isas, s, all);
      register_distribution<i64>(isas, s, all);
    }
  }
  register_ops<float, i32>(isas, {16, 8 * K, 64 * K}, {0, all});  // graph_l2: dU in L2
  register_ops<double, i32>(isas, graph, {0});
  const shape embedding_bf16{128, M, 64 * K};
  register_ops<bf16, i32>(isas, embedding_bf16, {0, all});
  register_ops<bf16, i64>(isas, embedding_bf16, {0, all});
  for (const std::int64_t n : {M, 16 * K}) {  // bag_sum: the table in DRAM, in the caches
    const shape s{64, n, 320 * K, dist::uniform, 20};
    register_bags<i32>(isas, s, all, false);
    register_bags<i64>(isas, s, all, false);
  }
  const shape combine{1024, 16 * K, 16 * K, dist::uniform, 2};
  register_bags<i32>(isas, combine, all, true);
  register_bags<i64>(isas, combine, all, true);
  const shape seed{1, 3, 5, dist::seed};
  for (const bool wide : {false, true}) {
    if (wide) {
      register_ops<float, i64>(isas, seed, {0});
      register_baselines<i64>(seed);
    } else {
      register_ops<float, i32>(isas, seed, {0});
      register_baselines<i32>(seed);
    }
  }
  add_benchmark("seed_5x3/gather+scatter_add/f32/i32/d=1", false, benchmark::kNanosecond,
                bm_seed_calls);
  add_benchmark("copy_ceiling/memcpy/512MiB", false, benchmark::kMillisecond, bm_copy_ceiling);
}

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--routemat_isa=best|all] [benchmark flags]\n"
               "  --routemat_isa=best  only the best ISA this CPU runs (default)\n"
               "  --routemat_isa=all   every ISA of the build this CPU runs\n"
               "Each benchmark selects its ISA itself, whatever ROUTEMAT_ISA says.\n",
               argv0);
}

}  // namespace

int main(int argc, char** argv) {
  // Take --routemat_isa out of argv before benchmark::Initialize sees it, and
  // put the default min time first (a later --benchmark_min_time wins).
  bool all = false;
  std::vector<char*> args{argv[0], kDefaultMinTime};
  for (int a = 1; a < argc; ++a) {
    const char* prefix = "--routemat_isa=";
    if (std::strncmp(argv[a], prefix, std::strlen(prefix)) == 0) {
      const char* value = argv[a] + std::strlen(prefix);
      if (std::strcmp(value, "all") == 0) {
        all = true;
      } else if (std::strcmp(value, "best") == 0) {
        all = false;
      } else {
        std::fprintf(stderr, "%s: unknown --routemat_isa value '%s'\n", argv[0], value);
        usage(argv[0]);
        return 2;
      }
      continue;
    }
    args.push_back(argv[a]);
  }
  int bench_argc = static_cast<int>(args.size());
  args.push_back(nullptr);

  benchmark::Initialize(&bench_argc, args.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, args.data())) {
    usage(argv[0]);
    return 1;
  }

  // The enum lists ISAs in increasing order of preference on their
  // architecture, so the last supported one is the best.
  isa_list supported;
  for (int v = static_cast<int>(routemat::isa::scalar); v <= static_cast<int>(routemat::isa::neon);
       ++v) {
    const auto target = static_cast<routemat::isa>(v);
    if (routemat::isa_supported(target)) supported.push_back(target);
  }
  if (supported.empty()) {
    std::fprintf(stderr, "%s: routemat reports no runnable ISA\n", argv[0]);
    return 1;
  }
  if (!all) supported.erase(supported.begin(), supported.end() - 1);
  const int all_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  register_all(supported, all_threads);
  count_selected();

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
