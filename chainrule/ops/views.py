"""View rows (results share memory with their input) and indexing.

All rows here are linear: the VJP is the transpose of the op, and it reads no values.
``forward_batched(a, nb, *params)`` replays a view on an array with ``nb`` leading
batch dims (used by CopySlices on batched cotangents).
"""

from __future__ import annotations

import numpy as np

from .. import _args
from .._grad_mode import no_grad as _no_record
from .._tensor import Tensor
from ._core import Op, inplace, nary, unary, view

_ndarray = np.ndarray


def _view_row(name, forward, vjp, forward_batched, *, node=None, formula=None, jvp=None):
    op = Op(name, forward, (vjp,), node=node, kind="linear", view=True, formula=formula,
            jvp=jvp)
    op.forward_batched = forward_batched
    return op


# ---- getitem -------------------------------------------------------------------------

def _getitem_basic(a, key, shape):
    return a[key]


GETITEM = _view_row(
    "getitem", _getitem_basic,
    lambda xp, g, x, out, key, shape: xp.scatter(g, shape, key, False),
    lambda a, nb, key, shape: a[(slice(None),) * nb + key],
    jvp=lambda xp, ts, x, out, key, shape: xp.index(ts[0], key),
    node="SliceBackward0", formula="d x[key] scatters g into zeros at key")


def _getitem_adv(a, key, shape):
    return a[key]


INDEX = Op("index", _getitem_adv,
           (lambda xp, g, x, out, key, shape: xp.scatter(g, shape, key, True),),
           jvp=lambda xp, ts, x, out, key, shape: xp.index(ts[0], key),
           kind="linear", formula="d x[idx] adds g into zeros at idx (repeats accumulate)")


def _is_basic(key) -> bool:
    for k in key:
        if not (k is None or k is Ellipsis or type(k) is int or type(k) is slice):
            return False
    return True


def _as_view_key(key):
    """All-integer keys make NumPy return a scalar copy; a trailing ``...`` keeps a view."""
    if any(k is Ellipsis for k in key):
        return key
    return key + (Ellipsis,)


def _norm_key(key):
    """A tuple index with arrays for tensors/lists, checked against PyTorch's rules."""
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if type(k) is int or k is None or k is Ellipsis or type(k) is slice:
            if type(k) is slice:
                k = slice(_idx(k.start), _idx(k.stop), _idx(k.step))
                if k.step is not None and k.step <= 0:
                    raise ValueError("step must be greater than zero")
            out.append(k)
        elif isinstance(k, Tensor):
            d = k._data
            if d.dtype.kind not in "iub":
                raise IndexError(f"tensors used as indices must be long, int, byte or bool "
                                 f"tensors, got {k.dtype}")
            out.append(int(d) if d.ndim == 0 and d.dtype.kind in "iu" else d)
        elif isinstance(k, (bool, np.bool_)):
            out.append(bool(k))
        elif isinstance(k, (int, np.integer)):
            out.append(int(k))
        elif isinstance(k, (list, tuple, np.ndarray)):
            arr = np.asarray(_lists(k))
            if arr.dtype.kind not in "iub":
                raise IndexError(f"indices must be integers or booleans, got {arr.dtype}")
            out.append(arr)
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long "
                             f"or byte Variables are valid indices (got {type(k).__name__})")
    return tuple(out)


def _lists(k):
    if isinstance(k, Tensor):
        return k._data
    if isinstance(k, (list, tuple)):
        return [_lists(v) for v in k]
    return k


def _idx(v):
    if v is None or type(v) is int:
        return v
    if isinstance(v, Tensor):
        return int(v.item())
    return int(v)


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
    key = _norm_key(key)
    shape = x._data.shape
    try:
        if _is_basic(key):
            return view(GETITEM, x, _as_view_key(key), shape)
        return unary(INDEX, x, key, shape)
    except IndexError as exc:
        raise _index_error(x, key, exc) from None


# ---- setitem, copy_, index_put_ ----------------------------------------------------------

def _copy_forward(dst, src, src_shape):
    out = np.broadcast_to(src, dst.shape) if src_shape != dst.shape else src
    return np.array(out, dtype=dst.dtype, copy=True)


def _broadcast_tangent(xp, t, t_shape, shape):
    """A tangent of a value of ``t_shape`` broadcast to ``shape``: the value's dims are
    padded with leading ones first, so a batch prefix never meets them."""
    pad = (1,) * (len(shape) - len(t_shape))
    return xp.broadcast_to(xp.reshape(t, pad + tuple(t_shape)) if pad else t, shape)


def _copy_jvp(xp, ts, dst, src, out, src_shape):
    t = ts[1]
    return None if t is None else _broadcast_tangent(xp, t, src_shape, dst.shape)


COPY = Op("copy", _copy_forward,
          (lambda xp, g, dst, src, out, src_shape: None,
           lambda xp, g, dst, src, out, src_shape: xp.sum_to(g, src_shape)),
          nin=2, node="CopyBackwards", kind="linear", jvp=_copy_jvp,
          formula="d copy_(dst, src) = g to src (broadcast summed), 0 to the old dst")


def _index_put_forward(x, v, key, winners, v_shape):
    out = x.copy()
    out[key] = v
    return out


def _index_put_dx(xp, g, x, v, out, key, winners, v_shape):
    return xp.scatter_set(g, key, 0)


def _index_put_dv(xp, g, x, v, out, key, winners, v_shape):
    gv = xp.index(g, key)
    if winners is not None:
        gv = gv * winners
    return xp.sum_to(gv, v_shape)


# Note [duplicate indices in assignment]: x[idx] = v with a repeated index keeps NumPy's
# last write, so only that element of v receives the gradient (the true derivative);
# PyTorch leaves this case undefined.
def _index_put_jvp(xp, ts, x, v, out, key, winners, v_shape):
    tx, tv = ts
    res = None if tx is None else xp.scatter_set(tx, key, 0)
    if tv is not None:
        region = _broadcast_tangent(xp, tv, v_shape, out[key].shape)
        put = xp.scatter(region, x.shape, key, False)
        res = put if res is None else res + put
    return res


INDEX_PUT = Op("index_put", _index_put_forward, (_index_put_dx, _index_put_dv), nin=2,
               kind="linear", jvp=_index_put_jvp,
               formula="d x[idx] = v: g[idx] to v (last write wins), g elsewhere to x")


def _winners(shape, key):
    pos = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[key].ravel()
    if pos.size == np.unique(pos).size:
        return None
    _, last = np.unique(pos[::-1], return_index=True)
    mask = np.zeros(pos.size, dtype=bool)
    mask[pos.size - 1 - last] = True
    return mask.reshape(np.arange(int(np.prod(shape))).reshape(shape)[key].shape)


def setitem(x: Tensor, key, value) -> None:
    """``x[key] = value``, recorded so gradients flow to what was written."""
    nkey = _norm_key(key)
    if not isinstance(value, Tensor):
        if isinstance(value, (list, tuple, np.ndarray)):
            from .._creation import tensor
            value = tensor(value, dtype=x.dtype)
        elif isinstance(value, np.generic):
            value = value.item()
    try:
        if _is_basic(nkey):
            with _no_record():
                target = view(GETITEM, x, _as_view_key(nkey), x._data.shape)
            target._rg = x._rg  # its history is rewritten by CopySlices below
            inplace(COPY, target, value, params=(np.shape(_data(value)),))
        else:
            inplace(INDEX_PUT, x, value, params=(nkey, _winners(x._data.shape, nkey),
                                                 np.shape(_data(value))))
    except IndexError as exc:
        raise _index_error(x, nkey, exc) from None
    except ValueError as exc:
        if "broadcast" in str(exc) or "shape" in str(exc):
            raise RuntimeError(
                f"setitem: shape mismatch: value tensor of shape {list(np.shape(_data(value)))} "
                f"cannot be broadcast to indexing result of shape "
                f"{list(x._data[nkey].shape)}") from None
        raise


def _data(v):
    return v._data if isinstance(v, Tensor) else v


def copy_(self: Tensor, src, non_blocking=False) -> Tensor:
    """Copy ``src`` into ``self`` (broadcasting, casting); gradient flows to ``src``."""
    if not isinstance(src, Tensor):
        from .._creation import tensor
        src = tensor(_args.python_int(src, "copy_"))
    try:
        fits = np.broadcast_shapes(src._data.shape, self._data.shape) == self._data.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"copy_: the source of shape {list(src.shape)} cannot be broadcast "
                           f"to the destination of shape {list(self.shape)}")
    return inplace(COPY, self, src, params=(src._data.shape,))


# ---- reshape family ---------------------------------------------------------------------

def _reshape_forward(a, shape, in_shape):
    return a.reshape(shape)


RESHAPE = _view_row(
    "reshape", _reshape_forward,
    lambda xp, g, x, out, shape, in_shape: xp.reshape(g, in_shape),
    lambda a, nb, shape, in_shape: a.reshape(a.shape[:nb] + shape),
    jvp=lambda xp, ts, x, out, shape, in_shape: xp.reshape(ts[0], shape),
    node="ViewBackward0", formula="d reshape(x) = reshape(g, x.shape)")
RESHAPE.may_copy = True


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
    """Same data, new shape; a view when NumPy can (else a copy), like PyTorch."""
    shape = _infer_shape(x, shape, "reshape")
    if shape == x._data.shape:
        return view(RESHAPE, x, shape, shape)
    return view(RESHAPE, x, shape, x._data.shape)


def view_(x: Tensor, *shape) -> Tensor:
    """``x.view(shape)``: always a view; raises where PyTorch's view would."""
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, np.integer)):
        from .._dtype import to_dtype
        return x.to(to_dtype(shape[0]))
    shape = _infer_shape(x, shape, "view")
    t = view(RESHAPE, x, shape, x._data.shape)
    if t._view is None and x._data.size > 0:
        raise RuntimeError(
            f"view size is not compatible with input tensor's size and stride (at least one "
            f"dimension spans across two contiguous subspaces): shape {list(x.shape)} -> "
            f"{list(shape)}. Use .reshape(...) instead.")
    return t


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    shape = x._data.shape
    if not shape:
        return reshape(x, (1,))
    s = _dim(start_dim, len(shape), "flatten")
    e = _dim(end_dim, len(shape), "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    mid = 1
    for d in shape[s:e + 1]:
        mid *= d
    return reshape(x, shape[:s] + (mid,) + shape[e + 1:])


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    shape = x._data.shape
    d = _dim(dim, len(shape), "unflatten")
    sizes = list(sizes)
    if -1 in sizes:
        known = int(np.prod([s for s in sizes if s != -1]))
        sizes[sizes.index(-1)] = shape[d] // known
    return reshape(x, shape[:d] + tuple(sizes) + shape[d + 1:])


def _dim(d, ndim, op):
    return _args.dim(d, ndim, op)


def squeeze(x: Tensor, dim=None) -> Tensor:
    shape = x._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = {_dim(d, len(shape), "squeeze") for d in
                (dim if isinstance(dim, (tuple, list)) else (dim,))} if shape else set()
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    return view(RESHAPE, x, new, shape) if new != shape else view(RESHAPE, x, shape, shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    shape = x._data.shape
    d = _dim(dim, len(shape) + 1, "unsqueeze")
    return view(RESHAPE, x, shape[:d] + (1,) + shape[d:], shape)


# ---- permutations -------------------------------------------------------------------------

def _permute_forward(a, axes):
    return a.transpose(axes)


PERMUTE = _view_row(
    "permute", _permute_forward,
    lambda xp, g, x, out, axes: xp.permute(g, tuple(np.argsort(axes))),
    lambda a, nb, axes: a.transpose(tuple(range(nb)) + tuple(i + nb for i in axes)),
    jvp=lambda xp, ts, x, out, axes: xp.permute(ts[0], axes),
    formula="d permute(x, p) = permute(g, inverse(p))")


def permute(x: Tensor, *dims) -> Tensor:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
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
    if nd == 0:
        return view(PERMUTE, x, ())
    a, b = _dim(dim0, nd, "transpose"), _dim(dim1, nd, "transpose")
    axes = list(range(nd))
    axes[a], axes[b] = axes[b], axes[a]
    return view(PERMUTE, x, tuple(axes))


def t(x: Tensor) -> Tensor:
    if x._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                           f"{x._data.ndim}D")
    return transpose(x, 0, 1) if x._data.ndim == 2 else view(PERMUTE, x, tuple(range(x.ndim)))


def movedim(x: Tensor, source, destination) -> Tensor:
    nd = x._data.ndim
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [_dim(s, nd, "movedim") for s in src]
    dst = [_dim(d, nd, "movedim") for d in dst]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return view(PERMUTE, x, tuple(order))


# ---- expand ----------------------------------------------------------------------------------

def _expand_forward(a, shape, in_shape):
    return np.broadcast_to(a, shape)


EXPAND = _view_row(
    "expand", _expand_forward,
    lambda xp, g, x, out, shape, in_shape: xp.sum_to(g, in_shape),
    lambda a, nb, shape, in_shape: np.broadcast_to(
        a.reshape(a.shape[:nb] + (1,) * (len(shape) - len(in_shape)) + in_shape),
        a.shape[:nb] + shape),
    jvp=lambda xp, ts, x, out, shape, in_shape: _broadcast_tangent(xp, ts[0], in_shape, shape),
    formula="d expand(x) = sum of g over the expanded dims")


def expand(x: Tensor, *sizes) -> Tensor:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
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
        elif own is not None and own != 1 and own != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({own}) "
                f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor "
                f"sizes: {list(shape)}")
        new.append(int(s))
    return view(EXPAND, x, tuple(new), shape)


def broadcast_to(x: Tensor, shape) -> Tensor:
    return expand(x, *shape)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    _args.tensor_arg(other, "expand_as", "other")
    return expand(x, *other.shape)


# ---- slicing helpers built on getitem -----------------------------------------------------

def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    d = _dim(dim, x._data.ndim, "narrow")
    size = x._data.shape[d]
    start = int(start)
    if start < 0:
        start += size
    if not (0 <= start <= size and 0 <= length and start + length <= size):
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension "
                           f"size ({size}) of dim {d}")
    return getitem(x, (slice(None),) * d + (slice(start, start + int(length)),))


def select(x: Tensor, dim: int, index: int) -> Tensor:
    d = _dim(dim, x._data.ndim, "select")
    return getitem(x, (slice(None),) * d + (int(index),))


def split(x: Tensor, split_size_or_sections, dim: int = 0):
    if not x._data.ndim:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = _dim(dim, x._data.ndim, "split")
    n = x._data.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and n > 0:
            raise RuntimeError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - i) for i in range(0, n, step)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(getitem(x, (slice(None),) * d + (slice(start, start + s),)))
        start += s
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0):
    chunks = _args.int_arg(chunks, "chunk", "chunks", 2)
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _dim(dim, x._data.ndim, "chunk")
    n = x._data.shape[d]
    step = -(-n // chunks) if n else 1
    return split(x, step, d)


def unbind(x: Tensor, dim: int = 0):
    d = _dim(dim, x._data.ndim, "unbind")
    return tuple(select(x, d, i) for i in range(x._data.shape[d]))


# ---- diagonal -------------------------------------------------------------------------------

def _diagonal_forward(a, offset, d1, d2):
    return np.diagonal(a, offset, d1, d2)


def _writable_diagonal(a, offset, d1, d2):
    """``np.diagonal`` is a read-only view; PyTorch's diagonal is writable wherever its
    input is (``x.diagonal().fill_(1)``, a view's region in CopySlices)."""
    d = np.diagonal(a, offset, d1, d2)
    if a.flags.writeable:
        d.setflags(write=True)
    return d


DIAGONAL = _view_row(
    "diagonal", _diagonal_forward,
    lambda xp, g, x, out, offset, d1, d2, shape: xp.diag_embed(g, offset, d1, d2, shape),
    lambda a, nb, offset, d1, d2, shape: _writable_diagonal(a, offset, d1, d2),  # d1, d2 < 0
    jvp=lambda xp, ts, x, out, offset, d1, d2, shape: xp.diagonal(ts[0], offset, d1, d2),
    formula="d diagonal(x) = g written on the diagonal of zeros")


def _diag_fwd(a, offset, d1, d2, shape):
    return _writable_diagonal(a, offset, d1, d2)


DIAGONAL.forward = _diag_fwd


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    nd = x._data.ndim
    a, b = _dim(dim1, nd, "diagonal"), _dim(dim2, nd, "diagonal")
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return view(DIAGONAL, x, int(offset), a - nd, b - nd, x._data.shape)


# ---- copies ---------------------------------------------------------------------------------

CLONE = Op("clone", lambda a: a.copy(), (lambda xp, g, x, out: g,), kind="linear",
           jvp=lambda xp, ts, x, out: ts[0], formula="d clone(x) = g")


def clone(x: Tensor, *, memory_format=None) -> Tensor:
    return unary(CLONE, x)


def contiguous(x: Tensor, memory_format=None) -> Tensor:
    return x if x._data.flags.c_contiguous else unary(CLONE, x)


def _to_vjp(xp, g, x, out, np_dtype, in_dtype):
    # Note [integer leaves]: gradients are never cast to an integer dtype.
    return xp.astype(g, in_dtype) if in_dtype.kind == "f" else g


TO_COPY = Op("to_copy", lambda a, np_dtype, in_dtype: a.astype(np_dtype), (_to_vjp,),
             kind="linear", node="ToCopyBackward0", formula="d x.to(dtype) = g.to(x.dtype)",
             jvp=lambda xp, ts, x, out, np_dtype, in_dtype: xp.astype(ts[0], np_dtype))


def to_dtype(x: Tensor, np_dtype, copy=False) -> Tensor:
    if np_dtype == x._data.dtype and not copy:
        return x
    if np_dtype.kind == "b" or (np_dtype.kind != "f" and x._data.dtype.kind == "f"):
        # Note [casts to integer]: rounding a float to an integer (or anything to bool)
        # has derivative 0, and PyTorch does not record it (requires_grad=False); only
        # integer *leaves* may require grad, and integer-to-integer casts pass g through.
        with _no_record():
            return unary(TO_COPY, x, np_dtype, x._data.dtype)
    return unary(TO_COPY, x, np_dtype, x._data.dtype)


__all__ = ["getitem", "setitem", "copy_", "reshape", "view_", "flatten", "unflatten",
           "squeeze", "unsqueeze", "permute", "transpose", "t", "movedim", "expand",
           "broadcast_to", "expand_as", "narrow", "select", "split", "chunk", "unbind",
           "diagonal", "clone", "contiguous", "to_dtype", "nary"]
