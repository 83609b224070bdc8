#include "src/error.hpp"

#include <cstdarg>
#include <cstdio>

namespace routemat {
namespace {
thread_local char last_message[512] = "";
}

routemat_status fail(routemat_status status, const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::vsnprintf(last_message, sizeof last_message, format, args);
  va_end(args);
  return status;
}

}  // namespace routemat

extern "C" const char* routemat_last_error(void) { return routemat::last_message; }

extern "C" const char* routemat_status_name(routemat_status status) {
  switch (status) {
    case ROUTEMAT_OK: return "ok";
    case ROUTEMAT_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE: return "index out of range";
    case ROUTEMAT_ERROR_SHAPE_MISMATCH: return "shape mismatch";
    case ROUTEMAT_ERROR_OVERFLOW: return "size overflow";
    case ROUTEMAT_ERROR_ALIASING: return "output overlaps an input";
    case ROUTEMAT_ERROR_UNSUPPORTED_ISA: return "unsupported ISA";
    case ROUTEMAT_ERROR_OUT_OF_MEMORY: return "out of memory";
    default: return "unknown status";
  }
}
