"""Cases for ``chainrule/ops/shape.py``: cat/stack, flip/roll, repeat, pad, triangles and
diagonals, and the indexing rows (index arrays come from ``make``; repeats accumulate)."""

from __future__ import annotations

import numpy as np

from ._case import Case
from ._harness import TORCH_JVP_WRONG


def _u(rng, *shape):
    return rng.uniform(-2.0, 2.0, size=shape)


def _with(index, *shapes):
    """``make`` for float inputs of ``shapes`` followed by a fixed integer index."""
    def make(rng):
        return [_u(rng, *s) for s in shapes[:1]] + [np.array(index, dtype=np.int64)] + [
            _u(rng, *s) for s in shapes[1:]]
    return make


def _masked(mask_shape, x_shape, with_value=False):
    def make(rng):
        arrs = [_u(rng, *x_shape), rng.uniform(size=mask_shape) > 0.5]
        return arrs + ([_u(rng)] if with_value else [])
    return make


_GATHER_IDX = [[0, 2, 2], [1, 1, 0]]

CASES = [
    # cat / concat / stack / hstack / vstack
    Case(op="cat", fn=lambda lib, a, b: lib.cat([a, b]), shapes=[(2, 3), (4, 3)],
         tags=("int_leaf",)),
    Case(op="cat", fn=lambda lib, a, b, c: lib.cat((a, b, c), dim=-1),
         shapes=[(2, 3), (2, 1), (2, 2)], name="neg_dim_three"),
    Case(op="cat", fn=lambda lib, a, b: lib.cat([a, b], 1), shapes=[(2, 0), (2, 3)],
         name="empty_piece"),
    Case(op="cat", fn=lambda lib, a, b: lib.cat([a, b], 1), shapes=[(2, 3), (0,)],
         name="legacy_empty"),
    Case(op="cat", fn=lambda lib, a, b: lib.concat([a, b], -2), shapes=[(1, 2, 3), (1, 1, 3)],
         name="concat"),
    Case(op="cat", fn=lambda lib, a, b: lib.concatenate([a, b]), shapes=[(2,), (3,)],
         name="concatenate"),
    Case(op="stack", fn=lambda lib, a, b: lib.stack([a, b]), shapes=[(2, 3), (2, 3)]),
    Case(op="stack", fn=lambda lib, a, b, c: lib.stack([a, b, c], dim=-1),
         shapes=[(2, 3)] * 3, name="neg_dim"),
    Case(op="stack", fn=lambda lib, a, b: lib.stack([a, b], 1), shapes=[(2, 3), (2, 3)],
         name="middle"),
    Case(op="stack", fn=lambda lib, a, b: lib.stack([a, b]), shapes=[(), ()], name="scalars"),
    Case(op="cat", fn=lambda lib, a, b: lib.hstack([a, b]), shapes=[(2,), (3,)],
         name="hstack_1d"),
    Case(op="cat", fn=lambda lib, a, b: lib.hstack([a, b]), shapes=[(2, 1), (2, 3)],
         name="hstack_2d"),
    Case(op="cat", fn=lambda lib, a, b: lib.vstack([a, b]), shapes=[(3,), (2, 3)],
         name="vstack"),
    # flip, roll
    Case(op="flip", fn=lambda lib, a: lib.flip(a, [0]), shapes=[(3, 2)]),
    Case(op="flip", fn=lambda lib, a: a.flip(-1, 0), shapes=[(2, 3, 4)], name="neg_dims"),
    Case(op="flip", fn=lambda lib, a: a.flip(0), shapes=[()], name="scalar"),
    Case(op="roll", fn=lambda lib, a: lib.roll(a, 1, 0), shapes=[(4, 3)]),
    Case(op="roll", fn=lambda lib, a: a.roll((-1, 5), (-1, 0)), shapes=[(3, 4)],
         name="neg_shift_dims"),
    Case(op="roll", fn=lambda lib, a: a.roll(2), shapes=[(2, 3)], name="flat"),
    # repeat, tile, repeat_interleave
    Case(op="repeat", fn=lambda lib, a: a.repeat(2, 3), shapes=[(2, 3)]),
    Case(op="repeat", fn=lambda lib, a: a.repeat(2, 1, 3), shapes=[(1, 3)], name="new_dims"),
    Case(op="repeat", fn=lambda lib, a: a.repeat((3,)), shapes=[()], name="scalar"),
    Case(op="repeat", fn=lambda lib, a: a.repeat(0, 2), shapes=[(2, 3)], name="zero"),
    Case(op="repeat", fn=lambda lib, a: a.tile((2,)), shapes=[(2, 3)], name="tile"),
    Case(op="repeat", fn=lambda lib, a: lib.tile(a, (2, 1, 2)), shapes=[(2, 3)],
         name="tile_more_dims"),
    Case(op="reshape_copy", fn=lambda lib, a: a.repeat_interleave(2, dim=-1), shapes=[(2, 3)],
         name="repeat_interleave"),
    Case(op="reshape_copy", fn=lambda lib, a: lib.repeat_interleave(a, 3), shapes=[(2, 2)],
         name="repeat_interleave_flat"),
    Case(op="index_select", fn=lambda lib, a, r: a.repeat_interleave(r, 0),
         make=lambda rng: [_u(rng, 3, 2), np.array([2, 0, 1])], nondiff=(1,),
         name="repeat_interleave_tensor"),
    # pad (PyTorch order: last dim first), crop with negative widths
    Case(op="constant_pad_nd", fn=lambda lib, a: lib.constant_pad_nd(a, (1, 2)), shapes=[(2, 3)]),
    Case(op="constant_pad_nd", fn=lambda lib, a: lib.constant_pad_nd(a, (1, 0, 0, 2), 3.0),
         shapes=[(2, 2, 3)], name="two_dims_value"),
    Case(op="constant_pad_nd", fn=lambda lib, a: lib.constant_pad_nd(a, (-1, 2, 1, -1)),
         shapes=[(3, 4)], name="crop"),
    # triangles, diagonals, trace
    Case(op="tril", fn=lambda lib, a: a.tril(), shapes=[(3, 4)]),
    Case(op="tril", fn=lambda lib, a: lib.tril(a, -1), shapes=[(2, 3, 3)], name="batched"),
    Case(op="triu", fn=lambda lib, a: a.triu(1), shapes=[(4, 3)]),
    Case(op="triu", fn=lambda lib, a: lib.triu(a, -2), shapes=[(2, 3, 4)], name="batched"),
    Case(op="diag_embed", fn=lambda lib, a: lib.diag(a), shapes=[(3,)], name="diag_1d"),
    Case(op="diag_embed", fn=lambda lib, a: a.diag(-2), shapes=[(3,)], name="diag_1d_offset"),
    Case(op="diagonal_copy", fn=lambda lib, a: a.diag(), shapes=[(3, 3)], name="diag_2d"),
    Case(op="diagonal_copy", fn=lambda lib, a: lib.diag(a, 1), shapes=[(3, 4)],
         name="diag_2d_offset"),
    Case(op="diagonal_copy", fn=lambda lib, a: lib.diag(a, -5), shapes=[(3, 4)],
         name="diag_2d_empty"),
    Case(op="diag_embed", fn=lambda lib, a: lib.diag_embed(a, 1, 0, 2), shapes=[(2, 3)]),
    Case(op="trace", fn=lambda lib, a: a.trace(), shapes=[(3, 3)]),
    Case(op="trace", fn=lambda lib, a: lib.trace(a), shapes=[(2, 4)], name="rectangular"),
    # index_select / gather / take_along_dim / take: repeated indices accumulate
    Case(op="index_select", fn=lambda lib, a, i: a.index_select(0, i),
         make=_with([0, 2, 0, 0], (3, 2)), nondiff=(1,), name="repeated"),
    Case(op="index_select", fn=lambda lib, a, i: lib.index_select(a, -1, i),
         make=_with([1, 1], (2, 3, 2)), nondiff=(1,), name="neg_dim"),
    Case(op="index_select", fn=lambda lib, a, i: a.index_select(0, i),
         make=_with([], (3, 2)), nondiff=(1,), name="empty_index"),
    Case(op="gather", fn=lambda lib, a, i: a.gather(1, i), make=_with(_GATHER_IDX, (2, 3)),
         nondiff=(1,), name="repeated", tags=("int_leaf",)),
    Case(op="gather", fn=lambda lib, a, i: lib.gather(a, -2, i),
         make=_with([[1, 0], [1, 1]], (3, 4)), nondiff=(1,), name="smaller_index"),
    Case(op="gather", fn=lambda lib, a, i: lib.take_along_dim(a, i),
         make=_with([5, 0, 5], (2, 3)), nondiff=(1,), name="take_along_dim_flat"),
    Case(op="gather", fn=lambda lib, a, i: lib.take_along_dim(a, i, dim=-1),
         make=_with([[2, 0, 2, 1]], (3, 4)), nondiff=(1,), name="take_along_dim_broadcast"),
    Case(op="take", fn=lambda lib, a, i: a.take(i), make=_with([[0, -1], [5, 0]], (2, 3)),
         nondiff=(1,), name="repeated_negative"),
    # scatter_add / scatter / masked_fill, out of place and in place (on a clone)
    Case(op="scatter_add", fn=lambda lib, a, i, s: lib.scatter_add(a, 1, i, s),
         make=_with(_GATHER_IDX, (2, 4), (2, 3)), nondiff=(1,), name="repeated",
         tags=("int_leaf",)),
    Case(op="scatter_add", fn=lambda lib, a, i, s: a.scatter_add(-2, i, s),
         make=_with([[0, 1], [0, 0]], (3, 2), (2, 2)), nondiff=(1,), name="neg_dim"),
    Case(op="scatter_add", fn=lambda lib, a, i, s: (a * 1).scatter_add_(1, i, s),
         make=_with(_GATHER_IDX, (2, 4), (2, 3)), nondiff=(1,), name="inplace"),
    Case(op="scatter", fn=lambda lib, a, i, s: lib.scatter(a, 1, i, s),
         make=_with([[0, 3], [2, 1]], (2, 4), (2, 2)), nondiff=(1,), name="src"),
    Case(op="scatter_value", fn=lambda lib, a, i: a.scatter(0, i, 1.5),
         make=_with([[1, 0, 1]], (2, 3)), nondiff=(1,), name="value"),
    Case(op="scatter", fn=lambda lib, a, i, s: (a * 1).scatter_(1, i, s),
         make=_with([[0, 3], [2, 1]], (2, 4), (2, 2)), nondiff=(1,), name="inplace"),
    Case(op="masked_fill", fn=lambda lib, a, m: a.masked_fill(m, 0.5),
         make=_masked((2, 3), (2, 3)), nondiff=(1,)),
    Case(op="masked_fill", fn=lambda lib, a, m: lib.masked_fill(a, m, -1.0),
         make=_masked((2, 1, 3), (4, 3)), nondiff=(1,), name="broadcast_mask"),
    Case(op="masked_fill_tensor", fn=lambda lib, a, m, v: a.masked_fill(m, v),
         make=_masked((2, 3), (2, 3), with_value=True), nondiff=(1,), name="tensor_value"),
    Case(op="masked_fill", fn=lambda lib, a, m: (a * 1).masked_fill_(m, 2.0),
         make=_masked((3,), (2, 3)), nondiff=(1,), name="inplace"),
    # index_add / index_copy / index_fill: one index vector along one dim
    Case(op="index_add", fn=lambda lib, a, i, s: lib.index_add(a, 1, i, s),
         make=_with([0, 3, 0], (2, 4), (2, 3)), nondiff=(1,), name="repeated",
         tags=("int_leaf",)),
    Case(op="index_add", fn=lambda lib, a, i, s: a.index_add(-2, i, s, alpha=-1.5),
         make=_with([2, 0], (3, 2), (2, 2)), nondiff=(1,), name="alpha_neg_dim"),
    Case(op="index_add", fn=lambda lib, a, i, s: (a * 1).index_add_(0, i, s, alpha=2),
         make=_with([1, 1, 0], (2, 3), (3, 3)), nondiff=(1,), name="inplace"),
    Case(op="index_add", fn=lambda lib, a, i, s: lib.index_add(a, 0, i, s),
         make=_with([0], (), ()), nondiff=(1,), name="zero_dim"),
    Case(op="index_add", fn=lambda lib, a, i, s: lib.index_add(a, 1, i, s),
         make=_with(np.zeros(0, np.int64), (2, 3), (2, 0)), nondiff=(1,), name="no_index"),
    Case(op="index_copy", fn=lambda lib, a, i, s: lib.index_copy(a, 1, i, s),
         make=_with([3, 0], (2, 4), (2, 2)), nondiff=(1,), tags=("int_leaf",)),
    Case(op="index_copy", fn=lambda lib, a, i, s: (a * 1).index_copy_(0, i, s),
         make=_with([2, 0], (3, 2), (2, 2)), nondiff=(1,), name="inplace"),
    Case(op="index_copy", fn=lambda lib, a, i, s: a.index_copy(0, i, s),
         make=_with([1], (3,), ()), nondiff=(1,), name="scalar_source"),
    Case(op="index_fill", fn=lambda lib, a, i: lib.index_fill(a, 1, i, -2.5),
         make=_with([0, 2, 0], (2, 4)), nondiff=(1,), name="repeated"),
    Case(op="index_fill", fn=lambda lib, a, i: (a * 1).index_fill_(0, i, 1.0),
         make=_with([1], (3, 2)), nondiff=(1,), name="inplace"),
    Case(op="index_fill_tensor", fn=lambda lib, a, i, v: a.index_fill(1, i, v),
         make=_with([1, 3, 1], (2, 4), ()), nondiff=(1,), name="tensor_value"),
    Case(op="index_fill_tensor", fn=lambda lib, a, i, v: (a * 1).index_fill_(-1, i, v),
         make=_with([0], (3, 2), ()), nondiff=(1,), name="tensor_value_inplace"),
]
# scatter_reduce: every reduction with and without self; repeated targets (no ties: the
# values are random), a zero in src for prod, in place, 0-d
_SR_IDX = [[0, 2, 0], [1, 1, 3]]
for _red in ("sum", "prod", "mean", "amax", "amin"):
    for _inc in (True, False):
        CASES.append(Case(
            op="scatter_reduce",
            fn=lambda lib, a, i, s, r=_red, inc=_inc: lib.scatter_reduce(
                a, 1, i, s, r, include_self=inc),
            make=_with(_SR_IDX, (2, 4), (2, 3)), nondiff=(1,),
            name=f"{_red}_{'self' if _inc else 'noself'}",
            tags=(TORCH_JVP_WRONG,) if _red == "prod" else ()))


def _with_zero(index, x_shape, s_shape):
    def make(rng):
        x, i, s = _with(index, x_shape, s_shape)(rng)
        s.flat[0] = 0.0
        return [x, i, s]
    return make


CASES += [
    Case(op="scatter_reduce", fn=lambda lib, a, i, s: a.scatter_reduce(0, i, s, "prod"),
         make=_with_zero([[1, 0], [1, 2]], (3, 2), (2, 2)), nondiff=(1,), name="prod_zero",
         tags=(TORCH_JVP_WRONG,)),
    Case(op="scatter_reduce",
         fn=lambda lib, a, i, s: (a * 1).scatter_reduce_(-1, i, s, "amax", include_self=False),
         make=_with([[2, 2, 0]], (1, 4), (1, 3)), nondiff=(1,), name="amax_inplace"),
    Case(op="scatter_reduce", fn=lambda lib, a, i, s: a.scatter_reduce(0, i, s, "mean"),
         make=_with([0, 0], (), (2,)), nondiff=(1,), name="mean_0d_self"),
]
