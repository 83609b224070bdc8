/* A program built against routemat *as installed*: only <routemat/routemat.h>
 * and the installed library (CMake: find_package(routemat); Makefile:
 * pkg-config routemat). It runs the README's weight-sharing map through the C
 * ABI: the 5x3 routing matrix G with idx = [0,1,2,2,2] sends u = (1,2,3) to
 * w = G u = (1,2,3,3,3), and du = G^T dw sums dw = (1,10,100,1000,10000) back
 * to (1,10,11100). Then an out-of-range index must be refused with a message.
 * Prints what it got; exits non-zero on any mismatch. */
#include <routemat/routemat.h>

#include <stdint.h>
#include <stdio.h>

static int check(routemat_status s, const char* what) {
  if (s != ROUTEMAT_OK)
    fprintf(stderr, "%s: %s: %s\n", what, routemat_status_name(s), routemat_last_error());
  return s == ROUTEMAT_OK;
}

int main(void) {
  routemat_isa isa;
  if (!check(routemat_active_isa(&isa), "active_isa")) return 1;
  printf("isa %s\n", routemat_isa_name(isa));

  const int32_t idx[5] = {0, 1, 2, 2, 2};
  routemat_map* g = NULL;
  if (!check(routemat_map_create(&g, 5, 3, idx, ROUTEMAT_INT32, 0), "map")) return 1;

  float u[3] = {1, 2, 3}, w[5] = {0};
  float dw[5] = {1, 10, 100, 1000, 10000}, du[3] = {0};
  /* {data, rows, width, stride, value type} */
  const routemat_rows uv = {u, 3, 1, 1, ROUTEMAT_F32}, wv = {w, 5, 1, 1, ROUTEMAT_F32};
  const routemat_rows dwv = {dw, 5, 1, 1, ROUTEMAT_F32}, duv = {du, 3, 1, 1, ROUTEMAT_F32};
  const int ok = check(routemat_gather(g, &uv, &wv), "gather") &&           /* w = G u */
                 check(routemat_scatter_add(g, &dwv, &duv), "scatter_add"); /* du += G^T dw */
  routemat_map_destroy(g);
  if (!ok) return 1;
  printf("w  = (%g, %g, %g, %g, %g)\ndu = (%g, %g, %g)\n", w[0], w[1], w[2], w[3], w[4], du[0],
         du[1], du[2]);

  int failures = 0;
  const float want_w[5] = {1, 2, 3, 3, 3}, want_du[3] = {1, 10, 11100};
  for (int i = 0; i < 5; ++i)
    if (w[i] != want_w[i]) {
      printf("w[%d] is %g, want %g\n", i, w[i], want_w[i]);
      ++failures;
    }
  for (int j = 0; j < 3; ++j)
    if (du[j] != want_du[j]) {
      printf("du[%d] is %g, want %g\n", j, du[j], want_du[j]);
      ++failures;
    }

  /* idx[3] = 3 is outside [0, 3): the map is refused, with a message, and none is made. */
  const int32_t bad[5] = {0, 1, 2, 3, 2};
  routemat_map* none = NULL;
  const routemat_status s = routemat_map_create(&none, 5, 3, bad, ROUTEMAT_INT32, 0);
  const char* msg = routemat_last_error();
  printf("bad index: %s: %s\n", routemat_status_name(s), msg ? msg : "(null)");
  if (s != ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE) {
    printf("bad index: want ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE\n");
    ++failures;
  }
  if (!msg || !msg[0]) {
    printf("bad index: routemat_last_error() is empty\n");
    ++failures;
  }
  if (none) {
    printf("bad index: a map was made\n");
    ++failures;
    routemat_map_destroy(none);
  }

  if (failures) {
    printf("FAILED: %d mismatches\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
