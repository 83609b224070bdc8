"""PyTorch autograd for routemat's two modules (imports torch; ``import routemat`` does not).

A routing matrix G (m x n) gives a network two modules, each an autograd pair
that runs on one Plan, built once:

==========================  ================================  =================================
module                      forward                           backward
==========================  ================================  =================================
node (weight sharing,       ``W = G U`` (gather)              ``dU = G^T dW`` (plan scatter-add,
branching): ``node``                                          OVERWRITE into a fresh tensor)
sum (fan-in):               ``V = G^T X`` (``sum_forward``)   ``dX = G dV`` (``sum_backward``)
``segment_sum``
==========================  ================================  =================================

Each backward is itself differentiable (it is the other kind of product), so
double backward works too. Inputs and incoming gradients of any layout are
accepted: a tensor whose strides the C ABI cannot take (e.g. a transposed or
expanded gradient) is made contiguous first; float32/float64/bfloat16/float16
CPU tensors only.

Bags (``bag``, ``BagModule``, ``embedding_bag``): ``Y[b] = scale(b) * sum of
w[r] * U[idx[r]]`` over the routes r of bag b (EmbeddingBag sum/mean, MoE top-k
combine), with gradients for U and for the per-route weights w. Their
backward is first-order only (once_differentiable).

    import routemat.autograd as ra
    node = ra.NodeModule([0, 1, 2, 2, 2], 3)   # w = G u, the README's 5 x 3 G
    w = node(u)                                # u: (3,) or (3, k), requires_grad
"""

import torch

from . import _core
from ._core import Bags, Map, Plan

__all__ = ["node", "segment_sum", "NodeModule", "SumModule", "make_plan", "bag", "BagModule",
           "embedding_bag"]


def _layout_ok(t):
    """Whether routemat takes t's strides as they are (see _arrays._layout)."""
    nd = t.dim()
    if nd == 1:
        return t.shape[0] <= 1 or t.stride(0) >= 1
    if nd == 2:
        rows, width = t.shape
        s0, s1 = t.stride()
        return (width <= 1 or s1 == 1) and (rows <= 1 or s0 >= width)
    return True  # other ranks: let routemat name the error


def _rows(t):
    return t if _layout_ok(t) else t.contiguous()


def _g(plan, kind, x):
    """G x: kind "node" is the node module's forward, "sum" the sum module's backward."""
    if kind == "node":
        return _core.gather(plan, _rows(x))
    return _core.sum_backward(plan, _rows(x))


def _gt(plan, kind, x):
    """G^T x: kind "node" is the node module's backward, "sum" the sum module's forward."""
    x = _rows(x)
    if kind == "node":
        shape = (plan.cols, x.shape[1]) if x.dim() == 2 else (plan.cols,)
        out = torch.empty(shape, dtype=x.dtype)
        return _core.scatter_add(plan, x, out, overwrite=True)
    return _core.sum_forward(plan, x)


class _G(torch.autograd.Function):
    """y = G x; backward dx = G^T dy."""

    @staticmethod
    def forward(ctx, x, plan, kind):
        ctx.plan, ctx.kind = plan, kind
        return _g(plan, kind, x)

    @staticmethod
    def backward(ctx, dy):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        return _GT.apply(dy, ctx.plan, ctx.kind), None, None


class _GT(torch.autograd.Function):
    """y = G^T x; backward dx = G dy."""

    @staticmethod
    def forward(ctx, x, plan, kind):
        ctx.plan, ctx.kind = plan, kind
        return _gt(plan, kind, x)

    @staticmethod
    def backward(ctx, dy):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        return _G.apply(dy, ctx.plan, ctx.kind), None, None


def _check_plan(plan, op):
    if not isinstance(plan, Plan):
        raise _core.RoutematTypeError(f"{op}: plan, a {type(plan).__qualname__}, is not a "
                                      "routemat.Plan (build one with routemat.Plan(routemat.Map("
                                      "idx, n)) or make_plan(idx, n))")


def node(plan, U):
    """W = G U with autograd (the node module): backward dU = G^T dW through the plan.

    U: (n,) or (n, d) float32/float64/bfloat16/float16 CPU tensor; W: (m,) or (m, d).
    """
    _check_plan(plan, "node")
    return _G.apply(U, plan, "node")


def segment_sum(plan, X):
    """V = G^T X with autograd (the sum module): backward dX = G dV through the plan.

    X: (m,) or (m, d) float CPU tensor (as for node); V: (n,) or (n, d), zeros where
    no row routes.
    """
    _check_plan(plan, "segment_sum")
    return _GT.apply(X, plan, "sum")


def make_plan(idx, n, allow_drop=False):
    """A Plan over a private copy of idx (so later changes to idx cannot affect it)."""
    return Plan(Map(idx, n, allow_drop, copy=True))


class _Routed(torch.nn.Module):
    def __init__(self, idx, n, allow_drop=False):
        super().__init__()
        self.plan = make_plan(idx, n, allow_drop)

    @classmethod
    def from_plan(cls, plan):
        """A module over an existing Plan (e.g. shared with another module)."""
        _check_plan(plan, cls.__name__)
        module = cls.__new__(cls)
        torch.nn.Module.__init__(module)
        module.plan = plan
        return module

    @property
    def idx(self):
        """The index map (a private copy; do not modify it)."""
        return self.plan.map.indices

    def extra_repr(self):
        p = self.plan
        return f"rows={p.rows}, cols={p.cols}, dropped_rows={p.dropped_rows}"


class NodeModule(_Routed):
    """The node module, ``W = G U``: weight sharing and branching.

    ``NodeModule(idx, n, allow_drop=False)`` builds the map and plan once (over
    a copy of idx); ``forward(U)`` takes (n,) or (n, d) and returns (m,) or
    (m, d). The backward, ``dU = G^T dW``, runs on the same plan.
    """

    def forward(self, U):
        return _G.apply(U, self.plan, "node")


class SumModule(_Routed):
    """The sum module, ``V = G^T X``: fan-in (segment sum).

    ``SumModule(idx, n, allow_drop=False)`` builds the map and plan once;
    ``forward(X)`` takes (m,) or (m, d) and returns (n,) or (n, d). The
    backward, ``dX = G dV``, is a gather on the same plan.
    """

    def forward(self, X):
        return _GT.apply(X, self.plan, "sum")


class _Bag(torch.autograd.Function):
    """Y = bag_forward(U, weights); backward dU and dweights in one bag_backward, on the plan."""

    @staticmethod
    def forward(ctx, U, weights, bags, plan, reduce):
        U = _rows(U)
        if weights is not None and not weights.is_contiguous():
            weights = weights.contiguous()
        ctx.bags, ctx.plan, ctx.reduce = bags, plan, reduce
        ctx.save_for_backward(U, weights)
        return _core.bag_forward(bags, U, weights=weights, reduce=reduce)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        need_u, need_w = ctx.needs_input_grad[:2]
        if not (need_u or need_w):
            return None, None, None, None, None
        U, weights = ctx.saved_tensors
        # u is read only for dw; False skips an output nobody asked for.
        du, dw = _core.bag_backward(ctx.bags, _rows(dy), u=U if need_w else None,
                                    du=None if need_u else False, dw=None if need_w else False,
                                    weights=weights, reduce=ctx.reduce, plan=ctx.plan)
        return du, dw, None, None, None


def _check_bags(bags, op):
    if not isinstance(bags, Bags):
        raise _core.RoutematTypeError(f"{op}: bags, a {type(bags).__qualname__}, is not a "
                                      "routemat.Bags")


def bag(bags, U, weights=None, reduce="sum", plan=None):
    """Y = the bags' reduction of U with autograd (routemat.bag_forward / bag_backward).

    U: (n,) or (n, d); Y: (B,) or (B, d). weights: None or (m,) of U's dtype,
    per route (gradients flow to it when it requires grad). reduce: 'sum' or
    'mean'. plan: a Plan of bags.map for the backward's dU (pass the same one
    every step to build it once), or None (the plan-less backward: same bits).
    """
    _check_bags(bags, "bag")
    if plan is not None:
        _check_plan(plan, "bag")
    _core._reduce_of(reduce)  # refuse a bad mode before autograd records anything
    return _Bag.apply(U, weights, bags, plan, reduce)


class BagModule(torch.nn.Module):
    """Bags as a module: the Map (over a copy of idx), its Plan and the Bags built once.

    ``BagModule(idx, n, offsets=None, bag_size=None, reduce='sum', allow_drop=False)``:
    offsets has B + 1 entries (see routemat.Bags), or bag_size gives bags of
    that many routes. ``forward(U, weights=None)``: (n, d) -> (B, d); forward
    and backward use the one plan.
    """

    def __init__(self, idx, n, offsets=None, bag_size=None, reduce="sum", allow_drop=False):
        super().__init__()
        _core._reduce_of(reduce)
        self.plan = make_plan(idx, n, allow_drop)
        self.bags = Bags(self.plan.map, offsets, bag_size=bag_size)
        self.reduce = reduce

    def forward(self, U, weights=None):
        return _Bag.apply(U, weights, self.bags, self.plan, self.reduce)

    def extra_repr(self):
        return (f"bags={self.bags.count}, rows={self.plan.rows}, cols={self.plan.cols}, "
                f"reduce={self.reduce!r}")


def embedding_bag(input_idx, weight, offsets=None, bag_size=None, mode="mean",
                  per_sample_weights=None, *, allow_drop=False):
    """torch.nn.functional.embedding_bag (include_last_offset=False) on routemat.

    input_idx: 1-D indices into weight's rows with offsets (B bag starts, as
    torch's) or bag_size; or 2-D (B, k) for bags of k (offsets None).
    mode: 'mean' (torch's default) or 'sum' (no 'max'); per_sample_weights: like input_idx, of
    weight's dtype (unlike torch, also allowed with 'mean': the weighted sum
    over the bag's kept routes, divided by their count). allow_drop: index -1
    drops a route (it adds nothing and counts for no mean). An empty bag gives
    zeros. Returns (B, d).

    The map reads input_idx in place (no copy): do not modify it before the
    backward. A Plan is built only when weight needs a gradient.
    """
    _core._reduce_of(mode)
    if isinstance(input_idx, torch.Tensor) and input_idx.dim() == 2:
        if offsets is not None:
            raise _core.RoutematError("offsets: must be None when input_idx is 2-D (B, k)")
        bag_size = input_idx.shape[1]
        input_idx = input_idx.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    if (offsets is None) == (bag_size is None):
        raise _core.RoutematError("embedding_bag: give exactly one of offsets and bag_size "
                                  "(or a 2-D input_idx)")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise _core.RoutematError("weight: embedding_bag needs a 2-D (n, d) tensor",
                                  "ROUTEMAT_ERROR_SHAPE_MISMATCH")
    mp = Map(input_idx, weight.shape[0], allow_drop)
    if offsets is not None:
        if not isinstance(offsets, torch.Tensor):
            offsets = torch.as_tensor(offsets, dtype=torch.int64)
        starts = _core.index_array(offsets, "offsets")[0]  # checks device, dtype, 1-D
        # torch gives the B starts; routemat wants B + 1 offsets ending at m.
        bags = Bags(mp, torch.cat([starts, starts.new_tensor([mp.rows])]))
    else:
        bags = Bags(mp, bag_size=bag_size)
    plan = Plan(mp) if torch.is_grad_enabled() and weight.requires_grad else None
    return _Bag.apply(weight, per_sample_weights, bags, plan, mode)
