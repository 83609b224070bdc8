"""The ML-runtime rows of bench/compare.py: bf16 embedding rows, EmbeddingBag
sum, and the weighted top-2 MoE combine, each against what a PyTorch user
writes for it, timed in the same process and the same alternating rounds.

Workloads (U has n rows of d values; bags are contiguous runs of routes)
  bf16_embedding  bf16 rows, n = 1M, m = 64K, d = 128 (256-byte rows, as the
                  f32 embedding row of d = 64: their GB/s compare directly)
    gather        routemat_gather on ROUTEMAT_BF16 rows   vs torch.index_select(out=),
                  torch.embedding, U[idx]
    scatter-add   routemat_scatter_add, routemat_plan_scatter_add (f32 sums,
                  rounded once per route / per row) vs dU.index_add_ (bf16)
  embedding_bag   f32 rows, n = 1M, d = 64, B = 16K bags of 20 routes (m = 320K);
                  embedding_bag_cached the same from n = 16K rows (a 4 MiB table,
                  in the last-level cache: the kernels' speed rather than DRAM's)
    bag-sum       routemat_bag_forward (fixed bags of 20, REDUCE_SUM) vs
                  torch.nn.functional.embedding_bag(idx, U, offsets, mode='sum')
                  and torch U[idx].view(B, 20, d).sum(1)
  moe_combine     f32 rows, n = 16K expert outputs, d = 1024, T = 8K tokens
                  with top-2 routes each (m = 16K) and a weight per route
    combine       routemat_bag_forward (fixed bags of 2, weights) vs
                  Y.zero_(); Y.index_add_(0, token, X.index_select(0, idx) * w[:, None])
                  (the index_select + mul + index_add_ sequence),
                  (X[idx] * w[:, None]).view(T, 2, d).sum(1), and
                  embedding_bag(idx, X, offsets, mode='sum', per_sample_weights=w)

Compulsory bytes (one call; the same count for every contender of a row)
  gather       m * sizeof(index) + 2 * m * d * 2         (bf16)
  scatter-add  m * sizeof(index) + 3 * m * d * 2         (bf16)
  bag-sum      m * sizeof(index) + m * d * 4 + B * d * 4 (the rows read, the
               bags written; fixed bags need no offsets array, embedding_bag's
               B * 8 bytes of offsets are not counted)
  combine      m * sizeof(index) + m * 4 + m * d * 4 + T * d * 4 (+ the weights)

Checks (outside the timing): the bf16 gather equal to torch.index_select bit
for bit; the bf16 scatter-add within 2^-7 relative (max-norm) of an f64
index_add_ over the same bf16 values, for both routemat variants; bag-sum and
combine within 1e-5 relative of torch's embedding_bag in f64.

Targets: bf16 rows at least the GB/s of the f32 embedding rows (same row
bytes); bags and the combine at least 2x the best torch op at 1 thread.
"""

import ctypes
from dataclasses import dataclass
from typing import Dict, List

import torch

ROUTEMAT_F32 = 0
ROUTEMAT_BF16 = 2
ROUTEMAT_ACCUMULATE = 0
ROUTEMAT_REDUCE_SUM = 0
BAG_TARGET = 2.0


@dataclass
class MLWorkload:
    key: str
    label: str
    op: str
    n: int
    m: int
    d: int
    bag_size: int = 1
    index_types: tuple = ("int32", "int64")


def ml_workloads(quick: bool) -> List[MLWorkload]:
    full = [
        MLWorkload("bf16_embedding", "bf16 embedding d=128", "gather", 1 << 20, 64 << 10, 128),
        MLWorkload("bf16_embedding", "bf16 embedding d=128", "scatter-add", 1 << 20, 64 << 10,
                   128),
        MLWorkload("embedding_bag", "EmbeddingBag sum 20 d=64", "bag-sum", 1 << 20,
                   20 * (16 << 10), 64, bag_size=20),
        MLWorkload("embedding_bag_cached", "EmbeddingBag sum 20 d=64 cached", "bag-sum",
                   16 << 10, 20 * (16 << 10), 64, bag_size=20),
        MLWorkload("moe_combine", "MoE combine top-2 d=1024", "combine", 16 << 10, 16 << 10,
                   1024, bag_size=2),
    ]
    if quick:
        for w in full:
            w.index_types = ("int64",)
    return full


def declare(lib) -> None:
    """The bag entry points' signatures (compare.Routemat declares the rest)."""
    vp, i32, i64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
    for name, restype, argtypes in (
            ("routemat_bags_create_fixed", i32, [ctypes.POINTER(vp), vp, i64]),
            ("routemat_bags_destroy", None, [vp]),
            ("routemat_bag_forward", i32, [vp, vp, vp, i64, i32, vp])):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes


def rows_of_tensor(rows_type, t: torch.Tensor, value_type: int):
    assert t.dim() == 2 and t.is_contiguous()
    return rows_type(t.data_ptr(), t.shape[0], t.shape[1], t.shape[1], value_type)


def bytes_of(w: MLWorkload, index_bytes: int) -> int:
    if w.op == "gather":
        return w.m * index_bytes + 2 * w.m * w.d * 2
    if w.op == "scatter-add":
        return w.m * index_bytes + 3 * w.m * w.d * 2
    bags = w.m // w.bag_size
    weights = w.m * 4 if w.op == "combine" else 0
    return w.m * index_bytes + weights + w.m * w.d * 4 + bags * w.d * 4


def _routemat_call(rm, fn, what, *args):
    def call():
        status = fn(*args)
        if status:
            rm.fail(status, what)
    return call


def bf16_contenders(rm, c, w, idx, rows_type):
    """The bf16 gather or scatter-add contenders, and a check to run first."""
    rng = torch.Generator().manual_seed(w.n + w.d)
    It = torch.from_numpy(idx)
    handle = rm.map_create(idx, w.n)
    plan = rm.plan_create(handle) if w.op == "scatter-add" else None
    if w.op == "gather":
        U = torch.rand(w.n, w.d, generator=rng).mul_(2).sub_(1).to(torch.bfloat16)
        Y = torch.zeros(w.m, w.d, dtype=torch.bfloat16)
        src, dst = rows_of_tensor(rows_type, U, ROUTEMAT_BF16), rows_of_tensor(rows_type, Y,
                                                                              ROUTEMAT_BF16)
        ours = _routemat_call(rm, rm.lib.routemat_gather, "routemat_gather", handle,
                              ctypes.byref(src), ctypes.byref(dst))
        contenders = [
            c("routemat_gather", ours, routemat=True),
            c("torch.index_select(out=)", lambda: torch.index_select(U, 0, It, out=Y)),
            c("torch.embedding", lambda: torch.embedding(U, It)),
            c("torch U[idx]", lambda: U[It]),
        ]

        def check():
            ours()
            want = torch.index_select(U, 0, It.long())
            if not torch.equal(Y.view(torch.int16), want.view(torch.int16)):
                raise AssertionError("bf16 routemat_gather differs from torch.index_select")
            return {"gather_bitwise_equal_to_torch": True}
    else:
        dY = torch.rand(w.m, w.d, generator=rng).mul_(2).sub_(1).to(torch.bfloat16)
        dU = torch.zeros(w.n, w.d, dtype=torch.bfloat16)
        src, dst = rows_of_tensor(rows_type, dY, ROUTEMAT_BF16), rows_of_tensor(rows_type, dU,
                                                                               ROUTEMAT_BF16)
        push = _routemat_call(rm, rm.lib.routemat_scatter_add, "routemat_scatter_add", handle,
                              ctypes.byref(src), ctypes.byref(dst))
        pull = _routemat_call(rm, rm.lib.routemat_plan_scatter_add, "routemat_plan_scatter_add",
                              plan, ctypes.byref(src), ctypes.byref(dst), ROUTEMAT_ACCUMULATE)
        contenders = [
            c("routemat_scatter_add", push, routemat=True),
            c("routemat_plan_scatter_add", pull, routemat=True),
            c("torch.index_add_", lambda: dU.index_add_(0, It, dY)),
            c("torch.scatter_add_",
              lambda: dU.scatter_add_(0, It.view(-1, 1).expand(-1, w.d), dY)),
        ]

        def check():
            want = torch.zeros(w.n, w.d, dtype=torch.float64)
            want.index_add_(0, It.long(), dY.double())
            scale = float(want.abs().max())
            result = {}
            for name, call in (("routemat_scatter_add", push),
                               ("routemat_plan_scatter_add", pull)):
                dU.zero_()
                call()
                rel = float((dU.double() - want).abs().max()) / scale
                result[f"{name}_max_rel_err_vs_f64"] = rel
                if not rel <= 2.0 ** -7:
                    raise AssertionError(f"bf16 {name}: max relative error {rel:.3g} > 2^-7")
            dU.zero_()
            return result

    def release():
        if plan is not None:
            rm.lib.routemat_plan_destroy(plan)
        rm.lib.routemat_map_destroy(handle)
    return contenders, check, release


def bag_contenders(rm, c, w, idx, rows_type):
    """EmbeddingBag sum or the weighted top-k combine, and a check to run first."""
    rng = torch.Generator().manual_seed(w.n + w.d)
    bags = w.m // w.bag_size
    It = torch.from_numpy(idx)
    U = torch.rand(w.n, w.d, generator=rng).mul_(2).sub_(1)
    Y = torch.zeros(bags, w.d)
    offsets = torch.arange(0, w.m, w.bag_size, dtype=It.dtype)
    weighted = w.op == "combine"
    weights = torch.rand(w.m, generator=rng) if weighted else None
    token = torch.arange(bags, dtype=torch.int64).repeat_interleave(w.bag_size)
    handle = rm.map_create(idx, w.n)
    bag_handle = ctypes.c_void_p()
    rm.check(rm.lib.routemat_bags_create_fixed(ctypes.byref(bag_handle), handle, w.bag_size),
             "routemat_bags_create_fixed")
    src, dst = rows_of_tensor(rows_type, U, ROUTEMAT_F32), rows_of_tensor(rows_type, Y,
                                                                         ROUTEMAT_F32)
    wptr, wcount = (weights.data_ptr(), w.m) if weighted else (None, 0)
    ours = _routemat_call(rm, rm.lib.routemat_bag_forward, "routemat_bag_forward", bag_handle,
                          ctypes.byref(src), wptr, wcount, ROUTEMAT_REDUCE_SUM,
                          ctypes.byref(dst))
    name = "routemat_bag_forward"
    contenders = [c(name, ours, routemat=True)]
    if weighted:
        def index_add_sequence():
            Y.zero_()
            Y.index_add_(0, token, torch.index_select(U, 0, It).mul_(weights.view(-1, 1)))
        contenders += [
            c("torch index_select+mul+index_add_", index_add_sequence),
            c("torch (U[idx]*w).view(T,k,d).sum(1)",
              lambda: (U[It] * weights.view(-1, 1)).view(bags, w.bag_size, w.d).sum(1)),
            c("torch.embedding_bag(sum, weights)",
              lambda: torch.nn.functional.embedding_bag(It, U, offsets, mode="sum",
                                                        per_sample_weights=weights)),
        ]
    else:
        contenders += [
            c("torch.embedding_bag(sum)",
              lambda: torch.nn.functional.embedding_bag(It, U, offsets, mode="sum")),
            c("torch U[idx].view(B,k,d).sum(1)",
              lambda: U[It].view(bags, w.bag_size, w.d).sum(1)),
        ]

    def check():
        ours()
        want = torch.nn.functional.embedding_bag(
            It.long(), U.double(), offsets.long(), mode="sum",
            per_sample_weights=weights.double() if weighted else None)
        rel = float((Y.double() - want).abs().max()) / float(want.abs().max())
        if not rel <= 1e-5:
            raise AssertionError(f"{name} ({w.op}): max relative error {rel:.3g} > 1e-5")
        return {f"{name}_max_rel_err_vs_f64": rel}

    def release():
        rm.lib.routemat_bags_destroy(bag_handle)
        rm.lib.routemat_map_destroy(handle)
    return contenders, check, release


def run_ml_job(rm, w: MLWorkload, index_type: str, args, contender_type, rows_type,
               make_indices_uniform, warm_up, run_rounds, finish_job) -> Dict[str, object]:
    """One row: builds the contenders, checks routemat, times every contender
    in alternating rounds and returns the job dict compare.py tabulates."""
    seed = sum(map(ord, w.key + w.op)) * 1000
    idx = make_indices_uniform(w.n, w.m, index_type, seed)
    job = {"workload": w.key, "label": w.label, "op": w.op, "index_type": index_type,
           "n": w.n, "m": w.m, "d": w.d, "zipf": 0.0, "dist": "uniform",
           "bytes": bytes_of(w, idx.itemsize), "ml": True}
    if w.op in ("bag-sum", "combine"):
        job["target_ratio"] = BAG_TARGET
        make = bag_contenders
    else:
        make = bf16_contenders
    contenders, check, release = make(rm, contender_type, w, idx, rows_type)
    try:
        job["checks"] = check()
        for c in contenders:
            warm_up(c, args.min_sample, args.slow_limit)
        run_rounds(contenders, args.rounds)
    finally:
        release()
    return finish_job(job, contenders)
