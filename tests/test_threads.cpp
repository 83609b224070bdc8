// Threads: results are bitwise the same for every thread count of the
// library's pool and for every host parallel-for; a host's parallel-for is
// really used (and not for tiny problems, which run inline); operations run
// nested inside host tasks and concurrently from several threads without
// deadlock. Problems here move well over the 256 KiB that run inline.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "routemat/routemat.h"
#include "routemat/routemat.hpp"
#include "test_support.hpp"

namespace {

// Restores the library's default pool size when a test case ends.
struct num_threads_guard {
  num_threads_guard() = default;
  num_threads_guard(const num_threads_guard&) = delete;
  num_threads_guard& operator=(const num_threads_guard&) = delete;
  ~num_threads_guard() { routemat_set_num_threads(0); }
};

// Restores the library's own pool as the backend when a test case ends.
struct parallel_for_guard {
  parallel_for_guard() = default;
  parallel_for_guard(const parallel_for_guard&) = delete;
  parallel_for_guard& operator=(const parallel_for_guard&) = delete;
  ~parallel_for_guard() { routemat_set_parallel_for(nullptr, nullptr, 1); }
};

// Ends the process with a message if a test case does not finish in time: a
// deadlock becomes a failure instead of a hung test run.
class watchdog {
 public:
  watchdog(const char* what, int seconds)
      : thread_([this, what, seconds] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!done_cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: %s did not finish in %d s (deadlock?)\n", what,
                         seconds);
            std::fflush(stderr);
            std::_Exit(3);
          }
        }) {}
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// A map with its inputs: U (n x d), X (m x d), dU (n x d), random non-integer
// f32 values, so that any change of summation order shows in the low bits.
template <class I>
struct workload {
  std::int64_t m, n, d;
  std::vector<I> idx;
  routemat::map g;
  test::block<float> u, x, du;

  workload(std::int64_t m_, std::int64_t n_, std::int64_t d_, test::distribution dist,
           std::uint32_t seed, double drop_rate = 0.0)
      : m(m_),
        n(n_),
        d(d_),
        idx(test::make_indices<I>(m_, n_, dist, seed, drop_rate)),
        g(m_, n_, idx.data(), routemat::drop::allow),
        u(n_, d_, d_),
        x(m_, d_, d_ + 1),
        du(n_, d_, d_) {
    test::fill(u, seed + 1, false);
    test::fill(x, seed + 2, false);
    test::fill(du, seed + 3, false);
  }
};

// The outputs of every operation on a workload.
struct results {
  std::vector<float> gathered, pushed, accumulated, overwritten, summed, back, automatic;
  routemat::plan_facts facts{};
};

// Runs every operation under the current backend (the plan is built under it
// too). The plan's scatter-adds run the pull, the kernel they split over
// threads, and once more with the automatic choice.
template <class I>
results run_all(const workload<I>& w) {
  results r;
  const routemat::plan p(w.g);
  {
    test::block<float> acc = w.du;
    routemat::scatter_add(p, w.x.cview(), acc.view());
    r.automatic = std::move(acc.data);
  }
  const test::plan_kernel_scope pull(routemat::plan_kernel::pull);
  r.facts = p.facts();
  test::block<float> y(w.m, w.d, w.d);
  routemat::gather(w.g, w.u.cview(), y.view());
  r.gathered = std::move(y.data);
  test::block<float> pushed = w.du;
  routemat::scatter_add(w.g, w.x.cview(), pushed.view());
  r.pushed = std::move(pushed.data);
  test::block<float> acc = w.du;
  routemat::scatter_add(p, w.x.cview(), acc.view());
  r.accumulated = std::move(acc.data);
  test::block<float> over = w.du;
  routemat::scatter_add(p, w.x.cview(), over.view(), routemat::write::overwrite);
  r.overwritten = std::move(over.data);
  test::block<float> v = w.du;
  routemat::sum_forward(p, w.x.cview(), v.view());
  r.summed = std::move(v.data);
  test::block<float> dx(w.m, w.d, w.d);
  routemat::sum_backward(p, w.u.cview(), dx.view());
  r.back = std::move(dx.data);
  return r;
}

void check_same(const results& got, const results& want) {
  CHECK(same_bytes(got.gathered, want.gathered));
  CHECK(same_bytes(got.pushed, want.pushed));
  CHECK(same_bytes(got.accumulated, want.accumulated));
  CHECK(same_bytes(got.overwritten, want.overwritten));
  CHECK(same_bytes(got.summed, want.summed));
  CHECK(same_bytes(got.back, want.back));
  CHECK(same_bytes(got.automatic, want.automatic));
  CHECK(std::memcmp(&got.facts, &want.facts, sizeof got.facts) == 0);
}

template <class I>
void check_determinism(test::distribution dist, std::uint32_t seed) {
  num_threads_guard restore;
  const std::int64_t n = 50000;
  // d = 64 (256-byte rows) also shards the plan-less scatter-add.
  for (const auto& shape :
       {std::pair<std::int64_t, std::int64_t>{1, 300000}, {3, 300000}, {16, 300000}, {64, 40000}}) {
    // Not a structured binding: doctest's CAPTURE lambda cannot capture one in C++17.
    const std::int64_t d = shape.first, m = shape.second;
    CAPTURE(d);
    const workload<I> w(m, n, d, dist, seed++);
    routemat::set_num_threads(1);
    CHECK(routemat::num_threads() == 1);
    const results one = run_all(w);
    // The plan's accumulate (pull or automatic) is the push kernel, bit for bit.
    CHECK(same_bytes(one.accumulated, one.pushed));
    CHECK(same_bytes(one.automatic, one.pushed));
    CHECK(same_bytes(one.overwritten, one.summed));
    for (const int threads : {2, 3, 4, 7, 8}) {
      CAPTURE(threads);
      routemat::set_num_threads(threads);
      CHECK(routemat::num_threads() == threads);
      check_same(run_all(w), one);
    }
  }
}

// A host runtime's parallel-for that counts its calls and the shards it ran.
struct hook_state {
  std::atomic<std::int64_t> calls{0}, shards{0}, min_shards{INT64_MAX};
  void record(std::int64_t shards_of_call) {
    ++calls;
    shards += shards_of_call;
    std::int64_t seen = min_shards.load();
    while (shards_of_call < seen && !min_shards.compare_exchange_weak(seen, shards_of_call)) {
    }
  }
  void reset() {
    calls = 0;
    shards = 0;
    min_shards = INT64_MAX;
  }
};

// Every shard on the calling thread, in order.
void serial_hook(void* pool, routemat_task task, void* context, std::int64_t shards) {
  static_cast<hook_state*>(pool)->record(shards);
  for (std::int64_t s = 0; s < shards; ++s) task(context, s);
}

// Every shard on the calling thread, last first.
void reverse_hook(void* pool, routemat_task task, void* context, std::int64_t shards) {
  static_cast<hook_state*>(pool)->record(shards);
  for (std::int64_t s = shards - 1; s >= 0; --s) task(context, s);
}

// Three threads of its own, thread t running shards t, t + 3, t + 6, ...
void threaded_hook(void* pool, routemat_task task, void* context, std::int64_t shards) {
  static_cast<hook_state*>(pool)->record(shards);
  std::vector<std::thread> threads;
  for (std::int64_t t = 0; t < 3; ++t)
    threads.emplace_back([=] {
      for (std::int64_t s = t; s < shards; s += 3) task(context, s);
    });
  for (std::thread& th : threads) th.join();
}

struct named_hook {
  const char* name;
  routemat_parallel_for fn;
};
const named_hook hooks[] = {
    {"serial", serial_hook}, {"reverse", reverse_hook}, {"three threads", threaded_hook}};

}  // namespace

TEST_CASE("threads: determinism for every thread count on a uniform map") {
  check_determinism<std::int32_t>(test::distribution::uniform, 900);
}

TEST_CASE("threads: determinism for every thread count on a Zipf-skewed map") {
  check_determinism<std::int64_t>(test::distribution::zipf, 950);
}

TEST_CASE("threads: thread counts and bad thread arguments") {
  num_threads_guard restore_threads;
  parallel_for_guard restore_backend;
  const unsigned hw = std::thread::hardware_concurrency();
  CHECK(routemat::num_threads() == (hw == 0 ? 1 : static_cast<int>(hw)));
  routemat::set_num_threads(3);
  CHECK(routemat::num_threads() == 3);

  hook_state state;
  routemat::set_parallel_for(serial_hook, &state, 4);
  CHECK(routemat::num_threads() == 4);  // the host's count while installed
  routemat::set_parallel_for(serial_hook, &state, 1);
  CHECK(routemat::num_threads() == 1);

  for (const int threads : {0, -3}) {
    CAPTURE(threads);
    bool thrown = false;
    try {
      routemat::set_parallel_for(serial_hook, &state, threads);
    } catch (const routemat::error& e) {
      thrown = true;
      CHECK(e.code() == routemat::status::invalid_argument);
      CHECK(std::string(e.what()) ==
            "a host parallel-for needs threads >= 1, got " + std::to_string(threads));
    }
    CHECK(thrown);
    CHECK(routemat::num_threads() == 1);  // the installed host is unchanged
  }
  CHECK(routemat_set_parallel_for(reverse_hook, &state, 0) == ROUTEMAT_ERROR_INVALID_ARGUMENT);

  routemat::set_parallel_for(nullptr, nullptr, 1);
  CHECK(routemat::num_threads() == 3);  // back to the pool
  bool thrown = false;
  try {
    routemat::set_num_threads(-1);
  } catch (const routemat::error& e) {
    thrown = true;
    CHECK(e.code() == routemat::status::invalid_argument);
    CHECK(std::string(e.what()) == "thread count -1 is negative");
  }
  CHECK(thrown);
  CHECK(routemat_set_num_threads(INT32_MIN) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(routemat::num_threads() == 3);
  CHECK(state.calls == 0);
}

TEST_CASE("threads: a host parallel-for is used, bit for bit like the default pool") {
  // The pull, the plan kernel that goes through the parallel-for.
  const test::plan_kernel_scope pull(routemat::plan_kernel::pull);
  parallel_for_guard restore;
  const workload<std::int32_t> big(200000, 50000, 2, test::distribution::zipf, 77, 0.1);
  const results want = run_all(big);  // the library's own pool

  const std::vector<std::int32_t> tiny_idx{0, 1, 2, 2, 2};
  const routemat::map tiny(5, 3, tiny_idx.data());
  const std::vector<float> tiny_u{1, 2, 3}, tiny_dw{1, 10, 100, 1000, 10000};

  for (const named_hook& hook : hooks) {
    CAPTURE(hook.name);
    hook_state state;
    routemat::set_parallel_for(hook.fn, &state, 4);
    CHECK(routemat::num_threads() == 4);
    check_same(run_all(big), want);
    CHECK(state.calls > 0);
    CHECK(state.shards > state.calls);  // more than one shard per call
    CHECK(state.min_shards >= 2);       // a single shard runs inline

    // A tiny problem runs inline on the calling thread: the host is not called.
    state.reset();
    std::vector<float> w(5, 0.0f), du(3, 0.0f), v(3, 0.0f), dx(5, 0.0f);
    routemat::gather(tiny, routemat::rows_view<const float>(tiny_u.data(), 3, 1),
                     routemat::rows_view<float>(w.data(), 5, 1));
    routemat::scatter_add(tiny, routemat::rows_view<const float>(tiny_dw.data(), 5, 1),
                          routemat::rows_view<float>(du.data(), 3, 1));
    const routemat::plan tiny_plan(tiny);
    routemat::node_backward(tiny_plan, routemat::rows_view<const float>(tiny_dw.data(), 5, 1),
                            routemat::rows_view<float>(du.data(), 3, 1));
    routemat::sum_forward(tiny_plan, routemat::rows_view<const float>(tiny_dw.data(), 5, 1),
                          routemat::rows_view<float>(v.data(), 3, 1));
    routemat::sum_backward(tiny_plan, routemat::rows_view<const float>(tiny_u.data(), 3, 1),
                           routemat::rows_view<float>(dx.data(), 5, 1));
    CHECK(w == std::vector<float>{1, 2, 3, 3, 3});
    CHECK(du == std::vector<float>{2, 20, 22200});
    CHECK(v == std::vector<float>{1, 10, 11100});
    CHECK(dx == std::vector<float>{1, 2, 3, 3, 3});
    CHECK(state.calls == 0);
    CHECK(state.shards == 0);

    routemat::set_parallel_for(nullptr, nullptr, 1);
  }
  check_same(run_all(big), want);  // the pool again
}

TEST_CASE("threads: routemat operations inside a host parallel-for task (nested)") {
  // The pull, the plan kernel that goes through the parallel-for.
  const test::plan_kernel_scope pull(routemat::plan_kernel::pull);
  parallel_for_guard restore;
  watchdog dog("nested host parallel-for", 300);
  const workload<std::int32_t> w(200000, 50000, 2, test::distribution::uniform, 88);
  const routemat::plan p(w.g);
  test::block<float> want_y(w.m, w.d, w.d), want_v(w.n, w.d, w.d);
  routemat::gather(w.g, w.u.cview(), want_y.view());
  routemat::sum_forward(p, w.x.cview(), want_v.view());

  // The host's own work: tasks that each call routemat on their own outputs.
  constexpr std::int64_t tasks = 6;
  struct host_work {
    const workload<std::int32_t>* w;
    const routemat::plan* p;
    std::vector<test::block<float>> y, v;
    std::atomic<std::int64_t> errors{0};
  } work{&w, &p, {}, {}};
  for (std::int64_t t = 0; t < tasks; ++t) {
    work.y.emplace_back(w.m, w.d, w.d);
    work.v.emplace_back(w.n, w.d, w.d);
  }
  const routemat_task host_task = [](void* context, std::int64_t s) {
    auto& hw = *static_cast<host_work*>(context);
    try {
      const auto k = static_cast<std::size_t>(s);
      routemat::gather(hw.w->g, hw.w->u.cview(), hw.y[k].view());
      routemat::scatter_add(*hw.p, hw.w->x.cview(), hw.v[k].view(), routemat::write::overwrite);
    } catch (...) {
      ++hw.errors;
    }
  };

  for (const named_hook& hook : hooks) {
    CAPTURE(hook.name);
    hook_state installed, outer;
    routemat::set_parallel_for(hook.fn, &installed, 4);
    for (auto& b : work.y) std::fill(b.data.begin(), b.data.end(), -1.0f);
    for (auto& b : work.v) std::fill(b.data.begin(), b.data.end(), -1.0f);
    hook.fn(&outer, host_task, &work, tasks);  // the host runs its own tasks
    CHECK(outer.calls == 1);
    CHECK(installed.calls >= 2 * tasks);  // the nested operations went to the host too
    CHECK(work.errors == 0);
    for (std::int64_t t = 0; t < tasks; ++t) {
      CAPTURE(t);
      CHECK(same_bytes(work.y[static_cast<std::size_t>(t)].data, want_y.data));
      CHECK(same_bytes(work.v[static_cast<std::size_t>(t)].data, want_v.data));
    }
    routemat::set_parallel_for(nullptr, nullptr, 1);
  }
}

TEST_CASE("threads: several threads run plan operations at once on the default pool") {
  // The pull, the plan kernel that goes through the parallel-for.
  const test::plan_kernel_scope pull(routemat::plan_kernel::pull);
  num_threads_guard restore;
  watchdog dog("concurrent callers", 300);
  routemat::set_num_threads(4);
  const workload<std::int32_t> w(200000, 50000, 2, test::distribution::zipf, 99);
  const routemat::plan p(w.g);
  test::block<float> want_acc = w.du, want_over(w.n, w.d, w.d), want_y(w.m, w.d, w.d);
  routemat::scatter_add(p, w.x.cview(), want_acc.view());
  routemat::scatter_add(p, w.x.cview(), want_over.view(), routemat::write::overwrite);
  routemat::gather(w.g, w.u.cview(), want_y.view());

  constexpr int callers = 4, iterations = 20;
  std::atomic<std::int64_t> wrong{0}, errors{0}, done{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c)
    threads.emplace_back([&] {
      try {
        test::block<float> acc(w.n, w.d, w.d), over(w.n, w.d, w.d), y(w.m, w.d, w.d);
        for (int it = 0; it < iterations; ++it) {
          acc.data = w.du.data;
          routemat::scatter_add(p, w.x.cview(), acc.view());
          std::fill(over.data.begin(), over.data.end(), -1.0f);
          routemat::scatter_add(p, w.x.cview(), over.view(), routemat::write::overwrite);
          wrong += !same_bytes(acc.data, want_acc.data);
          wrong += !same_bytes(over.data, want_over.data);
          if (it % 4 == 0) {
            routemat::gather(w.g, w.u.cview(), y.view());
            wrong += !same_bytes(y.data, want_y.data);
          }
          ++done;
        }
      } catch (...) {
        ++errors;
      }
    });
  for (std::thread& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(done == callers * iterations);
  CHECK(wrong == 0);
}

TEST_CASE("threads: changing the thread count while other threads run operations") {
  // The pull, the plan kernel that goes through the parallel-for.
  const test::plan_kernel_scope pull(routemat::plan_kernel::pull);
  num_threads_guard restore;
  watchdog dog("set_num_threads during operations", 300);
  const workload<std::int32_t> w(200000, 50000, 2, test::distribution::uniform, 111);
  const routemat::plan p(w.g);
  test::block<float> want(w.n, w.d, w.d);
  routemat::sum_forward(p, w.x.cview(), want.view());

  std::atomic<bool> running{true};
  std::atomic<std::int64_t> wrong{0}, errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < 2; ++c)
    threads.emplace_back([&] {
      try {
        test::block<float> v(w.n, w.d, w.d);
        for (int it = 0; it < 15; ++it) {
          routemat::sum_forward(p, w.x.cview(), v.view());
          wrong += !same_bytes(v.data, want.data);
        }
      } catch (...) {
        ++errors;
      }
    });
  std::thread changer([&] {
    for (int it = 0; running; ++it) {
      routemat_set_num_threads(1 + it % 4);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  for (std::thread& t : threads) t.join();
  running = false;
  changer.join();
  CHECK(errors == 0);
  CHECK(wrong == 0);
}
