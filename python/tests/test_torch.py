"""routemat's Python package with PyTorch CPU tensors, and its autograd modules.

Run: PYTHONPATH=<build>/python /usr/bin/python3 python/tests/test_torch.py
Exits 77 (ctest: skipped) when torch is not installed.
"""

import copy
import gc
import sys
import unittest

try:
    import torch
except ImportError:
    print("torch is not installed: skipping the PyTorch tests")
    sys.exit(77)
try:
    import numpy as np
except ImportError:  # torch works without numpy; the mixed tests are skipped then
    np = None

import routemat
import routemat.autograd as ra
from routemat import RoutematError, RoutematTypeError

README_IDX = [0, 1, 2, 2, 2]
VALUE_TYPES = (torch.float32, torch.float64)
INDEX_TYPES = (torch.int32, torch.int64)


def integer_values(gen, shape, dtype):
    """Integer-valued floats: every sum is exact, so any summation order agrees."""
    return torch.randint(-50, 50, shape, generator=gen).to(dtype)


def random_idx(gen, m, n, dtype, drop=0.0):
    idx = torch.randint(0, n, (m,), generator=gen)
    if drop:
        idx[torch.rand(m, generator=gen) < drop] = -1
    return idx.to(dtype)


def ref_gather(idx, U):
    """index_select, with zero rows for dropped (-1) rows."""
    keep = idx >= 0
    out = torch.index_select(U, 0, torch.where(keep, idx, torch.zeros_like(idx)))
    out[~keep] = 0
    return out


def ref_scatter(idx, dY, n):
    """index_add_ into zeros, dropped rows skipped."""
    keep = idx >= 0
    out = torch.zeros((n,) + tuple(dY.shape[1:]), dtype=dY.dtype)
    return out.index_add_(0, idx[keep], dY[keep])


class _FakeCudaTensor(torch.Tensor):
    """A CPU tensor that says it lives on cuda:0 (tests the device check without a GPU)."""

    @property
    def is_cpu(self):
        return False

    @property
    def device(self):
        return torch.device("cuda", 0)


class FunctionalTest(unittest.TestCase):
    def setUp(self):
        self.gen = torch.Generator().manual_seed(11)

    def test_readme(self):
        m = routemat.Map(torch.tensor(README_IDX), 3)
        p = routemat.Plan(m)
        u = torch.tensor([1.0, 2.0, 3.0])
        w = routemat.gather(p, u)
        self.assertIsInstance(w, torch.Tensor)
        self.assertTrue(torch.equal(w, torch.tensor([1.0, 2, 3, 3, 3])))
        dw = torch.tensor([1.0, 10, 100, 1000, 10000])
        self.assertTrue(torch.equal(routemat.scatter_add(p, dw, torch.zeros(3)),
                                    torch.tensor([1.0, 10, 11100])))

    def test_against_torch(self):
        n, m = 23, 71
        for vt in VALUE_TYPES:
            for it in INDEX_TYPES:
                for d in (None, 1, 5):
                    with self.subTest(value=vt, index=it, d=d):
                        tail = () if d is None else (d,)
                        idx = random_idx(self.gen, m, n, it)
                        U = integer_values(self.gen, (n,) + tail, vt)
                        dY = integer_values(self.gen, (m,) + tail, vt)
                        mp = routemat.Map(idx, n)
                        plan = routemat.Plan(mp)
                        expected_y = torch.index_select(U, 0, idx)
                        for g in (mp, plan):
                            y = routemat.gather(g, U)
                            self.assertEqual((y.dtype, y.shape), (vt, expected_y.shape))
                            self.assertTrue(torch.equal(y, expected_y))
                        self.assertTrue(torch.equal(routemat.sum_backward(plan, U), expected_y))
                        expected_du = torch.zeros((n,) + tail, dtype=vt).index_add_(0, idx, dY)
                        base = integer_values(self.gen, (n,) + tail, vt)
                        for g in (mp, plan):
                            got = routemat.scatter_add(g, dY, base.clone())
                            self.assertTrue(torch.equal(got, base + expected_du))
                            got = routemat.scatter_add(g, dY, torch.full_like(base, float("nan")),
                                                       overwrite=True)
                            self.assertTrue(torch.equal(got, expected_du))
                        self.assertTrue(torch.equal(routemat.sum_forward(plan, dY), expected_du))
                        if d is not None:
                            bag = torch.nn.functional.embedding_bag(
                                idx, U, torch.arange(m, dtype=it), mode="sum")
                            self.assertTrue(torch.equal(routemat.gather(mp, U), bag))

    def test_random_floats(self):
        idx = random_idx(self.gen, 300, 40, torch.int64)
        dY = torch.randn(300, 8, generator=self.gen)
        plan = routemat.Plan(routemat.Map(idx, 40))
        torch.testing.assert_close(routemat.sum_forward(plan, dY),
                                   torch.zeros(40, 8).index_add_(0, idx, dY),
                                   rtol=1e-5, atol=1e-5)

    def test_drops(self):
        for it in INDEX_TYPES:
            idx = random_idx(self.gen, 50, 9, it, drop=0.3)
            plan = routemat.Plan(routemat.Map(idx, 9, allow_drop=True))
            self.assertEqual(plan.dropped_rows, int((idx < 0).sum()))
            U = integer_values(self.gen, (9, 3), torch.float64)
            dY = integer_values(self.gen, (50, 3), torch.float64)
            self.assertTrue(torch.equal(routemat.gather(plan, U), ref_gather(idx, U)))
            self.assertTrue(torch.equal(routemat.sum_forward(plan, dY), ref_scatter(idx, dY, 9)))
            self.assertTrue(torch.equal(routemat.scatter_add(plan, dY, torch.zeros(9, 3)
                                                             .double()), ref_scatter(idx, dY, 9)))

    def test_row_strided_views(self):
        idx = random_idx(self.gen, 40, 12, torch.int32)
        mp = routemat.Map(idx, 12)
        plan = routemat.Plan(mp)
        wide_u = integer_values(self.gen, (12, 8), torch.float32)
        U = wide_u[:, 2:5]  # stride(0) = 8, width 3
        out_wide = torch.full((40, 6), 9.0)
        routemat.gather(mp, U, out_wide[:, 1:4])
        self.assertTrue(torch.equal(out_wide[:, 1:4], torch.index_select(U, 0, idx)))
        self.assertTrue(torch.equal(out_wide[:, [0, 4, 5]], torch.full((40, 3), 9.0)))
        wide_y = integer_values(self.gen, (40, 7), torch.float32)
        du_wide = torch.full((12, 5), 2.0)
        routemat.scatter_add(plan, wide_y[:, 4:7], du_wide[:, 1:4])
        self.assertTrue(torch.equal(du_wide[:, 1:4], 2.0 + ref_scatter(idx, wide_y[:, 4:7], 12)))
        self.assertTrue(torch.equal(du_wide[:, [0, 4]], torch.full((12, 2), 2.0)))
        # Every other row of a column slice, a strided vector, and a single column.
        X = wide_y[::2, 1:3]
        small = routemat.Plan(routemat.Map(idx[:20] % 5, 5))
        self.assertTrue(torch.equal(routemat.sum_forward(small, X),
                                    ref_scatter(idx[:20].long() % 5, X, 5)))
        self.assertTrue(torch.equal(routemat.gather(mp, wide_u[:, 3]),
                                    torch.index_select(wide_u[:, 3], 0, idx)))
        self.assertTrue(torch.equal(routemat.gather(mp, wide_u[:, 3:4]),
                                    torch.index_select(wide_u[:, 3:4], 0, idx)))

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_numpy_and_torch_mixed(self):
        idx = np.array([1, 0, 1], dtype=np.int64)
        mp = routemat.Map(idx, 2)
        out = torch.zeros(3, 2, dtype=torch.float64)
        routemat.gather(mp, np.array([[1.0, 2], [3, 4]]), out)
        self.assertTrue(torch.equal(out, torch.tensor([[3.0, 4], [1, 2], [3, 4]],
                                                      dtype=torch.float64)))
        self.assertIsInstance(routemat.gather(mp, np.ones(2)), np.ndarray)
        self.assertIsInstance(routemat.gather(mp, torch.ones(2)), torch.Tensor)
        t_idx = torch.tensor([1, 0, 1])
        self.assertEqual(routemat.Map(t_idx, 2).indices.data_ptr(), t_idx.data_ptr())  # no copy

    def test_tensor_index_is_kept_alive(self):
        mp = routemat.Map(torch.tensor([2, 2, 0], dtype=torch.int32), 3)
        gc.collect()
        self.assertTrue(torch.equal(routemat.gather(mp, torch.tensor([1.0, 2, 3])),
                                    torch.tensor([3.0, 3, 1])))


class BadInputTest(unittest.TestCase):
    def setUp(self):
        self.mp = routemat.Map(torch.tensor(README_IDX), 3)
        self.plan = routemat.Plan(self.mp)

    def assert_refused(self, call, out, error, status, message=None, fragment=None):
        before = None if out is None else out.clone()
        with self.assertRaises(error) as cm:
            call()
        if message is not None:
            self.assertEqual(str(cm.exception), message)
        if fragment is not None:
            self.assertIn(fragment, str(cm.exception))
        self.assertEqual(cm.exception.status, status)
        if out is not None:
            self.assertTrue(torch.equal(out, before), "the output changed")
        return cm.exception

    def test_dtype(self):
        out = torch.full((5,), 4.0)
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, dtype=torch.int32),
                                                    out), out, RoutematTypeError,
                            "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: dtype int32 is not float32, float64, bfloat16 or float16")
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, dtype=torch.complex64),
                                                    out), out, TypeError,
                            "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: dtype complex64 is not float32, float64, bfloat16 or float16")
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, dtype=torch.bfloat16),
                                                    out), out, RoutematTypeError,
                            "ROUTEMAT_ERROR_SHAPE_MISMATCH", "gather: out is float32 but U is "
                            "bfloat16")
        half = torch.full((3,), 4.0, dtype=torch.float16)
        self.assert_refused(lambda: routemat.scatter_add(self.plan, torch.ones(5, dtype=torch
                                                                               .bfloat16), half),
                            half, RoutematTypeError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "scatter_add: dU is float16 but dY is bfloat16")
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, dtype=torch.float64),
                                                    out), out, RoutematTypeError,
                            "ROUTEMAT_ERROR_SHAPE_MISMATCH", "gather: out is float32 but U is "
                            "float64")

    def test_non_cpu_tensors(self):
        out = torch.full((5,), 4.0)
        meta = torch.empty(3, device="meta")
        self.assert_refused(lambda: routemat.gather(self.mp, meta, out), out, RoutematError,
                            "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: tensor on meta; routemat runs on CPU tensors")
        fake_cuda = torch.ones(5).as_subclass(_FakeCudaTensor)
        du = torch.full((3,), 4.0)
        self.assert_refused(lambda: routemat.scatter_add(self.plan, fake_cuda, du), du,
                            RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "dY: tensor on cuda:0; routemat runs on CPU tensors")
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3),
                                                    torch.empty(5, device="meta")), None,
                            RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "out: tensor on meta; routemat runs on CPU tensors")
        self.assert_refused(lambda: routemat.Map(torch.zeros(2, dtype=torch.int64,
                                                             device="meta"), 3),
                            None, RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "idx: tensor on meta; routemat runs on CPU tensors")
        with self.assertRaises(RoutematError) as cm:
            ra.NodeModule(README_IDX, 3)(torch.ones(3, 2, device="meta"))
        self.assertIn("tensor on meta", str(cm.exception))

    def test_index_tensors(self):
        for dt in (torch.float32, torch.bool, torch.int16, torch.uint8):
            self.assert_refused(lambda: routemat.Map(torch.tensor([0, 1]).to(dt), 3), None,
                                RoutematTypeError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                                f"idx: dtype {str(dt)[6:]} is not int32 or int64 (indices must "
                                "be integers)")
        e = self.assert_refused(lambda: routemat.Map(torch.tensor([0, 3, 1]), 3), None,
                                RoutematError, "ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE")
        self.assertEqual(e.message, "index 3 at row 1 is outside [0, 3)")
        self.assert_refused(lambda: routemat.Map(torch.tensor([0, -1], dtype=torch.int32), 3),
                            None, RoutematError, "ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE",
                            fragment="index -1 at row 1 is outside [0, 3)")
        self.assert_refused(lambda: ra.NodeModule(torch.tensor([0, 5]), 3), None,
                            RoutematError, "ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE",
                            fragment="index 5 at row 1")
        self.assert_refused(lambda: routemat.Map(torch.zeros(2, 2, dtype=torch.int64), 3), None,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "idx: a 2-D tensor; the index map is 1-D")

    def test_layouts(self):
        out = torch.full((5, 2), 4.0)
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, 4)[:, ::2], out), out,
                            RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: rows must be contiguous along d (inner stride 2)")
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(2, 3).t(), out), out,
                            RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: rows must be contiguous along d (inner stride 3)")
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(1, 2).expand(3, 2), out),
                            out, RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: rows overlap (row stride 0 < width 2)")
        wide = torch.full((5, 4), 4.0)
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, 2), wide[:, ::2]),
                            wide, RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "out: rows must be contiguous along d (inner stride 2)")
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, 2, 1), out), out,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            fragment="U: a 3-D tensor")
        sparse = torch.ones(3, 2).to_sparse()
        self.assert_refused(lambda: routemat.gather(self.mp, sparse, out), out, RoutematError,
                            "ROUTEMAT_ERROR_INVALID_ARGUMENT", fragment="U: a torch.sparse_coo")

    def test_shapes(self):
        out = torch.full((5, 2), 4.0)
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(4, 2), out), out,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "gather: U has 4 rows; G is 5 x 3, so it needs n = 3")
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, 3), out), out,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "gather: out has rows of width 2 but U of width 3")
        du = torch.full((3, 2), 4.0)
        self.assert_refused(lambda: routemat.scatter_add(self.plan, torch.ones(4, 2), du), du,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "scatter_add: dY has 4 rows; G is 5 x 3, so it needs m = 5")
        self.assert_refused(lambda: routemat.sum_forward(self.plan, torch.ones(5, 2), du[:2]),
                            du, RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "sum_forward: out has 2 rows; G is 5 x 3, so it needs n = 3")
        with self.assertRaises(RoutematError):
            ra.SumModule(README_IDX, 3)(torch.ones(4, 2))

    def test_aliasing(self):
        buf = torch.arange(8.0)
        self.assert_refused(lambda: routemat.gather(self.mp, buf[:3], buf[2:7]), buf,
                            RoutematError, "ROUTEMAT_ERROR_ALIASING",
                            "gather (src = U, dst = out): dst overlaps src "
                            "[ROUTEMAT_ERROR_ALIASING]")

    def test_output_requiring_grad(self):
        out = torch.zeros(5, requires_grad=True)
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3), out), out,
                            RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            fragment="out: the tensor requires grad")


class AutogradTest(unittest.TestCase):
    def setUp(self):
        self.gen = torch.Generator().manual_seed(3)

    def test_node_module_matches_index_select(self):
        for it in INDEX_TYPES:
            for shape in ((3,), (3, 4)):
                idx = torch.tensor(README_IDX, dtype=it)
                node = ra.NodeModule(idx, 3)
                u = torch.randn(shape, generator=self.gen, dtype=torch.float64,
                                requires_grad=True)
                u_ref = u.detach().clone().requires_grad_()
                c = torch.randn((5,) + shape[1:], generator=self.gen, dtype=torch.float64)
                w = node(u)
                w_ref = torch.index_select(u_ref, 0, idx)
                self.assertTrue(torch.equal(w, w_ref))
                (w * c).sum().backward()
                (w_ref * c).sum().backward()
                torch.testing.assert_close(u.grad, u_ref.grad, rtol=1e-12, atol=1e-12)

    def test_sum_module_matches_index_add(self):
        idx = random_idx(self.gen, 30, 7, torch.int64)
        sm = ra.SumModule(idx, 7)
        x = integer_values(self.gen, (30, 3), torch.float32).requires_grad_()
        x_ref = x.detach().clone().requires_grad_()
        v = sm(x)
        v_ref = torch.zeros(7, 3).index_add(0, idx, x_ref)
        self.assertTrue(torch.equal(v, v_ref))
        c = integer_values(self.gen, (7, 3), torch.float32)
        (v * c).sum().backward()
        (v_ref * c).sum().backward()
        self.assertTrue(torch.equal(x.grad, x_ref.grad))

    def test_gradcheck_float64(self):
        cases = [(README_IDX, 3, False), ([2, 0, 1, 0, 2, 1], 3, False),
                 ([0, -1, 3, 3, -1, 0, 0], 5, True)]  # drops and empty columns
        for idx, n, drop in cases:
            node = ra.NodeModule(idx, n, allow_drop=drop)
            sm = ra.SumModule(idx, n, allow_drop=drop)
            m = len(idx)
            for tail in ((), (1,), (3,)):
                with self.subTest(idx=idx, tail=tail):
                    u = torch.randn((n,) + tail, dtype=torch.float64, generator=self.gen,
                                    requires_grad=True)
                    x = torch.randn((m,) + tail, dtype=torch.float64, generator=self.gen,
                                    requires_grad=True)
                    self.assertTrue(torch.autograd.gradcheck(node, (u,)))
                    self.assertTrue(torch.autograd.gradcheck(sm, (x,)))
                    self.assertTrue(torch.autograd.gradgradcheck(node, (u,)))
                    self.assertTrue(torch.autograd.gradgradcheck(sm, (x,)))
        plan = ra.make_plan([1, 1, 0], 2)
        u = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
        self.assertTrue(torch.autograd.gradcheck(lambda t: ra.node(plan, t), (u,)))
        x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
        self.assertTrue(torch.autograd.gradcheck(lambda t: ra.segment_sum(plan, t), (x,)))

    def test_one_plan_for_forward_and_backward(self):
        node = ra.NodeModule(README_IDX, 3)
        sm = ra.SumModule.from_plan(node.plan)
        self.assertIs(sm.plan, node.plan)
        built = []
        original = routemat.Plan.__init__

        def counting_init(self, *args, **kwargs):
            built.append(1)
            original(self, *args, **kwargs)

        routemat.Plan.__init__ = counting_init
        try:
            u = torch.ones(3, 2, requires_grad=True)
            v = sm(node(u) * 2.0)
            v.sum().backward()
        finally:
            routemat.Plan.__init__ = original
        self.assertEqual(built, [])
        self.assertTrue(torch.equal(u.grad, torch.tensor([[2.0, 2], [2, 2], [6, 6]])))

    def test_non_contiguous_gradients_and_inputs(self):
        idx = torch.tensor(README_IDX)
        node = ra.NodeModule(idx, 3)
        c = torch.randn(4, 5, generator=self.gen, dtype=torch.float64)
        u = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
        u_ref = u.detach().clone().requires_grad_()
        (node(u).t() * c).sum().backward()  # dW = c.t(): inner stride 5
        (torch.index_select(u_ref, 0, idx).t() * c).sum().backward()
        torch.testing.assert_close(u.grad, u_ref.grad, rtol=1e-12, atol=1e-12)
        u.grad = None
        node(u).sum().backward()  # dW is an expanded scalar: strides (0, 0)
        self.assertTrue(torch.equal(u.grad, torch.tensor([1.0, 1, 3]).double()[:, None]
                                    .expand(3, 4)))
        # A transposed input (inner stride != 1) is made contiguous by the module.
        base = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
        w = node(base.t())
        self.assertTrue(torch.equal(w, torch.index_select(base.t(), 0, idx)))
        w.sum().backward()
        self.assertTrue(torch.equal(base.grad, torch.tensor([1.0, 1, 3]).double()
                                    .expand(4, 3)))
        sm = ra.SumModule(idx, 3)
        x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
        sm(x).sum().backward()  # dV expanded
        self.assertTrue(torch.equal(x.grad, torch.ones(5, 2, dtype=torch.float64)))

    def test_float32_and_no_grad(self):
        node = ra.NodeModule(README_IDX, 3)
        with torch.no_grad():
            w = node(torch.ones(3, 2, requires_grad=True))
        self.assertFalse(w.requires_grad)
        w = node(torch.ones(3))
        self.assertFalse(w.requires_grad)
        self.assertEqual(w.dtype, torch.float32)
        with self.assertRaises(RoutematTypeError):
            node(torch.ones(3, dtype=torch.int16))
        for dt in (torch.bfloat16, torch.float16):  # 16-bit rows: forward and backward
            u = torch.arange(3.0, dtype=dt).requires_grad_()
            w = node(u)
            self.assertEqual(w.dtype, dt)
            w.backward(torch.ones(5, dtype=dt))
            self.assertTrue(torch.equal(u.grad, torch.tensor([1.0, 1, 3], dtype=dt)))

    def test_module_plumbing(self):
        node = ra.NodeModule(torch.tensor(README_IDX, dtype=torch.int32), 3)
        self.assertIn("rows=5, cols=3", repr(node))
        self.assertEqual(list(node.state_dict()), [])
        model = torch.nn.Sequential(node, torch.nn.Linear(2, 1))
        clone = copy.deepcopy(model)
        self.assertIsNot(clone[0].plan, node.plan)
        u = torch.ones(3, 2)
        self.assertTrue(torch.equal(clone[0](u), node(u)))
        self.assertIs(routemat.NodeModule, ra.NodeModule)  # the lazy attribute
        idx = torch.tensor([0, 1])
        module = ra.NodeModule(idx, 2)
        idx[0] = 1  # the module holds its own copy
        self.assertTrue(torch.equal(module(torch.tensor([5.0, 6])), torch.tensor([5.0, 6])))
        with self.assertRaises(RoutematTypeError):
            ra.node(routemat.Map(idx, 2), torch.ones(2))


HALF_TYPES = ((torch.bfloat16, 2.0 ** -7), (torch.float16, 2.0 ** -10))  # dtype, unit roundoff*2


class HalfTest(unittest.TestCase):
    """bf16/f16 rows: gathers move bits, sums run in f32 and round when stored."""

    def setUp(self):
        self.gen = torch.Generator().manual_seed(17)

    def test_gather_bit_exact(self):
        n, m = 41, 333
        for dt, _ in HALF_TYPES:
            for it in INDEX_TYPES:
                for tail in ((), (1,), (7,), (64,)):
                    with self.subTest(dtype=dt, index=it, tail=tail):
                        idx = random_idx(self.gen, m, n, it)
                        U = torch.randn((n,) + tail, generator=self.gen).to(dt)
                        U.view(-1)[:2] = torch.tensor([float("inf"), -0.0])  # propagate as-is
                        mp = routemat.Map(idx, n)
                        expected = torch.index_select(U, 0, idx).view(torch.int16)
                        for g in (mp, routemat.Plan(mp)):
                            y = routemat.gather(g, U)
                            self.assertEqual(y.dtype, dt)
                            self.assertTrue(torch.equal(y.view(torch.int16), expected))
                        self.assertTrue(torch.equal(routemat.sum_backward(routemat.Plan(mp), U)
                                                    .view(torch.int16), expected))
                        # A column slice: the row stride is passed through.
                        wide = torch.randn(n, 10, generator=self.gen).to(dt)
                        got = routemat.gather(mp, wide[:, 3:8])
                        self.assertTrue(torch.equal(got, torch.index_select(wide[:, 3:8], 0,
                                                                            idx)))

    def test_scatter_add_close_to_f64(self):
        n, m, d = 29, 500, 16
        for dt, eps in HALF_TYPES:
            for drop in (0.0, 0.2):
                with self.subTest(dtype=dt, drop=drop):
                    idx = random_idx(self.gen, m, n, torch.int64, drop)
                    plan = routemat.Plan(routemat.Map(idx, n, allow_drop=bool(drop)))
                    dY = torch.randn(m, d, generator=self.gen).to(dt)
                    base = torch.randn(n, d, generator=self.gen).to(dt)
                    exact = base.double() + ref_scatter(idx, dY.double(), n)
                    sums = (exact - base.double()).abs().max()
                    tol = 4 * eps * max(exact.abs().max(), sums)
                    for g in (plan.map, plan):
                        got = routemat.scatter_add(g, dY, base.clone())
                        self.assertEqual(got.dtype, dt)
                        self.assertLessEqual((got.double() - exact).abs().max(), tol)
                    got = routemat.sum_forward(plan, dY)
                    self.assertLessEqual((got.double() - (exact - base.double())).abs().max(),
                                         tol)


def ref_bags(idx, offsets, U, w, mean):
    """Per bag, in f64: the (weighted) sum of its kept routes, divided by their count for mean."""
    rows = []
    for b in range(len(offsets) - 1):
        acc = torch.zeros(U.shape[1:], dtype=torch.float64)
        kept = 0
        for r in range(int(offsets[b]), int(offsets[b + 1])):
            if idx[r] >= 0:
                acc += (1.0 if w is None else float(w[r])) * U[idx[r]].double()
                kept += 1
        rows.append(acc / kept if mean and kept else acc)
    return torch.stack(rows) if rows else torch.zeros((0,) + U.shape[1:], dtype=torch.float64)


class BagsTest(unittest.TestCase):
    def setUp(self):
        self.gen = torch.Generator().manual_seed(23)

    def test_embedding_bag_matches_torch(self):
        F = torch.nn.functional
        n, d = 30, 5
        for vt, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
            for it in INDEX_TYPES:
                idx = random_idx(self.gen, 40, n, it)
                starts = torch.tensor([0, 0, 3, 9, 9, 9, 20, 39], dtype=it)  # empty bags too
                U = torch.randn(n, d, generator=self.gen, dtype=vt)
                psw = torch.randn(40, generator=self.gen, dtype=vt)
                for mode in ("sum", "mean"):
                    with self.subTest(value=vt, index=it, mode=mode):
                        got = ra.embedding_bag(idx, U, starts, mode=mode)
                        want = F.embedding_bag(idx, U, starts, mode=mode)
                        self.assertEqual((got.dtype, got.shape), (vt, want.shape))
                        torch.testing.assert_close(got, want, rtol=tol, atol=tol)
                        self.assertTrue(torch.equal(got[0], torch.zeros(d, dtype=vt)))
                        self.assertTrue(torch.equal(got[3], torch.zeros(d, dtype=vt)))
                got = ra.embedding_bag(idx, U, starts, mode="sum", per_sample_weights=psw)
                want = F.embedding_bag(idx, U, starts, mode="sum", per_sample_weights=psw)
                torch.testing.assert_close(got, want, rtol=tol, atol=tol)
                # 2-D input: fixed bags; and bag_size with 1-D input.
                for mode in ("sum", "mean"):
                    want = F.embedding_bag(idx.view(8, 5), U, mode=mode)
                    torch.testing.assert_close(ra.embedding_bag(idx.view(8, 5), U, mode=mode),
                                               want, rtol=tol, atol=tol)
                    torch.testing.assert_close(ra.embedding_bag(idx, U, bag_size=5, mode=mode),
                                               want, rtol=tol, atol=tol)
        no_routes = torch.zeros(0, dtype=torch.int64)
        self.assertEqual(ra.embedding_bag(no_routes, torch.ones(2, 3), []).shape, (0, 3))
        self.assertTrue(torch.equal(ra.embedding_bag(no_routes, torch.ones(2, 3), [0, 0]),
                                    torch.zeros(2, 3)))

    def test_gradients_match_torch(self):
        F = torch.nn.functional
        idx = random_idx(self.gen, 25, 12, torch.int64)
        starts = torch.tensor([0, 4, 4, 11, 17])
        for mode in ("sum", "mean"):
            U = torch.randn(12, 3, generator=self.gen, dtype=torch.float64, requires_grad=True)
            U_ref = U.detach().clone().requires_grad_()
            psw = (torch.randn(25, generator=self.gen, dtype=torch.float64).requires_grad_()
                   if mode == "sum" else None)
            psw_ref = None if psw is None else psw.detach().clone().requires_grad_()
            c = torch.randn(5, 3, generator=self.gen, dtype=torch.float64)
            (ra.embedding_bag(idx, U, starts, mode=mode, per_sample_weights=psw) * c).sum() \
                .backward()
            (F.embedding_bag(idx, U_ref, starts, mode=mode, per_sample_weights=psw_ref) * c) \
                .sum().backward()
            torch.testing.assert_close(U.grad, U_ref.grad, rtol=1e-12, atol=1e-12)
            if psw is not None:
                torch.testing.assert_close(psw.grad, psw_ref.grad, rtol=1e-12, atol=1e-12)

    def test_drops_and_weighted_mean(self):
        idx = torch.tensor([3, -1, 0, -1, -1, 2, 2])
        offsets = torch.tensor([0, 2, 5, 7])
        U = torch.randn(4, 2, generator=self.gen, dtype=torch.float64)
        w = torch.randn(7, generator=self.gen, dtype=torch.float64)
        bags = routemat.Bags(routemat.Map(idx, 4, allow_drop=True), offsets)
        for reduce in ("sum", "mean"):
            for weights in (None, w):
                got = routemat.bag_forward(bags, U, weights=weights, reduce=reduce)
                torch.testing.assert_close(got, ref_bags(idx, offsets, U, weights,
                                                         reduce == "mean"),
                                           rtol=1e-12, atol=1e-12)
        got = ra.embedding_bag(idx, U, offsets[:-1], mode="mean", allow_drop=True)
        torch.testing.assert_close(got, torch.stack([U[3], U[0], U[2]]), rtol=0, atol=0)
        with self.assertRaises(RoutematError):
            ra.embedding_bag(idx, U, offsets[:-1])  # -1 without allow_drop

    def test_half_bags(self):
        n, d = 19, 8
        idx = random_idx(self.gen, 60, n, torch.int32)
        offsets = torch.tensor([0, 10, 10, 31, 60])
        for dt, eps in HALF_TYPES:
            U = torch.randn(n, d, generator=self.gen).to(dt)
            w = torch.rand(60, generator=self.gen).to(dt)
            bags = routemat.Bags(routemat.Map(idx, n), offsets)
            for reduce in ("sum", "mean"):
                with self.subTest(dtype=dt, reduce=reduce):
                    got = routemat.bag_forward(bags, U, weights=w, reduce=reduce)
                    self.assertEqual(got.dtype, dt)
                    exact = ref_bags(idx, offsets, U, w, reduce == "mean")
                    self.assertLessEqual((got.double() - exact).abs().max(),
                                         4 * eps * exact.abs().max())

    def test_moe_top2_combine(self):
        tokens, experts_rows, d, k = 37, 74, 6, 2
        # Route 2t + j takes token t's j-th expert output row; weights are the gates.
        idx = torch.randperm(experts_rows, generator=self.gen)
        gates = torch.rand(tokens * k, generator=self.gen, dtype=torch.float64)
        X = torch.randn(experts_rows, d, generator=self.gen, dtype=torch.float64,
                        requires_grad=True)
        X_ref = X.detach().clone().requires_grad_()
        gates_ref = gates.clone().requires_grad_()
        gates.requires_grad_()
        module = ra.BagModule(idx, experts_rows, bag_size=k)
        y = module(X, gates)
        token = torch.arange(tokens).repeat_interleave(k)
        picked = torch.index_select(X_ref, 0, idx) * gates_ref[:, None]
        y_ref = torch.zeros(tokens, d, dtype=torch.float64).index_add(0, token, picked)
        torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
        c = torch.randn(tokens, d, generator=self.gen, dtype=torch.float64)
        (y * c).sum().backward()
        (y_ref * c).sum().backward()
        torch.testing.assert_close(X.grad, X_ref.grad, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gates.grad, gates_ref.grad, rtol=1e-12, atol=1e-12)

    def test_gradcheck_float64(self):
        cases = [([0, 2, 1, 1, 3], 4, [0, 2, 2, 5], False),
                 ([1, -1, 0, 2, -1, 2], 3, [0, 1, 4, 6], True)]
        for idx, n, offsets, drop in cases:
            mp = routemat.Map(torch.tensor(idx), n, allow_drop=drop)
            bags = routemat.Bags(mp, torch.tensor(offsets))
            plan = routemat.Plan(mp)
            for reduce in ("sum", "mean"):
                for tail in ((), (3,)):
                    with self.subTest(idx=idx, reduce=reduce, tail=tail):
                        U = torch.randn((n,) + tail, dtype=torch.float64, generator=self.gen,
                                        requires_grad=True)
                        w = torch.randn(len(idx), dtype=torch.float64, generator=self.gen,
                                        requires_grad=True)
                        self.assertTrue(torch.autograd.gradcheck(
                            lambda u, v: ra.bag(bags, u, v, reduce, plan), (U, w)))
                        self.assertTrue(torch.autograd.gradcheck(
                            lambda u: ra.bag(bags, u, None, reduce), (U,)))

    def test_one_plan_for_forward_and_backward(self):
        module = ra.BagModule([0, 1, 1, 2], 3, offsets=[0, 1, 4])
        built = []
        original = routemat.Plan.__init__

        def counting_init(self, *args, **kwargs):
            built.append(1)
            original(self, *args, **kwargs)

        routemat.Plan.__init__ = counting_init
        try:
            u = torch.ones(3, 2, requires_grad=True)
            module(u).sum().backward()
        finally:
            routemat.Plan.__init__ = original
        self.assertEqual(built, [])
        self.assertTrue(torch.equal(u.grad, torch.tensor([[1.0, 1], [2, 2], [1, 1]])))
        clone = copy.deepcopy(module)
        self.assertTrue(torch.equal(clone(u), module(u)))


class BagsBadInputTest(unittest.TestCase):
    def setUp(self):
        self.mp = routemat.Map(torch.tensor([0, 1, 2, 2]), 3)
        self.bags = routemat.Bags(self.mp, torch.tensor([0, 2, 4]))

    def refused(self, call, outs, error, status, fragment):
        before = [o.clone() for o in outs]
        with self.assertRaises(error) as cm:
            call()
        self.assertEqual(cm.exception.status, status)
        self.assertIn(fragment, str(cm.exception))
        for o, b in zip(outs, before):
            self.assertTrue(torch.equal(o, b), "an output changed")
        return cm.exception

    def test_offsets(self):
        e = self.refused(lambda: routemat.Bags(self.mp, torch.tensor([0, 3, 1, 4])), [],
                         RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT", "offsets decrease")
        self.assertIn("offsets[1] = 3 > offsets[2] = 1", e.message)
        self.refused(lambda: routemat.Bags(self.mp, torch.tensor([0, 2, 3])), [], RoutematError,
                     "ROUTEMAT_ERROR_INVALID_ARGUMENT", "the last bag must end at the map's rows")
        self.refused(lambda: routemat.Bags(self.mp, torch.tensor([0.0, 4.0])), [],
                     RoutematTypeError, "ROUTEMAT_ERROR_INVALID_ARGUMENT", "offsets: dtype")
        self.refused(lambda: routemat.Bags(self.mp), [], RoutematError,
                     "ROUTEMAT_ERROR_INVALID_ARGUMENT", "exactly one of offsets and bag_size")
        self.refused(lambda: ra.embedding_bag(torch.tensor([0, 1, 2]), torch.ones(3, 2),
                                              torch.tensor([0, 2, 1])), [], RoutematError,
                     "ROUTEMAT_ERROR_INVALID_ARGUMENT", "offsets decrease")

    def test_weights(self):
        y = torch.full((2, 2), 7.0)
        U = torch.ones(3, 2)
        self.refused(lambda: routemat.bag_forward(self.bags, U, y, weights=torch.ones(3)), [y],
                     RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                     "bag_forward (weights of 3 values): weight_count 3 differs from the map's "
                     "rows m = 4")
        self.refused(lambda: routemat.bag_forward(self.bags, U, y,
                                                  weights=torch.ones(4, dtype=torch.float64)),
                     [y], RoutematTypeError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                     "bag_forward: weights is float64 but u is float32")
        self.refused(lambda: routemat.bag_forward(self.bags, U, y, weights=torch.ones(8)[::2]),
                     [y], RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                     "weights: values must be contiguous (stride 2)")
        du, dw = torch.full((3, 2), 5.0), torch.full((4,), 5.0)
        self.refused(lambda: routemat.bag_backward(self.bags, torch.ones(2, 2), U, du, dw,
                                                   weights=torch.ones(5)), [du, dw],
                     RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH", "weight_count 5")
        self.refused(lambda: routemat.bag_backward(self.bags, torch.ones(2, 2), U, du,
                                                   torch.full((3,), 5.0)), [du],
                     RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH", "dw_count 3")
        self.refused(lambda: ra.embedding_bag(torch.tensor([0, 1, 2]), torch.ones(3, 2),
                                              torch.tensor([0]), mode="sum",
                                              per_sample_weights=torch.ones(2)), [],
                     RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH", "weight_count 2")

    def test_devices_dtypes_and_modes(self):
        y = torch.full((2, 2), 7.0)
        fake_cuda = torch.ones(3, 2).as_subclass(_FakeCudaTensor)
        self.refused(lambda: routemat.bag_forward(self.bags, fake_cuda, y), [y], RoutematError,
                     "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                     "u: tensor on cuda:0; routemat runs on CPU tensors")
        self.refused(lambda: routemat.bag_forward(self.bags, torch.ones(3, 2, dtype=torch.int32),
                                                  y), [y], RoutematTypeError,
                     "ROUTEMAT_ERROR_INVALID_ARGUMENT", "u: dtype int32 is not")
        self.refused(lambda: routemat.bag_forward(self.bags, torch.ones(3, 2).double(), y), [y],
                     RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                     "u holds f64 values but y holds f32")
        self.refused(lambda: routemat.bag_forward(self.bags, torch.ones(4, 2), y), [y],
                     RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH", "u")
        self.refused(lambda: routemat.bag_forward(self.bags, torch.ones(3, 2), y, reduce="max"),
                     [y], RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT", "reduce: 'max'")
        du = torch.full((3, 2), 5.0)
        self.refused(lambda: routemat.bag_backward(self.bags, fake_cuda[:2], du=du), [du],
                     RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT", "dy: tensor on cuda:0")
        other = routemat.Plan(routemat.Map(torch.tensor([0, 1, 2, 2]), 3))
        self.refused(lambda: routemat.bag_backward(self.bags, torch.ones(2, 2), du=du,
                                                   plan=other), [du], RoutematError,
                     "ROUTEMAT_ERROR_INVALID_ARGUMENT", "plan was built from another map")
        self.refused(lambda: ra.embedding_bag(torch.tensor([0, 1]), torch.ones(3, 2),
                                              torch.tensor([0]).as_subclass(_FakeCudaTensor)),
                     [], RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                     "offsets: tensor on cuda:0")
        self.refused(lambda: ra.embedding_bag(torch.tensor([0, 1]), torch.ones(3, 2),
                                              torch.tensor([0]), mode="max"), [], RoutematError,
                     "ROUTEMAT_ERROR_INVALID_ARGUMENT", "reduce: 'max'")
        self.refused(lambda: ra.bag(self.mp, torch.ones(3, 2)), [], RoutematTypeError,
                     "ROUTEMAT_ERROR_INVALID_ARGUMENT", "is not a routemat.Bags")


if __name__ == "__main__":
    unittest.main(verbosity=2)
