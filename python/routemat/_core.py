"""Map, Plan and the operations, over the C ABI."""

import ctypes

from . import _lib
from ._arrays import VALUE_NAMES, as_int, empty_like_rows, index_array, value_view
from ._lib import ROWS, RoutematError, RoutematTypeError, check, fail, lib

__all__ = ["Map", "Plan", "gather", "scatter_add", "sum_forward", "sum_backward",
           "set_num_threads", "get_num_threads", "active_isa", "isa_supported", "select_isa",
           "set_plan_kernel", "get_plan_kernel", "set_stream_threshold",
           "get_stream_threshold", "Bags", "bag_forward", "bag_backward"]

_gather = lib.routemat_gather
_scatter_add = lib.routemat_scatter_add
_plan_scatter_add = lib.routemat_plan_scatter_add
_sum_forward = lib.routemat_sum_forward
_sum_backward = lib.routemat_sum_backward
_bag_forward = lib.routemat_bag_forward
_bag_backward = lib.routemat_bag_backward
_byref = ctypes.byref
_pack = ROWS.pack


class Map:
    """A routing matrix G (m x n, one 1 per row) as its index map idx[m].

    ``Map(idx, n, allow_drop=False, *, copy=False)``: idx is a 1-D int32 or
    int64 NumPy array or CPU tensor (other sequences are converted with
    numpy.asarray), every entry in [0, n), or -1 (a dropped row: it gathers
    zeros and gets no gradient) when allow_drop is true. The indices are
    checked once, here.

    The C map reads idx in place and does not copy it: the Map keeps a
    reference to the array (``.indices``), which must not be modified while
    the Map, or a Plan of it, lives. ``copy=True`` gives the Map a private copy
    (as does an idx that is not already a contiguous int32/int64 array).
    """

    __slots__ = ("_ptr", "_idx", "_rows", "_cols", "_dropped", "_allow_drop", "__weakref__")

    def __init__(self, idx, n, allow_drop=False, *, copy=False):
        self._ptr = None
        n = as_int(n, "n")
        kept, data, m, itype = index_array(idx, "idx", copy)
        handle = ctypes.c_void_p()
        flags = _lib.ALLOW_DROP if allow_drop else 0
        status = lib.routemat_map_create(_byref(handle), m, n, data, itype, flags)
        if status != _lib.OK:
            fail(status, f"Map(idx of {m} rows, n={n}, allow_drop={bool(allow_drop)})")
        self._ptr = handle.value
        self._idx = kept
        self._rows = lib.routemat_map_rows(self._ptr)
        self._cols = lib.routemat_map_cols(self._ptr)
        self._dropped = lib.routemat_map_dropped_rows(self._ptr)
        self._allow_drop = bool(allow_drop)

    def __del__(self):
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr:
            try:
                lib.routemat_map_destroy(ptr)
            except Exception:  # interpreter shutdown: the library may be gone already
                pass

    def __reduce__(self):  # pickle and copy.deepcopy build a new C map over the copied indices
        return (Map, (self._idx, self._cols, self._allow_drop))

    @property
    def rows(self):
        """m, the number of rows of G (outputs of a gather)."""
        return self._rows

    @property
    def cols(self):
        """n, the number of columns of G (rows of the gathered-from input)."""
        return self._cols

    @property
    def dropped_rows(self):
        """Rows whose index is the drop marker -1."""
        return self._dropped

    @property
    def allow_drop(self):
        return self._allow_drop

    @property
    def indices(self):
        """The index array the map reads (kept alive by the Map; do not modify it)."""
        return self._idx

    @property
    def _gather_map(self):
        return self._ptr

    def __repr__(self):
        return (f"routemat.Map(rows={self._rows}, cols={self._cols}, "
                f"dropped_rows={self._dropped})")


class Plan:
    """G^T of a Map as CSR, built once (O(m + n)) and reused for every call.

    Gives the deterministic plan scatter-add (ACCUMULATE or OVERWRITE),
    sum_forward and sum_backward; gathers through a plan use the plan's own
    copy of the map. The Plan keeps its Map (and so the indices) alive.
    """

    __slots__ = ("_ptr", "_map", "_map_ptr", "_facts", "__weakref__")

    def __init__(self, map):
        self._ptr = None
        if not isinstance(map, Map):
            raise RoutematTypeError(f"map: a {type(map).__qualname__} is not a routemat.Map")
        handle = ctypes.c_void_p()
        check(lib.routemat_plan_create(_byref(handle), map._ptr), f"Plan({map!r})")
        self._ptr = handle.value
        self._map = map
        self._map_ptr = lib.routemat_plan_map(self._ptr)
        facts = _lib.PlanFacts()
        check(lib.routemat_plan_get_facts(self._ptr, _byref(facts)), "routemat_plan_get_facts")
        self._facts = {
            "rows": facts.rows,
            "cols": facts.cols,
            "dropped_rows": facts.dropped_rows,
            "max_fan_in": facts.max_fan_in,
            "empty_cols": facts.empty_cols,
            "bytes": facts.bytes,
            "identity": bool(facts.identity),
            "permutation": bool(facts.permutation),
            "sorted": bool(facts.sorted),
        }

    def __del__(self):
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr:
            try:
                lib.routemat_plan_destroy(ptr)
            except Exception:
                pass

    def __reduce__(self):
        return (Plan, (self._map,))

    @property
    def map(self):
        return self._map

    @property
    def rows(self):
        return self._map._rows

    @property
    def cols(self):
        return self._map._cols

    @property
    def dropped_rows(self):
        return self._map._dropped

    @property
    def facts(self):
        """A dict of routemat_plan_facts: rows, cols, dropped_rows, max_fan_in,
        empty_cols, bytes (memory the plan owns), identity, permutation, sorted."""
        return dict(self._facts)

    @property
    def _gather_map(self):
        return self._map_ptr

    def __repr__(self):
        f = self._facts
        return (f"routemat.Plan(rows={f['rows']}, cols={f['cols']}, "
                f"dropped_rows={f['dropped_rows']}, max_fan_in={f['max_fan_in']})")


def _map_of(map_or_plan, op):
    if isinstance(map_or_plan, (Map, Plan)):
        return map_or_plan
    raise RoutematTypeError(f"{op}: the first argument, a {type(map_or_plan).__qualname__}, is "
                            "not a routemat.Map or routemat.Plan")


def _plan_of(map_or_plan, op):
    """The Plan, or a temporary one (built for this call) for a Map."""
    if isinstance(map_or_plan, Plan):
        return map_or_plan
    if isinstance(map_or_plan, Map):
        return Plan(map_or_plan)
    raise RoutematTypeError(f"{op}: the first argument, a {type(map_or_plan).__qualname__}, is "
                            "not a routemat.Plan or routemat.Map")


def _run(fn, handle, mp, op, src, src_name, src_dim, dst, dst_name, dst_dim, *extra):
    """Check src and dst against the map and each other, allocate dst when None, call fn.

    src_dim and dst_dim say which of G's sizes ("m" or "n") the rows must equal.
    """
    m, n = mp.rows, mp.cols
    src_rows = m if src_dim == "m" else n
    dst_rows = m if dst_dim == "m" else n
    s = value_view(src, src_name)
    if s[1] != src_rows:
        raise RoutematError(f"{op}: {src_name} has {s[1]} rows; G is {m} x {n}, so it needs "
                            f"{src_dim} = {src_rows}", "ROUTEMAT_ERROR_SHAPE_MISMATCH")
    if dst is None:
        dst = empty_like_rows(s[5], src, dst_rows, s[2], s[6])
    d = value_view(dst, dst_name, output=True)
    if d[1] != dst_rows:
        raise RoutematError(f"{op}: {dst_name} has {d[1]} rows; G is {m} x {n}, so it needs "
                            f"{dst_dim} = {dst_rows}", "ROUTEMAT_ERROR_SHAPE_MISMATCH")
    if d[4] != s[4]:
        raise RoutematTypeError(f"{op}: {dst_name} is {VALUE_NAMES[d[4]]} but {src_name} is "
                                f"{VALUE_NAMES[s[4]]}", "ROUTEMAT_ERROR_SHAPE_MISMATCH")
    if d[2] != s[2]:
        raise RoutematError(f"{op}: {dst_name} has rows of width {d[2]} but {src_name} of width "
                            f"{s[2]}", "ROUTEMAT_ERROR_SHAPE_MISMATCH")
    status = fn(handle, _pack(s[0], s[1], s[2], s[3], s[4]), _pack(d[0], d[1], d[2], d[3], d[4]),
                *extra)
    if status:
        fail(status, f"{op} (src = {src_name}, dst = {dst_name})")
    return dst


def gather(map_or_plan, U, out=None):
    """out = G U: out[i] = U[idx[i]] (zeros for a dropped row). Returns out.

    U has n rows (the map's cols); out has m rows, U's width and dtype. When
    out is None a new array of U's kind (NumPy or torch) is returned.
    """
    mp = _map_of(map_or_plan, "gather")
    return _run(_gather, mp._gather_map, mp, "gather", U, "U", "n", out, "out", "m")


def scatter_add(map_or_plan, dY, dU, overwrite=False):
    """dU += G^T dY (dU[idx[i]] += dY[i]), or dU = G^T dY with overwrite=True. Returns dU.

    dY has m rows, dU n rows. With a Plan this is the plan's deterministic
    scatter-add; with a Map and overwrite=False, routemat_scatter_add (no plan);
    with a Map and overwrite=True, a temporary Plan is built for the call.
    """
    mp = _map_of(map_or_plan, "scatter_add")
    if isinstance(mp, Map) and not overwrite:
        return _run(_scatter_add, mp._ptr, mp, "scatter_add", dY, "dY", "m", dU, "dU", "n")
    plan = _plan_of(mp, "scatter_add")
    mode = _lib.OVERWRITE if overwrite else _lib.ACCUMULATE
    return _run(_plan_scatter_add, plan._ptr, plan, "scatter_add", dY, "dY", "m", dU, "dU", "n",
                mode)


def sum_forward(plan, X, out=None):
    """out = G^T X, overwritten (the sum module's forward; zeros where no row routes).

    X has m rows, out n rows. A Map instead of a Plan builds a temporary Plan.
    """
    plan = _plan_of(plan, "sum_forward")
    return _run(_sum_forward, plan._ptr, plan, "sum_forward", X, "X", "m", out, "out", "n")


def sum_backward(plan, dV, out=None):
    """out = G dV, overwritten (the sum module's backward, a gather).

    dV has n rows, out m rows. A Map instead of a Plan builds a temporary Plan.
    """
    plan = _plan_of(plan, "sum_backward")
    return _run(_sum_backward, plan._ptr, plan, "sum_backward", dV, "dV", "n", out, "out", "m")


class Bags:
    """The m routes of a Map grouped into B bags, for bag_forward / bag_backward.

    ``Bags(map, offsets)``: bag b holds routes [offsets[b], offsets[b + 1]);
    offsets is a 1-D int32/int64 array of B + 1 entries, offsets[0] == 0,
    non-decreasing, offsets[B] == map.rows (empty bags allowed).
    ``Bags(map, bag_size=k)``: B = map.rows / k bags of k routes each (MoE
    top-k combine; k = 1 for weighted routes).

    The C object copies the offsets but reads the map's indices in place: the
    Bags keeps its Map (and so the indices) alive. A Plan may be given for the
    map; its Map is used.
    """

    __slots__ = ("_ptr", "_map", "_offsets", "_bag_size", "_count", "__weakref__")

    def __init__(self, map, offsets=None, *, bag_size=None):
        self._ptr = None
        if isinstance(map, Plan):
            map = map.map
        if not isinstance(map, Map):
            raise RoutematTypeError(f"map: a {type(map).__qualname__} is not a routemat.Map")
        if (offsets is None) == (bag_size is None):
            raise RoutematError("Bags: give exactly one of offsets and bag_size")
        handle = ctypes.c_void_p()
        if offsets is not None:
            kept, data, length, itype = index_array(offsets, "offsets")
            if length < 1:
                raise RoutematError("offsets: an empty array; B bags need B + 1 offsets",
                                    "ROUTEMAT_ERROR_SHAPE_MISMATCH")
            status = lib.routemat_bags_create(_byref(handle), map._ptr, length - 1, data, itype)
            if status != _lib.OK:
                fail(status, f"Bags({map!r}, offsets of {length} entries)")
        else:
            kept = None
            bag_size = as_int(bag_size, "bag_size")
            status = lib.routemat_bags_create_fixed(_byref(handle), map._ptr, bag_size)
            if status != _lib.OK:
                fail(status, f"Bags({map!r}, bag_size={bag_size})")
        self._ptr = handle.value
        self._map = map
        self._offsets = kept  # copied by the C object; kept for pickling
        self._bag_size = bag_size
        self._count = lib.routemat_bags_count(self._ptr)

    def __del__(self):
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr:
            try:
                lib.routemat_bags_destroy(ptr)
            except Exception:  # interpreter shutdown: the library may be gone already
                pass

    def __reduce__(self):
        if self._offsets is None:
            return (_bags_fixed, (self._map, self._bag_size))
        return (Bags, (self._map, self._offsets))

    @property
    def map(self):
        return self._map

    @property
    def count(self):
        """B, the number of bags (rows of bag_forward's output)."""
        return self._count

    @property
    def bag_size(self):
        """k for fixed-size bags, None for bags given by offsets."""
        return self._bag_size

    def __repr__(self):
        return (f"routemat.Bags(count={self._count}, rows={self._map.rows}, "
                f"cols={self._map.cols})")


def _bags_fixed(map, bag_size):  # for pickle: Bags' bag_size is keyword-only
    return Bags(map, bag_size=bag_size)


_REDUCE = {"sum": _lib.REDUCE_SUM, "mean": _lib.REDUCE_MEAN}


def _reduce_of(reduce):
    try:
        return _REDUCE[reduce]
    except (KeyError, TypeError):
        raise RoutematError(f"reduce: {reduce!r} is not 'sum' or 'mean'") from None


def _bags_of(bags, op):
    if isinstance(bags, Bags):
        return bags
    raise RoutematTypeError(f"{op}: bags, a {type(bags).__qualname__}, is not a routemat.Bags")


def _per_route(x, name, vtype, like_name, op, output=False):
    """(data, count) of a 1-D contiguous array of one value per route, of the rows' type.

    The C ABI takes these as a bare pointer of the rows' element type, so the
    dtype must be checked here: it cannot be there.
    """
    if x is None:
        return None, 0
    v = value_view(x, name, output)
    if v[6] != 1:
        raise RoutematError(f"{op}: {name} is {v[6]}-D; it needs one value per route (1-D)",
                            "ROUTEMAT_ERROR_SHAPE_MISMATCH")
    if v[1] > 1 and v[3] != 1:
        raise RoutematError(f"{name}: values must be contiguous (stride {v[3]})")
    if v[4] != vtype:
        raise RoutematTypeError(f"{op}: {name} is {VALUE_NAMES[v[4]]} but {like_name} is "
                                f"{VALUE_NAMES[vtype]}", "ROUTEMAT_ERROR_SHAPE_MISMATCH")
    return v[0], v[1]


def _per_route_context(weights, count, dw, dw_count):
    """Names the Python arguments behind the C ABI's weight_count / dw_count."""
    parts = [] if weights is None else [f"weights of {count} values"]
    if dw is not None:
        parts.append(f"dw of {dw_count} values")
    return f" ({', '.join(parts)})" if parts else ""


def bag_forward(bags, u, y=None, weights=None, reduce="sum"):
    """y[b] = scale(b) * sum over kept routes r of bag b of w[r] * u[idx[r]]. Returns y.

    u has the map's n rows; y (overwritten; allocated like u when None) has B
    rows. weights: None (all ones) or m values of u's dtype. reduce: 'sum'
    (scale 1) or 'mean' (1 / kept routes of the bag). Dropped routes add
    nothing; a bag without kept routes gives zeros.
    """
    bags = _bags_of(bags, "bag_forward")
    mode = _reduce_of(reduce)
    s = value_view(u, "u")
    w, wn = _per_route(weights, "weights", s[4], "u", "bag_forward")
    if y is None:
        y = empty_like_rows(s[5], u, bags._count, s[2], s[6])
    d = value_view(y, "y", output=True)
    status = _bag_forward(bags._ptr, _pack(s[0], s[1], s[2], s[3], s[4]), w, wn, mode,
                          _pack(d[0], d[1], d[2], d[3], d[4]))
    if status:
        fail(status, "bag_forward" + _per_route_context(weights, wn, None, 0))
    return y


def bag_backward(bags, dy, u=None, du=None, dw=None, weights=None, reduce="sum", plan=None):
    """The transpose of bag_forward and the weights' gradient. Returns (du, dw).

    du[idx[r]] += w[r] * scale(b) * dy[b] for every kept route r of bag b:
    du (n rows) is accumulated into; None allocates zeros like dy; False skips it.
    dw[r] = scale(b) * <dy[b], u[idx[r]]> (0 for a dropped route): dw (m
    values) is overwritten; None allocates it when u is given (else skips
    it); False skips it. weights and reduce as in bag_forward. plan: None, or
    a Plan of the bags' map (the deterministic pull; the same bits either way).
    A skipped output is returned as None.
    """
    bags = _bags_of(bags, "bag_backward")
    mode = _reduce_of(reduce)
    if plan is not None and not isinstance(plan, Plan):
        raise RoutematTypeError(f"bag_backward: plan, a {type(plan).__qualname__}, is not a "
                                "routemat.Plan")
    g = value_view(dy, "dy")
    w, wn = _per_route(weights, "weights", g[4], "dy", "bag_backward")
    src = None
    if u is not None:
        v = value_view(u, "u")
        src = _pack(v[0], v[1], v[2], v[3], v[4])
    if dw is None:
        dw = False if u is None else empty_like_rows(g[5], dy, bags._map.rows, 1, 1)
    if du is None:
        du = empty_like_rows(g[5], dy, bags._map.cols, g[2], g[6])
        du[...] = 0
    grad = None
    if du is not False:
        d = value_view(du, "du", output=True)
        grad = _pack(d[0], d[1], d[2], d[3], d[4])
    dw_data, dw_count = (None, 0) if dw is False else _per_route(dw, "dw", g[4], "dy",
                                                                  "bag_backward", output=True)
    status = _bag_backward(bags._ptr, None if plan is None else plan._ptr,
                           _pack(g[0], g[1], g[2], g[3], g[4]), src, w, wn, mode, grad,
                           dw_data, dw_count)
    if status:
        fail(status, "bag_backward" + _per_route_context(weights, wn, dw_data, dw_count))
    return (None if du is False else du), (None if dw is False else dw)


def set_num_threads(threads):
    """Threads of routemat's own pool, including the caller; 0 = one per hardware thread."""
    check(lib.routemat_set_num_threads(as_int(threads, "threads")), "set_num_threads")


def get_num_threads():
    """Threads the next operation may use."""
    return lib.routemat_get_num_threads()


def active_isa():
    """The instruction set routemat's kernels run: 'scalar', 'sse4_2', 'avx2', 'avx512', 'neon'."""
    isa = ctypes.c_int32()
    check(lib.routemat_active_isa(_byref(isa)), "active_isa")
    name = lib.routemat_isa_name(isa.value)
    return name.decode() if name else str(isa.value)


def _isa_value(name):
    try:
        return _lib.ISA_NAMES.index(name)
    except ValueError:
        raise RoutematError(f"isa: {name!r} is not one of {', '.join(_lib.ISA_NAMES)}") from None


def isa_supported(name):
    """Whether the ISA is compiled in and runs on this CPU/OS."""
    return bool(lib.routemat_isa_supported(_isa_value(name)))


def select_isa(name):
    """Make the kernels of this ISA active (process-wide)."""
    check(lib.routemat_select_isa(_isa_value(name)), "select_isa")


def set_plan_kernel(kernel):
    """'auto' (default), 'pull' or 'push': which kernel plan scatter-adds run (same results)."""
    try:
        value = _lib.PLAN_KERNELS.index(kernel)
    except ValueError:
        raise RoutematError(f"kernel: {kernel!r} is not one of "
                            f"{', '.join(_lib.PLAN_KERNELS)}") from None
    check(lib.routemat_set_plan_kernel(value), "set_plan_kernel")


def get_plan_kernel():
    value = lib.routemat_get_plan_kernel()
    return _lib.PLAN_KERNELS[value] if 0 <= value < len(_lib.PLAN_KERNELS) else str(value)


def set_stream_threshold(nbytes):
    """Outputs of at least this many bytes are written with non-temporal stores (< 0: never)."""
    check(lib.routemat_set_stream_threshold(as_int(nbytes, "nbytes")), "set_stream_threshold")


def get_stream_threshold():
    return lib.routemat_get_stream_threshold()
