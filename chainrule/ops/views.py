"""View rows (results share memory with their input) and indexing.

All rows here are linear: the VJP is the transpose of the op, and it reads no values.
Forwards are written on ``xp`` (Note [forwards on xp] in ``_row.py``) and take
``xp.nb`` leading batch dims, so a view replays on a batched cotangent with
``op.forward_on(RAW.with_nb(nb))`` (CopySlices, ``replay_raw``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence as _Sequence

import numpy as np

from .. import _args
from .. import _strides as _S
from .._dtype import dtype as _DType
from .._dtype import setitem_value
from .._grad_mode import STATE as _GRAD
from .._grad_mode import no_grad as _no_record
from .._tensor import Tensor, host_array
from ..backend.array_api import np_dtype as _np_dtype
from ..backend.batched import BatchedArray
from ..backend.trace import TraceArray
from ._core import Op, inplace, nary, unary, view

_ndarray = np.ndarray


def _view_row(name, forward, vjp, *, node=None, formula=None, jvp=None):
    """A view row: linear, and its JVP is the forward on the tangent unless given."""
    return Op(name, forward, (vjp,), node=node, kind="linear", view=True, formula=formula,
              jvp=jvp)


# ---- getitem -------------------------------------------------------------------------

def _getitem_basic(xp, a, key, shape):
    return xp.getitem(a, (slice(None),) * xp.nb + key if xp.nb else key)


GETITEM = _view_row(
    "getitem", _getitem_basic,
    lambda xp, g, x, out, key, shape: xp.scatter(g, shape, key, False),
    node="SliceBackward0", formula="d x[key] scatters g into zeros at key")
GETITEM.geometry = lambda geo, key, shape: _S.index(geo, key)


def _renamed(op, node):
    """``op`` under another ``grad_fn`` name: the same row (forward, rules, ``op.name``),
    for a call that PyTorch records under another node (``x[0]`` is SelectBackward0)."""
    from ..autograd.node import node_class
    from ._record import _make_binary, _make_unary
    twin = copy.copy(op)
    twin.node_cls = node_class(twin, node)
    twin.apply1 = _make_unary(twin)  # (closures over their row)
    twin.apply2 = _make_binary(twin)
    op.twins = (*op.twins, twin)
    twin.twins = ()
    return twin


def output_row(op, name):
    """``op`` (a view row) recording a node that stands for one output of a multi-output
    node: its ``grad_fn`` is that node (``Node._gather``, as for a multi-output custom
    Function), so ``U.grad_fn`` is LinalgSvdBackward0 and ``x.split(2)[0].grad_fn`` is
    SplitBackward0 (Note [packed outputs] in linalg_decomp.py)."""
    from ..autograd.node import Node
    from ._record import _make_unary
    twin = copy.copy(op)
    twin.node_cls = type(name, (Node,), {
        "__slots__": ("_of",), "op": twin, "__module__": "chainrule.autograd",
        "_gather": property(lambda n: getattr(n, "_of", None))})
    twin.apply1 = _make_unary(twin)
    op.twins = (*op.twins, twin)
    twin.twins = ()
    return twin


# PyTorch applies a basic key item by item (select, slice, unsqueeze); our one node is
# named after the last of them, the one ``grad_fn`` shows (``_getitem_row``)
GETITEM_SELECT = _renamed(GETITEM, "SelectBackward0")
GETITEM_UNSQUEEZE = _renamed(GETITEM, "UnsqueezeBackward0")
GETITEM_ALIAS = _renamed(GETITEM, "AliasBackward0")
_GETITEM_ROWS = {int: GETITEM_SELECT, slice: GETITEM, None: GETITEM_UNSQUEEZE}


def _getitem_row(key, basic, shape):
    """The row whose node is named as PyTorch's outermost node for ``x[key]``."""
    if type(key) is slice:
        return GETITEM  # a lone slice is always sliced, even a full one
    last = GETITEM_ALIAS
    od = 0
    for k in basic:
        tk = type(k)
        if tk is int:
            last = GETITEM_SELECT
            od += 1
        elif tk is slice:
            if k.indices(shape[od]) != (0, shape[od], 1):
                last = GETITEM
            od += 1
        elif k is None:
            last = GETITEM_UNSQUEEZE
    return last


def _getitem_adv(xp, a, key, shape, strides):
    """``a[key]`` laid out as PyTorch lays it out (``_index_strides``); ``strides`` are
    ``a``'s, in PyTorch's convention."""
    nb = xp.nb
    if 0 in a.shape:
        out_shape = _empty_index_shape(tuple(a.shape[nb:]), key)
        if not math.prod(out_shape):
            # PyTorch checks the indices while copying: not at all for an empty result
            return xp.zeros(a, out_shape)
    out = xp.index(a, key)
    if out.ndim <= 1 or nb:  # (a batched replay has no layout to match)
        return out
    return xp.as_layout(out, _index_strides(shape, strides, key, out.shape))


def _empty_index_shape(shape, key):
    """The shape of ``x[key]`` for an empty ``x``, whatever the index values."""
    fake = list(shape)
    d = 0
    empty_dim = False
    replaced = []  # the index shapes (a mask's: its nonzero count)
    for k in key:
        if type(k) is slice or k.dtype.kind == "b":
            if type(k) is not slice:
                replaced.append((int(np.count_nonzero(k)),))
                empty_dim = empty_dim or 0 in shape[d:d + k.ndim]
            d += 1 if type(k) is slice else k.ndim
            continue
        replaced.append(k.shape)
        empty_dim = empty_dim or shape[d] == 0
        fake[d] = max(fake[d], int(np.abs(k).max()) + 1 if k.size else 1)
        d += 1
    a = np.lib.stride_tricks.as_strided(np.zeros(1, np.bool_), tuple(fake), (0,) * len(fake))
    out = a[key].shape
    if empty_dim and math.prod(np.broadcast_shapes(*replaced)):
        # ATen: an index into a dim of size 0 that selects something is out of bounds
        raise IndexError("index is out of bounds for dimension with size 0")
    return out


def _index_strides(shape, strides, key, out_shape):
    """The strides PyTorch gives ``x[key]`` (``key`` of full slices and index arrays
    for the dims of ``x``, whose geometry is ``shape``, ``strides``).

    Its index kernel is a TensorIterator over ``x`` restrided (stride 0 along the
    indexed dims, replaced by the index shape) and the index tensors broadcast and
    reshaped to the output's rank (ATen's ``AdvancedIndex``); the output follows their
    strides (``_strides.iterator_strides``).  Masks index through ``nonzero()``'s
    columns."""
    nd = len(shape)
    shape = tuple(shape)
    if type(key[0]) is not slice and 0 not in shape and tuple(
            strides) == _S.contiguous_strides(shape):
        after = False  # index arrays leading a row-major x (x[idx], x[i, j]): row-major
        for k in key:
            if type(k) is slice:
                after = True
            elif after:
                break
        else:
            return _S.contiguous_strides(tuple(out_shape))
    idx = []  # per dim of x: None or (shape, strides) of the index tensor
    for k in key:
        if type(k) is slice:
            idx.append(None)
        elif k.dtype.kind == "b":
            n = int(np.count_nonzero(k))
            idx += [((n,), (k.ndim,))] * k.ndim
        else:
            idx.append((k.shape, _S.contiguous_strides(k.shape)))
    idx += [None] * (nd - len(idx))
    out_shape = tuple(out_shape)
    b_shape = tuple(np.broadcast_shapes(*[i[0] for i in idx if i is not None]))
    idx = [None if i is None else _S.expand((i[0], i[1], 0), b_shape)[1] for i in idx]
    pos = [d for d, i in enumerate(idx) if i is not None]
    if pos != list(range(pos[0], pos[-1] + 1)):  # not adjacent: indexed dims to the front
        order = pos + [d for d in range(nd) if d not in pos]
        shape = tuple(shape[d] for d in order)
        strides = tuple(strides[d] for d in order)
        idx = [idx[d] for d in order]
        pos = list(range(len(pos)))
    before, after = pos[0], nd - pos[-1] - 1
    src = tuple(strides[:before]) + (0,) * len(b_shape) + tuple(strides[pos[-1] + 1:])
    new = (1,) * before + b_shape + (1,) * after
    operands = [src]
    for st in idx:
        if st is not None:
            r = _S.compute_stride(b_shape, st, new)
            operands.append(r if r is not None else _S.contiguous_strides(new))
    operands = [tuple(0 if m == 1 and n != 1 else s for s, m, n in zip(st, new, out_shape))
                if st is not src else st for st in operands]
    if all(n == 1 for n in shape[:before] + shape[pos[-1] + 1:]) and all(
            _S.is_contiguous(out_shape, st) for st in operands):
        return _S.contiguous_strides(out_shape)  # TensorIterator's fast set-up
    return _S.iterator_strides(out_shape, operands)


INDEX = Op("index", _getitem_adv,
           (lambda xp, g, x, out, key, shape, strides: xp.scatter(g, shape, key, True),),
           kind="linear", formula="d x[idx] adds g into zeros at idx (repeats accumulate)")


_INDEX_TYPES = ("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                "Variables are valid indices")
_SEQ_WARNING = (
    "Using a non-tuple sequence for multidimensional indexing is deprecated and will be "
    "changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will "
    "be interpreted as tensor index, x[torch.tensor(seq)], which will result either in an "
    "error or a different result")
_U8_WARNING = ("indexing with dtype torch.uint8 is now deprecated, please use a dtype "
               "torch.bool instead.")
_FULL = slice(None)


def _warn(msg):
    import warnings
    warnings.warn(msg, UserWarning, stacklevel=5)


def _is_seq(k) -> bool:
    return isinstance(k, (list, tuple, range, np.ndarray)) or (
        isinstance(k, _Sequence) and not isinstance(k, (str, bytes)))


def _as_items(key) -> tuple:
    """The index as a tuple of per-position items, with PyTorch 2.13's (and old NumPy's)
    rule for a non-tuple sequence: shorter than 32 and holding a tensor, sequence, slice,
    None or ``...``, it is a tuple (with PyTorch's deprecation warning); otherwise it is
    one index array."""
    if type(key) is tuple:
        return key
    if isinstance(key, (Tensor, np.ndarray)) or not _is_seq(key):
        if isinstance(key, (str, bytes)):
            raise TypeError(f"new(): invalid data type '{type(key).__name__}'")
        return (key,)
    if isinstance(key, tuple):
        return tuple(key)
    if len(key) < 32:
        for k in key:
            if (isinstance(k, (Tensor, slice)) or k is None or k is Ellipsis
                    or _is_seq(k) or isinstance(k, (str, bytes))):
                _warn(_SEQ_WARNING)
                return tuple(key)
    return (key,)


def _index_array(k):
    """A tensor or sequence used as an index: an int64 array, or a bool mask (PyTorch
    reads sequences as long unless they hold only bools; uint8 tensors are masks)."""
    if isinstance(k, Tensor):
        arr = _key_data(k)
        if arr.dtype.kind == "b":
            return arr
        if arr.dtype == np.uint8:
            _warn(_U8_WARNING)
            return arr.astype(bool)
        if arr.dtype not in (np.int64, np.int32):
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return arr
    try:
        arr = np.asarray(_lists(k))
    except (ValueError, TypeError):
        raise IndexError(f"{_INDEX_TYPES} (got a ragged sequence)") from None
    kind = arr.dtype.kind
    if kind in "US":
        raise TypeError(f"new(): invalid data type '{'str' if kind == 'U' else 'bytes'}'")
    if kind == "O":
        bad = next((v for v in arr.ravel() if v is None), None)
        raise RuntimeError(f"Could not infer dtype of {type(bad).__name__}")
    if kind == "b":
        return arr
    if arr.dtype == np.uint8:
        _warn(_U8_WARNING)
        return arr.astype(bool)
    if kind not in "iuf":
        raise IndexError(f"{_INDEX_TYPES} (got an array of {arr.dtype})")
    if kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError("Overflow when unpacking long long")
    return arr.astype(np.int64)


def _split_key(dims: tuple, key):
    """PyTorch's index, as two NumPy keys applied one after the other.

    ``basic`` (ints, slices, None, a trailing ``...``) is applied first and is a view;
    ``adv`` (full slices and index arrays, for the dims of that view) is None or applied
    to the view and copies.  Doing it in two stages is what PyTorch does (integers select
    first, then the tensor indices are applied together): NumPy's single-stage rule
    treats integers as index arrays too, which moves dims differently
    (``x[0, :, [0, 1]]`` is [3, 2] in PyTorch, [2, 3] in NumPy)."""
    items = _as_items(key)
    ndim = len(dims)
    specified = 0
    conv = []
    for k in items:
        tk = type(k)
        if tk is int or tk is slice or k is None or k is Ellipsis:
            if tk is int or tk is slice:
                specified += 1
            conv.append(k)
        elif tk is bool:
            conv.append(k)
        elif isinstance(k, Tensor):
            d = _key_data(k)
            if type(d) is BatchedArray and d.ndim == 0:
                # a per-sample integer (vmap): an index array of rank 0 in the key
                specified += 1
                conv.append(d)
            elif d.ndim == 0 and d.dtype.kind in "iu" and d.dtype != np.uint8:
                if d.dtype not in (np.int64, np.int32):
                    raise IndexError("tensors used as indices must be long, int, byte or "
                                     "bool tensors")
                specified += 1
                conv.append(int(d))
            elif d.ndim == 0 and (d.dtype.kind == "b" or d.dtype == np.uint8):
                conv.append(bool(d))
            else:
                arr = _index_array(k)
                specified += arr.ndim if arr.dtype.kind == "b" else 1
                conv.append(arr)
        elif isinstance(k, np.bool_):
            raise IndexError(f"{_INDEX_TYPES} (got numpy.bool)")
        elif isinstance(k, (int, np.integer)):
            specified += 1
            conv.append(_long(k))
        elif _is_seq(k):
            arr = _index_array(k)
            specified += arr.ndim if arr.dtype.kind == "b" else 1
            conv.append(arr)
        else:
            name = type(k).__module__ + "." + type(k).__name__ if isinstance(
                k, np.generic) else type(k).__name__
            raise IndexError(f"{_INDEX_TYPES} (got {name})")
    if specified > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    basic = []
    adv = {}
    d = 0  # the dim of the basic view that the next item addresses
    od = 0  # the dim of x it addresses (errors come in PyTorch's order, item by item)
    for k in conv:
        if k is None:
            basic.append(None)
            d += 1
        elif k is Ellipsis:
            n = ndim - specified
            basic.extend((_FULL,) * n)
            d += n
            od += n
        elif type(k) is int:
            if not -dims[od] <= k < dims[od]:
                raise IndexError(f"index {k} is out of bounds for dimension {od} with size "
                                 f"{dims[od]}")
            basic.append(k)
            od += 1
        elif type(k) is slice:
            basic.append(_slice(k))
            d += 1
            od += 1
        elif type(k) is bool:  # PyTorch: unsqueeze, then index that dim with [0] or []
            basic.append(None)
            adv[d] = np.zeros(1 if k else 0, np.int64)
            d += 1
        else:
            n = k.ndim if k.dtype.kind == "b" else 1
            basic.extend((_FULL,) * n)
            adv[d] = k
            d += n
            od += n
    basic.append(Ellipsis)
    if not adv:
        return tuple(basic), None
    akey = []
    i = 0
    last = max(adv)
    while i <= last:
        k = adv.get(i)
        if k is None:
            akey.append(_FULL)
            i += 1
        else:
            akey.append(k)
            i += k.ndim if k.dtype.kind == "b" else 1
    return tuple(basic), tuple(akey)


def _long(v) -> int:
    v = int(v)
    if not -(1 << 63) <= v < (1 << 63):
        raise ValueError("Overflow when unpacking long long")
    return v


def _slice(k: slice) -> slice:
    k = slice(_idx(k.start), _idx(k.stop), _idx(k.step))
    if k.step is not None and k.step <= 0:
        raise ValueError("slice step cannot be zero" if k.step == 0 else
                         "step must be greater than zero")
    return k


def _trivial(basic) -> bool:
    """A basic key that selects everything (only full slices and ``...``)."""
    for k in basic:
        if k is not Ellipsis and not (type(k) is slice and k == _FULL):
            return False
    return True


def _lists(k):
    if isinstance(k, Tensor):
        return k._data
    if isinstance(k, (list, tuple, range)):
        return [_lists(v) for v in k]
    return k


def _idx(v):
    if v is None or type(v) is int:
        return v
    if isinstance(v, Tensor):
        return int(v.item())
    if isinstance(v, (bool, np.bool_)) or not hasattr(v, "__index__"):
        raise TypeError("slice indices must be integers or None or have an __index__ method")
    return _long(v.__index__())


def _index_error(x, key, exc):
    msg = str(exc).replace(" for axis ", " for dimension ")
    return IndexError(f"{msg} (indexing a tensor of shape {list(x._data.shape)} with "
                      f"{_show_key(key)}); valid indices for a dimension of size n are "
                      f"-n..n-1")


def _show_key(key):
    parts = []
    for k in key:
        if isinstance(k, np.ndarray):
            parts.append(f"array{list(k.shape)}")
        elif type(k) is slice:
            parts.append(":" if k == slice(None) else
                         f"{'' if k.start is None else k.start}:"
                         f"{'' if k.stop is None else k.stop}"
                         + ("" if k.step is None else f":{k.step}"))
        else:
            parts.append(repr(k))
    return "[" + ", ".join(parts) + "]"


def getitem(x: Tensor, key):
    """``x[key]``: a view for ints/slices/None/..., a copy for advanced indices."""
    shape = x._data.shape
    if type(key) is int:  # the common x[i]
        basic, adv = (key, Ellipsis), None
        row = GETITEM_SELECT
    elif type(key) is Tensor and key._data.ndim and shape:  # the common x[idx], x[mask]
        basic, adv = (Ellipsis,), (_index_array(key),)
    else:
        basic, adv = _split_key(shape, key)
        row = _getitem_row(key, basic, shape)
    try:
        if adv is None:
            return view(row, x, basic, shape)
        if not _trivial(basic):
            x = view(row, x, basic, shape)
        shape, strides, _ = x._geometry()
        out = unary(INDEX, x, adv, shape, strides)
        out_shape = out._data.shape
        if 1 in out_shape or 0 in out_shape:  # (a base reads other strides there)
            out._geo = (out_shape, _index_strides(shape, strides, adv, out_shape), 0)
        return out
    except IndexError as exc:
        raise _index_error(x, adv or basic, exc) from None


# ---- setitem, copy_, index_put_ ----------------------------------------------------------

def _copy_forward(xp, dst, src, src_shape):
    if not hasattr(src, "dtype"):
        src = xp.asarray(src)
    shape = dst.shape[xp.nb:] if xp.nb else dst.shape
    if src_shape != shape:  # (shapes are tuples on every library)
        src = _broadcast_tangent(xp, src, src_shape, shape)
    res = xp.cast(src, dst.dtype)  # PyTorch's rounding (float64 -> float16)
    return xp.copy(res) if res is src else res


def _broadcast_tangent(xp, t, t_shape, shape):
    """A tangent of a value of ``t_shape`` broadcast to ``shape``: the value's dims are
    padded with leading ones first, so a batch prefix never meets them."""
    pad = (1,) * (len(shape) - len(t_shape))
    return xp.broadcast_to(xp.reshape(t, pad + tuple(t_shape)) if pad else t, shape)


def _copy_jvp(xp, ts, dst, src, out, src_shape):
    t = ts[1]
    return None if t is None else _broadcast_tangent(xp, t, src_shape, dst.shape)


COPY = Op("copy", _copy_forward,
          # the old value of dst gets a zero gradient, not none (PyTorch's ZeroBackward0)
          (lambda xp, g, dst, src, out, src_shape: xp.zeros(g, tuple(g.shape)[xp.nb:]),
           lambda xp, g, dst, src, out, src_shape: xp.sum_to(g, src_shape)),
          nin=2, node="CopyBackwards", kind="linear", jvp=_copy_jvp,
          formula="d copy_(dst, src) = g to src (broadcast summed), 0 to the old dst")


def _index_put_forward(xp, x, v, key, winners, v_shape):
    return xp.scatter_set(x, key, v)


def _index_put_dx(xp, g, x, v, out, key, winners, v_shape):
    return xp.scatter_set(g, key, 0)


def _index_put_dv(xp, g, x, v, out, key, winners, v_shape):
    gv = xp.index(g, key)
    if winners is not None:
        gv = xp.where(winners, gv, 0)
    return xp.sum_to(gv, v_shape)


# Note [duplicate indices in assignment]: x[idx] = v with a repeated index keeps NumPy's
# last write, so only that element of v receives the gradient (the true derivative);
# PyTorch leaves this case undefined.
def _index_put_jvp(xp, ts, x, v, out, key, winners, v_shape):
    tx, tv = ts
    res = None if tx is None else xp.scatter_set(tx, key, 0)
    if tv is not None:
        # (the region's shape from the key alone: out may be another library's array)
        if any(type(k) is BatchedArray for k in key):  # per-sample indices (vmap)
            region_shape = tuple((xp.with_nb(-xp.nb) if xp.nb else xp).index(out, key).shape)
        else:
            region_shape = np.empty(tuple(x.shape), dtype=bool)[key].shape
        region = _broadcast_tangent(xp, tv, v_shape, region_shape)
        put = xp.scatter(region, x.shape, key, False)
        res = put if res is None else res + put
    return res


INDEX_PUT = Op("index_put", _index_put_forward, (_index_put_dx, _index_put_dv), nin=2,
               kind="linear", jvp=_index_put_jvp,
               formula="d x[idx] = v: g[idx] to v (last write wins), g elsewhere to x")


def _winners(shape, key):
    if any(type(k) is BatchedArray for k in key):
        return _batched_winners(shape, key)
    pos = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[key].ravel()
    if pos.size == np.unique(pos).size:
        return None
    _, last = np.unique(pos[::-1], return_index=True)
    mask = np.zeros(pos.size, dtype=bool)
    mask[pos.size - 1 - last] = True
    return mask.reshape(np.arange(int(np.prod(shape))).reshape(shape)[key].shape)


def setitem(x: Tensor, key, value) -> None:
    """``x[key] = value``, recorded so gradients flow to what was written.

    As in PyTorch, the basic part of the key (ints, slices, None) selects a view, and
    the index arrays, if any, are written into that view (``index_put_``): through the
    view, the write rewrites ``x``'s history (CopySlices)."""
    shape = x._data.shape
    if type(key) is int and shape:  # the common x[i] = v
        basic, adv = (key, Ellipsis), None
    else:
        basic, adv = _split_key(shape, key)
    if not isinstance(value, Tensor):
        if isinstance(value, (list, tuple, np.ndarray)):
            from .._creation import tensor
            value = tensor(value, dtype=x.dtype)
        else:
            value = setitem_value(value, _np_dtype(x._data.dtype))
    if isinstance(value, Tensor) and value._data.ndim and value._data.shape[0] == 1:
        vs = value._data.shape
        lead = next((i for i, n in enumerate(vs) if n != 1), len(vs))
        value = reshape(value, vs[lead:])  # PyTorch drops leading size-1 dims of value
    try:
        if adv is None or not _trivial(basic):
            prev, _GRAD.enabled = _GRAD.enabled, False  # (no_grad, without its object)
            try:
                target = view(GETITEM, x, basic, shape)
            finally:
                _GRAD.enabled = prev
            target._rg = x._rg  # its history is rewritten by CopySlices below
        else:
            target = x
        if adv is None:
            _write(target, COPY, value, (np.shape(_data(value)),))
        else:
            tshape = target._data.shape
            _write(target, INDEX_PUT, value, (adv, _winners(tshape, adv),
                                              np.shape(_data(value))))
    except IndexError as exc:
        raise _index_error(x, adv or basic, exc) from None
    except ValueError as exc:
        if "broadcast" in str(exc) or "shape" in str(exc):
            region = x._data[basic] if adv is None else x._data[basic][adv]
            raise RuntimeError(
                f"setitem: shape mismatch: value tensor of shape {list(np.shape(_data(value)))} "
                f"cannot be broadcast to indexing result of shape "
                f"{list(region.shape)}") from None
        raise


def _data(v):
    return v._data if isinstance(v, Tensor) else v


def _kind(a) -> str:
    """The dtype kind of an array of any library."""
    return a.dtype.kind if type(a) is _ndarray else _np_dtype(a.dtype).kind


def _key_data(k: Tensor):
    """A tensor used as an index, as a NumPy array: index bookkeeping (positions,
    bounds, the shape of the result) happens on the host."""
    d = k._data
    if type(d) is _ndarray:
        return d
    if type(d) is BatchedArray:  # a per-sample index under vmap stays batched
        if _kind(d) == "b":
            raise RuntimeError("vmap: We do not support batching operators that can support "
                               "dynamic shape. Attempting to batch over indexing with a "
                               "boolean mask.")
        return d
    if type(d) is TraceArray and _kind(d) in "i" or type(d) is TraceArray and \
            _kind(d) == "u" and d.dtype != np.uint8:
        return d  # chainrule.compile: an integer index stays a value of the program
    from ..backend.registry import backend_of
    be = backend_of(d)
    if be.lazy and d.ndim and _kind(d) == "b":
        from ..backend.array_api import BackendError
        raise BackendError(
            f"getitem: a boolean mask on {be.name} arrays: the result's shape depends on "
            f"the data, which {be.name} does not know before computing. Compute the mask "
            f"first (chainrule.compute(mask)), or use where/masked_fill, which keep the "
            f"shape.")
    return be.to_numpy(d)


def copy_(self: Tensor, src, non_blocking=False) -> Tensor:
    """Copy ``src`` into ``self`` (broadcasting, casting); gradient flows to ``src``."""
    if type(src) is int and _args.INT64_MAX < src < 2 ** 64:  # PyTorch reads it as uint64
        from .._tensor import wrap
        src = wrap(np.array(src, np.uint64).astype(self._data.dtype))
    elif not isinstance(src, Tensor):
        from .._creation import tensor
        src = tensor(_args.python_int(src, "copy_"))
    try:
        fits = np.broadcast_shapes(src._data.shape, self._data.shape) == self._data.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"copy_: the source of shape {list(src.shape)} cannot be broadcast "
                           f"to the destination of shape {list(self.shape)}")
    if src._vc is self._vc and src is not self and _partial_overlap(self, src):
        raise RuntimeError(
            "unsupported operation: some elements of the input tensor and the written-to "
            "tensor refer to a single memory location. Please clone() the tensor before "
            "performing the operation.")
    return _write(self, COPY, src, (src._data.shape,))


def _write(dst, op, value, params):
    """``inplace(op, dst, value)``; a float value written into a non-float tensor is
    not recorded (Note [casts to integer]: PyTorch's integer results need no grad)."""
    d = dst._data
    if ((d.dtype.kind if type(d) is _ndarray else _kind(d)) != "f"
            and isinstance(value, Tensor) and _kind(value._data) == "f"):
        with _no_record():
            return inplace(op, dst, value, params=params)
    return inplace(op, dst, value, params=params)


def _partial_overlap(a: Tensor, b: Tensor) -> bool:
    """PyTorch's ``get_overlap_status(a, b) == Partial`` for two tensors of one storage:
    both dense, their byte ranges intersect, and they are not the same elements."""
    x, y = a._data, b._data
    ga, gb = a._geometry(), b._geometry()
    if not (math.prod(ga[0]) and math.prod(gb[0]) and _S.is_dense(*ga[:2])
            and _S.is_dense(*gb[:2])):
        return False
    if type(x) is not _ndarray:  # no addresses: element ranges of the one storage
        xb, yb = ga[2], gb[2]
        xe, ye = xb + math.prod(ga[0]), yb + math.prod(gb[0])
        if xb == yb and xe == ye:
            return ga[1] != gb[1]
        return xb < ye and yb < xe
    xb = x.__array_interface__["data"][0]
    yb = y.__array_interface__["data"][0]
    xe, ye = xb + x.nbytes, yb + y.nbytes
    if xb == yb and xe == ye:
        return a.stride() != b.stride()
    return xb < ye and yb < xe


# ---- reshape family ---------------------------------------------------------------------

def _reshape_forward(xp, a, shape, in_shape, *dims):
    return xp.reshape(a, shape)


def _reshape_vjp(xp, g, x, out, shape, in_shape, *dims):
    return xp.reshape(g, in_shape)


def _reshape_row(name, node, geometry):
    op = _view_row(name, _reshape_forward, _reshape_vjp, node=node,
                   formula=f"d {name}(x) = reshape(g, x.shape)")
    op.geometry = geometry
    return op


RESHAPE = _reshape_row("reshape", "ViewBackward0",
                       lambda geo, shape, in_shape: _S.reshape(geo, shape))
RESHAPE.may_copy = True
RESHAPE.viewable = lambda a, nb, shape, in_shape: _viewable(a, a.shape[:nb] + shape)
SQUEEZE = _reshape_row("squeeze", "SqueezeBackward0",
                       lambda geo, shape, in_shape, dims: _S.squeeze(geo, dims))
UNSQUEEZE = _reshape_row("unsqueeze", "UnsqueezeBackward0",
                         lambda geo, shape, in_shape, d: _S.unsqueeze(geo, d))

# reshape where no view can do it: a row-major copy (PyTorch: clone, then _unsafe_view)
RESHAPE_COPY = Op("reshape_copy",
                  lambda xp, a, shape, in_shape: xp.reshape(xp.contiguous_copy(a), shape),
                  (lambda xp, g, x, out, shape, in_shape: xp.reshape(g, in_shape),),
                  kind="linear", node="UnsafeViewBackward0",
                  formula="d reshape(x) = reshape(g, x.shape)")


def _elem_strides(a) -> tuple:
    size = a.itemsize
    return tuple(s // size for s in a.strides)


def _viewable(a, shape) -> bool:
    """Whether ``a`` (a raw array) can be viewed as ``shape`` (Note [view or copy])."""
    return a.flags.c_contiguous or _S.compute_stride(a.shape, _elem_strides(a),
                                                     shape) is not None


def _can_view(x: Tensor, shape) -> bool:
    """``_viewable`` for a tensor on any library: arrays of libraries without strides
    (Dask, array-api-strict) are decided from the tensor's PyTorch geometry."""
    a = host_array(x._data)
    if type(a) is _ndarray:
        return _viewable(a, shape)
    geo = x._geometry()
    return _S.compute_stride(geo[0], geo[1], tuple(shape)) is not None


def _infer_shape(x, shape, op="view"):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    n = x._data.size
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred (got {list(shape)})")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s}")
            known *= s
    if -1 in shape:
        if known == 0 or n % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
        shape = tuple(n // known if s == -1 else s for s in shape)
    elif known != n:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n} "
                           f"({op} of a tensor of shape {list(x._data.shape)}; the number of "
                           f"elements must stay {n})")
    return shape


def reshape(x: Tensor, *shape) -> Tensor:
    """Same data, new shape: a view when the strides allow it, else a copy, as in
    PyTorch (Note [view or copy])."""
    shape = _infer_shape(x, _args.star_int_list(shape, "reshape", "shape"), "reshape")
    a = x._data
    if _can_view(x, shape):
        return view(RESHAPE, x, shape, a.shape)
    return unary(RESHAPE_COPY, x, shape, a.shape)


def view_(x: Tensor, *shape, dtype=None) -> Tensor:
    """``x.view(shape)``: always a view, or PyTorch's error; ``x.view(dtype)``
    reinterprets the bits."""
    if dtype is not None and not shape:
        return view_dtype(x, dtype)
    first = shape[0] if len(shape) == 1 else None
    if isinstance(first, _DType):
        return view_dtype(x, first)
    seq = first if isinstance(first, (tuple, list)) else shape
    if not shape or seq and not _args._index_like(seq[0]):  # neither overload matches
        raise TypeError(f"view() received an invalid combination of arguments - got "
                        f"({', '.join(_args.type_name(s) for s in shape)}), but expected one "
                        f"of: (torch.dtype dtype) or (tuple of ints size)")
    shape = _infer_shape(x, _args.star_int_list(shape, "view", "size"), "view")
    if not _can_view(x, shape):
        raise RuntimeError(
            f"view size is not compatible with input tensor's size and stride (at least one "
            f"dimension spans across two contiguous subspaces): view of a tensor of shape "
            f"{list(x.shape)} and stride {list(x.stride())} as {list(shape)}. Use "
            f".reshape(...) instead.")
    return view(RESHAPE, x, shape, x._data.shape)


def view_dtype(x: Tensor, dtype) -> Tensor:
    """``x.view(dtype)``: the same bytes read as ``dtype``.  With a different element
    size the last dim grows or shrinks (PyTorch's rules and errors).  As in PyTorch
    2.13 the result shares memory and the version counter but is not differentiable
    and not recorded as a view."""
    from .._dtype import to_dtype as _to
    from .._tensor import wrap
    new = _to(dtype)
    a = x._data
    if type(a) is TraceArray:  # chainrule.compile: the bits of traced memory
        from ..backend.trace import refuse
        refuse("view(dtype) reads the bits of a tensor's memory")
        a = a.value  # (the traced run is kept as the call's eager result)
    if type(a) is not _ndarray:
        from ..backend.array_api import BackendError
        from ..backend.registry import backend_of
        raise BackendError(f"view(dtype): reading the same bytes as another dtype needs "
                           f"the array's memory, which {backend_of(a).name} arrays do not "
                           f"expose. Convert the values instead: x.to({new}).")
    old_size, new_size = a.itemsize, new.np.itemsize
    shape, strides, offset = x._geometry()
    what = f"to view {_tname(a.dtype)} as {_tname(new.np)} (different element sizes)"
    if old_size != new_size:
        if not shape:
            raise RuntimeError(f"self.dim() cannot be 0 {what}")
        if old_size > new_size:
            if strides[-1] != 1:
                raise RuntimeError(f"self.stride(-1) must be 1 {what}, but got {strides[-1]}")
        else:
            r = new_size // old_size
            if shape[-1] % r:
                raise RuntimeError(f"self.size(-1) must be divisible by {r} {what}, but got "
                                   f"{shape[-1]}")
            if offset % r:
                raise RuntimeError(f"self.storage_offset() must be divisible by {r} {what}, "
                                   f"but got {offset}")
            if strides[-1] != 1:
                raise RuntimeError(f"self.stride(-1) must be 1 {what}, but got {strides[-1]}")
            for i, st in enumerate(strides[:-1]):
                if st % r:
                    raise RuntimeError(f"self.stride({i}) must be divisible by {r} {what}, "
                                       f"but got {st}")
    # NumPy wants the last axis laid out with unit stride even when its size is 1; the
    # strides of size-1 dims do not address memory, so give them PyTorch's values
    if a.ndim and tuple(s * old_size for s in strides) != a.strides and a.size:
        a = np.lib.stride_tricks.as_strided(a, a.shape, tuple(s * old_size for s in strides),
                                            writeable=a.flags.writeable)
    if not a.size:
        a = np.empty(a.shape, a.dtype)
    out = a.view(new.np)
    t = wrap(out)
    t._vc = x._vc
    t._geo = _S.view_dtype((shape, strides, offset), old_size, new_size)
    return t


def _tname(np_dtype) -> str:
    from .._dtype import from_numpy_dtype
    return str(from_numpy_dtype(np_dtype)).replace("torch.", "").capitalize().replace(
        "Int64", "Long").replace("Int32", "Int").replace("Int16", "Short").replace(
        "Int8", "Char").replace("Uint8", "Byte").replace("Float16", "Half").replace(
        "Float32", "Float").replace("Float64", "Double")


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    shape = x._data.shape
    s = _dim(start_dim, len(shape), "flatten")  # a 0-d tensor takes dims -1 and 0
    e = _dim(end_dim, len(shape), "flatten")
    if not shape:
        return reshape(x, (1,))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return x  # PyTorch returns the tensor itself
    mid = 1
    for d in shape[s:e + 1]:
        mid *= d
    return reshape(x, shape[:s] + (mid,) + shape[e + 1:])


def unflatten_method(x: Tensor, dim: int, sizes) -> Tensor:
    """``x.unflatten(dim, sizes)``: PyTorch's Tensor.unflatten tests ``not sizes`` first."""
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    return unflatten(x, dim, sizes)


unflatten_method.__name__ = "unflatten"


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    sizes = _args.int_list(sizes, "unflatten", "sizes", 2)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    shape = x._data.shape
    d = _dim(dim, len(shape), "unflatten")  # a 0-d tensor takes dims -1 and 0, as PyTorch
    if not shape:
        raise RuntimeError(f"unflatten: Dimension specified as {dim} but tensor has no "
                           f"dimensions")
    sizes = list(sizes)
    want = list(sizes)
    if -1 in sizes:
        known = math.prod(s for s in sizes if s != -1)
        if known and shape[d] % known == 0:
            sizes[sizes.index(-1)] = shape[d] // known
    if math.prod(sizes) != shape[d] or -1 in sizes:
        raise RuntimeError(f"unflatten: Provided sizes {want} don't multiply up to the "
                           f"size of dim {dim} ({shape[d]}) in the input tensor")
    return view_(x, shape[:d] + tuple(sizes) + shape[d + 1:])


def _dim(d, ndim, op):
    return _args.dim(d, ndim, op)


def squeeze(x: Tensor, dim=None) -> Tensor:
    shape = x._data.shape
    if dim is None:
        dims = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        dims = _args.dims(dim, len(shape), "squeeze", "dim")
        dims = tuple(sorted(i for i in dims if shape and shape[i] == 1))  # 0-d: dims -1, 0
    new = tuple(s for i, s in enumerate(shape) if i not in dims)
    return view(SQUEEZE, x, new, shape, dims)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    shape = x._data.shape
    d = _dim(dim, len(shape) + 1, "unsqueeze")
    return view(UNSQUEEZE, x, shape[:d] + (1,) + shape[d:], shape, d)


# ---- permutations -------------------------------------------------------------------------

PERMUTE = _view_row(
    "permute", "permute",
    lambda xp, g, x, out, axes: xp.permute(g, tuple(np.argsort(axes))),
    formula="d permute(x, p) = permute(g, inverse(p))")
PERMUTE.geometry = lambda geo, axes: _S.permute(geo, axes)
TRANSPOSE = _renamed(PERMUTE, "TransposeBackward0")  # transpose, swapaxes, mT, adjoint
T = _renamed(PERMUTE, "TBackward0")


def permute(x: Tensor, dims) -> Tensor:
    """``x.permute(1, 0)`` or ``permute(x, (1, 0))``: the dims of ``x`` reordered."""
    dims = _args.int_list(dims, "permute", "dims")
    nd = x._data.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input "
                           f"does not match the length of the desired ordering of dimensions "
                           f"i.e. input.dim() = {nd} is not equal to len(dims) = {len(dims)}")
    axes = tuple(_dim(d, nd, "permute") for d in dims)
    if len(set(axes)) != nd:
        raise RuntimeError(f"permute(): duplicate dims are not allowed (got {list(dims)})")
    return view(PERMUTE, x, axes)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    nd = x._data.ndim
    a, b = _dim(dim0, nd, "transpose"), _dim(dim1, nd, "transpose")
    if nd == 0:
        return view(TRANSPOSE, x, ())
    axes = list(range(nd))
    axes[a], axes[b] = axes[b], axes[a]
    return view(TRANSPOSE, x, tuple(axes))


def t(x: Tensor) -> Tensor:
    if x._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                           f"{x._data.ndim}D")
    return view(T, x, (1, 0) if x._data.ndim == 2 else tuple(range(x._data.ndim)))


def _move_dims(v, name):
    """movedim's source/destination: an int or a sequence of ints (PyTorch's TypeError)."""
    if isinstance(v, (tuple, list)):
        return [_args.int_arg(d, "movedim", name) for d in v]
    if isinstance(v, Tensor) or isinstance(v, (bool, np.bool_)):
        raise TypeError(f"movedim(): argument '{name}' must be int or tuple of ints, not "
                        f"{_args.type_name(v)}")
    return [_args.int_arg(v, "movedim", name)]


def movedim(x: Tensor, source, destination) -> Tensor:
    nd = x._data.ndim
    src = _move_dims(source, "source")
    dst = _move_dims(destination, "destination")
    if nd == 0:
        for d in src + dst:
            _dim(d, 0, "movedim")
        return view(PERMUTE, x, ())
    src = [_dim(s, nd, "movedim") for s in src]
    dst = [_dim(d, nd, "movedim") for d in dst]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return view(PERMUTE, x, tuple(order))


# ---- expand ----------------------------------------------------------------------------------

def _expand_forward(xp, a, shape, in_shape):
    # as writable as its input: writes into repeated elements are refused by the
    # in-place machinery (``_record.overlapping``), so a view of it that repeats nothing
    # (a diagonal across the expanded dim, a select) stays writable, as in PyTorch
    if xp.nb and len(shape) != len(in_shape):  # new dims go after the batch dims
        a = xp.reshape(a, (1,) * (len(shape) - len(in_shape)) + tuple(in_shape))
    return xp.expand(a, shape)


EXPAND = _view_row(
    "expand", _expand_forward,
    lambda xp, g, x, out, shape, in_shape: xp.sum_to(g, in_shape),
    formula="d expand(x) = sum of g over the expanded dims")
EXPAND.geometry = lambda geo, shape, in_shape: _S.expand(geo, shape)


def expand(x: Tensor, *sizes) -> Tensor:
    sizes = _args.star_int_list(sizes, "expand", "size")
    shape = x._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be "
                           f"greater or equal to the number of dimensions in the tensor "
                           f"({len(shape)})")
    lead = len(sizes) - len(shape)
    new = []
    for i, s in enumerate(sizes):
        own = shape[i - lead] if i >= lead else None
        if s == -1:
            if own is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing "
                                   "dimension")
            s = own
        elif s < 0 and own in (None, 1):
            raise RuntimeError(f"expand: numel: integer multiplication overflow (size {s} "
                               f"in {list(sizes)})")
        elif own is not None and own != 1 and own != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({own}) "
                f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor "
                f"sizes: {list(shape)}")
        new.append(int(s))
    return view(EXPAND, x, tuple(new), shape)


def broadcast_to(x: Tensor, shape) -> Tensor:
    return expand(x, _args.int_list(shape, "broadcast_to", "size"))


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    _args.tensor_arg(other, "expand_as", "other")
    return expand(x, tuple(other.shape))


# ---- slicing helpers built on getitem -----------------------------------------------------

def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    if not x._data.ndim:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    d = _dim(dim, x._data.ndim, "narrow")
    size = x._data.shape[d]
    start = int(start)
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], "
                         f"but got {start})")
    if start < 0:
        start += size
    if start + length > size:
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension "
                           f"size ({size}) of dim {d}")
    return getitem(x, (slice(None),) * d + (slice(start, start + int(length)),))


def select(x: Tensor, dim: int, index: int) -> Tensor:
    d = _dim(dim, x._data.ndim, "select")
    return getitem(x, (slice(None),) * d + (int(index),))


# Note [split outputs]: split, chunk and unbind are one multi-output node in PyTorch
# (SplitBackward0, SplitWithSizesBackward0, UnbindBackward0).  Here that node is an
# identity view row on x (its VJP passes g through), and each output is a slice or
# select view of it whose grad_fn shows that node (``output_row``); the outputs are
# views of x, so writes through them reach x and rewrite its history (CopySlices), which
# PyTorch refuses ("a function that returns multiple views").
SPLIT = _view_row("split", lambda xp, a: a, lambda xp, g, x, out: g, node="SplitBackward0",
                  formula="d split(x) = the outputs' g assembled in place (identity)")
SPLIT.geometry = lambda geo: geo
SPLIT_WITH_SIZES = _renamed(SPLIT, "SplitWithSizesBackward0")
UNBIND = _renamed(SPLIT, "UnbindBackward0")
_SPLIT_SLICE = output_row(GETITEM, "SliceBackward0")
_SPLIT_SELECT = output_row(GETITEM, "SelectBackward0")


def _pieces(whole_op, piece_op, x, keys):
    """Views of ``x`` at ``keys`` that show one ``whole_op`` node as their grad_fn."""
    whole = view(whole_op, x)
    node = whole._node if whole._rg else None
    shape = tuple(whole._data.shape)
    out = []
    for key in keys:
        piece = view(piece_op, whole, key, shape)
        if node is not None and piece._rg:
            piece._node._of = node
        out.append(piece)
    return tuple(out)


def split(x: Tensor, split_size_or_sections, dim: int = 0):
    step = split_size_or_sections
    if isinstance(step, Tensor) and step._data.size == 1:
        step = int(step._data.reshape(()))  # PyTorch's Tensor.split: int() of the tensor
    if isinstance(step, int):
        step = _args.int_arg(step, "split", "split_size", 1)
    else:
        sizes = list(_args.int_list(step, "split_with_sizes", "split_sizes", 1))
        step = None
    if not x._data.ndim:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = _dim(dim, x._data.ndim, "split")
    n = x._data.shape[d]
    if step is not None:
        if step < 0 or step == 0 and n > 0:
            raise RuntimeError(f"split expects split_size be non-negative (and positive for a "
                               f"non-empty dim {d} of size {n}), but got split_size={step}")
        sizes = [min(step, n - i) for i in range(0, n, step)] if n else [0]
    else:
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
    keys, start = [], 0
    for s in sizes:
        keys.append((slice(None),) * d + (slice(start, start + s),))
        start += s
    return _pieces(SPLIT if step is not None else SPLIT_WITH_SIZES, _SPLIT_SLICE, x, keys)


def chunk(x: Tensor, chunks: int, dim: int = 0):
    chunks = _args.int_arg(chunks, "chunk", "chunks", 1)
    dim = _args.int_arg(dim, "chunk", "dim", 2)
    if not x._data.ndim:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _dim(dim, x._data.ndim, "chunk")
    n = x._data.shape[d]
    if not n:  # an empty dim: ``chunks`` empty pieces, as PyTorch
        return split(x, [0] * chunks, d)
    return split(x, -(-n // chunks), d)


def unbind(x: Tensor, dim: int = 0):
    d = _dim(dim, x._data.ndim, "unbind")
    return _pieces(UNBIND, _SPLIT_SELECT, x,
                   [(slice(None),) * d + (i,) for i in range(x._data.shape[d])])


# ---- diagonal -------------------------------------------------------------------------------

def _diagonal_forward(xp, a, offset, d1, d2, shape):
    # writable wherever its input is (``x.diagonal().fill_(1)``); d1, d2 < 0
    return xp.diagonal_view(a, offset, d1, d2)


DIAGONAL = _view_row(
    "diagonal", _diagonal_forward,
    lambda xp, g, x, out, offset, d1, d2, shape: xp.diag_embed(g, offset, d1, d2, shape),
    formula="d diagonal(x) = g written on the diagonal of zeros")
DIAGONAL.geometry = lambda geo, offset, d1, d2, shape: _S.diagonal(geo, offset, d1, d2)


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    nd = x._data.ndim
    a, b = _dim(dim1, nd, "diagonal"), _dim(dim2, nd, "diagonal")
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return view(DIAGONAL, x, int(offset), a - nd, b - nd, x._data.shape)


# ---- unfold ---------------------------------------------------------------------------------

def _unfold_forward(xp, a, axis, size, step, shape):
    """Windows of ``size`` every ``step`` along ``axis`` (negative), as a new last dim."""
    # writing where windows overlap is refused by the in-place machinery (PyTorch
    # allows it with a result that depends on its kernel, docs/pytorch_users.md)
    return xp.unfold(a, axis, size, step)


def _unfold_index(axis, size, step, shape):
    """``unfold`` as ``permute(x[key], perm)``: ``key`` picks every window with an index
    array of shape [windows, size] at the unfolded dim, ``perm`` moves ``size`` last."""
    n = len(shape)
    ax = n + axis
    idx = np.arange((shape[ax] - size) // step + 1)[:, None] * step + np.arange(size)
    perm = tuple(range(ax + 1)) + tuple(range(ax + 2, n + 1)) + (ax + 1,)
    return (slice(None),) * ax + (idx,), perm


def _unfold_vjp(xp, g, x, out, axis, size, step, shape):
    key, perm = _unfold_index(axis, size, step, shape)
    return xp.scatter(xp.permute(g, tuple(np.argsort(perm))), shape, key, True)


UNFOLD = _view_row(
    "unfold", _unfold_forward, _unfold_vjp,
    formula="d x.unfold(d, size, step) = each window's g added back where it was read")
UNFOLD.geometry = lambda geo, axis, size, step, shape: _S.unfold(
    geo, len(shape) + axis, size, step)


def unfold(x: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Windows of ``size`` elements, ``step`` apart, along ``dimension``, as a new last
    dim (a view; writing into it is refused, the windows overlap)."""
    shape = x._data.shape
    d = _dim(dimension, len(shape), "unfold")
    n = shape[d] if shape else 1
    size, step = int(size), int(step)
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is "
                           f"{size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if not shape:  # a 0-d tensor unfolds to its one window
        return getitem(unsqueeze(x, 0), slice(0, size))
    return view(UNFOLD, x, d - len(shape), size, step, shape)


# ---- copies ---------------------------------------------------------------------------------

CLONE = Op("clone", "contiguous_copy", (lambda xp, g, x, out: g,), kind="linear",
           formula="d clone(x) = g")


def clone(x: Tensor, *, memory_format=None) -> Tensor:
    return unary(CLONE, x)


def contiguous(x: Tensor, *, memory_format=None) -> Tensor:
    a = host_array(x._data)
    if type(a) is _ndarray:
        return x if a.flags.c_contiguous else unary(CLONE, x)
    geo = x._geometry()
    return x if _S.is_contiguous(geo[0], geo[1]) else unary(CLONE, x)


def _to_vjp(xp, g, x, out, np_dtype, in_dtype):
    # Note [integer leaves]: gradients are never cast to an integer dtype.
    return xp.astype(g, in_dtype) if in_dtype.kind == "f" else g


def _to_copy_forward(xp, a, np_dtype, in_dtype):
    out = xp.astype(a, np_dtype)
    return xp.copy(out) if out is a else out


TO_COPY = Op("to_copy", _to_copy_forward, (_to_vjp,),
             kind="linear", node="ToCopyBackward0", formula="d x.to(dtype) = g.to(x.dtype)")


def to_dtype(x: Tensor, np_dtype, copy=False) -> Tensor:
    dt = x._data.dtype
    if type(x._data) is not _ndarray:
        dt = _np_dtype(dt)  # (another library's dtype object)
    if np_dtype == dt and not copy:
        return x
    if np_dtype.kind == "b" or (np_dtype.kind != "f" and dt.kind == "f"):
        # Note [casts to integer]: rounding a float to an integer (or anything to bool)
        # has derivative 0, and PyTorch does not record it (requires_grad=False); only
        # integer *leaves* may require grad, and integer-to-integer casts pass g through.
        with _no_record():
            return unary(TO_COPY, x, np_dtype, dt)
    return unary(TO_COPY, x, np_dtype, dt)


__all__ = ["getitem", "setitem", "copy_", "reshape", "view_", "flatten", "unflatten",
           "squeeze", "unsqueeze", "permute", "transpose", "t", "movedim", "expand",
           "broadcast_to", "expand_as", "narrow", "select", "split", "chunk", "unbind",
           "diagonal", "clone", "contiguous", "to_dtype", "nary", "unfold", "view_dtype"]


def _batched_winners(shape, key):
    """``_winners`` for a key holding per-sample index arrays (vmap): each sample's last
    writes, found on the host from all samples' indices at once."""
    from ..backend.batched import _batch_of, _expand_key, batched_key, physical
    key = _expand_key(tuple(key), len(shape))
    lv = max(k.level for k in key if type(k) is BatchedArray)
    size = _batch_of(key, lv)
    pkey, order = batched_key(key, lv, size, True)
    pkey = tuple(np.asarray(physical(k)) if type(k) is BatchedArray else k for k in pkey)
    mask = _winners((size,) + tuple(shape), pkey)
    if mask is None:
        return None
    if order is not None:
        mask = mask.transpose(order)
    return BatchedArray(np.ascontiguousarray(mask), lv)
