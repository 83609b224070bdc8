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
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, dtype=torch.float16),
                                                    out), out, RoutematTypeError,
                            "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: dtype float16 is not float32 or float64")
        self.assert_refused(lambda: routemat.gather(self.mp, torch.ones(3, dtype=torch.bfloat16),
                                                    out), out, TypeError,
                            "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: dtype bfloat16 is not float32 or float64")
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
            node(torch.ones(3, dtype=torch.float16))

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
