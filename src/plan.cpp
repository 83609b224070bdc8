// Plan construction: a stable counting sort of the rows by destination.
#include "src/plan.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "src/error.hpp"
#include "src/threading.hpp"

namespace routemat {
namespace {

// The counting sort, parallel over destination ranges: every shard scans all
// indices but counts and places only rows whose destination is in its range,
// so shards never write the same element and the order stays stable.
template <class I, class P>
struct csr_builder {
  const I* idx;
  std::int64_t m, n, shards;
  P* offsets;
  P* sources;

  std::int64_t range_begin(std::int64_t s) const { return n * s / shards; }

  // offsets[j + 1] = number of rows routed to j.
  void count(std::int64_t s) const {
    const std::int64_t lo = range_begin(s);
    const auto size = static_cast<std::uint64_t>(range_begin(s + 1) - lo);
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t j = idx[i];
      if (static_cast<std::uint64_t>(j - lo) < size) ++offsets[j + 1];
    }
  }
  // With offsets[j] = start of j, appends each row to its destination;
  // afterwards offsets[j] = start of j + 1.
  void place(std::int64_t s) const {
    const std::int64_t lo = range_begin(s);
    const auto size = static_cast<std::uint64_t>(range_begin(s + 1) - lo);
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t j = idx[i];
      if (static_cast<std::uint64_t>(j - lo) < size) sources[offsets[j]++] = static_cast<P>(i);
    }
  }

  void build() {
    auto counting = [this](std::int64_t s) { count(s); };
    parallel_for(shards, counting);
    for (std::int64_t j = 0; j < n; ++j) offsets[j + 1] += offsets[j];
    auto placing = [this](std::int64_t s) { place(s); };
    parallel_for(shards, placing);
    for (std::int64_t j = n; j > 0; --j) offsets[j] = offsets[j - 1];
    offsets[0] = 0;
  }
};

// The counting sort, parallel over row ranges: each shard counts its rows
// into a histogram of its own; a prefix over (destination, shard), itself
// split over destination ranges, turns the histograms into write positions;
// then each shard places its rows. Within a destination, shard s's rows land
// before shard s + 1's, so the order is the same stable one. Every shard
// reads only its own rows (unlike csr_builder), at the price of shards x n
// counters of scratch.
template <class I, class P>
struct row_sharded_builder {
  const I* idx;
  std::int64_t m, n, shards;
  P* offsets;
  P* sources;
  P* counts;  // shards x n: shard s's histogram, then its write positions

  std::int64_t row_begin(std::int64_t s) const { return m * s / shards; }
  std::int64_t col_begin(std::int64_t s) const { return n * s / shards; }

  void count(std::int64_t s) const {
    P* c = counts + s * n;
    std::fill(c, c + n, P(0));
    const std::int64_t end = row_begin(s + 1);
    for (std::int64_t i = row_begin(s); i < end; ++i) {
      const std::int64_t j = idx[i];
      if (j >= 0) ++c[j];
    }
  }
  // Rows routed into destination range r, from every shard.
  std::int64_t range_total(std::int64_t r) const {
    std::int64_t total = 0;
    for (std::int64_t j = col_begin(r); j < col_begin(r + 1); ++j)
      for (std::int64_t s = 0; s < shards; ++s) total += counts[s * n + j];
    return total;
  }
  // From `start`, the first position of destination range r: sets offsets[j]
  // and turns each count into the shard's first write position.
  void assign(std::int64_t r, std::int64_t start) const {
    auto running = static_cast<P>(start);
    for (std::int64_t j = col_begin(r); j < col_begin(r + 1); ++j) {
      offsets[j] = running;
      for (std::int64_t s = 0; s < shards; ++s) {
        const P c = counts[s * n + j];
        counts[s * n + j] = running;
        running += c;
      }
    }
  }
  void place(std::int64_t s) const {
    P* next = counts + s * n;
    const std::int64_t end = row_begin(s + 1);
    for (std::int64_t i = row_begin(s); i < end; ++i) {
      const std::int64_t j = idx[i];
      if (j >= 0) sources[next[j]++] = static_cast<P>(i);
    }
  }

  void build(std::int64_t kept) {
    auto counting = [this](std::int64_t s) { count(s); };
    parallel_for(shards, counting);
    std::vector<std::int64_t> starts(static_cast<std::size_t>(shards) + 1, 0);
    auto totals = [&](std::int64_t r) { starts[r + 1] = range_total(r); };
    parallel_for(shards, totals);
    for (std::int64_t r = 0; r < shards; ++r) starts[r + 1] += starts[r];
    auto assigning = [&](std::int64_t r) { assign(r, starts[r]); };
    parallel_for(shards, assigning);
    offsets[n] = static_cast<P>(kept);
    auto placing = [this](std::int64_t s) { place(s); };
    parallel_for(shards, placing);
  }
};

// Row sharding needs a histogram per shard: worth it while they take at most
// as many counters as the rows they sort (m >= shards * n), so small-m maps
// (m << n) keep the destination-sharded build.
template <class I, class P>
bool build_by_rows(const routemat_map& map, std::int64_t shards, P* offsets, P* sources) {
  if (shards <= 1 || map.cols > map.rows / shards) return false;
  const std::unique_ptr<P[]> counts(new (std::nothrow)
                                        P[static_cast<std::size_t>(shards * map.cols)]);
  if (counts == nullptr) return false;
  row_sharded_builder<I, P>{static_cast<const I*>(map.indices),
                            map.rows,
                            map.cols,
                            shards,
                            offsets,
                            sources,
                            counts.get()}
      .build(map.rows - map.dropped);
  return true;
}

template <class I, class P>
void build_plan(routemat_plan& plan) {
  const routemat_map& map = plan.map;
  const I* idx = static_cast<const I*>(map.indices);
  P* offsets = reinterpret_cast<P*>(plan.storage.get());
  P* sources = offsets + map.cols + 1;
  const std::int64_t traffic = map.rows * static_cast<std::int64_t>(2 * sizeof(I) + sizeof(P));
  const std::int64_t shards = shards_for(traffic, 1);
  if (!build_by_rows<I, P>(map, shards, offsets, sources)) {
    std::fill(offsets, offsets + map.cols + 1, P(0));
    csr_builder<I, P>{idx, map.rows, map.cols, shards, offsets, sources}.build();
  }
  plan.offsets = offsets;
  plan.sources = sources;

  routemat_plan_facts& f = plan.facts;
  bool identity = map.rows == map.cols && map.dropped == 0, sorted = true;
  std::int64_t last = 0;
  for (std::int64_t i = 0; i < map.rows; ++i) {
    const std::int64_t j = idx[i];
    identity &= j == i;
    if (j < 0) continue;
    sorted &= j >= last;
    last = j;
  }
  for (std::int64_t j = 0; j < map.cols; ++j) {
    const std::int64_t fan_in = offsets[j + 1] - offsets[j];
    f.max_fan_in = std::max(f.max_fan_in, fan_in);
    f.empty_cols += fan_in == 0;
  }
  f.identity = identity;
  f.sorted = sorted;
  // m sources into m destinations, none twice: each has exactly one (also for m == 0).
  f.permutation = map.rows == map.cols && map.dropped == 0 && f.max_fan_in <= 1;
}

}  // namespace

void balanced_destinations(const routemat_plan& plan, std::int64_t shards,
                           std::int64_t* boundaries) noexcept {
  const std::int64_t n = plan.map.cols;
  const std::int64_t total = plan.facts.rows - plan.facts.dropped_rows + n;
  auto cost_before = [&](std::int64_t j) -> std::int64_t {  // work of destinations [0, j)
    return plan.csr_type == ROUTEMAT_INT32 ? static_cast<const std::int32_t*>(plan.offsets)[j] + j
                                           : static_cast<const std::int64_t*>(plan.offsets)[j] + j;
  };
  boundaries[0] = 0;
  for (std::int64_t s = 1; s < shards; ++s) {
    // The first destination j whose preceding work reaches s / shards of the total.
    const std::int64_t target = static_cast<std::int64_t>(static_cast<unsigned __int128>(total) *
                                                          static_cast<std::uint64_t>(s) / shards);
    std::int64_t lo = boundaries[s - 1], hi = n;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (cost_before(mid) < target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    boundaries[s] = lo;
  }
  boundaries[shards] = n;
}

}  // namespace routemat

extern "C" routemat_status routemat_plan_create(routemat_plan** out, const routemat_map* map) {
  using routemat::fail;
  if (out == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  if (map == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "map is NULL");
  const std::int64_t kept = map->rows - map->dropped;
  const routemat_index_type csr_type = map->rows <= INT32_MAX ? ROUTEMAT_INT32 : ROUTEMAT_INT64;
  const std::int64_t element = csr_type == ROUTEMAT_INT32 ? 4 : 8;
  std::int64_t entries = 0, bytes = 0;
  if (__builtin_add_overflow(map->cols, kept + 1, &entries) ||
      __builtin_mul_overflow(entries, element, &bytes))
    return fail(ROUTEMAT_ERROR_OVERFLOW,
                "a plan for %lld columns and %lld rows does not fit in memory",
                (long long)map->cols, (long long)map->rows);

  auto* plan = new (std::nothrow) routemat_plan{};
  if (plan != nullptr) plan->storage.reset(new (std::nothrow) unsigned char[bytes > 0 ? bytes : 1]);
  if (plan == nullptr || plan->storage == nullptr) {
    delete plan;
    return fail(ROUTEMAT_ERROR_OUT_OF_MEMORY,
                "cannot allocate %lld bytes for a plan of %lld x %lld", (long long)bytes,
                (long long)map->rows, (long long)map->cols);
  }
  plan->map = *map;
  plan->csr_type = csr_type;
  plan->facts.rows = map->rows;
  plan->facts.cols = map->cols;
  plan->facts.dropped_rows = map->dropped;
  plan->facts.bytes = bytes + static_cast<std::int64_t>(sizeof(routemat_plan));
  const bool index32 = map->index_type == ROUTEMAT_INT32;
  if (csr_type == ROUTEMAT_INT32) {
    index32 ? routemat::build_plan<std::int32_t, std::int32_t>(*plan)
            : routemat::build_plan<std::int64_t, std::int32_t>(*plan);
  } else {
    index32 ? routemat::build_plan<std::int32_t, std::int64_t>(*plan)
            : routemat::build_plan<std::int64_t, std::int64_t>(*plan);
  }
  *out = plan;
  return ROUTEMAT_OK;
}

extern "C" void routemat_plan_destroy(routemat_plan* plan) { delete plan; }

extern "C" routemat_status routemat_plan_get_facts(const routemat_plan* plan,
                                                   routemat_plan_facts* out) {
  if (plan == nullptr) return routemat::fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "plan is NULL");
  if (out == nullptr) return routemat::fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  *out = plan->facts;
  return ROUTEMAT_OK;
}

extern "C" const routemat_map* routemat_plan_map(const routemat_plan* plan) {
  return plan != nullptr ? &plan->map : nullptr;
}
