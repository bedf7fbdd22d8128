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

import math
from collections import namedtuple

import numpy as np

from .._tensor import Tensor, wrap
from ..backend.array_api import np_dtype
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


RETURN_TYPES = {n: _return_type(n) for n in ("max", "min", "median", "sort", "topk")}
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


__all__ = [
    "amax",
    "amin",
    "aminmax",
    "argmax",
    "argmin",
    "argsort",
    "max",
    "median",
    "min",
    "sort",
    "topk",
]
TENSOR_METHODS = {name: globals()[name] for name in __all__}
