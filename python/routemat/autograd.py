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
expanded gradient) is made contiguous first; float32/float64 CPU tensors only.

    import routemat.autograd as ra
    node = ra.NodeModule([0, 1, 2, 2, 2], 3)   # w = G u, the README's 5 x 3 G
    w = node(u)                                # u: (3,) or (3, k), requires_grad
"""

import torch

from . import _core
from ._core import Map, Plan

__all__ = ["node", "segment_sum", "NodeModule", "SumModule", "make_plan"]


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

    U: (n,) or (n, d) float32/float64 CPU tensor; W: (m,) or (m, d).
    """
    _check_plan(plan, "node")
    return _G.apply(U, plan, "node")


def segment_sum(plan, X):
    """V = G^T X with autograd (the sum module): backward dX = G dV through the plan.

    X: (m,) or (m, d) float32/float64 CPU tensor; V: (n,) or (n, d), zeros where
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
