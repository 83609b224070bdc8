"""Per-call cost of routemat from Python: 100k gathers with the README's 5 x 3 G.

    PYTHONPATH=<build>/python /usr/bin/python3 python/tools/call_overhead.py [--calls 100000]

Times, per call (best of 5 runs of --calls calls, d = 1, float32):
  ctypes only         the bare ctypes call of routemat_gather with prebuilt views
                      (the floor any ctypes binding pays)
  gather numpy        routemat.gather(map, U, out=Y), NumPy arrays
  gather torch        routemat.gather(map, U, out=Y), torch tensors
  gather torch alloc  routemat.gather(map, U), torch tensors (allocates Y)
  torch.index_select  torch.index_select(U, 0, idx, out=Y), for reference
  node module         routemat.autograd.NodeModule forward on a tensor without grad
"""

import argparse
import time

import numpy as np

import routemat
from routemat import _lib


def per_call(fn, calls, repeats=5):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / calls * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    routemat.set_num_threads(1)
    idx = np.array([0, 1, 2, 2, 2], dtype=np.int64)
    m = routemat.Map(idx, 3)
    U = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    Y = np.empty(5, dtype=np.float32)

    # The call as the package makes it: views packed into bytes (see _lib.ROWS).
    src_p = _lib.ROWS.pack(U.ctypes.data, 3, 1, 1, _lib.F32)
    dst_p = _lib.ROWS.pack(Y.ctypes.data, 5, 1, 1, _lib.F32)
    fn, handle = _lib.lib.routemat_gather, m._ptr
    assert fn(handle, src_p, dst_p) == 0 and Y.tolist() == [1, 2, 3, 3, 3]
    results = [("ctypes only", per_call(lambda: fn(handle, src_p, dst_p), args.calls)),
               ("gather numpy", per_call(lambda: routemat.gather(m, U, Y), args.calls))]
    assert Y.tolist() == [1, 2, 3, 3, 3]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        Ut, Yt, it = torch.from_numpy(U), torch.empty(5), torch.from_numpy(idx)
        node = routemat.NodeModule(idx, 3)
        results += [
            ("gather torch", per_call(lambda: routemat.gather(m, Ut, Yt), args.calls)),
            ("gather torch alloc", per_call(lambda: routemat.gather(m, Ut), args.calls)),
            ("torch.index_select", per_call(lambda: torch.index_select(Ut, 0, it, out=Yt),
                                            args.calls)),
            ("node module", per_call(lambda: node(Ut), args.calls)),
        ]
    print(f"routemat {routemat.library_path()} isa {routemat.active_isa()}, "
          f"{args.calls} calls, best of 5")
    for name, us in results:
        print(f"  {name:20s} {us:6.2f} us/call")


if __name__ == "__main__":
    main()
