"""Indexing rows that copy: index_select, gather, take, scatter, masked_fill.

The integer index is a tensor input that is never differentiated; rules read it (so
changing it in place before backward raises, as in PyTorch), and repeated indices
accumulate in backward.  ``g`` may carry ``xp.nb`` leading batch dims, so axes in params
are negative and shapes are the unbatched ones.  JVPs ``jvp(xp, ts, *inputs, out,
*params)`` apply the op to the tangents (the index's tangent is always None).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _args
from .._tensor import Tensor, wrap
from ..backend.batched import BatchedArray, physical, rewrap
from ._core import Op, inplace, nary
from .shape import _along, _check_tensor, _grad_as, _no_grad, _np_dt, _shape
from .views import _dim, expand, reshape

# ---- indexing: index_select, gather, take, scatter, masked_fill -------------------------------

def _index_arg(op, index) -> np.ndarray:
    _check_tensor(op, "index", index)
    if _np_dt(index).kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int32 or int64 for index, got "
                           f"{index.dtype}")
    d = index._data
    if type(d) is BatchedArray:
        return _extremes(d)
    return index._host()  # (bounds are checked on the host)


def _extremes(d):
    """For the checks of a per-sample index under vmap: one sample's shape holding, at
    each position, the smallest value over the batch where some sample is negative and
    the largest elsewhere (so a bounds check sees every sample's offender)."""
    from ..backend.registry import backend_of
    p = physical(d)
    p = np.asarray(backend_of(p).to_numpy(p))
    if p.size == 0:
        return np.zeros(tuple(d.shape), p.dtype)
    p = p.reshape((-1,) + tuple(d.shape))
    lo, hi = p.min(0), p.max(0)
    return np.where(lo < 0, lo, hi)


def _check_bounds(op, idx, n, d, exc=RuntimeError):
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx[(idx < 0) | (idx >= n)].flat[0])
        raise exc(f"{op}: index {bad} is out of bounds for dimension {d} with size {n}. Fix: "
                  f"indices along dim {d} must be in 0..{n - 1}.")


def _index_select_vjp(xp, g, x, idx, out, axis, shape):
    return xp.scatter(g, shape, _along(axis, idx), True)


INDEX_SELECT = Op("index_select", lambda xp, a, idx, axis, shape: xp.take(a, idx, axis),
                  (_index_select_vjp, _no_grad), nin=2, reads=((1,), ()), kind="linear",
                  formula="d x.index_select(d, i) = zeros with g added at i (repeats add)")


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """Entries of ``input`` at ``index`` (1-D) along ``dim``."""
    _check_tensor("index_select", "input", input)
    _check_tensor("index_select", "index", index)
    # PyTorch's order: the dim, the index's shape, then its dtype
    d = _dim(dim, input._data.ndim, "index_select")
    if index._data.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got shape "
                         f"{list(index._data.shape)}")
    idx = _index_arg("index_select", index)
    if input._data.ndim == 0:
        if idx.size != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got "
                               f"{idx.size} value(s)")
        return reshape(index_select(reshape(input, (1,)), 0, index), ())
    if idx.ndim == 0:
        index = reshape(index, (1,))
    shape = input._data.shape
    if idx.size and shape[d] == 0:
        raise RuntimeError(f"index_select(): self indexing axis dim should be positive: dim "
                           f"{d} of the input (shape {list(shape)}) has size 0")
    _check_bounds("index_select", idx, shape[d], d, IndexError)
    return nary(INDEX_SELECT, (input, index), (d - len(shape), shape))


GATHER = Op("gather", lambda xp, a, idx, axis, shape: xp.gather(a, idx, axis),
            (lambda xp, g, x, idx, out, axis, shape: xp.scatter_along(g, shape, idx, axis),
             _no_grad), nin=2, reads=((1,), ()), kind="linear",
            formula="d gather(x, d, i) = zeros with g added at i along d (repeats add)")


def _index_shapes(op, x, idx, axis, src=None):
    """PyTorch's scatter/gather shape rules (``axis`` non-negative)."""
    if src is not None and idx.ndim == x.ndim and 0 < src.ndim < idx.ndim:
        # PyTorch walks the index's dims reading src.size(d) until a size is too large:
        # past src's last dim that read is an IndexError
        for d, n in enumerate(idx.shape):
            if d == src.ndim:
                raise IndexError(f"{op}(): Dimension out of range (expected to be in range "
                                 f"of [{-d}, {d - 1}], but got {d}): src {list(src.shape)} "
                                 f"has fewer dims than index {list(idx.shape)}")
            if (d != axis and n > x.shape[d]) or n > src.shape[d]:
                break
    if idx.ndim != x.ndim or (src is not None and src.ndim != x.ndim):
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as "
                           f"input tensor (index {list(idx.shape)}, input {list(x.shape)}"
                           + ("" if src is None else f", src {list(src.shape)}") + ")")
    for d, n in enumerate(idx.shape):
        if (d != axis and n > x.shape[d]) or (src is not None and n > src.shape[d]):
            raise RuntimeError(
                f"{op}(): Size does not match at dimension {d}: expected index "
                f"{list(idx.shape)} to be no larger than self {list(x.shape)} apart from "
                f"dimension {axis}" + ("" if src is None else f" and to be no larger than "
                                       f"src {list(src.shape)}"))
    _check_bounds(op, idx, x.shape[axis], axis)


def _scalar_safe(fn, input, dim, index, *rest):
    """Run ``fn`` on 0-d operands seen as 1-D (PyTorch accepts them)."""
    ts = [input, index] + [t for t in rest if isinstance(t, Tensor)]
    if all(t._data.ndim for t in ts):
        return None
    as1 = [reshape(t, (1,)) if t._data.ndim == 0 else t for t in ts]
    res = fn(as1[0], dim, as1[1], *as1[2:], *[v for v in rest if not isinstance(v, Tensor)])
    return reshape(res, (index if fn is gather else input)._data.shape)


def _none_of(input: Tensor, shape) -> Tensor:
    """An empty result of ``shape`` taken from ``input`` (its gradient is zero)."""
    nothing = wrap(np.zeros(0, np.int64))
    return reshape(index_select(reshape(input, (-1,)), 0, nothing), shape)


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """``out[i][j] = input[index[i][j]][j]`` for dim 0 (and so on): values picked along
    ``dim``; ``index`` may be smaller than ``input`` in the other dims."""
    _check_tensor("gather", "input", input)
    _check_tensor("gather", "index", index)
    _dim(dim, input._data.ndim, "gather")
    if index._data.size == 0:  # PyTorch: an empty result of the index's shape, unchecked
        return _none_of(input, index._data.shape)
    idx = _index_arg("gather", index)
    res = _scalar_safe(gather, input, dim, index)
    if res is not None:
        return res
    shape = input._data.shape
    d = _dim(dim, len(shape), "gather")
    _index_shapes("gather", input._data, idx, d)
    return nary(GATHER, (input, index), (d - len(shape), shape))


def take_along_dim(input: Tensor, indices: Tensor, dim=None) -> Tensor:
    """``gather`` with ``input`` and ``indices`` broadcast in every dim but ``dim``
    (flattened when ``dim`` is None)."""
    _check_tensor("take_along_dim", "input", input)
    _check_tensor("take_along_dim", "indices", indices)
    if dim is None:  # gather checks the dtype (an empty index of any dtype gives nothing)
        return gather(reshape(input, (-1,)), 0, reshape(indices, (-1,)))
    xs = input._data.shape
    if len(xs) != indices._data.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {len(xs)} dimensions for input, "
                           f"and {indices._data.ndim} dimensions for indices")
    idx = _index_arg("take_along_dim", indices)
    d = _dim(dim, len(xs), "take_along_dim")
    try:
        common = list(np.broadcast_shapes(xs[:d] + (1,) + xs[d + 1:],
                                          idx.shape[:d] + (1,) + idx.shape[d + 1:]))
    except ValueError:
        raise RuntimeError(f"take_along_dim: input {list(xs)} and indices "
                           f"{list(idx.shape)} cannot be broadcast apart from dim {d}") from None
    want_x = tuple(common[:d] + [xs[d]] + common[d + 1:])
    want_i = tuple(common[:d] + [idx.shape[d]] + common[d + 1:])
    if want_x != xs:
        input = expand(input, tuple(want_x))
    if want_i != idx.shape:
        indices = expand(indices, want_i)  # (on the indices' own library)
    return gather(input, d, indices)


def _take_vjp(xp, g, x, idx, out, shape):
    return xp.reshape(xp.scatter(g, (math.prod(shape),), (idx,), True), shape)


def _take_forward(xp, a, idx, shape):
    return xp.index(xp.reshape(a, (math.prod(shape),)), (idx,))


TAKE = Op("take", _take_forward, (_take_vjp, _no_grad), nin=2,
          reads=((1,), ()), kind="linear",
          formula="d take(x, i) = zeros with g added at flat positions i (repeats add)")


def take(input: Tensor, index: Tensor) -> Tensor:
    """Entries of the flattened ``input`` at ``index`` (negative counts from the end)."""
    _check_tensor("take", "input", input)
    idx = _index_arg("take", index)
    n = input._data.size
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx[(idx < -n) | (idx >= n)].flat[0])
        raise IndexError(f"take: out of range: tried to access index {bad} on a tensor of "
                         f"{n} elements (shape {_shape(input)})")
    return nary(TAKE, (input, index), (input._data.shape,))


def _region(idx):
    return tuple(slice(0, n) for n in idx.shape)


def _scatter_add_forward(xp, a, idx, src, axis, src_shape):
    # x plus the used part of src added at the targets (repeats add)
    return a + xp.scatter_along(xp.index(src, _region(idx)), tuple(a.shape[xp.nb:]), idx,
                                axis)


def _scatter_forward(xp, a, idx, src, axis, src_shape):
    return xp.fill_along(a, idx, axis, xp.index(src, _region(idx)))


def _scatter_value_forward(xp, a, idx, axis, value):
    return xp.fill_along(a, idx, axis, value)


def _src_vjp(xp, g, x, idx, src, out, axis, src_shape):
    # the part of src that was used gets g at its targets; the rest of src gets zeros
    gs = xp.gather(g, idx, axis)
    if tuple(src_shape) != idx.shape:
        gs = xp.pad(gs, [(0, s - n) for s, n in zip(src_shape, idx.shape)])
    return gs


def _scatter_add_jvp(xp, ts, x, idx, src, out, axis, src_shape):
    # x's tangent plus the used part of src's tangent added at the targets
    tx, _, ts_ = ts
    if ts_ is None:
        return tx
    put = xp.scatter_along(xp.index(ts_, _region(idx)), x.shape, idx, axis)
    return put if tx is None else tx + put


def _scatter_jvp(xp, ts, x, idx, src, out, axis, src_shape):
    # x's tangent, zeroed where written, plus src's tangent at the targets.  Note: with
    # repeated indices the forward keeps one write, and this sums their tangents (the
    # transpose of the VJP); PyTorch leaves duplicates in scatter unspecified.
    tx, _, ts_ = ts
    res = None if tx is None else xp.fill_along(tx, idx, axis, 0)
    if ts_ is not None:
        put = xp.scatter_along(xp.index(ts_, _region(idx)), x.shape, idx, axis)
        res = put if res is None else res + put
    return res


def _scatter_dx(xp, g, x, idx, src, out, axis, src_shape):
    return xp.fill_along(g, idx, axis, 0)  # overwritten entries lose their gradient


def _scatter_value_dx(xp, g, x, idx, out, axis, value):
    return xp.fill_along(g, idx, axis, 0)


SCATTER_ADD = Op("scatter_add", _scatter_add_forward,
                 (lambda xp, g, x, idx, src, out, axis, src_shape: g, _no_grad, _src_vjp), nin=3,
                 reads=((), (), (1,)), kind="linear", jvp=_scatter_add_jvp,
                 formula="d scatter_add(x, d, i, s) = g to x, gather(g, d, i) to s")
SCATTER = Op("scatter", _scatter_forward, (_scatter_dx, _no_grad, _src_vjp), nin=3,
             reads=((1,), (), (1,)), kind="linear", jvp=_scatter_jvp,
             formula="d scatter(x, d, i, s) = g (0 where written) to x, gather(g, d, i) to s")
SCATTER_VALUE = Op("scatter_value", _scatter_value_forward,
                   (_scatter_value_dx, _no_grad), nin=2, reads=((1,), ()), kind="linear",
                   jvp=lambda xp, ts, x, idx, out, axis, value: xp.fill_along(ts[0], idx,
                                                                              axis, 0),
                   node="ScatterBackward1", formula="d scatter(x, d, i, v) = g, 0 where written")


def _scatter_args(op, input, dim, index, src):
    _check_tensor(op, "input", input)
    idx = _index_arg(op, index)
    shape = input._data.shape
    d = _dim(dim, len(shape), op)
    if isinstance(src, Tensor):
        if _np_dt(src) != _np_dt(input):
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype (got "
                               f"{input.dtype} and {src.dtype}). Fix: src.to(input.dtype).")
        _index_shapes(op, input._data, idx, d, src._data)
    else:
        _index_shapes(op, input._data, idx, d)
    return d - len(shape)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeats add)."""
    _check_tensor("scatter_add", "src", src)
    res = _scalar_safe(scatter_add, input, dim, index, src)
    if res is not None:
        return res
    axis = _scatter_args("scatter_add", input, dim, index, src)
    return nary(SCATTER_ADD, (input, index, src), (axis, src._data.shape))


def scatter_add_(self: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """In-place ``scatter_add``."""
    _check_tensor("scatter_add_", "src", src)
    axis = _scatter_args("scatter_add_", self, dim, index, src)
    return inplace(SCATTER_ADD, self, index, src, params=(axis, src._data.shape))


def _scatter(self, dim, index, src, value, reduce, in_place):
    name = "scatter_" if in_place else "scatter"
    if reduce is not None:
        raise NotImplementedError(f"{name}(reduce={reduce!r}) is not supported; use "
                                  f"scatter_add or scatter_reduce")
    if src is None:
        src = value
    if src is None:
        raise TypeError(f"{name}() missing 1 required argument: 'src' or 'value'")
    if not in_place:
        res = _scalar_safe(scatter, self, dim, index, src)
        if res is not None:
            return res
    axis = _scatter_args(name, self, dim, index, src)
    if isinstance(src, Tensor):
        args, op, params = (index, src), SCATTER, (axis, src._data.shape)
    else:
        src = _args.fits(src.item() if isinstance(src, np.generic) else src,
                         _np_dt(self), name)
        args, op, params = (index,), SCATTER_VALUE, (axis, src)
    return inplace(op, self, *args, params=params) if in_place else nary(
        op, (self, *args), params)


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None,
            reduce=None) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor or a number) written at ``index`` along
    ``dim``.  With repeated indices the last write wins (PyTorch: unspecified)."""
    return _scatter(input, dim, index, src, value, reduce, False)


def scatter_(self: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None):
    """In-place ``scatter``."""
    return _scatter(self, dim, index, src, value, reduce, True)


def _masked_fill_forward(xp, a, mask, value, shape):
    return xp.where(mask, xp.asarray(value, a.dtype), a)


def _masked_fill_tensor_forward(xp, a, mask, value, shape, vdtype):
    v = xp.astype(value, a.dtype)
    if xp.nb:  # the value's batch dims lead, its (no) own dims broadcast
        v = xp.reshape(v, (1,) * (a.ndim - xp.nb))
    return xp.where(mask, v, a)


def _masked_dx(xp, g, x, mask, out, value, shape):
    return xp.sum_to(xp.where(mask, 0, g), shape)


def _masked_tensor_dx(xp, g, x, mask, value, out, shape, vdtype):
    return xp.sum_to(xp.where(mask, 0, g), shape)


def _masked_dvalue(xp, g, x, mask, value, out, shape, vdtype):
    return _grad_as(xp, xp.sum(xp.where(mask, g, 0)), vdtype)


def _lift(xp, t, shape, ndim):
    """A tangent of a value of ``shape`` with leading ones up to ``ndim`` dims, so its
    batch dims stay in front when it broadcasts against a larger mask."""
    return xp.reshape(t, (1,) * (ndim - len(shape)) + tuple(shape))


def _masked_jvp(xp, ts, x, mask, out, value, shape):
    return xp.where(mask, 0, _lift(xp, ts[0], shape, out.ndim))


def _masked_tensor_jvp(xp, ts, x, mask, value, out, shape, vdtype):
    # value's tangent where the mask holds, x's elsewhere
    tx, _, tv = ts
    tx = 0 if tx is None else _lift(xp, tx, shape, out.ndim)
    if tv is None:
        return xp.where(mask, 0, tx)
    return xp.broadcast_to(xp.where(mask, _lift(xp, tv, (), out.ndim), tx), out.shape)


MASKED_FILL = Op("masked_fill", _masked_fill_forward, (_masked_dx, _no_grad), nin=2,
                 reads=((1,), ()), kind="linear",
                 jvp=_masked_jvp,
                 formula="d masked_fill(x, m, v) = g where not m, 0 where m")
MASKED_FILL_TENSOR = Op("masked_fill_tensor", _masked_fill_tensor_forward,
                        (_masked_tensor_dx, _no_grad, _masked_dvalue), nin=3,
                        reads=((1,), (), (1,)), kind="linear", node="MaskedFillBackward1",
                        jvp=_masked_tensor_jvp,
                        formula="d masked_fill(x, m, v) = g off m to x, sum(g on m) to v")


def _masked_fill(self, mask, value, in_place):
    name = "masked_fill_" if in_place else "masked_fill"
    _check_tensor(name, "input", self)
    _check_tensor(name, "mask", mask)
    if _np_dt(mask) != np.bool_:
        raise RuntimeError(f"{name} only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype}. Fix: pass mask.bool() or a comparison like x > 0.")
    shape = self._data.shape
    try:
        np.broadcast_shapes(shape, mask._data.shape)
    except ValueError:
        raise RuntimeError(f"{name}: the mask of shape {_shape(mask)} cannot be broadcast to "
                           f"the input of shape {list(shape)}") from None
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(f"{name} only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value._data.ndim} dimension(s). Fix: "
                               f"value.squeeze() or value.item().")
        args, op, params = (mask, value), MASKED_FILL_TENSOR, (shape, _np_dt(value))
    else:
        value = value.item() if isinstance(value, np.generic) else value
        if not isinstance(value, (int, float, bool, complex)):
            raise TypeError(f"{name}(): argument 'value' must be Number, not "
                            f"{type(value).__name__}")
        value = _args.fits(value, _np_dt(self), name)
        args, op, params = (mask,), MASKED_FILL, (value, shape)
    return inplace(op, self, *args, params=params) if in_place else nary(
        op, (self, *args), params)


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """``input`` with ``value`` (a number or a 0-d tensor) where ``mask`` is True."""
    return _masked_fill(input, mask, value, False)


def masked_fill_(self: Tensor, mask: Tensor, value) -> Tensor:
    """In-place ``masked_fill``."""
    return _masked_fill(self, mask, value, True)



# ---- index_add, index_copy, index_fill: writes along one dim at a vector of positions ----

def _index_add_forward(xp, a, idx, src, axis, shape, alpha):
    put = xp.scatter(src if alpha == 1 else src * alpha, shape, _along(axis, idx), True)
    return a + put


def _index_add_dsrc(xp, g, x, idx, src, out, axis, shape, alpha):
    gs = xp.index(g, _along(axis, idx))
    return gs if alpha == 1 else gs * alpha


def _index_add_jvp(xp, ts, x, idx, src, out, axis, shape, alpha):
    tx, _, tsrc = ts
    if tsrc is None:
        return tx
    put = xp.scatter(tsrc if alpha == 1 else tsrc * alpha, shape, _along(axis, idx), True)
    return put if tx is None else tx + put


def _index_copy_jvp(xp, ts, x, idx, src, out, axis, shape):
    # x's tangent, zeroed at the written slices, plus src's tangent written there
    tx, _, tsrc = ts
    res = None if tx is None else xp.scatter_set(tx, _along(axis, idx), 0)
    if tsrc is not None:
        put = xp.scatter(tsrc, shape, _along(axis, idx), False)
        res = put if res is None else res + put
    return res


def _index_fill_tensor_forward(xp, a, idx, value, axis, shape, vdtype, uidx):
    v = xp.astype(value, a.dtype)
    if xp.nb:  # the value's batch dims lead, its (no) own dims broadcast
        v = xp.reshape(v, (1,) * (a.ndim - xp.nb))
    return xp.scatter_set(a, _along(axis, idx), v)


def _index_fill_tensor_jvp(xp, ts, x, idx, value, out, axis, shape, vdtype, uidx):
    # x's tangent, zeroed at the filled slices, plus the value's tangent there
    tx, _, tv = ts
    res = None if tx is None else xp.scatter_set(tx, _along(axis, idx), 0)
    if tv is not None:
        region = tuple(len(uidx) if d == len(shape) + axis else n for d, n in enumerate(shape))
        tv = xp.broadcast_to(xp.reshape(xp.astype(tv, x.dtype), (1,) * len(shape)), region)
        put = xp.scatter(tv, shape, _along(axis, uidx), False)
        res = put if res is None else res + put
    return res


INDEX_ADD = Op("index_add", _index_add_forward,
               (lambda xp, g, x, idx, src, out, axis, shape, alpha: g, _no_grad,
                _index_add_dsrc), nin=3, reads=((), (), (1,)), kind="linear",
               jvp=_index_add_jvp,
               formula="d index_add(x, d, i, s, alpha) = g to x, alpha g.index_select(d, i) "
                       "to s")
INDEX_COPY = Op("index_copy", lambda xp, a, idx, src, axis, shape: xp.scatter_set(
                    a, _along(axis, idx), src),
                (lambda xp, g, x, idx, src, out, axis, shape: xp.scatter_set(
                    g, _along(axis, idx), 0), _no_grad,
                 lambda xp, g, x, idx, src, out, axis, shape: xp.index(g, _along(axis, idx))),
                nin=3, reads=((1,), (), (1,)), kind="linear", jvp=_index_copy_jvp,
                formula="d index_copy(x, d, i, s) = g (0 at i) to x, g.index_select(d, i) to s")
INDEX_FILL = Op("index_fill", lambda xp, a, idx, axis, value: xp.scatter_set(
                    a, _along(axis, idx), value),
                (lambda xp, g, x, idx, out, axis, value: xp.scatter_set(
                    g, _along(axis, idx), 0), _no_grad),
                nin=2, reads=((1,), ()), kind="linear",
                jvp=lambda xp, ts, x, idx, out, axis, value: xp.scatter_set(
                    ts[0], _along(axis, idx), 0),
                formula="d index_fill(x, d, i, v) = g, 0 at i")
INDEX_FILL_TENSOR = Op(
    "index_fill_tensor", _index_fill_tensor_forward,
    (lambda xp, g, x, idx, v, out, axis, shape, vdtype, uidx: xp.scatter_set(
        g, _along(axis, idx), 0), _no_grad,
     lambda xp, g, x, idx, v, out, axis, shape, vdtype, uidx: _grad_as(
         xp, xp.sum(xp.index(g, _along(axis, uidx))), vdtype)),
    nin=3, reads=((1,), (), ()), kind="linear", node="IndexFillBackward1",
    jvp=_index_fill_tensor_jvp,
    formula="d index_fill(x, d, i, v) = g (0 at i) to x, sum(g at unique i) to v")


def _index_vector(op, index, dtypes, exc=IndexError):
    _check_tensor(op, "index", index)
    if index._data.ndim > 1:
        if op == "index_copy_":
            raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got "
                             f"{index._data.ndim})")
        if op == "index_fill_":
            raise RuntimeError(f"Index has to be a vector/scalar: index_fill_() got an index "
                               f"of shape {_shape(index)}")
        raise IndexError(f"{op}(): Index is supposed to be a vector, but got dim: "
                         f"{index._data.ndim} with type: {_tname(index)} and size: "
                         f"{_shape(index)}")
    dt = _np_dt(index)
    if dt not in dtypes:
        want = "/".join(np.dtype(d).name for d in dtypes)
        raise exc(f"{op}(): Expected dtype {want} for index but got: {_tname(index)}. Fix: "
                  f"index.long().")
    if type(index._data) is BatchedArray:  # per-sample indices (vmap): for the checks
        return _extremes(index._data).reshape(-1)
    return index._host().reshape(-1)


def _tname(t):
    from .._dtype import from_numpy_dtype
    return str(from_numpy_dtype(_np_dt(t))).replace("torch.", "").capitalize().replace(
        "Float64", "Double").replace("Float32", "Float").replace("Int64", "Long").replace(
        "Int32", "Int")


def _index_write_args(op, self, dim, index, source):
    """PyTorch's checks of index_add/index_copy; ``(axis, index as 1-d)``."""
    _check_tensor(op, "input", self)
    _check_tensor(op, "source", source)
    copy = op.startswith("index_copy")
    nd = self._data.ndim
    d = _dim(dim, nd, op)
    idx = _index_vector(op, index, (np.int64,) if copy else (np.int64, np.int32),
                        RuntimeError)
    if _np_dt(self) != _np_dt(source):
        raise RuntimeError(f"{op}(): self ({self.dtype}) and source ({source.dtype}) must have "
                           f"the same dtype. Fix: source.to(self.dtype).")
    sshape, shape = source._data.shape, self._data.shape
    if source._data.ndim and nd and source._data.ndim != nd:
        raise (IndexError if copy else RuntimeError)(
            f"{op}(): source tensor shape must match self tensor shape, excluding the "
            f"specified dimension. Got self.shape = {list(shape)} source.shape = "
            f"{list(sshape)}")
    if not copy and d and d >= source._data.ndim:
        raise RuntimeError(f"{op}(): Indexing dim {d} is out of bounds of the source tensor "
                           f"with dim {source._data.ndim}")
    n = sshape[d] if sshape else 1
    if idx.size != n:
        raise (IndexError if copy else RuntimeError)(
            f"{op}(): Number of indices ({idx.size}) should be equal to source.size(dim) "
            f"({n}), for dim: {d}")
    if (sshape[:d] + sshape[d + 1:]) != (shape[:d] + shape[d + 1:]) or (
            not copy and len(sshape) != len(shape)):
        raise RuntimeError(f"{op}(): source tensor shape must match self tensor shape, "
                           f"excluding the specified dimension. Got self.shape = "
                           f"{list(shape)} source.shape = {list(sshape)}")
    _check_bounds(op, idx, shape[d] if shape else 1, d, IndexError if copy else RuntimeError)
    return d, idx


def _as_vector_call(fn, self, index, source=None):
    """0-d operands seen as 1-d (PyTorch accepts them); None when none is 0-d."""
    ts = [t for t in (self, index, source) if isinstance(t, Tensor)]
    if all(t._data.ndim for t in ts):
        return None
    as1 = [reshape(t, (1,)) if t._data.ndim == 0 else t for t in (self, index)]
    if source is not None:
        as1.append(reshape(source, (1,)) if source._data.ndim == 0 else source)
    return as1


def _index_add(self, dim, index, source, alpha, in_place):
    op = "index_add_" if in_place else "index_add"
    d, _ = _index_write_args("index_add_", self, dim, index, source)
    alpha = _args.fits(alpha.item() if isinstance(alpha, np.generic) else alpha,
                       _np_dt(self), op) if not isinstance(alpha, Tensor) else alpha.item()
    if _np_dt(self).kind in "iu":  # PyTorch reads alpha in the tensor's dtype (wrapping)
        info = np.iinfo(_np_dt(self))
        if isinstance(alpha, float) and not info.min <= alpha <= info.max:
            raise RuntimeError(f"{op}: value {alpha} cannot be converted to type "
                               f"{_np_dt(self)} without overflow (alpha)")
        alpha = int(np.array(int(alpha), np.int64).astype(_np_dt(self)))
    if _np_dt(self).kind == "b":
        alpha = bool(alpha)
    as1 = _as_vector_call(_index_add, self, index, source)
    if as1 is not None:  # 0-d operands: seen as 1-d (a view, so in place writes self)
        res = _index_add(as1[0], d, as1[1], as1[2], alpha, in_place)
        return self if in_place else reshape(res, self._data.shape)
    shape = self._data.shape
    params = (d - len(shape), shape, alpha)
    if in_place:
        return inplace(INDEX_ADD, self, index, source, params=params)
    return nary(INDEX_ADD, (self, index, source), params)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1,
              out=None) -> Tensor:
    """A copy of ``input`` with ``alpha * source`` added at ``index`` along ``dim``
    (repeated indices add)."""
    return _index_add(input, dim, index, source, alpha, False)


def index_add_(self: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """In-place ``index_add``."""
    return _index_add(self, dim, index, source, alpha, True)


def _index_copy(self, dim, index, source, in_place):
    _check_tensor("index_copy_", "input", self)
    _check_tensor("index_copy_", "source", source)
    if source._data.ndim == 0 and self._data.ndim:  # PyTorch: a scalar source is one slice
        source = reshape(source, (1,) * self._data.ndim)
    d, _ = _index_write_args("index_copy_", self, dim, index, source)
    if self._data.ndim == 0:  # seen as 1-d (a view, so in place writes self)
        res = _index_copy(reshape(self, (1,)), 0, reshape(index, (1,)),
                          reshape(source, (1,)), in_place)
        return self if in_place else reshape(res, ())
    if index._data.ndim == 0:
        index = reshape(index, (1,))
    shape = self._data.shape
    params = (d - len(shape), shape)
    if in_place:
        return inplace(INDEX_COPY, self, index, source, params=params)
    return nary(INDEX_COPY, (self, index, source), params)


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """A copy of ``input`` with the slices of ``source`` written at ``index`` along
    ``dim`` (with repeated indices one write wins: PyTorch leaves which unspecified)."""
    return _index_copy(input, dim, index, source, False)


def index_copy_(self: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """In-place ``index_copy``."""
    return _index_copy(self, dim, index, source, True)


def _index_fill(self, dim, index, value, in_place):
    op = "index_fill_"
    _check_tensor(op, "input", self)
    if not isinstance(value, (Tensor, int, float, bool, complex, np.generic)):
        raise TypeError(f"index_fill(): argument 'value' must be Tensor or Number, not "
                        f"{type(value).__name__}")
    if isinstance(value, Tensor) and value._data.ndim:
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value._data.ndim} dimension(s). Fix: "
                           f"value.squeeze() or value.item().")
    shape = self._data.shape
    d = _dim(dim, len(shape), op)
    idx = _index_vector(op, index, (np.int64,))
    n = shape[d] if shape else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx[(idx < -n) | (idx >= n)].flat[0])
        raise IndexError(f"index_fill_(): index {bad} is out of bounds for dimension {d} "
                         f"with size {n}")
    if not isinstance(value, Tensor):
        value = value.item() if isinstance(value, np.generic) else value
        if isinstance(value, complex) and _np_dt(self).kind != "c":
            raise RuntimeError("index_fill_(): Converting complex Scalar to non-complex type "
                               "is not supported")
        if not isinstance(value, (int, float, bool)):
            raise TypeError(f"index_fill_(): argument 'value' must be Number, not "
                            f"{type(value).__name__}")
        value = _args.fits(value, _np_dt(self), op)
    if not shape:  # seen as 1-d (a view, so in place writes self)
        res = _index_fill(reshape(self, (1,)), 0, reshape(index, (-1,)), value, in_place)
        return self if in_place else reshape(res, ())
    positions = np.where(idx < 0, idx + n, idx)  # PyTorch wraps negative positions
    index = positions
    if type(self._data) is not np.ndarray:  # on self's library (meta, Dask ...)
        from ..backend.registry import backend_of
        index = backend_of(self._data).asarray(positions)
    index = wrap(index)
    if isinstance(value, Tensor):
        uidx = np.unique(positions)
        args, op_, params = (index, value), INDEX_FILL_TENSOR, (d - len(shape), shape,
                                                               _np_dt(value), uidx)
    else:
        args, op_, params = (index,), INDEX_FILL, (d - len(shape), value)
    return inplace(op_, self, *args, params=params) if in_place else nary(
        op_, (self, *args), params)


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """A copy of ``input`` with ``value`` (a number or a 0-d tensor) written at ``index``
    along ``dim``."""
    return _index_fill(input, dim, index, value, False)


def index_fill_(self: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """In-place ``index_fill``."""
    return _index_fill(self, dim, index, value, True)



# ---- scatter_reduce: sum, prod, mean, amax, amin, with or without self --------------------
# Note [scatter_reduce]: the forward combines one slice of the index (along dim) at a time,
# so each step writes distinct positions (gather, combine, fill_along); sum and mean add
# all at once.  ``counts`` (host, self's shape) is how many src entries land on each
# position: mean divides by it (plus one for self), in floor division for integers as
# PyTorch does.  The rules are PyTorch's scatter_reduce_backward: prod takes the
# exclusive product where one zero was scattered; amax/amin share the gradient evenly
# among ties (self counted where it equals the result, even with include_self=False).

_REDUCES = ("sum", "prod", "mean", "amax", "amin")
_LEGACY = {"max": "amax", "min": "amin"}  # PyTorch's forward takes these, its backward not


def _sr_rule_reduce(reduce):
    if reduce in _LEGACY:
        raise RuntimeError(f"Expected 'reduce' to be one of 'sum', 'prod', 'mean', 'amax', "
                           f"'amin' but got {reduce}. Fix: scatter_reduce(..., "
                           f"'{_LEGACY[reduce]}') has a gradient.")
    return reduce


def _sr_identity(reduce, dt):
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if dt.kind == "f":
        return -math.inf if reduce == "amax" else math.inf
    if dt.kind == "b":
        return reduce == "amin"
    info = np.iinfo(dt)
    return int(info.min if reduce == "amax" else info.max)


def _sr_divisor(xp, counts, include_self, dt):
    if type(counts) is not np.ndarray:  # per-sample counts (vmap): on their library
        from ..backend.registry import backend_of
        ns = backend_of(counts).xp
        return xp.asarray(ns.astype(ns.maximum(counts + int(include_self), 1), dt))
    return xp.asarray(np.maximum(counts + int(include_self), 1).astype(dt))


def _scatter_reduce_forward(xp, a, idx, src, axis, reduce, include_self, src_shape, counts):
    shape = tuple(a.shape[xp.nb:])
    dt = xp.dtype_of(a)
    reduce = _LEGACY.get(reduce, reduce)
    s = xp.index(src, _region(idx))
    out = xp.copy(a) if include_self else xp.fill_along(a, idx, axis, _sr_identity(reduce, dt))
    if reduce in ("sum", "mean"):
        out = out + xp.scatter_along(s, shape, idx, axis)
    else:
        combine = {"prod": xp.multiply, "amax": xp.maximum, "amin": xp.minimum}[reduce]
        ax = idx.ndim + axis
        for k in range(idx.shape[ax]):
            key = tuple(slice(k, k + 1) if d == ax else slice(None) for d in range(idx.ndim))
            ik = idx[key]
            out = xp.fill_along(out, ik, axis, combine(xp.gather(out, ik, axis),
                                                       xp.index(s, key)))
    if reduce == "mean":
        n = _sr_divisor(xp, counts, include_self, dt)
        out = xp.floor_divide(out, n) if dt.kind in "iub" else out / n
    return out


def _unbatched(xp):
    """The namespace for saved primals (no batch dims) when ``g`` carries some."""
    return xp.with_nb(-xp.nb) if xp.nb else xp


def _sr_apply(xp0, a, idx, s, axis, reduce, include_self, counts):
    """The forward on saved primals: on recorded tensors (higher order) the row itself."""
    if isinstance(a, Tensor):
        idx_t = wrap(idx if type(idx) is BatchedArray else np.asarray(idx))
        return nary(SCATTER_REDUCE, (a, idx_t, s),
                    (axis, reduce, include_self, tuple(s.shape), counts))
    return _scatter_reduce_forward(xp0, a, idx, s, axis, reduce, include_self, (), counts)


def _sr_ties(xp0, x, idx, s, out, axis):
    """amax/amin: where self and src hold the result, and how many share each position."""
    dt = xp0.dtype_of(x)
    at_self = x == out
    at_src = s == xp0.gather(out, idx, axis)
    n = xp0.astype(at_self, dt) + xp0.scatter_along(xp0.astype(at_src, dt), tuple(x.shape),
                                                    idx, axis)
    return at_self, at_src, n


def _sr_grads(xp, g, x, idx, src, out, axis, reduce, include_self, src_shape, counts):
    """PyTorch's scatter_reduce_backward: (grad of self, grad of the used part of src)."""
    reduce = _sr_rule_reduce(reduce)
    xp0 = _unbatched(xp)
    shape = tuple(x.shape)
    s = xp0.index(src, _region(idx))
    if reduce == "sum":
        gx, gs = g, xp.gather(g, idx, axis)
    elif reduce == "mean":
        gx = g / _sr_divisor(xp0, counts, include_self, xp0.dtype_of(x))
        gs = xp.gather(gx, idx, axis)
    elif reduce == "prod":
        ones = xp0.where(x == 0, 1, x)
        gx = g * (_sr_apply(xp0, ones, idx, s, axis, "prod", include_self, counts) / ones)
        zero = s == 0
        nz = xp0.gather(xp0.scatter_along(xp0.astype(zero, xp0.dtype_of(x)), shape, idx,
                                          axis), idx, axis)
        single = zero & (nz == 1)
        rest = _sr_apply(xp0, x, idx, xp0.where(single, 1, s), axis, "prod", include_self,
                         counts)
        gs = xp.where(single, xp.gather(g * rest, idx, axis),
                      xp.gather(g * out, idx, axis) / xp0.where(zero, 1, s))
    else:  # amax, amin
        at_self, at_src, n = _sr_ties(xp0, x, idx, s, out, axis)
        gd = g / n
        gx = xp.where(at_self, gd, 0)
        gs = xp.where(at_src, xp.gather(gd, idx, axis), 0)
    if not include_self:
        gx = xp.fill_along(gx, idx, axis, 0)
    if tuple(src_shape) != idx.shape:
        gs = xp.pad(gs, [(0, m - k) for m, k in zip(src_shape, idx.shape)])
    return gx, gs


def _sr_dx(xp, g, x, idx, src, out, *params):
    return _sr_grads(xp, g, x, idx, src, out, *params)[0]


def _sr_dsrc(xp, g, x, idx, src, out, *params):
    return _sr_grads(xp, g, x, idx, src, out, *params)[1]


def _sr_jvp(xp, ts, x, idx, src, out, axis, reduce, include_self, src_shape, counts):
    tx, _, tsrc = ts
    reduce = _sr_rule_reduce(reduce)
    xp0 = _unbatched(xp)
    shape = tuple(x.shape)
    dt = xp0.dtype_of(x)
    if tx is not None and not include_self:
        tx = xp.fill_along(tx, idx, axis, 0)
    if reduce in ("amax", "amin"):
        at_self, at_src, n = _sr_ties(xp0, x, idx, xp0.index(src, _region(idx)), out, axis)
        res = 0 if tx is None else xp.where(at_self, tx, 0)
        if tsrc is not None:
            put = xp.where(at_src, xp.index(tsrc, _region(idx)), 0)
            res = res + xp.scatter_along(put, shape, idx, axis)
        return res / n
    if reduce == "prod":  # the partials are the VJP's with g = 1 (exclusive products)
        ones = xp0.astype(xp0.where(x == x, 1, 1), dt)  # noqa: PLR0124
        ex, es = _sr_grads(xp0, ones, x, idx, src, out, axis, reduce, include_self,
                           src_shape, counts)
        res = 0 if tx is None else tx * ex
        if tsrc is not None:
            put = xp.index(tsrc, _region(idx)) * xp0.index(es, _region(idx))
            res = res + xp.scatter_along(put, shape, idx, axis)
        return res
    res = tx  # sum and mean: linear
    if tsrc is not None:
        put = xp.scatter_along(xp.index(tsrc, _region(idx)), shape, idx, axis)
        res = put if res is None else res + put
    if reduce == "mean" and res is not None:
        res = res / _sr_divisor(xp0, counts, include_self, dt)
    return res


SCATTER_REDUCE = Op("scatter_reduce", _scatter_reduce_forward, (_sr_dx, _no_grad, _sr_dsrc),
                    nin=3, reads=((0, 1, 2, 3), (), (0, 1, 2, 3)), jvp=_sr_jvp,
                    formula="d scatter_reduce(x, d, i, s, r): sum: g to x, gather(g) to s; "
                            "mean: the same over the counts; prod: g times the product of "
                            "the others; amax/amin: g shared among the ties")


def _scatter_reduce(self, dim, index, src, reduce, include_self, in_place):
    name = "scatter_reduce_" if in_place else "scatter_reduce"
    _check_tensor(name, "input", self)
    _check_tensor(name, "index", index)
    _check_tensor(name, "src", src)
    if not isinstance(reduce, str):
        raise TypeError(f"{name}(): argument 'reduce' must be str, not "
                        f"{type(reduce).__name__}")
    if not isinstance(include_self, (bool, np.bool_)):
        raise TypeError(f"{name}(): argument 'include_self' must be bool, not "
                        f"{type(include_self).__name__}")
    d0 = _dim(dim, self._data.ndim, name)
    if reduce not in _REDUCES and reduce not in _LEGACY:
        raise RuntimeError(f"{name}(): reduce argument must be either sum, prod, mean, amax "
                           f"or amin, got {reduce}")
    if any(t._data.ndim == 0 for t in (self, index, src)):  # 0-d operands seen as 1-d
        as1 = [reshape(t, (1,)) if t._data.ndim == 0 else t for t in (self, index, src)]
        res = _scatter_reduce(as1[0], d0, as1[1], as1[2], reduce, include_self, in_place)
        return self if in_place else reshape(res, self._data.shape)
    axis = _scatter_args(name, self, dim, index, src)
    counts = _scatter_counts(index, self._data.shape, d0)
    params = (axis, reduce, bool(include_self), src._data.shape, counts)
    if in_place:
        return inplace(SCATTER_REDUCE, self, index, src, params=params)
    return nary(SCATTER_REDUCE, (self, index, src), params)


def _scatter_counts(index, shape, d0):
    """How many entries of ``index`` land on each position of ``shape`` along ``d0``
    (under vmap, each sample's counts: the batch dims lead every array)."""
    d = index._data
    lead = ()
    if type(d) is BatchedArray:
        from ..backend.registry import backend_of
        p = physical(d)
        idx = np.asarray(backend_of(p).to_numpy(p))
        lead = idx.shape[:idx.ndim - d.ndim]
    else:
        idx = index._host()
    full = lead + tuple(shape)
    counts = np.zeros(full, np.int64)
    if idx.size:
        grid = list(np.ix_(*[np.arange(n) for n in idx.shape]))
        grid[len(lead) + d0] = idx
        np.add.at(counts, tuple(grid), 1)
    return rewrap(d, counts) if lead else counts


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True, out=None) -> Tensor:
    """A copy of ``input`` with ``src`` reduced into it at ``index`` along ``dim``;
    ``reduce`` is "sum", "prod", "mean", "amax" or "amin"; with ``include_self=False``
    the positions written start from the scattered values alone."""
    return _scatter_reduce(input, dim, index, src, reduce, include_self, False)


def scatter_reduce_(self: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                    include_self: bool = True) -> Tensor:
    """In-place ``scatter_reduce``."""
    return _scatter_reduce(self, dim, index, src, reduce, include_self, True)


__all__ = [
    "gather",
    "index_add",
    "index_copy",
    "index_fill",
    "index_select",
    "masked_fill",
    "scatter",
    "scatter_add",
    "scatter_reduce",
    "take",
    "take_along_dim",
]
TENSOR_METHODS = {
    "index_select": index_select, "gather": gather, "take_along_dim": take_along_dim,
    "take": take, "scatter_add": scatter_add, "scatter_add_": scatter_add_,
    "scatter": scatter, "scatter_": scatter_, "masked_fill": masked_fill,
    "masked_fill_": masked_fill_, "index_add": index_add, "index_add_": index_add_,
    "index_copy": index_copy, "index_copy_": index_copy_, "index_fill": index_fill,
    "index_fill_": index_fill_, "scatter_reduce": scatter_reduce,
    "scatter_reduce_": scatter_reduce_,
}
