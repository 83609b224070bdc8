// The C ABI's error channel: a status plus a thread-local message.
#ifndef ROUTEMAT_SRC_ERROR_HPP
#define ROUTEMAT_SRC_ERROR_HPP

#include "routemat/routemat.h"

namespace routemat {

// Records a printf-style message for this thread and returns status.
routemat_status fail(routemat_status status, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

}  // namespace routemat

#endif
