"""Finding and loading libroutemat, the C signatures, and the error type.

The library is looked up, in order:

1. the environment variable ``ROUTEMAT_LIBRARY`` (a path to the shared
   library), when set and not empty;
2. the path CMake recorded in the generated ``_paths.py``: the build tree's
   ``libroutemat.so`` for the package in the build tree, the installed library
   for the installed package (first relative to the package, then absolute);
3. only when there is no ``_paths.py`` (a source checkout), ``libroutemat`` on
   the system's library search path.
"""

import ctypes
import ctypes.util
import os
import struct

__all__ = ["RoutematError", "RoutematTypeError", "library_path"]

OK = 0
STATUS_NAMES = {
    0: "ROUTEMAT_OK",
    1: "ROUTEMAT_ERROR_INVALID_ARGUMENT",
    2: "ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE",
    3: "ROUTEMAT_ERROR_SHAPE_MISMATCH",
    4: "ROUTEMAT_ERROR_OVERFLOW",
    5: "ROUTEMAT_ERROR_ALIASING",
    6: "ROUTEMAT_ERROR_UNSUPPORTED_ISA",
    7: "ROUTEMAT_ERROR_OUT_OF_MEMORY",
}
STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}

INT32, INT64 = 0, 1  # routemat_index_type
F32, F64, BF16, F16 = 0, 1, 2, 3  # routemat_value_type
REDUCE_SUM, REDUCE_MEAN = 0, 1  # routemat_reduce
ACCUMULATE, OVERWRITE = 0, 1  # routemat_write
ALLOW_DROP = 1  # ROUTEMAT_ALLOW_DROP
ISA_NAMES = ("scalar", "sse4_2", "avx2", "avx512", "neon")  # routemat_isa, in order
PLAN_KERNELS = ("auto", "pull", "push")  # routemat_plan_kernel, in order


class RoutematError(ValueError):
    """An input routemat refuses; nothing was written.

    ``status`` is the name of the C status (``"ROUTEMAT_ERROR_SHAPE_MISMATCH"``,
    ...), ``code`` its value, and ``message`` the library's own message
    (``routemat_last_error()``) or, for a check made in Python before the call,
    the same text as ``str(error)`` without the operation's prefix.
    """

    def __init__(self, text, status="ROUTEMAT_ERROR_INVALID_ARGUMENT", message=None):
        super().__init__(text)
        self.status = status
        self.code = STATUS_CODES.get(status, -1)
        self.message = text if message is None else message


class RoutematTypeError(RoutematError, TypeError):
    """A RoutematError for an argument of the wrong type or dtype.

    Also a TypeError, so ``except TypeError`` catches it too.
    """


class Rows(ctypes.Structure):
    """routemat_rows: a strided block of rows (C enums are int32-sized)."""

    _fields_ = [
        ("data", ctypes.c_void_p),
        ("rows", ctypes.c_int64),
        ("width", ctypes.c_int64),
        ("stride", ctypes.c_int64),
        ("type", ctypes.c_int32),
    ]


# The operations take their routemat_rows packed into bytes by ROWS.pack (about a
# third of the cost of building a Rows structure); the C side only reads them.
ROWS = struct.Struct("@Pqqqi4x")
if ROWS.size != ctypes.sizeof(Rows) or Rows.type.offset != 32:
    raise ImportError("routemat: routemat_rows does not have the expected layout here")


class PlanFacts(ctypes.Structure):
    """routemat_plan_facts."""

    _fields_ = [
        ("rows", ctypes.c_int64),
        ("cols", ctypes.c_int64),
        ("dropped_rows", ctypes.c_int64),
        ("max_fan_in", ctypes.c_int64),
        ("empty_cols", ctypes.c_int64),
        ("bytes", ctypes.c_int64),
        ("identity", ctypes.c_int32),
        ("permutation", ctypes.c_int32),
        ("sorted", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
    ]


def _candidates():
    """(path, where it came from) pairs to try, in order."""
    env = os.environ.get("ROUTEMAT_LIBRARY", "")
    if env:
        return [(env, "the environment variable ROUTEMAT_LIBRARY")], True
    try:
        from . import _paths
    except ImportError:
        found = ctypes.util.find_library("routemat")
        return ([(found, "the system's library path")] if found else []), False
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    if _paths.LIBRARY_RELATIVE:
        out.append((os.path.normpath(os.path.join(here, _paths.LIBRARY_RELATIVE)),
                    "the path CMake recorded (relative to the package)"))
    if _paths.LIBRARY:
        out.append((_paths.LIBRARY, "the path CMake recorded"))
    return out, True


def _load():
    candidates, recorded = _candidates()
    tried = []
    for path, source in candidates:
        if not os.path.exists(path) and os.sep in path:
            tried.append(f"{path} ({source}): no such file")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({source}): {e}")
    if not recorded and not candidates:
        what = ("this package has no _paths.py (it is not the copy CMake builds or installs) "
                "and libroutemat is not on the system's library path")
    else:
        what = "tried " + "; ".join(tried)
    raise ImportError(f"routemat: cannot load libroutemat: {what}. Use the package in "
                      "<build>/python or the installed one, or set ROUTEMAT_LIBRARY to the "
                      "path of libroutemat.so")


lib, _path = _load()


def library_path():
    """The path libroutemat was loaded from."""
    return _path


_vp, _i32, _i64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
_rows_p = _vp  # a routemat_rows packed by ROWS (bytes), or ctypes.byref(Rows(...))
_SIGNATURES = {
    "routemat_map_create": (_i32, [ctypes.POINTER(_vp), _i64, _i64, _vp, _i32, ctypes.c_uint32]),
    "routemat_map_destroy": (None, [_vp]),
    "routemat_map_rows": (_i64, [_vp]),
    "routemat_map_cols": (_i64, [_vp]),
    "routemat_map_dropped_rows": (_i64, [_vp]),
    "routemat_gather": (_i32, [_vp, _rows_p, _rows_p]),
    "routemat_scatter_add": (_i32, [_vp, _rows_p, _rows_p]),
    "routemat_plan_create": (_i32, [ctypes.POINTER(_vp), _vp]),
    "routemat_plan_destroy": (None, [_vp]),
    "routemat_plan_get_facts": (_i32, [_vp, ctypes.POINTER(PlanFacts)]),
    "routemat_plan_map": (_vp, [_vp]),
    "routemat_plan_scatter_add": (_i32, [_vp, _rows_p, _rows_p, _i32]),
    "routemat_sum_forward": (_i32, [_vp, _rows_p, _rows_p]),
    "routemat_sum_backward": (_i32, [_vp, _rows_p, _rows_p]),
    "routemat_bags_create": (_i32, [ctypes.POINTER(_vp), _vp, _i64, _vp, _i32]),
    "routemat_bags_create_fixed": (_i32, [ctypes.POINTER(_vp), _vp, _i64]),
    "routemat_bags_destroy": (None, [_vp]),
    "routemat_bags_count": (_i64, [_vp]),
    "routemat_bag_forward": (_i32, [_vp, _rows_p, _vp, _i64, _i32, _rows_p]),
    "routemat_bag_backward": (_i32, [_vp, _vp, _rows_p, _rows_p, _vp, _i64, _i32, _rows_p, _vp,
                                     _i64]),
    "routemat_set_plan_kernel": (_i32, [_i32]),
    "routemat_get_plan_kernel": (_i32, []),
    "routemat_set_num_threads": (_i32, [_i32]),
    "routemat_get_num_threads": (_i32, []),
    "routemat_set_stream_threshold": (_i32, [_i64]),
    "routemat_get_stream_threshold": (_i64, []),
    "routemat_last_error": (ctypes.c_char_p, []),
    "routemat_status_name": (ctypes.c_char_p, [_i32]),
    "routemat_active_isa": (_i32, [ctypes.POINTER(_i32)]),
    "routemat_select_isa": (_i32, [_i32]),
    "routemat_isa_supported": (ctypes.c_int, [_i32]),
    "routemat_isa_name": (ctypes.c_char_p, [_i32]),
}
for _name, (_restype, _argtypes) in _SIGNATURES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes
del _name, _restype, _argtypes, _fn


def fail(status, context):
    """Raise the RoutematError for a failed call's status (on this thread)."""
    message = (lib.routemat_last_error() or b"").decode("utf-8", "replace")
    name = STATUS_NAMES.get(status, f"status {status}")
    raise RoutematError(f"{context}: {message} [{name}]", name, message)


def check(status, context):
    if status != OK:
        fail(status, context)
