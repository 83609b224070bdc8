/* Bags and 16-bit rows from a C99 translation unit, on every ISA the CPU
 * runs: routemat/half.h's conversions (round to nearest even, NaN kept NaN),
 * an EmbeddingBag sum and mean and a top-2 weighted combine in f32 and bf16
 * with their backward (dU and dw, with and without a plan), a dropped route,
 * an empty bag, and the bag errors' exact messages with outputs untouched.
 * Prints each failed check with file:line, then "N passed, N failed"; exits
 * non-zero if any check failed. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "routemat/routemat.h"

static int passed = 0;
static int failed = 0;
static const char* isa_name = "";

static void check(int ok, const char* what, const char* file, int line) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    printf("%s:%d: check failed on ISA %s: %s\n", file, line, isa_name, what);
  }
}
#define CHECK(cond) check((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_OK(call) CHECK((call) == ROUTEMAT_OK)
/* The call fails with this status and exactly this message. */
#define CHECK_FAILS(call, want, text)                  \
  do {                                                 \
    CHECK((call) == (want));                           \
    CHECK(strcmp(routemat_last_error(), (text)) == 0); \
  } while (0)

static void check_half_conversions(void) {
  /* Exact values, the tie between 1 and the next bf16 (1 + 2^-7) rounding to
   * even, overflow to infinity, and NaN kept NaN with its sign. */
  CHECK(routemat_f32_to_bf16(1.0f) == 0x3F80);
  CHECK(routemat_bf16_to_f32(0x3F80) == 1.0f);
  CHECK(routemat_f32_to_bf16(1.0f + 1.0f / 256) == 0x3F80); /* tie: to even */
  CHECK(routemat_f32_to_bf16(1.0f + 3.0f / 256) == 0x3F82); /* tie: to even */
  CHECK(routemat_f32_to_bf16(-0.0f) == 0x8000);
  CHECK(routemat_f32_to_f16(1.0f) == 0x3C00);
  CHECK(routemat_f16_to_f32(0x3C00) == 1.0f);
  CHECK(routemat_f32_to_f16(65504.0f) == 0x7BFF);        /* the largest f16 */
  CHECK(routemat_f32_to_f16(65520.0f) == 0x7C00);        /* rounds to inf */
  CHECK(routemat_f16_to_f32(0x0001) == 1.0f / 16777216); /* 2^-24 */
  CHECK((routemat_f32_to_f16(routemat_bits_f32(0xFFC00001u)) & 0xFE00) == 0xFE00);
  CHECK((routemat_f32_to_bf16(routemat_bits_f32(0x7F800001u)) & 0x7FC0) == 0x7FC0);
}

/* m = 6 routes into n = 3 rows (route 4 dropped), d = 2:
 *   bags of offsets {0, 2, 2, 6}: {0, 1}, {} and {2, 3, 4, 5}.
 * u rows: (1, 10), (2, 20), (4, 40). */
static const int64_t idx[6] = {2, 0, 1, 2, -1, 0};
static const int64_t offsets[4] = {0, 2, 2, 6};
static const float u_f32[6] = {1, 10, 2, 20, 4, 40};

static void check_bags_f32(const routemat_map* map, const routemat_plan* plan) {
  routemat_bags* bags = NULL;
  CHECK_OK(routemat_bags_create(&bags, map, 3, offsets, ROUTEMAT_INT64));
  CHECK(routemat_bags_count(bags) == 3);
  const routemat_rows u = {(void*)u_f32, 3, 2, 2, ROUTEMAT_F32};
  float y[6];
  const routemat_rows yv = {y, 3, 2, 2, ROUTEMAT_F32};
  /* Sum: bag 0 rows 2 + 0, bag 1 empty, bag 2 rows 1 + 2 + 0 (route 4 dropped). */
  CHECK_OK(routemat_bag_forward(bags, &u, NULL, 0, ROUTEMAT_REDUCE_SUM, &yv));
  const float sum_want[6] = {5, 50, 0, 0, 7, 70};
  CHECK(memcmp(y, sum_want, sizeof y) == 0);
  /* Mean over the kept routes: 3 in bag 2; the empty bag stays zeros. */
  CHECK_OK(routemat_bag_forward(bags, &u, NULL, 0, ROUTEMAT_REDUCE_MEAN, &yv));
  CHECK(y[0] == 2.5f && y[1] == 25.0f && y[2] == 0.0f && y[3] == 0.0f);
  CHECK(y[4] == 7.0f * (1.0f / 3) && y[5] == 70.0f * (1.0f / 3));

  /* Weighted sum and its backward: dU += w * dY routed, dw = <dY, U>. */
  const float w[6] = {2, -1, 1, 0.5f, 100, 3};
  CHECK_OK(routemat_bag_forward(bags, &u, w, 6, ROUTEMAT_REDUCE_SUM, &yv));
  const float weighted_want[6] = {2 * 4 - 1, 2 * 40 - 10, 0, 0, 2 + 2 + 3, 20 + 20 + 30};
  CHECK(memcmp(y, weighted_want, sizeof y) == 0);
  const float dy[6] = {1, 2, 5, 5, 3, 4};
  const routemat_rows dyv = {(void*)dy, 3, 2, 2, ROUTEMAT_F32};
  float du[6] = {0, 0, 0, 0, 0, 0}, dw[6];
  const routemat_rows duv = {du, 3, 2, 2, ROUTEMAT_F32};
  CHECK_OK(routemat_bag_backward(bags, plan, &dyv, &u, w, 6, ROUTEMAT_REDUCE_SUM, &duv, dw, 6));
  /* row 0: route 1 (w -1, bag 0) and route 5 (w 3, bag 2); row 1: route 2
   * (w 1, bag 2); row 2: route 0 (w 2, bag 0) and route 3 (w 0.5, bag 2). */
  const float du_want[6] = {-1 + 9, -2 + 12, 3, 4, 2 + 1.5f, 4 + 2};
  CHECK(memcmp(du, du_want, sizeof du) == 0);
  const float dw_want[6] = {1 * 4 + 2 * 40, 1 * 1 + 2 * 10, 3 * 2 + 4 * 20, 3 * 4 + 4 * 40, 0,
                            3 * 1 + 4 * 10};
  CHECK(memcmp(dw, dw_want, sizeof dw) == 0);

  /* Errors: the exact message, nothing written. */
  float y_before[6];
  memcpy(y_before, y, sizeof y);
  CHECK_FAILS(routemat_bag_forward(bags, &u, w, 5, ROUTEMAT_REDUCE_SUM, &yv),
              ROUTEMAT_ERROR_SHAPE_MISMATCH,
              "weight_count 5 differs from the map's rows m = 6 (one weight per route)");
  CHECK(memcmp(y, y_before, sizeof y) == 0);
  const int64_t decreasing[4] = {0, 3, 2, 6};
  routemat_bags* refused = NULL;
  CHECK_FAILS(routemat_bags_create(&refused, map, 3, decreasing, ROUTEMAT_INT64),
              ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "offsets decrease at bag 1: offsets[1] = 3 > offsets[2] = 2");
  const int32_t short_end[3] = {0, 2, 5};
  CHECK_FAILS(routemat_bags_create(&refused, map, 2, short_end, ROUTEMAT_INT32),
              ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "offsets[2] is 5; the last bag must end at the map's rows m = 6");
  CHECK(refused == NULL);
  routemat_bags_destroy(bags);
}

/* Top-2 combine in bf16: every output row sums two weighted routes, in f32,
 * rounded once; the backward gives bf16 dU and dw. */
static void check_top2_bf16(const routemat_map* map, const routemat_plan* plan) {
  routemat_bags* top2 = NULL;
  CHECK_OK(routemat_bags_create_fixed(&top2, map, 2));
  CHECK(routemat_bags_count(top2) == 3);
  uint16_t u[6], w[6], y[6];
  for (int i = 0; i < 6; ++i) u[i] = routemat_f32_to_bf16(u_f32[i]);
  const float wf[6] = {0.75f, 0.25f, 0.5f, 0.5f, 1, 1};
  for (int i = 0; i < 6; ++i) w[i] = routemat_f32_to_bf16(wf[i]);
  const routemat_rows uv = {u, 3, 2, 2, ROUTEMAT_BF16};
  const routemat_rows yv = {y, 3, 2, 2, ROUTEMAT_BF16};
  CHECK_OK(routemat_bag_forward(top2, &uv, w, 6, ROUTEMAT_REDUCE_SUM, &yv));
  /* token 0: 0.75 * row 2 + 0.25 * row 0; token 1: 0.5 * (row 1 + row 2);
   * token 2: route 4 dropped, 1 * row 0. */
  const float want[6] = {3.25f, 32.5f, 3, 30, 1, 10};
  for (int i = 0; i < 6; ++i) CHECK(routemat_bf16_to_f32(y[i]) == want[i]);
  /* 1/3 is not a bf16: the f32 sum is rounded once to nearest even. */
  const float third = 1.0f / 3;
  for (int i = 0; i < 6; ++i) w[i] = routemat_f32_to_bf16(third);
  CHECK_OK(routemat_bag_forward(top2, &uv, w, 6, ROUTEMAT_REDUCE_SUM, &yv));
  const float w3 = routemat_bf16_to_f32(w[0]);
  CHECK(y[0] == routemat_f32_to_bf16(w3 * 4 + w3 * 1));

  uint16_t dy[6], du[6], dw[6];
  for (int i = 0; i < 6; ++i) dy[i] = routemat_f32_to_bf16((float)(i + 1));
  for (int i = 0; i < 6; ++i) du[i] = 0;
  for (int i = 0; i < 6; ++i) w[i] = routemat_f32_to_bf16(wf[i]);
  const routemat_rows dyv = {dy, 3, 2, 2, ROUTEMAT_BF16};
  const routemat_rows duv = {du, 3, 2, 2, ROUTEMAT_BF16};
  CHECK_OK(routemat_bag_backward(top2, plan, &dyv, &uv, w, 6, ROUTEMAT_REDUCE_SUM, &duv, dw, 6));
  /* row 0: route 1 (0.25 * dY0) + route 5 (1 * dY2); row 1: route 2 (0.5 *
   * dY1); row 2: route 0 (0.75 * dY0) + route 3 (0.5 * dY1). */
  const float du_want[6] = {0.25f + 5, 0.5f + 6, 1.5f, 2, 0.75f + 1.5f, 1.5f + 2};
  for (int i = 0; i < 6; ++i) CHECK(routemat_bf16_to_f32(du[i]) == du_want[i]);
  const float dw_want[6] = {1 * 4 + 2 * 40, 1 * 1 + 2 * 10, 3 * 2 + 4 * 20, 3 * 4 + 4 * 40, 0,
                            5 * 1 + 6 * 10};
  for (int i = 0; i < 6; ++i) CHECK(routemat_bf16_to_f32(dw[i]) == dw_want[i]);
  routemat_bags_destroy(top2);
}

int main(void) {
  check_half_conversions();
  routemat_map* map = NULL;
  routemat_plan* plan = NULL;
  CHECK_OK(routemat_map_create(&map, 6, 3, idx, ROUTEMAT_INT64, ROUTEMAT_ALLOW_DROP));
  CHECK_OK(routemat_plan_create(&plan, map));
  int ran = 0;
  for (int isa = ROUTEMAT_ISA_SCALAR; isa <= ROUTEMAT_ISA_NEON; ++isa) {
    if (!routemat_isa_supported((routemat_isa)isa)) continue;
    CHECK_OK(routemat_select_isa((routemat_isa)isa));
    isa_name = routemat_isa_name((routemat_isa)isa);
    ++ran;
    for (int with_plan = 0; with_plan < 2; ++with_plan) {
      check_bags_f32(map, with_plan ? plan : NULL);
      check_top2_bf16(map, with_plan ? plan : NULL);
    }
  }
  CHECK(ran >= 2); /* scalar and at least one SIMD ISA */
  routemat_plan_destroy(plan);
  routemat_map_destroy(map);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
