"""routemat: SIMD gather/scatter-add kernels for routing matrices, from Python.

A routing matrix G (m x n, exactly one 1 per row) is an index map idx[m]:
``gather`` is ``Y = G U`` (``Y[i] = U[idx[i]]``), ``scatter_add`` is
``dU += G^T dY``; a ``Plan`` holds G^T as CSR for the deterministic plan
scatter-add and the sum module (``sum_forward``: ``V = G^T X``,
``sum_backward``: ``dX = G dV``).

``Bags`` group a map's routes into bags for ``bag_forward`` (``Y[b]`` = the
sum or mean of the bag's weighted rows ``w[r] * U[idx[r]]``: EmbeddingBag, MoE
top-k combine) and ``bag_backward`` (dU and the weights' gradient).

Arrays are NumPy arrays or PyTorch CPU tensors, float32, float64, float16 or
(torch only) bfloat16, 1-D (d = 1) or 2-D (rows x d) with contiguous rows
(any row stride >= d, e.g. a column slice ``x[:, 2:5]``), passed zero-copy;
indices are int32 or int64. 16-bit rows are summed in f32 and rounded when
stored (see routemat_value_type in routemat.h).
Outputs allocated by routemat are of the input's kind (NumPy in, NumPy out;
torch in, torch out). Bad inputs raise ``RoutematError`` (a ValueError; the
dtype and type errors are also TypeErrors) and nothing is written.

Autograd modules (``NodeModule``, ``SumModule``, ``node``, ``segment_sum``,
``BagModule``, ``bag``, ``embedding_bag``)
live in ``routemat.autograd``, which imports torch; ``import routemat`` does
not (they are also reachable as ``routemat.NodeModule`` etc., imported on
first use).

Implementation: ctypes over the C ABI (include/routemat/routemat.h) -- no
compiled extension, no Python or libtorch headers, any Python 3 and torch
version, and exactly the ABI C and C++ users link. The price is per-call
overhead: the ctypes call itself costs about 0.2-0.5 us (0.4 us measured), and
this package's checks of the arrays add about 2.5 us more. Measured on the
development VM (Xeon, avx512, Debian's /usr/bin/python3 3.11, torch 1.13), 100k
calls of the README's 5 x 3 gather, d = 1 (python/tools/call_overhead.py):

    bare ctypes call of routemat_gather              0.4 us
    routemat.gather(map, U, out), NumPy or torch     2.7-3.0 us
    routemat.gather(map, U), torch (allocates out)   4.8-5.9 us
    routemat.autograd.NodeModule forward             8-10 us
    torch.index_select(U, 0, idx, out=Y), reference  0.6 us

This is fixed per call, so it is noise once a call moves more than a few
thousand rows; for very many tiny calls, batch the rows into one call. The
kernels release the GIL (ctypes.CDLL).
"""

from ._core import (Bags, Map, Plan, active_isa, bag_backward, bag_forward, gather,
                    get_num_threads, get_plan_kernel, get_stream_threshold, isa_supported,
                    scatter_add, select_isa, set_num_threads, set_plan_kernel,
                    set_stream_threshold, sum_backward, sum_forward)
from ._lib import RoutematError, RoutematTypeError, library_path

__version__ = "0.1.0"

__all__ = ["Map", "Plan", "gather", "scatter_add", "sum_forward", "sum_backward",
           "Bags", "bag_forward", "bag_backward",
           "RoutematError", "RoutematTypeError", "set_num_threads", "get_num_threads",
           "active_isa", "isa_supported", "select_isa", "set_plan_kernel", "get_plan_kernel",
           "set_stream_threshold", "get_stream_threshold", "library_path"]

_AUTOGRAD_NAMES = ("NodeModule", "SumModule", "node", "segment_sum", "make_plan", "bag",
                   "BagModule", "embedding_bag")


def __getattr__(name):
    # routemat.autograd and its names, imported (with torch) only when asked for.
    if name == "autograd" or name in _AUTOGRAD_NAMES:
        import importlib
        autograd = importlib.import_module(".autograd", __name__)
        return autograd if name == "autograd" else getattr(autograd, name)
    raise AttributeError(f"module 'routemat' has no attribute {name!r}")
