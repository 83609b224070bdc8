/* routemat: SIMD kernels for routing matrices, C ABI.
 *
 * A routing matrix G (m x n, exactly one 1 per row) is stored as an index map
 * idx[m], idx[i] = j meaning row i of an output reads row j of an input.
 *   gather       Y = G U       Y[i,:]       = U[idx[i],:]
 *   scatter_add  dU += G^T dY  dU[idx[i],:] += dY[i,:]
 *
 * Error model: every function returns a routemat_status; on failure
 * routemat_last_error() gives a message for the calling thread naming what
 * was wrong and where, and no output byte has been written. */
#ifndef ROUTEMAT_H
#define ROUTEMAT_H

#include <stddef.h>
#include <stdint.h>

#include "routemat/export.h"
#include "routemat/half.h" /* routemat_f32_to_bf16 and the other conversions */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum routemat_status {
  ROUTEMAT_OK = 0,
  ROUTEMAT_ERROR_INVALID_ARGUMENT = 1,   /* null pointer, negative size, unknown enum value */
  ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE = 2, /* an index outside [0, cols) (or -1 without drop) */
  ROUTEMAT_ERROR_SHAPE_MISMATCH = 3,     /* rows/width/type of a view disagree with the map */
  ROUTEMAT_ERROR_OVERFLOW = 4,           /* a size whose element or byte count does not fit */
  ROUTEMAT_ERROR_ALIASING = 5,           /* an output overlaps an input */
  ROUTEMAT_ERROR_UNSUPPORTED_ISA = 6,    /* an ISA this build or this CPU/OS cannot run */
  ROUTEMAT_ERROR_OUT_OF_MEMORY = 7,
  ROUTEMAT_STATUS_MIN_ = INT32_MIN, /* see ROUTEMAT_ENUM_RANGE_ below */
  ROUTEMAT_STATUS_MAX_ = INT32_MAX
} routemat_status;

/* ROUTEMAT_ENUM_RANGE_: every enum spans all of int32, so any int a C caller
 * passes is a valid value of the enum in C++ too and is refused by a check
 * rather than being undefined behaviour. */
typedef enum routemat_index_type {
  ROUTEMAT_INT32 = 0,
  ROUTEMAT_INT64 = 1,
  ROUTEMAT_INDEX_TYPE_MIN_ = INT32_MIN,
  ROUTEMAT_INDEX_TYPE_MAX_ = INT32_MAX
} routemat_index_type;

/* Row value types. BF16 (bfloat16) and F16 (IEEE binary16) are stored as
 * their 16-bit patterns (uint16_t in C; routemat/half.h converts them to and
 * from float as the library does). Gathers copy their bits exactly;
 * sums widen them to f32, add in f32 (in the same fixed order as f32 rows,
 * never fused or reassociated) and round to nearest even when storing:
 *   the pull (plan scatter-add, sum_forward): once per destination element,
 *     after adding all its sources to the widened dst (or to 0);
 *   the push (routemat_scatter_add, ROUTEMAT_PLAN_PUSH): once per routed row,
 *     dst row read, widened, added and rounded back for every source row.
 * No f32 copy of dst is ever made. A NaN stays a NaN (made quiet, sign kept),
 * infinities and -0.0 propagate, and the bits are the same on every ISA and
 * for any thread count (a NaN's payload aside). As the two kernels round
 * differently, ROUTEMAT_PLAN_AUTO picks for 16-bit rows by shape alone: the
 * push when m < n, otherwise the pull. */
typedef enum routemat_value_type {
  ROUTEMAT_F32 = 0,
  ROUTEMAT_F64 = 1,
  ROUTEMAT_BF16 = 2,
  ROUTEMAT_F16 = 3,
  ROUTEMAT_VALUE_TYPE_MIN_ = INT32_MIN,
  ROUTEMAT_VALUE_TYPE_MAX_ = INT32_MAX
} routemat_value_type;

/* Instruction sets, in increasing order of preference on their architecture. */
typedef enum routemat_isa {
  ROUTEMAT_ISA_SCALAR = 0,
  ROUTEMAT_ISA_SSE4_2 = 1,
  ROUTEMAT_ISA_AVX2 = 2,   /* AVX2 + FMA + F16C */
  ROUTEMAT_ISA_AVX512 = 3, /* AVX-512F */
  ROUTEMAT_ISA_NEON = 4,   /* aarch64 Advanced SIMD */
  ROUTEMAT_ISA_MIN_ = INT32_MIN,
  ROUTEMAT_ISA_MAX_ = INT32_MAX
} routemat_isa;

/* Map flags. */
#define ROUTEMAT_ALLOW_DROP 1u /* index -1 marks a dropped row: gathers zeros, gets no gradient */

/* A validated, non-owning view of G. The indices must stay alive and unchanged
 * while the map is used: they are checked once, in routemat_map_create. */
typedef struct routemat_map routemat_map;

/* A strided block of rows: row r starts at element r * stride of data.
 * stride >= width >= 1; data may be NULL only when rows == 0. The library
 * never writes through an input view. */
typedef struct routemat_rows {
  void* data;
  int64_t rows;
  int64_t width;  /* elements per row, d */
  int64_t stride; /* elements between the starts of consecutive rows */
  routemat_value_type type;
} routemat_rows;

/* Validates idx[0..rows) against [0, cols) in one pass and, on success,
 * stores a new map in *out (release it with routemat_map_destroy). */
ROUTEMAT_API routemat_status routemat_map_create(routemat_map** out, int64_t rows, int64_t cols,
                                                 const void* indices,
                                                 routemat_index_type index_type, uint32_t flags);
ROUTEMAT_API void routemat_map_destroy(routemat_map* map);
ROUTEMAT_API int64_t routemat_map_rows(const routemat_map* map);
ROUTEMAT_API int64_t routemat_map_cols(const routemat_map* map);
ROUTEMAT_API int64_t routemat_map_dropped_rows(const routemat_map* map);

/* dst = G src: src has cols rows, dst has rows rows, same width and type. */
ROUTEMAT_API routemat_status routemat_gather(const routemat_map* map, const routemat_rows* src,
                                             const routemat_rows* dst);
/* dst += G^T src: src has rows rows, dst has cols rows. Duplicate indices
 * accumulate in row order; the result does not depend on the ISA's lane count
 * for integer-valued inputs. bf16/f16 rows are rounded once per routed row
 * (see routemat_value_type). */
ROUTEMAT_API routemat_status routemat_scatter_add(const routemat_map* map, const routemat_rows* src,
                                                  const routemat_rows* dst);

/* ---- Plans: precomputed once per map, reused for every call ----------------
 * A plan holds G^T as CSR by destination: offsets[n + 1] and, for each
 * destination column j, its source rows in increasing order (a stable
 * counting sort, O(m + n)). With it, scatter-add is a *pull*: every
 * destination row is written by one thread, summing its sources in
 * increasing row order -- no atomics, and bitwise the same result for any
 * thread count (and the same as routemat_scatter_add).
 * Memory: (n + 1) offsets plus (m - dropped) sources, 4 bytes each when
 * m < 2^31, 8 bytes otherwise, plus a fixed header. The plan copies what it
 * needs from the map; like the map, it reads the caller's indices (for
 * gathers), which must outlive it. */
typedef struct routemat_plan routemat_plan;

typedef struct routemat_plan_facts {
  int64_t rows;         /* m */
  int64_t cols;         /* n */
  int64_t dropped_rows; /* rows with the drop marker -1 */
  int64_t max_fan_in;   /* the most sources any destination has */
  int64_t empty_cols;   /* destinations with no source */
  int64_t bytes;        /* memory the plan owns */
  int32_t identity;     /* m == n and idx[i] == i */
  int32_t permutation;  /* m == n, no drops, every destination has one source */
  int32_t sorted;       /* kept indices are non-decreasing */
  int32_t reserved;
} routemat_plan_facts;

typedef enum routemat_write {
  ROUTEMAT_ACCUMULATE = 0, /* dst += G^T src */
  ROUTEMAT_OVERWRITE = 1,  /* dst = G^T src; destinations without source get zeros */
  ROUTEMAT_WRITE_MIN_ = INT32_MIN,
  ROUTEMAT_WRITE_MAX_ = INT32_MAX
} routemat_write;

ROUTEMAT_API routemat_status routemat_plan_create(routemat_plan** out, const routemat_map* map);
ROUTEMAT_API void routemat_plan_destroy(routemat_plan* plan);
ROUTEMAT_API routemat_status routemat_plan_get_facts(const routemat_plan* plan,
                                                     routemat_plan_facts* out);
/* The plan's own copy of its map, for gathers: valid while the plan lives. */
ROUTEMAT_API const routemat_map* routemat_plan_map(const routemat_plan* plan);

/* dst (+)= G^T src through the plan (the node module's backward). */
ROUTEMAT_API routemat_status routemat_plan_scatter_add(const routemat_plan* plan,
                                                       const routemat_rows* src,
                                                       const routemat_rows* dst,
                                                       routemat_write mode);

/* Which kernel plan scatter-adds (and sum_forward) run. Both add every
 * destination's sources in row order, so the result is bitwise the same
 * (for f32 and f64; 16-bit rows round differently, see routemat_value_type):
 *   AUTO  (default) the push when m < n, and for rows under 256 bytes when
 *         the call runs on one thread or dst takes at most 1 MiB; otherwise
 *         the pull
 *   PULL  always the plan's pull: each destination row written once, by one
 *         shard (the kernel that parallelizes narrow rows)
 *   PUSH  always the push kernel of routemat_scatter_add (after zeroing dst
 *         for ROUTEMAT_OVERWRITE): in row order, split over threads by
 *         destination ranges only for rows of 256 bytes or more
 * A setting of the whole library, like the thread count; an unknown value is
 * refused with ROUTEMAT_ERROR_INVALID_ARGUMENT. */
typedef enum routemat_plan_kernel {
  ROUTEMAT_PLAN_AUTO = 0,
  ROUTEMAT_PLAN_PULL = 1,
  ROUTEMAT_PLAN_PUSH = 2,
  ROUTEMAT_PLAN_KERNEL_MIN_ = INT32_MIN,
  ROUTEMAT_PLAN_KERNEL_MAX_ = INT32_MAX
} routemat_plan_kernel;
ROUTEMAT_API routemat_status routemat_set_plan_kernel(routemat_plan_kernel kernel);
ROUTEMAT_API routemat_plan_kernel routemat_get_plan_kernel(void);

/* The sum module (fan-in, v = G^T x) as its autograd pair:
 *   forward   V  = G^T X   (segment-sum; overwrites V, n rows)
 *   backward  dX = G dV    (a gather; overwrites dX, m rows)
 * The node module's pair is routemat_gather (forward, W = G U) and
 * routemat_plan_scatter_add / routemat_scatter_add (backward, dU += G^T dW). */
ROUTEMAT_API routemat_status routemat_sum_forward(const routemat_plan* plan, const routemat_rows* x,
                                                  const routemat_rows* v);
ROUTEMAT_API routemat_status routemat_sum_backward(const routemat_plan* plan,
                                                   const routemat_rows* dv,
                                                   const routemat_rows* dx);

/* ---- Bags: weighted routes summed per output row ------------------------------
 * A bags object groups the m routes of a map (route r reads source row idx[r])
 * into B bags; bag b holds routes [offsets[b], offsets[b + 1]). It serves
 * EmbeddingBag (sum, mean), MoE top-k combine (every bag k routes, with
 * weights) and, with bags of one route, weighted routes:
 *   forward   Y[b,:] = scale(b) * sum over kept r in bag b of w[r] * U[idx[r],:]
 *   backward  dU[idx[r],:] += w[r] * scale(b) * dY[b,:]
 *             dw[r]         = scale(b) * <dY[b,:], U[idx[r],:]>
 * scale(b) is 1 for ROUTEMAT_REDUCE_SUM and 1 / (kept routes of b) for
 * ROUTEMAT_REDUCE_MEAN; w[r] is 1 when no weights are given. A dropped route
 * (index -1, ROUTEMAT_ALLOW_DROP) contributes nothing, counts for no mean,
 * receives no gradient (dU untouched) and gets dw[r] = 0; a bag with no kept
 * route gives a row of zeros. The gathered rows are never materialised.
 * Rows are f32, f64, bf16 or f16; weights and dw are of the rows' type. 16-bit
 * rows are summed in f32: the forward rounds each output element once; the
 * backward rounds each dU element as each route's update is stored (as the
 * plan-less routemat_scatter_add does), and dw once per route.
 *
 * The backward is deterministic: its bits do not depend on the thread count.
 * Without a plan it adds the routes into dU in route order (sharded over
 * destination ranges for rows of 256 bytes or more); with a plan of the same
 * map it pulls (every dU row written once, its routes in increasing order):
 * the same bits either way. dw is written once per route.
 *
 * The object copies the map's description and the offsets (as 8-byte values)
 * and precomputes each route's bag and each bag's kept routes: 8 * (2B + 1 + m)
 * bytes plus a header. Like the map, it reads the caller's indices, which must
 * outlive it. */
typedef struct routemat_bags routemat_bags;

typedef enum routemat_reduce {
  ROUTEMAT_REDUCE_SUM = 0,
  ROUTEMAT_REDUCE_MEAN = 1,
  ROUTEMAT_REDUCE_MIN_ = INT32_MIN,
  ROUTEMAT_REDUCE_MAX_ = INT32_MAX
} routemat_reduce;

/* Bags given by offsets[bags + 1] of offset_type: offsets[0] == 0,
 * non-decreasing, offsets[bags] == the map's rows m (empty bags allowed). */
ROUTEMAT_API routemat_status routemat_bags_create(routemat_bags** out, const routemat_map* map,
                                                  int64_t bags, const void* offsets,
                                                  routemat_index_type offset_type);
/* Bags of exactly bag_size routes each (bag_size >= 1, m a multiple of it):
 * B = m / bag_size. MoE top-k combine is bag_size k; weighted routes 1. */
ROUTEMAT_API routemat_status routemat_bags_create_fixed(routemat_bags** out,
                                                        const routemat_map* map, int64_t bag_size);
ROUTEMAT_API void routemat_bags_destroy(routemat_bags* bags);
ROUTEMAT_API int64_t routemat_bags_count(const routemat_bags* bags); /* B */

/* Y = the bags' reduction of U: u has the map's cols n rows, y has B rows,
 * same width and type. weights: weight_count (== m) values of the rows' type,
 * or NULL with weight_count 0 for all ones. Overwrites y. */
ROUTEMAT_API routemat_status routemat_bag_forward(const routemat_bags* bags, const routemat_rows* u,
                                                  const void* weights, int64_t weight_count,
                                                  routemat_reduce reduce, const routemat_rows* y);
/* The transpose of routemat_bag_forward and the weights' gradient:
 * du (n rows) += ..., and dw[dw_count == m] = ... (overwritten). Either du or
 * dw may be NULL (dw_count 0) to skip it (both: a checked no-op); u (n rows) is needed for
 * dw only and may be NULL otherwise. plan: NULL, or a plan of the bags' map
 * (the pull). weights and reduce as in the forward. */
ROUTEMAT_API routemat_status routemat_bag_backward(const routemat_bags* bags,
                                                   const routemat_plan* plan,
                                                   const routemat_rows* dy, const routemat_rows* u,
                                                   const void* weights, int64_t weight_count,
                                                   routemat_reduce reduce, const routemat_rows* du,
                                                   void* dw, int64_t dw_count);

/* ---- Threads ------------------------------------------------------------------
 * Every operation splits its rows into shards and runs them through a
 * parallel-for; results never depend on how many threads run them. Problems
 * smaller than about 256 KiB of traffic run on the calling thread. */

/* One shard of an operation; the library passes its own context. */
typedef void (*routemat_task)(void* task_context, int64_t shard);
/* A host runtime's parallel-for: must call task(task_context, s) exactly once
 * for every s in [0, shards), on any threads, in any order, and return after
 * all calls have returned. */
typedef void (*routemat_parallel_for)(void* pool_context, routemat_task task, void* task_context,
                                      int64_t shards);

/* Installs a host's parallel-for, which runs up to `threads` shards at once
 * (threads >= 1). fn == NULL restores the library's own thread pool. */
ROUTEMAT_API routemat_status routemat_set_parallel_for(routemat_parallel_for fn, void* pool_context,
                                                       int32_t threads);
/* Threads of the library's own pool (including the caller); 0 means one per
 * hardware thread, the default. It waits for a running operation to finish,
 * so call it between operations, never from inside a shard. */
ROUTEMAT_API routemat_status routemat_set_num_threads(int32_t threads);
/* Threads the next operation may use (the host's count when one is installed). */
ROUTEMAT_API int32_t routemat_get_num_threads(void);

/* ---- Non-temporal stores -------------------------------------------------------
 * An operation whose output (rows x width x element size) is at least this
 * many bytes, and that overwrites it (gather, sum_backward, sum_forward and
 * ROUTEMAT_OVERWRITE), writes it with non-temporal stores where the ISA has
 * them (x86) and its rows start and end on SIMD-register boundaries: the
 * lines go straight to memory without being read first and without evicting
 * the caches' working set. Default 8 MiB; a negative value turns streaming
 * off, 0 streams every such output. Results are identical either way. Sums of
 * bf16/f16 rows are never streamed (their gathers are). */
ROUTEMAT_API routemat_status routemat_set_stream_threshold(int64_t bytes);
ROUTEMAT_API int64_t routemat_get_stream_threshold(void);

/* The message of the last failed call on this thread ("" if none). */
ROUTEMAT_API const char* routemat_last_error(void);
ROUTEMAT_API const char* routemat_status_name(routemat_status status);

/* Runtime dispatch. The best ISA the CPU and OS support is chosen at first
 * use; the environment variable ROUTEMAT_ISA=scalar|sse4_2|avx2|avx512|neon
 * lowers it. An unknown or unsupported value makes every call fail with
 * ROUTEMAT_ERROR_UNSUPPORTED_ISA until routemat_select_isa succeeds. */
ROUTEMAT_API routemat_status routemat_active_isa(routemat_isa* out);
ROUTEMAT_API routemat_status routemat_select_isa(routemat_isa isa);
ROUTEMAT_API int routemat_isa_supported(routemat_isa isa);    /* compiled in and runnable here */
ROUTEMAT_API const char* routemat_isa_name(routemat_isa isa); /* NULL for an unknown value */

#ifdef __cplusplus
}
#endif

#endif /* ROUTEMAT_H */
