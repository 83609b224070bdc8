// routemat_bench: Google Benchmark suite of the routing kernels.
//
// For each ISA it runs (only the best one by default; every supported one with
// --routemat_isa=all), gather and scatter_add over a few shapes of G (m x n,
// rows of width d), named e.g. gather/f32/i32/d=64/n=1048576/m=65536/avx2.
// Each benchmark selects its ISA with routemat::select_isa before timing.
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
// items_per_second counts rows routed (m per call).
// copy_ceiling/memcpy/512MiB is the DRAM copy bandwidth of this machine
// (bytes = read + write = 2 * 512 MiB per iteration), the ceiling of the
// shapes whose data does not fit in the caches; shapes that do fit (e.g.
// d=1024, n=8192) can exceed it.
// Rates are per CPU second (Google Benchmark's default), so time the process
// spends preempted on a busy machine does not count against the kernels.
//
// Inputs are built once per shape (lazily, on the first benchmark that needs
// them) and shared by every ISA. Values are uniform in [-1, 1], indices uniform
// in [0, n). scatter_add zeroes dU once per run and then accumulates into it
// across iterations, as the kernel does.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
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

 private:
  std::uint64_t s_;
};

struct shape {
  std::int64_t d, n, m;
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
    for (I& j : idx) j = static_cast<I>(r.below(s.n));
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

  shape sh;
  std::vector<I> idx;
  std::unique_ptr<routemat::map> g;
  std::vector<T> u, y, dy, du;

 private:
  std::vector<T> random_values(std::int64_t count, std::uint64_t stream) const {
    rng r(0xF00D0000u + stream * 0x1000u + static_cast<std::uint64_t>(sh.d + sh.n + sh.m));
    std::vector<T> v(static_cast<std::size_t>(count));
    for (T& x : v) x = static_cast<T>(r.unit());
    return v;
  }
};

template <class T, class I>
inputs<T, I>& inputs_for(const shape& s) {
  static std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>,
                  std::unique_ptr<inputs<T, I>>>
      cache;
  auto& slot = cache[{s.d, s.n, s.m}];
  if (!slot) slot = std::make_unique<inputs<T, I>>(s);
  return *slot;
}

void report(benchmark::State& state, const shape& s, std::int64_t bytes_per_call) {
  state.SetBytesProcessed(state.iterations() * bytes_per_call);
  state.SetItemsProcessed(state.iterations() * s.m);
}

template <class T, class I>
void bm_gather(benchmark::State& state, routemat::isa target, shape s) {
  try {
    routemat::select_isa(target);
    inputs<T, I>& in = inputs_for<T, I>(s);
    in.need_gather();
    const routemat::rows_view<const T> src(in.u.data(), s.n, s.d);
    const routemat::rows_view<T> dst(in.y.data(), s.m, s.d);
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
void bm_scatter_add(benchmark::State& state, routemat::isa target, shape s) {
  try {
    routemat::select_isa(target);
    inputs<T, I>& in = inputs_for<T, I>(s);
    in.need_scatter();
    std::fill(in.du.begin(), in.du.end(), T(0));
    const routemat::rows_view<const T> src(in.dy.data(), s.m, s.d);
    const routemat::rows_view<T> dst(in.du.data(), s.n, s.d);
    for (auto _ : state) {
      routemat::scatter_add(*in.g, src, dst);
      benchmark::DoNotOptimize(in.du.data());
      benchmark::ClobberMemory();
    }
    report(state, s,
           s.m * static_cast<std::int64_t>(sizeof(I)) +
               3 * s.m * s.d * static_cast<std::int64_t>(sizeof(T)));
  } catch (const routemat::error& e) {
    state.SkipWithError(e.what());
  }
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

std::string shape_name(const char* op, const char* t, const char* i, const shape& s,
                       routemat::isa target) {
  return std::string(op) + "/" + t + "/" + i + "/d=" + std::to_string(s.d) +
         "/n=" + std::to_string(s.n) + "/m=" + std::to_string(s.m) + "/" +
         routemat::isa_name(target);
}

template <class T, class I>
void register_shape(routemat::isa target, const shape& s) {
  const char* t = value_name<T>();
  const char* i = index_name<I>();
  benchmark::RegisterBenchmark(shape_name("gather", t, i, s, target).c_str(), bm_gather<T, I>,
                               target, s)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(shape_name("scatter_add", t, i, s, target).c_str(),
                               bm_scatter_add<T, I>, target, s)
      ->Unit(benchmark::kMillisecond);
}

void register_isa(routemat::isa target) {
  constexpr std::int64_t K = 1024, M = 1024 * 1024;
  const shape f32_shapes[] = {
      {1, M, 4 * M},       // a column, source far bigger than the caches
      {1, 64 * K, 4 * M},  // a column, source in L2
      {16, 100000, M},     // medium rows, 6.4 MB source
      {64, M, 64 * K},     // wide rows from a 256 MiB source
      {4, M, 256 * K},     // narrow rows, narrower than one SIMD register
      {1024, 8 * K, 16 * K},
  };
  for (const shape& s : f32_shapes) register_shape<float, std::int32_t>(target, s);
  register_shape<float, std::int64_t>(target, {1, M, 4 * M});
  register_shape<double, std::int32_t>(target, {16, 100000, M});
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

  benchmark::RegisterBenchmark("copy_ceiling/memcpy/512MiB", bm_copy_ceiling)
      ->Unit(benchmark::kMillisecond);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
