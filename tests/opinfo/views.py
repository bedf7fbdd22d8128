"""Cases for the view and indexing rows (``chainrule/ops/views.py``): getitem (basic keys,
a view), index (advanced keys, a copy), index_put and copy (``y[key] = v``, ``copy_``,
``fill_``, ``zero_``), reshape/view/flatten/squeeze/unsqueeze, permute/transpose/movedim,
expand, diagonal, clone and to_copy (``x.double()`` ...).

narrow, select, split, chunk and unbind are built on getitem, so their cases name it.
Negative slice steps are left out: PyTorch rejects them.  Index tensors and masks come
from ``make=`` as integer/bool arrays, which never require grad.
"""

from __future__ import annotations

import numpy as np

from ._case import Case
from ._harness import F32_INSIDE, INT_LEAF, NO_FD, NO_TORCH_GRAD


def _index(shape, *keys):
    """``make`` for a random float input of ``shape`` followed by ``keys``: fixed arrays,
    or ``key(rng)`` makers (index tensors, masks, values to write)."""
    return lambda rng: [rng.uniform(-2, 2, shape)] + [k(rng) if callable(k) else k
                                                     for k in keys]


def _mask(shape):
    return lambda rng: rng.random(shape) > 0.5


def _put(key):
    """``y = x.clone(); y[key] = v; return y`` with a tensor ``v``."""
    def fn(lib, x, v):
        y = x.clone()
        y[key] = v
        return y
    return fn


def _put_tensor_key(lib, x, i, v):
    y = x.clone()
    y[i] = v
    return y


def _put_mask_scalar(lib, x, m):
    y = x.clone()
    y[m] = 0.5
    return y


def _put_mask_0d(lib, x, m, v):
    y = x.clone()
    y[m] = v
    return y


GETITEM_CASES = [
    Case("getitem", lambda lib, x: x[0], shapes=[(3, 4)], name="int"),
    Case("getitem", lambda lib, x: x[-1], shapes=[(3, 4)], name="negative_int"),
    Case("getitem", lambda lib, x: x[1:3], shapes=[(4, 2)], name="slice"),
    Case("getitem", lambda lib, x: x[:, 1], shapes=[(3, 4)], name="column"),
    Case("getitem", lambda lib, x: x[..., 0], shapes=[(2, 3, 4)], name="ellipsis"),
    Case("getitem", lambda lib, x: x[None, 1:], shapes=[(3, 4)], name="none"),
    Case("getitem", lambda lib, x: x[..., None], shapes=[(3, 4)], name="none_last"),
    Case("getitem", lambda lib, x: x[::2], shapes=[(5, 3)], name="step"),
    Case("getitem", lambda lib, x: x[1:2, None, ..., ::3], shapes=[(3, 2, 7)],
         name="mixed"),
    Case("getitem", lambda lib, x: x[:, -3:-1], shapes=[(2, 5)], name="negative_bounds"),
    Case("getitem", lambda lib, x: x[0, 0], shapes=[(3, 4)], name="to_0d"),
    Case("getitem", lambda lib, x: x[...], shapes=[()], name="0d_ellipsis"),
    Case("getitem", lambda lib, x: x[None], shapes=[()], name="0d_none"),
    Case("getitem", lambda lib, x: x[1:1], shapes=[(3, 4)], name="empty_slice"),
    Case("getitem", lambda lib, x: x[10:], shapes=[(3, 4)], name="past_end"),
    Case("getitem", lambda lib, x, i: x[i], make=_index((3, 4), np.array(1)),
         name="0d_index_tensor"),
    Case("getitem", lambda lib, x: x[1:], make=lambda rng: [rng.integers(-5, 5, (3, 2))],
         name="int_input", grad=False),
    Case("getitem", lambda lib, x: x[1:], shapes=[(3, 2)], name="int_leaf", tags=(INT_LEAF,)),
    # x[1:] of a view, then a second view
    Case("getitem", lambda lib, x: x[1:][:, 0], shapes=[(3, 2)], name="view_of_view"),
    # ops built on getitem
    Case("getitem", lambda lib, x: x.narrow(1, 1, 2), shapes=[(3, 4)], name="narrow"),
    Case("getitem", lambda lib, x: lib.narrow(x, 0, -2, 2), shapes=[(3, 4)],
         name="narrow_negative_start"),
    Case("getitem", lambda lib, x: x.select(1, -1), shapes=[(3, 4)], name="select"),
    Case("split", lambda lib, x: x.split(2), shapes=[(5, 3)], name="split"),
    Case("split", lambda lib, x: lib.split(x, [1, 3], dim=1), shapes=[(2, 4)],
         name="split_sizes"),
    Case("split", lambda lib, x: x.chunk(3, dim=1), shapes=[(2, 7)], name="chunk"),
    Case("split", lambda lib, x: lib.chunk(x, 2), shapes=[(4,)], name="chunk_fn"),
    Case("split", lambda lib, x: x.unbind(1), shapes=[(2, 3)], name="unbind"),
    Case("split", lambda lib, x: lib.unbind(x), shapes=[(3,)], name="unbind_to_0d"),
]

INDEX_CASES = [
    Case("index", lambda lib, x: x[[0, 2, 0]], shapes=[(3, 4)], name="repeated_list"),
    Case("index", lambda lib, x: x[[-1, 0]], shapes=[(3, 4)], name="negative_list"),
    Case("index", lambda lib, x, i: x[i],
         make=_index((3, 4), lambda rng: rng.integers(0, 3, 5)), name="tensor_repeats"),
    Case("index", lambda lib, x, i: x[i],
         make=_index((3, 4), lambda rng: rng.integers(-3, 3, (2, 2))), name="tensor_2d"),
    Case("index", lambda lib, x, i: x[i],
         make=_index((3, 4), np.zeros(0, np.int64)), name="empty_index"),
    Case("index", lambda lib, x, m: x[m], make=_index((3, 4), _mask((3, 4))), name="mask"),
    Case("index", lambda lib, x, m: x[m], make=_index((3, 4), _mask((3,))), name="row_mask"),
    Case("index", lambda lib, x, m: x[m], make=_index((3, 4), np.zeros((3, 4), bool)),
         name="mask_none"),
    Case("index", lambda lib, x, m: x[:, m], make=_index((3, 4), _mask((4,))),
         name="column_mask"),
    Case("index", lambda lib, x: x[[True, False, True]], shapes=[(3, 4)], name="bool_list"),
    Case("index", lambda lib, x: x[x > 0], shapes=[(3, 4)], name="mask_from_values"),
    # an advanced index split by a slice moves its dims to the front
    Case("index", lambda lib, x: x[[0, 1], :, [2, 3]], shapes=[(2, 3, 4)], name="split_by_slice"),
    Case("index", lambda lib, x: x[:, [1, 0]], shapes=[(3, 4)], name="second_dim"),
    Case("index", lambda lib, x: x[0, [1, 2]], shapes=[(2, 3, 4)], name="int_and_list"),
    Case("index", lambda lib, x: x[1:, [0, 2]], shapes=[(2, 3, 4)], name="slice_and_list"),
    Case("index", lambda lib, x: x[..., [0, 2, 2]], shapes=[(2, 3, 4)], name="ellipsis_list"),
    Case("index", lambda lib, x: x[None, [0, 1]], shapes=[(3, 4)], name="none_list"),
    Case("index", lambda lib, x, i, j: x[i, j],
         make=_index((3, 4), lambda rng: rng.integers(0, 3, (2, 1)),
                     lambda rng: rng.integers(0, 4, 3)), name="broadcast_indices"),
    Case("index", lambda lib, x, i: x[i],
         make=lambda rng: [rng.integers(-5, 5, (3, 4)), rng.integers(0, 3, 4)],
         name="int_input", grad=False),
    Case("index", lambda lib, x: x[[0, 0, 2]], shapes=[(3,)], name="int_leaf",
         tags=(INT_LEAF,)),
]

INDEX_PUT_CASES = [
    Case("index_put", _put([0, 2]), shapes=[(3, 4), (2, 4)], name="rows"),
    Case("index_put", _put([0, 2]), shapes=[(3, 4), (4,)], name="broadcast_value"),
    Case("index_put", _put((slice(None), [1, 3])), shapes=[(3, 4), (3, 2)], name="columns"),
    Case("index_put", _put_tensor_key,
         make=_index((3, 4), lambda rng: rng.permutation(3)[:2], lambda rng:
                     rng.uniform(-2, 2, (2, 4))), name="tensor_key"),
    Case("index_put", _put_mask_scalar, make=_index((3, 4), _mask((3, 4))),
         name="mask_scalar"),
    Case("index_put", _put_mask_0d, make=_index((3, 4), _mask((3, 4)), np.array(0.5)),
         name="mask_0d_value"),
    # Note [duplicate indices in assignment]: the last write wins, and only it gets a
    # gradient (the true derivative); PyTorch sends g[idx] to every duplicate
    Case("index_put", _put([0, 0, 1]), shapes=[(3, 4), (3, 4)], name="duplicates",
         tags=(NO_TORCH_GRAD,)),
]


def _copy_into_zeros(lib, x):
    y = lib.zeros(3, 4, dtype=x.dtype)
    y[...] = x
    return y


def _copy_into_default_dtype(lib, x):
    y = lib.zeros(3, 4)  # the default dtype, float32: the value is cast
    y[1:] = x
    return y


def _copy_into_float64(lib, x):
    y = lib.zeros(2, 3, dtype=lib.float64)
    y[0] = x
    return y


def _setitem_row(lib, x, v):
    y = x.clone()
    y[0] = v
    return y


def _setitem_scalar(lib, x):
    y = x.clone()
    y[0, 1] = 2.0
    return y


def _setitem_0d(lib, x, v):
    y = x.clone()
    y[:, 0] = v
    return y


def _seed(lib, x):
    # the founding example: write a function of x into a zeros tensor
    y = lib.zeros(1, 2, dtype=x.dtype)
    y[0, 0] = x[0, 0] ** 2 + 3 * x[0, 1]
    y[0, 1] = x[0, 1] ** 2 + 2 * x[0, 0]
    return y


def _fill(lib, x, v):
    y = x.clone()
    y.fill_(v)
    return y


def _zero(lib, x):
    y = x * 1
    y.zero_()
    return y


def _zero_view(lib, x):
    y = x.clone()
    y[1:].zero_()
    return y


COPY_CASES = [
    Case("copy", _copy_into_zeros, shapes=[(3, 4)], name="into_zeros"),
    Case("copy", _copy_into_default_dtype, shapes=[(2, 4)], name="cast"),
    Case("copy", _copy_into_float64, shapes=[(3,)], name="into_float64"),
    Case("copy", _setitem_row, shapes=[(3, 4), (4,)], name="row"),
    Case("copy", _setitem_scalar, shapes=[(3, 4)], name="python_scalar"),
    Case("copy", _setitem_0d, shapes=[(3, 4), ()], name="0d_value"),
    Case("copy", _seed, shapes=[(1, 2)], name="seed"),
    Case("copy", lambda lib, x: lib.zeros(3, 4, dtype=x.dtype).copy_(x), shapes=[(4,)],
         name="copy_broadcast"),
    Case("copy", lambda lib, x, y: x.clone().copy_(y), shapes=[(2, 3), (2, 3)],
         name="copy_over_graph"),
    Case("copy", _fill, shapes=[(2, 3), ()], name="fill_tensor"),
    Case("copy", _zero, shapes=[(2, 3)], name="zero"),
    Case("copy", _zero_view, shapes=[(3, 2)], name="zero_view"),
]

RESHAPE_CASES = [
    Case("reshape", lambda lib, x: x.reshape(4, 3), shapes=[(3, 4)]),
    Case("reshape", lambda lib, x: x.reshape(-1), shapes=[(3, 4)], name="minus_one"),
    Case("reshape", lambda lib, x: lib.reshape(x, (2, -1, 3)), shapes=[(3, 4)], name="fn"),
    Case("reshape", lambda lib, x: x.reshape(()), shapes=[(1,)], name="to_0d"),
    Case("reshape", lambda lib, x: x.reshape(1, 1), shapes=[()], name="from_0d"),
    Case("reshape", lambda lib, x: x.reshape(3, 0), shapes=[(0, 3)], name="empty"),
    Case("reshape_copy", lambda lib, x: x.t().reshape(-1), shapes=[(3, 4)],
         name="non_contiguous"),
    Case("reshape_copy", lambda lib, x: x.permute(0, 2, 1).flatten(1), shapes=[(2, 3, 4)],
         name="flatten_permuted"),
    Case("reshape", lambda lib, x: x.t().reshape(4, 1, 3), shapes=[(3, 4)],
         name="non_contiguous_view"),
    Case("reshape", lambda lib, x: x.view(2, 6), shapes=[(3, 4)], name="view"),
    Case("reshape", lambda lib, x: x.view(-1, 2), shapes=[(3, 4)], name="view_minus_one"),
    Case("reshape", lambda lib, x, y: x.view_as(y), shapes=[(3, 4), (2, 6)], name="view_as"),
    Case("reshape", lambda lib, x, y: x.reshape_as(y), shapes=[(3, 4), (12,)],
         name="reshape_as"),
    Case("reshape", lambda lib, x: x.flatten(), shapes=[(2, 3, 4)], name="flatten"),
    Case("reshape", lambda lib, x: x.flatten(1), shapes=[(2, 3, 4)], name="flatten_start"),
    Case("reshape", lambda lib, x: lib.flatten(x, 0, 1), shapes=[(2, 3, 4)],
         name="flatten_fn"),
    Case("reshape", lambda lib, x: x.flatten(), shapes=[()], name="flatten_0d"),
    Case("reshape", lambda lib, x: x.unflatten(1, (2, 2)), shapes=[(3, 4)], name="unflatten"),
    Case("squeeze", lambda lib, x: x.squeeze(), shapes=[(3, 1, 4, 1)], name="squeeze"),
    Case("squeeze", lambda lib, x: x.squeeze(1), shapes=[(3, 1, 4)], name="squeeze_dim"),
    Case("squeeze", lambda lib, x: x.squeeze(0), shapes=[(3, 4)], name="squeeze_noop"),
    Case("squeeze", lambda lib, x: lib.squeeze(x, (0, 2)), shapes=[(1, 3, 1)],
         name="squeeze_dims"),
    Case("unsqueeze", lambda lib, x: x.unsqueeze(0), shapes=[(3, 4)], name="unsqueeze"),
    Case("unsqueeze", lambda lib, x: lib.unsqueeze(x, -1), shapes=[(3, 4)],
         name="unsqueeze_last"),
    Case("unsqueeze", lambda lib, x: x.unsqueeze(0), shapes=[()], name="unsqueeze_0d"),
    Case("reshape", lambda lib, x: x.reshape(2, 3), shapes=[(6,)], name="int_leaf",
         tags=(INT_LEAF,)),
]

UNFOLD_CASES = [
    Case("unfold", lambda lib, x: x.unfold(1, 2, 1), shapes=[(3, 4)]),
    Case("unfold", lambda lib, x: x.unfold(0, 2, 2), shapes=[(5, 2)], name="step"),
    Case("unfold", lambda lib, x: x.unfold(-1, 3, 2), shapes=[(2, 3, 7)], name="last"),
    Case("unfold", lambda lib, x: x.t().unfold(1, 2, 1), shapes=[(3, 4)], name="transposed"),
    Case("unfold", lambda lib, x: x.unfold(0, 0, 1), shapes=[(3,)], name="empty_window"),
]

PERMUTE_CASES = [
    Case("permute", lambda lib, x: x.permute(2, 0, 1), shapes=[(2, 3, 4)]),
    Case("permute", lambda lib, x: lib.permute(x, (1, 0)), shapes=[(3, 4)], name="fn"),
    Case("permute", lambda lib, x: x.permute(-1, 0, 1), shapes=[(2, 3, 4)], name="negative"),
    Case("permute", lambda lib, x: x.transpose(0, 1), shapes=[(3, 4)], name="transpose"),
    Case("permute", lambda lib, x: lib.transpose(x, -1, 0), shapes=[(2, 3, 4)],
         name="transpose_fn"),
    Case("permute", lambda lib, x: x.t(), shapes=[(3, 4)], name="t"),
    Case("permute", lambda lib, x: x.T, shapes=[(3, 4)], name="T"),
    Case("permute", lambda lib, x: x.mT, shapes=[(2, 3, 4)], name="mT"),
    Case("permute", lambda lib, x: x.movedim(0, -1), shapes=[(2, 3, 4)], name="movedim"),
    Case("permute", lambda lib, x: lib.movedim(x, (0, 1), (2, 0)), shapes=[(2, 3, 4)],
         name="movedim_many"),
    Case("permute", lambda lib, x: x.swapaxes(0, 2), shapes=[(2, 3, 4)], name="swapaxes"),
    Case("permute", lambda lib, x: x.permute(1, 0), shapes=[(0, 3)], name="empty"),
]

EXPAND_CASES = [
    Case("expand", lambda lib, x: x.expand(3, 4), shapes=[(3, 1)]),
    Case("expand", lambda lib, x: x.expand(2, 3, 4), shapes=[(3, 1)], name="new_dims"),
    Case("expand", lambda lib, x: x.expand(-1, 4), shapes=[(3, 1)], name="minus_one"),
    Case("expand", lambda lib, x: x.expand(3), shapes=[()], name="from_0d"),
    Case("expand", lambda lib, x: lib.broadcast_to(x, (2, 3, 4)), shapes=[(4,)],
         name="broadcast_to"),
    Case("expand", lambda lib, x, y: x.expand_as(y), shapes=[(1, 4), (3, 4)],
         name="expand_as"),
    Case("expand", lambda lib, x: x.expand(0, 4), shapes=[(1, 4)], name="to_empty"),
]

DIAGONAL_CASES = [
    Case("diagonal", lambda lib, x: x.diagonal(), shapes=[(4, 4)]),
    Case("diagonal", lambda lib, x: x.diagonal(1), shapes=[(3, 4)], name="offset"),
    Case("diagonal", lambda lib, x: x.diagonal(-1), shapes=[(3, 4)], name="negative_offset"),
    Case("diagonal", lambda lib, x: x.diagonal(offset=5), shapes=[(3, 4)], name="empty"),
    Case("diagonal", lambda lib, x: x.diagonal(0, 1, 2), shapes=[(2, 3, 4)], name="dims"),
    Case("diagonal", lambda lib, x: lib.diagonal(x, 1, -1, -3), shapes=[(2, 3, 4)],
         name="dims_reversed"),
]

COPY_ROW_CASES = [
    Case("clone", lambda lib, x: x.clone(), shapes=[(3, 4)]),
    Case("clone", lambda lib, x: lib.clone(x), shapes=[()], name="0d"),
    Case("clone", lambda lib, x: x.t().contiguous(), shapes=[(3, 4)], name="contiguous"),
    Case("clone", lambda lib, x: x.clone(), make=lambda rng: [rng.integers(0, 5, 3)],
         name="int", grad=False),
    Case("to_copy", lambda lib, x: x.double(), shapes=[(3, 4)], name="double"),
    Case("to_copy", lambda lib, x: x.float(), shapes=[(3, 4)], name="float"),
    Case("to_copy", lambda lib, x: x.to(lib.float32), shapes=[()], name="to_0d"),
    Case("to_copy", lambda lib, x: x.to(dtype=lib.float64), shapes=[(3,)], name="to_kwarg"),
    Case("to_copy", lambda lib, x: x.to(x.dtype, copy=True), shapes=[(3,)], name="copy"),
    # through float32 and back: the float32 rounding hides finite differences
    Case("to_copy", lambda lib, x: x.float().double(), shapes=[(3,)], name="round_trip",
         tags=(NO_FD, F32_INSIDE)),
    Case("to_copy", lambda lib, x: x.long(), shapes=[(3, 4)], domain=(-5, 5), name="long",
         grad=False),
    Case("to_copy", lambda lib, x: x.bool(), make=lambda rng: [np.array([0.0, 1.5, -2.0])],
         name="bool", grad=False),
    Case("to_copy", lambda lib, x: x.double(), make=lambda rng: [rng.integers(-5, 5, 3)],
         name="int_input", grad=False),
    Case("to_copy", lambda lib, x: x.double() * 2, shapes=[(3,)], name="int_leaf",
         tags=(INT_LEAF,)),
]

def _inplace_through_view(lib, x, z):
    y = x * 1
    y[1:].mul_(z)  # CopySlices: the base's history is rewritten
    return y


def _add_into_row(lib, x, z):
    y = x.clone()
    v = y[0]
    v.add_(z)
    return y, v


def _put_into_view(lib, x, v):
    y = x.clone()
    y[0][[0, 2]] = v
    return y


def _put_into_transposed(lib, x, v):
    y = x.clone()
    y.t()[0] = v
    return y


def _iadd_advanced(lib, x, v):
    y = x.clone()
    y[[0, 2]] += v  # getitem (index), add, then index_put
    return y


def _mask_into_slice(lib, x, m, v):
    y = x.clone()
    y[:, 1:][m] = v
    return y


# in-place ops through views: each case names the row written through the view
THROUGH_VIEW_CASES = [
    Case("mul", _inplace_through_view, shapes=[(3, 2), (2,)], name="inplace_through_view"),
    Case("add", _add_into_row, shapes=[(3, 2), (2,)], name="inplace_into_row"),
    Case("index_put", _put_into_view, shapes=[(2, 3), (2,)], name="into_view"),
    Case("copy", _put_into_transposed, shapes=[(2, 3), (2,)], name="into_transposed"),
    Case("index_put", _iadd_advanced, shapes=[(3, 4), (2, 4)], name="iadd"),
    Case("index_put", _mask_into_slice,
         make=_index((3, 4), _mask((3, 3)), np.array(0.5)), name="mask_into_slice"),
]

CASES = (THROUGH_VIEW_CASES + GETITEM_CASES + INDEX_CASES + INDEX_PUT_CASES + COPY_CASES
         + RESHAPE_CASES + UNFOLD_CASES + PERMUTE_CASES + EXPAND_CASES + DIAGONAL_CASES
         + COPY_ROW_CASES)
