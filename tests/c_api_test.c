/* The C ABI from a C99 translation unit: maps with int32 and int64 indices,
 * gather and scatter-add in f32 and f64 on the branching example, dropped
 * rows, plans (node and sum modules), threads and a host parallel-for,
 * runtime ISA selection (every supported ISA in turn), status names, the
 * error channel, and the bad-input catalogue from C (exact status and
 * message for every operation; outputs untouched). Prints every failed check
 * with file:line, then a final line "N passed, N failed"; exits non-zero if
 * any check failed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routemat/routemat.h"

static int passed = 0;
static int failed = 0;
static const char* context = "";    /* the ISA being run, if one was selected */
static const char* op_context = ""; /* the operation being checked, if any */

static void check(int ok, const char* what, const char* file, int line) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    printf("%s:%d: check failed%s%s%s%s: %s\n", file, line, context[0] ? " on ISA " : "", context,
           op_context[0] ? " in " : "", op_context, what);
  }
}

#define CHECK(cond) check((cond) != 0, #cond, __FILE__, __LINE__)
/* A call failed with this status and its message contains this text. */
#define CHECK_ERROR(status, want, text)                   \
  do {                                                    \
    CHECK((status) == (want));                            \
    CHECK(strstr(routemat_last_error(), (text)) != NULL); \
  } while (0)

/* The branching example: G maps (a,b,c) to (c,a,b,a,c,b). */
enum { M = 6, N = 3 };
static const int32_t branch_idx[M] = {2, 0, 1, 0, 2, 1};
static const double gather_col0[M] = {3, 1, 2, 1, 3, 2};       /* G (1,2,3) */
static const double scatter_w[M] = {1, 2, 4, 8, 16, 32};       /* dY column 0 */
static const double scatter_col0[N] = {2 + 8, 4 + 32, 1 + 16}; /* G^T dY */
/* Row 1 dropped (index -1): it gathers zeros and gives no gradient. */
static const double dropped_gather_col0[M] = {3, 0, 2, 1, 3, 2};
static const double dropped_scatter_col0[N] = {8, 4 + 32, 1 + 16};
static const double sentinel = -99;

static size_t value_size(routemat_value_type type) { return type == ROUTEMAT_F32 ? 4 : 8; }

static double get(const void* p, routemat_value_type type, size_t i) {
  return type == ROUTEMAT_F32 ? (double)((const float*)p)[i] : ((const double*)p)[i];
}

static void set(void* p, routemat_value_type type, size_t i, double v) {
  if (type == ROUTEMAT_F32) {
    ((float*)p)[i] = (float)v;
  } else {
    ((double*)p)[i] = v;
  }
}

/* An exact-size block of rows x stride (the last row only d long), every
 * element set to the sentinel. */
static void* new_block(int64_t rows, int64_t d, int64_t stride, routemat_value_type type,
                       size_t* count) {
  size_t i;
  void* p;
  *count = rows > 0 ? (size_t)((rows - 1) * stride + d) : 0;
  p = malloc(*count * value_size(type));
  if (p == NULL) {
    printf("out of memory\n");
    exit(2);
  }
  for (i = 0; i < *count; ++i) set(p, type, i, sentinel);
  return p;
}

/* Every element of a row is want[row] * (k + 1); every stride gap is the sentinel. */
static int block_is(const void* p, routemat_value_type type, int64_t rows, int64_t d,
                    int64_t stride, const double* want) {
  int64_t r, k;
  for (r = 0; r < rows; ++r) {
    for (k = 0; k < stride && r * stride + k < (rows - 1) * stride + d; ++k) {
      const double v = get(p, type, (size_t)(r * stride + k));
      if (k < d ? v != want[r] * (double)(k + 1) : v != sentinel) return 0;
    }
  }
  return 1;
}

static void fill_rows(void* p, routemat_value_type type, int64_t rows, int64_t d, int64_t stride,
                      const double* col0) {
  int64_t r, k;
  for (r = 0; r < rows; ++r)
    for (k = 0; k < d; ++k) set(p, type, (size_t)(r * stride + k), col0[r] * (double)(k + 1));
}

static routemat_rows view(void* data, int64_t rows, int64_t d, int64_t stride,
                          routemat_value_type type) {
  routemat_rows v;
  v.data = data;
  v.rows = rows;
  v.width = d;
  v.stride = stride;
  v.type = type;
  return v;
}

static routemat_map* create_branching(routemat_index_type index_type, int drop, int32_t* idx32,
                                      int64_t* idx64) {
  routemat_map* map = NULL;
  int i;
  for (i = 0; i < M; ++i) {
    idx32[i] = branch_idx[i];
    idx64[i] = branch_idx[i];
  }
  if (drop) idx32[1] = idx64[1] = -1;
  CHECK(routemat_map_create(&map, M, N,
                            index_type == ROUTEMAT_INT32 ? (const void*)idx32 : (const void*)idx64,
                            index_type, drop ? ROUTEMAT_ALLOW_DROP : 0u) == ROUTEMAT_OK);
  CHECK(map != NULL);
  CHECK(routemat_map_rows(map) == M);
  CHECK(routemat_map_cols(map) == N);
  CHECK(routemat_map_dropped_rows(map) == (drop ? 1 : 0));
  return map;
}

/* The same products through a plan: the node module's backward (accumulate
 * and overwrite) and the sum module's pair. */
static void run_plan(const routemat_map* map, routemat_value_type type, int64_t d, int64_t stride,
                     int drop, void* u, void* y, void* dy, void* du) {
  routemat_plan* plan = NULL;
  routemat_plan_facts facts;
  static const double zeros[N] = {0, 0, 0};
  const double* want_scatter = drop ? dropped_scatter_col0 : scatter_col0;
  double twice[N];
  int j;
  routemat_rows u_view = view(u, N, d, stride, type), y_view = view(y, M, d, stride, type);
  routemat_rows dy_view = view(dy, M, d, stride, type), du_view = view(du, N, d, stride, type);

  CHECK(routemat_plan_create(&plan, map) == ROUTEMAT_OK);
  if (plan == NULL) return;
  CHECK(routemat_plan_get_facts(plan, &facts) == ROUTEMAT_OK);
  CHECK(facts.rows == M && facts.cols == N && facts.dropped_rows == (drop ? 1 : 0));
  CHECK(facts.max_fan_in == 2 && facts.empty_cols == 0 && !facts.identity && !facts.permutation);
  CHECK(!facts.sorted);

  fill_rows(du, type, N, d, stride, zeros);
  CHECK(routemat_plan_scatter_add(plan, &dy_view, &du_view, ROUTEMAT_ACCUMULATE) == ROUTEMAT_OK);
  CHECK(block_is(du, type, N, d, stride, want_scatter));
  CHECK(routemat_plan_scatter_add(plan, &dy_view, &du_view, ROUTEMAT_ACCUMULATE) == ROUTEMAT_OK);
  for (j = 0; j < N; ++j) twice[j] = 2 * want_scatter[j];
  CHECK(block_is(du, type, N, d, stride, twice));
  CHECK(routemat_plan_scatter_add(plan, &dy_view, &du_view, ROUTEMAT_OVERWRITE) == ROUTEMAT_OK);
  CHECK(block_is(du, type, N, d, stride, want_scatter));
  CHECK(routemat_plan_scatter_add(plan, &dy_view, &du_view, (routemat_write)7) ==
        ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(block_is(du, type, N, d, stride, want_scatter));

  /* Sum module: forward v = G^T x overwrites, backward dx = G dv gathers. */
  fill_rows(du, type, N, d, stride, twice);
  CHECK(routemat_sum_forward(plan, &dy_view, &du_view) == ROUTEMAT_OK);
  CHECK(block_is(du, type, N, d, stride, want_scatter));
  CHECK(routemat_sum_backward(plan, &u_view, &y_view) == ROUTEMAT_OK);
  CHECK(block_is(y, type, M, d, stride, drop ? dropped_gather_col0 : gather_col0));
  CHECK(routemat_sum_forward(plan, &u_view, &du_view) == ROUTEMAT_ERROR_SHAPE_MISMATCH);
  CHECK(strstr(routemat_last_error(), "src has 3 rows; the map needs 6") != NULL);
  routemat_plan_destroy(plan);
}

/* Y = G U and dU += G^T dY on the branching example, column k scaled by k + 1. */
static void run_branching(routemat_index_type index_type, routemat_value_type type, int64_t d,
                          int64_t stride, int drop) {
  int32_t idx32[M];
  int64_t idx64[M];
  static const double abc[N] = {1, 2, 3};
  double twice[N];
  size_t n_u, n_y, n_dy, n_du;
  int j;
  static const double zeros[N] = {0, 0, 0};
  const double* want_scatter = drop ? dropped_scatter_col0 : scatter_col0;
  routemat_map* map = create_branching(index_type, drop, idx32, idx64);
  void *u, *y, *dy, *du;
  routemat_rows u_view, y_view, dy_view, du_view;

  if (map == NULL) return;
  u = new_block(N, d, stride, type, &n_u);
  y = new_block(M, d, stride, type, &n_y);
  dy = new_block(M, d, stride, type, &n_dy);
  du = new_block(N, d, stride, type, &n_du);
  u_view = view(u, N, d, stride, type);
  y_view = view(y, M, d, stride, type);
  dy_view = view(dy, M, d, stride, type);
  du_view = view(du, N, d, stride, type);
  fill_rows(u, type, N, d, stride, abc);
  fill_rows(dy, type, M, d, stride, scatter_w);
  fill_rows(du, type, N, d, stride, zeros);

  CHECK(routemat_gather(map, &u_view, &y_view) == ROUTEMAT_OK);
  CHECK(block_is(y, type, M, d, stride, drop ? dropped_gather_col0 : gather_col0));
  CHECK(block_is(u, type, N, d, stride, abc)); /* the input is not written */

  CHECK(routemat_scatter_add(map, &dy_view, &du_view) == ROUTEMAT_OK);
  CHECK(block_is(du, type, N, d, stride, want_scatter));
  CHECK(block_is(dy, type, M, d, stride, scatter_w));
  /* scatter_add accumulates into what dst holds. */
  CHECK(routemat_scatter_add(map, &dy_view, &du_view) == ROUTEMAT_OK);
  for (j = 0; j < N; ++j) twice[j] = 2 * want_scatter[j];
  CHECK(block_is(du, type, N, d, stride, twice));

  run_plan(map, type, d, stride, drop, u, y, dy, du);

  free(u);
  free(y);
  free(dy);
  free(du);
  routemat_map_destroy(map);
}

static void run_all_branching(void) {
  static const int64_t shapes[][2] = {{1, 1}, {1, 3}, {5, 5}, {5, 7}}; /* d, stride */
  int it, vt, s, drop;
  for (it = 0; it < 2; ++it)
    for (vt = 0; vt < 2; ++vt)
      for (s = 0; s < 4; ++s)
        for (drop = 0; drop < 2; ++drop)
          run_branching(it == 0 ? ROUTEMAT_INT32 : ROUTEMAT_INT64,
                        vt == 0 ? ROUTEMAT_F32 : ROUTEMAT_F64, shapes[s][0], shapes[s][1], drop);
}

static void check_status_names(void) {
  static const char* const names[] = {"ok",
                                      "invalid argument",
                                      "index out of range",
                                      "shape mismatch",
                                      "size overflow",
                                      "output overlaps an input",
                                      "unsupported ISA",
                                      "out of memory"};
  int s;
  for (s = ROUTEMAT_OK; s <= ROUTEMAT_ERROR_OUT_OF_MEMORY; ++s) {
    const char* name = routemat_status_name((routemat_status)s);
    CHECK(name != NULL && strcmp(name, names[s]) == 0);
  }
  CHECK(strcmp(routemat_status_name((routemat_status)42), "unknown status") == 0);
  CHECK(strcmp(routemat_status_name((routemat_status)-1), "unknown status") == 0);
}

static void check_errors(void) {
  int32_t idx32[M];
  int64_t idx64[M];
  const int32_t bad[M] = {2, 0, 1, 0, 3, 1};
  const int32_t dropped[M] = {2, -1, 1, 0, 2, 1};
  routemat_map* untouched = (routemat_map*)&passed; /* any non-NULL marker */
  routemat_map* out = untouched;
  routemat_map* map;
  size_t n_u, n_y, i;
  void* u;
  void* y;
  float* y_before;
  routemat_rows u_view, y_view;
  routemat_status s;

  /* An index equal to cols, in row 4. */
  s = routemat_map_create(&out, M, N, bad, ROUTEMAT_INT32, 0);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE, "index 3 at row 4 is outside [0, 3)");
  CHECK(out == untouched);
  /* -1 without the drop flag: the message says how to allow it. */
  s = routemat_map_create(&out, M, N, dropped, ROUTEMAT_INT32, 0);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE, "at row 1");
  CHECK(strstr(routemat_last_error(), "ROUTEMAT_ALLOW_DROP") != NULL);
  CHECK(out == untouched);
  /* Unknown enum values and flags. */
  s = routemat_map_create(&out, M, N, bad, (routemat_index_type)7, 0);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INVALID_ARGUMENT, "index type 7");
  s = routemat_map_create(&out, M, N, bad, ROUTEMAT_INT32, 0x10u);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INVALID_ARGUMENT, "unknown map flags 0x10");
  s = routemat_map_create(&out, 2, N, NULL, ROUTEMAT_INT64, 0);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INVALID_ARGUMENT, "indices is NULL");
  CHECK(out == untouched);

  map = create_branching(ROUTEMAT_INT64, 0, idx32, idx64);
  if (map == NULL) return;
  u = new_block(N, 2, 2, ROUTEMAT_F32, &n_u);
  y = new_block(M, 2, 2, ROUTEMAT_F32, &n_y);
  y_before = (float*)malloc(n_y * sizeof(float));
  if (y_before == NULL) exit(2);
  memcpy(y_before, y, n_y * sizeof(float));
  u_view = view(u, N, 2, 2, ROUTEMAT_F32);

  /* dst rows != m. */
  y_view = view(y, M - 1, 2, 2, ROUTEMAT_F32);
  s = routemat_gather(map, &u_view, &y_view);
  CHECK_ERROR(s, ROUTEMAT_ERROR_SHAPE_MISMATCH, "dst has 5 rows; the map needs 6");
  /* src rows != m for scatter_add. */
  y_view = view(y, M, 2, 2, ROUTEMAT_F32);
  s = routemat_scatter_add(map, &u_view, &y_view);
  CHECK_ERROR(s, ROUTEMAT_ERROR_SHAPE_MISMATCH, "src has 3 rows; the map needs 6");
  /* f32 src, f64 dst. */
  y_view = view(y, M, 1, 1, ROUTEMAT_F64);
  s = routemat_gather(map, &u_view, &y_view);
  CHECK_ERROR(s, ROUTEMAT_ERROR_SHAPE_MISMATCH, "src holds f32 values but dst holds f64");
  /* An unknown value type: any int is a valid value of a C enum. */
  y_view = view(y, M, 2, 2, (routemat_value_type)5);
  s = routemat_gather(map, &u_view, &y_view);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INVALID_ARGUMENT, "dst type 5 is none of");
  /* stride < width. */
  y_view = view(y, M, 2, 1, ROUTEMAT_F32);
  s = routemat_gather(map, &u_view, &y_view);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INVALID_ARGUMENT, "dst stride 1 is less than its width 2");
  /* dst overlapping src. */
  y_view = view(y, M, 2, 2, ROUTEMAT_F32);
  u_view = view(y, N, 2, 2, ROUTEMAT_F32);
  s = routemat_gather(map, &u_view, &y_view);
  CHECK_ERROR(s, ROUTEMAT_ERROR_ALIASING, "dst overlaps src");
  /* No map. */
  s = routemat_gather(NULL, &u_view, &y_view);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INVALID_ARGUMENT, "map is NULL");
  /* Nothing was written by any refused call. */
  CHECK(memcmp(y_before, y, n_y * sizeof(float)) == 0);

  /* A success does not clear the last failure's message. */
  u_view = view(u, N, 2, 2, ROUTEMAT_F32);
  CHECK(routemat_gather(map, &u_view, &y_view) == ROUTEMAT_OK);
  CHECK(strcmp(routemat_last_error(), "map is NULL") == 0);
  for (i = 0; i < n_y; ++i) CHECK(((float*)y)[i] == (float)sentinel);

  free(y_before);
  free(u);
  free(y);
  routemat_map_destroy(map);
}

/* ---- The bad-input catalogue from C: exact status and message ------------
 * Every refused call leaves every output byte (and out pointer) as it was.
 * Buffers are exact-size heap blocks, so AddressSanitizer sees any overrun. */

/* The call failed with exactly this status and exactly this message. */
#define CHECK_EXACT(call, want, text) check_exact((call), (want), (text), #call, __FILE__, __LINE__)

static void check_exact(routemat_status got, routemat_status want, const char* text,
                        const char* what, const char* file, int line) {
  const char* message = routemat_last_error();
  const int ok = got == want && strcmp(message, text) == 0;
  check(ok, what, file, line);
  if (!ok)
    printf("  got %d (%s) \"%s\"\n  want %d (%s) \"%s\"\n", (int)got, routemat_status_name(got),
           message, (int)want, routemat_status_name(want), text);
}

/* An exact-size copy of a block, to prove a refused call wrote nothing. */
static void* snapshot(const void* p, size_t bytes) {
  void* copy = malloc(bytes > 0 ? bytes : 1);
  if (copy == NULL) {
    printf("out of memory\n");
    exit(2);
  }
  if (bytes > 0) memcpy(copy, p, bytes);
  return copy;
}

/* The six operations, each as op(map, plan, src, dst): map operations
 * ignore the plan, plan operations the map. */
typedef routemat_status (*any_op)(const routemat_map*, const routemat_plan*, const routemat_rows*,
                                  const routemat_rows*);
static routemat_status op_gather(const routemat_map* g, const routemat_plan* p,
                                 const routemat_rows* s, const routemat_rows* d) {
  (void)p;
  return routemat_gather(g, s, d);
}
static routemat_status op_scatter_add(const routemat_map* g, const routemat_plan* p,
                                      const routemat_rows* s, const routemat_rows* d) {
  (void)p;
  return routemat_scatter_add(g, s, d);
}
static routemat_status op_plan_accumulate(const routemat_map* g, const routemat_plan* p,
                                          const routemat_rows* s, const routemat_rows* d) {
  (void)g;
  return routemat_plan_scatter_add(p, s, d, ROUTEMAT_ACCUMULATE);
}
static routemat_status op_plan_overwrite(const routemat_map* g, const routemat_plan* p,
                                         const routemat_rows* s, const routemat_rows* d) {
  (void)g;
  return routemat_plan_scatter_add(p, s, d, ROUTEMAT_OVERWRITE);
}
static routemat_status op_sum_forward(const routemat_map* g, const routemat_plan* p,
                                      const routemat_rows* s, const routemat_rows* d) {
  (void)g;
  return routemat_sum_forward(p, s, d);
}
static routemat_status op_sum_backward(const routemat_map* g, const routemat_plan* p,
                                       const routemat_rows* s, const routemat_rows* d) {
  (void)g;
  return routemat_sum_backward(p, s, d);
}
struct op_info {
  const char* name;
  any_op fn;
  int gathers;   /* reads n rows and writes m (gather, sum_backward); else reads m, writes n */
  int uses_plan; /* a NULL plan, not a NULL map, is the missing handle */
};
static const struct op_info ops[] = {
    {"gather", op_gather, 1, 0},
    {"scatter_add", op_scatter_add, 0, 0},
    {"plan_scatter_add(ACCUMULATE)", op_plan_accumulate, 0, 1},
    {"plan_scatter_add(OVERWRITE)", op_plan_overwrite, 0, 1},
    {"sum_forward", op_sum_forward, 0, 1},
    {"sum_backward", op_sum_backward, 1, 1},
};
enum { OPS = sizeof ops / sizeof ops[0] };

static const char* type_name(routemat_value_type type) {
  return type == ROUTEMAT_F32 ? "f32" : "f64";
}

/* Index values the map refuses, each at row 4 of the branching map (n = 3). */
static void catalogue_indices(void) {
  static const int64_t bad64[] = {N, N + 1000, -1, -N - 1, INT32_MIN, INT64_MIN, INT64_MAX};
  int32_t idx32[M];
  int64_t idx64[M];
  char want[200];
  size_t b;
  int i, it, drop;
  for (b = 0; b < sizeof bad64 / sizeof bad64[0]; ++b) {
    for (it = 0; it < 2; ++it) {
      const routemat_index_type type = it == 0 ? ROUTEMAT_INT32 : ROUTEMAT_INT64;
      if (type == ROUTEMAT_INT32 && (bad64[b] < INT32_MIN || bad64[b] > INT32_MAX)) continue;
      for (i = 0; i < M; ++i) idx32[i] = branch_idx[i], idx64[i] = branch_idx[i];
      idx32[4] = (int32_t)bad64[b];
      idx64[4] = bad64[b];
      for (drop = 0; drop < 2; ++drop) {
        routemat_map* untouched = (routemat_map*)&passed;
        routemat_map* out = untouched;
        const char* hint = drop ? " and is not the drop marker -1"
                           : bad64[b] == -1
                               ? "; pass ROUTEMAT_ALLOW_DROP to mark dropped rows with -1"
                               : "";
        if (drop && bad64[b] == -1) continue; /* valid with the flag */
        snprintf(want, sizeof want, "index %lld at row 4 is outside [0, 3)%s", (long long)bad64[b],
                 hint);
        CHECK_EXACT(
            routemat_map_create(&out, M, N,
                                type == ROUTEMAT_INT32 ? (const void*)idx32 : (const void*)idx64,
                                type, drop ? ROUTEMAT_ALLOW_DROP : 0u),
            ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE, want);
        CHECK(out == untouched);
      }
    }
  }
}

/* Null out parameters, unknown enum values, NULL indices. */
static void catalogue_arguments(void) {
  int32_t idx32[M];
  int64_t idx64[M];
  routemat_map* untouched_map = (routemat_map*)&passed;
  routemat_map* out_map = untouched_map;
  routemat_plan* untouched_plan = (routemat_plan*)&failed;
  routemat_plan* out_plan = untouched_plan;
  routemat_plan* plan = NULL;
  routemat_plan_facts facts, facts_before;
  routemat_isa before = ROUTEMAT_ISA_SCALAR, after = ROUTEMAT_ISA_SCALAR;
  routemat_map* map = create_branching(ROUTEMAT_INT32, 0, idx32, idx64);
  float x[M] = {1, 2, 3, 4, 5, 6};
  float v[N] = {7, 8, 9};
  const float v_before[N] = {7, 8, 9};
  routemat_rows src = view(x, M, 1, 1, ROUTEMAT_F32), dst = view(v, N, 1, 1, ROUTEMAT_F32);
  if (map == NULL) return;
  CHECK(routemat_plan_create(&plan, map) == ROUTEMAT_OK);
  if (plan == NULL) {
    routemat_map_destroy(map);
    return;
  }

  /* Null out parameters and a NULL map for a plan. */
  CHECK_EXACT(routemat_map_create(NULL, M, N, idx32, ROUTEMAT_INT32, 0),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_EXACT(routemat_plan_create(NULL, map), ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_EXACT(routemat_plan_create(&out_plan, NULL), ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "map is NULL");
  CHECK(out_plan == untouched_plan);
  CHECK_EXACT(routemat_plan_get_facts(plan, NULL), ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  memset(&facts, 0x5A, sizeof facts);
  facts_before = facts;
  CHECK_EXACT(routemat_plan_get_facts(NULL, &facts), ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "plan is NULL");
  CHECK(memcmp(&facts, &facts_before, sizeof facts) == 0);
  CHECK_EXACT(routemat_active_isa(NULL), ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  /* NULL indices with rows > 0. */
  CHECK_EXACT(routemat_map_create(&out_map, M, N, NULL, ROUTEMAT_INT32, 0),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "indices is NULL with 6 rows");
  CHECK_EXACT(routemat_map_create(&out_map, 1, N, NULL, ROUTEMAT_INT64, ROUTEMAT_ALLOW_DROP),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "indices is NULL with 1 rows");
  CHECK(out_map == untouched_map);

  /* Unknown enum values: any int is a valid value of a C enum. */
  CHECK_EXACT(routemat_map_create(&out_map, M, N, idx32, (routemat_index_type)9, 0),
              ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "index type 9 is neither ROUTEMAT_INT32 nor ROUTEMAT_INT64");
  CHECK(out_map == untouched_map);
  CHECK_EXACT(routemat_plan_scatter_add(plan, &src, &dst, (routemat_write)5),
              ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "write mode 5 is neither ROUTEMAT_ACCUMULATE nor ROUTEMAT_OVERWRITE");
  CHECK(routemat_set_plan_kernel(ROUTEMAT_PLAN_PUSH) == ROUTEMAT_OK);
  CHECK_EXACT(
      routemat_set_plan_kernel((routemat_plan_kernel)3), ROUTEMAT_ERROR_INVALID_ARGUMENT,
      "plan kernel 3 is none of ROUTEMAT_PLAN_AUTO, ROUTEMAT_PLAN_PULL, ROUTEMAT_PLAN_PUSH");
  CHECK(routemat_get_plan_kernel() == ROUTEMAT_PLAN_PUSH); /* unchanged */
  CHECK(routemat_set_plan_kernel(ROUTEMAT_PLAN_AUTO) == ROUTEMAT_OK);
  CHECK(routemat_active_isa(&before) == ROUTEMAT_OK);
  CHECK_EXACT(routemat_select_isa((routemat_isa)99), ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "unknown ISA value 99");
  CHECK(routemat_active_isa(&after) == ROUTEMAT_OK && after == before); /* unchanged */
  CHECK(routemat_isa_name((routemat_isa)99) == NULL);
  CHECK(routemat_isa_supported((routemat_isa)99) == 0);
  CHECK(memcmp(v, v_before, sizeof v) == 0);

  routemat_plan_destroy(plan);
  routemat_map_destroy(map);
}

/* Every view-level refusal of one operation in one value type, on the
 * branching example (m = 6, n = 3, d = 2), with exact messages. */
static void catalogue_views(const struct op_info* op, routemat_value_type type) {
  enum { D = 2 };
  const routemat_value_type other = type == ROUTEMAT_F32 ? ROUTEMAT_F64 : ROUTEMAT_F32;
  const int64_t in_rows = op->gathers ? N : M, out_rows = op->gathers ? M : N;
  const char* in_need = op->gathers ? "its cols n" : "its rows m";
  const char* out_need = op->gathers ? "its rows m" : "its cols n";
  int32_t idx32[M];
  int64_t idx64[M];
  routemat_map* map = create_branching(ROUTEMAT_INT32, 0, idx32, idx64);
  routemat_plan* plan = NULL;
  size_t n_in, n_out, n_other_in, n_other_out;
  void *in, *out, *other_in, *other_out, *in_copy, *out_copy, *other_in_copy, *other_out_copy;
  routemat_rows src, dst, bad;
  char want[300];
  int64_t r;

  if (map == NULL) return;
  CHECK(routemat_plan_create(&plan, map) == ROUTEMAT_OK);
  op_context = op->name; /* printed with every failed check */
  in = new_block(in_rows, D, D, type, &n_in);
  out = new_block(out_rows, D, D, type, &n_out);
  other_in = new_block(in_rows, D, D, other, &n_other_in);
  other_out = new_block(out_rows, D, D, other, &n_other_out);
  for (r = 0; r < (int64_t)n_in; ++r) set(in, type, (size_t)r, (double)(r + 1));
  in_copy = snapshot(in, n_in * value_size(type));
  out_copy = snapshot(out, n_out * value_size(type));
  other_in_copy = snapshot(other_in, n_other_in * value_size(other));
  other_out_copy = snapshot(other_out, n_other_out * value_size(other));
  src = view(in, in_rows, D, D, type);
  dst = view(out, out_rows, D, D, type);

  /* NULL handle, views and data. */
  CHECK_EXACT(op->fn(op->uses_plan ? map : NULL, op->uses_plan ? NULL : plan, &src, &dst),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, op->uses_plan ? "plan is NULL" : "map is NULL");
  CHECK_EXACT(op->fn(map, plan, NULL, &dst), ROUTEMAT_ERROR_INVALID_ARGUMENT, "src is NULL");
  CHECK_EXACT(op->fn(map, plan, &src, NULL), ROUTEMAT_ERROR_INVALID_ARGUMENT, "dst is NULL");
  bad = src;
  bad.data = NULL;
  snprintf(want, sizeof want, "src data is NULL with %lld rows", (long long)in_rows);
  CHECK_EXACT(op->fn(map, plan, &bad, &dst), ROUTEMAT_ERROR_INVALID_ARGUMENT, want);
  bad = dst;
  bad.data = NULL;
  snprintf(want, sizeof want, "dst data is NULL with %lld rows", (long long)out_rows);
  CHECK_EXACT(op->fn(map, plan, &src, &bad), ROUTEMAT_ERROR_INVALID_ARGUMENT, want);

  /* stride < width. */
  bad = src;
  bad.stride = 1;
  CHECK_EXACT(op->fn(map, plan, &bad, &dst), ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "src stride 1 is less than its width 2");
  bad = dst;
  bad.stride = 1;
  CHECK_EXACT(op->fn(map, plan, &src, &bad), ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "dst stride 1 is less than its width 2");

  /* Unknown value type 7; f32 and f64 mixed (both ways). */
  bad = src;
  bad.type = (routemat_value_type)7;
  CHECK_EXACT(op->fn(map, plan, &bad, &dst), ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "src type 7 is none of ROUTEMAT_F32, ROUTEMAT_F64, ROUTEMAT_BF16, ROUTEMAT_F16");
  bad = dst;
  bad.type = (routemat_value_type)7;
  CHECK_EXACT(op->fn(map, plan, &src, &bad), ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "dst type 7 is none of ROUTEMAT_F32, ROUTEMAT_F64, ROUTEMAT_BF16, ROUTEMAT_F16");
  bad = view(other_out, out_rows, D, D, other);
  snprintf(want, sizeof want, "src holds %s values but dst holds %s", type_name(type),
           type_name(other));
  CHECK_EXACT(op->fn(map, plan, &src, &bad), ROUTEMAT_ERROR_SHAPE_MISMATCH, want);
  bad = view(other_in, in_rows, D, D, other);
  snprintf(want, sizeof want, "src holds %s values but dst holds %s", type_name(other),
           type_name(type));
  CHECK_EXACT(op->fn(map, plan, &bad, &dst), ROUTEMAT_ERROR_SHAPE_MISMATCH, want);

  /* Shapes that do not fit the map (or the plan's map). */
  bad = src;
  bad.rows = in_rows - 1;
  snprintf(want, sizeof want, "src has %lld rows; the map needs %lld (%s)",
           (long long)(in_rows - 1), (long long)in_rows, in_need);
  CHECK_EXACT(op->fn(map, plan, &bad, &dst), ROUTEMAT_ERROR_SHAPE_MISMATCH, want);
  bad = dst;
  bad.rows = out_rows + 1; /* refused before any access past the block */
  snprintf(want, sizeof want, "dst has %lld rows; the map needs %lld (%s)",
           (long long)(out_rows + 1), (long long)out_rows, out_need);
  CHECK_EXACT(op->fn(map, plan, &src, &bad), ROUTEMAT_ERROR_SHAPE_MISMATCH, want);
  bad = dst;
  bad.width = 1;
  CHECK_EXACT(op->fn(map, plan, &src, &bad), ROUTEMAT_ERROR_SHAPE_MISMATCH,
              "src width 2 differs from dst width 1");

  /* A byte count that overflows. */
  bad = src;
  bad.stride = (int64_t)1 << 62;
  snprintf(want, sizeof want,
           "src with %lld rows of stride 4611686018427387904 and width 2 (%s) spans more bytes "
           "than memory has",
           (long long)in_rows, type_name(type));
  CHECK_EXACT(op->fn(map, plan, &bad, &dst), ROUTEMAT_ERROR_OVERFLOW, want);

  /* Nothing was written by any refused call. */
  CHECK(memcmp(in, in_copy, n_in * value_size(type)) == 0);
  CHECK(memcmp(out, out_copy, n_out * value_size(type)) == 0);
  CHECK(memcmp(other_in, other_in_copy, n_other_in * value_size(other)) == 0);
  CHECK(memcmp(other_out, other_out_copy, n_other_out * value_size(other)) == 0);
  /* The fixture is right: the valid call succeeds. */
  CHECK(op->fn(map, plan, &src, &dst) == ROUTEMAT_OK);

  op_context = "";
  free(in);
  free(out);
  free(other_in);
  free(other_out);
  free(in_copy);
  free(out_copy);
  free(other_in_copy);
  free(other_out_copy);
  routemat_plan_destroy(plan);
  routemat_map_destroy(map);
}

/* An output overlapping an input or the map's indices, for one operation, on
 * a square map (m = n = 4, d = 2), so that src and dst have one shape. */
static void catalogue_aliasing(const struct op_info* op) {
  enum { R = 4, D = 2, WORDS = R + R * D }; /* 4 indices, then 4 rows of 2 floats */
  static const int32_t square[R] = {2, 0, 3, 1};
  float* buf = (float*)malloc((R + 1) * D * sizeof(float)); /* 5 rows, exact */
  int32_t* words = (int32_t*)malloc(WORDS * sizeof(int32_t));
  void *buf_copy, *words_copy;
  routemat_map* map = NULL;
  routemat_map* inner = NULL;
  routemat_plan* plan = NULL;
  routemat_plan* inner_plan = NULL;
  float x[R * D] = {1, 2, 3, 4, 5, 6, 7, 8};
  routemat_rows src, dst;
  int i;
  if (buf == NULL || words == NULL) {
    printf("out of memory\n");
    exit(2);
  }
  op_context = op->name;
  for (i = 0; i < (R + 1) * D; ++i) buf[i] = (float)(i + 1);
  CHECK(routemat_map_create(&map, R, R, square, ROUTEMAT_INT32, 0) == ROUTEMAT_OK);
  CHECK(routemat_plan_create(&plan, map) == ROUTEMAT_OK);
  buf_copy = snapshot(buf, (R + 1) * D * sizeof(float));

  /* dst == src. */
  src = view(buf, R, D, D, ROUTEMAT_F32);
  CHECK_EXACT(op->fn(map, plan, &src, &src), ROUTEMAT_ERROR_ALIASING, "dst overlaps src");
  /* dst one row after src, and one row before. */
  dst = view(buf + D, R, D, D, ROUTEMAT_F32);
  CHECK_EXACT(op->fn(map, plan, &src, &dst), ROUTEMAT_ERROR_ALIASING, "dst overlaps src");
  CHECK_EXACT(op->fn(map, plan, &dst, &src), ROUTEMAT_ERROR_ALIASING, "dst overlaps src");
  CHECK(memcmp(buf, buf_copy, (R + 1) * D * sizeof(float)) == 0);

  /* dst overlapping the map's indices: both in one int32 block, the indices
   * first, dst starting on the last index. */
  for (i = 0; i < R; ++i) words[i] = square[i];
  for (i = R; i < WORDS; ++i) words[i] = 0x5A5A5A5A;
  CHECK(routemat_map_create(&inner, R, R, words, ROUTEMAT_INT32, 0) == ROUTEMAT_OK);
  CHECK(routemat_plan_create(&inner_plan, inner) == ROUTEMAT_OK);
  words_copy = snapshot(words, WORDS * sizeof(int32_t));
  src = view(x, R, D, D, ROUTEMAT_F32);
  dst = view(words + R - 1, R, D, D, ROUTEMAT_F32); /* ends one float before the block's end */
  CHECK_EXACT(op->fn(inner, inner_plan, &src, &dst), ROUTEMAT_ERROR_ALIASING,
              "dst overlaps the map's indices");
  CHECK(memcmp(words, words_copy, WORDS * sizeof(int32_t)) == 0);

  op_context = "";
  free(buf);
  free(buf_copy);
  free(words);
  free(words_copy);
  routemat_plan_destroy(inner_plan);
  routemat_plan_destroy(plan);
  routemat_map_destroy(inner);
  routemat_map_destroy(map);
}

static void check_catalogue(void) {
  int o;
  catalogue_indices();
  catalogue_arguments();
  for (o = 0; o < OPS; ++o) {
    catalogue_views(&ops[o], ROUTEMAT_F32);
    catalogue_views(&ops[o], ROUTEMAT_F64);
    catalogue_aliasing(&ops[o]);
  }
}

static void check_isas(void) {
  static const char* const names[] = {"scalar", "sse4_2", "avx2", "avx512", "neon"};
  routemat_isa original = ROUTEMAT_ISA_SCALAR, before = ROUTEMAT_ISA_SCALAR;
  routemat_isa active = ROUTEMAT_ISA_SCALAR;
  int isa, supported = 0, unsupported = 0;
  routemat_status s;

  CHECK(routemat_active_isa(&original) == ROUTEMAT_OK);
  CHECK(routemat_isa_supported(original) == 1);
  CHECK(routemat_isa_supported(ROUTEMAT_ISA_SCALAR) == 1);
  CHECK(routemat_active_isa(NULL) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  for (isa = ROUTEMAT_ISA_SCALAR; isa <= ROUTEMAT_ISA_NEON; ++isa) {
    const char* name = routemat_isa_name((routemat_isa)isa);
    CHECK(name != NULL && strcmp(name, names[isa]) == 0);
  }
  CHECK(routemat_isa_name((routemat_isa)5) == NULL);
  CHECK(routemat_isa_name((routemat_isa)-1) == NULL);
  CHECK(routemat_isa_supported((routemat_isa)5) == 0);
  CHECK(routemat_isa_supported((routemat_isa)-1) == 0);

  /* Every supported ISA in turn runs every check; the others are refused. */
  for (isa = ROUTEMAT_ISA_SCALAR; isa <= ROUTEMAT_ISA_NEON; ++isa) {
    const char* name = routemat_isa_name((routemat_isa)isa);
    if (routemat_isa_supported((routemat_isa)isa)) {
      ++supported;
      CHECK(routemat_select_isa((routemat_isa)isa) == ROUTEMAT_OK);
      CHECK(routemat_active_isa(&active) == ROUTEMAT_OK && active == (routemat_isa)isa);
      context = name;
      run_all_branching();
      check_errors();
      check_catalogue();
      context = "";
    } else {
      ++unsupported;
      CHECK(routemat_active_isa(&before) == ROUTEMAT_OK);
      s = routemat_select_isa((routemat_isa)isa);
      CHECK_ERROR(s, ROUTEMAT_ERROR_UNSUPPORTED_ISA, "cannot run here");
      CHECK(strstr(routemat_last_error(), name) != NULL);
      CHECK(strstr(routemat_last_error(), "scalar") != NULL); /* it lists what runs */
      /* The active ISA is unchanged. */
      CHECK(routemat_active_isa(&active) == ROUTEMAT_OK && active == before);
    }
  }
  CHECK(supported >= 1);
  CHECK(unsupported >= 1); /* no build has both x86 and Arm kernels */
  CHECK(routemat_select_isa(original) == ROUTEMAT_OK);

  s = routemat_select_isa((routemat_isa)99);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INVALID_ARGUMENT, "unknown ISA value 99");
  s = routemat_select_isa((routemat_isa)-1);
  CHECK_ERROR(s, ROUTEMAT_ERROR_INVALID_ARGUMENT, "unknown ISA value -1");
  CHECK(routemat_active_isa(&active) == ROUTEMAT_OK && active == original);
  run_all_branching(); /* still runs after the refusals */
}

/* A host runtime's parallel-for: runs the shards itself, in reverse order,
 * and counts them. */
struct host_pool {
  int calls;
  int64_t shards;
};
static void host_parallel_for(void* pool_context, routemat_task task, void* task_context,
                              int64_t shards) {
  struct host_pool* pool = (struct host_pool*)pool_context;
  int64_t s;
  ++pool->calls;
  pool->shards += shards;
  for (s = shards - 1; s >= 0; --s) task(task_context, s);
}

/* A host parallel-for is used for large problems, gives the same bytes as
 * the library's own pool, and the thread count can be set. */
static void check_threads(void) {
  enum { ROWS = 400000, COLS = 1000, D = 4 };
  int32_t* idx = (int32_t*)malloc(ROWS * sizeof(int32_t));
  float* dy = (float*)malloc((size_t)ROWS * D * sizeof(float));
  float* own = (float*)calloc((size_t)COLS * D, sizeof(float));
  float* hosted = (float*)calloc((size_t)COLS * D, sizeof(float));
  struct host_pool pool = {0, 0};
  routemat_map* map = NULL;
  routemat_plan* plan = NULL;
  routemat_rows src, dst_own, dst_hosted;
  int64_t i;
  if (!idx || !dy || !own || !hosted) {
    printf("out of memory\n");
    exit(2);
  }
  for (i = 0; i < ROWS; ++i) idx[i] = (int32_t)((i * 7919) % COLS);
  for (i = 0; i < (int64_t)ROWS * D; ++i) dy[i] = (float)(i % 97) / 7.0f;
  CHECK(routemat_map_create(&map, ROWS, COLS, idx, ROUTEMAT_INT32, 0) == ROUTEMAT_OK);
  CHECK(routemat_plan_create(&plan, map) == ROUTEMAT_OK);
  src = view(dy, ROWS, D, D, ROUTEMAT_F32);
  dst_own = view(own, COLS, D, D, ROUTEMAT_F32);
  dst_hosted = view(hosted, COLS, D, D, ROUTEMAT_F32);

  /* The pull: the plan kernel that goes through the parallel-for. */
  CHECK(routemat_set_plan_kernel(ROUTEMAT_PLAN_PULL) == ROUTEMAT_OK);
  CHECK(routemat_get_plan_kernel() == ROUTEMAT_PLAN_PULL);
  CHECK(routemat_set_num_threads(2) == ROUTEMAT_OK);
  CHECK(routemat_get_num_threads() == 2);
  CHECK(routemat_plan_scatter_add(plan, &src, &dst_own, ROUTEMAT_ACCUMULATE) == ROUTEMAT_OK);
  CHECK(routemat_set_parallel_for(host_parallel_for, &pool, 3) == ROUTEMAT_OK);
  CHECK(routemat_get_num_threads() == 3);
  CHECK(routemat_plan_scatter_add(plan, &src, &dst_hosted, ROUTEMAT_ACCUMULATE) == ROUTEMAT_OK);
  CHECK(pool.calls == 1 && pool.shards > 1);
  CHECK(memcmp(own, hosted, (size_t)COLS * D * sizeof(float)) == 0);
  CHECK(routemat_set_parallel_for(host_parallel_for, &pool, 0) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(routemat_set_parallel_for(NULL, NULL, 0) == ROUTEMAT_OK);
  CHECK(routemat_set_num_threads(-1) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(routemat_set_num_threads(0) == ROUTEMAT_OK);
  CHECK(routemat_set_plan_kernel(ROUTEMAT_PLAN_AUTO) == ROUTEMAT_OK);
  CHECK(routemat_set_plan_kernel((routemat_plan_kernel)3) == ROUTEMAT_ERROR_INVALID_ARGUMENT);

  routemat_plan_destroy(plan);
  routemat_map_destroy(map);
  free(idx);
  free(dy);
  free(own);
  free(hosted);
}

int main(void) {
  routemat_isa start = ROUTEMAT_ISA_SCALAR;
  CHECK(strcmp(routemat_last_error(), "") == 0); /* no error yet on this thread */
  CHECK(routemat_active_isa(&start) == ROUTEMAT_OK);
  printf("routemat C API test, starting on ISA %s\n",
         routemat_isa_name(start) ? routemat_isa_name(start) : "?");
  check_status_names();
  run_all_branching();
  check_errors();
  check_catalogue();
  check_isas();
  CHECK(routemat_select_isa(start) == ROUTEMAT_OK);
  check_threads();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
