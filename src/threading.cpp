#include "src/threading.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "src/error.hpp"

namespace routemat {
namespace {

// Below this much traffic an operation runs on the calling thread: waking a
// pool costs microseconds, more than moving 256 KiB.
constexpr std::int64_t inline_bytes = std::int64_t{256} * 1024;
constexpr std::int64_t min_shard_bytes = std::int64_t{64} * 1024;

// True on the pool's workers and on a caller inside parallel_for: a nested
// call runs inline rather than waiting for a pool that is busy with its parent.
thread_local bool inside_parallel_region = false;

int hardware_threads() noexcept {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void run_inline(std::int64_t shards, routemat_task task, void* context) noexcept {
  for (std::int64_t s = 0; s < shards; ++s) task(context, s);
}

// The default backend: threads - 1 workers plus the calling thread, claiming
// shards from a shared counter. One parallel region at a time; a second
// concurrent caller runs its shards itself instead of waiting.
class thread_pool {
 public:
  ~thread_pool() { stop_workers(); }

  void set_threads(int threads) {
    std::lock_guard<std::mutex> busy(busy_);
    stop_workers();
    threads_.store(threads, std::memory_order_relaxed);
  }
  int threads() const noexcept {
    const int t = threads_.load(std::memory_order_relaxed);
    return t > 0 ? t : hardware_threads();
  }

  void run(std::int64_t shards, routemat_task task, void* context) noexcept {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock() || threads() <= 1 || !start_workers()) {
      run_inline(shards, task, context);
      return;
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      idle_.wait(lock, [&] { return working_ == 0; });  // late workers of the last job
      task_ = task;
      context_ = context;
      shards_ = shards;
      next_.store(0, std::memory_order_relaxed);
      finished_ = 0;
      ++generation_;
    }
    wake_.notify_all();
    inside_parallel_region = true;
    const std::int64_t done = claim_and_run(task, context, shards);
    inside_parallel_region = false;
    std::unique_lock<std::mutex> lock(mutex_);
    finished_ += done;
    idle_.wait(lock, [&] { return finished_ == shards_; });
  }

 private:
  std::int64_t claim_and_run(routemat_task task, void* context, std::int64_t shards) noexcept {
    std::int64_t done = 0;
    for (std::int64_t s; (s = next_.fetch_add(1, std::memory_order_relaxed)) < shards; ++done)
      task(context, s);
    return done;
  }

  bool start_workers() noexcept {
    const auto wanted = static_cast<std::size_t>(threads() - 1);
    if (workers_.size() == wanted) return true;
    try {
      while (workers_.size() < wanted) workers_.emplace_back([this] { work(); });
      return true;
    } catch (...) {  // no more threads: run with those that started
      return !workers_.empty();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
  }

  void work() noexcept {
    inside_parallel_region = true;
    std::unique_lock<std::mutex> lock(mutex_);
    std::uint64_t seen = generation_;
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      // Copied under the lock: the job cannot change while working_ > 0.
      const routemat_task task = task_;
      void* const context = context_;
      const std::int64_t shards = shards_;
      ++working_;
      lock.unlock();
      const std::int64_t done = claim_and_run(task, context, shards);
      lock.lock();
      --working_;
      finished_ += done;
      if (working_ == 0 || finished_ == shards_) idle_.notify_all();
    }
  }

  std::mutex busy_;  // held by the caller of the current parallel region
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::vector<std::thread> workers_;
  std::atomic<int> threads_{0};  // 0: one per hardware thread
  bool stop_ = false;
  std::uint64_t generation_ = 0;
  routemat_task task_ = nullptr;
  void* context_ = nullptr;
  std::int64_t shards_ = 0;
  std::int64_t finished_ = 0;
  int working_ = 0;
  std::atomic<std::int64_t> next_{0};
};

// Which backend runs shards, and with how many threads.
struct backend {
  routemat_parallel_for host = nullptr;
  void* host_context = nullptr;
  int host_threads = 1;
};

std::mutex backend_mutex;
backend current_backend;

thread_pool& pool() {
  static thread_pool p;
  return p;
}

backend snapshot() {
  std::lock_guard<std::mutex> lock(backend_mutex);
  return current_backend;
}

}  // namespace

std::int64_t shards_for(std::int64_t bytes, std::int64_t per_thread) noexcept {
  if (bytes < inline_bytes || inside_parallel_region) return 1;
  const backend b = snapshot();
  const std::int64_t threads = b.host != nullptr ? b.host_threads : pool().threads();
  if (threads <= 1) return 1;
  return std::max<std::int64_t>(1, std::min(threads * per_thread, bytes / min_shard_bytes));
}

void parallel_for(std::int64_t shards, routemat_task task, void* context) noexcept {
  if (shards <= 1 || inside_parallel_region) {
    run_inline(shards, task, context);
    return;
  }
  const backend b = snapshot();
  if (b.host != nullptr) {
    b.host(b.host_context, task, context, shards);
  } else {
    pool().run(shards, task, context);
  }
}

}  // namespace routemat

extern "C" routemat_status routemat_set_parallel_for(routemat_parallel_for fn, void* pool_context,
                                                     int32_t threads) {
  if (fn != nullptr && threads < 1)
    return routemat::fail(ROUTEMAT_ERROR_INVALID_ARGUMENT,
                          "a host parallel-for needs threads >= 1, got %d", threads);
  std::lock_guard<std::mutex> lock(routemat::backend_mutex);
  routemat::current_backend = {fn, fn != nullptr ? pool_context : nullptr,
                               fn != nullptr ? threads : 1};
  return ROUTEMAT_OK;
}

extern "C" routemat_status routemat_set_num_threads(int32_t threads) {
  if (threads < 0)
    return routemat::fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "thread count %d is negative", threads);
  routemat::pool().set_threads(threads);
  return ROUTEMAT_OK;
}

extern "C" int32_t routemat_get_num_threads(void) {
  const routemat::backend b = routemat::snapshot();
  return b.host != nullptr ? b.host_threads : routemat::pool().threads();
}
