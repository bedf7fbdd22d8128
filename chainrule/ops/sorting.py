"""Order-based ops: max, min, amax, amin, aminmax, argmax, argmin, median, sort, topk.

Rule vocabulary as in ``reductions.py``: ``rule(xp, g, x, out, *params)``, ``g`` the
cotangent of ``out`` (with ``xp.nb`` leading batch dims), axes as negative ints; JVPs
``jvp(xp, ts, x, out, *params)`` read the input's tangent ``ts[0]``.

Two kinds of derivative:
- *spread* rows (``amax``, ``amin``, whole-tensor ``max``/``min``/``median``): the
  gradient is split evenly among all entries equal to the result (Note [ties]), and the
  tangent is the mean of the tangents of those entries (the transpose);
- *select* rows (``max(dim)``, ``min(dim)``, ``median(dim)``, ``sort``, ``topk``): the
  op also returns indices; the values are the recorded output, and their rule sends
  ``g`` to exactly those indices (``xp.scatter_along``); the tangent is the input's
  tangent gathered at them.  The indices are computed by the
  public function and kept in the row's params; the indices tensor is a plain int64
  tensor that does not require grad, as in PyTorch.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from .._tensor import Tensor, wrap
from ..backend.array_api import np_dtype
from ..backend.batched import BatchedArray, physical, rewrap
from ..backend.registry import backend_of
from ._core import Op, unary
from .reductions import check_tensor, keep_dims, numpy_names, one_dim, reduce_dims

_ndarray = np.ndarray

_I64 = np.dtype(np.int64)

# ---- named results: torch.return_types.max(values=..., indices=...) --------------------------

def _return_type(name, fields=("values", "indices")):
    cls = namedtuple(name, fields)

    def __repr__(self):
        body = ",\n".join(f"{f}={v!r}" for f, v in zip(fields, self))
        return f"torch.return_types.{name}(\n{body})"
    cls.__repr__ = __repr__
    cls.__module__ = "chainrule.return_types"
    return cls


RETURN_TYPES = {n: _return_type(n) for n in ("max", "min", "median", "sort", "topk",
                                             "kthvalue")}
RETURN_TYPES["aminmax"] = _return_type("aminmax", ("min", "max"))


# ---- spread rows ----------------------------------------------------------------------------

def _share(xp, hit, axes, dtype):
    # Note [ties]: every entry equal to the result gets g / (number of such entries),
    # as PyTorch does for amax/amin and whole-tensor max/min/median.
    # (float16 in float32: a count above 65504 would be inf, as PyTorch avoids)
    wide = np.float32 if str(dtype).endswith("float16") else dtype
    hit = xp.astype(hit, wide)
    return xp.astype(hit / xp.sum(hit, axes, keepdims=True), dtype)


def _spread_weights(xp, x, out, axes, keepdim, dtype):
    return _share(xp, x == keep_dims(xp, out, axes, keepdim), axes, dtype)


def _spread_nan_weights(xp, x, out, axes, keepdim, dtype):
    # Note [NaN result]: whole-tensor max/min/median that return NaN send the gradient to
    # the NaN entries (PyTorch's evenly_distribute_backward); amax/amin give NaN there.
    o = keep_dims(xp, out, axes, keepdim)
    return _share(xp, (x == o) | (xp.isnan(x) & xp.isnan(o)), axes, dtype)


def _spread_vjp(xp, g, x, out, axes, keepdim, shape):
    w = _spread_weights(xp, x, out, axes, keepdim, g.dtype)
    return xp.unreduce(g, shape, axes, keepdim) * w


def _spread_nan_vjp(xp, g, x, out, axes, keepdim, shape):
    w = _spread_nan_weights(xp, x, out, axes, keepdim, g.dtype)
    return xp.unreduce(g, shape, axes, keepdim) * w


def _spread_jvp(xp, ts, x, out, axes, keepdim, shape):
    # the mean of the tangents of the entries equal to the result
    t = ts[0]
    return xp.sum(t * _spread_weights(xp, x, out, axes, keepdim, t.dtype), axes, keepdim)


def _spread_nan_jvp(xp, ts, x, out, axes, keepdim, shape):
    t = ts[0]
    return xp.sum(t * _spread_nan_weights(xp, x, out, axes, keepdim, t.dtype), axes, keepdim)

def _amax_forward(xp, a, axes, keepdim, shape):
    return xp.maximum_reduce(a, axis=axes, keepdims=keepdim)


def _amin_forward(xp, a, axes, keepdim, shape):
    return xp.minimum_reduce(a, axis=axes, keepdims=keepdim)


def _no_bool_median(a):
    if np_dtype(a.dtype) == np.bool_:
        raise NotImplementedError(f"\"median_cpu\" not implemented for 'Bool' (median of a "
                                  f"bool tensor of shape {list(a.shape)}; use x.long())")


def _median_forward(xp, a, axes, keepdim, shape):
    # the lower median of all (unbatched) entries; NaN if any entry is NaN
    n = 1
    for s in shape:
        n *= s
    flat = xp.reshape(a, (n,))
    if n == 0:
        return xp.add_reduce(flat, axis=-1) * math.nan
    out = xp.kth(flat, (n - 1) // 2)
    if xp.dtype_of(a).kind == "f":
        out = xp.where(xp.any(xp.isnan(flat), axis=-1), math.nan, out)
    return out


_SPREAD = "d {}(x) = g split evenly among the entries equal to the result"
AMAX, AMIN, MAX, MIN = (Op(name, forward, (vjp,), node=node, reads=((0, 1),), jvp=jvp,
                           formula=_SPREAD.format(name))
                        for name, forward, vjp, jvp, node in (
                            ("amax", _amax_forward, _spread_vjp, _spread_jvp, "AmaxBackward0"),
                            ("amin", _amin_forward, _spread_vjp, _spread_jvp, "AminBackward0"),
                            ("max", _amax_forward, _spread_nan_vjp, _spread_nan_jvp,
                             "MaxBackward1"),
                            ("min", _amin_forward, _spread_nan_vjp, _spread_nan_jvp,
                             "MinBackward1")))
MEDIAN = Op("median", _median_forward, (_spread_nan_vjp,), node="MedianBackward0",
            reads=((0, 1),), jvp=_spread_nan_jvp, formula=_SPREAD.format("median"))

def _aminmax_forward(xp, a, axes, keepdim, shape, largest):
    return (xp.maximum_reduce if largest else xp.minimum_reduce)(a, axis=axes,
                                                                  keepdims=keepdim)


# one row for both results, so both grad_fns are named AminmaxBackward0 as in PyTorch
# (where a single node has two outputs)
AMINMAX = Op("aminmax", _aminmax_forward,
             (lambda xp, g, x, out, axes, keepdim, shape, largest:
              _spread_vjp(xp, g, x, out, axes, keepdim, shape),),
             jvp=lambda xp, ts, x, out, axes, keepdim, shape, largest:
             _spread_jvp(xp, ts, x, out, axes, keepdim, shape),
             reads=((0, 1),), formula=_SPREAD.format("aminmax"))


def _check_nonempty(x, axes, op, whole=False):
    shape = x._data.shape
    if whole and x._data.size == 0:
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for "
                           f"input.numel() == 0. Specify the reduction dim with the 'dim' "
                           f"argument (tensor of shape {list(shape)}).")
    for a in axes:
        if shape[a] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {a % len(shape)} to have "
                             f"non-zero size (tensor of shape {list(shape)}).")


def _spread(op, x, dim, keepdim, name):
    check_tensor(x, name)
    axes = reduce_dims(x, dim, name, nonempty=True)
    _check_nonempty(x, axes, name, whole=dim is None or dim == ())
    return unary(op, x, axes, bool(keepdim), x._data.shape)


@numpy_names
def amax(input, dim=(), keepdim=False):
    """Maximum over ``dim`` (all dims by default); ties share the gradient evenly."""
    return _spread(AMAX, input, dim, keepdim, "amax")


@numpy_names
def amin(input, dim=(), keepdim=False):
    """Minimum over ``dim`` (all dims by default); ties share the gradient evenly."""
    return _spread(AMIN, input, dim, keepdim, "amin")


@numpy_names
def aminmax(input, *, dim=None, keepdim=False):
    """``(min, max)`` over ``dim`` (all dims when None), as a named tuple."""
    check_tensor(input, "aminmax")
    if dim is None and input._data.size == 0:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                           "operation has no identity.")
    axes = reduce_dims(input, dim, "aminmax")
    _check_nonempty(input, axes, "aminmax")
    params = (axes, bool(keepdim), input._data.shape)
    return RETURN_TYPES["aminmax"](unary(AMINMAX, input, *params, False),
                                   unary(AMINMAX, input, *params, True))


# ---- select rows ----------------------------------------------------------------------------

def _take_forward(xp, a, idx, axis, keepdim, shape):
    if axis is None:  # 0-d input
        return xp.copy(a)
    # idx has no batch dims
    v = xp.gather(a, idx, axis) if xp.nb else xp.take_along(a, idx, axis)
    return v if keepdim else xp.squeeze(v, axis=axis)


def _take_vjp(xp, g, x, out, idx, axis, keepdim, shape):
    if axis is None:
        return g
    if not keepdim:
        g = xp.reshape(g, idx.shape)
    return xp.scatter_along(g, shape, idx, axis)


def _take_jvp(xp, ts, x, out, idx, axis, keepdim, shape):
    # the tangent at the selected indices
    t = ts[0]
    if axis is None:
        return t
    picked = xp.gather(t, idx, axis)
    return picked if keepdim else xp.reshape(picked, out.shape)


_SELECT = "d {}: g goes to the selected indices, 0 elsewhere"
MAX_DIM = Op("max_dim", _take_forward, (_take_vjp,), node="MaxBackward0", jvp=_take_jvp,
             formula=_SELECT.format("max(x, dim).values"))
MIN_DIM = Op("min_dim", _take_forward, (_take_vjp,), node="MinBackward0", jvp=_take_jvp,
             formula=_SELECT.format("min(x, dim).values"))
MEDIAN_DIM = Op("median_dim", _take_forward, (_take_vjp,), node="MedianBackward1",
                jvp=_take_jvp, formula=_SELECT.format("median(x, dim).values"))
SORT, SORT_STABLE = (Op(name, _take_forward, (_take_vjp,), node=node, jvp=_take_jvp,
                        formula=_SELECT.format("sort(x).values (the inverse permutation)"))
                     for name, node in (("sort", "SortBackward0"),
                                        ("sort_stable", "SortBackward1")))
TOPK = Op("topk", _take_forward, (_take_vjp,), node="TopkBackward0", jvp=_take_jvp,
          formula=_SELECT.format("topk(x, k).values"))
KTHVALUE = Op("kthvalue", _take_forward, (_take_vjp,), node="KthvalueBackward0",
              jvp=_take_jvp, formula=_SELECT.format("kthvalue(x, k).values"))


def _select(op, rtype, x, idx, axis, keepdim):
    """Values through the recorded row, indices as a plain int64 tensor."""
    values = unary(op, x, idx, axis, keepdim, x._data.shape)
    if type(x._data) is not _ndarray:  # the indices stay on the input's library
        m = backend_of(x._data).xp.m
        if axis is None:
            idx = m.zeros((), dtype=m.int64, **_same_device(x._data))
        elif not keepdim:
            idx = m.squeeze(idx, axis=axis)
        return RETURN_TYPES[rtype](values, wrap(idx if idx.dtype == m.int64
                                                else m.astype(idx, m.int64)))
    if axis is None:
        idx = np.zeros((), np.int64)
    elif not keepdim:
        idx = np.squeeze(idx, axis)
    return RETURN_TYPES[rtype](values, wrap(np.array(idx, np.int64, order="C")))


def _same_device(a) -> dict:
    dev = getattr(a, "device", None)
    return {} if dev is None or isinstance(dev, str) else {"device": dev}


def _argsort(a, axis, descending):
    """Stable argsort; descending keeps equal entries in their original order (and puts
    NaN first, as PyTorch).  Computed by the input's library (no trip to the host)."""
    if type(a) is _ndarray:
        if not descending:
            return np.argsort(a, axis=axis, kind="stable")
        s = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
        return (a.shape[axis] - 1) - np.flip(s, axis)
    m = backend_of(a).xp.m
    if not descending:
        return m.argsort(a, axis=axis, stable=True)
    s = m.argsort(m.flip(a, axis=axis), axis=axis, stable=True)
    return (a.shape[axis] - 1) - m.flip(s, axis=axis)


def _extreme(name, op_whole, op_dim, argfn, input, dim, keepdim, other):
    check_tensor(input, name)
    if isinstance(dim, Tensor):
        dim, other = None, dim
    if other is not None:
        if not isinstance(other, Tensor):
            raise TypeError(f"{name}(): argument 'other' must be Tensor, not "
                            f"{type(other).__name__} (use clamp for a number bound)")
        from .._functions import maximum, minimum
        return (maximum if name == "max" else minimum)(input, other)
    if dim is None:
        _check_nonempty(input, (), name, whole=True)
        return unary(op_whole, input, reduce_dims(input, None, name), False,
                     input._data.shape)
    axis = one_dim(input, dim, name)
    if axis is not None:
        _check_nonempty(input, (axis,), name)
    a = input._data
    if axis is not None and type(a) is not _ndarray:  # on the input's library
        argfn = getattr(backend_of(a).xp.m, argfn.__name__)
    idx = None if axis is None else argfn(a, axis=axis, keepdims=True)
    return _select(op_dim, name, input, idx, axis, bool(keepdim))


@numpy_names
def max(input, dim=None, keepdim=False, *, other=None):
    """``max(x)``: the largest element (ties share the gradient).  ``max(x, dim)``:
    ``(values, indices)`` of the first maximum along ``dim``.  ``max(x, y)``: maximum."""
    return _extreme("max", MAX, MAX_DIM, np.argmax, input, dim, keepdim, other)


@numpy_names
def min(input, dim=None, keepdim=False, *, other=None):
    """``min(x)``, ``min(x, dim)`` -> ``(values, indices)``, or ``min(x, y)``; see max."""
    return _extreme("min", MIN, MIN_DIM, np.argmin, input, dim, keepdim, other)


def _arg(word, name):
    def forward(xp, a, axis, keepdim):
        fn = getattr(xp, word)
        if axis is not None:
            r = fn(a, axis=axis, keepdims=keepdim)
        else:  # over the flattened (unbatched) tensor
            r = fn(xp.reshape(a, (-1,)), axis=-1)
            if keepdim:
                r = xp.reshape(r, (1,) * (a.ndim - xp.nb))
        return r if r.dtype is _I64 else xp.astype(r, np.int64)
    op = Op(name, forward, differentiable=False,
            formula=f"{name}(x) is not differentiable (no gradient flows)")

    def public(input, dim=None, keepdim=False):
        check_tensor(input, name)
        if np_dtype(input._data.dtype) == np.bool_:
            raise RuntimeError(f"{name}(): does not support bool input (tensor of shape "
                               f"{list(input._data.shape)}; use x.long())")
        if dim is None:
            if input._data.size == 0:
                raise IndexError(f"{name}(): Expected reduction dim to be specified for "
                                 f"input.numel() == 0.")
            return unary(op, input, None, bool(keepdim))
        axis = one_dim(input, dim, name)
        if axis is None:
            return unary(op, input, None, False)
        _check_nonempty(input, (axis,), name)
        return unary(op, input, axis, bool(keepdim))
    public.__name__ = name
    public.__doc__ = (f"Index of the first {name[3:]}imum (over the flattened tensor when "
                      f"``dim`` is None); int64, not differentiable.")
    return op, numpy_names(public)


ARGMAX, argmax = _arg("argmax", "argmax")
ARGMIN, argmin = _arg("argmin", "argmin")


@numpy_names
def median(input, dim=None, keepdim=False):
    """``median(x)``: the lower median of all elements (NaN if any is NaN; ties share the
    gradient).  ``median(x, dim)``: ``(values, indices)`` along ``dim``."""
    check_tensor(input, "median")
    if dim is None:
        _no_bool_median(input._data)
        return unary(MEDIAN, input, reduce_dims(input, None, "median"), False,
                     input._data.shape)
    axis = one_dim(input, dim, "median")  # PyTorch checks dim before the dtype
    _no_bool_median(input._data)
    if axis is None:
        return _select(MEDIAN_DIM, "median", input, None, None, bool(keepdim))
    _check_nonempty(input, (axis,), "median")
    a = input._data
    n = a.shape[axis]
    order = _argsort(a, axis, False)
    if type(a) is _ndarray:
        pos = np.full(a.shape[:a.ndim + axis] + (1,) + a.shape[a.ndim + axis + 1:],
                      (n - 1) // 2)
        if np_dtype(a.dtype).kind == "f":  # a NaN is the median, and argsort puts NaNs last
            nans = np.isnan(a).sum(axis=axis, keepdims=True)
            pos = np.where(nans > 0, n - nans, pos)
        idx = np.take_along_axis(order, pos, axis)
    else:  # the same on the input's library
        xp = backend_of(a).xp
        m = xp.m
        key = (slice(None),) * (a.ndim + axis) + (slice((n - 1) // 2, (n - 1) // 2 + 1), ...)
        idx = order[key]
        if np_dtype(a.dtype).kind == "f":
            nans = m.sum(m.astype(m.isnan(a), m.int64), axis=axis, keepdims=True)
            idx = m.where(nans > 0, xp.take_along(order, n - m.maximum(nans, 1), axis), idx)
    return _select(MEDIAN_DIM, "median", input, idx, axis, bool(keepdim))


@numpy_names
def sort(input, dim=-1, descending=False, *, stable=None):
    """``(values, indices)`` sorted along ``dim``.  Always stable: equal elements keep
    their order (PyTorch guarantees that only with ``stable=True``).  Passing ``stable``
    at all selects PyTorch's other overload, whose grad_fn is SortBackward1."""
    check_tensor(input, "sort")
    axis = one_dim(input, dim, "sort")
    idx = None if axis is None else _argsort(input._data, axis, descending)
    return _select(SORT if stable is None else SORT_STABLE, "sort", input, idx, axis, True)


@numpy_names
def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` and their
    indices, in sorted order.  Among equal elements the earlier index comes first."""
    check_tensor(input, "topk")
    axis = one_dim(input, dim, "topk")
    n = 1 if axis is None else input._data.shape[axis]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"topk(): argument 'k' must be int, not {type(k).__name__}")
    if not 0 <= k <= n:
        raise RuntimeError(f"topk(): selected index k out of range: k = {k} for a dimension "
                           f"of size {n} (tensor of shape {list(input._data.shape)})")
    if np_dtype(input._data.dtype) == np.bool_:
        raise RuntimeError(f"topk does not support bool dtypes on CPU (tensor of shape "
                           f"{list(input._data.shape)}; use x.long())")
    if axis is None:  # a 0-d tensor: PyTorch returns it for k = 0 or 1
        return _select(TOPK, "topk", input, None, None, True)
    order = _argsort(input._data, axis, largest)
    idx = order[(slice(None),) * (order.ndim + axis) + (slice(0, int(k)), ...)]
    return _select(TOPK, "topk", input, idx, axis, True)


@numpy_names
def argsort(input, dim=-1, descending=False, stable=False):
    """Indices that sort ``input`` along ``dim`` (int64, not differentiable); always
    stable, as ``sort``."""
    check_tensor(input, "argsort")
    axis = one_dim(input, dim, "argsort")
    if axis is None:  # a 0-d tensor
        return wrap(np.zeros((), np.int64)) if type(input._data) is _ndarray else \
            _select(SORT, "sort", input.detach(), None, None, True)[1]
    idx = _argsort(input._data, axis, bool(descending))
    if type(idx) is _ndarray:
        return wrap(np.array(idx, np.int64, order="C"))
    m = backend_of(idx).xp.m
    return wrap(idx if idx.dtype == m.int64 else m.astype(idx, m.int64))

@numpy_names
def kthvalue(input, k, dim=-1, keepdim=False):
    """The ``k``-th smallest element (1-based) along ``dim`` and its index (NaN counts as
    the largest; among equal elements the index is the one PyTorch's quickselect finds)."""
    check_tensor(input, "kthvalue")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"kthvalue(): argument 'k' (position 2) must be int, not "
                        f"{type(k).__name__}")
    axis = one_dim(input, dim, "kthvalue")
    a = input._data
    if np_dtype(a.dtype) == np.bool_:
        raise NotImplementedError("\"kthvalue_cpu\" not implemented for 'Bool': use x.long()")
    if axis is not None and a.shape[axis] == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {a.ndim + axis} to have non-zero "
                         f"size (tensor of shape {list(a.shape)}).")
    n = 1 if axis is None else a.shape[axis]
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension "
                           f"{0 if axis is None else a.ndim + axis}: k = {k}, size {n}")
    if axis is None:
        return _select(KTHVALUE, "kthvalue", input, None, None, bool(keepdim))
    # PyTorch's quickselect on the host (its tie order is what the indices must match)
    # (under vmap every sample's rows at once: the batch dims lead, the axis is negative)
    p = physical(a)
    m = np.moveaxis(np.asarray(backend_of(p).to_numpy(p)), axis, -1)
    rows = m.reshape(-1, n)
    picked = np.array([_quick_select(list(r), int(k) - 1) for r in rows.tolist()], np.int64)
    idx = np.moveaxis(picked.reshape(m.shape[:-1] + (1,)), -1, axis)
    if type(a) is BatchedArray:
        idx = rewrap(a, np.ascontiguousarray(idx))
    elif type(a) is not _ndarray:  # the indices live where the values do
        idx = backend_of(a).asarray(np.ascontiguousarray(idx))
    return _select(KTHVALUE, "kthvalue", input, idx, axis, bool(keepdim))


def _gt_or_nan(x, y):
    return (x != x and y == y) or x > y  # noqa: PLR0124


def _quick_select(arr, k):
    """The index PyTorch's CPU kthvalue reports: its quickselect (median-of-three pivot,
    NaN largest) run on the values with their indices, so ties resolve as in PyTorch."""
    ind = list(range(len(arr)))

    def swap(i, j):
        arr[i], arr[j] = arr[j], arr[i]
        ind[i], ind[j] = ind[j], ind[i]
    lo, hi = 0, len(arr) - 1
    while True:
        if hi <= lo:
            return ind[k]
        if hi == lo + 1:
            if _gt_or_nan(arr[lo], arr[hi]):
                swap(lo, hi)
            return ind[k]
        swap(lo + (hi - lo) // 2, lo + 1)
        if _gt_or_nan(arr[lo + 1], arr[hi]):
            swap(lo + 1, hi)
        if _gt_or_nan(arr[lo], arr[hi]):
            swap(lo, hi)
        if _gt_or_nan(arr[lo + 1], arr[lo]):
            swap(lo + 1, lo)
        i, j, piv = lo + 1, hi, arr[lo]
        while True:
            i += 1
            while _gt_or_nan(piv, arr[i]):
                i += 1
            j -= 1
            while _gt_or_nan(arr[j], piv):
                j -= 1
            if j < i:
                break
            swap(i, j)
        swap(lo, j)
        if j <= k:
            lo = i
        if j >= k:
            hi = j - 1


# ---- searching and counting: not differentiable ---------------------------------------------

def _host(t):
    return np.asarray(t._host() if hasattr(t, "_host") else t._data)


def _bound(seq, vals, right, sorter):
    """PyTorch's binary search, exactly (a NaN compares false both ways, so NaNs in the
    sequence bend the search as they do in PyTorch).  ``seq`` (R, n), ``vals`` (R, m)."""
    n = seq.shape[-1]
    start = np.zeros(vals.shape, np.int64)
    end = np.full(vals.shape, n, np.int64)
    rows = np.arange(seq.shape[0])[:, None]
    while True:
        active = start < end
        if not active.any():
            return start
        mid = start + ((end - start) >> 1)
        pos = np.minimum(mid, n - 1)
        if sorter is not None:
            pos = sorter[rows, pos]
        mv = seq[rows, pos]
        go_right = ~(mv > vals) if right else ~(mv >= vals)
        start = np.where(active & go_right, mid + 1, start)
        end = np.where(active & ~go_right, mid, end)


def _side(right, side):
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, "
                               "got side of left while right was True")
        return side == "right"
    return bool(right)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None, out=None):
    """Where ``input`` would be inserted into ``sorted_sequence`` (along its last dim) to
    keep it sorted: the first such position, or the last with ``right=True``."""
    check_tensor(sorted_sequence, "searchsorted")
    right = _side(right, side)
    seq = _host(sorted_sequence)
    scalar = not isinstance(input, Tensor)
    if scalar and not isinstance(input, (bool, int, float, np.number, np.bool_)):
        raise TypeError(f"searchsorted(): argument 'input' must be Tensor or Number, not "
                        f"{type(input).__name__}")
    vals = np.asarray(input) if scalar else _host(input)
    if seq.ndim == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or "
                           "the first N-1 dimensions of boundaries tensor and input value "
                           "tensor must match, but we got boundaries tensor [] and input "
                           f"value tensor {list(vals.shape)}")
    if seq.ndim > 1 and (scalar or vals.ndim != seq.ndim or vals.shape[:-1] != seq.shape[:-1]):
        raise RuntimeError(f"torch.searchsorted(): boundaries tensor should be 1 dimension or "
                           f"the first N-1 dimensions of boundaries tensor and input value "
                           f"tensor must match, but we got boundaries tensor "
                           f"{list(seq.shape)} and input value tensor {list(vals.shape)}")
    srt = None
    if sorter is not None:
        check_tensor(sorter, "searchsorted")
        srt = _host(sorter)
        if srt.shape != seq.shape:
            raise RuntimeError(f"torch.searchsorted(): boundary and sorter must have the same "
                               f"size, but got boundary tensor {list(seq.shape)}and got sorter "
                               f"tensor {list(srt.shape)}")
        if srt.dtype != np.int64:
            raise TypeError(f"torch.searchsorted(): sorter must be a tensor of long dtype but "
                            f"got dtype {sorter.dtype}")
        if srt.size and (srt.min() < 0 or srt.max() >= seq.shape[-1]):
            raise RuntimeError("torch.searchsorted(): sorter index out of range")
    if not scalar and seq.dtype != vals.dtype:
        common = np.result_type(seq.dtype, vals.dtype)
        seq, vals = seq.astype(common), vals.astype(common)
    n = seq.shape[-1]
    seq2 = seq.reshape(-1, n) if seq.ndim > 1 else seq.reshape(1, n)
    vals2 = vals.reshape(seq2.shape[0], -1) if seq.ndim > 1 else vals.reshape(1, -1)
    srt2 = None if srt is None else srt.reshape(seq2.shape)
    if n == 0:
        res = np.zeros(vals2.shape, np.int64)
    else:
        with np.errstate(invalid="ignore"):
            res = _bound(seq2, vals2, right, srt2)
    res = res.reshape(vals.shape).astype(np.int32 if out_int32 else np.int64)
    return wrap(np.array(res, order="C"))


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    """The index of the bucket of ``boundaries`` (1-D, sorted) each element falls in:
    ``searchsorted(boundaries, input, right=right)``."""
    check_tensor(boundaries, "bucketize")
    if boundaries._data.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got "
                           f"dim({boundaries._data.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def _int_kind_name(dt):
    from .._dtype import from_numpy_dtype
    return {"bool": "Bool", "float32": "Float", "float64": "Double", "float16": "Half",
            "int64": "Long"}.get(str(from_numpy_dtype(dt)).replace("torch.", ""), str(dt))


def bincount(input, weights=None, minlength=0):
    """How often each value 0, 1, ... occurs in the 1-D non-negative integer ``input``
    (with ``weights``: their sums; float32 weights give float32, others float64)."""
    check_tensor(input, "bincount")
    if weights is not None and not isinstance(weights, Tensor):
        raise TypeError(f"bincount(): argument 'weights' (position 1) must be Tensor, not "
                        f"{type(weights).__name__}")
    minlength = _int_arg(minlength, "bincount", "minlength")
    a = _host(input)
    if a.dtype.kind not in "iu":
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for "
                                  f"'{_int_kind_name(a.dtype)}': bincount counts integers")
    if minlength < 0:
        raise RuntimeError(f"minlength should be >= 0 (got {minlength})")
    if a.ndim != 1 or (a.size and a.min() < 0):
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs (got "
                           f"shape {list(a.shape)})")
    if weights is None:
        return wrap(np.bincount(a.astype(np.int64), minlength=minlength).astype(np.int64))
    check_tensor(weights, "bincount")
    w = _host(weights)
    if w.ndim != 1 or w.shape[0] != a.shape[0]:
        raise RuntimeError(f"weights should be 1-d and have the same length as input (got "
                           f"weights {list(w.shape)}, input {list(a.shape)})")
    dt = np.float32 if w.dtype == np.float32 else np.float64
    n = builtins.max(int(a.max()) + 1 if a.size else 0, minlength)
    res = np.zeros(n, dt)
    np.add.at(res, a, w.astype(dt))
    return wrap(res)


def histc(input, bins=100, min=0, max=0, *, out=None):  # noqa: A002
    """A histogram of ``input`` with ``bins`` equal bins over ``[min, max]`` (both 0: the
    data's range); values outside, and NaNs, are not counted; the last bin holds ``max``."""
    check_tensor(input, "histc")
    bins = _int_arg(bins, "histc", "bins")
    for name, v in (("min", min), ("max", max)):
        if not isinstance(v, (int, float, np.number)):
            raise TypeError(f"histc(): argument '{name}' must be Number, not "
                            f"{type(v).__name__}")
    a = _host(input)
    if a.dtype.kind != "f":
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for "
                                  f"'{_int_kind_name(a.dtype)}': histc takes floating tensors")
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for "
                           f"dimension 0")
    dt = a.dtype.type
    lo, hi = dt(min), dt(max)
    if lo > hi:
        raise RuntimeError(f"torch.histc: max must be larger than min (got min {min}, max "
                           f"{max})")
    if lo == hi and a.size:
        lo, hi = a.min(), a.max()
    if lo == hi:
        lo, hi = lo - dt(1), hi + dt(1)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    x = a.reshape(-1)
    with np.errstate(invalid="ignore"):
        x = x[(x >= lo) & (x <= hi)]
        pos = ((x - lo) * dt(bins) / (hi - lo)).astype(np.int64)
    pos = np.minimum(pos, bins - 1)
    return wrap(np.bincount(pos, minlength=bins).astype(a.dtype))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct values of ``input`` in ascending order (every NaN is distinct), or the
    distinct slices along ``dim``; with ``return_inverse`` each element's position among
    them, with ``return_counts`` how often each occurs.  (PyTorch sorts either way.)"""
    check_tensor(input, "unique")
    for v in (return_inverse, return_counts):  # PyTorch's wrapper tests their truth first
        bool(v)  # (a tensor or array of several values is ambiguous)
    sorted, return_inverse, return_counts = (  # noqa: A001
        _flag(v, n) for v, n in ((sorted, "sorted"), (return_inverse, "return_inverse"),
                                 (return_counts, "return_counts")))
    a = _host(input)
    if dim is None:
        flat = a.reshape(-1)
        order = np.argsort(flat, kind="stable")
        sv = flat[order]
        with np.errstate(invalid="ignore"):
            new = np.ones(sv.shape, bool)
            new[1:] = sv[1:] != sv[:-1]
        vals = sv[new]
        group = np.cumsum(new) - 1
        inverse = np.empty(flat.shape, np.int64)
        inverse[order] = group
        inverse = inverse.reshape(a.shape)
    else:
        d = _dim_of(dim, a.ndim)
        if any(n == 0 for i, n in enumerate(a.shape) if i != d):
            raise RuntimeError(f"There are 0 sized dimensions, and they aren't selected, so "
                               f"unique cannot be applied (shape {list(a.shape)}, dim {d})")
        m = np.moveaxis(a, d, 0)
        rows = m.reshape(m.shape[0], int(np.prod(m.shape[1:])))
        order = (np.lexsort(rows.T[::-1]) if rows.shape[1] else
                 np.arange(rows.shape[0])).astype(np.int64)
        sv = rows[order]
        new = np.ones(sv.shape[0], bool)
        if sv.shape[0] > 1:
            new[1:] = (sv[1:] != sv[:-1]).any(axis=1)
        group = np.cumsum(new) - 1
        inverse = np.empty(rows.shape[0], np.int64)
        inverse[order] = group
        vals = np.moveaxis(m[order[new]], 0, d)
    counts = np.bincount(group, minlength=int(new.sum())).astype(np.int64) if len(
        group) else np.zeros(0, np.int64)
    res = [wrap(np.array(vals, order="C"))]
    if return_inverse:
        res.append(wrap(np.array(inverse, order="C")))
    if return_counts:
        res.append(wrap(counts))
    return res[0] if len(res) == 1 else tuple(res)


def _flag(v, name):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"_unique2(): argument '{name}' must be bool, not {type(v).__name__}")
    return bool(v)


def _int_arg(v, op, name):
    """An int argument as PyTorch's parser reads it (a one-element integer tensor too)."""
    if isinstance(v, Tensor) and np_dtype(v._data.dtype).kind in "iu" and v._data.size == 1:
        v = int(v.item())
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}(): argument '{name}' must be int, not {type(v).__name__}")
    if not -2 ** 63 <= v < 2 ** 63:
        raise ValueError(f"Overflow when unpacking long long: {op}() got {name}={v}")
    return int(v)


def _dim_of(dim, ndim):
    dim = _int_arg(dim, "unique_dim", "dim")
    if ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    n = ndim
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return int(dim) % n


__all__ = [
    "amax",
    "amin",
    "aminmax",
    "argmax",
    "argmin",
    "argsort",
    "bincount",
    "bucketize",
    "histc",
    "kthvalue",
    "searchsorted",
    "unique",
    "max",
    "median",
    "min",
    "sort",
    "topk",
]
TENSOR_METHODS = {name: globals()[name] for name in __all__
                  if name not in ("searchsorted", "bucketize")}  # torch-level only
