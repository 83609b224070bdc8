#!/usr/bin/env python3
"""Writes the seed corpus of routemat_fuzz into fuzz/corpus/ (seed-NN-name files).

The inputs follow the format documented at the top of fuzz/fuzz_routes.cpp:
every operation, both index types, both value types, drops, strides, the
plan kernels, streaming, threads, aliasing, and the invalid kinds (hostile
indices, bad maps, bad views, bad shapes, bad modes). The output is the same
on every run; files named seed-* that the list no longer has are removed,
other files (regressions/) are left alone.

    python3 fuzz/make_corpus.py [--out DIR]
"""
import argparse
import os
import struct

OPS = {"gather": 0, "scatter_add": 1, "plan_accumulate": 2, "plan_overwrite": 3,
       "sum_forward": 4, "sum_backward": 5, "bag_forward": 6, "bag_backward": 7}
# Value types: byte [1] bit 2 (f64 / f16) and bit 6 (16-bit).
VTYPES = {"f32": 0, "f64": 4, "bf16": 64, "f16": 68}
KERNELS = {None: 0, "auto": 1, "pull": 2, "push": 3}
STREAM = {None: 0, 0: 1, -1: 2, 4096: 3}
THREADS = {None: 0, 1: 1, 2: 2, "host": 3}
PATTERNS = {"uniform": 0, "sorted": 1, "cyclic": 2, "constant": 3, "permutation": 4,
            "drops": 5, "identity": 6, "few_reversed": 7}
VALUES = {"ints": 0, "finite": 1, "bits": 2, "special": 3}
FAULTS = [
    "none", "map_out_null", "map_rows_negative", "map_cols_negative", "map_index_type",
    "map_flags", "map_indices_null", "map_rows_overflow", "map_pointer_wrap", "null_map",
    "src_view_null", "dst_view_null", "src_type", "dst_type", "src_rows_negative",
    "dst_rows_negative", "src_rows_wrong", "dst_rows_wrong", "src_width", "dst_width",
    "src_stride_short", "dst_stride_short", "src_data_null", "dst_data_null",
    "src_stride_huge", "dst_stride_huge", "type_mismatch", "width_mismatch", "write_mode",
    "huge_width"]
BAG_FAULTS = [
    "none", "create_out_null", "create_map_null", "bags_negative", "bags_huge", "offset_type",
    "offsets_null", "offsets_first", "offsets_decrease", "offsets_last", "offsets_wide",
    "fixed_size", "weight_count", "weights_null_count", "dw_count", "dw_null_count",
    "u_null_with_dw", "plan_other_map", "weights_alias_out", "dw_alias", "u_alias_du"]
BAG_PATTERNS = {"random": 0, "equal": 1, "last": 2, "ones": 3}
# Index patch kinds (patch_value in fuzz_routes.cpp).
PATCH = {"n": 0, "n+k": 1, "-1": 2, "-2": 3, "-n-1": 4, "int32_min": 5, "int32_max": 6,
         "int64_min": 7, "int64_max": 8, "2^32+valid": 9, "2^32-1": 10, "-2^32+valid": 11,
         "0": 12, "n-1": 13, "2^31": 14, "valid": 15}
MISC_ALL = 0xFF


def size_field(value, big, big_base):
    if big:
        assert big_base <= value < big_base + 32768 if big_base else 0 <= value < 4096
        return value - big_base
    assert 0 <= value < 512
    return value if value < 40 else 0x8000 | value


def bag_bytes(*, fixed=False, off64=False, mean=False, weighted=False, no_du=False, no_dw=False,
              no_u=False, count=0, fault="none", param=0, pattern="random"):
    """Bytes [30..35] of a bag op: flags, count (u16), fault, fault parameter, pattern."""
    flags = (fixed << 0) | (off64 << 1) | (mean << 2) | (weighted << 3) | (no_du << 4) | \
        (no_dw << 5) | (no_u << 6)
    return bytes([flags]) + struct.pack("<H", count) + bytes(
        [BAG_FAULTS.index(fault), param, BAG_PATTERNS[pattern]])


def encode(op, *, drop=False, idx64=False, f64=False, vtype=None, big=False, via_plan_map=False,
           kernel=None, stream=None, threads=None, m=8, n=5, d=3, src_extra=0, dst_extra=0,
           pattern="uniform", seed=1, values="ints", leads=(0, 0, 0), faults=("none", "none"),
           param=0, arena=0, offsets=(0, 0, 0), misc=0, bag=None, patches=()):
    vbits = VTYPES[vtype] if vtype is not None else (4 if f64 else 0)
    types = (drop << 0) | (idx64 << 1) | vbits | (via_plan_map << 4)
    if big:
        types |= 0x28
        assert 1 <= d <= 4 and src_extra < 4 and dst_extra < 4
    else:
        assert 1 <= d <= 70
    settings = KERNELS[kernel] | (STREAM[stream] << 2) | (THREADS[threads] << 4)
    extra = lambda e: 0 if e == 0 else 0x80 | e
    assert 0 <= src_extra < 64 and 0 <= dst_extra < 64
    out = bytes([OPS[op], types, settings])
    out += struct.pack("<HHB", size_field(m, big, 4096), size_field(n, big, 0), d - 1)
    out += bytes([extra(src_extra), extra(dst_extra), PATTERNS[pattern]])
    out += struct.pack("<I", seed)
    out += bytes([VALUES[values], *leads, FAULTS.index(faults[0]), FAULTS.index(faults[1]),
                  param, arena])
    out += struct.pack("<hhh", *offsets)
    out += bytes([misc])
    assert (bag is not None) == (op in ("bag_forward", "bag_backward"))
    if bag is not None:
        out += bag_bytes(**bag)
    for row, kind in patches:
        out += struct.pack("<HB", row, PATCH[kind])
    return out


SEEDS = [
    # Valid calls: every op, both index and value types, drops, strides, kernels.
    ("gather-i32-f32", encode("gather", m=7, n=5, d=3)),
    ("gather-i64-f64-strided", encode("gather", idx64=True, f64=True, m=33, n=20, d=17,
                                      src_extra=3, dst_extra=5, values="finite", leads=(1, 3, 2))),
    ("gather-drop-d1-stream", encode("gather", drop=True, m=100, n=64, d=1, pattern="drops",
                                     stream=0, values="finite")),
    ("gather-i64-f64-d1-stream-lead", encode("gather", idx64=True, f64=True, m=200, n=300, d=1,
                                             stream=0, leads=(0, 3, 1), values="bits")),
    ("gather-d70-2threads", encode("gather", f64=True, m=300, n=300, d=70, threads=2,
                                   values="finite")),
    ("gather-via-plan-map", encode("gather", idx64=True, via_plan_map=True, m=40, n=9, d=9,
                                   pattern="sorted")),
    ("scatter-constant", encode("scatter_add", m=50, n=7, d=5, pattern="constant",
                                values="finite")),
    ("scatter-i64-f64-d64-2threads", encode("scatter_add", idx64=True, f64=True, m=500, n=100,
                                            d=64, threads=2, values="finite")),
    ("scatter-drop-bits", encode("scatter_add", drop=True, idx64=True, m=64, n=16, d=11,
                                 pattern="drops", values="bits", dst_extra=2)),
    ("scatter-special-host", encode("scatter_add", m=300, n=40, d=70, threads="host",
                                    values="special")),
    ("plan-acc-pull", encode("plan_accumulate", kernel="pull", m=90, n=30, d=16,
                             values="finite")),
    ("plan-acc-push-i64-f64", encode("plan_accumulate", kernel="push", idx64=True, f64=True,
                                     m=70, n=20, d=33, src_extra=1, values="finite")),
    ("plan-over-drop-d8", encode("plan_overwrite", drop=True, f64=True, stream=0, m=60, n=25,
                                 d=8, pattern="drops", values="special")),
    ("plan-over-pull-stream-2threads", encode("plan_overwrite", idx64=True, kernel="pull",
                                              stream=0, threads=2, m=400, n=300, d=64,
                                              values="finite")),
    ("plan-over-few-reversed", encode("plan_overwrite", kernel="auto", m=39, n=38, d=2,
                                      pattern="few_reversed", stream=4096)),
    ("sum-forward-no-rows", encode("sum_forward", m=0, n=10, d=4)),
    ("sum-forward-permutation", encode("sum_forward", idx64=True, f64=True, m=37, n=37, d=6,
                                       pattern="permutation", values="finite")),
    ("sum-backward-drop", encode("sum_backward", drop=True, f64=True, m=20, n=8, d=2,
                                 pattern="drops")),
    ("sum-backward-host", encode("sum_backward", idx64=True, m=300, n=200, d=70,
                                 threads="host", stream=-1)),
    ("sum-backward-identity", encode("sum_backward", m=25, n=25, d=1, pattern="identity",
                                     stream=0)),
    ("gather-no-cols-all-dropped", encode("gather", drop=True, m=12, n=0, d=5)),
    # Big shapes: plan builds sharded by rows, d = 1 hardware gathers over threads.
    ("big-plan-pull-2threads", encode("plan_accumulate", big=True, kernel="pull", threads=2,
                                      m=36000, n=1000, d=1, values="finite")),
    ("big-gather-d1-2threads", encode("gather", big=True, idx64=True, threads=2, stream=0,
                                      m=36000, n=4000, d=1)),
    # Aliasing: disjoint column blocks of one block (accepted), overlaps (refused).
    ("alias-column-blocks", encode("gather", m=6, n=6, d=4, src_extra=4, dst_extra=4,
                                   arena=3, offsets=(0, 4, 0))),
    ("alias-dst-overlaps-src", encode("scatter_add", m=6, n=6, d=4, arena=3, offsets=(0, 1, 0))),
    ("alias-dst-overlaps-indices", encode("plan_overwrite", m=8, n=8, d=2, arena=6,
                                          offsets=(0, 0, 3))),
    ("alias-src-is-indices", encode("gather", m=10, n=10, d=1, arena=5, offsets=(0, 0, 0))),
    # Hostile indices.
    ("index-n", encode("gather", m=9, n=4, d=2, patches=[(3, "n")])),
    ("index-i64-low32-valid", encode("scatter_add", idx64=True, m=9, n=4, d=2,
                                     patches=[(5, "2^32+valid")])),
    ("index-minus1-without-drop", encode("plan_accumulate", m=9, n=4, d=2, patches=[(0, "-1")])),
    ("index-i64-min-with-drop", encode("sum_forward", drop=True, idx64=True, m=9, n=4, d=2,
                                       patches=[(8, "int64_min"), (2, "-2^32+valid")])),
    ("index-i32-extremes", encode("gather", drop=True, m=9, n=4, d=2,
                                  patches=[(1, "int32_min"), (2, "int32_max"), (4, "-n-1")])),
    # Bad maps.
    ("map-rows-overflow", encode("gather", m=4, n=4, faults=("map_rows_overflow", "none"))),
    ("map-pointer-wrap", encode("gather", idx64=True, m=4, n=4,
                                faults=("map_pointer_wrap", "none"))),
    ("map-type-flags", encode("scatter_add", m=4, n=4, faults=("map_index_type", "map_flags"),
                              param=3)),
    ("map-null-indices-no-rows", encode("plan_overwrite", m=0, n=6, d=3,
                                        faults=("map_indices_null", "none"))),
    ("map-out-null-negative", encode("gather", m=5, n=5,
                                     faults=("map_out_null", "map_rows_negative"), param=2)),
    # Bad views and shapes.
    ("view-stride-width", encode("scatter_add", m=10, n=6, d=7,
                                 faults=("src_stride_short", "dst_width"), param=1)),
    ("view-rows-type", encode("sum_backward", m=10, n=6, d=7, faults=("src_rows_wrong", "dst_type"),
                              param=6)),
    ("view-type-width-mismatch", encode("plan_accumulate", f64=True, m=10, n=6, d=7,
                                        faults=("type_mismatch", "none"))),
    ("view-width-mismatch", encode("gather", m=10, n=6, d=7, faults=("width_mismatch", "none"),
                                   param=1)),
    ("view-huge-stride-one-row", encode("gather", m=10, n=1, d=5,
                                        faults=("src_stride_huge", "none"))),
    ("view-huge-stride-overflow", encode("scatter_add", idx64=True, m=10, n=6, d=5,
                                         faults=("dst_stride_huge", "none"), param=2)),
    ("view-huge-width-empty", encode("sum_forward", m=0, n=0, d=3, faults=("huge_width", "none"))),
    ("write-mode-null-data", encode("plan_accumulate", m=10, n=6, d=3,
                                    faults=("write_mode", "dst_data_null"), param=1)),
    ("null-plan-null-view", encode("sum_forward", m=10, n=6, d=3,
                                   faults=("null_map", "src_view_null"))),
    # Setters and getters that must refuse bad values.
    ("misc-all", encode("gather", m=12, n=6, d=4, misc=MISC_ALL, param=1)),
    # 16-bit rows (bf16, f16): gathers copy bits; sums round (push: per row; pull: once).
    ("bf16-gather-drop-stream", encode("gather", vtype="bf16", drop=True, m=70, n=40, d=19,
                                       pattern="drops", stream=0, values="bits")),
    ("f16-gather-d1-i64", encode("gather", vtype="f16", idx64=True, m=100, n=64, d=1,
                                 values="finite")),
    ("bf16-scatter-constant", encode("scatter_add", vtype="bf16", m=60, n=7, d=13,
                                     pattern="constant", values="finite")),
    ("f16-scatter-strided-2threads", encode("scatter_add", vtype="f16", m=300, n=80, d=70,
                                            threads=2, dst_extra=3, values="finite")),
    ("bf16-plan-acc-pull", encode("plan_accumulate", vtype="bf16", kernel="pull", m=90, n=30,
                                  d=16, values="finite")),
    ("f16-plan-acc-push", encode("plan_accumulate", vtype="f16", kernel="push", m=90, n=30,
                                 d=5, values="finite")),
    ("bf16-plan-over-auto-m-lt-n", encode("plan_overwrite", vtype="bf16", kernel="auto", m=20,
                                          n=45, d=7, pattern="uniform", values="finite")),
    ("f16-plan-over-auto-d8", encode("plan_overwrite", vtype="f16", drop=True, m=60, n=25, d=8,
                                     pattern="drops", values="special")),
    ("f16-sum-forward-host", encode("sum_forward", vtype="f16", idx64=True, m=300, n=100,
                                    d=33, threads="host", values="finite")),
    ("bf16-sum-backward", encode("sum_backward", vtype="bf16", m=40, n=20, d=9,
                                 values="bits")),
    ("f16-type-mismatch-size", encode("plan_accumulate", vtype="f16", m=10, n=6, d=7,
                                      faults=("type_mismatch", "none"), param=0x80)),
    ("bf16-alias-column-blocks", encode("gather", vtype="bf16", m=6, n=6, d=4, src_extra=4,
                                        dst_extra=4, arena=3, offsets=(0, 2, 0))),
    ("big-f16-plan-pull", encode("plan_accumulate", vtype="f16", big=True, kernel="pull",
                                 threads=2, m=20000, n=1000, d=2, values="finite")),
    # Bags: forward.
    ("bag-fwd-offsets-sum", encode("bag_forward", m=30, n=10, d=5, values="finite",
                                   bag=dict(count=7))),
    ("bag-fwd-offsets64-mean-drop", encode("bag_forward", drop=True, m=40, n=12, d=17,
                                           pattern="drops", values="finite",
                                           bag=dict(off64=True, mean=True, count=9))),
    ("bag-fwd-fixed-weighted", encode("bag_forward", f64=True, m=32, n=9, d=8, values="finite",
                                      bag=dict(fixed=True, weighted=True, count=2 << 2 | 2))),
    ("bag-fwd-bf16-weighted-mean", encode("bag_forward", vtype="bf16", m=48, n=20, d=33,
                                          values="finite", threads=2,
                                          bag=dict(fixed=True, weighted=True, mean=True,
                                                   count=3 << 2 | 2))),
    ("bag-fwd-f16-empty-bags", encode("bag_forward", vtype="f16", m=10, n=5, d=3,
                                      bag=dict(count=11, pattern="last"))),
    ("bag-fwd-big", encode("bag_forward", big=True, m=20000, n=3000, d=4, values="finite",
                           threads=2, bag=dict(fixed=True, weighted=True, count=3 << 2 | 2))),
    # Bags: backward (without and with a plan).
    ("bag-bwd-sum", encode("bag_backward", m=30, n=10, d=5, values="finite",
                           bag=dict(count=7))),
    ("bag-bwd-weighted-mean-drop", encode("bag_backward", drop=True, idx64=True, m=40, n=12,
                                          d=70, pattern="drops", values="finite", threads=2,
                                          bag=dict(mean=True, weighted=True, count=9,
                                                   pattern="equal"))),
    ("bag-bwd-f16-fixed-du-only", encode("bag_backward", vtype="f16", m=24, n=30, d=9,
                                         values="finite",
                                         bag=dict(fixed=True, weighted=True, no_dw=True,
                                                  count=4 << 2 | 2))),
    ("bag-bwd-bf16-dw-only", encode("bag_backward", vtype="bf16", m=24, n=10, d=40,
                                    values="finite",
                                    bag=dict(fixed=True, no_du=True, count=1))),
    ("bag-bwd-nothing", encode("bag_backward", m=8, n=4, d=3,
                               bag=dict(no_du=True, no_dw=True, no_u=True, count=3))),
    # Bags: invalid calls.
    ("bag-offsets-first", encode("bag_forward", m=10, n=4, d=2,
                                 bag=dict(count=3, fault="offsets_first"))),
    ("bag-offsets-decrease", encode("bag_forward", m=10, n=4, d=2,
                                    bag=dict(off64=True, count=4, fault="offsets_decrease",
                                             param=1))),
    ("bag-offsets-last", encode("bag_backward", m=10, n=4, d=2,
                                bag=dict(count=4, fault="offsets_last", param=1))),
    ("bag-offsets-wide-i32", encode("bag_forward", m=10, n=4, d=2,
                                    bag=dict(count=4, fault="offsets_wide", param=4))),
    ("bag-offsets-null-type", encode("bag_forward", m=10, n=4, d=2,
                                     bag=dict(count=4, fault="offset_type", param=1))),
    ("bag-bags-huge", encode("bag_forward", m=10, n=4, d=2,
                             bag=dict(count=4, fault="bags_huge", param=1))),
    ("bag-fixed-not-dividing", encode("bag_forward", m=10, n=4, d=2,
                                      bag=dict(fixed=True, count=3 << 2, fault="none"))),
    ("bag-fixed-size-zero", encode("bag_backward", m=10, n=4, d=2,
                                   bag=dict(fixed=True, count=1, fault="bags_negative"))),
    ("bag-weight-count", encode("bag_forward", m=10, n=4, d=2,
                                bag=dict(weighted=True, count=4, fault="weight_count"))),
    ("bag-weights-null-count", encode("bag_backward", m=10, n=4, d=2,
                                      bag=dict(count=4, fault="weights_null_count"))),
    ("bag-dw-count", encode("bag_backward", m=10, n=4, d=2,
                            bag=dict(count=4, fault="dw_count", param=3))),
    ("bag-u-null-with-dw", encode("bag_backward", m=10, n=4, d=2,
                                  bag=dict(count=4, fault="u_null_with_dw"))),
    ("bag-plan-other-map", encode("bag_backward", m=10, n=4, d=2,
                                  bag=dict(count=4, fault="plan_other_map"))),
    ("bag-reduce-null-bags", encode("bag_forward", m=10, n=4, d=2,
                                    faults=("write_mode", "null_map"),
                                    bag=dict(count=4))),
    ("bag-weights-alias-y", encode("bag_forward", m=10, n=4, d=6,
                                   bag=dict(weighted=True, count=4, fault="weights_alias_out"))),
    ("bag-dw-alias-dy", encode("bag_backward", m=10, n=4, d=6,
                               bag=dict(count=4, fault="dw_alias", param=0))),
    ("bag-dw-alias-du", encode("bag_backward", m=10, n=4, d=6,
                               bag=dict(count=4, fault="dw_alias", param=4))),
    ("bag-u-alias-du", encode("bag_backward", m=10, n=4, d=6,
                              bag=dict(count=4, fault="u_alias_du"))),
    ("bag-du-overlaps-dy", encode("bag_backward", m=6, n=6, d=4, arena=3, offsets=(0, 1, 0),
                                  bag=dict(count=6))),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "corpus"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = set()
    for k, (name, data) in enumerate(SEEDS):
        fname = "seed-%02d-%s" % (k, name)
        names.add(fname)
        with open(os.path.join(args.out, fname), "wb") as f:
            f.write(data)
    for fname in os.listdir(args.out):
        if fname.startswith("seed-") and fname not in names:
            os.remove(os.path.join(args.out, fname))
    print("make_corpus.py: %d seeds in %s" % (len(SEEDS), args.out))


if __name__ == "__main__":
    main()
