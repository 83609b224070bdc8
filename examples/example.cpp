// Weight sharing with the C++ API: the 5x3 routing matrix
//   G = [[1,0,0],[0,1,0],[0,0,1],[0,0,1],[0,0,1]],  idx = [0,1,2,2,2]
// sends u = (u1,u2,u3) to w = G u = (u1,u2,u3,u3,u3). Its backward pass,
// dC/du = G^T dC/dw, accumulates: dC/du3 = dC/dw3 + dC/dw4 + dC/dw5.
#include <routemat/routemat.hpp>

#include <cstdint>
#include <cstdio>

int main() {
  try {
    const std::int32_t idx[5] = {0, 1, 2, 2, 2};
    const routemat::map g(5, 3, idx);  // validated once, here

    // Forward: w = G u (a gather; width d = 1).
    const float u[3] = {1, 2, 3};
    float w[5] = {};
    routemat::gather(g, routemat::rows_view<const float>(u, 3, 1),
                     routemat::rows_view<float>(w, 5, 1));

    // Backward: du += G^T dw (a scatter-add; du starts at zero).
    const float dw[5] = {1, 10, 100, 1000, 10000};
    float du[3] = {};
    routemat::scatter_add(g, routemat::rows_view<const float>(dw, 5, 1),
                          routemat::rows_view<float>(du, 3, 1));

    std::printf("isa %s\nw  = (%g, %g, %g, %g, %g)\ndu = (%g, %g, %g)\n",
                routemat::isa_name(routemat::active_isa()), w[0], w[1], w[2], w[3], w[4], du[0],
                du[1], du[2]);
    const float want_w[5] = {1, 2, 3, 3, 3}, want_du[3] = {1, 10, 11100};
    for (int i = 0; i < 5; ++i)
      if (w[i] != want_w[i]) return std::printf("w[%d] is wrong\n", i), 1;
    for (int j = 0; j < 3; ++j)
      if (du[j] != want_du[j]) return std::printf("du[%d] is wrong\n", j), 1;
    return 0;
  } catch (const routemat::error& e) {  // status in e.code(), message in e.what()
    std::fprintf(stderr, "routemat error %d: %s\n", static_cast<int>(e.code()), e.what());
    return 1;
  }
}
