/* Branching with the C ABI: idx = [2,0,1,0,2,1] (G is 6x3) sends (a,b,c) to
 * (c,a,b,a,c,b); the transpose sums the six gradients (alpha..zeta) back to
 * (beta+delta, gamma+zeta, alpha+epsilon). */
#include <routemat/routemat.h>

#include <stdint.h>
#include <stdio.h>

static int check(routemat_status s, const char* what) {
  if (s != ROUTEMAT_OK)
    fprintf(stderr, "%s: %s: %s\n", what, routemat_status_name(s), routemat_last_error());
  return s == ROUTEMAT_OK;
}

int main(void) {
  const int64_t idx[6] = {2, 0, 1, 0, 2, 1};
  routemat_map* g = NULL;
  if (!check(routemat_map_create(&g, 6, 3, idx, ROUTEMAT_INT64, 0), "map")) return 1;

  double abc[3] = {1, 2, 3}; /* a, b, c */
  double y[6] = {0};
  double dy[6] = {1, 10, 100, 1000, 10000, 100000}; /* alpha .. zeta */
  double dabc[3] = {0};
  /* {data, rows, width, stride, value type} */
  const routemat_rows u = {abc, 3, 1, 1, ROUTEMAT_F64}, w = {y, 6, 1, 1, ROUTEMAT_F64};
  const routemat_rows dw = {dy, 6, 1, 1, ROUTEMAT_F64}, du = {dabc, 3, 1, 1, ROUTEMAT_F64};
  int ok = check(routemat_gather(g, &u, &w), "gather") &&           /* y = G (a,b,c) */
           check(routemat_scatter_add(g, &dw, &du), "scatter_add"); /* dabc += G^T dy */
  routemat_map_destroy(g);
  if (!ok) return 1;

  printf("y    = (%g, %g, %g, %g, %g, %g)\ndabc = (%g, %g, %g)\n", y[0], y[1], y[2], y[3], y[4],
         y[5], dabc[0], dabc[1], dabc[2]);
  const double want_y[6] = {3, 1, 2, 1, 3, 2}, want_dabc[3] = {1010, 100100, 10001};
  for (int i = 0; i < 6; ++i)
    if (y[i] != want_y[i]) return printf("y[%d] is wrong\n", i), 1;
  for (int j = 0; j < 3; ++j)
    if (dabc[j] != want_dabc[j]) return printf("dabc[%d] is wrong\n", j), 1;
  return 0;
}
