// routemat_gather and routemat_scatter_add: every check before the first
// write, then one call into the active ISA's kernel.
#include <cstdint>

#include "routemat/routemat.h"
#include "src/dispatch.hpp"
#include "src/error.hpp"
#include "src/map.hpp"
#include "src/rows_check.hpp"

namespace routemat {
namespace {

enum class route { gather, scatter_add };

routemat_status run(route op, const routemat_map* map, const routemat_rows* src,
                    const routemat_rows* dst) {
  if (map == nullptr) return fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "map is NULL");
  const kernel_table* kernels = active_kernels();
  if (kernels == nullptr) return ROUTEMAT_ERROR_UNSUPPORTED_ISA;

  // gather reads n rows and writes m; scatter_add reads m rows and writes n.
  const bool gather = op == route::gather;
  checked_rows in{}, out{};
  routemat_status s = check_rows(src, "src", gather ? map->cols : map->rows,
                                 gather ? "its cols n" : "its rows m", &in);
  if (s != ROUTEMAT_OK) return s;
  s = check_rows(dst, "dst", gather ? map->rows : map->cols, gather ? "its rows m" : "its cols n",
                 &out);
  if (s != ROUTEMAT_OK) return s;
  if (in.view.type != out.view.type)
    return fail(ROUTEMAT_ERROR_SHAPE_MISMATCH, "src holds %s values but dst holds %s",
                in.view.type == ROUTEMAT_F32 ? "f32" : "f64",
                out.view.type == ROUTEMAT_F32 ? "f32" : "f64");
  if (in.view.width != out.view.width)
    return fail(ROUTEMAT_ERROR_SHAPE_MISMATCH, "src width %lld differs from dst width %lld",
                (long long)in.view.width, (long long)out.view.width);
  if (views_overlap(out, in)) return fail(ROUTEMAT_ERROR_ALIASING, "dst overlaps src");
  const std::size_t index_bytes =
      static_cast<std::size_t>(map->rows) * (map->index_type == ROUTEMAT_INT32 ? 4 : 8);
  if (views_overlap(out, byte_range(map->indices, index_bytes)))
    return fail(ROUTEMAT_ERROR_ALIASING, "dst overlaps the map's indices");
  if (map->rows == 0) return ROUTEMAT_OK;

  const route_args args{map->indices,   0,
                        map->rows,      in.view.data,
                        in.view.stride, in.view.rows,
                        out.view.data,  out.view.stride,
                        in.view.width};
  const auto& table = gather ? kernels->gather : kernels->scatter_add;
  table[in.view.type][map->index_type][map->dropped > 0 ? 1 : 0](args);
  return ROUTEMAT_OK;
}

}  // namespace
}  // namespace routemat

extern "C" routemat_status routemat_gather(const routemat_map* map, const routemat_rows* src,
                                           const routemat_rows* dst) {
  return routemat::run(routemat::route::gather, map, src, dst);
}

extern "C" routemat_status routemat_scatter_add(const routemat_map* map, const routemat_rows* src,
                                                const routemat_rows* dst) {
  return routemat::run(routemat::route::scatter_add, map, src, dst);
}
