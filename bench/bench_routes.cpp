// routemat_bench: Google Benchmark suite of the routing kernels.
//
// For each ISA it runs (only the best one by default; every supported one with
// --routemat_isa=all), gather, scatter_add and plan_scatter_add over a few
// shapes of G (m x n, rows of width d), named e.g.
// gather/f32/i32/d=64/n=1048576/m=65536/avx2. Each benchmark selects its ISA
// with routemat::select_isa before timing. The benchmarks:
//   gather            routemat::gather(map, U, Y)
//   scatter_add       routemat::scatter_add(map, dY, dU): the push kernel
//   plan_scatter_add  routemat::scatter_add(plan, dY, dU, write::accumulate):
//                     the plan's deterministic pull (plan built before timing)
//   plan_scatter_add_overwrite  the same with write::overwrite (dU = G^T dY)
//   plan_build        constructing a routemat::plan from a map (once, not per
//                     ISA: it has no SIMD kernel), e.g.
//                     plan_build/i32/n=1048576/m=4194304; destroying the plan
//                     is not timed, allocating and faulting in its memory is
//   plain_loop_scatter_add  `for i: dU[idx[i]] += dY[i]` (d = 1) written out
//                     in this file, scalar C++ at the benchmark's own flags:
//                     what a caller would write without routemat
//
// Threads. A name without a /threads= suffix runs with the library pinned to
// one thread (routemat::set_num_threads(1)) and reports rates per CPU second
// (Google Benchmark's default), so time the process spends preempted on a
// busy machine does not count against the kernels. A name with
// /threads=N runs with N threads and reports rates per wall-clock second
// (UseRealTime, so Google Benchmark appends /real_time to the name): the CPU
// time of the calling thread would leave out the library's workers. Compare
// /threads=1 with /threads=2 of the same name, not with the unsuffixed name.
// Each benchmark sets its thread count and makes one untimed call (which
// starts the workers) before its timing loop.
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
//   plain_loop_scatter_add  as scatter_add
//   plan_scatter_add (both modes)  as scatter_add, except that the pull reads
//                the plan's CSR instead of the indices: the term m * sizeof(I)
//                becomes (m - dropped) * c + (n + 1) * c, the sources and the
//                offsets, with c = 4 bytes (8 when m >= 2^31). So with no
//                dropped rows and i32 indices it is scatter_add's count plus
//                (n + 1) * 4. The dU term keeps scatter_add's per-routed-row
//                convention, although the pull reads and writes each dU row
//                once, and the overwrite mode does not read dU at all.
//   plan_build   no bytes
// items_per_second counts rows routed (m per call; for plan_build, m per plan).
// copy_ceiling/memcpy/512MiB is the DRAM copy bandwidth of this machine
// (bytes = read + write = 2 * 512 MiB per iteration), the ceiling of the
// shapes whose data does not fit in the caches; shapes that do fit (e.g.
// d=1024, n=8192) can exceed it.
//
// Inputs are built once per shape (lazily, on the first benchmark that needs
// them) and shared by every ISA and thread count. Values are uniform in
// [-1, 1], indices uniform in [0, n), or, for a shape named .../zipf=S,
// Zipf-distributed: P(idx = j) proportional to (j + 1)^-S, so the hottest
// destinations are the first ones, as in a frequency-sorted vocabulary (for
// S = 1.1 and n = 1M, row 0 gets about 12% of the rows and the first half of
// the destinations about 98%: the hard case for splitting destinations into
// equal ranges). The scatter benchmarks zero dU once per run and then
// accumulate into it across iterations, as the kernel does; after timing they
// check a few rows of one call into a zeroed dU, bit for bit, against G^T dY
// summed in row order.
#include <benchmark/benchmark.h>
#include <Eigen/SparseCore>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "routemat/routemat.hpp"

namespace {

// The default --benchmark_min_time (seconds per benchmark), given as a flag
// rather than with MinTime() so that names carry no /min_time: suffix and the
// command line can still override it.
char kDefaultMinTime[] = "--benchmark_min_time=0.2";

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

struct shape {
  std::int64_t d, n, m;
  double zipf = 0;  // 0: uniform indices; s > 0: Zipf(s) indices
};

template <class T>
const char* value_name() {
  return sizeof(T) == 4 ? "f32" : "f64";
}
template <class I>
const char* index_name() {
  return sizeof(I) == 4 ? "i32" : "i64";
}

// The inputs and outputs of one (T, I, shape), built on first use.
template <class T, class I>
struct inputs {
  explicit inputs(const shape& s) : sh(s), idx(static_cast<std::size_t>(s.m)) {
    rng r(0x5EED0000u + static_cast<std::uint64_t>(s.d * 31 + s.n * 7 + s.m));
    if (s.zipf > 0) {
      const zipf_sampler draw(s.n, s.zipf);
      for (I& j : idx) j = static_cast<I>(draw(r));
    } else {
      for (I& j : idx) j = static_cast<I>(r.below(s.n));
    }
    g = std::make_unique<routemat::map>(s.m, s.n, idx.data());
  }
  // U (n x d, random) and Y (m x d); zero-filled vectors have their pages
  // touched before any timing.
  void need_gather() {
    if (!u.empty()) return;
    u = random_values(sh.n * sh.d, 1);
    y.assign(static_cast<std::size_t>(sh.m * sh.d), T(0));
  }
  // dY (m x d, random) and dU (n x d).
  void need_scatter() {
    if (!dy.empty()) return;
    dy = random_values(sh.m * sh.d, 2);
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
    ref.assign(ref_cols.size() * static_cast<std::size_t>(sh.d), T(0));
    for (std::int64_t i = 0; i < sh.m; ++i) {
      const std::int32_t k = slot[static_cast<std::size_t>(idx[i])];
      if (k < 0) continue;
      for (std::int64_t c = 0; c < sh.d; ++c) ref[k * sh.d + c] += dy[i * sh.d + c];
    }
  }

  shape sh;
  buffer<I> idx;
  std::unique_ptr<routemat::map> g;
  std::unique_ptr<routemat::plan> p;
  buffer<T> u, y, dy, du;
  std::vector<std::int64_t> ref_cols;
  std::vector<T> ref;

 private:
  buffer<T> random_values(std::int64_t count, std::uint64_t stream) const {
    rng r(0xF00D0000u + stream * 0x1000u + static_cast<std::uint64_t>(sh.d + sh.n + sh.m));
    buffer<T> v(static_cast<std::size_t>(count));
    for (T& x : v) x = static_cast<T>(r.unit());
    return v;
  }
};

template <class T, class I>
inputs<T, I>& inputs_for(const shape& s) {
  static std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, double>,
                  std::unique_ptr<inputs<T, I>>>
      cache;
  auto& slot = cache[{s.d, s.n, s.m, s.zipf}];
  if (!slot) slot = std::make_unique<inputs<T, I>>(s);
  return *slot;
}

void report(benchmark::State& state, const shape& s, std::int64_t bytes_per_call) {
  state.SetBytesProcessed(state.iterations() * bytes_per_call);
  state.SetItemsProcessed(state.iterations() * s.m);
}

template <class T, class I>
std::int64_t scatter_bytes(const shape& s) {
  return s.m * static_cast<std::int64_t>(sizeof(I)) +
         3 * s.m * s.d * static_cast<std::int64_t>(sizeof(T));
}

// Runs call() once into a zeroed dU and compares the reference rows bit for
// bit; on a mismatch, skips the benchmark with an error naming the row.
template <class T, class I, class Call>
bool scatter_is_right(benchmark::State& state, inputs<T, I>& in, const char* op, Call call) {
  in.need_reference();
  std::fill(in.du.begin(), in.du.end(), T(0));
  call();
  const std::int64_t d = in.sh.d;
  for (std::size_t k = 0; k < in.ref_cols.size(); ++k) {
    if (std::memcmp(in.du.data() + in.ref_cols[k] * d, in.ref.data() + k * d, sizeof(T) * d) != 0) {
      state.SkipWithError(
          (std::string(op) + " wrote a wrong row " + std::to_string(in.ref_cols[k])).c_str());
      return false;
    }
  }
  return true;
}

template <class T, class I>
void bm_gather(benchmark::State& state, int threads, routemat::isa target, shape s) {
  try {
    routemat::set_num_threads(threads);
    routemat::select_isa(target);
    inputs<T, I>& in = inputs_for<T, I>(s);
    in.need_gather();
    const routemat::rows_view<const T> src(in.u.data(), s.n, s.d);
    const routemat::rows_view<T> dst(in.y.data(), s.m, s.d);
    routemat::gather(*in.g, src, dst);
    for (auto _ : state) {
      routemat::gather(*in.g, src, dst);
      benchmark::DoNotOptimize(in.y.data());
      benchmark::ClobberMemory();
    }
    // Spot-check a few rows: a fast wrong kernel is not a result.
    for (std::int64_t i = 0; i < s.m; i += s.m / 61 + 1) {
      const T* want = in.u.data() + static_cast<std::int64_t>(in.idx[i]) * s.d;
      if (std::memcmp(in.y.data() + i * s.d, want, sizeof(T) * s.d) != 0) {
        state.SkipWithError(("gather wrote a wrong row " + std::to_string(i)).c_str());
        return;
      }
    }
    report(state, s,
           s.m * static_cast<std::int64_t>(sizeof(I)) +
               2 * s.m * s.d * static_cast<std::int64_t>(sizeof(T)));
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

// Eigen's SparseMatrix, what a C++ user would otherwise reach for: G as a
// row-major m x n sparse matrix (built once, outside the timing), then
// Y = G U (gather) or dU += G^T dY (scatter-add) on dense row-major blocks.
// Same byte accounting as routemat's gather and scatter-add.
template <class I>
struct eigen_routing {
  using sparse = Eigen::SparseMatrix<float, Eigen::RowMajor, std::int64_t>;
  using rows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  explicit eigen_routing(const inputs<float, I>& in) : g(in.sh.m, in.sh.n) {
    std::vector<Eigen::Triplet<float, std::int64_t>> ones;
    ones.reserve(in.idx.size());
    for (std::int64_t i = 0; i < in.sh.m; ++i) ones.emplace_back(i, in.idx[i], 1.0f);
    g.setFromTriplets(ones.begin(), ones.end());
  }
  sparse g;
};

template <class I>
void bm_eigen(benchmark::State& state, int threads, shape s, bool gather) {
  (void)threads;  // Eigen's sparse products run on the calling thread
  inputs<float, I>& in = inputs_for<float, I>(s);
  using rows = typename eigen_routing<I>::rows;
  static std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, double>,
                  std::unique_ptr<eigen_routing<I>>>
      cache;
  auto& slot = cache[{s.d, s.n, s.m, s.zipf}];
  if (!slot) slot = std::make_unique<eigen_routing<I>>(in);
  const auto& g = slot->g;
  if (gather) {
    in.need_gather();
    Eigen::Map<const rows> u(in.u.data(), s.n, s.d);
    Eigen::Map<rows> y(in.y.data(), s.m, s.d);
    for (auto _ : state) {
      y.noalias() = g * u;
      benchmark::DoNotOptimize(in.y.data());
      benchmark::ClobberMemory();
    }
    report(state, s, s.m * static_cast<std::int64_t>(sizeof(I)) + 2 * s.m * s.d * 4);
  } else {
    in.need_scatter();
    Eigen::Map<const rows> dy(in.dy.data(), s.m, s.d);
    Eigen::Map<rows> du(in.du.data(), s.n, s.d);
    auto call = [&] { du.noalias() += g.transpose() * dy; };
    for (auto _ : state) {
      call();
      benchmark::DoNotOptimize(in.du.data());
      benchmark::ClobberMemory();
    }
    if (!scatter_is_right(state, in, "eigen_scatter_add", call)) return;
    report(state, s, scatter_bytes<float, I>(s));
  }
}

// The loop a caller writes without routemat (d = 1, f32, i32).
void bm_plain_loop_scatter_add(benchmark::State& state, int threads, shape s) {
  (void)threads;  // the loop runs on the calling thread only
  using I = std::int32_t;
  inputs<float, I>& in = inputs_for<float, I>(s);
  in.need_scatter();
  std::fill(in.du.begin(), in.du.end(), 0.0f);
  const I* idx = in.idx.data();
  const float* dy = in.dy.data();
  float* du = in.du.data();
  const std::int64_t m = s.m;
  auto call = [&] {
    for (std::int64_t i = 0; i < m; ++i) du[idx[i]] += dy[i];
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
  constexpr std::size_t size = std::size_t{512} << 20;
  static std::vector<char> from(size, 1), to(size, 2);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), size);
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * size));
}

// "n=.../m=..." plus "/zipf=S" for a skewed shape.
std::string nm_name(const shape& s) {
  std::string name = "n=" + std::to_string(s.n) + "/m=" + std::to_string(s.m);
  if (s.zipf > 0) {
    char zipf[32];
    std::snprintf(zipf, sizeof zipf, "/zipf=%g", s.zipf);
    name += zipf;
  }
  return name;
}

std::string shape_name(const char* op, const char* t, const char* i, const shape& s) {
  return std::string(op) + "/" + t + "/" + i + "/d=" + std::to_string(s.d) + "/" + nm_name(s);
}

std::string shape_name(const char* op, const char* t, const char* i, const shape& s,
                       routemat::isa target) {
  return shape_name(op, t, i, s) + "/" + routemat::isa_name(target);
}

// Registers fn(state, threads, args...). threads == 0: the library pinned to
// one thread, rates per CPU second, no suffix; threads >= 1: that many
// threads, rates per wall-clock second, "/threads=N" appended.
template <class Fn, class... Args>
void add(std::string name, int threads, Fn fn, Args... args) {
  if (threads > 0) name += "/threads=" + std::to_string(threads);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), fn, std::max(threads, 1), args...);
  b->Unit(benchmark::kMillisecond);
  if (threads > 0) b->UseRealTime();
}

template <class T, class I>
void register_gather(routemat::isa target, const shape& s, int threads) {
  add(shape_name("gather", value_name<T>(), index_name<I>(), s, target), threads, bm_gather<T, I>,
      target, s);
}

template <class T, class I>
void register_scatter(routemat::isa target, const shape& s, int threads) {
  const char* t = value_name<T>();
  const char* i = index_name<I>();
  add(shape_name("scatter_add", t, i, s, target), threads, bm_scatter_add<T, I>, target, s);
  add(shape_name("plan_scatter_add", t, i, s, target), threads, bm_plan_scatter_add<T, I>, target,
      s, routemat::write::accumulate);
}

template <class T, class I>
void register_shape(routemat::isa target, const shape& s, int threads = 0) {
  register_gather<T, I>(target, s, threads);
  register_scatter<T, I>(target, s, threads);
}

constexpr std::int64_t K = 1024, M = 1024 * 1024;

void register_isa(routemat::isa target) {
  using f32 = float;
  using i32 = std::int32_t;
  const shape f32_shapes[] = {
      {1, M, 4 * M},       // a column, source far bigger than the caches
      {1, 64 * K, 4 * M},  // a column, source in L2
      {16, 100000, M},     // medium rows, 6.4 MB source
      {64, M, 64 * K},     // wide rows from a 256 MiB source
      {4, M, 256 * K},     // narrow rows, narrower than one SIMD register
      {1024, 8 * K, 16 * K},
  };
  for (const shape& s : f32_shapes) register_shape<f32, i32>(target, s);
  register_shape<f32, std::int64_t>(target, {1, M, 4 * M});
  register_shape<double, i32>(target, {16, 100000, M});

  // The graph shape without accumulating: dU = G^T dY.
  const shape graph{16, 100000, M};
  add(shape_name("plan_scatter_add_overwrite", "f32", "i32", graph, target), 0,
      bm_plan_scatter_add<f32, i32>, target, graph, routemat::write::overwrite);
  // The skewed column, the push and the pull (compare with plan_build's).
  register_scatter<f32, i32>(target, {1, M, 4 * M, 1.1}, 0);

  // Thread scaling: dU (and U) in L2, then two shapes far bigger than it.
  const shape scaling_shapes[] = {{16, 8 * K, 64 * K}, {64, M, 64 * K}, {1, M, 4 * M}};
  for (const shape& s : scaling_shapes) {
    for (int threads : {1, 2}) register_gather<f32, i32>(target, s, threads);
    for (int threads : {1, 2}) register_scatter<f32, i32>(target, s, threads);
  }
  // Skewed destinations: equal destination ranges are unequal work.
  for (int threads : {1, 2}) register_scatter<f32, i32>(target, {16, 100000, M, 1.1}, threads);
}

// Plan construction: reads only the indices, so the name carries no d and no
// ISA; the inputs are those of the scatter shape with the same n and m.
void register_plan_builds() {
  const std::pair<const char*, shape> builds[] = {
      {"i32", {1, M, 4 * M}},
      {"i64", {1, M, 4 * M}},
      {"i32", {16, 100000, M}},
      {"i32", {1, M, 4 * M, 1.1}},
  };
  for (const auto& [i, s] : builds) {
    const std::string name = std::string("plan_build/") + i + "/" + nm_name(s);
    if (std::strcmp(i, "i32") == 0) {
      add(name, 0, bm_plan_build<std::int32_t>, s);
    } else {
      add(name, 0, bm_plan_build<std::int64_t>, s);
    }
  }
  for (int threads : {1, 2})
    add(std::string("plan_build/i32/") + nm_name({1, M, 4 * M}), threads,
        bm_plan_build<std::int32_t>, shape{1, M, 4 * M});
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
  std::vector<routemat::isa> supported;
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
  for (routemat::isa target : supported) register_isa(target);

  register_plan_builds();
  const shape column{1, M, 4 * M};
  add(shape_name("plain_loop_scatter_add", "f32", "i32", column), 0, bm_plain_loop_scatter_add,
      column);
  for (const shape& s : {column, shape{16, 100000, M}, shape{64, M, 64 * K}}) {
    add(shape_name("eigen_gather", "f32", "i32", s), 0, bm_eigen<std::int32_t>, s, true);
    add(shape_name("eigen_scatter_add", "f32", "i32", s), 0, bm_eigen<std::int32_t>, s, false);
  }
  benchmark::RegisterBenchmark("seed_5x3/gather+scatter_add/f32/i32/d=1", bm_seed_calls);
  benchmark::RegisterBenchmark("copy_ceiling/memcpy/512MiB", bm_copy_ceiling)
      ->Unit(benchmark::kMillisecond);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
