"""Cases for reductions, scans and order-based ops (``ops/reductions.py``, ``ops/sorting.py``).

Cases tagged ``NO_FD`` sit on a kink on purpose (ties, a norm at 0, the std of a
constant): they pin PyTorch's convention against torch's ``.grad``, and a
finite-difference check does not apply to them.  Elsewhere inputs stay away from kinks:
``_distinct`` for order-based ops, ``_away_from_zero`` for norms with p <= 1.
"""

from __future__ import annotations

import numpy as np

from ._case import Case
from ._harness import INT_LEAF, NO_FD

NONSMOOTH = (NO_FD,)
INT = (INT_LEAF,)


def _fixed(*arrays):
    """``make`` for fixed inputs."""
    return lambda rng: [np.array(a, dtype=float) for a in arrays]


def _away_from_zero(shape, lo=0.5, hi=2.0):
    """Random magnitudes in [lo, hi) with random signs: no kinks of |x| nearby."""
    def make(rng):
        mag = rng.uniform(lo, hi, size=shape)
        return [np.where(rng.random(shape) < 0.5, -mag, mag)]
    return make


def _ints(shape, lo=-3, hi=4):
    return lambda rng: [rng.integers(lo, hi, size=shape).astype(np.int64)]


def _bools(shape):
    return lambda rng: [rng.random(shape) < 0.5]


def _distinct(shape):
    """A random permutation of well-separated values: no ties, no kinks."""
    def make(rng):
        n = int(np.prod(shape))
        return [(rng.permutation(n) * 0.37 - n * 0.15).reshape(shape)]
    return make


# rows with 0, 1, 2 and 3 zeros (and a zero in the first and last position)
_ZERO_ROWS = [[1.5, -2.0, 0.5, 3.0], [1.5, 0.0, 0.5, 3.0], [0.0, 2.0, -1.5, 0.0],
              [0.0, 0.0, 0.0, 1.5]]
_TIE_ROWS = [[1.0, 3.0, 3.0, 2.0], [-1.0, -1.0, -2.0, -1.0], [0.5, 0.25, 0.75, 0.125]]

CASES = [
    # ---- sum ------------------------------------------------------------------------
    Case("sum", lambda lib, x: lib.sum(x), [(3, 4)], name="all"),
    Case("sum", lambda lib, x: x.sum(), [()], name="0d"),
    Case("sum", lambda lib, x: x.sum(), [(0, 3)], name="empty"),
    Case("sum", lambda lib, x: lib.sum(x, dtype=lib.float64), [(2, 3)], name="dtype"),
    Case("sum", lambda lib, x: x.sum(), make=_ints((2, 3)), grad=False, name="int64"),
    Case("sum", lambda lib, x: lib.sum(x), make=_bools((2, 3)), grad=False, name="bool"),
    Case("sum_dim", lambda lib, x: lib.sum(x, dim=1, keepdim=True), [(3, 4)], name="dim1k"),
    Case("sum_dim", lambda lib, x: x.sum(0), [(3, 4)], tags=INT, name="int_leaf"),
    Case("sum_dim", lambda lib, x: x.sum(-1), [(3, 4)], name="neg"),
    Case("sum_dim", lambda lib, x: x.sum((0, 2)), [(2, 3, 4)], name="tuple"),
    Case("sum_dim", lambda lib, x: lib.sum(x, (-1, 0), True), [(2, 3, 4)], name="tuple_k"),
    Case("sum_dim", lambda lib, x: x.sum(dim=[0, 2]), [(1, 3, 1)], name="size1"),
    Case("sum_dim", lambda lib, x: x.sum(0), [(0, 3)], name="empty_dim"),
    Case("sum_dim", lambda lib, x: x.sum(1), [(0, 3)], name="empty_rest"),
    Case("sum_dim", lambda lib, x: x.sum(0), [()], name="0d"),
    Case("sum_dim", lambda lib, x: x.sum(-1, keepdim=True), [()], name="0d_k"),
    Case("sum_dim", lambda lib, x: x.sum(()), [(2, 3)], name="empty_tuple"),
    # ---- mean -----------------------------------------------------------------------
    Case("mean", lambda lib, x: lib.mean(x), [(3, 4)], name="all"),
    Case("mean", lambda lib, x: x.mean(), [()], name="0d"),
    Case("mean_dim", lambda lib, x: x.mean(1), [(3, 4)], name="dim1"),
    Case("mean_dim", lambda lib, x: lib.mean(x, (0, -1), keepdim=True), [(2, 3, 4)],
         name="tuple_k"),
    Case("mean_dim", lambda lib, x: x.mean(dim=-2), [(1, 3, 1)], name="size1"),
    Case("mean_dim", lambda lib, x: x.mean(1), [(0, 3)], name="empty_rest"),
    Case("mean_dim", lambda lib, x: x.mean(0, dtype=lib.float64), make=_ints((3, 2)),
         grad=False, name="int_dtype"),
    # ---- prod ------------------------------------------------------------------------
    Case("prod", lambda lib, x: x.prod(), [(3, 4)], domain=(0.5, 1.5), name="all"),
    Case("prod", lambda lib, x: lib.prod(x), [()], name="0d"),
    Case("prod", lambda lib, x: x.prod(), [(0, 2)], name="empty"),
    Case("prod", lambda lib, x: x.prod(), make=_fixed([2.0, 0.0, 3.0, -1.5]), name="one_zero"),
    Case("prod", lambda lib, x: x.prod(), make=_fixed([2.0, 0.0, 3.0, 0.0]), name="two_zeros"),
    Case("prod", lambda lib, x: x.prod(), make=_fixed([0.0, 0.0, 3.0, 0.0]),
         name="three_zeros"),
    Case("prod", lambda lib, x: x.prod(), make=_ints((2, 3), 1, 4), grad=False, name="int64"),
    Case("prod_dim", lambda lib, x: x.prod(1), [(3, 4)], name="dim1"),
    Case("prod_dim", lambda lib, x: x.prod(1), [(3, 4)], domain=(-3.0, 3.0), tags=INT,
         name="int_leaf"),
    Case("prod_dim", lambda lib, x: lib.prod(x, -1, keepdim=True), make=_fixed(_ZERO_ROWS),
         name="zero_rows_k"),
    Case("prod_dim", lambda lib, x: x.prod(0), make=_fixed(np.array(_ZERO_ROWS).T),
         name="zero_cols"),
    Case("prod_dim", lambda lib, x: x.prod(dim=1), [(2, 1, 3)], name="size1"),
    Case("prod_dim", lambda lib, x: x.prod(0), [()], name="0d"),
    Case("prod_dim", lambda lib, x: x.prod(1), [(0, 3)], name="empty_rest"),
    # ---- logsumexp -------------------------------------------------------------------
    Case("logsumexp", lambda lib, x: lib.logsumexp(x, 1), [(3, 4)], name="dim1"),
    Case("logsumexp", lambda lib, x: x.logsumexp(-1, keepdim=True), [(3, 4)], name="neg_k"),
    Case("logsumexp", lambda lib, x: x.logsumexp((0, 2)), [(2, 3, 4)], name="tuple"),
    Case("logsumexp", lambda lib, x: x.logsumexp(0), [()], name="0d"),
    Case("logsumexp", lambda lib, x: x.logsumexp(1), [(2, 3)], domain=(995.0, 1000.0),
         name="large"),
    Case("logsumexp", lambda lib, x: x.logsumexp(0), [(2, 3)], domain=(-1000.0, -995.0),
         name="small"),
    # ---- var, std --------------------------------------------------------------------
    Case("var", lambda lib, x: x.var(), [(3, 4)], name="all"),
    Case("var", lambda lib, x: lib.var(x, 1), [(3, 4)], name="dim1"),
    Case("var", lambda lib, x: x.var(0, keepdim=True, correction=0), [(3, 4)],
         name="corr0_k"),
    Case("var", lambda lib, x: x.var(False), [(5,)], name="unbiased_pos"),
    Case("var", lambda lib, x: x.var((0, 2), unbiased=False), [(2, 3, 4)], name="tuple"),
    Case("var", lambda lib, x: lib.var(x, dim=-1, correction=2), [(2, 5)], name="corr2"),
    Case("std", lambda lib, x: x.std(), [(3, 4)], name="all"),
    Case("std", lambda lib, x: lib.std(x, -1, keepdim=True), [(3, 4)], name="neg_k"),
    Case("std", lambda lib, x: x.std(0, unbiased=False), [(4, 2)], name="biased"),
    Case("std", lambda lib, x: x.std((0, 1)), [(2, 3, 2)], name="tuple"),
    Case("std", lambda lib, x: x.std(1), make=_fixed([[1.5, 1.5, 1.5], [1.0, 2.0, 4.0]]),
         tags=NONSMOOTH, name="constant_row"),
    # ---- norm ------------------------------------------------------------------------
    Case("norm", lambda lib, x: x.norm(), [(3, 4)], name="fro"),
    Case("norm", lambda lib, x: lib.norm(x, dim=1), [(3, 4)], name="dim1"),
    Case("norm", lambda lib, x: x.norm(2, -1, True), [(3, 4)], name="neg_k"),
    Case("norm", lambda lib, x: x.norm("fro", dim=(0, 1)), [(3, 4, 2)], name="fro_tuple"),
    Case("norm", lambda lib, x: x.norm(1, dim=0), make=_away_from_zero((3, 4)), name="p1"),
    Case("norm", lambda lib, x: x.norm(float("inf"), dim=1), make=_distinct((3, 4)),
         name="inf"),
    Case("norm", lambda lib, x: x.norm(float("-inf")), make=_distinct((3, 4)), name="-inf"),
    Case("norm", lambda lib, x: x.norm(3, dim=1), make=_away_from_zero((3, 4)), name="p3"),
    Case("norm", lambda lib, x: x.norm(1.5), make=_away_from_zero((3, 4)), name="p1.5"),
    Case("norm", lambda lib, x: x.norm(0.5, dim=0), make=_away_from_zero((3, 4)),
         name="p0.5"),
    Case("norm", lambda lib, x: x.norm(-1, dim=1), make=_away_from_zero((3, 4)), name="p-1"),
    Case("norm", lambda lib, x: x.norm(0, dim=1), [(3, 4)], grad=False, name="p0"),
    Case("norm", lambda lib, x: x.norm(), [()], name="0d"),
    Case("norm", lambda lib, x: x.norm(dim=1), make=_fixed([[0.0, 0.0], [3.0, -4.0]]),
         tags=NONSMOOTH, name="at_zero"),
    Case("norm", lambda lib, x: x.norm(3, dim=1), make=_fixed([[0.0, 0.0], [3.0, -4.0]]),
         tags=NONSMOOTH, name="p3_at_zero"),
    Case("norm", lambda lib, x: x.norm(0.5), make=_fixed([0.0, 2.0, -1.0]),
         tags=NONSMOOTH, name="p0.5_zero_entry"),
    Case("norm", lambda lib, x: x.norm(float("inf")), make=_fixed([3.0, -3.0, 1.0]),
         tags=NONSMOOTH, name="inf_ties"),
    # ---- cumsum, cumprod -------------------------------------------------------------
    Case("cumsum", lambda lib, x: x.cumsum(0), [(3, 4)], name="dim0"),
    Case("cumsum", lambda lib, x: lib.cumsum(x, dim=-1), [(3, 4)], name="neg"),
    Case("cumsum", lambda lib, x: x.cumsum(0), [()], name="0d"),
    Case("cumsum", lambda lib, x: x.cumsum(1), [(0, 3)], name="empty"),
    Case("cumsum", lambda lib, x: x.cumsum(1), make=_ints((2, 3)), grad=False, name="int64"),
    Case("cumprod", lambda lib, x: x.cumprod(1), [(3, 4)], domain=(0.5, 1.5), name="dim1"),
    Case("cumprod", lambda lib, x: lib.cumprod(x, -1), make=_fixed(_ZERO_ROWS),
         name="zero_rows"),
    Case("cumprod", lambda lib, x: x.cumprod(0), make=_fixed(np.array(_ZERO_ROWS).T),
         name="zero_cols"),
    Case("cumprod", lambda lib, x: x.cumprod(0), [()], name="0d"),
    Case("cumprod", lambda lib, x: x.cumprod(1), [(2, 4)], domain=(-3.0, 3.0), tags=INT,
         name="int_leaf"),
    Case("cumprod", lambda lib, x: x.cumprod(0), [(1, 3)], name="size1"),
    # ---- softmax, log_softmax --------------------------------------------------------
    Case("softmax", lambda lib, x: x.softmax(1), [(3, 4)], name="dim1"),
    Case("softmax", lambda lib, x: lib.softmax(x, 0), [(3, 4)], name="dim0"),
    Case("softmax", lambda lib, x: lib.softmax(x, -1, dtype=lib.float64), [(2, 3)],
         name="dtype"),
    Case("softmax", lambda lib, x: x.softmax(0), [()], name="0d"),
    Case("softmax", lambda lib, x: x.softmax(-1), [(2, 3)], domain=(990.0, 1000.0),
         name="large"),
    Case("log_softmax", lambda lib, x: x.log_softmax(1), [(3, 4)], name="dim1"),
    Case("log_softmax", lambda lib, x: lib.log_softmax(x, dim=-2), [(2, 3, 4)], name="neg"),
    Case("log_softmax", lambda lib, x: x.log_softmax(0), [()], name="0d"),
    Case("log_softmax", lambda lib, x: x.log_softmax(1), [(2, 3)], domain=(990.0, 1000.0),
         name="large"),
    # ---- max, min, amax, amin --------------------------------------------------------
    Case("max", lambda lib, x: x.max(), make=_distinct((3, 4)), name="all"),
    Case("max", lambda lib, x: lib.max(x), [()], name="0d"),
    Case("max", lambda lib, x: x.max(), make=_fixed(_TIE_ROWS), tags=NONSMOOTH, name="ties"),
    Case("max", lambda lib, x: x.max(), make=_fixed([1.0, np.nan, 3.0]), tags=NONSMOOTH,
         name="nan_gets_grad"),
    Case("min", lambda lib, x: lib.min(x), make=_distinct((3, 4)), name="all"),
    Case("min", lambda lib, x: x.min(), make=_fixed([[2.0, 1.0], [1.0, 1.0]]),
         tags=NONSMOOTH, name="ties"),
    Case("max_dim", lambda lib, x: lib.max(x, 1), make=_distinct((3, 4)), name="dim1"),
    Case("max_dim", lambda lib, x: x.max(dim=-2, keepdim=True), make=_distinct((3, 4)),
         name="neg_k"),
    Case("max_dim", lambda lib, x: x.max(0), [()], name="0d"),
    Case("max_dim", lambda lib, x: x.max(1), make=_distinct((3, 4)), tags=INT,
         name="int_leaf"),
    Case("max_dim", lambda lib, x: x.max(1), [(0, 3)], name="empty_rest"),
    Case("max_dim", lambda lib, x: x.max(1), make=_fixed(_TIE_ROWS), tags=NONSMOOTH,
         name="ties_first_index"),
    Case("max_dim", lambda lib, x: x.max(1).values, make=_distinct((2, 1, 3)), name="size1"),
    Case("min_dim", lambda lib, x: lib.min(x, dim=0), make=_distinct((3, 4)), name="dim0"),
    Case("min_dim", lambda lib, x: x.min(-1, True), make=_fixed(_TIE_ROWS), tags=NONSMOOTH,
         name="ties_first_index"),
    Case("maximum", lambda lib, x, y: lib.max(x, y), [(3, 4), (4,)], name="via_max"),
    Case("minimum", lambda lib, x, y: lib.min(x, other=y), [(3, 4), (3, 4)], name="via_min"),
    Case("amax", lambda lib, x: x.amax(), make=_distinct((3, 4)), name="all"),
    Case("amax", lambda lib, x: lib.amax(x, 1), make=_distinct((3, 4)), name="dim1"),
    Case("amax", lambda lib, x: x.amax((0, 2), keepdim=True), make=_distinct((2, 3, 4)),
         name="tuple_k"),
    Case("amax", lambda lib, x: x.amax(1), make=_fixed(_TIE_ROWS), tags=NONSMOOTH,
         name="ties"),
    Case("amax", lambda lib, x: x.amax(-1), [()], name="0d"),
    Case("amin", lambda lib, x: lib.amin(x, dim=-1), make=_distinct((3, 4)), name="neg"),
    Case("amin", lambda lib, x: x.amin(), make=_fixed(_TIE_ROWS), tags=NONSMOOTH,
         name="ties"),
    Case("aminmax", lambda lib, x: lib.aminmax(x, dim=0), make=_distinct((3, 4)),
         name="dim0"),
    Case("aminmax", lambda lib, x: lib.aminmax(x, dim=-1, keepdim=True),
         make=_fixed(_TIE_ROWS), tags=NONSMOOTH, name="ties_k"),
    Case("aminmax", lambda lib, x: x.aminmax(), make=_distinct((3, 4)), name="all"),
    Case("argmax", lambda lib, x: x.argmax(), [(3, 4)], grad=False, name="all"),
    Case("argmax", lambda lib, x: lib.argmax(x, 1, keepdim=True), [(3, 4)], grad=False,
         name="dim1k"),
    Case("argmax", lambda lib, x: x.argmax(0), make=_fixed(np.array(_TIE_ROWS).T),
         grad=False, name="ties"),
    Case("argmin", lambda lib, x: lib.argmin(x, dim=-1), [(3, 4)], grad=False, name="neg"),
    Case("argmin", lambda lib, x: x.argmin(), [()], grad=False, name="0d"),
    # ---- sort, topk, median ----------------------------------------------------------
    Case("sort", lambda lib, x: x.sort(), make=_distinct((3, 4)), name="last"),
    Case("sort", lambda lib, x: lib.sort(x, 0, descending=True), make=_distinct((3, 4)),
         name="dim0_desc"),
    Case("sort_stable", lambda lib, x: x.sort(dim=-1, stable=True), make=_fixed(_TIE_ROWS),
         tags=NONSMOOTH, name="stable_ties"),
    Case("sort_stable", lambda lib, x: x.sort(descending=True, stable=True), make=_fixed(_TIE_ROWS),
         tags=NONSMOOTH, name="stable_ties_desc"),
    Case("sort", lambda lib, x: x.sort(0), [()], name="0d"),
    Case("sort", lambda lib, x: x.sort(descending=True),
         make=_fixed([[1.0, np.nan, 2.0], [3.0, 1.0, 2.5]]), tags=NONSMOOTH, name="nan_desc"),
    Case("sort", lambda lib, x: x.sort(), make=_fixed([[1.0, np.nan, 2.0], [3.0, 1.0, 2.5]]),
         tags=NONSMOOTH, name="nan"),
    Case("sort", lambda lib, x: x.sort(), [(2, 5)], domain=(-9.0, 9.0), tags=INT,
         name="int_leaf"),
    Case("sort", lambda lib, x: x.sort(0), [(0, 3)], name="empty"),
    Case("topk", lambda lib, x: x.topk(2), make=_distinct((3, 4)), name="k2"),
    Case("kthvalue", lambda lib, x: lib.kthvalue(x, 2), make=_distinct((3, 4))),
    Case("kthvalue", lambda lib, x: x.kthvalue(4, 0, keepdim=True), make=_distinct((4, 3)),
         name="dim0_keepdim"),
    Case("kthvalue", lambda lib, x: x.kthvalue(1).values, make=_distinct(()), name="zero_dim"),
    Case("topk", lambda lib, x: lib.topk(x, 3, dim=0, largest=False), make=_distinct((4, 3)),
         name="smallest_dim0"),
    Case("topk", lambda lib, x: x.topk(4), make=_distinct((2, 4)), name="k_all"),
    Case("topk", lambda lib, x: x.topk(0), make=_distinct((2, 4)), name="k0"),
    Case("topk", lambda lib, x: x.topk(3, sorted=False).values.sort().values,
         make=_distinct((2, 5)), name="unsorted"),
    Case("topk", lambda lib, x: x.topk(1), [()], name="0d"),
    Case("median", lambda lib, x: x.median(), make=_distinct((3, 3)), name="odd"),
    Case("median", lambda lib, x: lib.median(x), make=_distinct((2, 3)), name="even_lower"),
    Case("median", lambda lib, x: x.median(), make=_fixed([1.0, 2.0, 2.0, 3.0]),
         tags=NONSMOOTH, name="ties"),
    Case("median", lambda lib, x: x.median(), [()], name="0d"),
    Case("median", lambda lib, x: x.median(), make=_fixed([2.0, np.nan, 1.0]), tags=NONSMOOTH,
         name="nan_gets_grad"),
    Case("median_dim", lambda lib, x: x.median(1),
         make=_fixed([[1.0, np.nan, 2.0, np.nan], [3.0, 1.0, 2.0, 0.5]]), tags=NONSMOOTH,
         name="nan"),
    Case("median_dim", lambda lib, x: x.median(1), make=_distinct((3, 4)), name="dim1"),
    Case("median_dim", lambda lib, x: lib.median(x, 0, keepdim=True), make=_distinct((5, 2)),
         name="dim0k"),
    Case("median_dim", lambda lib, x: x.median(-1),
         make=_fixed([[1.0, 2.0, 2.0, 2.0, 3.0], [2.0, 2.0, 1.0, 2.0, 2.0]]),
         tags=NONSMOOTH, name="ties"),
    Case("median_dim", lambda lib, x: x.median(0), [()], name="0d"),
    # ---- all, any, count_nonzero -----------------------------------------------------
    Case("all", lambda lib, x: x.all(), make=_bools((3, 4)), grad=False, name="whole"),
    Case("all", lambda lib, x: lib.all(x, dim=1, keepdim=True), make=_bools((3, 4)),
         grad=False, name="dim1k"),
    Case("all", lambda lib, x: x.all(0), [(0, 3)], grad=False, name="empty"),
    Case("any", lambda lib, x: lib.any(x), make=_bools((3, 4)), grad=False, name="whole"),
    Case("any", lambda lib, x: x.any(-1), [(3, 4)], grad=False, name="float"),
    Case("any", lambda lib, x: x.any((0, 1)), make=_ints((2, 3), 0, 2), grad=False,
         name="int_tuple"),
    Case("count_nonzero", lambda lib, x: lib.count_nonzero(x), make=_ints((3, 4), 0, 2),
         grad=False, name="whole"),
    Case("count_nonzero", lambda lib, x: x.count_nonzero(dim=(0, 2)),
         make=_ints((2, 3, 2), 0, 2), grad=False, name="tuple"),
]
