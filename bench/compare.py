#!/usr/bin/env python3
"""Compare routemat's gather and scatter-add with PyTorch and NumPy.

Runs in one process: routemat is called through its C ABI with ctypes, and
every contender works zero-copy on the same NumPy buffers (torch tensors are
torch.from_numpy views of them; routemat gets their data pointers).

Contenders
  gather       Y = U[idx]
    routemat_gather                  (map built once, outside the timing)
    torch.index_select(U, 0, idx, out=Y)
    torch.embedding(U, idx)          allocates its output on every call
    U[idx] (torch)                   allocates its output on every call
    torch.nn.functional.embedding_bag(idx, U, arange(m), mode='sum')
                                     one-row bags, so the sum is the gather;
                                     allocates its output on every call
    numpy.take(U, idx, axis=0, out=Y)              (mode='raise', the default)
    numpy.take(U, idx, axis=0, out=Y, mode='clip') (no bounds check)
  scatter-add  dU[idx[i]] += dY[i]   (every contender accumulates into dU;
                                      nothing is re-zeroed inside the timing)
    routemat_scatter_add             (no plan)
    routemat_plan_scatter_add        (plan built once, outside the timing;
                                      ROUTEMAT_ACCUMULATE)
    dU.index_add_(0, idx, dY)        (torch)
    dU.scatter_add_(0, idx_e, dY)    (torch; idx_e = idx expanded to dY's
                                      shape with Tensor.expand, outside the
                                      timing)
    numpy.add.at(dU, idx, dY)        only when a probe on 1/64 of the rows
                                      predicts a call under --slow-limit
    numpy.bincount(idx, dY, n)       d = 1 only; returns a new float64 array
                                      instead of accumulating into dU
  Every array starts on a 64-byte boundary, as PyTorch's allocator places
  tensors (NumPy alone promises 16 bytes). Index distributions: uniform, Zipf
  (s = 1.1, hottest destinations first), sorted (idx[i] = i * n // m) and a
  permutation of every destination m / n times.
  For d = 1 the peers get 1-D views (n,) and (m,), their fastest layout
  (torch.embedding keeps (n, 1): it needs a 2-D weight). A contender that
  refuses an index type (e.g. scatter_add_ wants int64) is listed as
  unsupported for that row, not given a converted index.

Timing
  Per workload and op: two warm-up calls per contender, which also fix how
  many calls one sample makes (enough for --min-sample seconds, 1 for the
  large shapes), then R rounds (7; 5 with --quick); each round runs every
  contender for one sample, the starting contender rotating round by round.
  The reported time is the median per-call time over the rounds. Torch and
  routemat both run with --threads threads (torch.set_num_threads,
  routemat_set_num_threads); NumPy's kernels here are single-threaded.

What is counted (bench/bench_routes.cpp's convention: compulsory traffic in
useful bytes, the same count for every contender of a row, so GB/s ratios are
time ratios)
  gather       m * sizeof(index) + 2 * m * d * 4
               (indices, the rows read from U, the rows written to Y)
  scatter-add  m * sizeof(index) + 3 * m * d * 4
               (indices, the rows read from dY, a read and a write of dU per
               routed row)
  bench_routes.cpp counts plan_scatter_add's index term as the plan's CSR,
  (m + n + 1) * 4 bytes, instead; that count is stored in the JSON as
  bytes_plan_csr but not used for the table.
  copy ceiling numpy.copyto of a 512 MiB float32 buffer, bytes = 2 * 512 MiB.
GB/s is 1e9 bytes per second.

Checks (outside the timing): gather output equal to torch.index_select's bit
for bit; scatter-add into a zeroed dU within 1e-4 relative (max-norm) of
torch's index_add_, for both routemat variants; and the plan result equal to
the plan-less one bit for bit, as the header promises (a mismatch there is
reported, not raised).

ML-runtime rows: bf16 embedding rows, EmbeddingBag sum and the weighted
top-2 MoE combine against their PyTorch equivalents (bench/compare_ml.py says
what each row runs, counts and checks); they follow the rows above in the
same run, table and chart.

C++ baselines: when --suite-json names routemat_bench's JSON output (default
out/bench.json, which scripts/bench.sh writes first), its plain-loop, Eigen
and dense rows for the same workload join the table (last column, next to
routemat's own rate in that suite) and the chart (hatched bars). They were timed in that other process, so they
are shown, not used for the ratio.

Usage
  /usr/bin/python3 bench/compare.py [--lib build/libroutemat.so]
      [--json out/compare.json] [--png out/compare.png] [--threads 1]
      [--suite-json out/bench.json] [--quick]
"""

import argparse
import ctypes
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

import compare_ml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALUE_BYTES = 4  # f32
COPY_CEILING_BYTES = 512 << 20
GATHER_TARGET = 1.5  # routemat / best peer below this is reported
SCATTER_TARGET = 3.0


# ---------------------------------------------------------------------------
# routemat through its C ABI
# ---------------------------------------------------------------------------

ROUTEMAT_OK = 0
ROUTEMAT_INT32 = 0
ROUTEMAT_INT64 = 1
ROUTEMAT_F32 = 0
ROUTEMAT_ACCUMULATE = 0


class RoutematError(RuntimeError):
    pass


class Rows(ctypes.Structure):
    """routemat_rows: a strided block of rows (enums are int32-sized)."""
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("rows", ctypes.c_int64),
        ("width", ctypes.c_int64),
        ("stride", ctypes.c_int64),
        ("type", ctypes.c_int32),
    ]


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


class Routemat:
    """The few entry points of libroutemat this script uses, status-checked."""

    def __init__(self, path: str):
        self.lib = lib = ctypes.CDLL(path)
        vp, i32, i64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
        rows_p = ctypes.POINTER(Rows)
        signatures = {
            "routemat_map_create": (i32, [ctypes.POINTER(vp), i64, i64, vp, i32,
                                          ctypes.c_uint32]),
            "routemat_map_destroy": (None, [vp]),
            "routemat_gather": (i32, [vp, rows_p, rows_p]),
            "routemat_scatter_add": (i32, [vp, rows_p, rows_p]),
            "routemat_plan_create": (i32, [ctypes.POINTER(vp), vp]),
            "routemat_plan_destroy": (None, [vp]),
            "routemat_plan_get_facts": (i32, [vp, ctypes.POINTER(PlanFacts)]),
            "routemat_plan_scatter_add": (i32, [vp, rows_p, rows_p, i32]),
            "routemat_map_rows": (i64, [vp]),
            "routemat_set_num_threads": (i32, [i32]),
            "routemat_get_num_threads": (i32, []),
            "routemat_active_isa": (i32, [ctypes.POINTER(i32)]),
            "routemat_isa_name": (ctypes.c_char_p, [i32]),
            "routemat_last_error": (ctypes.c_char_p, []),
            "routemat_status_name": (ctypes.c_char_p, [i32]),
        }
        for name, (restype, argtypes) in signatures.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        compare_ml.declare(lib)

    def fail(self, status: int, what: str):
        name = self.lib.routemat_status_name(status) or b"?"
        message = self.lib.routemat_last_error() or b""
        raise RoutematError(f"{what}: {name.decode()} ({status}): {message.decode()}")

    def check(self, status: int, what: str):
        if status != ROUTEMAT_OK:
            self.fail(status, what)

    def set_num_threads(self, threads: int):
        self.check(self.lib.routemat_set_num_threads(threads), "routemat_set_num_threads")

    def active_isa(self) -> str:
        isa = ctypes.c_int32()
        self.check(self.lib.routemat_active_isa(ctypes.byref(isa)), "routemat_active_isa")
        name = self.lib.routemat_isa_name(isa.value)
        return name.decode() if name else str(isa.value)

    def map_create(self, idx: np.ndarray, cols: int) -> ctypes.c_void_p:
        """A map over idx (which must outlive it: the caller keeps it)."""
        assert idx.ndim == 1 and idx.flags.c_contiguous
        index_type = {np.dtype(np.int32): ROUTEMAT_INT32,
                      np.dtype(np.int64): ROUTEMAT_INT64}[idx.dtype]
        handle = ctypes.c_void_p()
        self.check(self.lib.routemat_map_create(ctypes.byref(handle), idx.shape[0], cols,
                                                idx.ctypes.data, index_type, 0),
                   "routemat_map_create")
        return handle

    def plan_create(self, map_handle) -> ctypes.c_void_p:
        handle = ctypes.c_void_p()
        self.check(self.lib.routemat_plan_create(ctypes.byref(handle), map_handle),
                   "routemat_plan_create")
        return handle

    def plan_facts(self, plan_handle) -> Dict[str, int]:
        facts = PlanFacts()
        self.check(self.lib.routemat_plan_get_facts(plan_handle, ctypes.byref(facts)),
                   "routemat_plan_get_facts")
        return {name: getattr(facts, name) for name, _ in PlanFacts._fields_
                if name != "reserved"}


def rows_of(array: np.ndarray) -> Rows:
    """A routemat_rows view of a C-contiguous 2-D float32 array (zero-copy)."""
    assert array.ndim == 2 and array.dtype == np.float32 and array.flags.c_contiguous
    rows, width = array.shape
    return Rows(array.ctypes.data, rows, width, width, ROUTEMAT_F32)


# ---------------------------------------------------------------------------
# Workloads and inputs
# ---------------------------------------------------------------------------

@dataclass
class Workload:
    key: str
    label: str
    n: int  # rows of U / dU (columns of G)
    m: int  # rows of Y / dY (rows of G)
    d: int
    index_types: List[str]
    zipf: float = 0.0
    fixed_idx: Optional[List[int]] = None
    dist: str = "uniform"  # uniform | zipf | sorted | permutation


def workloads(quick: bool) -> List[Workload]:
    both = ["int32", "int64"]
    full = [
        Workload("vec_dram", "vector d=1 DRAM", 1 << 20, 4 << 20, 1, both),
        Workload("vec_cache", "vector d=1 cached", 64 << 10, 4 << 20, 1, both),
        Workload("embedding", "embedding d=64", 1 << 20, 64 << 10, 64, both),
        Workload("graph", "graph d=16", 100_000, 1_000_000, 16, both),
        Workload("moe", "MoE d=1024", 8 << 10, 16 << 10, 1024, both),
        Workload("narrow", "narrow d=4", 1 << 20, 256 << 10, 4, both),
        Workload("tiny5x3", "5x3 sharing d=1", 3, 5, 1, both, fixed_idx=[0, 1, 2, 2, 2]),
        Workload("graph_zipf", "graph zipf1.1 d=16", 100_000, 1_000_000, 16, both, zipf=1.1,
                 dist="zipf"),
        Workload("graph_sorted", "graph sorted d=16", 100_000, 1_000_000, 16, both,
                 dist="sorted"),
        Workload("graph_perm", "graph permutation d=16", 100_000, 1_000_000, 16, both,
                 dist="permutation"),
    ]
    if not quick:
        return full
    keep = {"vec_cache": ["int32"], "graph": both, "graph_zipf": ["int32"],
            "moe": ["int32"], "tiny5x3": ["int32"]}
    out = []
    for w in full:
        if w.key in keep:
            w.index_types = keep[w.key]
            out.append(w)
    return out


def aligned_empty(shape, dtype, align: int = 64) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on a 64-byte
    boundary, as PyTorch's CPU allocator places tensors (NumPy only promises
    16 bytes, and a 64-byte row straddling two cache lines slows every peer)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(count * dtype.itemsize + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)


def aligned_copy(a: np.ndarray) -> np.ndarray:
    out = aligned_empty(a.shape, a.dtype)
    out[...] = a
    return out


def aligned_zeros(shape, dtype=np.float32) -> np.ndarray:
    out = aligned_empty(shape, dtype)
    out[...] = 0
    return out


def make_indices(w: Workload, dtype: str, seed: int) -> np.ndarray:
    """Uniform in [0, n); Zipf(s) with the hottest destinations first; sorted
    (idx[i] = i * n // m); or a permutation of every destination m / n times."""
    if w.fixed_idx is not None:
        return aligned_copy(np.array(w.fixed_idx, dtype=dtype))
    rng = np.random.default_rng(seed)
    if w.dist == "zipf":
        weights = np.arange(1, w.n + 1, dtype=np.float64) ** -w.zipf
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        idx = np.searchsorted(cdf, rng.random(w.m), side="right")
        return aligned_copy(np.minimum(idx, w.n - 1).astype(dtype))
    if w.dist == "sorted":
        return aligned_copy((np.arange(w.m, dtype=np.int64) * w.n // w.m).astype(dtype))
    if w.dist == "permutation":
        return aligned_copy(rng.permutation(np.arange(w.m, dtype=np.int64) % w.n).astype(dtype))
    return aligned_copy(rng.integers(0, w.n, size=w.m, dtype=dtype))


def uniform_indices(n: int, m: int, dtype: str, seed: int) -> np.ndarray:
    return make_indices(Workload("uniform", "uniform", n, m, 1, [dtype]), dtype, seed)


def random_values(shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = aligned_empty(shape, np.float32)
    rng.random(shape, dtype=np.float32, out=values)
    values *= 2
    values -= 1
    return values


def compulsory_bytes(op: str, m: int, d: int, index_bytes: int) -> int:
    rows_terms = 2 if op == "gather" else 3
    return m * index_bytes + rows_terms * m * d * VALUE_BYTES


# ---------------------------------------------------------------------------
# Contenders
# ---------------------------------------------------------------------------

@dataclass
class Contender:
    name: str
    call: Callable[[], object]
    routemat: bool = False
    probe: Optional[Callable[[], float]] = None  # predicted seconds per call
    status: str = "ok"  # ok | unsupported | skipped
    note: str = ""
    samples: List[float] = field(default_factory=list)
    reps: int = 1


def peer_views(a: np.ndarray, d: int):
    """The 1-D view of an (r, 1) array for d = 1 peers, else the array."""
    return a.reshape(-1) if d == 1 else a


def gather_contenders(rm: Routemat, map_handle, U: np.ndarray, Y: np.ndarray,
                      idx: np.ndarray, d: int) -> List[Contender]:
    src, dst = rows_of(U), rows_of(Y)
    src_ref, dst_ref = ctypes.byref(src), ctypes.byref(dst)  # byref keeps src, dst alive
    gather = rm.lib.routemat_gather

    def routemat_gather():
        status = gather(map_handle, src_ref, dst_ref)
        if status:
            rm.fail(status, "routemat_gather")

    Up, Yp = peer_views(U, d), peer_views(Y, d)
    Ut, Yt, It = torch.from_numpy(Up), torch.from_numpy(Yp), torch.from_numpy(idx)
    Ut2 = torch.from_numpy(U)
    # One-row bags: embedding_bag's sum is then the gather.
    bag_offsets = torch.arange(idx.shape[0], dtype=It.dtype)
    return [
        Contender("routemat_gather", routemat_gather, routemat=True),
        Contender("torch.index_select(out=)", lambda: torch.index_select(Ut, 0, It, out=Yt)),
        Contender("torch.embedding", lambda: torch.embedding(Ut2, It)),
        Contender("torch U[idx]", lambda: Ut[It]),
        Contender("torch.embedding_bag(sum)",
                  lambda: torch.nn.functional.embedding_bag(It, Ut2, bag_offsets, mode="sum")),
        Contender("numpy.take(out=)", lambda: np.take(Up, idx, axis=0, out=Yp)),
        Contender("numpy.take(out=,clip)",
                  lambda: np.take(Up, idx, axis=0, out=Yp, mode="clip")),
    ]


def scatter_contenders(rm: Routemat, map_handle, plan_handle, dY: np.ndarray,
                       dU: np.ndarray, idx: np.ndarray, n: int, d: int) -> List[Contender]:
    src, dst = rows_of(dY), rows_of(dU)
    src_ref, dst_ref = ctypes.byref(src), ctypes.byref(dst)  # byref keeps src, dst alive
    scatter, plan_scatter = rm.lib.routemat_scatter_add, rm.lib.routemat_plan_scatter_add

    def routemat_scatter_add():
        status = scatter(map_handle, src_ref, dst_ref)
        if status:
            rm.fail(status, "routemat_scatter_add")

    def routemat_plan_scatter_add():
        status = plan_scatter(plan_handle, src_ref, dst_ref, ROUTEMAT_ACCUMULATE)
        if status:
            rm.fail(status, "routemat_plan_scatter_add")

    dYp, dUp = peer_views(dY, d), peer_views(dU, d)
    dYt, dUt, It = torch.from_numpy(dYp), torch.from_numpy(dUp), torch.from_numpy(idx)
    It_expanded = It if d == 1 else It.view(-1, 1).expand(-1, d)

    m = idx.shape[0]
    probe_rows = max(1, m // 64)

    def add_at_probe() -> float:
        t0 = time.perf_counter()
        np.add.at(dUp, idx[:probe_rows], dYp[:probe_rows])
        return (time.perf_counter() - t0) * m / probe_rows

    contenders = [
        Contender("routemat_scatter_add", routemat_scatter_add, routemat=True),
        Contender("routemat_plan_scatter_add", routemat_plan_scatter_add, routemat=True),
        Contender("torch.index_add_", lambda: dUt.index_add_(0, It, dYt)),
        Contender("torch.scatter_add_", lambda: dUt.scatter_add_(0, It_expanded, dYt)),
        Contender("numpy.add.at", lambda: np.add.at(dUp, idx, dYp), probe=add_at_probe),
    ]
    if d == 1:
        contenders.append(Contender(
            "numpy.bincount", lambda: np.bincount(idx, weights=dYp, minlength=n)))
    return contenders


# ---------------------------------------------------------------------------
# Checks (outside the timing)
# ---------------------------------------------------------------------------

def check_gather(contenders: List[Contender], U, idx, Y, d) -> Dict[str, object]:
    contenders[0].call()  # routemat into Y
    want = torch.index_select(torch.from_numpy(peer_views(U, d)), 0,
                              torch.from_numpy(idx.astype(np.int64))).numpy()
    equal = bool(np.array_equal(peer_views(Y, d), want))
    if not equal:
        bad = np.flatnonzero(np.any(Y.reshape(len(idx), -1) != want.reshape(len(idx), -1),
                                    axis=1))
        raise AssertionError(f"routemat_gather differs from torch.index_select in "
                             f"{bad.size} rows, first {bad[:5].tolist()}")
    return {"gather_equal_to_torch": equal}


def check_scatter(contenders: List[Contender], dY, dU, idx, d) -> Dict[str, object]:
    by_name = {c.name: c for c in contenders}
    want = torch.zeros(dU.shape[0], d, dtype=torch.float32)
    want.index_add_(0, torch.from_numpy(idx.astype(np.int64)), torch.from_numpy(dY))
    want = want.numpy()
    scale = max(float(np.abs(want).max()), np.finfo(np.float32).tiny)
    result, outputs = {}, {}
    for name in ("routemat_scatter_add", "routemat_plan_scatter_add"):
        dU[...] = 0
        by_name[name].call()
        outputs[name] = dU.copy()
        rel = float(np.abs(outputs[name] - want).max()) / scale
        result[f"{name}_max_rel_err_vs_torch"] = rel
        if not rel <= 1e-4:
            raise AssertionError(f"{name} differs from torch.index_add_: max relative "
                                 f"error {rel:.3g} > 1e-4")
    same = bool(np.array_equal(outputs["routemat_scatter_add"],
                               outputs["routemat_plan_scatter_add"]))
    result["plan_bitwise_equal_to_no_plan"] = same
    dU[...] = 0
    return result


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------

def warm_up(c: Contender, min_sample: float, slow_limit: float):
    """Two untimed calls; fixes c.reps; marks refused or too slow contenders."""
    try:
        if c.probe is not None:
            predicted = c.probe()
            if predicted > slow_limit:
                c.status = "skipped"
                c.note = f"predicted {predicted:.2f} s per call > {slow_limit:g} s"
                return
        c.call()
        t0 = time.perf_counter()
        c.call()
        elapsed = time.perf_counter() - t0
    except (RuntimeError, TypeError, IndexError, ValueError) as error:
        if c.routemat:
            raise
        c.status = "unsupported"
        c.note = str(error).splitlines()[0][:160]
        return
    if elapsed > slow_limit and not c.routemat:
        c.status = "skipped"
        c.note = f"{elapsed:.2f} s per call > {slow_limit:g} s"
        return
    c.reps = 1 if elapsed >= min_sample else min(
        100_000, math.ceil(min_sample / max(elapsed, 1e-7)))


def run_rounds(contenders: List[Contender], rounds: int):
    """Round-robin: every round runs each live contender once (one sample)."""
    live = [c for c in contenders if c.status == "ok"]
    clock = time.perf_counter
    for r in range(rounds):
        shift = r % len(live)
        for c in live[shift:] + live[:shift]:
            call, reps = c.call, c.reps
            t0 = clock()
            for _ in range(reps):
                call()
            c.samples.append((clock() - t0) / reps)


def measure_copy_ceiling(rounds: int) -> Dict[str, float]:
    count = COPY_CEILING_BYTES // 4
    src = aligned_empty(count, np.float32)
    src[...] = 1
    dst = aligned_zeros(count)
    np.copyto(dst, src)
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        samples.append(time.perf_counter() - t0)
    median = statistics.median(samples)
    return {"bytes": 2 * COPY_CEILING_BYTES, "median_s": median,
            "samples_s": samples, "gbps": 2 * COPY_CEILING_BYTES / median / 1e9}


def measure_ctypes_floor(rm: Routemat, rounds: int, calls: int = 20_000) -> float:
    """Seconds per ctypes call of a trivial routemat function (routemat_map_rows):
    the share of a tiny call's time that is Python + ctypes, not routemat."""
    idx = np.zeros(1, dtype=np.int32)
    handle = rm.map_create(idx, 1)
    map_rows = rm.lib.routemat_map_rows
    samples = []
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(calls):
                map_rows(handle)
            samples.append((time.perf_counter() - t0) / calls)
    finally:
        rm.lib.routemat_map_destroy(handle)
    return statistics.median(samples)


# ---------------------------------------------------------------------------
# One workload x op x index type
# ---------------------------------------------------------------------------

def run_job(rm: Routemat, w: Workload, op: str, index_type: str, args) -> Dict[str, object]:
    seed = sum(map(ord, w.key)) * 1000  # the same indices for int32 and int64
    idx = make_indices(w, index_type, seed)
    map_handle = rm.map_create(idx, w.n)
    plan_handle = None
    job = {"workload": w.key, "label": w.label, "op": op, "index_type": index_type,
           "n": w.n, "m": w.m, "d": w.d, "zipf": w.zipf, "dist": w.dist,
           "bytes": compulsory_bytes(op, w.m, w.d, idx.itemsize)}
    try:
        if op == "gather":
            U = random_values((w.n, w.d), seed + 1)
            Y = aligned_zeros((w.m, w.d))
            contenders = gather_contenders(rm, map_handle, U, Y, idx, w.d)
            job["checks"] = check_gather(contenders, U, idx, Y, w.d)
        else:
            plan_handle = rm.plan_create(map_handle)
            facts = rm.plan_facts(plan_handle)
            job["plan_facts"] = facts
            job["bytes_plan_csr"] = (job["bytes"] - w.m * idx.itemsize
                                     + (w.m - facts["dropped_rows"] + w.n + 1) * 4)
            dY = random_values((w.m, w.d), seed + 2)
            dU = aligned_zeros((w.n, w.d))
            contenders = scatter_contenders(rm, map_handle, plan_handle, dY, dU, idx,
                                            w.n, w.d)
            job["checks"] = check_scatter(contenders, dY, dU, idx, w.d)
        for c in contenders:
            warm_up(c, args.min_sample, args.slow_limit)
        run_rounds(contenders, args.rounds)
    finally:
        if plan_handle is not None:
            rm.lib.routemat_plan_destroy(plan_handle)
        rm.lib.routemat_map_destroy(map_handle)
    return finish_job(job, contenders)


def run_ml_job(rm: Routemat, w, index_type: str, args) -> Dict[str, object]:
    return compare_ml.run_ml_job(rm, w, index_type, args, Contender, Rows, uniform_indices,
                                 warm_up, run_rounds, finish_job)


def finish_job(job: Dict[str, object], contenders: List[Contender]) -> Dict[str, object]:
    """The contenders' medians and GB/s into the job, and its summary."""
    job["contenders"] = {}
    for c in contenders:
        entry = {"status": c.status, "routemat": c.routemat}
        if c.note:
            entry["note"] = c.note
        if c.samples:
            median = statistics.median(c.samples)
            entry.update(median_s=median, samples_s=c.samples, reps=c.reps,
                         gbps=job["bytes"] / median / 1e9)
        job["contenders"][c.name] = entry
    summarize_job(job)
    return job


def summarize_job(job: Dict[str, object]):
    """Names the fastest routemat variant and the fastest peer, and their ratio."""
    timed = {k: v for k, v in job["contenders"].items() if "median_s" in v}
    ours = {k: v for k, v in timed.items() if v["routemat"]}
    peers = {k: v for k, v in timed.items() if not v["routemat"] and not v.get("suite")}
    best_ours = min(ours, key=lambda k: ours[k]["median_s"])
    job["best_routemat"] = best_ours
    job["best_peer"] = min(peers, key=lambda k: peers[k]["median_s"]) if peers else None
    job["ratio"] = (peers[job["best_peer"]]["median_s"] / ours[best_ours]["median_s"]
                    if peers else None)
    target = job.get("target_ratio") or (GATHER_TARGET if job["op"] == "gather"
                                         else SCATTER_TARGET)
    job["target_ratio"] = target
    job["below_target"] = job["ratio"] is not None and job["ratio"] < target


# ---------------------------------------------------------------------------
# The C++ suite's baselines (routemat_bench --benchmark_out=out/bench.json)
# ---------------------------------------------------------------------------

SUITE_BASELINES = {
    "plain_loop_gather": ("gather", "plain loop (C++)"),
    "eigen_gather": ("gather", "Eigen SparseMatrix (C++)"),
    "dense_gather": ("gather", "dense G U (C++)"),
    "plain_loop_scatter_add": ("scatter-add", "plain loop (C++)"),
    "eigen_scatter_add": ("scatter-add", "Eigen SparseMatrix (C++)"),
    "dense_scatter_add": ("scatter-add", "dense G^T dY (C++)"),
}


SUITE_ROUTEMAT = {
    "gather": ("gather", "routemat (C++)"),
    "scatter_add": ("scatter-add", "routemat (C++)"),
    "plan_scatter_add": ("scatter-add", "routemat plan (C++)"),
}
ISA_NAMES = {"scalar", "sse4_2", "avx2", "avx512", "neon"}


def load_suite_baselines(path: str, isa: str) -> Dict[tuple, Dict[str, Dict[str, float]]]:
    """The plain-loop, Eigen and dense rows of a Google Benchmark JSON file,
    keyed by (op, index type, d, n, m, distribution). Their GB/s count the
    same compulsory bytes as this script (bench/bench_routes.cpp's header)."""
    with open(path) as f:
        data = json.load(f)
    found: Dict[tuple, Dict[str, Dict[str, float]]] = {}
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    for b in data.get("benchmarks", []):
        parts = b.get("name", "").split("/")
        if (b.get("error_occurred") or len(parts) < 3 or parts[1] != "f32"
                or any(p.startswith("threads=") for p in parts)):
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        if parts[0] in SUITE_BASELINES:
            op, label = SUITE_BASELINES[parts[0]]
        elif parts[0] in SUITE_ROUTEMAT and parts[-1] == isa:
            op, label = SUITE_ROUTEMAT[parts[0]]  # routemat's own 1-thread rows
        else:
            continue
        fields = dict(p.split("=", 1) for p in parts if "=" in p)
        dist = "uniform"
        for p in parts:
            if p in ("sorted", "permutation"):
                dist = p
            elif p.startswith("zipf="):
                dist = "zipf"
        if "bytes_per_second" not in b or not {"d", "n", "m"} <= fields.keys():
            continue
        index_type = {"i32": "int32", "i64": "int64"}.get(parts[2], parts[2])
        key = (op, index_type, int(fields["d"]), int(fields["n"]), int(fields["m"]), dist)
        found.setdefault(key, {})[label] = {
            "gbps": b["bytes_per_second"] / 1e9,
            "median_s": b["cpu_time"] * scale.get(b.get("time_unit", "ns"), 1e-9)}
    return found


def add_suite_baselines(job: Dict[str, object], baselines) -> None:
    """Adds the suite's rows for this job's workload as contenders that are
    shown (table column, chart) but not used for the ratio: they were timed
    in another process, not alternated with the rest."""
    key = (job["op"], job["index_type"], job["d"], job["n"], job["m"], job["dist"])
    best, ours = None, None
    for label, entry in baselines.get(key, {}).items():
        if label.startswith("routemat"):
            # Shown in the table next to the baselines, not charted again.
            if ours is None or entry["gbps"] > job["suite_routemat"]["gbps"]:
                ours = label
                job["suite_routemat"] = {"variant": label, **entry}
            continue
        job["contenders"][label] = {"status": "ok", "routemat": False, "suite": True, **entry}
        if best is None or entry["gbps"] > job["contenders"][best]["gbps"]:
            best = label
    job["best_suite_baseline"] = best


# ---------------------------------------------------------------------------
# Output: table, JSON, chart
# ---------------------------------------------------------------------------

def format_table(jobs: List[Dict[str, object]], ceiling_gbps: float) -> str:
    header = ["workload", "op", "idx", "routemat GB/s", "routemat variant", "time/call",
              "best peer GB/s", "best peer", "ratio", "of copy", "target", "C++ suite GB/s: routemat vs best baseline"]
    lines = []
    for job in jobs:
        ours = job["contenders"][job["best_routemat"]]
        peer = job["contenders"][job["best_peer"]] if job["best_peer"] else None
        lines.append([
            job["label"], job["op"], job["index_type"].replace("int", "i"),
            f"{ours['gbps']:.2f}", job["best_routemat"].replace("routemat_", ""),
            format_seconds(ours["median_s"]),
            f"{peer['gbps']:.2f}" if peer else "-", job["best_peer"] or "-",
            f"{job['ratio']:.2f}x" if peer else "-",
            f"{ours['gbps'] / ceiling_gbps:.0%}",
            f"< {job['target_ratio']:g}x" if job["below_target"] else "ok",
            suite_cell(job),
        ])
    numeric = {3, 5, 6, 8, 9}
    widths = [max(len(str(row[i])) for row in [header] + lines) for i in range(len(header))]

    def render(row):
        return "  ".join(str(cell).rjust(w) if i in numeric else str(cell).ljust(w)
                         for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    out = [render(header), render(["-" * w for w in widths])]
    out += [render(row) for row in lines]
    return "\n".join(out)


def suite_cell(job: Dict[str, object]) -> str:
    """routemat's and the best baseline's GB/s in the C++ suite."""
    best = job.get("best_suite_baseline")
    if not best:
        return "-"
    ours = job.get("suite_routemat")
    mine = f"{ours['gbps']:.2f}" if ours else "-"
    return f"{mine} vs {job['contenders'][best]['gbps']:.2f} {best.replace(' (C++)', '')}"


def print_untimed(jobs: List[Dict[str, object]]):
    """One line per peer and reason that left it out of some rows."""
    unsupported: Dict[tuple, List[str]] = {}
    for j in jobs:
        for name, c in j["contenders"].items():
            if c["status"] == "unsupported":
                unsupported.setdefault((name, c["note"]), []).append(
                    f"{j['label']} {j['op']} {j['index_type']}")
            elif c["status"] == "skipped":
                print(f"note: {name} skipped in {j['label']} {j['op']} {j['index_type']}: "
                      f"{c['note']}")
    for (name, note), rows in unsupported.items():
        types = sorted({row.rsplit(" ", 1)[1] for row in rows})
        print(f"note: {name} refused {'/'.join(types)} indices in {len(rows)} rows ({note})")


def print_half_vs_f32(jobs: List[Dict[str, object]]):
    """bf16 rows against the f32 embedding rows of the same row bytes (target: >= 1x)."""
    f32 = {(j["op"], j["index_type"]): j for j in jobs if j["workload"] == "embedding"}
    for j in jobs:
        twin = f32.get((j["op"], j["index_type"]))
        if j["workload"] != "bf16_embedding" or twin is None:
            continue
        ours = j["contenders"][j["best_routemat"]]["gbps"]
        theirs = twin["contenders"][twin["best_routemat"]]["gbps"]
        j["gbps_vs_f32_rows"] = ours / theirs
        print(f"bf16 rows vs f32 rows (256-byte rows), {j['op']} {j['index_type']}: "
              f"{ours:.2f} vs {theirs:.2f} GB/s = {ours / theirs:.2f}x "
              f"({'ok' if ours >= theirs else 'below the 1x target'})")


def format_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms"


def machine_info(rm: Routemat, threads: int) -> Dict[str, object]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "cpu_model": cpu,
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "routemat_isa": rm.active_isa(),
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "routemat_threads": rm.lib.routemat_get_num_threads(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git_commit": commit,
    }


def write_json(path: str, machine, config, ceiling, ctypes_floor, jobs):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"machine": machine, "config": config, "copy_ceiling": ceiling,
                   "ctypes_call_floor_s": ctypes_floor, "results": jobs}, f, indent=1)


def plot_png(path: str, machine, ceiling_gbps: float, jobs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = [op for op in ("gather", "scatter-add", "bag-sum", "combine")
           if any(j["op"] == op for j in jobs)]
    groups_max = max(sum(j["op"] == op for j in jobs) for op in ops)
    fig, axes = plt.subplots(len(ops), 1, figsize=(max(12, 1.1 * groups_max + 4), 6 * len(ops)),
                             squeeze=False)
    for ax, op in zip(axes[:, 0], ops):
        rows = [j for j in jobs if j["op"] == op]
        names = list(dict.fromkeys(name for j in rows for name in j["contenders"]))
        width = 0.8 / len(names)
        cmap = plt.get_cmap("tab10")
        for k, name in enumerate(names):
            xs, ys = [], []
            for g, j in enumerate(rows):
                entry = j["contenders"].get(name, {})
                if "gbps" in entry:
                    xs.append(g - 0.4 + width * (k + 0.5))
                    ys.append(entry["gbps"])
            ax.bar(xs, ys, width, label=name, color=cmap(k % 10),
                   edgecolor=("black" if name.startswith("routemat") else
                              "dimgray" if name.endswith("(C++)") else "none"),
                   hatch="//" if name.endswith("(C++)") else None,
                   linewidth=0.8)
        ax.axhline(ceiling_gbps, color="red", linestyle="--", linewidth=1.2,
                   label=f"copy ceiling {ceiling_gbps:.1f} GB/s")
        ax.set_yscale("log")
        ax.set_ylabel("GB/s (compulsory bytes, log scale)")
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([f"{j['label']} {j['index_type']}" for j in rows],
                           rotation=30, ha="right")
        ax.set_title(op)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"routemat vs torch {machine['torch']} / numpy {machine['numpy']}: "
                 f"{machine['cpu_model']}, {machine['threads']} thread(s), "
                 f"{machine['routemat_isa']}\n{machine['date']}, commit "
                 f"{machine['git_commit'] or 'unknown'}")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", default=os.path.join(REPO, "build", "libroutemat.so"))
    p.add_argument("--json", default=os.path.join(REPO, "out", "compare.json"))
    p.add_argument("--png", default=None)
    p.add_argument("--suite-json", default=os.path.join(REPO, "out", "bench.json"),
                   help="routemat_bench's JSON output; its plain-loop, Eigen and dense rows "
                        "join the table and chart when the file exists")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="a subset that runs in under a minute")
    p.add_argument("--rounds", type=int, default=None, help="default 7, 5 with --quick")
    p.add_argument("--min-sample", type=float, default=0.005,
                   help="seconds one sample lasts at least (short calls are repeated)")
    p.add_argument("--slow-limit", type=float, default=None,
                   help="skip a peer whose call takes longer (default 1 s, 0.3 s with --quick)")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 5 if args.quick else 7
    if args.slow_limit is None:
        args.slow_limit = 0.3 if args.quick else 1.0
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    rm = Routemat(args.lib)
    torch.set_num_threads(args.threads)
    rm.set_num_threads(args.threads)

    machine = machine_info(rm, args.threads)
    print(f"# {machine['cpu_model']}, {args.threads} thread(s), routemat isa "
          f"{machine['routemat_isa']}, torch {machine['torch']}, numpy {machine['numpy']}, "
          f"commit {machine['git_commit']}", file=sys.stderr)
    print("[copy] numpy.copyto 512 MiB ...", file=sys.stderr, flush=True)
    ceiling = measure_copy_ceiling(args.rounds)
    ctypes_floor = measure_ctypes_floor(rm, args.rounds)

    baselines = {}
    if args.suite_json and os.path.exists(args.suite_json):
        baselines = load_suite_baselines(args.suite_json, machine["routemat_isa"])
        print(f"[suite] {sum(map(len, baselines.values()))} C++ baseline rows from "
              f"{args.suite_json}", file=sys.stderr)

    plan = [(w, op, it) for w in workloads(args.quick) for it in w.index_types
            for op in ("gather", "scatter-add")]
    plan += [(w, w.op, it) for w in compare_ml.ml_workloads(args.quick) for it in w.index_types]
    jobs = []
    for k, (w, op, index_type) in enumerate(plan, 1):
        print(f"[{k}/{len(plan)}] {w.label} {op} {index_type} ...", file=sys.stderr, flush=True)
        if isinstance(w, compare_ml.MLWorkload):
            jobs.append(run_ml_job(rm, w, index_type, args))
        else:
            jobs.append(run_job(rm, w, op, index_type, args))
            add_suite_baselines(jobs[-1], baselines)

    print(f"copy ceiling (numpy.copyto 512 MiB): {ceiling['gbps']:.2f} GB/s; "
          f"{args.threads} thread(s); routemat isa {machine['routemat_isa']}; "
          f"ctypes call floor {format_seconds(ctypes_floor)}")
    print("GB/s = compulsory bytes / median time; ratio = best peer time / routemat time "
          "(peers: PyTorch and NumPy, alternated in this process)")
    if baselines:
        print(f"C++ suite: routemat's fastest variant and the fastest plain loop, Eigen or "
              f"dense row of {args.suite_json} (routemat_bench, 1 thread, no Python overhead, "
              "not alternated with the peers)")
    print(format_table(jobs, ceiling["gbps"]))
    below = [j for j in jobs if j["below_target"]]
    print()
    if below:
        print(f"below target (gather < {GATHER_TARGET:g}x, scatter-add < "
              f"{SCATTER_TARGET:g}x the best peer):")
        for j in below:
            print(f"  {j['label']} {j['op']} {j['index_type']}: {j['ratio']:.2f}x vs "
                  f"{j['best_peer']}")
    else:
        print("every row meets its target")
    print_half_vs_f32(jobs)
    mismatched = [j for j in jobs
                  if j.get("checks", {}).get("plan_bitwise_equal_to_no_plan") is False]
    for j in mismatched:
        print(f"warning: {j['label']} {j['index_type']}: plan scatter-add differs bitwise "
              f"from plan-less scatter-add")
    print_untimed(jobs)

    config = {k: getattr(args, k) for k in ("lib", "threads", "quick", "rounds",
                                            "min_sample", "slow_limit", "suite_json")}
    write_json(args.json, machine, config, ceiling, ctypes_floor, jobs)
    print(f"wrote {args.json}", file=sys.stderr)
    if args.png:
        plot_png(args.png, machine, ceiling["gbps"], jobs)
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
