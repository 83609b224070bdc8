"""routemat's Python package with NumPy arrays only (torch is never imported).

Run: PYTHONPATH=<build>/python /usr/bin/python3 python/tests/test_numpy.py
Exits 77 (ctest: skipped) when NumPy is not installed.
"""

import copy
import gc
import os
import pickle
import sys
import unittest

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipping the NumPy tests")
    sys.exit(77)

import routemat
from routemat import RoutematError, RoutematTypeError

README_IDX = [0, 1, 2, 2, 2]  # the README's 5 x 3 weight sharing G


def reference_gather(idx, U):
    """U[idx] with zero rows for idx == -1."""
    idx = np.asarray(idx)
    out = np.zeros((len(idx),) + U.shape[1:], U.dtype)
    keep = idx >= 0
    out[keep] = U[idx[keep]]
    return out


def reference_scatter(idx, dY, n):
    """G^T dY, summed in row order (np.add.at)."""
    idx = np.asarray(idx)
    out = np.zeros((n,) + dY.shape[1:], dY.dtype)
    keep = idx >= 0
    np.add.at(out, idx[keep], dY[keep])
    return out


def random_idx(rng, m, n, dtype, drop=0.0):
    idx = rng.integers(0, n, size=m).astype(dtype)
    if drop:
        idx[rng.random(m) < drop] = -1
    return idx


def integer_values(rng, shape, dtype):
    """Integer-valued floats: sums are exact in any order."""
    return rng.integers(-50, 50, size=shape).astype(dtype)


class LibraryTest(unittest.TestCase):
    def test_loads_the_expected_library(self):
        expected = os.environ.get("ROUTEMAT_EXPECTED_LIBRARY")
        if not expected:
            self.skipTest("ROUTEMAT_EXPECTED_LIBRARY is not set (ctest sets it)")
        self.assertEqual(os.path.realpath(routemat.library_path()), os.path.realpath(expected))

    def test_numpy_use_does_not_import_torch(self):
        m = routemat.Map(np.array(README_IDX), 3)
        routemat.gather(m, np.ones(3))
        routemat.scatter_add(routemat.Plan(m), np.ones(5), np.zeros(3))
        self.assertNotIn("torch", sys.modules)

    def test_isa_and_threads(self):
        self.assertIn(routemat.active_isa(), ("scalar", "sse4_2", "avx2", "avx512", "neon"))
        self.assertTrue(routemat.isa_supported(routemat.active_isa()))
        before = routemat.get_num_threads()
        try:
            routemat.set_num_threads(1)
            self.assertEqual(routemat.get_num_threads(), 1)
            with self.assertRaises(RoutematError) as cm:
                routemat.set_num_threads(-1)
            self.assertEqual(cm.exception.status, "ROUTEMAT_ERROR_INVALID_ARGUMENT")
            self.assertIn("negative", cm.exception.message)
        finally:
            routemat.set_num_threads(0)
        self.assertGreaterEqual(routemat.get_num_threads(), 1)
        self.assertGreaterEqual(before, 1)

    def test_plan_kernel_setting(self):
        self.assertEqual(routemat.get_plan_kernel(), "auto")
        try:
            for kernel in ("pull", "push"):
                routemat.set_plan_kernel(kernel)
                self.assertEqual(routemat.get_plan_kernel(), kernel)
        finally:
            routemat.set_plan_kernel("auto")
        with self.assertRaises(RoutematError):
            routemat.set_plan_kernel("fastest")

    def test_error_type(self):
        self.assertTrue(issubclass(RoutematError, ValueError))
        self.assertTrue(issubclass(RoutematTypeError, RoutematError))
        self.assertTrue(issubclass(RoutematTypeError, TypeError))


class ReadmeTest(unittest.TestCase):
    def test_weight_sharing(self):
        m = routemat.Map(np.array(README_IDX), 3)
        self.assertEqual((m.rows, m.cols, m.dropped_rows), (5, 3, 0))
        p = routemat.Plan(m)
        u = np.array([1.0, 2.0, 3.0])
        np.testing.assert_array_equal(routemat.gather(m, u), [1, 2, 3, 3, 3])
        np.testing.assert_array_equal(routemat.gather(p, u), [1, 2, 3, 3, 3])
        dw = np.array([1.0, 10, 100, 1000, 10000])
        for mp in (m, p):
            np.testing.assert_array_equal(routemat.scatter_add(mp, dw, np.zeros(3)),
                                          [1, 10, 11100])
        np.testing.assert_array_equal(routemat.sum_forward(p, dw), [1, 10, 11100])
        np.testing.assert_array_equal(routemat.sum_backward(p, u), [1, 2, 3, 3, 3])
        facts = p.facts
        self.assertEqual((facts["rows"], facts["cols"], facts["max_fan_in"]), (5, 3, 3))
        self.assertEqual((facts["identity"], facts["permutation"], facts["sorted"]),
                         (False, False, True))
        self.assertGreater(facts["bytes"], 0)

    def test_branching(self):
        idx = [2, 0, 1, 0, 2, 1]  # G is 6 x 3
        m = routemat.Map(idx, 3)  # a list: converted with numpy.asarray
        np.testing.assert_array_equal(routemat.gather(m, np.array([1.0, 2.0, 3.0])),
                                      [3, 1, 2, 1, 3, 2])
        g = np.array([1.0, 2, 4, 8, 16, 32])  # alpha .. zeta
        np.testing.assert_array_equal(routemat.scatter_add(m, g, np.zeros(3)),
                                      [2 + 8, 4 + 32, 1 + 16])


class AgainstReferenceTest(unittest.TestCase):
    def setUp(self):
        self.rng = np.random.default_rng(5)

    def check_all(self, idx, n, U, dY, allow_drop=False):
        m = routemat.Map(idx, n, allow_drop=allow_drop)
        p = routemat.Plan(m)
        np.testing.assert_array_equal(routemat.gather(m, U), reference_gather(idx, U))
        np.testing.assert_array_equal(routemat.gather(p, U), reference_gather(idx, U))
        expected = reference_scatter(idx, dY, n)
        base = integer_values(self.rng, expected.shape, expected.dtype)
        for mp in (m, p):
            np.testing.assert_array_equal(routemat.scatter_add(mp, dY, base.copy()),
                                          base + expected)
            np.testing.assert_array_equal(
                routemat.scatter_add(mp, dY, np.full_like(base, np.nan), overwrite=True),
                expected)
        np.testing.assert_array_equal(routemat.sum_forward(p, dY), expected)
        np.testing.assert_array_equal(routemat.sum_backward(p, U), reference_gather(idx, U))

    def test_dtypes_widths_and_index_types(self):
        for value_type in (np.float32, np.float64):
            for index_type in (np.int32, np.int64):
                for d in (None, 1, 3, 16):
                    with self.subTest(value=value_type, index=index_type, d=d):
                        n, mrows = 37, 101
                        tail = () if d is None else (d,)
                        idx = random_idx(self.rng, mrows, n, index_type)
                        U = integer_values(self.rng, (n,) + tail, value_type)
                        dY = integer_values(self.rng, (mrows,) + tail, value_type)
                        self.check_all(idx, n, U, dY)

    def test_drops(self):
        for index_type in (np.int32, np.int64):
            idx = random_idx(self.rng, 64, 10, index_type, drop=0.3)
            m = routemat.Map(idx, 10, allow_drop=True)
            self.assertEqual(m.dropped_rows, int((idx == -1).sum()))
            self.assertEqual(routemat.Plan(m).facts["dropped_rows"], m.dropped_rows)
            U = integer_values(self.rng, (10, 4), np.float32)
            dY = integer_values(self.rng, (64, 4), np.float32)
            self.check_all(idx, 10, U, dY, allow_drop=True)

    def test_row_strided_views(self):
        wide_u = integer_values(self.rng, (20, 9), np.float64)
        wide_y = integer_values(self.rng, (50, 7), np.float64)
        idx = random_idx(self.rng, 50, 20, np.int64)
        U, dY = wide_u[:, 2:5], wide_y[:, 3:6]  # column slices: row stride 9 and 7, width 3
        m = routemat.Map(idx, 20)
        p = routemat.Plan(m)
        out_wide = np.full((50, 8), 7.0)
        out = routemat.gather(m, U, out_wide[:, 1:4])
        np.testing.assert_array_equal(out, reference_gather(idx, U))
        np.testing.assert_array_equal(out_wide[:, [0, 4, 5, 6, 7]], 7.0)  # untouched columns
        du_wide = np.full((20, 6), 5.0)
        routemat.scatter_add(p, dY, du_wide[:, 2:5])
        np.testing.assert_array_equal(du_wide[:, 2:5], 5.0 + reference_scatter(idx, dY, 20))
        np.testing.assert_array_equal(du_wide[:, [0, 1, 5]], 5.0)
        # Every other row (a row stride of 2 * 9 elements), and a strided 1-D vector.
        np.testing.assert_array_equal(routemat.gather(m, wide_u[::1, :][:, 2:5]),
                                      reference_gather(idx, U))
        vec = integer_values(self.rng, 40, np.float32)[::2]
        np.testing.assert_array_equal(routemat.gather(m, vec), reference_gather(idx, vec))
        X = wide_y[::2, 1:3][:25]
        small = routemat.Map(idx[:25] % 4, 4)
        np.testing.assert_array_equal(routemat.sum_forward(routemat.Plan(small), X),
                                      reference_scatter(idx[:25] % 4, X, 4))

    def test_random_floats_match_add_at(self):
        # Row-order accumulation: the same order as np.add.at, so equal bit for bit.
        idx = random_idx(self.rng, 500, 30, np.int64)
        dY = self.rng.standard_normal((500, 5)).astype(np.float32)
        p = routemat.Plan(routemat.Map(idx, 30))
        np.testing.assert_allclose(routemat.sum_forward(p, dY), reference_scatter(idx, dY, 30),
                                   rtol=1e-5, atol=1e-5)

    def test_empty_destinations_are_zeroed(self):
        idx = np.array([0, 0, 3], dtype=np.int32)
        p = routemat.Plan(routemat.Map(idx, 5))
        self.assertEqual(p.facts["empty_cols"], 3)
        out = np.full(5, np.nan)
        routemat.sum_forward(p, np.array([1.0, 2.0, 3.0]), out)
        np.testing.assert_array_equal(out, [3, 0, 0, 3, 0])

    def test_empty_map(self):
        m = routemat.Map(np.zeros(0, np.int64), 4)
        self.assertEqual((m.rows, m.cols), (0, 4))
        self.assertEqual(routemat.gather(m, np.ones((4, 2))).shape, (0, 2))
        np.testing.assert_array_equal(
            routemat.scatter_add(routemat.Plan(m), np.ones((0, 2)), np.full((4, 2), 3.0),
                                 overwrite=True), 0.0)
        self.assertEqual(routemat.Map([], 2).rows, 0)

    def test_map_keeps_its_indices_alive(self):
        m = routemat.Map(np.array([2, 1, 0, 1], dtype=np.int32), 3)
        p = routemat.Plan(routemat.Map(np.array([1, 1, 0], dtype=np.int64), 2))
        gc.collect()
        np.testing.assert_array_equal(routemat.gather(m, np.array([1.0, 2, 3])), [3, 2, 1, 2])
        np.testing.assert_array_equal(routemat.gather(p, np.array([1.0, 2])), [2, 2, 1])

    def test_zero_copy_and_copy(self):
        idx = np.array([0, 1, 1], dtype=np.int64)
        self.assertIs(routemat.Map(idx, 2).indices, idx)
        copied = routemat.Map(idx, 2, copy=True)
        self.assertIsNot(copied.indices, idx)
        idx[0] = 1
        np.testing.assert_array_equal(routemat.gather(copied, np.array([5.0, 6])), [5, 6, 6])
        strided = np.array([0, 9, 1, 9, 1, 9], dtype=np.int64)[::2]  # not contiguous: copied
        m = routemat.Map(strided, 2)
        self.assertTrue(m.indices.flags.c_contiguous)
        np.testing.assert_array_equal(routemat.gather(m, np.array([5.0, 6])), [5, 6, 6])

    def test_pickle_and_deepcopy(self):
        p = routemat.Plan(routemat.Map(np.array([2, 0, 2]), 3))
        for q in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
            self.assertIsNot(q.map, p.map)
            np.testing.assert_array_equal(routemat.gather(q, np.array([1.0, 2, 3])), [3, 1, 3])
        del p
        gc.collect()

    def test_outputs_are_of_the_input_kind(self):
        m = routemat.Map(np.array(README_IDX), 3)
        for dtype in (np.float32, np.float64):
            out = routemat.gather(m, np.ones((3, 2), dtype))
            self.assertIsInstance(out, np.ndarray)
            self.assertEqual((out.dtype, out.shape), (np.dtype(dtype), (5, 2)))
            self.assertEqual(routemat.gather(m, np.ones(3, dtype)).shape, (5,))


class BadInputTest(unittest.TestCase):
    """Every refused input raises the right error and leaves the output as it was."""

    def setUp(self):
        self.m = routemat.Map(np.array(README_IDX), 3)
        self.p = routemat.Plan(self.m)

    def assert_refused(self, call, out, error, status, *fragments):
        before = None if out is None else out.copy()
        with self.assertRaises(error) as cm:
            call()
        text = str(cm.exception)
        for fragment in fragments:
            self.assertIn(fragment, text)
        self.assertEqual(cm.exception.status, status)
        if out is not None:
            np.testing.assert_array_equal(out, before)
        return cm.exception

    def test_wrong_value_dtype(self):
        out = np.zeros(5, np.float32)
        for dtype in (np.int32, np.complex64, np.longdouble):
            self.assert_refused(lambda: routemat.gather(self.m, np.ones(3, dtype), out), out,
                                RoutematTypeError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                                f"U: dtype {np.dtype(dtype)} is not float32, float64 or float16")
        e = self.assert_refused(lambda: routemat.gather(self.m, np.ones(3, np.int64), out), out,
                                TypeError, "ROUTEMAT_ERROR_INVALID_ARGUMENT")
        self.assertEqual(str(e), "U: dtype int64 is not float32, float64 or float16")
        self.assert_refused(
            lambda: routemat.scatter_add(self.p, np.ones(5, np.float32), out.astype(np.int16)),
            out, RoutematTypeError, "ROUTEMAT_ERROR_INVALID_ARGUMENT", "dU: dtype int16")
        du = np.full(3, 2.0, np.float16)
        self.assert_refused(lambda: routemat.scatter_add(self.p, np.ones(5, np.float32), du), du,
                            RoutematTypeError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "scatter_add: dU is float16 but dY is float32")

    def test_mixed_dtypes(self):
        out = np.zeros(5, np.float64)
        self.assert_refused(lambda: routemat.gather(self.m, np.ones(3, np.float32), out), out,
                            RoutematTypeError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "out is float64 but U is float32")

    def test_not_an_array(self):
        out = np.zeros(5)
        self.assert_refused(lambda: routemat.gather(self.m, [1.0, 2.0, 3.0], out), out,
                            RoutematTypeError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: a builtins.list is not a NumPy array or a PyTorch CPU tensor")
        with self.assertRaises(RoutematTypeError):
            routemat.gather("map", np.ones(3), out)
        with self.assertRaises(RoutematTypeError):
            routemat.Plan(self.p)

    def test_inner_stride(self):
        out = np.zeros((5, 2))
        U = np.ones((3, 4))[:, ::2]
        e = self.assert_refused(lambda: routemat.gather(self.m, U, out), out, RoutematError,
                                "ROUTEMAT_ERROR_INVALID_ARGUMENT")
        self.assertEqual(str(e), "U: rows must be contiguous along d (inner stride 2)")
        self.assert_refused(lambda: routemat.gather(self.m, np.ones((2, 3)).T, out), out,
                            RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: rows must be contiguous along d (inner stride 3)")
        out_wide = np.zeros((5, 4))
        self.assert_refused(lambda: routemat.gather(self.m, np.ones((3, 2)), out_wide[:, ::2]),
                            out_wide, RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "out: rows must be contiguous along d (inner stride 2)")

    def test_overlapping_or_backward_rows(self):
        out = np.zeros((5, 2))
        U = np.lib.stride_tricks.as_strided(np.ones(8), shape=(3, 2), strides=(8, 8))
        self.assert_refused(lambda: routemat.gather(self.m, U, out), out, RoutematError,
                            "ROUTEMAT_ERROR_INVALID_ARGUMENT", "U: rows overlap (row stride 1 < "
                            "width 2)")
        self.assert_refused(lambda: routemat.gather(self.m, np.ones((3, 2))[::-1], out), out,
                            RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: rows must go forward in memory (row stride -2)")
        self.assert_refused(lambda: routemat.gather(self.m, np.broadcast_to(1.0, (3,)), out[:, 0]),
                            out, RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "U: rows overlap (row stride 0 < width 1)")

    def test_wrong_rank(self):
        out = np.zeros((5, 2))
        self.assert_refused(lambda: routemat.gather(self.m, np.ones((3, 2, 1)), out), out,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH", "U: a 3-D array")
        self.assert_refused(lambda: routemat.gather(self.m, np.ones((3, 0)), out), out,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "U: rows of width 0")

    def test_shape_mismatch(self):
        out = np.zeros((5, 2))
        self.assert_refused(lambda: routemat.gather(self.m, np.ones((4, 2)), out), out,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "gather: U has 4 rows; G is 5 x 3, so it needs n = 3")
        self.assert_refused(lambda: routemat.gather(self.m, np.ones((3, 2)), out[:4]), out,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "gather: out has 4 rows; G is 5 x 3, so it needs m = 5")
        self.assert_refused(lambda: routemat.gather(self.m, np.ones((3, 3)), out), out,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH",
                            "out has rows of width 2 but U of width 3")
        du = np.zeros((3, 2))
        self.assert_refused(lambda: routemat.scatter_add(self.p, np.ones((3, 2)), du), du,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH", "dY has 3 rows")
        self.assert_refused(lambda: routemat.sum_forward(self.p, np.ones((5, 2)), du[:2]), du,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH", "out has 2 rows")
        self.assert_refused(lambda: routemat.sum_backward(self.p, np.ones((5, 2)), out), out,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH", "dV has 5 rows")

    def test_read_only_output(self):
        out = np.zeros(5)
        out.flags.writeable = False
        self.assert_refused(lambda: routemat.gather(self.m, np.ones(3), out), out,
                            RoutematError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "out: the array is read-only")

    def test_aliasing_is_refused_by_the_library(self):
        buf = np.arange(8.0)
        e = self.assert_refused(lambda: routemat.gather(self.m, buf[:3], buf[2:7]), buf,
                                RoutematError, "ROUTEMAT_ERROR_ALIASING",
                                "dst overlaps src")
        self.assertEqual(e.code, 5)
        self.assertEqual(e.message, "dst overlaps src")

    def test_bad_indices(self):
        e = self.assert_refused(lambda: routemat.Map(np.array([0, 1, 7, 2]), 3), None,
                                RoutematError, "ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE")
        self.assertEqual(e.message, "index 7 at row 2 is outside [0, 3)")
        e = self.assert_refused(lambda: routemat.Map(np.array([0, -1], np.int32), 3),
                                None, RoutematError, "ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE")
        self.assertIn("index -1 at row 1 is outside [0, 3)", e.message)
        routemat.Map(np.array([0, -1], np.int32), 3, allow_drop=True)  # fine with drops
        self.assert_refused(lambda: routemat.Map(np.array([0, -2]), 3, allow_drop=True),
                            None, RoutematError, "ROUTEMAT_ERROR_INDEX_OUT_OF_RANGE",
                            "index -2 at row 1")
        self.assert_refused(lambda: routemat.Map(np.array([0.0, 1.0]), 3), None,
                            RoutematTypeError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "idx: dtype float64 is not int32 or int64 (indices must be integers)")
        self.assert_refused(lambda: routemat.Map(np.array([0, 1], np.int16), 3), None,
                            RoutematTypeError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "idx: dtype int16 is not int32 or int64")
        self.assert_refused(lambda: routemat.Map(np.zeros((2, 2), np.int64), 3), None,
                            RoutematError, "ROUTEMAT_ERROR_SHAPE_MISMATCH", "idx: a 2-D array")
        self.assert_refused(lambda: routemat.Map(np.array([0]), -1), None, RoutematError,
                            "ROUTEMAT_ERROR_INVALID_ARGUMENT", "map cols -1 is negative")
        self.assert_refused(lambda: routemat.Map(np.array([0]), 2.5), None,
                            RoutematTypeError, "ROUTEMAT_ERROR_INVALID_ARGUMENT",
                            "n: 2.5 is not an integer")


class Float16Test(unittest.TestCase):
    """NumPy float16 rows (NumPy has no bfloat16): the same calls as f32/f64."""

    def test_gather_is_exact_and_scatter_add_close(self):
        rng = np.random.default_rng(5)
        n, m, d = 37, 300, 9
        idx = random_idx(rng, m, n, np.int64, drop=0.1)
        mp = routemat.Map(idx, n, allow_drop=True)
        plan = routemat.Plan(mp)
        U = rng.standard_normal((n, d)).astype(np.float16)
        for g in (mp, plan):
            y = routemat.gather(g, U)
            self.assertEqual(y.dtype, np.float16)
            np.testing.assert_array_equal(y.view(np.uint16),
                                          reference_gather(idx, U).view(np.uint16))
        dY = rng.standard_normal((m, d)).astype(np.float16)
        exact = reference_scatter(idx, dY.astype(np.float64), n)
        tol = 8 * 2.0 ** -10 * np.abs(exact).max()  # rounding per route, over the max norm
        for got in (routemat.scatter_add(mp, dY, np.zeros((n, d), np.float16)),
                    routemat.scatter_add(plan, dY, np.zeros((n, d), np.float16), overwrite=True),
                    routemat.sum_forward(plan, dY)):
            self.assertEqual(got.dtype, np.float16)
            self.assertLessEqual(np.abs(got.astype(np.float64) - exact).max(), tol)


class BagsTest(unittest.TestCase):
    def setUp(self):
        self.rng = np.random.default_rng(9)

    def reference(self, idx, offsets, U, w, mean):
        out = np.zeros((len(offsets) - 1,) + U.shape[1:])
        for b in range(len(offsets) - 1):
            kept = [r for r in range(offsets[b], offsets[b + 1]) if idx[r] >= 0]
            for r in kept:
                out[b] += (1.0 if w is None else w[r]) * U[idx[r]]
            if mean and kept:
                out[b] /= len(kept)
        return out

    def test_forward_and_backward(self):
        n, d = 11, 4
        offsets = np.array([0, 3, 3, 7, 8, 12])  # bag 1 is empty
        idx = random_idx(self.rng, 12, n, np.int32, drop=0.2)
        bags = routemat.Bags(routemat.Map(idx, n, allow_drop=True), offsets)
        self.assertEqual(bags.count, 5)
        U = integer_values(self.rng, (n, d), np.float64)
        w = integer_values(self.rng, 12, np.float64)
        dy = integer_values(self.rng, (5, d), np.float64)
        for reduce in ("sum", "mean"):
            for weights in (None, w):
                mean = reduce == "mean"
                y = routemat.bag_forward(bags, U, weights=weights, reduce=reduce)
                np.testing.assert_allclose(y, self.reference(idx, offsets, U, weights, mean),
                                           rtol=1e-12, atol=1e-12)
                np.testing.assert_array_equal(y[1], np.zeros(d))
                # du is the adjoint: <dy, bag(U)> == <du, U>.
                du, dw = routemat.bag_backward(bags, dy, u=U, weights=weights, reduce=reduce,
                                               plan=routemat.Plan(bags.map))
                self.assertAlmostEqual(float((dy * y).sum()), float((du * U).sum()), places=8)
                # dw[r] is the derivative of <dy, y> in w[r]: y with only route r weighted 1.
                for r in range(12):
                    e = np.zeros(12)
                    e[r] = 1.0
                    b = np.searchsorted(offsets, r, side="right") - 1
                    part = self.reference(idx, offsets, U, e, mean)[b]
                    self.assertAlmostEqual(dw[r], float(part @ dy[b]), places=9)
                    if idx[r] < 0:
                        self.assertEqual(dw[r], 0.0)

    def test_fixed_size_and_plan_same_bits(self):
        rng = self.rng
        n, k, B, d = 20, 2, 50, 6
        idx = random_idx(rng, k * B, n, np.int64)
        mp = routemat.Map(idx, n)
        bags = routemat.Bags(mp, bag_size=k)
        self.assertEqual((bags.count, bags.bag_size), (B, k))
        U = rng.standard_normal((n, d)).astype(np.float32)
        w = rng.random(k * B).astype(np.float32)
        dy = rng.standard_normal((B, d)).astype(np.float32)
        du0 = np.ones((n, d), np.float32)
        a, _ = routemat.bag_backward(bags, dy, du=du0.copy(), weights=w)
        b, _ = routemat.bag_backward(bags, dy, du=du0.copy(), weights=w, plan=routemat.Plan(mp))
        np.testing.assert_array_equal(a, b)
        y = routemat.bag_forward(bags, U, weights=w)
        ref = (U[idx].reshape(B, k, d) * w.reshape(B, k, 1)).sum(1)
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
        self.assertIsInstance(pickle.loads(pickle.dumps(bags)), routemat.Bags)

    def test_refused(self):
        mp = routemat.Map(np.array([0, 1, 2, 2]), 3)
        with self.assertRaises(RoutematError) as cm:
            routemat.Bags(mp, np.array([0, 3, 1, 4]))
        self.assertIn("offsets decrease", str(cm.exception))
        with self.assertRaises(RoutematError):
            routemat.Bags(mp, bag_size=3)  # 4 routes are not bags of 3
        bags = routemat.Bags(mp, np.array([0, 2, 4]))
        y = np.full((2, 2), 7.0)
        for weights, status, fragment in (
                (np.ones(3), "ROUTEMAT_ERROR_SHAPE_MISMATCH", "weights of 3 values"),
                (np.ones(4, np.float32), "ROUTEMAT_ERROR_SHAPE_MISMATCH", "weights is float32"),
                (np.ones((4, 1)), "ROUTEMAT_ERROR_SHAPE_MISMATCH", "weights is 2-D")):
            with self.assertRaises(RoutematError) as cm:
                routemat.bag_forward(bags, np.ones((3, 2)), y, weights=weights)
            self.assertEqual(cm.exception.status, status)
            self.assertIn(fragment, str(cm.exception))
            np.testing.assert_array_equal(y, np.full((2, 2), 7.0))
        with self.assertRaises(RoutematError) as cm:
            routemat.bag_forward(bags, np.ones((3, 2)), y, reduce="max")
        self.assertIn("reduce: 'max'", str(cm.exception))
        du = np.full((3, 2), 5.0)
        dw = np.full(4, 5.0)
        with self.assertRaises(RoutematError) as cm:
            routemat.bag_backward(bags, np.ones((2, 2)), None, du, dw)
        self.assertIn("u is NULL; dw needs it", str(cm.exception))
        np.testing.assert_array_equal(du, np.full((3, 2), 5.0))
        np.testing.assert_array_equal(dw, np.full(4, 5.0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
